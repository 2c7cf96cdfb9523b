"""The compiled kernels' own set-up (their results are held to the NumPy reference through
`reduce_many`, `relative_change` and `default_channel` in test_reduce.py and test_health_stats.py)."""

from __future__ import annotations

import numpy as np

from kerasviz_widget.core import kernels


def test_float16_table_holds_the_value_of_every_bit_pattern():
    bits = np.arange(1 << 16, dtype=np.uint16)
    want = bits.view(np.float16).astype(np.float32)
    np.testing.assert_array_equal(kernels.FLOAT16_TABLE, want)  # NaN patterns compare equal
    assert np.isnan(kernels.FLOAT16_TABLE).sum() == np.isnan(want).sum() == 2046


def test_a_kernel_compiles_without_a_disk_cache_when_numba_has_no_writable_folder(monkeypatch):
    calls = []
    real = kernels.numba.njit

    def njit(*args, **flags):
        if args:  # numba's own uses while compiling
            return real(*args, **flags)
        calls.append(flags["cache"])
        if flags["cache"]:
            raise RuntimeError("cannot cache function 'f': no locator available for file")
        return real(**flags)

    monkeypatch.setattr(kernels.numba, "njit", njit)

    @kernels._jit()
    def twice(x):
        return 2 * x

    assert calls == [True, False]
    assert twice(21) == 42
