"""Benchmark the token page (``NAME.tokens.html``) of a large vocabulary: its size and how fast
headless Chromium loads it, searches and sorts it.

A token table of ``--rows`` tokens (default 150000) is made by ``llmgeom.token_table`` from a
random ``--rows x --width`` head with Zipf-like counts (no nearest-neighbour pass: those two
columns are filled at random, as the exact pass would fill them), plus the columns the
under-trained indicator and the frequency direction add, and strings of 1-12 characters
(a few non-ASCII). Then:

1. the page is written (:func:`llmgeom.report.token_page.write_token_page`), timed, and its
   size reported (the figures' PNGs included);
2. Chromium (``--headless=new --dump-dom``) opens it; a probe added to a copy of the page
   records ``performance.now()`` at the load event (parsing the page, its data and the first
   100 rows), then the time of a search (typing ``ab``: a substring of every string, any case),
   of a sort by ``interference`` over all tokens, and of the next page.

Run:  python benchmarks/token_page_size.py [--rows 150000] [--width 64]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import llmgeom
from llmgeom.report.token_page import write_token_page

PROBE = r"""
<script>
window.addEventListener('load', function () {
  var out = { load_ms: performance.now() };
  function time(name, act) { var t = performance.now(); act(); out[name] = performance.now() - t; }
  var box = document.getElementById('token-search');
  time('search_ms', function () { box.value = 'ab'; box.dispatchEvent(new Event('input')); });
  out.matching = Number(document.getElementById('token-status').getAttribute('data-matching'));
  time('clear_ms', function () { box.value = ''; box.dispatchEvent(new Event('input')); });
  time('sort_ms', function () {
    document.querySelector('#token-table th[data-column="interference"]').click();
  });
  time('next_page_ms', function () { document.getElementById('token-next').click(); });
  out.rows_shown = document.querySelectorAll('#token-table tbody tr').length;
  var pre = document.createElement('pre');
  pre.id = 'bench-out';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def make_table(rows: int, width: int, seed: int = 0):
    """The token table described in the module docstring."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    W = torch.randn(rows, width, generator=g) + 0.1
    counts = np.floor(rng.zipf(1.3, rows).astype(np.float64) - 1).clip(0, 1e9).astype(np.int64)
    table = llmgeom.token_table(W, counts=counts, exact_max_flops=0, progress=False, name="big")
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ.,_é中"))
    lengths = rng.integers(1, 13, rows)
    strings = ["".join(rng.choice(letters, size=k)) for k in lengths]
    indicator = rng.random(rows)
    return table.with_columns(
        string=strings,
        nearest_id=rng.integers(0, rows, rows),
        nearest_abs_cos=rng.random(rows),
        undertrained_indicator=indicator,
        undertrained_reference=rng.random(rows) < 0.001,
        undertrained_candidate=indicator < 0.02,
        input_norm=rng.random(rows) * 3,
        frequency_projection=rng.normal(size=rows),
        logit_offset=rng.normal(size=rows),
    )


def browser_times(page: Path, browser: str) -> dict:
    """What the probe measured in Chromium, and the browser's wall time."""
    work = Path(tempfile.mkdtemp(prefix="token-page-bench-"))
    probed = work / page.name
    probed.write_text(
        page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>", 1),
        encoding="utf-8",
    )
    argv = [browser, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
            f"--user-data-dir={work / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--dump-dom", probed.resolve().as_uri()]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
    wall = time.perf_counter() - start
    shutil.rmtree(work, ignore_errors=True)
    found = re.search(r'<pre id="bench-out">(.*?)</pre>', done.stdout, re.S)
    if not found:
        raise SystemExit("the probe wrote nothing: " + done.stderr[-2000:])
    return {**json.loads(html.unescape(found.group(1))), "chromium_wall_s": round(wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--width", type=int, default=64)
    args = parser.parse_args()
    browser = next(
        (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if
         shutil.which(b)), None)  # fmt: skip
    start = time.perf_counter()
    table = make_table(args.rows, args.width)
    made = time.perf_counter() - start
    folder = Path(tempfile.mkdtemp(prefix="token-page-"))
    start = time.perf_counter()
    page = write_token_page(table, folder)
    written = time.perf_counter() - start
    result = {
        "rows": args.rows,
        "columns": len(table.column_names()),
        "table_s": round(made, 2),
        "page_write_s": round(written, 2),
        "page_bytes": page.stat().st_size,
        "page_mib": round(page.stat().st_size / 2**20, 2),
    }
    if browser is not None:
        times = browser_times(page, browser)
        result.update({k: round(v, 1) if isinstance(v, float) else v for k, v in times.items()})
    shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
