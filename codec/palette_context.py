"""Adaptive context statistics for palette indices: what colour followed these neighbours so far.

A GIF's LZW wins on dithered and text-like frames because it learns repeated index patterns, which a
continuous prediction cannot express (in an ordered dither a pixel systematically differs from its
neighbours). This module adds that knowledge to the palette modes without a sequential loop: pixels
are coded in passes, and each pass's probability rows are blended with counts of the colours seen in
the same neighbour context in

- the previous decoded frame, read with the same pass geometry (so a static or slowly changing
  pattern is known before the frame starts), and
- the earlier passes (from version 8, parts of passes) of the current frame.

Counts are updated once per pass or part (a vectorized ``np.unique`` over the history), so the
decoder, which knows the same history, rebuilds exactly the same rows. The context orders are
chained, as in PPM or a Dirichlet prior whose base measure is the model:

    p1(k) = (n1(k) + beta1 p(k)) / (N1 + beta1)      context: the first neighbour's colour
    p2(k) = (n2(k) + beta2 p1(k)) / (N2 + beta2)     context: the first and second (third, if present)
    p3(k) = (n3(k) + beta3 p2(k)) / (N3 + beta3)     the repeat context (version 8)

where p is the mixed model row (normalized), n(k) the count of colour k after that context and N the
total. A context never seen leaves the row unchanged; beta = 0 switches an order off. The encoder
picks the betas per frame (2 bits each, in the frame's mix field).

The repeat context is what LZW and WebP's backward references find in text, glyphs, icons and
dither: a whole pattern seen before. Its key hashes the colours of the 16 decoded positions nearest
to the pixel (``intra.ring``), so a pixel whose surroundings repeat something coded earlier, in this
frame or at the same pass in the last, gets that colour's count; its betas are small
(BETA_REPEAT) because one exact repeat already says much.
"""

from __future__ import annotations

import mmap
from typing import TYPE_CHECKING

import numpy as np

from ..bitstream.profile import FormatProfile

if TYPE_CHECKING:
    from .intra import Ring

#: Dirichlet strength of the model row against the counts of orders 1 and 2; index 0 = off.
BETA_TABLE = (0.0, 32.0, 128.0, 512.0)
#: The same for the repeat context (order 3, version 8): a pattern seen once already says much.
BETA_REPEAT = (0.0, 0.5, 2.0, 8.0)
#: Bit positions of the orders' 2-bit table indices in the frame's mix field.
MIX_SHIFTS = (12, 14, 16)
#: Orders before version 8, and with the repeat context.
ORDERS = 2
MAX_ORDERS = 3
_KEY_RADIX = 512  # neighbour classes are 0..257
_SYMBOL_BITS = 8


def orders(profile: FormatProfile) -> int:
    """Context orders of a stream's palette frames: 2, and the repeat context from version 8."""
    return MAX_ORDERS if profile.repeat_context else ORDERS


def table(order: int) -> tuple[float, ...]:
    """The beta table of context order ``order`` (0-based)."""
    return BETA_TABLE if order < ORDERS else BETA_REPEAT


def betas(mix: int, orders: int = ORDERS) -> tuple[float, ...]:
    """(beta1, beta2[, beta3]) of a frame's mix field, for the first ``orders`` orders."""
    return tuple(table(o)[(mix >> MIX_SHIFTS[o]) & 3] for o in range(orders))


def mix_bits(beta_idx: tuple[int, ...]) -> int:
    """The mix-field bits selecting BETA_TABLE entries ``beta_idx`` for orders 1, 2, ..."""
    return sum(int(i) << s for i, s in zip(beta_idx, MIX_SHIFTS[: len(beta_idx)], strict=True))


#: The repeat context's hash: h = h * _HASH_MUL + class + 1 (mod 2^64) over the template, then
#: h >> _HASH_SHIFT, so that key << 8 | symbol stays a non-negative int64.
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_HASH_SHIFT = np.uint64(10)


