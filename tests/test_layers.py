"""The package's layers import one way: core <- io <- widget, and the Recorder never the widget.

Read from the source with `ast` (not from `sys.modules`: Keras itself imports IPython and
traitlets). An import inside a function is *lazy*: it runs only when that function is called.
"""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "kerasviz_widget"
JUPYTER = {"ipywidgets", "anywidget", "bqplot", "IPython", "traitlets", "ipykernel", "jupyter"}
STDLIB = set(sys.stdlib_module_names)


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: pathlib.Path) -> list[tuple[str, bool]]:
    """Every module `path` imports, as `(absolute name, lazy)`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, lazy) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if child.module == "__future__":
                    continue
                # `from . import x` and `from .io import npz` import modules.
                found.append((target, lazy))
                found.extend((f"{target}.{alias.name}", lazy) for alias in child.names)
            visit(child, inner)

    visit(tree, False)
    return found


def modules(layer: str) -> list[pathlib.Path]:
    return sorted((PACKAGE / layer).glob("*.py")) if layer else [PACKAGE / "recorder.py"]


def top(name: str) -> str:
    return name.split(".")[0]


def ours(name: str) -> bool:
    return top(name) == "kerasviz_widget"


def layer_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


ALL = {module_name(p) for p in PACKAGE.rglob("*.py")}


BACKENDS = {"tensorflow", "jax", "torch"}


def problems(path: pathlib.Path, allowed: set[str], lazy_allowed: set[str], layers: set[str]):
    out = []
    for name, lazy in imports(path):
        if ours(name):
            if name not in ALL and name.rpartition(".")[0] in ALL:
                continue  # `from .x import y`: y is a name in module x
            if layer_of(name) not in layers:
                out.append(name)
        elif top(name) in STDLIB or top(name) in allowed or (lazy and top(name) in lazy_allowed):
            continue
        else:
            out.append(name + (" (lazy)" if lazy else ""))
    return out


@pytest.mark.parametrize("path", modules("core"), ids=lambda p: p.name)
def test_core_imports_numpy_keras_and_the_core_only(path):
    # A backend (TensorFlow, JAX, PyTorch) only lazily, where that backend's compilation needs it;
    # numba compiles the reduction kernel (core/kernels.py, which reduce.py imports lazily).
    assert problems(path, {"numpy", "keras", "numba"}, BACKENDS, {"core"}) == []


@pytest.mark.parametrize("path", modules("io"), ids=lambda p: p.name)
def test_io_imports_the_core_only(path):
    # TensorFlow only lazily: `tf.io.gfile` for paths, `tf.summary` for TensorBoard.
    assert problems(path, {"numpy"}, {"tensorflow"}, {"core", "io"}) == []


@pytest.mark.parametrize("path", modules("widget"), ids=lambda p: p.name)
def test_the_widget_imports_no_recorder(path):
    allowed = {"numpy", "keras"} | JUPYTER
    assert problems(path, allowed, BACKENDS, {"core", "io", "widget"}) == []


def test_the_recorder_never_imports_the_widget_or_jupyter():
    path = PACKAGE / "recorder.py"
    assert problems(path, {"numpy", "keras"}, BACKENDS, {"core", "io"}) == []


def test_only_the_widget_layer_imports_jupyter_packages():
    outside = [
        (module_name(path), name)
        for path in PACKAGE.rglob("*.py")
        if "widget" not in path.relative_to(PACKAGE).parts[:-1]
        for name, _ in imports(path)
        if top(name) in JUPYTER
    ]
    assert outside == []


def test_the_walk_sees_relative_and_lazy_imports():
    # The checks above are only as good as the walk: it must see every kind of import.
    viewer = dict(imports(PACKAGE / "widget" / "viewer.py"))
    assert viewer["kerasviz_widget.core.history"] is False
    assert dict(imports(PACKAGE / "widget" / "canvas.py"))["anywidget"] is False
    assert dict(imports(PACKAGE / "widget" / "static.py"))["IPython.display"] is True
    assert dict(imports(PACKAGE / "core" / "reduce.py"))["kerasviz_widget.core.kernels"] is True
    tensorboard = dict(imports(PACKAGE / "io" / "tensorboard.py"))
    assert tensorboard["tensorflow"] is True
