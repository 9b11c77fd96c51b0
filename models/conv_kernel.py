"""The numpy backend's convolutions (``integer_numpy.py``) as compiled kernels that call BLAS
themselves: a conv, or a ConvLSTM step, is one call, its bands of output rows run on numba's
threads (``prange``), and each band is padded, multiplied (one single-precision GEMM per output
row and kernel column, ``cblas_sgemm``) and finished (``integer_kernel``'s requantization or cell
update) on its thread while it is in the cache.

Why: with the GEMMs called from Python (``NumpyConv._band_sums``) a band is handed to a thread
pool that wakes slowly and shares the GIL with the decoder's main thread, so at 96x96 the network
ran on one core while the other idled (the palette kernels' OpenMP threads, spinning after their
last region, took it from a second conv thread). numba's threads are the palette kernels' threads:
the same core, no GIL, no Python per band.

The GEMM is numpy's own OpenBLAS (its wheels bundle it as ``scipy_openblas64_``, 64-bit integers:
``cblas_sgemm`` with the ``scipy_`` prefix and ``64_`` suffix), found among the loaded libraries by
threadpoolctl and handed to numba's JIT linker as an external symbol (``llvmlite``'s
``add_symbol``), so the kernels cache like the others and link against the running process's
library. Where numpy has no such library (other builds), ``available()`` is False and the numpy
backend keeps its own GEMMs. Every product and partial sum is an integer below 2^24
(``integer_numpy``'s bound), so float32 holds them exactly whatever the GEMM's order: the same
integers either way (``tests/test_conv_kernel.py``).

Arrays are float32 and C-contiguous: inputs (N, H, C, W) (the rows layout of ``integer_numpy``),
weights (kw, O, kh * C) with columns ordered (dy, c), outputs (N, H_out, O, W_out).

Imported on first use: numba takes a moment to load.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator

import numba
import numpy as np
from numba import types

from ..bitstream.table_kernel import first_call
from . import integer_kernel

#: The name the kernels call the GEMM by; its address is the library's, given at import.
_SYMBOL = "fpcodec_cblas_sgemm64"
#: numpy's bundled OpenBLAS's CBLAS sgemm with 64-bit integers (numpy 2's wheels).
_LIBRARY_SYMBOLS = ("scipy_cblas_sgemm64_",)
_ROW_MAJOR, _NO_TRANS = 101, 111

_I32, _I64, _F32 = types.int32, types.int64, types.float32
#: cblas_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); the pointers
#: are passed as 64-bit integers (the same registers on every 64-bit ABI this runs on).
_sgemm = types.ExternalFunction(
    _SYMBOL, types.void(_I32, _I32, _I32, _I64, _I64, _I64, _F32, _I64, _I64, _I64, _I64, _F32, _I64, _I64)
)


@functools.cache
def _library():
    """(threadpoolctl's controller of numpy's OpenBLAS, the address of its ``cblas_sgemm`` with
    64-bit integers), or None."""
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    import threadpoolctl

    for lib in threadpoolctl.ThreadpoolController().select(internal_api="openblas").lib_controllers:
        try:
            handle = ctypes.CDLL(lib.filepath)
        except OSError:
            continue
        for name in _LIBRARY_SYMBOLS:
            function = getattr(handle, name, None)
            if function is not None:
                return lib, ctypes.cast(function, ctypes.c_void_p).value
    return None


@functools.cache
def available() -> bool:
    """Whether the kernels can run here (numpy's OpenBLAS with 64-bit CBLAS found, its address
    given to the JIT linker before any kernel loads: a kernel linked without it would not run)."""
    found = _library()
    if found is None:
        return False
    import llvmlite.binding

    llvmlite.binding.add_symbol(_SYMBOL, found[1])
    return True


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """OpenBLAS held at one thread inside (its setting restored after): each of numba's threads
    calls it for GEMMs of one band, and OpenBLAS's own threads would only contend with them
    (the codec holds it at one thread anyway while it codes a frame: ``codec/threads.py``)."""
    lib = _library()[0]
    before = lib.num_threads
    if before != 1:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            lib.set_num_threads(before)


@numba.njit(cache=True, nogil=True)
def _padded(x, k, y0, y1, kh, ph, pw, st, pad):  # pragma: no cover - compiled
    """``pad`` (st, rows, C, W_phase), zeroed: the input rows that output rows y0 .. y1 - 1 of
    sample k read, zero-padded, as ``st`` column phases (phase b's column j is padded column
    st j + b)."""
    _, h, c, w = x.shape
    rows = pad.shape[1]
    top = st * y0 - ph
    for r in range(max(top, 0) - top, min(top + rows, h) - top):
        src = x[k, top + r]
        for ch in range(c):
            line = src[ch]
            if st == 1:  # one phase: a copy of the row (vectorized)
                pad[0, r, ch, pw : pw + w] = line
                continue
            for b in range(st):
                first = (b - pw) % st  # the first input column of phase b: padded column pw + col
                dst = pad[b, r, ch]
                j0 = (first + pw) // st
                for j in range((w - first + st - 1) // st):
                    dst[j0 + j] = line[first + st * j]


@numba.njit(cache=True, nogil=True)
def _products(pad, weights, kw, st, wo, sums):  # pragma: no cover - compiled
    """``sums`` (kw, rows, O, W_out) = per kernel column dx and output row y, the GEMM of the
    (O, kh C) weights by the (kh C, W_out) inputs it reads: rows (dy, c) a phase row apart."""
    _, o, depth = weights.shape
    _, pad_rows, c, wph = pad.shape
    rows = sums.shape[1]
    # the arrays' addresses as signed integers (uintp plus int64 would be a float), in bytes
    w_at, p_at, s_at = np.int64(weights.ctypes.data), np.int64(pad.ctypes.data), np.int64(sums.ctypes.data)
    for dx in range(kw):
        a = w_at + dx * o * depth * 4
        phase = p_at + ((dx % st) * pad_rows * c * wph + dx // st) * 4
        for y in range(rows):
            b = phase + y * st * c * wph * 4
            out = s_at + (dx * rows + y) * o * wo * 4
            _sgemm(
                np.int32(_ROW_MAJOR), np.int32(_NO_TRANS), np.int32(_NO_TRANS), o, wo, depth,
                np.float32(1.0), a, depth, b, wph, np.float32(0.0), out, wo,
            )  # fmt: skip


@numba.njit(cache=True, nogil=True, inline="always")
def _band_sums(x, k, y0, y1, weights, kh, kw, ph, pw, st, wo):  # pragma: no cover - compiled
    """(kw, y1 - y0, O, W_out) column sums of output rows y0 .. y1 - 1 of sample k."""
    c, w = x.shape[2], x.shape[3]
    pad = np.zeros((st, st * (y1 - y0 - 1) + kh, c, (w + 2 * pw + st - 1) // st), np.float32)
    _padded(x, k, y0, y1, kh, ph, pw, st, pad)
    sums = np.empty((kw, y1 - y0, weights.shape[1], wo), np.float32)
    _products(pad, weights, kw, st, wo, sums)
    return sums


@numba.njit(cache=True, nogil=True, parallel=True)
def _conv(
    x, weights, geometry, band, extra, has_extra, bias, inv, lo, hi, out
):  # pragma: no cover - compiled
    kh, kw, ph, pw, st = geometry
    n, ho, _, wo = out.shape
    per = (ho + band - 1) // band
    for j in numba.prange(n * per):  # bands are independent: any thread count gives the same integers
        k, y0 = j // per, (j % per) * band
        y1 = min(ho, y0 + band)
        sums = _band_sums(x, k, y0, y1, weights, kh, kw, ph, pw, st, wo)
        more = extra[k, y0:y1] if has_extra else extra[0, 0:1]
        integer_kernel.requantize_band(sums, kw, more, has_extra, bias, inv, lo, hi, out[k, y0:y1])


@numba.njit(cache=True, nogil=True, parallel=True)
def _lstm(
    h_prev, has_h, weights, geometry, band, from_x, bias, inv, lo, hi, c_prev, has_prev, h_out, c_out
):  # pragma: no cover - compiled
    kh, kw, ph, pw, st = geometry
    n, ho, _, wo = h_out.shape
    per = (ho + band - 1) // band
    for j in numba.prange(n * per):
        k, y0 = j // per, (j % per) * band
        y1 = min(ho, y0 + band)
        if has_h:
            sums = _band_sums(h_prev, k, y0, y1, weights, kh, kw, ph, pw, st, wo)
        else:
            sums = np.empty((0, y1 - y0, weights.shape[1], wo), np.float32)
        before = c_prev[k, y0:y1] if has_prev else c_prev[0, 0:1]
        integer_kernel.lstm_band(
            sums, sums.shape[0], from_x[k, y0:y1], bias, inv, lo, hi, before, has_prev,
            h_out[k, y0:y1], c_out[k, y0:y1],
        )  # fmt: skip


#: Stand-in for an absent (N, H, C, W) input.
_NONE = np.zeros((1, 1, 1, 1), np.float32)


def conv(
    x: np.ndarray,
    weights: np.ndarray,
    geometry: tuple[int, int, int, int, int],
    band: int,
    extra: np.ndarray | None,
    params: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    out: np.ndarray,
) -> np.ndarray:
    """``out`` (N, H_out, O, W_out) = the conv of ``x`` (N, H, C, W) by ``weights`` (kw, O, kh C),
    ``geometry`` (kh, kw, ph, pw, stride), plus ``extra`` (out's shape) where given, requantized by
    ``params`` (bias, 2^-n, lo, hi per channel: ``NumpyConv``'s), in bands of ``band`` output rows."""
    _ready()
    _check(x, weights, geometry, out)
    _check_bands(band, params, out.shape[2])
    if extra is not None and extra.shape != out.shape:
        raise ValueError(f"sums of {extra.shape} added to {out.shape}")
    with first_call(_conv):
        _conv(x, weights, geometry, band, _NONE if extra is None else extra, extra is not None, *params, out)
    return out


def lstm(
    h_prev: np.ndarray | None,
    weights: np.ndarray,
    geometry: tuple[int, int, int, int, int],
    band: int,
    from_x: np.ndarray,
    params: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    c_prev: np.ndarray | None,
    h_out: np.ndarray,
    c_out: np.ndarray,
) -> None:
    """A ConvLSTM step (``integer_kernel.lstm_band`` on every band): the gates are the conv of the
    hidden state ``h_prev`` (N, H, hid, W; None in a window's first step) plus the input's
    products ``from_x`` (N, H, 4 hid, W), requantized by ``params``; ``c_prev`` (N, H, hid, W) or
    None; writes ``h_out`` and ``c_out`` (N, H, hid, W)."""
    _ready()
    n, ho, hid, wo = h_out.shape
    if from_x.shape != (n, ho, 4 * hid, wo) or c_out.shape != h_out.shape:
        raise ValueError(f"a ConvLSTM step of {from_x.shape} gates into {h_out.shape} and {c_out.shape}")
    if c_prev is not None and c_prev.shape != h_out.shape:
        raise ValueError(f"a cell state of {c_prev.shape} for {h_out.shape}")
    _check_bands(band, params, 4 * hid)
    if h_prev is not None:
        _check(h_prev, weights, geometry, from_x)
    with first_call(_lstm):
        _lstm(
            _NONE if h_prev is None else h_prev, h_prev is not None, weights, geometry, band, from_x,
            *params, _NONE if c_prev is None else c_prev, c_prev is not None, h_out, c_out,
        )  # fmt: skip


def _ready() -> None:
    """Refuse to load a kernel that the JIT linker could not link (the GEMM's address unknown)."""
    if not available():
        raise RuntimeError(
            "the conv kernels need numpy's OpenBLAS with 64-bit CBLAS (conv_kernel.available())"
        )


def _check_bands(band: int, params: tuple, channels: int) -> None:
    """Bands of at least one row; a requantization parameter per output channel (read unchecked)."""
    if band < 1:
        raise ValueError(f"bands of {band} rows")
    if len(params) != 4 or any(np.shape(p) != (channels,) for p in params):
        raise ValueError(
            f"requantization parameters of {[np.shape(p) for p in params]} for {channels} channels"
        )


def _check(x: np.ndarray, weights: np.ndarray, geometry: tuple, out: np.ndarray) -> None:
    """The kernels read every array unchecked: the shapes must agree, the arrays be C-contiguous
    float32 (the pointers handed to BLAS are their data's)."""
    kh, kw, ph, pw, st = geometry
    n, h, c, w = x.shape
    shape = (n, (h + 2 * ph - kh) // st + 1, weights.shape[1], (w + 2 * pw - kw) // st + 1)
    if weights.shape != (kw, out.shape[2], kh * c) or out.shape != shape or min(kh, kw, st) < 1:
        raise ValueError(f"a conv of {x.shape} by {weights.shape} ({geometry}) into {out.shape}")
    for a in (x, weights, out):
        if a.dtype != np.float32 or not a.flags.c_contiguous:
            raise ValueError(f"the conv kernels take C-contiguous float32 arrays, not {a.dtype} {a.strides}")
