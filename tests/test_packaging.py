"""The package as published: the sdist and the wheel pass `twine check --strict`, the wheel carries the
built front-end and the licence, Keras' backend is an extra, and no backend gives one clear error."""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest
from packaging.requirements import Requirement

import kerasviz_widget
from tests.test_version import ROOT

BACKENDS = ["tensorflow", "jax", "torch"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and the wheel built with `python -m build` (the wheel is built from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"python -m build failed:\n{result.stdout}\n{result.stderr}"
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def test_twine_check_strict_passes(dist):
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_wheel_carries_front_end_licence_and_metadata(dist):
    _, wheel = dist
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"kerasviz_widget-{kerasviz_widget.__version__}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    for expected in (
        "kerasviz_widget/static/widget.js",
        "kerasviz_widget/static/widget.css",
        f"{info}/licenses/LICENSE",
    ):
        assert expected in names, f"{expected} missing from {wheel.name}"
    assert metadata["Version"] == kerasviz_widget.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert not [c for c in metadata.get_all("Classifier") if c.startswith("License ::")]
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}, urls


def test_keras_backend_is_an_extra_never_a_dependency(dist):
    _, wheel = dist
    with zipfile.ZipFile(wheel) as archive:
        info = f"kerasviz_widget-{kerasviz_widget.__version__}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist")]
    unconditional = {r.name for r in requires if r.marker is None}
    assert "keras" in unconditional, requires
    assert not unconditional & set(BACKENDS), f"a backend is a hard dependency: {requires}"
    for backend in BACKENDS:
        pulled = {r.name for r in requires if r.marker and r.marker.evaluate({"extra": backend})}
        assert backend in pulled, f"the extra {backend!r} pulls {pulled}"


def test_sdist_carries_licence_and_built_front_end_but_no_environment(dist):
    sdist, _ = dist
    top = f"kerasviz_widget-{kerasviz_widget.__version__}"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    assert f"{top}/LICENSE" in names
    assert f"{top}/kerasviz_widget/static/widget.js" in names  # a wheel built from it needs no Node
    stray = [n for n in names if n.startswith((f"{top}/.venv", f"{top}/js/node_modules"))]
    assert not stray, stray[:5]


# Run in a fresh interpreter: every import of the three backends fails, as on a machine that has none.
NO_BACKEND = """
import importlib.abc, json, sys

class NoBackend(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"tensorflow", "jax", "jaxlib", "torch"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoBackend())
import kerasviz_widget

report = {"version": kerasviz_widget.__version__, "keras_imported": "keras" in sys.modules}
for name in ("TensorViewer", "Recorder", "layer_output"):
    try:
        exec(f"from kerasviz_widget import {name}")
    except ImportError as error:
        report[name] = [type(error).__name__, str(error)]
print(json.dumps(report))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_backend_gives_one_clear_error_naming_the_extras(backend, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": backend, "KERAS_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", NO_BACKEND],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # `import kerasviz_widget` works without a backend and imports no Keras.
    assert report["version"] == kerasviz_widget.__version__
    assert report["keras_imported"] is False
    for name in ("TensorViewer", "Recorder", "layer_output"):
        assert name in report, f"`from kerasviz_widget import {name}` raised nothing"
        kind, message = report[name]
        assert kind == "ImportError", report[name]
        assert repr(backend) in message, message
        for extra in BACKENDS:
            assert f'pip install "kerasviz-widget[{extra}]"' in message, message
