"""Files: the format names and versions, the filesystem, and the one atomic writer.

Every file kerasviz_widget writes (a `.npz` history, the files of a run folder, a standalone HTML
page) goes through `atomic_write`: the content goes to a temporary name in the same folder, which
is then renamed over the destination, so a reader never sees half a file and a process killed at
any moment leaves the old file or the new one. Paths go through `tf.io.gfile` when TensorFlow is
installed (imported on first use), so any filesystem TensorFlow opens works (`gs://`, ...);
local paths are written with Python's own files, flushed to disk before the rename.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import IO, Any

HISTORY_FORMAT = "kerasviz_widget.history"
"""The `format` of a `.npz` history's header (`viewer.save`, and every step file of a run)."""

HISTORY_VERSION = 1
"""Version of the `.npz` history format written, and the newest read."""

RUN_FORMAT = "kerasviz_widget run"
"""The `format` of a run folder's `manifest.json`."""

RUN_VERSION = 1
"""Version of the run-folder format written, and the newest read."""

TMP_MARK = ".tmp-"
"""Start of the name of a file being written; readers skip such files."""

# Called with the temporary path after the content is written and before the rename. A test sets
# it to stop the process there and check that what was written so far still loads.
_before_rename: Callable[[str], None] | None = None


class _LocalFS:
    """The subset of `tf.io.gfile` used here, on the local filesystem (when TF is missing)."""

    @staticmethod
    def exists(path: str) -> bool:
        return os.path.exists(path)

    @staticmethod
    def isdir(path: str) -> bool:
        return os.path.isdir(path)

    @staticmethod
    def makedirs(path: str) -> None:
        os.makedirs(path, exist_ok=True)

    @staticmethod
    def listdir(path: str) -> list[str]:
        return os.listdir(path)

    @staticmethod
    def remove(path: str) -> None:
        os.remove(path)

    @staticmethod
    def rename(src: str, dst: str, overwrite: bool = False) -> None:
        if not overwrite and os.path.exists(dst):
            raise FileExistsError(dst)
        os.replace(src, dst)

    @staticmethod
    def GFile(path: str, mode: str = "r") -> Any:  # noqa: N802 - mirrors tf.io.gfile
        return open(path, mode)  # noqa: SIM115 - returned to a `with`


_FS: Any = None


def fs() -> Any:
    """`tf.io.gfile` if TensorFlow is importable, else the local filesystem."""
    global _FS
    if _FS is None:
        try:
            from tensorflow.io import gfile
        except ImportError:  # pragma: no cover - TensorFlow is a dependency today
            gfile = _LocalFS()
        _FS = gfile
    return _FS


def join(*parts: str) -> str:
    """Join path parts with `/` (valid for local paths and for URLs such as `gs://`)."""
    head, *rest = (str(p) for p in parts)
    for part in rest:
        head = head.rstrip("/") + "/" + part.lstrip("/") if head else part
    return head


def read_bytes(path: str) -> bytes:
    with fs().GFile(path, "rb") as f:
        return f.read()


def atomic_write(
    path: str | os.PathLike[str], content: bytes | Callable[[IO[bytes]], None]
) -> None:
    """Write `content` to `path` through a temporary file in the same folder and a rename.

    Args:
        path: The destination; replaced if it exists. A URL (`gs://...`) goes through
            `tf.io.gfile`.
        content: The bytes, or a function that writes them to the open (binary) file.
    """
    path = os.fspath(path)
    folder, name = path.rsplit("/", 1) if "/" in path else ("", path)
    tmp_name = f"{TMP_MARK}{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp = join(folder, tmp_name) if folder else tmp_name
    if "://" in path:
        if callable(content):
            import io

            buffer = io.BytesIO()
            content(buffer)
            content = buffer.getvalue()
        with fs().GFile(tmp, "wb") as f:
            f.write(content)
        if _before_rename is not None:
            _before_rename(tmp)
        fs().rename(tmp, path, overwrite=True)
        return
    try:
        with open(tmp, "xb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content)
            f.flush()
            os.fsync(f.fileno())
        if _before_rename is not None:
            _before_rename(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
