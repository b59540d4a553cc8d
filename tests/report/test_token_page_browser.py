"""The token page in headless Chromium, as the report's page (``test_report_browser.py``): a copy
of the page with the test's probe, loaded with ``--dump-dom`` and every host name mapped to
nowhere (so a page that fetched anything would show it). The probe runs after the load event:
it records script errors and console lines stay empty, then types into the search box, clicks
column headers, views and the next page, and writes what the table shows after each step into
``<pre id="probe-out">`` as JSON. Each step is checked against the same query done in Python on
the table (numpy orderings on the values rounded as the page rounds them)."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from test_report_browser import BROWSER, ERROR_PROBE, dump_dom
from token_tables import HOSTILE, synthetic_table

from llmgeom.report.token_page import DIGITS, PAGE_SIZE, embeddable_json, write_token_page

pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no chromium binary: apt-get install -y chromium (.ci/run does)"
)

STEPS_PROBE = r"""
(function () {
  function rows() {
    return Array.prototype.map.call(document.querySelectorAll('#token-table tbody tr'),
      function (tr) { return Number(tr.getAttribute('data-row')); });
  }
  function cells(i) {
    var tr = document.querySelector('#token-table tbody tr[data-row="' + i + '"]');
    return tr ? Array.prototype.map.call(tr.children, function (td) { return td.textContent; })
              : null;
  }
  function act(step) {
    if (step.search !== undefined) {
      var whole = document.getElementById('token-whole');
      if (whole.checked !== !!step.whole) {
        whole.checked = !!step.whole; whole.dispatchEvent(new Event('change'));
      }
      var box = document.getElementById('token-search');
      box.value = step.search; box.dispatchEvent(new Event('input'));
    } else if (step.sort !== undefined) {
      document.querySelector('#token-table th[data-column="' + step.sort + '"]').click();
    } else if (step.view !== undefined) {
      Array.prototype.filter.call(document.querySelectorAll('#token-views button'),
        function (b) { return b.textContent === step.view; })[0].click();
    } else if (step.next) {
      document.getElementById('token-next').click();
    }
  }
  function run() {
    var out = { loaded_ms: performance.now(), steps: [] };
    try {
      out.headers = Array.prototype.map.call(document.querySelectorAll('#token-table th'),
        function (th) { return th.textContent; });
      out.views = Array.prototype.map.call(document.querySelectorAll('#token-views button'),
        function (b) { return b.textContent; });
      out.steps.push({ rows: rows(), matching: Number(document.getElementById('token-status')
        .getAttribute('data-matching')) });
      window.__steps.forEach(function (step) {
        var t = performance.now();
        act(step);
        var shown = rows();
        out.steps.push({ rows: shown, ms: performance.now() - t, cells: cells(step.cells),
          matching: Number(document.getElementById('token-status')
            .getAttribute('data-matching')) });
      });
    } catch (e) { window.__reportErrors.push('probe: ' + e); }
    var images = document.images, decoded = 0;
    for (var i = 0; i < images.length; i++) {
      if (images[i].complete && images[i].naturalWidth > 0) { decoded++; }
    }
    out.images = decoded + '/' + images.length;
    out.errors = window.__reportErrors;
    out.pwned = window.__pwned === undefined ? 0 : 1;
    out.resources = performance.getEntriesByType('resource').map(function (e) { return e.name; });
    var pre = document.createElement('pre');
    pre.id = 'probe-out';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  if (document.readyState === 'complete') { run(); }
  else { window.addEventListener('load', run); }
})();
"""


def probe(page: Path, steps: list[dict], profile: Path) -> tuple[dict, list[str]]:
    """What the probe saw after ``steps`` on ``page`` (a copy with the probe), and the console
    lines Chromium logged."""
    text = page.read_text(encoding="utf-8")
    assert text.count("<head>") == 1 and text.count("</body>") == 1
    text = text.replace("<head>", f"<head><script>{ERROR_PROBE}</script>", 1)
    setup = f"window.__steps = {embeddable_json(steps)};"  # the steps hold hostile strings too
    text = text.replace("</body>", f"<script>{setup}{STEPS_PROBE}</script></body>", 1)
    probed = profile.parent / f"probed-{page.name}"
    probed.write_text(text, encoding="utf-8")
    # no network: any host name fails to resolve
    done = dump_dom(probed, profile, "--host-resolver-rules=MAP * ~NOTFOUND", timeout=180)
    found = re.search(r'<pre id="probe-out">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-1000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html.unescape(found.group(1))), console


def shown(values, digits: int = DIGITS) -> np.ndarray:
    """The page's values: rounded to ``digits`` significant digits, missing as NaN."""
    return np.array([v if not math.isfinite(v) else float(f"{v:.{digits}g}") for v in values])


def ordered(ids: np.ndarray, values: np.ndarray, desc: bool) -> list[int]:
    """``ids`` by ``values`` (descending with ``desc``), missing values last, ties by id."""
    missing = ~np.isfinite(values)
    key = np.where(missing, 0.0, -values if desc else values)
    return [int(i) for i in ids[np.lexsort((ids, key, missing))]]


@pytest.fixture(scope="module")
def table():
    return synthetic_table(n=1234)


def test_search_sort_views_and_paging_in_chromium(table, tmp_path):
    page = write_token_page(table, tmp_path)
    strings = table.table["string"]
    ids = np.arange(table.n_rows)
    steps = [
        {"search": "AB"},  # any case
        {"search": "17"},  # id 17, and strings with 17
        {"search": HOSTILE[0], "whole": True, "cells": 0},
        {"search": ""},
        {"sort": "row_norm"},
        {"sort": "row_norm"},
        {"view": "under-trained candidates"},
        {"view": "most frequent"},
        {"next": True},
        {"sort": "string"},
    ]
    seen, console = probe(page, steps, tmp_path / "profile")
    assert console == [] and seen["errors"] == [] and seen["pwned"] == 0
    assert seen["resources"] == [] and seen["images"] == "2/2"
    assert seen["headers"] == table.column_names()
    initial, *after = seen["steps"]
    crowded = ordered(ids, shown(table.table["interference"]), desc=True)
    assert initial == {"rows": crowded[:PAGE_SIZE], "matching": table.n_rows}

    def first_page(expected: list[int]) -> dict:
        return {"rows": expected[:PAGE_SIZE], "matching": len(expected)}

    def rows_of(step: dict) -> dict:
        return {"rows": step["rows"], "matching": step["matching"]}

    ab = [i for i in crowded if strings[i] is not None and "ab" in strings[i].lower()]
    assert rows_of(after[0]) == first_page(ab) and len(ab) > PAGE_SIZE
    seventeen = [i for i in crowded if i == 17 or (strings[i] is not None and "17" in strings[i])]
    assert rows_of(after[1]) == first_page(seventeen)
    assert rows_of(after[2]) == first_page([0])  # the whole string: only the token itself
    assert after[2]["cells"][:2] == ["0", json.dumps(HOSTILE[0])]  # shown as text, quoted
    assert rows_of(after[3]) == initial
    norms = shown(table.table["row_norm"])
    assert rows_of(after[4]) == first_page(ordered(ids, norms, desc=False))
    assert rows_of(after[5]) == first_page(ordered(ids, norms, desc=True))
    candidates = ids[table.table["undertrained_candidate"]]
    indicator = shown(table.table["undertrained_indicator"])[candidates]
    assert rows_of(after[6]) == first_page(ordered(candidates, indicator, desc=False))
    rank = table.table["frequency_rank"].astype(float)
    by_rank = ordered(ids, np.where(rank < 0, np.nan, rank), desc=False)
    assert after[7]["rows"] == by_rank[:PAGE_SIZE]
    assert after[8]["rows"] == by_rank[PAGE_SIZE : 2 * PAGE_SIZE]  # the next page
    with_string = [i for i in ids if strings[i] is not None]
    # JavaScript compares strings by UTF-16 code units: big-endian UTF-16 bytes compare alike
    by_string = sorted(with_string, key=lambda i: strings[i].encode("utf-16-be", "surrogatepass"))
    assert after[9]["rows"] == [int(i) for i in by_string[:PAGE_SIZE]]


def test_a_broken_token_page_is_caught(table, tmp_path):
    page = write_token_page(table, tmp_path, figures=False)
    text = page.read_text(encoding="utf-8").replace("token-data", "no-such-id", 1)
    page.write_text(text, encoding="utf-8")
    seen, console = probe(page, [], tmp_path / "profile")
    assert len(seen["errors"]) == 1 and "textContent" in seen["errors"][0] and console
