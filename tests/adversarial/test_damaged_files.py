"""Damaged files, field by field: every outcome is a correct load or a `ValueError` naming the file.

A hypothesis strategy damages a valid `.npz` history (header fields, member dtypes and shapes,
missing and extra members, pickled objects, truncation, random bytes) and a valid run folder
(manifest fields, a missing or garbage `probe.npz`, a partly copied step, leftovers of an
interrupted write). `TensorViewer.load` must then either refuse with a `ValueError` whose message
names the damaged file, or give a viewer that works (`summary`, `stats`, `values`, `save_html`).
Never another exception, never a hang, never an unpickled object (docs/contract.md, "Loading").
"""

from __future__ import annotations

import contextlib
import io
import json
import pathlib
import shutil
import tempfile
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerasviz_widget import Recorder, TensorViewer
from tests.adversarial import support

HEADER = "kerasviz_header"
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ----------------------------------------------------------------------------- pickle canary

UNPICKLED: list[str] = []


def _unpickled(tag: str) -> str:
    UNPICKLED.append(tag)
    return tag


class Payload:
    """Pickles to a call of `_unpickled`: loading it would record that it ran."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _unpickled, ("payload executed",)


# ----------------------------------------------------------------------------- valid files


class Damaged(bytes):
    """A damaged file's bytes; its repr says what was damaged, not the bytes."""

    what = ""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes: {self.what}>"


def damaged(data: bytes, what: str) -> Damaged:
    out = Damaged(data)
    out.what = what
    return out


class Valid(dict):
    """The valid files (a short repr: hypothesis prints the arguments of a failing example)."""

    def __repr__(self) -> str:
        return "<valid history and run folder>"


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Valid:
    """A saved `.npz` history and a run folder, both valid, as bytes.

    The history keeps full values for some steps and not for others, so that every kind of
    member is present; the run folder was thinned by its budget too.
    """
    tmp = tmp_path_factory.mktemp("valid")
    model = support.tiny()
    x, y = support.tiny_data()
    for budget in (0.0105, 0.012, 0.014, 0.02):
        viewer = TensorViewer(model, x[:4], budget_mb=budget)
        for _ in range(3):
            viewer.snapshot(logs={"loss": 0.5})
        viewer.save(tmp / "run.npz")
        header = json.loads(members((tmp / "run.npz").read_bytes())[HEADER].tobytes())
        if len({step["values"] for step in header["steps"]}) == 2:
            break
    else:
        raise AssertionError("no budget gave a history with and without full values")
    recorder = Recorder(model, x[:4], str(tmp / "run"), budget_mb=0.0005)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[recorder])
    recorder.close()
    folder = {
        str(p.relative_to(tmp / "run")): p.read_bytes()
        for p in sorted((tmp / "run").rglob("*"))
        if p.is_file()
    }
    return Valid(
        npz=(tmp / "run.npz").read_bytes(),
        npz_epochs=viewer.epochs,
        npz_header=header,
        folder=folder,
        folder_epochs=TensorViewer.load(str(tmp / "run")).epochs,
    )


def members(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def to_bytes(arrays: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # object arrays are pickled: that is the point of some cases
    return buffer.getvalue()


# ----------------------------------------------------------------------------- damage

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(-3, 3), max_size=2),
)

DTYPES = ["int8", "uint8", "int64", "float16", "float32", "complex64", "bool", "U3", "S3", "V4"]


def json_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON document, e.g. `("steps", 0, "epoch")`."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            paths += json_paths(item, (*prefix, i))
    return paths


@st.composite
def damaged_json(draw: Any, document: Any) -> tuple[Any, str]:
    """The document with one field replaced by a hostile value, or removed; and what was done."""
    doc = json.loads(json.dumps(document))
    path = draw(st.sampled_from(json_paths(doc)))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
        return doc, f"field {list(path)} removed"
    value = draw(HOSTILE)
    parent[path[-1]] = value
    return doc, f"field {list(path)} = {value!r}"


