"""A small PNG writer (zlib and struct only), for the images of the static view.

Images with at most 256 distinct colours are written with a palette (one byte a pixel, which is
what keeps a heatmap small: it has at most 256 colour levels plus NaN and gaps); others as RGBA.
Rows are written unfiltered and compressed at zlib level 9.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _rows(pixels: np.ndarray) -> bytes:
    h = pixels.shape[0]
    raw = np.ascontiguousarray(pixels).reshape(h, -1)
    framed = np.zeros((h, raw.shape[1] + 1), dtype=np.uint8)  # filter byte 0 (none) per row
    framed[:, 1:] = raw
    return zlib.compress(framed.tobytes(), 9)


def encode(rgba: np.ndarray) -> bytes:
    """Encode an RGBA image as PNG bytes.

    Args:
        rgba: A `(height, width, 4)` uint8 array; alpha 0 is transparent.

    Returns:
        The PNG file's bytes: a palette image if the image has at most 256 distinct colours, an
        RGBA image otherwise.

    Raises:
        ValueError: If `rgba` is not a non-empty `(height, width, 4)` uint8 array.
    """
    a = np.asarray(rgba)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 4 or 0 in a.shape:
        raise ValueError(
            f"png.encode received an array of shape {a.shape} and dtype {a.dtype}; it needs a "
            "non-empty (height, width, 4) uint8 RGBA array."
        )
    h, w, _ = a.shape
    words = np.ascontiguousarray(a).view(np.uint32).reshape(h, w)
    colors, index = np.unique(words, return_inverse=True)
    if colors.size <= 256:
        palette = colors.view(np.uint8).reshape(-1, 4)
        header = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)
        chunks = [_chunk(b"IHDR", header), _chunk(b"PLTE", palette[:, :3].tobytes())]
        alpha = palette[:, 3]
        if (alpha < 255).any():
            last = int(np.nonzero(alpha < 255)[0].max()) + 1  # tRNS may stop at the last one
            chunks.append(_chunk(b"tRNS", alpha[:last].tobytes()))
        body = _rows(index.reshape(h, w).astype(np.uint8))
    else:
        chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))]
        body = _rows(a)
    return _SIGNATURE + b"".join(chunks) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def data_uri(png: bytes) -> str:
    """A `data:image/png;base64,…` URI of PNG bytes, for an `<img src>`."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
