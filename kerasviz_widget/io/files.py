"""Files: the format names and versions, the filesystem, and the one atomic writer.

Every file kerasviz_widget writes (a `.npz` history, the files of a run folder, a standalone HTML
page) goes through `atomic_write`: the content goes to a temporary name in the same folder, which
is then renamed over the destination, so a reader never sees half a file and a process killed at
any moment leaves the old file or the new one. Local paths are plain files (flushed
to disk before the rename) and never import TensorFlow; a URL (`gs://...`) goes through
`tf.io.gfile`, imported on first use, so any filesystem TensorFlow opens works.
"""

from __future__ import annotations

import contextlib
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


def is_url(path: str) -> bool:
    """Whether `path` names a remote filesystem (`gs://...`, `s3://...`), not a local file."""
    scheme, sep, _ = str(path).partition("://")
    return bool(sep) and scheme.isidentifier() and scheme != "file"


def _gfile(path: str) -> Any:
    try:
        import tensorflow as tf  # not `from tensorflow.io import gfile`: a cached submodule
    except ImportError:  # would answer even where TensorFlow itself cannot be imported
        raise ImportError(
            f"The path {path!r} is not a local path; reading and writing it needs TensorFlow's "
            "filesystems (`tf.io.gfile`), and TensorFlow is not installed. Install TensorFlow "
            "(`pip install tensorflow`), or use a local path."
        ) from None
    return tf.io.gfile


class _Files:
    """The subset of `tf.io.gfile` used here: local paths as plain files, URLs through TF.

    Every method dispatches on its path, so local files never import TensorFlow.
    """

    _local = _LocalFS()

    def _for(self, path: str) -> Any:
        return _gfile(path) if is_url(path) else self._local

    def exists(self, path: str) -> bool:
        return self._for(path).exists(path)

    def isdir(self, path: str) -> bool:
        return self._for(path).isdir(path)

    def makedirs(self, path: str) -> None:
        self._for(path).makedirs(path)

    def listdir(self, path: str) -> list[str]:
        return list(self._for(path).listdir(path))

    def remove(self, path: str) -> None:
        self._for(path).remove(path)

    def rename(self, src: str, dst: str, overwrite: bool = False) -> None:
        self._for(dst).rename(src, dst, overwrite=overwrite)

    def GFile(self, path: str, mode: str = "r") -> Any:  # noqa: N802 - mirrors tf.io.gfile
        return self._for(path).GFile(path, mode)


_FS = _Files()


def fs() -> Any:
    """The filesystem: plain files for local paths, `tf.io.gfile` for URLs (`gs://...`)."""
    return _FS


def check_path(path: Any, what: str = "path", example: str = "run.npz") -> str:
    """`path` as a `str`, or a clear error naming the argument `what`.

    Raises:
        TypeError: If `path` is not a `str`, `bytes` or `os.PathLike` (e.g. `None`).
        ValueError: If `path` is empty (it would mean the current folder).
    """
    try:
        text = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"`{what}` must be a path (a str or a pathlib.Path); received {path!r}. Pass a "
            f"path, e.g. `{what}={example!r}`."
        ) from None
    text = os.fsdecode(text)
    if not text:
        raise ValueError(
            f"`{what}` is empty ({what}=''), which would write into the current folder. Pass a "
            f"path of its own, e.g. `{what}={example!r}`."
        )
    return text


_TF_ERRORS = {
    "NotFoundError": FileNotFoundError,
    "PermissionDeniedError": PermissionError,
    "AlreadyExistsError": FileExistsError,
    "FailedPreconditionError": NotADirectoryError,
}


def os_error(exc: BaseException, path: str, action: str) -> OSError:
    """An `OSError` (of the matching subclass) that names `path`, says what failed and the fix.

    TensorFlow's filesystem errors (`tf.errors.NotFoundError`, `PermissionDeniedError`, ...),
    which are not `OSError`s, become one, so `except OSError` catches every filesystem failure.

    Args:
        exc: The error raised by the filesystem.
        path: The path being written or read.
        action: What was being done, e.g. `"write"`, `"create the run folder"`.
    """
    if isinstance(exc, OSError):
        cls: type[OSError] = type(exc)
        reason = exc.strerror or str(exc)
    else:
        cls = _TF_ERRORS.get(type(exc).__name__, OSError)
        reason = getattr(exc, "message", None) or str(exc)
    folder = path.rsplit("/", 1)[0] if "/" in path else "."
    if issubclass(cls, FileNotFoundError):
        fix = (
            f"Create the folder first, e.g. `os.makedirs({folder!r})`, or pass a path in a "
            "folder that exists."
        )
    elif issubclass(cls, PermissionError):
        fix = "Pass a path in a folder you may write to, or change the folder's permissions."
    elif issubclass(cls, IsADirectoryError):
        fix = f"{path!r} is a folder: pass a file name, e.g. {join(path, 'run.npz')!r}."
    elif issubclass(cls, (NotADirectoryError, FileExistsError)):
        fix = "A part of the path is a file, not a folder: pass a path whose folders are folders."
    else:
        fix = "Check the path, and free some disk space if the disk is full."
    error = cls(f"Cannot {action} {path!r}: {reason}. {fix}")
    if isinstance(exc, OSError):
        error.errno = exc.errno  # `str(error)` stays the message above
    return error


def is_fs_error(exc: BaseException) -> bool:
    """Whether `exc` is a filesystem error: an `OSError`, or one of TensorFlow's `OpError`s."""
    return isinstance(exc, OSError) or (
        type(exc).__module__.startswith("tensorflow") and hasattr(exc, "error_code")
    )


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

    Raises:
        TypeError: If `path` is not a path.
        OSError: If the file cannot be written; the message names `path` and the fix (also for
            TensorFlow's filesystem errors). No temporary file is left behind.
    """
    path = check_path(path)
    try:
        _atomic_write(path, content)
    except BaseException as exc:
        if is_fs_error(exc):
            raise os_error(exc, path, "write") from exc
        raise


def _atomic_write(path: str, content: bytes | Callable[[IO[bytes]], None]) -> None:
    folder, name = path.rsplit("/", 1) if "/" in path else ("", path)
    tmp_name = f"{TMP_MARK}{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp = join(folder, tmp_name) if folder else tmp_name
    if is_url(path):
        if callable(content):
            import io

            buffer = io.BytesIO()
            content(buffer)
            content = buffer.getvalue()
        try:
            with fs().GFile(tmp, "wb") as f:
                f.write(content)
            if _before_rename is not None:
                _before_rename(tmp)
            fs().rename(tmp, path, overwrite=True)
        except BaseException:
            with contextlib.suppress(Exception):
                if fs().exists(tmp):
                    fs().remove(tmp)
            raise
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
