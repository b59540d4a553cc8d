"""The self-contained ``index.html`` of a report: figures embedded as base64 ``data:`` URIs, the
fitted numbers with their intervals, tables of the results, what was missing, skipped or
corrupt, and the provenance of every point in a collapsible table. No external resource and no
script: the page is HTML and CSS only, readable offline. A page may add its own inline style and
script (``Page.style``, ``Page.script``: the token page, :mod:`llmgeom.report.token_page`).

Example:
    >>> page = render_page(Page(title="t", intro=["x < y"], sections=[("s", "S", "<p>hi</p>")]))
    >>> "x &lt; y" in page, page.count("<script>"), "http" in page
    (True, 0, False)
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222;
       padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0.5em 0 1.5em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.88em; color: #444; } code { font-size: 0.9em; }
.missing { color: #a33; } details { margin: 0.5em 0; } summary { cursor: pointer; }
.wrap { overflow-x: auto; }
"""


@dataclass
class Page:
    """A page: title, intro paragraphs (text) and sections ``(anchor, heading, html body)``;
    ``style`` (CSS) and ``script`` (JavaScript, run at the end of the body) are inlined when
    given."""

    title: str
    intro: list[str] = field(default_factory=list)
    sections: list[tuple[str, str, str]] = field(default_factory=list)
    style: str = ""
    script: str = ""


def esc(value: Any) -> str:
    """HTML-escaped text of a value (None as an empty string)."""
    return "" if value is None else html.escape(str(value))


def number(value: Any, digits: int = 6) -> str:
    """A number for reading (``digits`` significant digits); other values as text.

    Example:
        >>> number(0.123456789), number(12), number(None), number("x")
        ('0.123457', '12', '', 'x')
    """
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table; numbers right-aligned and shown with 6 significant digits.

    Example:
        >>> table(["a"], [[1.5]])
        '<div class="wrap"><table><tr><th>a</th></tr><tr><td class="num">1.5</td></tr>...'
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for v in row:
            numeric = isinstance(v, int | float) and not isinstance(v, bool)
            cells.append(
                f'<td class="num">{esc(number(v))}</td>' if numeric else f"<td>{esc(v)}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="wrap"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def figure(figure_id: str, png: bytes, caption: str) -> str:
    """A ``<figure>`` with the PNG embedded as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="img-{esc(figure_id)}"><img alt="{esc(figure_id)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{esc(caption)}</figcaption></figure>'
    )


def details(summary: str, body: str) -> str:
    """A collapsible block."""
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def render_page(page: Page) -> str:
    """The whole HTML document."""
    nav = " · ".join(f'<a href="#{esc(a)}">{esc(h)}</a>' for a, h, _ in page.sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(page.title)}</title>",
        f"<style>{STYLE}{page.style}</style>",
        "</head><body>",
        f"<h1>{esc(page.title)}</h1>",
        *(f"<p>{esc(p)}</p>" for p in page.intro),
        f"<p>{nav}</p>",
    ]
    for anchor, heading, body in page.sections:
        parts.append(f'<section id="{esc(anchor)}"><h2>{esc(heading)}</h2>{body}</section>')
    if page.script:
        parts.append(f"<script>{page.script}</script>")
    parts += ["</body></html>", ""]
    return "\n".join(parts)
