"""Fixtures of the browser tests: one JupyterLab server and one Chromium for the whole session,
a fresh page per test, and `notebook`, the one way a test sets up a notebook."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import pytest

from tests.browser.lab import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Lab,
    open_notebook,
    run_all,
    running_lab,
    wait_for_text,
)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """One JupyterLab server for all browser tests (started once: it takes seconds)."""
    if not pathlib.Path(CHROMIUM).exists():
        pytest.fail(f"Browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium")
    with running_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def notebook(lab: Lab) -> Callable[..., None]:
    """Write a notebook into the session's JupyterLab, open it in `page`, and run it.

    Call it as `notebook(page, name, cells, until="KV_DONE")`: the cells are code cells, run all
    at once (`run=False` opens the notebook and runs nothing), and `until` is text that the
    notebook prints when it is done (waited for when given).
    """

    def open_and_run(
        page, name: str, cells: list[str], *, until: str | None = None, run: bool = True
    ) -> None:
        open_notebook(page, lab, lab.write_notebook(name, cells))
        if run:
            run_all(page)
        if until is not None:
            wait_for_text(page, until)

    return open_and_run
