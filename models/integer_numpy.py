"""The numpy backend of integer inference (``integer.py``): the same forward graphs (``arch.py``)
and the same integers as the torch backend, without torch.

A convolution is im2col + one float32 matrix product (GEMM) per cache-sized run of output
positions, on a zero-padded copy of the input laid out so that every shifted window is a plain slice:
with the padded rows flattened, the input seen by kernel offset (dy, dx) is the contiguous run
starting at ``dy * Wp + dx``; outputs are computed on an H x Wp grid and the Wp - W wrap-around columns
are dropped. Strided convs use the same scheme on the stride's polyphase components, a Conv3D stacks
its kt frames as channels. Every product is an integer below 2^22 and the GEMM adds the same products
(then the bias), so each partial sum is an integer below the checked bound (< 2^24) and float32 holds
it exactly: the result is independent of BLAS, blocking, threads and order, and equal to torch's. Requantization, ConvLSTM arithmetic and the head are the torch backend's elementwise
float32 operations on integers (exact); pooling, upsampling and lookups are integer indexing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
from collections.abc import Iterator

import numpy as np

from .integer_spec import (
    CELL_ONE,
    GATE_ONE,
    MEAN_Q_MAX,
    MEAN_STEPS,
    STEP_ONE,
    IntLayer,
    IntWeights,
)

F32 = np.float32
#: Size of the im2col buffer of one run of output positions (floats): kept cache-sized.
_CHUNK_FLOATS = 1 << 20


class NumpyConv:
    """One integer conv + requantization on numpy float32 arrays (N, C, [T,] H, W)."""

    def __init__(self, layer: IntLayer) -> None:
        self.name = layer.name
        self.dim = layer.dim
        self.out_ch = layer.out_ch
        self.in_max = layer.in_max
        self.bound = layer.bound
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
        # (O, kh * kw * C): columns ordered (dy, dx, c), as the im2col rows
        self.offsets = [(dy, dx) for dy in range(self.kernel[0]) for dx in range(self.kernel[1])]
        self.wmat = np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1), dtype=F32)
        self.bias = layer.bias.astype(F32)[:, None]
        self.inv = np.power(2.0, -layer.shift).astype(F32)[:, None]  # exact powers of two
        self.segments = layer.segments()
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
        return self.requantize(*self.products(x))

    def products(self, x: np.ndarray, first: int = 0) -> tuple[np.ndarray, int]:
        """The sums of products without the bias, (N, O, H_out, Wq) on the padded grid (the
        output is its first W_out columns), of ``x`` as the conv's input channels ``first``,
        ``first + 1``, ...: the full conv is the sum of its inputs' products (each partial sum is
        below the bound, so every sum is exact in float32); then its W_out."""
        n, c, h, w = x.shape
        s = self.stride
        kh, kw = self.kernel
        ph, pw = self.padding
        ho, wo = (h + 2 * ph - kh) // s + 1, (w + 2 * pw - kw) // s + 1
        qh, qw = (kh - 1) // s, (kw - 1) // s
        hq, wq = ho + qh + 1, wo + qw  # one spare row: the last offset's run ends past the grid
        # Polyphase components of the zero-padded input (stride 1: the padded input itself):
        # phase[a, b][:, :, i, j] = padded[:, :, a + s i, b + s j].
        phases = {}
        for a in range(min(s, kh)):
            for b in range(min(s, kw)):
                buf = np.zeros((n, c, hq, wq), F32)
                i0, r0, ni = _phase_span(a, s, ph, h, hq)
                j0, c0, nj = _phase_span(b, s, pw, w, wq)
                if ni > 0 and nj > 0:
                    buf[:, :, i0 : i0 + ni, j0 : j0 + nj] = x[
                        :, :, r0 : r0 + s * ni : s, c0 : c0 + s * nj : s
                    ]
                phases[a, b] = buf.reshape(n, c, hq * wq)
        size = ho * wq
        k_all = kh * kw * c
        wmat = self._columns(first, c)
        workers = _pool_size()
        chunk = _run_length(n, size, k_all, workers)
        acc = np.empty((n, self.out_ch, ho, wq), F32)
        flat = acc.reshape(n, self.out_ch, size)

        def run(k: int, s0: int) -> None:
            e = min(size, s0 + chunk)
            p = np.empty((k_all, e - s0), F32)
            # im2col of a run of output positions: row block (dy, dx) = the shifted run
            for j, (dy, dx) in enumerate(self.offsets):
                off = (dy // s) * wq + dx // s
                p[j * c : (j + 1) * c] = phases[dy % s, dx % s][k, :, off + s0 : off + e]
            np.matmul(wmat, p, out=flat[k, :, s0:e])

        runs = [(k, s0) for k in range(n) for s0 in range(0, size, chunk)]
        if workers > 1 and len(runs) > 1:
            list(_pool().map(lambda ks: run(*ks), runs))
        else:
            for ks in runs:
                run(*ks)
        return acc, wo

    def requantize(self, acc: np.ndarray, wo: int) -> np.ndarray:
        """The layer's output from ``products``'s sums (changed in place): plus the bias, then
        clamp(floor(acc * 2^-n), lo, hi), exact (acc is an integer, 2^-n a power of two)."""
        n, o, ho, wq = acc.shape
        flat = acc.reshape(n, o, ho * wq)
        flat += self.bias
        np.multiply(flat, self.inv, out=flat)
        np.floor(flat, out=flat)
        for c0, c1, lo, hi in self.segments:
            np.clip(flat[:, c0:c1], lo, hi, out=flat[:, c0:c1])
        return acc[..., :wo]

    def _columns(self, first: int, count: int) -> np.ndarray:
        """The weight matrix's columns of input channels first .. first + count - 1."""
        taps = len(self.offsets)
        if first == 0 and count * taps == self.wmat.shape[1]:
            return self.wmat
        key = (first, count)
        if key not in self._parts:
            cols = self.wmat.reshape(self.out_ch, taps, -1)[:, :, first : first + count]
            self._parts[key] = np.ascontiguousarray(cols.reshape(self.out_ch, taps * count))
        return self._parts[key]


