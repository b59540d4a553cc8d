"""MkDocs hook: publish the small committed results (``results/**.png``) with the site.

The docs show figures that live under ``results/`` in the repository (not under ``docs/``), so
they are not copied twice: this hook adds them to the site's files under the same path, and a
page links them as ``results/...`` relative to the site root (``../results/...`` from a page
one folder down). MkDocs then checks those links like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ("results/toy/*.png", "results/tokens/*.png")


def on_files(files: Files, config: Any) -> Files:
    for pattern in PUBLISHED:
        for path in sorted(ROOT.glob(pattern)):
            files.append(
                File(
                    path.relative_to(ROOT).as_posix(),
                    src_dir=str(ROOT),
                    dest_dir=config["site_dir"],
                    use_directory_urls=config["use_directory_urls"],
                )
            )
    return files
