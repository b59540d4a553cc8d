"""The token page's HTML without a browser: its data block read back with :mod:`json` equals the
table (rounded to the page's digits), no token string escapes its element (the page parsed with
:mod:`html.parser`), every resource is inline, the views and summary blocks follow the columns
and blocks present (those of issue 18 §4-5 included); ``write_token_page`` names the page after
the model. The browser's side is ``test_token_page_browser.py``."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser

import numpy as np
import pytest
from token_tables import HOSTILE, synthetic_table

from llmgeom.errors import ConfigError
from llmgeom.records.token_table import TokenTable
from llmgeom.report.token_page import (
    DIGITS,
    column_json,
    embeddable_json,
    token_page_html,
    views,
    write_token_page,
)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each ``<script>``."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


@pytest.fixture(scope="module")
def table():
    return synthetic_table()


@pytest.fixture(scope="module")
def parsed(table):
    page = token_page_html(table)
    parser = Elements()
    parser.feed(page)
    return page, parser


def rounded(value):
    return None if not math.isfinite(value) else float(f"{value:.{DIGITS}g}")


def test_hostile_strings_round_trip_and_cannot_end_the_script():
    text = embeddable_json(list(HOSTILE))
    assert json.loads(text) == list(HOSTILE)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    text.encode("utf-8")  # no lone surrogate left: the page can be written as UTF-8


def test_the_data_block_is_the_table(table, parsed):
    _, parser = parsed
    assert [t for t, _ in parser.tags].count("script") == 2  # the data and the page's script
    data = json.loads(parser.scripts[0])
    assert data["n"] == table.n_rows and data["page_size"] == 100
    assert [c["name"] for c in data["columns"]] == table.column_names()
    kinds = {c["name"]: c["kind"] for c in data["columns"]}
    assert kinds["string"] == "string" and kinds["undertrained_candidate"] == "bool"
    assert kinds["count"] == "int" and kinds["logit_offset"] == "float"
    values = data["values"]
    assert values["string"] == list(table.table["string"])  # the hostile strings included
    assert values["id"] == list(range(table.n_rows))
    for name in ("interference", "row_norm", "undertrained_verify_max_prob", "logit_offset"):
        assert values[name] == [rounded(v) for v in table.table[name].tolist()], name
    rank = table.table["frequency_rank"]
    assert values["frequency_rank"] == [None if r < 0 else int(r) for r in rank.tolist()]
    assert values["undertrained_candidate"] == table.table["undertrained_candidate"].tolist()


def test_nothing_is_fetched_and_no_string_becomes_markup(table, parsed):
    page, parser = parsed
    for tag, attrs in parser.tags:
        for key in ("src", "href"):
            if attrs.get(key) is not None:
                assert attrs[key].startswith(("data:image/png;base64,", "#")), (tag, attrs)
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert [a["alt"] for a in images] == ["frequency", "spectrum"]  # only the figures
    assert "<img src=x" not in page and "<!--" not in page and "<b>" not in page


def test_views_follow_the_columns(table):
    labels = [v["label"] for v in views(table)]
    assert labels == [
        "most crowded",
        "under-trained candidates",
        "under-trained reference rows",
        "most frequent",
        "most crowded, frequency-weighted",
        "all tokens, by id",
    ]
    record = {k: v for k, v in table.to_dict().items() if k != "undertrained"}
    plain = TokenTable._build(record, table={"id": np.arange(table.n_rows)})
    assert [v["label"] for v in views(plain)] == ["all tokens, by id"]
    # candidates only in the summary block: the view lists their ids
    columns = {k: v for k, v in table.table.items() if k != "undertrained_candidate"}
    from_block = views(TokenTable._build(table.to_dict(), table=columns))[1]
    expected = np.flatnonzero(table.table["undertrained_candidate"]).tolist()
    assert from_block["label"] == "under-trained candidates" and from_block["ids"] == expected


def test_every_summary_block_is_shown(table, parsed):
    page, _ = parsed
    for key in ("interference", "spectrum", "frequency_correlation", "undertrained",
                "frequency_direction", "most_crowded"):  # fmt: skip
        assert f"<h3>{key}</h3>" in page, key
    assert '<td>r2_cv.mean</td><td class="num">0.428</td>' in page
    assert "<h4>undertrained.candidates</h4>" in page
    m = table.m
    assert f"{m} values, largest" in page  # the eigenvalues, summarised
    assert "<details><summary>provenance" in page


def test_column_json_agrees_with_json_on_every_kind():
    kind, text = column_json("x", np.array([1e-300, -2.5e10, np.nan, -np.inf, 3.0]))
    assert kind == "float" and json.loads(text) == [1e-300, -2.5e10, None, None, 3.0]
    assert column_json("nearest_id", np.array([4, -1])) == ("int", "[4,null]")
    assert column_json("other_int", np.array([4, -1])) == ("int", "[4,-1]")  # -1 is a value
    assert column_json("string", [None, None]) == ("string", "[null,null]")


def test_write_token_page_names_the_page_after_the_model(tmp_path):
    pytest.importorskip("pyarrow")
    table = synthetic_table(n=60, name="org/My model")
    table = table.with_columns(string=[f"t{i}" for i in range(60)])  # Parquet takes these
    table.save(tmp_path, table_format="csv")
    written = write_token_page(table, tmp_path, figures=False)
    assert written.name == "org_My_model.tokens.html" == table.file_names()["page"]
    again = write_token_page(tmp_path / "org_My_model.tokens.json", figures=False)
    assert again == written
    assert "the full table is org_My_model.tokens.csv" in written.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="out_dir"):
        write_token_page(table)
