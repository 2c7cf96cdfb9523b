"""JupyterLab and Chromium for the browser tests: the server, and helpers that drive a page.

`conftest.py` holds the fixtures (one server for the whole session, one browser, a page per test,
and `notebook`, which writes, opens and runs a notebook). Screenshots go to `build/screenshots/`
(set `KERASVIZ_UPDATE_DOCS=1` to also refresh the ones the README shows, under `docs/`).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator

import nbformat

CHROMIUM = os.environ.get("KERASVIZ_CHROMIUM", "/usr/bin/chromium")
ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"
DOCS = ROOT / "docs"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab server: its URL, token and notebook folder."""

    def __init__(self, root: pathlib.Path, port: int, token: str, proc: subprocess.Popen) -> None:
        self.root = root
        self.port = port
        self.token = token
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"

    def write_notebook(self, name: str, cells: list[str]) -> str:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        nbformat.write(nb, self.root / name)
        return name


@contextlib.contextmanager
def running_lab(base: pathlib.Path) -> Iterator[Lab]:
    """A JupyterLab server on 127.0.0.1 with its files under `base`, stopped on exit."""
    root = base / "notebooks"
    settings = base / "settings"
    root.mkdir(parents=True)
    notify = settings / "@jupyterlab" / "apputils-extension"
    notify.mkdir(parents=True)
    (notify / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
    ]
    with open(base / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(proc, f"http://127.0.0.1:{port}/api/status?token={token}", base)
            yield Lab(root, port, token, proc)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_until_up(proc: subprocess.Popen, url: str, base: pathlib.Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "JupyterLab did not start:\n" + (base / "server.log").read_text()[-3000:]
                ) from None
            time.sleep(0.3)


def open_notebook(page, lab: Lab, name: str, *, theme: str | None = None) -> None:
    """Open a notebook in JupyterLab and wait until its kernel is idle."""
    page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session
                && w.sessionContext.session.kernel;
            return k && k.status === 'idle';
        }""",
        timeout=120_000,
    )
    if theme:
        page.evaluate(
            "t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme
        )


def run_all(page) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_for_text(page, text: str, timeout: float = 240_000) -> None:
    page.wait_for_function(
        "t => document.querySelector('.jp-Notebook').innerText.includes(t)",
        arg=text,
        timeout=timeout,
    )


def kernel_busy(page) -> bool:
    return page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status
               === 'busy'"""
    )


def screenshot(page, name: str, *, element=None, docs: bool = False) -> pathlib.Path:
    """Save a screenshot under build/screenshots (and docs/ when asked and enabled)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    (element or page).screenshot(path=str(path))
    if docs and os.environ.get("KERASVIZ_UPDATE_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copy(path, DOCS / name)
    return path


CANVAS_SIGNATURE = """sel => {
    const c = document.querySelector(sel);
    if (!c || !c.width || !c.height) return null;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0, colors = new Set();
    for (let i = 0; i < d.length; i += 4) {
        const v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
        colors.add(v);
        h = (h * 31 + v) >>> 0;
    }
    return {hash: h, colors: colors.size, width: c.width, height: c.height,
            epoch: c.dataset.epoch, layer: c.dataset.layer};
}"""


def canvas_signature(page, selector: str = ".kv-heatmap") -> dict | None:
    return page.evaluate(CANVAS_SIGNATURE, selector)


def set_range(page, selector: str, value: int) -> None:
    """Move an `<input type=range>` as a user would: set it and fire `input`."""
    page.evaluate(
        """([sel, v]) => {
            const r = document.querySelector(sel);
            r.value = String(v);
            r.dispatchEvent(new Event('input', {bubbles: true}));
        }""",
        [selector, value],
    )