def repeat_key(classes: list[np.ndarray]) -> np.ndarray:
    """(N,) int64 key of the repeat context: a 54-bit hash of the template's neighbour classes,
    in order. Hashed, not packed: 16 classes of 9 bits do not fit in a key; two templates that
    collide share their counts, on both sides alike."""
    h = np.zeros(classes[0].shape, np.uint64)
    for c in classes:
        h = h * _HASH_MUL + (c.astype(np.uint64) + np.uint64(1))
    return (h >> _HASH_SHIFT).astype(np.int64)


def context_keys(
    index_canvas: np.ndarray,
    neighbours: np.ndarray,
    ring: Ring | None = None,
    wide: bool = False,
    targets: np.ndarray | None = None,
) -> np.ndarray | None:
    """Per order (a row of the (orders, N) array), the int64 context key of each pixel of a pass;
    None for a pass without neighbours. ``index_canvas``: palette index per flat pixel (-1: a
    colour not in the palette); ``neighbours``: (J, N) flat positions, -1 outside the frame; with
    ``ring`` (``intra.ring``, around the pass's pixels ``targets``) a third key, the repeat context
    of the neighbours and the ring together. ``wide`` (the row schedule of version 10, J = 4):
    orders 1 and 2 key on the first two and on all four neighbours, since there a pixel's nearest
    neighbours are its whole surroundings."""
    if neighbours.shape[0] == 0:
        return None
    from . import rows_kernel  # numba: loaded on first use

    return rows_kernel.context_keys(
        index_canvas, neighbours, ring, _KEY_RADIX, int(_HASH_SHIFT), wide, targets
    )


def context_keys_reference(
    index_canvas: np.ndarray,
    neighbours: np.ndarray,
    ring: Ring | None = None,
    wide: bool = False,
    targets: np.ndarray | None = None,
) -> list[np.ndarray] | None:
    """``context_keys`` in numpy (for testing the kernel)."""
    if neighbours.shape[0] == 0:
        return None
    j = neighbours.shape[0]
    if wide:
        c = [_index_at(index_canvas, neighbours[k]) for k in range(4)]
        pair = c[0] * _KEY_RADIX + c[1]
        keys = [pair, (pair * _KEY_RADIX + c[2]) * _KEY_RADIX + c[3]]
    else:
        first = _index_at(index_canvas, neighbours[0])
        second = _index_at(index_canvas, neighbours[2 if j > 2 else j - 1])
        keys = [first, first * _KEY_RADIX + second]
    if ring is not None:
        positions = ring.positions_reference(targets)
        template = [_index_at(index_canvas, pos) for pos in (*neighbours, *positions)]
        keys.append(repeat_key(template))
    return keys


def _index_at(index_canvas: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Neighbour class: 0 outside the frame, 1 a colour not in the palette, 2 + palette index."""
    return np.where(pos >= 0, index_canvas[np.maximum(pos, 0)].astype(np.int64) + 2, 0)


#: Pending codes of one order are merged into its table once they pass this many (2 MB): a whole
#: frame's (``palette.pretrained_counts`` adds every pass before the first lookup) took 19 bytes
#: a pixel over three orders, and 2^20 codes an order (25 MB with np.unique's sort) made the
#: decoder's peak on a 1600x1400 frame; seeding that frame's counts takes 0.25 s either way.
_PENDING_LIMIT = 1 << 18

#: An order's recent table is merged into its base table once it holds more than the base's
#: 1/RECENT_SHARE codes (``ContextCounts``).
RECENT_SHARE = 8


def _count_dtype(bound: int) -> type:
    """The counts' type when none can exceed ``bound``."""
    return np.int32 if bound < (1 << 31) else np.int64


_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.int32))
#: An order's (base, recent) tables, each sorted unique (context << 8 | symbol) codes and counts.
Levels = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

#: A table buffer of at least this many bytes is pages mapped for it alone (``table_buffer``).
MAPPED_FROM = 1 << 20
#: A table that outgrows its buffers is merged into new ones of this many times its size.
GROWTH = 4


