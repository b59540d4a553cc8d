"""Records of ``llmgeom.measurement/1`` (the golden files the previous version wrote) brought
to ``/2`` by :func:`llmgeom.records.measurement.migrate_record`: valid against the new schema,
every number of the old record still there under one name, and read, merged and rewritten by
the library."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import torch

import llmgeom
from llmgeom.errors import ConfigError
from llmgeom.records.measurement import (
    PASS_DIAGNOSTICS,
    SCHEMA,
    load_record,
    migrate_record,
    save_record,
    validate_record,
)
from llmgeom.records.schema import schema_document

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v0_1"
OLD = sorted(
    p for p in GOLDEN.rglob("*.json") if json.loads(p.read_text())["schema"].startswith("llmgeom.m")
)
#: The /1 keys that were copies of another field (the copy's name in /2).
DUPLICATES = {("stats", "ratio_to_random"): ("stats", "m_times_mean_cos2"),
              ("variant", "n_rows_used"): ("stats", "n_rows_used")}  # fmt: skip
#: The /1 key -> its /2 place.
MOVED = {("stats", "pairs"): ("stats", "n_pairs"),
         ("stats", "effective_dim"): ("stats", "participation_ratio"),
         **{("stats", k): ("diagnostics", k) for k in PASS_DIAGNOSTICS}}  # fmt: skip


def leaves(d, path=()):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from leaves(v, (*path, k))
    else:
        yield path, d


@pytest.mark.parametrize("path", OLD, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_every_number_of_the_old_record_is_in_the_new_one(path):
    old = json.loads(path.read_text())
    new = migrate_record(old)
    jsonschema.validate(new, schema_document(SCHEMA))
    assert validate_record(new) is new and new["schema"] == SCHEMA
    new_leaves = dict(leaves(new))
    for where, value in leaves(old):
        if where == ("schema",):
            continue
        target = where
        if where[:2] in DUPLICATES:
            target = DUPLICATES[where[:2]]
        elif where[:2] in MOVED:
            target = MOVED[where[:2]] + where[2:]
        assert new_leaves[target] == value, where
    duplicates = sum(where[:2] in DUPLICATES for where, _ in leaves(old))
    assert len(new_leaves) == len(dict(leaves(old))) - duplicates  # nothing else dropped
    assert migrate_record(new) == new  # a /2 record is left as it is


@pytest.mark.parametrize("old_name", ["effective_dim", "pairs", "ratio_to_random"])
def test_a_version_2_record_has_no_version_1_name(old_name):
    record = llmgeom.measure(torch.randn(30, 4), pairs="exact", progress=False).to_dict()
    record["stats"][old_name] = record["stats"]["m_times_mean_cos2"]
    with pytest.raises(ConfigError, match="stats"):
        validate_record(record)


def test_a_new_record_has_the_layout_of_a_migrated_one():
    old = json.loads((GOLDEN / "measure-exact" / "head.npy.raw.json").read_text())
    import numpy as np

    new = llmgeom.measure(np.random.default_rng(0).standard_normal((40, 6)), pairs="exact",
                          bins=20, progress=False).to_dict()  # fmt: skip
    migrated = migrate_record(old)
    for block in ("stats", "diagnostics", "variant"):
        assert set(new[block]) - {"exact_max_flops", "exact_pass_flops"} == set(migrated[block]) - {
            "exact_max_flops",
            "exact_pass_flops",
        }, block


def test_an_old_file_is_read_and_merged_into_in_todays_format(tmp_path):
    old_path = GOLDEN / "measure-exact" / "head.npy.raw.json"
    record = load_record(old_path)
    assert record == migrate_record(json.loads(old_path.read_text()))
    folder = tmp_path / "results"
    folder.mkdir()
    shutil.copy(old_path, folder / old_path.name)
    again = json.loads(json.dumps(record))  # the same tensor measured again, Gram only
    again["stats"] = {k: again["stats"][k] for k in ("n_rows_used", "m", "mean_cos2")}
    again["diagnostics"], again["variant"]["pairs"] = {}, "gram"
    saved = save_record(again, folder)
    assert saved.path == folder / old_path.name and saved.action == "merged"
    merged = json.loads(saved.path.read_text())
    assert merged["schema"] == SCHEMA and merged["stats"]["n_pairs"] == 300 * 299 // 2
    assert merged["diagnostics"] == record["diagnostics"]  # the exact pass's, kept
    assert merged["stats"]["mean_abs_cos"] == record["stats"]["mean_abs_cos"]
