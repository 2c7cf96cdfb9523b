"""One version: `kerasviz_widget.__version__` is the source; the front-end and the metadata follow it."""

from __future__ import annotations

import importlib.metadata
import json
import pathlib

import kerasviz_widget

ROOT = pathlib.Path(__file__).parent.parent


def test_front_end_version_is_the_package_version():
    package = json.loads((ROOT / "js" / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "js" / "package-lock.json").read_text(encoding="utf-8"))
    found = {
        "js/package.json": package["version"],
        "js/package-lock.json": lock["version"],
        "js/package-lock.json packages['']": lock["packages"][""]["version"],
    }
    wrong = {where: v for where, v in found.items() if v != kerasviz_widget.__version__}
    assert not wrong, (
        f"kerasviz_widget.__version__ is {kerasviz_widget.__version__!r} but {wrong}: set the "
        "version in js/package.json and run `npm install --package-lock-only` in js/"
    )


def test_installed_metadata_reads_the_package_version():
    installed = importlib.metadata.version("kerasviz-widget")
    assert installed == kerasviz_widget.__version__, (
        f"the installed distribution says {installed!r}, the package {kerasviz_widget.__version__!r}: "
        'reinstall it (`pip install -e ".[dev]"`, which `make install` runs)'
    )