@st.composite
def damaged_members(draw: Any, arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], str]:
    """The archive's members with one of them changed: dtype, shape, missing, extra, pickled."""
    out: dict[str, Any] = dict(arrays)
    names = sorted(n for n in out if n != HEADER) or sorted(out)
    name = draw(st.sampled_from(names))
    kind = draw(st.sampled_from(["dtype", "shape", "drop", "extra", "pickle"]))
    array = out[name]
    what = f"member {name!r}: {kind}"
    if kind == "dtype":
        dtype = np.dtype(draw(st.sampled_from(DTYPES)))
        what += f" {dtype}"
        try:
            out[name] = array.astype(dtype)
        except (TypeError, ValueError):
            out[name] = np.zeros(array.shape, dtype)
    elif kind == "shape":
        how = draw(st.sampled_from(["scalar", "empty", "extra axis", "flat", "half"]))
        what += f" {how}"
        if how == "scalar":
            out[name] = np.asarray(array.reshape(-1)[:1].sum(), array.dtype)
        elif how == "empty":
            out[name] = array.reshape(-1)[:0]
        elif how == "extra axis":
            out[name] = array[None]
        elif how == "flat":
            out[name] = array.reshape(-1)
        else:
            out[name] = array[: max(0, len(array) // 2)] if array.ndim else array
    elif kind == "drop":
        del out[name]
    elif kind == "extra":
        extra = draw(st.sampled_from(["s0.values.99", "s9.stats", "zzz", "s0.display.0.x"]))
        out[extra] = np.zeros(3)
        what = f"extra member {extra!r}"
    else:
        out[name] = np.array([Payload()], dtype=object)
    return out, what


@st.composite
def damaged_bytes(draw: Any, data: bytes) -> Damaged:
    """The file truncated, or with a few bytes overwritten."""
    if draw(st.booleans()):
        size = draw(st.integers(0, len(data) - 1))
        return damaged(data[:size], f"truncated to {size} of {len(data)} bytes")
    out = bytearray(data)
    at = []
    for _ in range(draw(st.integers(1, 8))):
        at.append(draw(st.integers(0, len(out) - 1)))
        out[at[-1]] = draw(st.integers(0, 255))
    return damaged(bytes(out), f"bytes overwritten at {at}")


@st.composite
def damaged_npz(draw: Any, data: bytes) -> Damaged:
    """A history or step file damaged in one way."""
    arrays = members(data)
    kind = draw(st.sampled_from(["header field", "header bytes", "member", "bytes"]))
    if kind == "header field" and HEADER in arrays:
        header = json.loads(arrays[HEADER].tobytes().decode("utf-8"))
        doc, what = draw(damaged_json(header))
        text = json.dumps(doc, allow_nan=True)
        arrays[HEADER] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        return damaged(to_bytes(arrays), f"header {what}")
    if kind == "header bytes" and HEADER in arrays:
        choice = draw(
            st.sampled_from([b"\xff\xfe", b"[1, 2]", b'"text"', b"{", b"null", b'{"format": 1}'])
        )
        arrays[HEADER] = np.frombuffer(choice, dtype=np.uint8)
        return damaged(to_bytes(arrays), f"header is {choice!r}")
    if kind in ("member", "header field", "header bytes"):
        out, what = draw(damaged_members(arrays))
        return damaged(to_bytes(out), what)
    return draw(damaged_bytes(data))


# ----------------------------------------------------------------------------- outcomes


def use(viewer: TensorViewer, tmp: pathlib.Path) -> None:
    """Everything a loaded viewer answers; none of it may raise (a KeyError for a layer not
    recorded at a step, or whose values were thinned away, is an answer)."""
    for epoch in viewer.epochs:
        viewer.summary(epoch)
        for layer in viewer.layers:
            for read in (viewer.stats, viewer.values):
                with contextlib.suppress(KeyError):
                    read(layer, epoch)
    viewer.save_html(tmp / "page.html")
    viewer.close()


def load_or_refuse(path: pathlib.Path, names: str, tmp: pathlib.Path) -> str:
    """Load `path`; a refusal must be a `ValueError` naming `names`. Returns what happened."""
    try:
        viewer = TensorViewer.load(str(path))
    except ValueError as exc:
        assert names in str(exc), f"the error does not name {names!r}: {exc}"
        return "refused"
    finally:
        assert UNPICKLED == [], "a pickled object was executed"
    use(viewer, tmp)
    return "loaded"


# ----------------------------------------------------------------------------- .npz


@pytest.mark.timeout(240)
@SETTINGS
@given(data=st.data())
def test_a_damaged_history_file_loads_correctly_or_is_refused_naming_it(valid, data):
    damaged = data.draw(damaged_npz(valid["npz"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "history.npz"
        path.write_bytes(damaged)
        load_or_refuse(path, "history.npz", pathlib.Path(tmp))


@pytest.mark.parametrize("member", ["stats", "values", "display", "header"])
def test_a_pickled_member_is_refused_and_never_executed(valid, tmp_path, member):
    arrays = members(valid["npz"])
    steps = valid["npz_header"]["steps"]
    with_values = next(k for k, step in enumerate(steps) if step["values"])
    member = {
        "stats": "s0.stats",
        "values": f"s{with_values}.values.1",
        "display": f"s{len(steps) - 1}.display.1",
        "header": HEADER,
    }[member]
    arrays[member] = np.array([Payload()], dtype=object)
    (tmp_path / "evil.npz").write_bytes(to_bytes(arrays))
    with pytest.raises(ValueError, match="evil.npz"):
        TensorViewer.load(tmp_path / "evil.npz")
    assert UNPICKLED == []


def test_the_valid_history_file_loads_as_saved(valid, tmp_path):
    (tmp_path / "ok.npz").write_bytes(valid["npz"])
    assert load_or_refuse(tmp_path / "ok.npz", "ok.npz", tmp_path) == "loaded"
    assert TensorViewer.load(tmp_path / "ok.npz").epochs == valid["npz_epochs"]


# ----------------------------------------------------------------------------- run folders


def write_folder(root: pathlib.Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


class FolderDamage:
    """A damaged run folder: its files, the damaged file's name, and whether it must load."""

    def __init__(self, files: dict[str, bytes], name: str, what: str, must_load: bool) -> None:
        self.files, self.name, self.what, self.must_load = files, name, what, must_load

    def __repr__(self) -> str:
        return f"<{self.name}: {self.what}>"


@st.composite
def damaged_folder(draw: Any, files: dict[str, bytes]) -> FolderDamage:
    """A run folder damaged in one way."""
    out = dict(files)
    steps = sorted(n for n in out if n.startswith("steps/"))
    kinds = ["manifest field", "manifest bytes", "probe", "step", "missing", "partial copy"]
    kind = draw(st.sampled_from([*kinds, "leftover", "junk"]))
    if kind == "manifest field":
        doc, what = draw(damaged_json(json.loads(out["manifest.json"])))
        out["manifest.json"] = json.dumps(doc, allow_nan=True).encode("utf-8")
        return FolderDamage(out, "manifest.json", what, False)
    if kind == "manifest bytes":
        out["manifest.json"] = draw(damaged_bytes(out["manifest.json"]))
        return FolderDamage(out, "manifest.json", out["manifest.json"].what, False)
    if kind == "probe":
        if draw(st.booleans()):
            out["probe.npz"] = data = draw(damaged_bytes(out["probe.npz"]))
            return FolderDamage(out, "probe.npz", data.what, False)
        arrays, what = draw(damaged_members(members(out["probe.npz"])))
        out["probe.npz"] = to_bytes(arrays)
        return FolderDamage(out, "probe.npz", what, False)
    if kind == "step":
        name = draw(st.sampled_from(steps))
        out[name] = data = draw(damaged_npz(out[name]))
        return FolderDamage(out, name.split("/")[-1], data.what, False)
    if kind == "missing":
        name = draw(st.sampled_from(["manifest.json", "probe.npz"]))
        del out[name]
        return FolderDamage(out, name, "missing", False)
    if kind == "partial copy":  # a copy stopped in the middle of a step file
        name = draw(st.sampled_from(steps))
        size = draw(st.integers(0, len(out[name]) - 1))
        out[name] = out[name][:size]
        return FolderDamage(out, name.split("/")[-1], f"copied {size} bytes", False)
    if kind == "leftover":  # an interrupted atomic write
        tmp = f"steps/.tmp-step-{len(steps):08d}.npz.{draw(st.integers(0, 10**6)):x}"
        size = draw(st.integers(0, len(out[steps[-1]])))
        out[tmp] = out[steps[-1]][:size]
        return FolderDamage(out, tmp.split("/")[-1], f"leftover of {size} bytes", True)
    junk = draw(st.sampled_from(["steps/step-abc.npz", "steps/notes.txt", "steps/.DS_Store"]))
    out[junk] = b"junk"
    return FolderDamage(out, junk.split("/")[-1], "junk file", True)


@pytest.mark.timeout(240)
@SETTINGS
@given(data=st.data())
def test_a_damaged_run_folder_loads_correctly_or_is_refused_naming_the_file(valid, data):
    damage = data.draw(damaged_folder(valid["folder"]))
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "run"
        write_folder(root, damage.files)
        outcome = load_or_refuse(root, damage.name, pathlib.Path(tmp))
        if damage.must_load:
            assert outcome == "loaded"
            assert TensorViewer.load(str(root)).epochs == valid["folder_epochs"]


def test_the_valid_run_folder_loads_as_recorded(valid, tmp_path):
    write_folder(tmp_path / "run", valid["folder"])
    assert load_or_refuse(tmp_path / "run", "run", tmp_path) == "loaded"
    assert valid["folder_epochs"] == [0, 1, 2, 3]


# Each damage the issue names, once, by hand.
NAMED = {
    "version a string": ("manifest.json", lambda m: m.update(version="1")),
    "no layers": ("manifest.json", lambda m: m.pop("layers")),
    "bins not a number": ("manifest.json", lambda m: m.update(bins="many")),
    "no format": ("manifest.json", lambda m: m.pop("format")),
}


@pytest.mark.parametrize("damage", sorted(NAMED))
def test_a_damaged_manifest_is_refused_naming_it(valid, tmp_path, damage):
    name, change = NAMED[damage]
    files = dict(valid["folder"])
    manifest = json.loads(files["manifest.json"])
    change(manifest)
    files["manifest.json"] = json.dumps(manifest).encode("utf-8")
    write_folder(tmp_path / "run", files)
    with pytest.raises(ValueError, match=name):
        TensorViewer.load(str(tmp_path / "run"))


@pytest.mark.parametrize("probe", ["missing", "garbage", "empty", "pickled"])
def test_a_damaged_probe_file_is_refused_naming_it(valid, tmp_path, probe):
    files = dict(valid["folder"])
    if probe == "missing":
        del files["probe.npz"]
    elif probe == "garbage":
        files["probe.npz"] = b"PK\x03\x04 not really"
    elif probe == "empty":
        files["probe.npz"] = to_bytes({})
    else:
        files["probe.npz"] = to_bytes({"x0": np.array([Payload()], dtype=object)})
    write_folder(tmp_path / "run", files)
    with pytest.raises(ValueError, match="probe.npz"):
        TensorViewer.load(str(tmp_path / "run"))
    assert UNPICKLED == []


def test_a_partly_copied_run_folder_is_refused_naming_the_step_file(valid, tmp_path):
    files = dict(valid["folder"])
    last = sorted(n for n in files if n.startswith("steps/"))[-1]
    files[last] = files[last][: len(files[last]) // 2]
    write_folder(tmp_path / "run", files)
    with pytest.raises(ValueError, match=pathlib.Path(last).name):
        TensorViewer.load(str(tmp_path / "run"))


def test_a_folder_without_its_steps_folder_loads_as_a_run_with_no_step_or_is_refused(
    valid, tmp_path
):
    files = {k: v for k, v in valid["folder"].items() if not k.startswith("steps/")}
    write_folder(tmp_path / "run", files)
    shutil.rmtree(tmp_path / "run" / "steps", ignore_errors=True)
    load_or_refuse(tmp_path / "run", "steps", tmp_path)