def table_buffer(n: int, dtype: type) -> np.ndarray:
    """An uninitialized array of ``n`` entries for a table and its room to grow. A large one is
    an anonymous private mapping of its own: pages that no merge writes never take memory, and all
    of them go back to the system when the table dies. Why not ``np.empty``: glibc's malloc serves
    blocks below its mmap threshold from its heap, and that threshold rises to the size of every
    large block freed (up to 32 MiB), so after a frame or two the tables' buffers came from heap
    pages that stay resident once written. Decoding four 1280x720 frames peaked 8-11 MB lower with
    mapped buffers of 4x room (medians of 4-5; with 2x room, three runs of five were as high as before).
    Where ``mmap`` has no private mappings (Windows), ``np.empty``."""
    nbytes = n * np.dtype(dtype).itemsize
    if nbytes < MAPPED_FROM or not hasattr(mmap, "MAP_PRIVATE"):
        return np.empty(n, dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE), dtype, n)


def _merged_anew(
    old: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray], room: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(buffers, merged): ``old`` and ``new`` merged into new buffers of ``room`` entries (at least
    both tables' sizes), the merged table their first entries. Where the system refuses that much
    (``vm.overcommit_memory=2`` counts a mapping's unwritten pages; so does ``ulimit -v``), buffers
    of both tables' sizes, without room: the next merge then makes new ones again."""
    from . import rows_kernel  # numba: loaded on first use

    counts = np.promote_types(old[1].dtype, new[1].dtype)
    need = old[0].size + new[0].size
    try:
        buffers = (table_buffer(room, np.int64), table_buffer(room, counts))
    except (OSError, MemoryError):  # strict overcommit charges the room unwritten: merge without it
        if room <= need:
            raise
        buffers = (table_buffer(need, np.int64), table_buffer(need, counts))
    return buffers, rows_kernel.merge_to(old, new, buffers)


class ContextCounts:
    """(context, palette index) counts per order, growing pass by pass.

    Each order's counts are held in two sorted tables whose counts add up, as in a log-structured
    merge: the base, and the recent codes, which a part's new codes are merged into. The recent
    table goes into the base once it holds more than 1/RECENT_SHARE of the base's codes. Why: a part
    adds a few thousand codes to a table of up to a frame's pixels, and merging every part into the
    whole table moved all of it (on a dithered 480x270 GIF, 60 merges an order a frame moving 231
    million entries in all, 9-13 % of the decoding time; now 45 million). The lookups
    (``rows_kernel``) read both tables and add a code's two counts: the same integers, for a
    second search per pixel and order (the rows kernel took 0.2 s more of the 0.5 saved there).
    Whole processes, medians of 2: decoding 0.97-0.98 the time, encoding 0.95-0.98, on that GIF
    and 1280x720 and 1600x1400 clips (``bench/results/speed_cli/ab_recent_counts.md``); a 96x96
    or 200-wide clip's tables are too small for it to tell."""

    def __init__(self) -> None:
        self._pending: list[list[np.ndarray]] = [[] for _ in range(MAX_ORDERS)]
        self._waiting = [0] * MAX_ORDERS  # codes pending per order
        self._tables: list[tuple[np.ndarray, np.ndarray] | None] = [None] * MAX_ORDERS
        self._recent: list[tuple[np.ndarray, np.ndarray]] = [_EMPTY] * MAX_ORDERS
        self._counted = [0] * MAX_ORDERS  # codes in each table: its counts' bound
        # per order, the buffers whose first entries the table is, when no other object sees them:
        # later merges then go into them in place (``rows_kernel.merge_into``) while they have room
        self._buffers: list[tuple[np.ndarray, np.ndarray] | None] = [None] * MAX_ORDERS
        self._frozen = False  # tables handed out by ``frozen_levels``: never merged into in place

    def copy(self) -> "ContextCounts":
        """An independent copy. Both share the tables, so neither merges into them in place any
        more: the next merge of either goes into buffers of its own (a recent table is never
        merged into in place)."""
        other = ContextCounts()
        other._pending = [list(p) for p in self._pending]
        other._waiting = list(self._waiting)
        other._tables = list(self._tables)
        other._recent = list(self._recent)
        other._counted = list(self._counted)
        self._buffers = [None] * MAX_ORDERS
        return other

    def frozen_levels(self, orders: int) -> list[Levels]:
        """The first ``orders`` orders' (base, recent) tables as they are now (``_levels``), to be
        read later in place of these counts (``mix_blend``): from now on this object merges into
        new tables only, never in place, so those stay as they are while it grows."""
        self._frozen = True
        self._buffers = [None] * MAX_ORDERS
        return [self._levels(o) for o in range(orders)]

    def add(self, keys: np.ndarray | list[np.ndarray] | None, symbols: np.ndarray) -> None:
        """Record that ``symbols`` (palette indices, -1 = not in the palette: skipped) followed ``keys``."""
        if keys is None:
            return
        from . import rows_kernel  # numba: loaded on first use

        codes = rows_kernel.pending_codes(keys, symbols)  # new arrays: the keys stay
        for o in range(codes.shape[0]):
            self._pending[o].append(codes[o])
            self._waiting[o] += codes.shape[1]
            if self._waiting[o] > _PENDING_LIMIT:
                self._levels(o)  # the same counts, merged now: pending codes take 8 bytes a pixel

    def _levels(self, order: int) -> Levels:
        """(base, recent): the order's two tables, sorted unique (context << 8 | symbol) codes and
        their counts, with what was added merged into them."""
        if self._pending[order]:
            parts = self._pending[order]
            self._pending[order] = []
            from . import rows_kernel  # numba: loaded on first use

            codes, counts = rows_kernel.unique_counts(parts[0] if len(parts) == 1 else np.concatenate(parts))
            self._counted[order] += self._waiting[order]
            self._waiting[order] = 0
            del parts
            # int32 counts while they fit (they always do below 2^30-pixel frames): a table entry
            # takes 12 bytes, not 16, and a frame's tables hold about one entry per pixel and order
            new = codes, counts.astype(_count_dtype(self._counted[order]))
            old = self._recent[order]
            self._recent[order] = _merged_anew(old, new, old[0].size + codes.size)[1] if old[0].size else new
        base = self._tables[order]
        recent = self._recent[order]
        if base is None or RECENT_SHARE * recent[0].size > base[0].size:
            self._fold(order)
        return self._tables[order], self._recent[order]

    def _fold(self, order: int) -> None:
        """Merge the order's recent table into its base."""
        recent = self._recent[order]
        base = self._tables[order]
        self._recent[order] = _EMPTY
        if base is None or not base[0].size:
            self._tables[order] = recent
        elif recent[0].size:
            self._tables[order] = self._merged(order, base, recent)

    def _table(self, order: int) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique (context << 8 | symbol) codes and their counts, merged with what was
        added: the order's two tables as one."""
        self._levels(order)
        if self._recent[order][0].size:
            self._fold(order)
        return self._tables[order]

    def _merged(
        self, order: int, old: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``old`` and ``new`` as one table: in place in the order's buffers when ``old`` is in
        them and they have room, else in new buffers of GROWTH times its size, so that a frame's table,
        which grows by a few merges a pass, is not held twice at every merge (the room no merge
        has reached is not written: in ``table_buffer``'s mapped pages it takes address space, not
        memory)."""
        from . import rows_kernel  # numba: loaded on first use

        buffers = self._buffers[order]
        size = old[0].size + new[0].size
        if self._frozen:  # tables were handed out: a new one, of its own size
            return _merged_anew(old, new, size)[1]
        if (
            buffers is not None
            and old[0].base is buffers[0]
            and buffers[0].size >= size
            and np.promote_types(buffers[1].dtype, new[1].dtype) == buffers[1].dtype
        ):
            return rows_kernel.merge_into(buffers, old[0].size, new)
        self._buffers[order], merged = _merged_anew(old, new, GROWTH * size)
        return merged

    def compact(self) -> "ContextCounts":
        """Merge what was added into the tables now (the same counts; the pending codes, one per
        pixel, take far more memory than the tables of distinct codes); returns self."""
        for o in range(MAX_ORDERS):
            self._levels(o)
        return self

    def _ranges(self, order: int, keys: np.ndarray):
        codes, counts = self._table(order)
        ctx = codes >> _SYMBOL_BITS
        lo = np.searchsorted(ctx, keys, "left")
        hi = np.searchsorted(ctx, keys, "right")
        return codes, counts, lo, hi

    def entries(self, order: int, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sparse counts after each pixel's context: (pixel, palette index, count) triples, no
        (pixel, index) pair twice, and each pixel's total (int64; the counts in the table's int32)."""
        codes, counts, lo, hi = self._ranges(order, keys)
        m = hi - lo
        total = int(m.sum())
        pos = np.arange(total) - np.repeat(np.cumsum(m) - m, m) + np.repeat(lo, m)
        pixel = np.repeat(np.arange(keys.size), m)
        csum = np.concatenate([[0], np.cumsum(counts)])
        return pixel, codes[pos] & ((1 << _SYMBOL_BITS) - 1), counts[pos], csum[hi] - csum[lo]

    def rows(self, order: int, keys: np.ndarray, k: int) -> np.ndarray:
        """(N, K) float64 counts of each palette index after each pixel's context (dense form of
        ``entries``, for tests and small cases)."""
        pixel, sym, cnt, _ = self.entries(order, keys)
        out = np.zeros((keys.size, k), np.float64)
        out[pixel, sym] = cnt
        return out

    def true_counts(self, order: int, keys: np.ndarray, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(count of each pixel's own symbol after its context, total count of the context), float64
        (``true_counts_reference``'s, by the compiled ``rows_kernel``)."""
        from . import rows_kernel  # numba: loaded on first use

        base, recent = self._levels(order)
        return rows_kernel.true_counts(*base, keys, symbols, recent)

    def true_counts_reference(
        self, order: int, keys: np.ndarray, symbols: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``true_counts`` in numpy (for testing the kernel)."""
        codes, counts, lo, hi = self._ranges(order, keys)
        csum = np.concatenate([[0], np.cumsum(counts)])
        total = csum[hi] - csum[lo]
        want = (keys << _SYMBOL_BITS) | symbols.astype(np.int64)
        at = np.searchsorted(codes, want)
        found = at < codes.size
        found[found] = codes[at[found]] == want[found]
        own = np.where(found, counts[np.minimum(at, max(codes.size - 1, 0))] if codes.size else 0, 0)
        return own.astype(np.float64), total.astype(np.float64)


def merge_reference(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Two (sorted unique codes, counts) tables as one: the counts of codes in both are added, the
    others inserted in order (what ``np.unique`` of both gives, without sorting them again); the
    codec merges with the compiled ``rows_kernel.merge_into``, tested against this."""
    (codes, counts), (new, more) = a, b
    at = np.searchsorted(codes, new)
    found = at < codes.size
    found[found] = codes[at[found]] == new[found]
    counts = counts.copy()
    counts[at[found]] += more[found]
    missing = ~found
    return np.insert(codes, at[missing], new[missing]), np.insert(counts, at[missing], more[missing])


def blend(p: np.ndarray, count_rows: list[np.ndarray], beta: tuple[float, float]) -> np.ndarray:
    """Chain the normalized rows ``p`` (N, K) through the orders' dense counts (the module
    docstring's formula, as written; the codec uses ``blend_sparse``)."""
    for rows, b in zip(count_rows, beta, strict=True):
        if b > 0:
            p = (rows + b * p) / (rows.sum(axis=1, keepdims=True) + b)
    return p


def blend_sparse(
    p: np.ndarray, counts: ContextCounts | list[Levels], keys: list[np.ndarray], beta: tuple[float, float]
) -> np.ndarray:
    """``blend_sparse_reference``'s rows, by the compiled ``rows_kernel`` for float64 rows (every
    version with integer tables; ``counts`` may be tables that ``frozen_levels`` gave); version 2's
    float32 rows take the reference."""
    if p.dtype != np.float64 or not any(b > 0 for b in beta):
        return blend_sparse_reference(p, counts, keys, beta)
    from . import rows_kernel  # numba: loaded on first use

    keys, tables, recent = _blend_inputs(p.shape[0], counts, keys, beta)
    return rows_kernel.blend(np.ascontiguousarray(p), keys, beta, tables, recent)


def mix_blend(
    p: np.ndarray,
    prev_idx: np.ndarray | None,
    w_prev: float,
    nbr_idx: np.ndarray | None,
    w_levels: np.ndarray | None,
    counts: ContextCounts | list[Levels],
    keys: list[np.ndarray] | None,
    beta: tuple[float, ...],
    running_sums: bool = False,
) -> np.ndarray:
    """``palette_coding.mix_rows`` (normalized) and then ``blend_sparse`` of float64 rows (every
    version with integer tables), in one compiled pass over them: the same rows, bit for bit.
    ``keys`` None: the mix alone; ``running_sums``: the rows left as their running sums
    (``rows_kernel.mix_blend``), for the compiled range coder. ``counts``: the counts, or their
    tables as ``ContextCounts.frozen_levels`` gave them (the same rows)."""
    from . import rows_kernel  # numba: loaded on first use

    p = np.ascontiguousarray(p)
    if keys is None:
        return rows_kernel.mix_blend(p, prev_idx, w_prev, nbr_idx, w_levels, None, (), [], None, running_sums)
    keys, tables, recent = _blend_inputs(p.shape[0], counts, keys, beta)
    return rows_kernel.mix_blend(
        p, prev_idx, w_prev, nbr_idx, w_levels, keys, beta, tables, recent, running_sums
    )


def _blend_inputs(
    n: int, counts: ContextCounts | list[Levels], keys: list[np.ndarray], beta: tuple[float, ...]
) -> tuple:
    """(keys, tables, recent tables) as the kernel takes them: a key row (zeros where inactive)
    and an order's two tables (``ContextCounts._levels``, or ``counts`` where it is those) per
    order."""
    keys = [keys[o] if b > 0 else np.zeros(n, np.int64) for o, b in enumerate(beta)]
    levels = counts if isinstance(counts, list) else [counts._levels(o) for o in range(len(beta))]
    return keys, [base for base, _ in levels], [recent for _, recent in levels]


def blend_sparse_reference(
    p: np.ndarray, counts: ContextCounts, keys: list[np.ndarray], beta: tuple[float, float]
) -> np.ndarray:
    """``blend`` in place, from sparse counts: expanded, the chain is p2 = a p + c1 n1 + c2 n2 with
    per-pixel a = prod(beta_o / (N_o + beta_o)) and c_o = 1 / (N_o + beta_o) times the beta / (N + beta)
    of every later order. Computed in float64 in this order: the coefficients; p *= a; then for
    order 1 and then order 2, p[pixel, k] += c_o n_o(k) at every pixel and colour with a count."""
    a = np.ones(p.shape[0])
    coeff: list[np.ndarray] = []
    found = []
    for o, b in enumerate(beta):
        if b <= 0:
            continue
        pixel, sym, cnt, total = counts.entries(o, keys[o])
        denom = total + b
        shrink = b / denom
        a = a * shrink
        coeff = [c * shrink for c in coeff] + [1.0 / denom]
        found.append((pixel, sym, cnt))
    p = np.ascontiguousarray(p)
    p *= a[:, None]
    flat = p.reshape(-1)  # a view, p being C-contiguous
    for c, (pixel, sym, cnt) in zip(coeff, found, strict=True):
        flat[pixel * p.shape[1] + sym] += c[pixel] * cnt
    return p


def blend_true(
    p_true: np.ndarray, own: list[np.ndarray], total: list[np.ndarray], beta: tuple[float, float]
) -> np.ndarray:
    """``blend`` evaluated at each pixel's own symbol only (the encoder's cost estimate)."""
    for n, t, b in zip(own, total, beta, strict=True):
        if b > 0:
            p_true = (n + b * p_true) / (t + b)
    return p_true
