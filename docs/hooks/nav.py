"""MkDocs hook: list the design notes (`design-*.md`, `live-training.md`) under "Design" in the nav.

Engineers add these pages alongside their features; this hook links every one that exists, so the
nav never names a missing page and never forgets a new one.
"""

from __future__ import annotations

import pathlib
from typing import Any

EXTRA_DESIGN_PAGES = ("design-*.md", "live-training.md")


def on_config(config: Any) -> Any:
    docs = pathlib.Path(config["docs_dir"])
    pages = sorted({p.name for pattern in EXTRA_DESIGN_PAGES for p in docs.glob(pattern)})
    for entry in config["nav"] or []:
        if isinstance(entry, dict) and "Design" in entry:
            section = entry["Design"]
            section.extend(page for page in pages if page not in section)
    return config
