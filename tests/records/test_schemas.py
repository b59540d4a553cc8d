"""The published JSON Schemas: every file the previous version wrote (tests/golden/v0_1)
validates against the schema it names, the schemas are themselves valid JSON Schema, and a
malformed record is a one-line error with the JSON path of the problem."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from llmgeom.errors import ConfigError, FitError
from llmgeom.fits.io import load_fit
from llmgeom.records.schema import SCHEMA_FILES, check_schema, schema_document
from llmgeom.text.freq import load_freq_record
from llmgeom.text.loss import load_loss_record
from llmgeom.toy.report import load_result

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v0_1"
GOLDEN_FILES = sorted(GOLDEN.rglob("*.json"))


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_each_schema_is_valid_json_schema_naming_its_format(name):
    document = schema_document(name)
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["title"] == name and document["properties"]["schema"] == {"const": name}


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_every_golden_record_validates(path):
    record = json.loads(path.read_text())
    # the jsonschema library itself, straight on the shipped file
    jsonschema.validate(record, schema_document(record["schema"]))
    assert check_schema(record, record["schema"], str(path), "record") is record


def _written(tmp_path, relative: str, change) -> Path:
    record = json.loads((GOLDEN / relative).read_text())
    change(record)
    path = tmp_path / Path(relative).name
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize(
    "relative, reader, change, error, needle",
    [
        ("loss/tiny-gpt2.wiki.loss.json", load_loss_record,
         lambda r: r["loss"].update(loss="low"), ConfigError,
         "malformed loss record: loss.loss = 'low' is not a number"),
        ("loss/tiny-gpt2.wiki.loss.json", load_loss_record,
         lambda r: r.pop("corpus"), ConfigError, "malformed loss record: corpus is missing"),
        ("freq/tiny-gpt2.wiki.freq.json", load_freq_record,
         lambda r: r["stats"].update(tokens_counted=1.5), ConfigError,
         "malformed freq record: stats.tokens_counted = 1.5 is not an integer"),
        ("toy/toy-golden.json", load_result,
         lambda r: r["runs"][1]["per_m"][0].pop("loss"), ConfigError,
         "malformed toy result: runs[1].per_m[0].loss is missing"),
        ("fit-chinchilla/chinchilla_fit.json", load_fit,
         lambda r: r.update(k="2.5"), FitError,
         "malformed llmgeom.fit.chinchilla/1 result: k = '2.5' is not a number"),
        ("fit-overlap/overlap_fit.json", load_fit, lambda r: r.pop("points"), FitError,
         "malformed llmgeom.fit.overlap/1 result: points is missing"),
    ],
)  # fmt: skip
def test_a_malformed_record_is_one_line_with_the_json_path(
    tmp_path, relative, reader, change, error, needle
):
    path = _written(tmp_path, relative, change)
    with pytest.raises(error) as info:
        reader(path)
    message = str(info.value)
    assert message == f"{path}: {needle}" and "\n" not in message
