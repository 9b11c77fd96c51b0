"""The numpy backend of integer inference (``integer.py``): the same forward graphs (``arch.py``)
and the same integers as the torch backend, without torch.

A convolution is float32 matrix products (GEMMs) on strided views, no im2col (``NumpyConv.products``):
activations are laid out as (rows, channels, columns), so a band of output rows is one batched GEMM
per kernel column, and a compiled pass (``integer_kernel.py``) adds them up, requantizes and, for the
ConvLSTM's gates, updates the cell while the band is in the cache. Where numpy's OpenBLAS can be
called from compiled code (``conv_kernel.available()``) a conv is one call of ``conv_kernel``,
whose bands run on numba's threads; elsewhere the bands' GEMMs are called from here, on a pool of
threads. Every
product is an integer below 2^22 and every partial sum of them (with the bias) an integer below the
checked bound (< 2^24), so float32 holds it exactly: the result is independent of BLAS, blocking,
threads and order, and equal to torch's. The head's elementwise float32 operations on integers are
the torch backend's (exact); pooling, upsampling and lookups are integer indexing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
from collections.abc import Iterator

import numpy as np

from .integer_spec import (
    MEAN_Q_MAX,
    MEAN_STEPS,
    STEP_ONE,
    IntLayer,
    IntWeights,
)

F32 = np.float32


class NumpyConv:
    """One integer conv + requantization on numpy float32 arrays (N, C, [T,] H, W)."""

    def __init__(self, layer: IntLayer) -> None:
        self.name = layer.name
        self.dim = layer.dim
        self.out_ch = layer.out_ch
        w = layer.weight
        if self.dim == 3:
            if layer.stride != (1, 1, 1) or layer.padding[0] != 0:
                raise ValueError(f"{layer.name}: Conv3D needs stride 1 and no time padding")
            self.kt = w.shape[2]
            # (O, C, kt, kh, kw) -> (O, kt * C, kh, kw): the kt frames stacked as channels, oldest first
            w = w.transpose(0, 2, 1, 3, 4).reshape(w.shape[0], -1, *w.shape[3:])
            self.stride, self.padding = 1, tuple(layer.padding[1:])
        else:
            if len(set(layer.stride)) != 1:
                raise ValueError(f"{layer.name}: unequal strides")
            self.stride, self.padding = layer.stride[0], tuple(layer.padding)
        self.kernel = w.shape[2:]
        (kh, kw), (ph, pw) = self.kernel, self.padding
        self._geometry = (int(kh), int(kw), int(ph), int(pw), int(self.stride))  # the BLAS kernels'
        self.w4 = np.asarray(w, F32)  # (O, C, kh, kw)
        # The compiled band pass's per-channel parameters: requantized (plus the bias, times 2^-n,
        # an exact power of two, floor, clamp), or the plain sum.
        inv = np.power(2.0, -layer.shift).astype(F32)
        lo, hi = (np.asarray(bound, F32) for bound in (layer.lo, layer.hi))
        self._requantize_params = (layer.bias.astype(F32), inv, lo, hi)
        inf = np.full(self.out_ch, np.inf, F32)
        self._sum_params = (np.zeros(self.out_ch, F32), np.ones(self.out_ch, F32), -inf, inf)
        self._parts: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.dim == 3:
            n, c, t, h, w = x.shape
            xt = x.swapaxes(1, 2)  # (N, T, C, H, W)
            to = t - self.kt + 1
            stacked = np.stack([xt[:, k : k + self.kt] for k in range(to)], 1)  # (N, To, kt, C, H, W)
            y = self._conv2d(stacked.reshape(n * to, self.kt * c, h, w))
            return y.reshape(n, to, *y.shape[1:]).swapaxes(1, 2)
        return self._conv2d(x)

    def _conv2d(self, x: np.ndarray) -> np.ndarray:
        return self.products(x, requantized=True)

    def products(
        self, x: np.ndarray, first: int = 0, plus: np.ndarray | None = None, requantized: bool = False
    ) -> np.ndarray:
        """The sums of products without the bias, (N, O, H_out, W_out), of ``x`` as the conv's
        input channels ``first``, ``first + 1``, ...: the full conv is the sum of its inputs'
        products (each partial sum is below the bound, so every sum is exact in float32).
        ``plus``: sums of the same shape added (the other inputs' products); ``requantized``: the
        layer's output instead (plus the bias, times 2^-n, floor, clamp).

        No im2col: with the zero-padded input laid out as (rows, channels, columns) (a column
        phase of it for a strided conv), the inputs that kernel column dx reads for output row y
        are one strided matrix: its rows (dy, c) are a padded row apart, its columns the W_out
        outputs. So a band of output rows is kw batched GEMMs of (O, kh * C) weights by such
        matrices, which a compiled pass adds up (with ``plus``'s band), requantized or not, while
        the band is in the cache. The result is a view of a (N, H_out, O, W_out) array: the
        layout the next conv's input is copied into."""
        n, c, h, w = x.shape
        ho, wo = self._out_size(h, w)
        if plus is not None and plus.shape != (n, self.out_ch, ho, wo):
            raise ValueError(f"{self.name}: sums of {plus.shape} added to ({n}, {self.out_ch}, {ho}, {wo})")
        out = np.empty((n, ho, self.out_ch, wo), F32)
        extra = _rows_layout(plus)
        params = self._requantize_params if requantized else self._sum_params
        blas = _blas_kernels()
        if blas is not None:
            band = _band_rows(n, ho, self.out_ch * wo, _threads())
            weights = self._column_weights(first, c)
            blas.conv(_rows_layout(x), weights, self._geometry, band, extra, params, out)
            return out.transpose(0, 2, 1, 3)
        finish = _kernels().requantize_band

        def run(k: int, y0: int, y1: int) -> None:
            sums = self._band_sums(x, first, k, y0, y1)
            more = _NO_BAND if extra is None else extra[k, y0:y1]
            finish(sums, len(sums), more, extra is not None, *params, out[k, y0:y1])

        _run_bands(n, ho, self.out_ch * wo, x.shape[1] * self.kernel[0] * self.kernel[1], run)
        return out.transpose(0, 2, 1, 3)

    def lstm_step(
        self, from_x: np.ndarray, h_prev: np.ndarray | None, first: int, c_prev: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """A ConvLSTM step whose gates are this (stride-1, same-size) conv's output: ``from_x`` the
        products of the step's input (its channels before ``first``), ``h_prev`` the hidden state
        (N, hid, H, W), input channels ``first`` on, or None in the first step, ``c_prev`` the
        cell state as this returns it, or None. Returns the new hidden state (N, hid, H, W) (a
        view of a (N, H, hid, W) array) and cell state; the gates' requantization and the cell's
        update are done band by band by a compiled pass (``integer_kernel.lstm_band``)."""
        extra = _rows_layout(from_x)
        n, ho, och, wo = extra.shape
        hid = och // 4
        if self._out_size(ho, wo) != (ho, wo) or (h_prev is not None and h_prev.shape != (n, hid, ho, wo)):
            # the compiled pass reads every array at the gates' rows and columns, unchecked
            raise ValueError(f"{self.name}: a ConvLSTM step of {from_x.shape} gates, {hid} hidden channels")
        h, c = np.empty((n, ho, hid, wo), F32), np.empty((n, ho, hid, wo), F32)
        blas = _blas_kernels()
        if blas is not None:
            band = _band_rows(n, ho, och * wo, _threads())
            weights = self._column_weights(first, hid)
            hr = None if h_prev is None else _rows_layout(h_prev)
            blas.lstm(hr, weights, self._geometry, band, extra, self._requantize_params, c_prev, h, c)
            return h.transpose(0, 2, 1, 3), c
        step, params, has_prev = _kernels().lstm_band, self._requantize_params, c_prev is not None

        def run(k: int, y0: int, y1: int) -> None:
            sums = _NO_SUMS if h_prev is None else self._band_sums(h_prev, first, k, y0, y1)
            before = _NO_BAND if c_prev is None else c_prev[k, y0:y1]
            step(sums, len(sums), extra[k, y0:y1], *params, before, has_prev, h[k, y0:y1], c[k, y0:y1])

        taps = 0 if h_prev is None else hid * self.kernel[0] * self.kernel[1]
        _run_bands(n, ho, och * wo, taps, run)
        return h.transpose(0, 2, 1, 3), c

    def _out_size(self, h: int, w: int) -> tuple[int, int]:
        """(H_out, W_out) of the conv of an H x W input."""
        (kh, kw), (ph, pw), st = self.kernel, self.padding, self.stride
        return (h + 2 * ph - kh) // st + 1, (w + 2 * pw - kw) // st + 1

    def _band_sums(self, x: np.ndarray, first: int, k: int, y0: int, y1: int) -> np.ndarray:
        """(kw, y1 - y0, O, W_out): for each kernel column, the GEMM of output rows y0 .. y1 - 1 of
        sample k of ``x`` (N, C, H, W) as input channels first .. first + C - 1. The input rows the
        band reads are copied zero-padded as (rows, C, columns) first, on the band's thread; for
        stride s as s column phases (phase b's column j is padded column s j + b)."""
        _, c, h, w = x.shape
        (kh, kw), (ph, pw), st = self.kernel, self.padding, self.stride
        wo = (w + 2 * pw - kw) // st + 1
        top = st * y0 - ph  # the input row of the band's first padded row
        pad = np.zeros((st * (y1 - y0 - 1) + kh, c, w + 2 * pw), F32)
        r0, r1 = max(top, 0), min(top + len(pad), h)
        if r1 > r0:
            pad[r0 - top : r1 - top, :, pw : pw + w] = x[k, :, r0:r1].transpose(1, 0, 2)
        phases = [pad] if st == 1 else [np.ascontiguousarray(pad[:, :, b::st]) for b in range(min(st, kw))]
        weights = self._column_weights(first, c)
        sums = np.empty((kw, y1 - y0, self.out_ch, wo), F32)
        for dx in range(kw):
            phase = phases[dx % st]
            s_row, s_ch, s_col = phase.strides
            rows = np.ndarray(
                (y1 - y0, kh * c, wo), F32, phase, (dx // st) * s_col, (st * s_row, s_ch, s_col)
            )
            np.matmul(weights[dx], rows, out=sums[dx])
        return sums

    def _column_weights(self, first: int, count: int) -> np.ndarray:
        """(kw, O, kh * count) float32: for kernel column dx, the weights of input channels
        first .. first + count - 1 with columns ordered (dy, c), as ``_band_sums``'s rows."""
        key = (first, count)
        if key not in self._parts:
            o, _, kh, kw = self.w4.shape
            part = self.w4[:, first : first + count]  # (O, count, kh, kw)
            self._parts[key] = np.ascontiguousarray(part.transpose(3, 0, 2, 1).reshape(kw, o, kh * count))
        return self._parts[key]


#: Stand-ins for a band's absent inputs (the compiled passes take arrays of one type).
_NO_BAND = np.zeros((1, 1, 1), F32)
_NO_SUMS = np.zeros((0, 1, 1, 1), F32)


def _kernels():
    """``integer_kernel``, its kernels loaded (numba is imported on first use)."""
    from . import integer_kernel

    integer_kernel.ready()
    return integer_kernel


#: Whether the convolutions may run as ``conv_kernel``'s compiled kernels where numpy's BLAS
#: allows (tests set it False to compare them with the GEMMs called from here).
BLAS_KERNELS = True


def _blas_kernels():
    """``conv_kernel``, where it can run here and ``BLAS_KERNELS`` allows, else None."""
    if not BLAS_KERNELS or _FORKED:
        return None
    from . import conv_kernel

    return conv_kernel if conv_kernel.available() else None


def _threads() -> int:
    """numba's threads (``prange``'s): the conv kernels' bands are shared among them."""
    import numba

    return numba.get_num_threads()


def _rows_layout(a: np.ndarray | None) -> np.ndarray | None:
    """(N, O, H, W) sums as a C-contiguous (N, H, O, W) array (a view where they are laid out so)."""
    return None if a is None else np.ascontiguousarray(a.transpose(0, 2, 1, 3))


def _run_bands(samples: int, rows: int, row_floats: int, taps: int, run) -> None:
    """``run(k, y0, y1)`` over bands of output rows of each sample, on the convolution threads
    where the products (``row_floats`` outputs a row, ``taps`` products each) are worth handing
    out: below ``_THREADED_FROM`` the threads' start costs more than they win. The calling thread
    takes the first band itself (it would only wait, and a sleeping thread takes a while to wake)."""
    workers = _pool_size() if samples * rows * row_floats * taps >= _THREADED_FROM else 1
    band = _band_rows(samples, rows, row_floats, workers)
    bands = [(k, y0, min(rows, y0 + band)) for k in range(samples) for y0 in range(0, rows, band)]
    if workers == 1 or len(bands) == 1:
        for b in bands:
            run(*b)
        return
    handed = [_pool().submit(run, *b) for b in bands[1:]]
    try:
        run(*bands[0])
    finally:
        concurrent.futures.wait(handed)  # no band may still write once this returns or raises
    for f in handed:
        f.result()


#: Products of a conv from which its bands go to the pool's threads (the GEMMs called from here;
#: ``conv_kernel``'s bands go to numba's threads at every size). Below, the hand-off costs more than
#: the second thread wins inside the codec, where the palette kernels' threads still spin when the
#: network runs: a 96x96 frame's largest conv (``mid``, 80 million) decodes 4 % faster on one
#: thread (bench/SPEED.md, "The network's convolutions without im2col"); at 200x164 (283 million)
#: two threads are as fast, at 480x270 faster.
_THREADED_FROM = 96 << 20

#: Output floats of one band of rows (``NumpyConv._band_sums``): the band's kw GEMM results and
#: the padded input rows they read stay in the core's cache (2 MB here).
_BAND_FLOATS = 1 << 17


def _band_rows(samples: int, rows: int, row_floats: int, workers: int) -> int:
    """Output rows per band of a conv: cache-sized, and as many bands in all as a
    multiple of the threads where the rows allow it, so that they share them evenly."""
    per_sample = -(-rows // max(1, _BAND_FLOATS // row_floats))
    while (samples * per_sample) % workers and per_sample < rows:
        per_sample += 1
    return max(1, -(-rows // per_sample))


def _pool_size() -> int:
    """Threads for the convolutions' GEMMs: the cores this process may use, at most
    ``NUMBA_NUM_THREADS`` when set (the one variable that sets fpcodec's threads, bench/SPEED.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = os.environ.get("NUMBA_NUM_THREADS", "")
    return max(1, min(cores, int(limit))) if limit.isdigit() else cores


@functools.cache
def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that run a convolution's bands of output rows, each one-thread GEMMs
    (numpy releases the GIL in it). Not BLAS's own threads: those spin after every call and starve
    the palette kernels (``codec/threads.py``); these sleep."""
    return concurrent.futures.ThreadPoolExecutor(_pool_size(), thread_name_prefix="fpcodec-conv")


def _after_fork() -> None:
    """In a forked child: a new pool (the child has none of the parent's threads), and the GEMMs
    called from Python, not ``conv_kernel``'s (numba's OpenMP threads refuse to run in a child
    forked from a process that ran them, and end it)."""
    global _FORKED
    _pool.cache_clear()
    _FORKED = True


_FORKED = False
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def step_ints(frames: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(B, T, 7, H, W) integer step planes (``integer_torch.step_ints`` in numpy)."""
    b, t, _, h, w = frames.shape
    out = np.empty((b, t, 7, h, w), F32)
    out[:, :, 0:3] = 2.0 * frames - 255.0
    both = (valid[:, 1:] * valid[:, :-1])[:, :, None, None, None]
    out[:, 0, 3:6] = 0.0
    out[:, 1:, 3:6] = 2.0 * (frames[:, 1:] - frames[:, :-1]) * both
    out[:, :, 6] = (STEP_ONE * valid)[:, :, None, None]
    return out


def box_sum5(a: np.ndarray) -> np.ndarray:
    """5x5 sum of each plane (B, C, H, W), edges replicated (integer sums below 25 * 510: exact)."""
    h, w = a.shape[-2:]
    p = np.pad(a, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge")
    rows = (
        p[..., 0:h, :]
        + p[..., 1 : h + 1, :]
        + p[..., 2 : h + 2, :]
        + p[..., 3 : h + 3, :]
        + p[..., 4 : h + 4, :]
    )
    return (
        rows[..., 0:w]
        + rows[..., 1 : w + 1]
        + rows[..., 2 : w + 2]
        + rows[..., 3 : w + 3]
        + rows[..., 4 : w + 4]
    )


#: Bytes that ``StepMemo`` may hold: the default model's steps take 80 bytes per pixel of the
#: frame each (the encoder's output as the key, the gates' share as the result), about 560 in all
#: (13.7 MiB at 160x160, 16 MB at 200x150); beyond, the memo keeps what fits.
#: (Until 2026-12-08 it kept the encoder conv's results too, keyed by the step planes: about 870
#: bytes a pixel, 26 MB at 200x150, to save a conv of a tenth of the gates' arithmetic;
#: bench/results/speed_cli/ab_memo_gates_only_2026-12-08a.txt.)
MEMO_BYTES = 32 << 20


class StepMemo:
    """Per-step results of the last forward pass (a step's share of the ConvLSTM's gates, keyed
    by the step's encoder output), for the next: a window of five frames slides by one, so three
    of its steps were computed for the previous frame (the oldest step has no frame difference,
    so it is new; while a window fills, its padded steps repeat too). Found by content (a sample of the values,
    then the whole input compared), so a result is reused only for exactly the same input, and
    the integers do not depend on it. Holds at most ``budget`` bytes in all, and only what the
    current and the previous pass used. Nothing writes to an entry's arrays once it is kept."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._old: dict = {}  # key -> (input, result, bytes): the last pass's entries
        self._new: dict = {}  # the same, used or made by this pass
        self._bytes = 0  # of both
        self.hits = 0  # results reused, for tests and benchmarks

    @property
    def held_bytes(self) -> int:
        """Bytes held (the arrays of every entry)."""
        return self._bytes

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing kept or found while inside: for a frame predicted in tiles, where the next
        pass is another tile (a step of this tile is met again only one frame later, after every
        other tile's); what was held is dropped."""
        budget, self.budget = self.budget, 0
        self._old, self._new, self._bytes = {}, {}, 0
        try:
            yield
        finally:
            self.budget = budget

    def next_pass(self) -> None:
        """Forget what the last pass did not use."""
        self._bytes -= sum(e[2] for e in self._old.values())
        self._old, self._new = self._new, {}

    def get(self, tag: str, x: np.ndarray):
        key = _key(tag, x)
        for store in (self._new, self._old):
            entry = store.get(key)
            if entry is not None and np.array_equal(entry[0], x):
                if store is self._old:  # used again: kept for the next pass
                    self._new[key] = self._old.pop(key)
                self.hits += 1
                return entry[1]
        return None

    def put(self, tag: str, x: np.ndarray, result) -> None:
        """Remember ``result`` for input ``x`` if the budget allows; views are copied, so that an
        entry holds only its own memory (not the whole window's array)."""
        key = _key(tag, x)
        if key in self._new or key in self._old:
            return
        results = result if isinstance(result, tuple) else (result,)
        size = x.nbytes + sum(a.nbytes for a in results if isinstance(a, np.ndarray))
        if self._bytes + size > self.budget:
            return
        if isinstance(result, tuple):
            result = tuple(_own(a) for a in result)
        self._new[key] = (_own(x), _own(result), size)
        self._bytes += size


def _own(a):
    """``a``, or a copy of it (in its own layout) where it is a view of part of another array."""
    if not isinstance(a, np.ndarray) or a.base is None:
        return a
    whole = isinstance(a.base, np.ndarray) and a.base.nbytes == a.nbytes  # e.g. a transposed view
    return a if whole else a.copy(order="K")


def _key(tag: str, x: np.ndarray) -> tuple:
    """A step input's key: its shape and 64 of its values, evenly spread."""
    flat = x.reshape(-1)
    return tag, x.shape, flat[:: max(1, flat.size // 64)].tobytes()


class NumpyIntegerNet:
    """The integer forward pass of one architecture on numpy arrays, from a ``-int`` file's checked
    contents (``integer.parse_int_weights``); ``conv``, ``cell`` and the array operations are the
    integer ``arch.Ops``."""

    device = "cpu"
    dtype = F32

    def __init__(self, checked: IntWeights, memo_bytes: int = MEMO_BYTES) -> None:
        self.arch = checked.arch
        self.layers = {n: NumpyConv(layer) for n, layer in checked.layers.items()}
        self.lut_base = checked.lut_base.astype(F32)
        self.lut_softplus = checked.lut_softplus
        self.u_lo = checked.u_lo
        self.u_hi = self.u_lo + len(self.lut_softplus) - 1
        # The cells whose input is the output of a conv that reads one step at a time: their share
        # of the gates from that input is what the next window repeats.
        per_step = {c.name for c in checked.arch.convs if c.sources == ("step",) and c.dims == 2}
        self._step_cells = {
            c.module for c in checked.arch.convs if c.kind == "lstm" and c.sources[0] in per_step
        }
        self.memo = StepMemo(memo_bytes)

    # --------------------------------------------------------------------------- arch.Ops
    def conv(self, name: str, x: np.ndarray) -> np.ndarray:
        """A conv, computed: the per-step encoder conv is not remembered (a tenth of the gates'
        arithmetic, for a third of the memo's bytes); its output keys the cell's memo."""
        return self.layers[name](x)

    def cell(self, name: str, x: np.ndarray, state):
        """ConvLSTM step in fixed point (``integer_torch.IntegerNet.cell``, same operations). The
        gates' conv is the sum of its input's and its hidden state's products: the first is
        remembered for the next window (a step's input repeats), the second is 0 in the first step
        (skipped there). The state is (hidden, cell) as ``NumpyConv.lstm_step`` returns them."""
        conv = self.layers[name + ".conv"]
        remembered = name in self._step_cells
        from_x = self.memo.get(name, x) if remembered else None
        if from_x is None:
            from_x = conv.products(x)
            if remembered:
                self.memo.put(name, x, from_x)
        h_prev, c_prev = (None, None) if state is None else state
        h, c = conv.lstm_step(from_x, h_prev, x.shape[1], c_prev)
        return h, (h, c)

    @staticmethod
    def cat(xs: list[np.ndarray], dim: int) -> np.ndarray:
        """Concatenation; of (N, C, H, W) planes along C, laid out as (N, H, C, W) (a transposed
        view), the layout the convolutions read, so that the next conv does not copy it again."""
        if dim == 1 and all(x.ndim == 4 for x in xs):
            return np.concatenate([x.transpose(0, 2, 1, 3) for x in xs], axis=2).transpose(0, 2, 1, 3)
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def upsample_nearest(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """torch's ``"nearest"``: output i reads input floor(i * in / out) (computed exactly)."""
        (h, w), (oh, ow) = x.shape[-2:], size
        if (oh, ow) == (2 * h, 2 * w):
            return np.repeat(np.repeat(x, 2, axis=-2), 2, axis=-1)
        rows = np.arange(oh) * h // oh
        cols = np.arange(ow) * w // ow
        return x[..., rows[:, None], cols[None, :]]

    @staticmethod
    def max_pool2(x: np.ndarray) -> np.ndarray:
        """2x2 max pooling with ceil mode (an odd last row/column repeated: the max is unchanged)."""
        h, w = x.shape[-2:]
        if h % 2 or w % 2:
            x = np.pad(x, ((0, 0), (0, 0), (0, h % 2), (0, w % 2)), mode="edge")
        b, c, hh, ww = x.shape
        return x.reshape(b, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))

    def body(self, x: np.ndarray) -> np.ndarray:
        return self.arch.forward(self, x)

    def head(self, raw: np.ndarray, frames: np.ndarray, two: bool):
        """(mean in 1/16, scale-table index, coupling in 1/256) integer planes (B, 3, H, W)."""
        last = frames[:, -1]
        mean_q = np.clip(F32(MEAN_STEPS) * last + raw[:, 0:3], 0, MEAN_Q_MAX)
        if two:
            a = F32(4.0) * box_sum5(np.abs(last - frames[:, -2]))
        else:
            g = np.zeros_like(last)
            g[..., :-1, :] = np.abs(last[..., 1:, :] - last[..., :-1, :])
            g[..., :, :-1] += np.abs(last[..., :, 1:] - last[..., :, :-1])
            a = F32(2.0) * box_sum5(g)
        a = np.maximum(a, np.floor(a.max(axis=1, keepdims=True) * F32(0.5)))  # A is even
        u = self.lut_base[(a * F32(0.5)).astype(np.int64)] + raw[:, 3:6]
        idx = self.lut_softplus[(np.clip(u, self.u_lo, self.u_hi) - self.u_lo).astype(np.int64)]
        return mean_q, idx, raw[:, 6:9]

    def forward(self, frames: np.ndarray, valid: np.ndarray):
        """Integer (mean_q, scale_idx, coupling_q) from (B, T, 3, H, W) uint8-valued frames."""
        self.memo.next_pass()
        frames = np.asarray(frames, F32)
        valid = np.asarray(valid, F32)
        blas = _blas_kernels()
        with contextlib.nullcontext() if blas is None else blas.one_blas_thread():
            raw = self.body(step_ints(frames, valid))
        return self.head(raw, frames, bool(valid[0, -2] > 0))
