"""``llmgeom report`` links every model's token page: token summaries (``NAME.tokens.json``) and
pages (``NAME.tokens.html``) found under the results folder get a row each in the report's
"Token tables" section, with relative links that lead (resolved against the report's folder,
wherever it is written) to the files themselves; the numbers are the summaries' own."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import unquote

import numpy as np
import pytest
import torch

from llmgeom.cli import main
from llmgeom.geometry.measurement import measure
from llmgeom.records.measurement import write_record
from llmgeom.report import build_report

pytest.importorskip("pyarrow")


class TokenRows(HTMLParser):
    """The rows of ``<table id="token-tables">``: each row's cell texts and link targets."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, list[str]]] = []
        self._inside = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "token-tables":
            self._inside = True
        elif self._inside and tag == "tr":
            self.rows.append({"cells": [], "links": []})
        elif self._inside and tag in ("td", "th"):
            self._cell = []
        elif self._inside and tag == "a":
            self.rows[-1]["links"].append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "table":
            self._inside = False
        elif self._inside and tag in ("td", "th") and self._cell is not None:
            self.rows[-1]["cells"].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A measurement and three token tables: one by the CLI (summary and page), one without a
    page (``--no-html``), and a page whose summary was removed; in a folder with a space."""
    root = tmp_path_factory.mktemp("res")
    torch.manual_seed(0)
    W = torch.randn(300, 12)
    write_record(measure(W, pairs="gram").to_dict(), root / "measure")
    tokens = root / "token tables"
    np.save(root / "head.npy", W.numpy())
    np.save(root / "other.npy", (W + 0.5).numpy())
    np.save(root / "gone.npy", (W - 0.5).numpy())
    for name, more in (("head", []), ("other", ["--no-html"]), ("gone", [])):
        argv = ["tokens", str(root / f"{name}.npy"), "--out", str(tokens), "--name", name]
        assert main([*argv, "--no-progress", *more]) == 0
    (tokens / "gone.tokens.json").unlink()
    for name in ("head", "other", "gone"):
        (root / f"{name}.npy").unlink()
    return root


@pytest.mark.parametrize("where", ["inside", "elsewhere"])
def test_each_token_table_is_linked_relative_to_the_report(results, tmp_path, where):
    out = results / "report" if where == "inside" else tmp_path / "some" / "report"
    report = build_report(results, out)
    parser = TokenRows()
    parser.feed(report.index_html.read_text(encoding="utf-8"))
    header, *rows = parser.rows
    assert header["cells"][0] == "model" and len(rows) == 3
    by_model = {row["cells"][0]: row for row in rows}
    tokens = results / "token tables"
    for name, files in (
        ("head", ["head.tokens.html", "head.tokens.json"]),
        ("other", ["other.tokens.json"]),
        ("gone", ["gone.tokens.html"]),
    ):
        row = by_model[name]
        targets = [(out / unquote(href)).resolve() for href in row["links"]]
        assert targets == [(tokens / f).resolve() for f in files], name
        assert all(not href.startswith(("/", "file:")) for href in row["links"])
        assert all(" " not in href and "token%20tables" in href for href in row["links"])
    record = json.loads((tokens / "head.tokens.json").read_text())
    cells = by_model["head"]["cells"]
    assert cells[1:4] == ["300", "12", f"{record['interference']['mean']:.6g}"]
    assert cells[4] == f"{record['spectrum']['entropy_effective_rank']:.6g}"
    assert report.counts["token tables"] == 3 and report.corrupt == []
    skipped = dict(report.skipped)
    assert skipped["token tables/head.tokens.parquet"].startswith("part of a token table")
    assert not any(rel.endswith(".tokens.html") for rel in skipped)


def test_without_token_tables_there_is_no_section(tmp_path):
    write_record(measure(torch.randn(40, 8), pairs="gram").to_dict(), tmp_path / "res")
    page = build_report(tmp_path / "res").index_html.read_text(encoding="utf-8")
    assert re.search(r'id="tokens"', page) is None and "token-tables" not in page
