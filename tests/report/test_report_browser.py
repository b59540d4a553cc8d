"""The report page in headless Chromium (Debian package ``chromium``): no console message, no
script error, every image decoded, the paper's side-by-side table rendered. Skipped with a
message where no Chromium is installed.

The report ships no JavaScript. The test opens a copy of the page with a probe added by the test
itself: a script at the top of ``<head>`` that records script errors, and one at the end of
``<body>`` that, after the load event, marks ``<body>`` (``data-check``, ``data-images``,
``data-errors``). ``--dump-dom`` prints the DOM after loading, and ``--enable-logging`` writes
every console message to stderr as ``CONSOLE``. A broken page is checked the same way, so the
test is known to fail when the page is wrong.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from llmgeom.report import FIGURES
from llmgeom.report.html import Page, figure, render_page

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no chromium binary: apt-get install -y chromium (.ci/run does)"
)

ERROR_PROBE = (
    "window.__reportErrors = [];"
    "window.addEventListener('error', function (e) {"
    " window.__reportErrors.push(String(e.message || e.type)); }, true);"
)

IMAGE_PROBE = """
(function () {
  function check() {
    var images = document.images, ok = 0;
    for (var i = 0; i < images.length; i++) {
      if (images[i].complete && images[i].naturalWidth > 0) { ok++; }
    }
    var good = ok === images.length && window.__reportErrors.length === 0;
    document.body.setAttribute('data-images', ok + '/' + images.length);
    document.body.setAttribute('data-errors', String(window.__reportErrors.length));
    var paper = document.querySelectorAll('#paper table tr');
    document.body.setAttribute('data-paper-rows', String(Math.max(paper.length - 1, 0)));
    document.body.setAttribute('data-check', good ? 'ok' : 'fail');
  }
  if (document.readyState === 'complete') { check(); }
  else { window.addEventListener('load', check); }
})();
"""


def with_probe(page: str) -> str:
    """``page`` with the test's probe scripts: the error hook first, the image check last."""
    assert page.count("<head>") == 1 and page.count("</body>") == 1
    page = page.replace("<head>", f"<head><script>{ERROR_PROBE}</script>", 1)
    return page.replace("</body>", f"<script>{IMAGE_PROBE}</script></body>", 1)


def dump_dom(page: Path, profile: Path, *extra: str, timeout: int = 120) -> Any:
    """Headless Chromium's DOM of ``page`` after its load (``--dump-dom``; a fresh ``profile``,
    console lines on stderr, ``extra`` flags), the process's result; it must exit 0."""
    argv = [
        BROWSER,
        "--headless=new",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *extra,
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def load(page: Path, profile: Path) -> tuple[dict[str, str], list[str]]:
    """``<body>``'s attributes after loading ``page`` (with the probe), and the console lines."""
    probed = profile.parent / f"probed-{page.name}"
    probed.write_text(with_probe(page.read_text(encoding="utf-8")), encoding="utf-8")
    done = dump_dom(probed, profile)
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body, done.stdout[:500]
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return attributes, console


def test_the_report_renders_with_every_image_and_no_console_error(site, tmp_path):
    assert site.missing == []
    assert "<script" not in site.index_html.read_text(encoding="utf-8")  # ships no JavaScript
    body, console = load(site.index_html, tmp_path / "profile")
    n = len(FIGURES)
    assert console == []
    assert (body.get("data-check"), body.get("data-images"), body.get("data-errors")) == (
        "ok",
        f"{n}/{n}",
        "0",
    )
    with site.summary_csv.open(newline="") as fh:
        paper = [r for r in csv.DictReader(fh) if r["record"] == "paper"]
    assert len(paper) > 20  # the side-by-side table, rendered: one row per published number
    assert body.get("data-paper-rows") == str(len(paper))


def test_a_broken_page_is_caught(tmp_path):
    body_html = figure("bad", b"not a png", "a broken image")
    body_html += "<script>console.log('hello'); no_such();</script>"
    page = tmp_path / "index.html"
    page.write_text(render_page(Page(title="broken", sections=[("x", "x", body_html)])))
    body, console = load(page, tmp_path / "profile")
    assert body.get("data-check") == "fail" and body.get("data-images") == "0/1"
    assert body.get("data-errors") == "2"  # the image's load error and the script's error
    assert len(console) == 2 and "no_such is not defined" in console[1]