def _run_length(samples: int, size: int, k_all: int, workers: int) -> int:
    """Output positions per run (one GEMM) of a conv over ``samples`` planes of ``size``
    positions: cache-sized, and as many runs in all as a multiple of the threads, so that they
    share them evenly (3 equal runs on 2 threads take as long as 4)."""
    per_sample = -(-size // max(512, _CHUNK_FLOATS // k_all))
    while (samples * per_sample) % workers and per_sample < size:
        per_sample += 1
    return max(256, -(-size // per_sample))


def _pool_size() -> int:
    """Threads for the convolutions' GEMMs: the cores this process may use, at most
    ``NUMBA_NUM_THREADS`` when set (the one variable that sets fpcodec's threads, bench/SPEED.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = os.environ.get("NUMBA_NUM_THREADS", "")
    return max(1, min(cores, int(limit))) if limit.isdigit() else cores


@functools.cache
def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that run a convolution's runs of output positions, each a one-thread GEMM
    (numpy releases the GIL in it). Not BLAS's own threads: those spin after every call and starve
    the palette kernels (``codec/threads.py``); these sleep."""
    return concurrent.futures.ThreadPoolExecutor(_pool_size(), thread_name_prefix="fpcodec-conv")


if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads: a new pool
    os.register_at_fork(after_in_child=_pool.cache_clear)


def _phase_span(a: int, s: int, p: int, n: int, limit: int) -> tuple[int, int, int]:
    """For phase ``a`` of stride ``s`` over an axis of ``n`` samples padded by ``p``: the first
    phase index holding a sample, that sample's index and how many samples (at most ``limit``)."""
    i0 = max(0, -((a - p) // s))  # ceil((p - a) / s)
    r0 = a + s * i0 - p
    if r0 >= n:
        return i0, r0, 0
    return i0, r0, min(limit - i0, (n - r0 + s - 1) // s)


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


#: Bytes that ``StepMemo`` may hold: the default model's five steps take 630 bytes per pixel of
#: a frame (their step planes, encoder outputs and shares of the gates), 21 MB at 200x164, 81 MB
#: at 480x270; beyond, the memo keeps what fits (the encoder outputs first).
MEMO_BYTES = 32 << 20


class StepMemo:
    """Per-step results of the last forward pass (a step's encoder conv, its share of the
    ConvLSTM's gates), for the next: a window of five frames slides by one, so three of its steps
    were computed for the previous frame (the oldest step has no frame difference, so it is new;
    while a window fills, its padded steps repeat too). Found by content (a sample of the values,
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
    """``a``, or a copy of it where it is a view of another array."""
    return a.copy() if isinstance(a, np.ndarray) and a.base is not None else a


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
        # The convs that read one step at a time, and the cells whose input is such a conv's
        # output: their per-step work is what the next window repeats.
        per_step = {c.name for c in checked.arch.convs if c.sources == ("step",) and c.dims == 2}
        self._step_convs = per_step
        self._step_cells = {
            c.module for c in checked.arch.convs if c.kind == "lstm" and c.sources[0] in per_step
        }
        self.memo = StepMemo(memo_bytes)

    # --------------------------------------------------------------------------- arch.Ops
    def conv(self, name: str, x: np.ndarray) -> np.ndarray:
        layer = self.layers[name]
        if name not in self._step_convs or x.ndim != 4:
            return layer(x)
        found = [self.memo.get(name, x[k]) for k in range(x.shape[0])]
        todo = [k for k, y in enumerate(found) if y is None]
        if todo:
            fresh = layer(x[todo])
            for j, k in enumerate(todo):
                found[k] = fresh[j]
                self.memo.put(name, x[k], fresh[j])
            if len(todo) == len(found):
                return fresh
        return np.stack(found)

    def cell(self, name: str, x: np.ndarray, state):
        """ConvLSTM step in fixed point (``integer_torch.IntegerNet.cell``, same operations). The
        gates' conv is the sum of its input's and its hidden state's products: the first is
        remembered for the next window (a step's input repeats), the second is 0 in the first step."""
        conv = self.layers[name + ".conv"]
        hid = conv.out_ch // 4
        b, cx, h, w = x.shape
        remembered = name in self._step_cells
        from_x = self.memo.get(name, x) if remembered else None
        if from_x is None:
            from_x = conv.products(x)
            if remembered:
                self.memo.put(name, x, from_x)
        acc, wo = from_x
        if state is None:
            c_prev = np.zeros((b, hid, h, w), F32)
            if remembered:  # requantize works in place: not on the memo's array
                acc = acc.copy()
        else:  # the hidden state's products (0 in the first step: skipped there)
            h_prev, c_prev = state
            acc = acc + conv.products(h_prev, first=cx)[0]
        z = conv.requantize(acc, wo)
        i, f, o, g = z[:, :hid], z[:, hid : 2 * hid], z[:, 2 * hid : 3 * hid], z[:, 3 * hid :]
        c = f * c_prev
        c += F32(GATE_ONE // 2)
        c *= F32(1.0 / GATE_ONE)
        np.floor(c, out=c)
        c += i * g
        h = np.clip(c, -CELL_ONE, CELL_ONE)
        h *= o
        h += F32(1 << 12)
        h *= F32(1.0 / (1 << 13))
        np.floor(h, out=h)
        return h, (h, c)

    @staticmethod
    def cat(xs: list[np.ndarray], dim: int) -> np.ndarray:
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
        raw = self.body(step_ints(frames, valid))
        return self.head(raw, frames, bool(valid[0, -2] > 0))
