"""Every notebook in notebooks/ runs headless without error, asserts the claims its text makes,
and is stored without outputs.

The run times are reported at the end of the module (per notebook, with its slowest cell), so a
notebook that grows slow is noticed: together they should stay well under 5 minutes on 2 cores.
"""

from __future__ import annotations

import os
import pathlib
import time
from datetime import datetime

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RECIPES = [
    "quickstart",
    "sequence_model",
    "subclassed_model",
    "nested_model",
    "custom_training_loop",
    "dead_relu",
    "find_the_bad_layer",
    "vanishing_activations",
    "script_and_notebook",
]
_TIMES: dict[str, tuple[float, float, int]] = {}


@pytest.fixture(scope="module", autouse=True)
def time_report(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if not _TIMES or reporter is None or capture is None:
        return
    lines = ["", "notebook run times (s): total, slowest cell"]
    for name, (total, slowest, cell) in sorted(_TIMES.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"  {name:24s} {total:6.1f}  {slowest:6.1f} (code cell {cell})")
    lines.append(f"  {'all notebooks':24s} {sum(t[0] for t in _TIMES.values()):6.1f}")
    with capture.global_and_fixture_disabled():  # print past pytest's output capture
        for line in lines:
            reporter.write_line(line)


def _cell_seconds(cell: nbformat.NotebookNode) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    return (_parse(end) - _parse(start)).total_seconds()


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    # The kernel imports this checkout of the package, quietly.
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": tmp_path}},  # files a notebook writes land here
    ).execute(env=env)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    seconds = [_cell_seconds(c) for c in cells]
    slowest = max(range(len(cells)), key=seconds.__getitem__)
    _TIMES[path.stem] = (time.perf_counter() - start, seconds[slowest], slowest + 1)
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name} has outputs in git; clear them (Edit > Clear Outputs of All Cells)"
            )
            assert "execution" not in cell.metadata, f"{path.name} stores cell timings; clear them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_asserts_what_it_claims(path):
    """Running a notebook proves only that nothing raised: each one also asserts, in its cells,
    the claims its text makes (what was recorded, what changed, what the numbers show)."""
    nb = nbformat.read(path, as_version=4)
    asserts = [
        line
        for cell in nb.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if line.lstrip().startswith("assert ")
    ]
    assert len(asserts) >= 2, f"{path.name} asserts {len(asserts)} of its claims"


def test_every_recipe_is_there():
    assert sorted(p.stem for p in NOTEBOOKS) == sorted(RECIPES)


def test_every_recipe_is_listed_in_the_docs():
    recipes_page = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    missing = [name for name in RECIPES if f"`{name}.ipynb`" not in recipes_page]
    assert not missing, f"list these notebooks in docs/recipes.md: {missing}"
