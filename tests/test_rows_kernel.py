"""codec/rows_kernel.py: the compiled mix and blend give the rows of their numpy references
(palette_coding.mix_rows_reference, palette_context.blend_sparse_reference) bit for bit: the coded
bytes of every format version with integer rows depend on them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fpcodec.codec import intra
from fpcodec.codec import palette_coding as pc
from fpcodec.codec import palette_context as ctx


def _counts(rng, n_contexts: int, k: int, adds: int) -> ctx.ContextCounts:
    counts = ctx.ContextCounts()
    for _ in range(adds):  # several parts: merged tables
        size = int(rng.integers(1, 400))
        keys = [rng.integers(0, n_contexts, size) * m for m in (1, 7, 1 << 40)]
        symbols = rng.integers(-1, k, size)  # -1: a colour not in the palette, not counted
        counts.add(keys, symbols)
    return counts


@pytest.mark.parametrize("k", [2, 17, 256])
def test_kernel_matches_the_reference_bit_for_bit(k):
    rng = np.random.default_rng(k)
    counts = _counts(rng, 30, k, 4)
    n = 500
    keys = [rng.integers(0, 40, n) * m for m in (1, 7, 1 << 40)]  # unseen contexts too
    p = rng.random((n, k)) * rng.integers(1, 1 << 29, (n, 1))
    tables = [ctx.BETA_TABLE, ctx.BETA_TABLE, ctx.BETA_REPEAT]
    for beta in itertools.product(*tables):
        if not any(beta):
            continue
        want = ctx.blend_sparse_reference(p.copy(), counts, keys, beta)
        got = ctx.blend_sparse(p.copy(), counts, keys, beta)
        assert got.dtype == np.float64
        assert np.array_equal(got.view(np.int64), want.view(np.int64)), beta
    for beta in [(32.0, 0.0), (0.0, 512.0)]:  # two orders (before version 8)
        want = ctx.blend_sparse_reference(p.copy(), counts, keys[:2], beta)
        assert np.array_equal(ctx.blend_sparse(p.copy(), counts, keys[:2], beta), want)


def test_empty_tables_and_rows():
    counts = ctx.ContextCounts()
    p = np.ones((3, 4))
    keys = [np.arange(3)] * 3
    assert np.array_equal(ctx.blend_sparse(p.copy(), counts, keys, (32.0, 128.0, 2.0)), p)
    empty = np.ones((0, 4))
    assert ctx.blend_sparse(empty, counts, [np.zeros(0, np.int64)] * 3, (32.0, 0.0, 0.5)).shape == (0, 4)


def test_float32_rows_take_the_reference():
    rng = np.random.default_rng(1)
    counts = _counts(rng, 10, 8, 2)
    keys = [rng.integers(0, 10, 50) * m for m in (1, 7, 1 << 40)]
    p = rng.random((50, 8)).astype(np.float32)
    got = ctx.blend_sparse(p.copy(), counts, keys, (32.0, 128.0, 0.0))
    assert got.dtype == np.float32
    assert np.array_equal(got, ctx.blend_sparse_reference(p.copy(), counts, keys, (32.0, 128.0, 0.0)))


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype == np.float64 and np.array_equal(a.view(np.int64), b.view(np.int64))


@pytest.mark.parametrize("k", [2, 9, 256])
def test_mix_matches_the_reference_bit_for_bit(k):
    rng = np.random.default_rng(k)
    n = 400
    rows = rng.integers(1, 1 << 21, (n, k)).astype(np.float64)  # integer weights, as colour_weights
    prev = np.where(rng.random(n) < 0.8, rng.integers(0, k, n), -1)
    nbr = np.where(rng.random((4, n)) < 0.8, rng.integers(0, min(k, 3), (4, n)), -1)  # agreeing often
    levels = [pc.NBR_TABLE[list(c)] for c in itertools.product(range(4), repeat=4)][::17]
    for w_prev in pc.MIX_TABLE:
        for w_levels in levels:
            for args in ((prev, nbr), (None, nbr), (prev, None), (None, None), (prev, nbr[:1])):
                want = pc.mix_rows_reference(rows.copy(), args[0], w_prev, args[1], w_levels, normalize=True)
                got = pc.mix_rows(rows.copy(), args[0], w_prev, args[1], w_levels, normalize=True)
                assert _same_bits(got, want), (w_prev, w_levels)
    none = np.full(n, -1)
    want = pc.mix_rows_reference(rows.copy(), none, 0.5, np.full((4, n), -1), levels[3], normalize=True)
    assert _same_bits(
        pc.mix_rows(rows.copy(), none, 0.5, np.full((4, n), -1), levels[3], normalize=True), want
    )


def test_mix_without_normalizing_takes_the_reference():
    rows = np.random.default_rng(0).random((20, 5)).astype(np.float32)  # version 2's float rows
    got = pc.mix_rows(rows.copy(), np.zeros(20, np.int64), 0.5, None, None, normalize=False)
    assert got.dtype == np.float32
    assert np.array_equal(got, pc.mix_rows_reference(rows.copy(), np.zeros(20, np.int64), 0.5, None, None))


@pytest.mark.parametrize(
    "j, ring, dtype",
    [
        (1, False, np.int32),
        (2, False, np.int32),
        (4, False, np.int32),
        (4, True, np.int32),
        (3, True, np.int64),
    ],
)
def test_context_keys_match_the_reference(j, ring, dtype):
    """The kernel computes the ring's positions from the targets and the offsets (-1 outside the
    25x40 frame, which many offsets reach) and keys them as the reference keys the stored ones."""
    rng = np.random.default_rng(j)
    n, (h, w) = 300, (25, 40)
    size = h * w
    canvas = rng.integers(-1, 256, size).astype(np.int32)  # -1: a colour not in the palette
    neighbours = np.where(rng.random((j, n)) < 0.9, rng.integers(0, size, (j, n)), -1).astype(dtype)
    targets = rng.integers(0, size, n).astype(dtype)
    ring_of = intra.Ring(rng.integers(-6, 7, (12, 2)), h, w) if ring else None
    want = ctx.context_keys_reference(canvas, neighbours, ring_of, targets=targets)
    got = ctx.context_keys(canvas, neighbours, ring_of, targets=targets)
    assert len(got) == len(want) == (3 if ring else 2)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype == np.int64 and np.array_equal(a, b)
    assert ctx.context_keys(canvas, np.zeros((0, n), np.int32), None) is None
    if ring:
        positions = ring_of.positions(targets)
        assert (positions < 0).any() and (positions >= 0).any()
        with pytest.raises(ValueError, match="targets"):
            ctx.context_keys(canvas, neighbours, ring_of)


def test_merge_into_matches_the_reference():
    """In place, into buffers with room to spare (and with none): what np.unique of both gives."""
    from fpcodec.codec import rows_kernel

    rng = np.random.default_rng(3)
    for size_a, size_b in ((0, 0), (0, 5), (5, 0), (100, 30), (30, 100), (1000, 1000)):
        a = np.unique(rng.integers(0, 300, size_a), return_counts=True)
        b = np.unique(rng.integers(0, 300, size_b), return_counts=True)
        a = (a[0].astype(np.int64), a[1].astype(np.int64))
        b = (b[0].astype(np.int64), b[1].astype(np.int64))
        want = ctx.merge_reference(a, b)
        both = np.unique(np.concatenate([np.repeat(*a), np.repeat(*b)]), return_counts=True)
        for room in (0, 7):
            size = a[0].size + b[0].size + room
            buffers = (np.full(size, -5, np.int64), np.full(size, -5, np.int64))
            buffers[0][: a[0].size], buffers[1][: a[0].size] = a
            got = rows_kernel.merge_into(buffers, a[0].size, b)
            assert got[0].base is buffers[0] and got[1].base is buffers[1]
            for g, w, u in zip(got, want, both, strict=True):
                assert np.array_equal(g, w) and np.array_equal(g, u)


def test_merge_into_refuses_buffers_too_small_or_narrow():
    from fpcodec.codec import rows_kernel

    table = (np.array([1, 5], np.int64), np.array([2, 3], np.int32))
    with pytest.raises(ValueError, match="cannot hold 3"):
        rows_kernel.merge_into((np.zeros(2, np.int64), np.zeros(2, np.int32)), 1, table)
    wide = (np.array([7], np.int64), np.array([1 << 40], np.int64))
    with pytest.raises(ValueError, match="int32 counts cannot hold int64"):
        rows_kernel.merge_into((np.zeros(4, np.int64), np.zeros(4, np.int32)), 1, wide)


def test_merge_to_matches_the_reference():
    """Into other buffers, with room to spare (and with none), int32 and int64 counts, the inputs
    untouched: what np.unique of both gives."""
    from fpcodec.codec import rows_kernel

    rng = np.random.default_rng(4)
    for size_a, size_b in ((0, 0), (0, 5), (5, 0), (100, 30), (30, 100), (1000, 1000), (3000, 7)):
        a = np.unique(rng.integers(0, 300 + size_a, size_a), return_counts=True)
        b = np.unique(rng.integers(0, 300 + size_a, size_b), return_counts=True)
        a = (a[0].astype(np.int64), a[1].astype(np.int32))
        b = (b[0].astype(np.int64), (b[1] * 5).astype(np.int32))
        kept = [x.copy() for x in (*a, *b)]
        want = ctx.merge_reference(a, b)
        both = np.unique(np.concatenate([np.repeat(*a), np.repeat(*b)]), return_counts=True)
        for room, count_type in ((0, np.int32), (7, np.int32), (3, np.int64)):
            size = a[0].size + b[0].size + room
            buffers = (np.full(size, -5, np.int64), np.full(size, -5, count_type))
            got = rows_kernel.merge_to(a, b, buffers)
            assert got[0].base is buffers[0] and got[1].base is buffers[1] and got[1].dtype == count_type
            for g, w, u in zip(got, want, both, strict=True):
                assert np.array_equal(g, w) and np.array_equal(g, u)
        assert all(np.array_equal(x, y) for x, y in zip(kept, (*a, *b), strict=True))


def test_merge_to_refuses_buffers_too_small_or_narrow():
    from fpcodec.codec import rows_kernel

    table = (np.array([1, 5], np.int64), np.array([2, 3], np.int32))
    other = (np.array([2], np.int64), np.array([4], np.int32))
    with pytest.raises(ValueError, match="cannot hold 3"):
        rows_kernel.merge_to(table, other, (np.zeros(2, np.int64), np.zeros(2, np.int32)))
    wide = (np.array([7], np.int64), np.array([1 << 40], np.int64))
    with pytest.raises(ValueError, match="int32 counts cannot hold int32 and int64"):
        rows_kernel.merge_to(table, wide, (np.zeros(4, np.int64), np.zeros(4, np.int32)))


@pytest.mark.parametrize("mapped_from", [ctx.MAPPED_FROM, 1])
def test_counts_merge_in_place_until_copied(monkeypatch, mapped_from):
    """A table grows in its own buffers; a copy shares it, so from then on neither writes into it
    and each keeps the counts it had (the encoder's candidates each add to a copy). Also with
    every buffer mapped (``table_buffer``), as a large frame's are."""
    monkeypatch.setattr(ctx, "MAPPED_FROM", mapped_from)
    rng = np.random.default_rng(8)
    adds = [(rng.integers(0, 60, (3, n)).astype(np.int64), rng.integers(0, 9, n)) for n in (400, 50, 60, 70)]
    counts = ctx.ContextCounts()
    counts.add(list(adds[0][0]), adds[0][1])
    counts.compact()
    counts.add(list(adds[1][0]), adds[1][1])
    first = counts._table(2)[0]  # the first merge: new buffers with room
    counts.add(list(adds[2][0]), adds[2][1])
    second = counts._table(2)[0]
    assert np.shares_memory(first, second)  # merged in place
    snapshot = [tuple(a.copy() for a in counts._table(o)) for o in range(3)]
    other = counts.copy()
    counts.add(list(adds[3][0]), adds[3][1])
    other.add(list(adds[3][0][::-1]), adds[3][1])
    for o in range(3):
        codes, n = counts._table(o)
        assert not np.shares_memory(codes, second)
        keys = np.concatenate([a[0][o] for a in adds])
        symbols = np.concatenate([a[1] for a in adds])
        want = np.unique((keys << 8) | symbols, return_counts=True)
        assert np.array_equal(codes, want[0]) and np.array_equal(n, want[1])
        other_keys = np.concatenate([a[0][o] for a in adds[:3]] + [adds[3][0][2 - o]])
        want = np.unique((other_keys << 8) | symbols, return_counts=True)
        assert all(np.array_equal(g, w) for g, w in zip(other._table(o), want, strict=True))
    assert np.array_equal(second, snapshot[2][0])  # the shared table was not written after the copy


def test_frozen_levels_stay_as_they_were_while_the_counts_grow():
    """``frozen_levels`` hands out the tables as they are; the counts then merge into new tables
    only (not in place, as they did before: the first two merges below share their buffers), so
    every table handed out keeps its codes and counts, and lookups on it give the counts of
    then (the encoder's kept passes are coded from them)."""
    rng = np.random.default_rng(9)
    adds = [
        (rng.integers(0, 60, (2, n)).astype(np.int64), rng.integers(0, 9, n)) for n in (400, 50, 60, 70, 80)
    ]
    counts = ctx.ContextCounts()
    counts.add(list(adds[0][0]), adds[0][1])
    counts.compact()
    counts.add(list(adds[1][0]), adds[1][1])
    first = counts._table(1)[0]
    counts.add(list(adds[2][0]), adds[2][1])
    assert np.shares_memory(first, counts._table(1)[0])  # merged in place so far
    handed = [counts.frozen_levels(2)]
    copies = [[tuple(tuple(a.copy() for a in t) for t in level) for level in handed[0]]]
    for keys, symbols in adds[3:]:
        counts.add(list(keys), symbols)
        handed.append(counts.frozen_levels(2))
        copies.append([tuple(tuple(a.copy() for a in t) for t in level) for level in handed[-1]])
        counts._table(0), counts._table(1)  # folded into the base as well
    for levels, kept in zip(handed, copies, strict=True):
        for level, saved in zip(levels, kept, strict=True):
            for table, copy in zip(level, saved, strict=True):
                assert all(np.array_equal(a, b) for a, b in zip(table, copy, strict=True))
    query = rng.integers(0, 60, 30).astype(np.int64)
    for n_adds, levels in enumerate(handed, start=3):
        keys = np.concatenate([a[0][1] for a in adds[:n_adds]])
        symbols = np.concatenate([a[1] for a in adds[:n_adds]])
        want = _brute_rows(keys, symbols, query, 9)
        got = ctx.blend_sparse(np.zeros((30, 9)), levels, [query, query], (0.0, 1.0))
        np.testing.assert_allclose(
            got * (want.sum(axis=1, keepdims=True) + 1.0), want, rtol=1e-12, atol=1e-12
        )


def _brute_rows(keys: np.ndarray, symbols: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Counts of each symbol after each queried key."""
    out = np.zeros((query.size, k))
    for i, q in enumerate(query):
        np.add.at(out[i], symbols[keys == q], 1)
    return out


def test_counts_merge_without_room_where_the_room_is_refused(monkeypatch):
    """Where the system refuses a merge's room to grow (strict overcommit charges its unwritten
    pages), the tables are merged into buffers of their own size: the same counts."""
    import errno

    rng = np.random.default_rng(9)
    adds = [(rng.integers(0, 60, (3, n)).astype(np.int64), rng.integers(0, 9, n)) for n in (400, 50, 60, 70)]

    def tables() -> list[tuple[np.ndarray, np.ndarray]]:
        counts = ctx.ContextCounts()
        for keys, symbols in adds:
            counts.add(list(keys), symbols)
            counts.compact()
        return [tuple(a.copy() for a in counts._table(o)) for o in range(3)]

    want = tables()
    real, asked = ctx.table_buffer, []

    def refusing(n, dtype):
        asked.append(n)
        if n > 500:  # any room beyond the tables themselves
            raise OSError(errno.ENOMEM, "Cannot allocate memory")
        return real(n, dtype)

    monkeypatch.setattr(ctx, "table_buffer", refusing)
    got = tables()
    assert any(n > 500 for n in asked) and any(n <= 500 for n in asked)  # refused, then merged without
    for (codes, n), (want_codes, want_n) in zip(got, want, strict=True):
        assert np.array_equal(codes, want_codes) and np.array_equal(n, want_n)
    monkeypatch.setattr(ctx, "table_buffer", lambda n, dtype: refusing(n * 1000, dtype))
    with pytest.raises(OSError):  # refused even without room: the error goes to the caller
        tables()


def test_large_table_buffers_are_mapped_pages_of_their_own():
    import mmap

    small = ctx.table_buffer(ctx.MAPPED_FROM // 8 - 1, np.int64)
    assert small.flags.owndata and small.size == ctx.MAPPED_FROM // 8 - 1
    large = ctx.table_buffer(ctx.MAPPED_FROM // 4, np.int32)
    assert (
        isinstance(large.base.obj, mmap.mmap)
        and large.dtype == np.int32
        and large.size == ctx.MAPPED_FROM // 4
    )
    large[-3:] = (1, -2, 3)  # writable, and a view of it has it as its base (``_merged``'s test)
    assert large[:5].base is large and list(large[-3:]) == [1, -2, 3]
    assert ctx.table_buffer(0, np.int64).size == 0


def test_table_buffers_without_private_mappings_are_plain_arrays(monkeypatch):
    import mmap

    monkeypatch.delattr(mmap, "MAP_PRIVATE")
    large = ctx.table_buffer(ctx.MAPPED_FROM // 4, np.int32)
    assert large.flags.owndata and large.size == ctx.MAPPED_FROM // 4


def test_true_counts_match_the_reference():
    rng = np.random.default_rng(5)
    counts = _counts(rng, 30, 40, 3)
    keys = [rng.integers(0, 40, 700) * m for m in (1, 7, 1 << 40)]  # unseen contexts too
    symbols = rng.integers(-1, 40, 700)  # -1: a colour not in the palette
    for o in range(3):
        got = counts.true_counts(o, keys[o], symbols)
        want = counts.true_counts_reference(o, keys[o], symbols)
        for g, w in zip(got, want, strict=True):
            assert _same_bits(g, w)
    empty = ctx.ContextCounts()
    own, total = empty.true_counts(0, keys[0], symbols)
    assert not own.any() and not total.any()


def _ranges_by_numpy(codes: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    contexts = codes >> 8
    return np.searchsorted(contexts, keys, "left"), np.searchsorted(contexts, keys, "right")


def test_a_tables_index_finds_every_contexts_entries():
    """``_context_range`` through the table's bucket index gives numpy's ranges for every key:
    contexts whose entries start, end or lie at bucket edges, keys below, between and above
    every context, tables of one code and none, dense tables and sparse ones whose codes span far
    more values than they hold (a large shift); and the index has a bucket for about every
    BUCKET_CODES codes, each pointing at its codes."""
    from fpcodec.codec import rows_kernel

    rng = np.random.default_rng(3)
    step = rows_kernel.BUCKET_CODES
    dense = np.concatenate(  # contexts 2, 4, 6 ... with these many symbols each
        [
            (2 * c + 2) * 256 + np.arange(size)
            for c, size in enumerate([1, step - 1, 1, step, step + 1, 3, 256, 5])
        ]
    )
    sparse = np.unique(rng.integers(0, 1 << 20, 300) << 30 | rng.integers(0, 256, 300))
    clustered = np.unique(np.concatenate([np.arange(40), (1 << 50) + np.arange(0, 5000, 3)]))
    for codes in [dense, sparse, clustered, np.array([7 * 256 + 3]), np.zeros(0, np.int64)]:
        codes = np.ascontiguousarray(codes, np.int64)
        index = rows_kernel.indexed(codes)
        head, positions = index[: rows_kernel._INDEX_HEAD], index[rows_kernel._INDEX_HEAD :]
        assert positions.size <= max(1, codes.size // step) + 1
        assert positions[-1] == codes.size and (np.diff(positions) >= 0).all()
        if codes.size:
            buckets = (codes - head[0]) >> head[1]
            assert np.array_equal(positions[:-1], np.searchsorted(buckets, np.arange(positions.size - 1)))
        contexts = np.unique(codes >> 8)
        keys = np.unique(np.concatenate([contexts - 1, contexts, contexts + 1, [-1, 0, 1 << 53]]))
        keys = keys[keys < 1 << 54]  # keys are below 2^54 (``palette_context``'s hash)
        got = np.array([rows_kernel._context_range(codes, index, k) for k in keys]).reshape(-1, 2)
        lo, hi = _ranges_by_numpy(codes, keys)
        assert np.array_equal(got[:, 0], lo) and np.array_equal(got[:, 1], hi)


def test_context_ranges_at_the_bucket_boundaries():
    """The blend and the true counts find a context's entries through the tables' bucket index:
    contexts whose entries start, end or lie at a bucket's edge, keys below, between and above
    every context, and tables shorter than one bucket give numpy's ranges."""
    from fpcodec.codec import rows_kernel

    step = rows_kernel.BUCKET_CODES
    sizes = [1, step - 1, 1, step, step + 1, 2 * step, 3, 256, 5, 1]  # entries of contexts 2, 4, 6 ...
    counts = ctx.ContextCounts()
    for c, size in enumerate(sizes):
        symbols = np.repeat(np.arange(size), 1 + c % 3)
        counts.add([np.full(symbols.size, 2 * c + 2, np.int64)] * 3, symbols)
    codes, _ = counts._table(0)
    assert codes.size == sum(sizes) and codes.size > 9 * step
    keys = np.arange(-1, 2 * len(sizes) + 4)  # every context, the gaps between them, and beyond
    symbols = keys % 7
    for o in range(3):
        for got, want in zip(
            counts.true_counts(o, keys, symbols), counts.true_counts_reference(o, keys, symbols), strict=True
        ):
            assert _same_bits(got, want)
    p = np.random.default_rng(0).random((keys.size, 256)) * 1000
    for beta in [(32.0, 0.0, 0.0), (0.0, 0.0, 0.5)]:
        want = ctx.blend_sparse_reference(p.copy(), counts, [keys] * 3, beta)
        assert _same_bits(ctx.blend_sparse(p.copy(), counts, [keys] * 3, beta), want)
    short = ctx.ContextCounts()
    short.add([np.array([5, 5, 9])] * 3, np.array([0, 1, 0]))
    for got, want in zip(
        short.true_counts(0, keys, symbols), short.true_counts_reference(0, keys, symbols), strict=True
    ):
        assert _same_bits(got, want)


@pytest.mark.parametrize("k", [2, 17, 256])
def test_mix_blend_is_the_mix_then_the_blend(k):
    """The one-pass kernel gives the rows of the votes' mix followed by the counts' blend, each by
    its numpy reference, bit for bit, for every kind of vote and every set of active orders."""
    rng = np.random.default_rng(k + 1)
    n = 300
    counts = _counts(rng, 30, k, 4)
    keys = [rng.integers(0, 40, n) * m for m in (1, 7, 1 << 40)]
    rows = rng.integers(1, 1 << 21, (n, k)).astype(np.float64)
    prev = np.where(rng.random(n) < 0.8, rng.integers(0, k, n), -1)
    nbr = np.where(rng.random((4, n)) < 0.8, rng.integers(0, min(k, 3), (4, n)), -1)
    w_levels = pc.NBR_TABLE[[1, 2, 3, 3]]
    for beta in [(32.0, 128.0, 2.0), (0.0, 512.0, 0.0), (32.0, 0.0, 0.5), (8.0, 32.0)]:
        for w_prev, prev_idx, nbr_idx in [
            (0.5, prev, nbr),
            (0.0, None, nbr),
            (0.25, prev, None),
            (0.5, None, None),
        ]:
            mixed = pc.mix_rows_reference(rows.copy(), prev_idx, w_prev, nbr_idx, w_levels, normalize=True)
            want = ctx.blend_sparse_reference(mixed, counts, keys[: len(beta)], beta)
            got = ctx.mix_blend(
                rows.copy(), prev_idx, w_prev, nbr_idx, w_levels, counts, keys[: len(beta)], beta
            )
            assert _same_bits(got, want), (beta, w_prev)


@pytest.mark.parametrize("canvas_dtype", [np.int32, np.int64])
def test_neighbour_colours_match_the_reference(canvas_dtype):
    """Index canvases are signed (extract_palette's int32; -1 a colour not in the palette)."""
    from fpcodec.codec.modes import palette

    rng = np.random.default_rng(3)
    canvas = rng.integers(0, 200, 1000).astype(canvas_dtype)
    canvas[::7] = -1
    neighbours = np.where(rng.random((4, 600)) < 0.8, rng.integers(0, 1000, (4, 600)), -1).astype(np.int32)
    got = palette.neighbour_colours(canvas, neighbours)
    want = palette.neighbour_colours_reference(canvas, neighbours)
    assert got.dtype == want.dtype == np.int32 and np.array_equal(got, want)
    assert palette.neighbour_colours(canvas, np.zeros((0, 600), np.int32)) is None


@pytest.mark.parametrize("j", [1, 2, 3, 4])
def test_vote_counts_match_the_reference(j):
    """Hits, valid neighbours and agreement levels as numpy's passes count them, with neighbours
    outside the frame or not in the palette (-1) and true colours that are -1 too (a hit counts
    wherever the colours are equal, as the reference does); few colours, so that levels tie."""
    rng = np.random.default_rng(j)
    nbr = np.where(rng.random((j, 3000)) < 0.8, rng.integers(0, 3, (j, 3000)), -1).astype(np.int32)
    true = rng.integers(-1, 3, 3000)
    got = pc.vote_counts(nbr, true)
    want = pc.vote_counts_reference(nbr, true)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype == np.uint8 and np.array_equal(a, b)
    assert set(np.unique(got[2])) == set(range(j + 1))  # every level occurs
    assert all(np.array_equal(a, np.zeros(3000, np.uint8)) for a in pc.vote_counts(None, true))


def test_recent_codes_count_with_the_base_table():
    """A part's codes go into the order's recent table while it is small beside the base: the
    blend and the true counts read both and add a code's two counts, giving the rows and counts of
    the one merged table bit for bit (the references merge them first)."""
    rng = np.random.default_rng(11)
    k = 40
    counts = ctx.ContextCounts()
    counts.add([rng.integers(0, 2000, 20000) * m for m in (1, 7, 1 << 40)], rng.integers(0, k, 20000))
    counts.compact()
    for size in (300, 500):  # two parts: the second merges into the first's recent table
        counts.add([rng.integers(0, 2100, size) * m for m in (1, 7, 1 << 40)], rng.integers(-1, k, size))
    for o in range(3):
        base, recent = counts._levels(o)
        assert 0 < ctx.RECENT_SHARE * recent[0].size <= base[0].size
        assert np.isin(recent[0], base[0]).any() and not np.isin(recent[0], base[0]).all()
    n = 600
    keys = [rng.integers(0, 2200, n) * m for m in (1, 7, 1 << 40)]  # contexts in one table, both, none
    symbols = rng.integers(-1, k, n)
    p = rng.random((n, k)) * rng.integers(1, 1 << 29, (n, 1))
    betas = [(32.0, 0.0, 0.0), (0.0, 512.0, 0.0), (2.0, 8.0, 0.5)]
    got_rows = [ctx.blend_sparse(p.copy(), counts, keys, beta) for beta in betas]
    got_counts = [counts.true_counts(o, keys[o], symbols) for o in range(3)]
    assert counts._recent[0][0].size  # still two tables when the kernels read them
    for beta, got in zip(betas, got_rows, strict=True):
        assert _same_bits(got, ctx.blend_sparse_reference(p.copy(), counts, keys, beta))
    for o, got in enumerate(got_counts):
        for g, w in zip(got, counts.true_counts_reference(o, keys[o], symbols), strict=True):
            assert _same_bits(g, w)
    assert not counts._recent[0][0].size  # the references read the merged table


def test_a_tables_index_is_made_once_and_forgotten_with_the_table() -> None:
    """``index_of`` remembers a large table's index while the table's array lives: the blocks of
    a part, coded with the same tables, do not make it again for every call."""
    import gc

    from fpcodec.codec import rows_kernel

    codes = np.arange(0, 3 * rows_kernel.INDEX_KEPT_FROM, 3, dtype=np.int64)
    first = rows_kernel.index_of(codes)
    assert np.array_equal(first, rows_kernel.indexed(codes))
    assert rows_kernel.index_of(codes) is first  # made once
    other = codes.copy()  # the same codes in another array (as after a merge): its own index
    assert rows_kernel.index_of(other) is not first
    key = id(codes)
    del codes, first
    gc.collect()
    assert key not in rows_kernel._INDEXES  # the entry left with its table
    small = np.arange(10, dtype=np.int64)
    assert rows_kernel.index_of(small) is not rows_kernel.index_of(small)  # small tables: not kept


@pytest.mark.parametrize("k", [2, 17, 256])
@pytest.mark.parametrize("n", [1, 7, 300])
def test_running_sums_are_the_rows_summed_left_to_right(k, n):
    """``running_sums``: each row left as its running sums, added one entry at a time from 0.0,
    of the very rows the kernel gives without them (with and without the blend; rows summed four
    at a time, and those left over)."""
    from fpcodec.codec import rows_kernel

    rng = np.random.default_rng(k + 1)
    counts = _counts(rng, 30, k, 3)
    keys = [rng.integers(0, 40, n) * m for m in (1, 7, 1 << 40)]
    p = rng.random((n, k)) * rng.integers(1, 1 << 29, (n, 1))
    prev = rng.integers(-1, k, n)
    nbr = rng.integers(-1, k, (4, n))
    levels = np.array([0.1, 0.2, 0.3, 0.4])
    for part_keys in (None, keys):
        rows = ctx.mix_blend(p.copy(), prev, 0.3, nbr, levels, counts, part_keys, (32.0, 8.0, 0.0))
        sums = ctx.mix_blend(p.copy(), prev, 0.3, nbr, levels, counts, part_keys, (32.0, 8.0, 0.0), True)
        want = np.empty_like(rows)
        total = np.zeros(n)
        for j in range(k):
            total = total + rows[:, j]
            want[:, j] = total
        assert np.array_equal(sums.view(np.int64), want.view(np.int64))
    mixed = rows_kernel.mix(p.copy(), prev, 0.3, nbr, levels)
    assert np.array_equal(ctx.mix_blend(p.copy(), prev, 0.3, nbr, levels, counts, None, ()), mixed)


_UNIQUE_WAYS = ["unique_counts", "_numpy_unique_counts", "_radix_unique_counts"]


@pytest.mark.parametrize("way", _UNIQUE_WAYS)
@pytest.mark.parametrize("n", [0, 1, 2, 7, 5000])
def test_unique_counts_are_numpys(n, way):
    """``unique_counts``, and each of the sorts it chooses from: ``np.unique(codes,
    return_counts=True)``, values, counts and types, and the caller's codes are left as they were."""
    from fpcodec.codec import rows_kernel

    rng = np.random.default_rng(n)
    codes = (rng.integers(0, max(1, n // 3), n) << 8) | rng.integers(0, 3, n)
    before = codes.copy()
    got = getattr(rows_kernel, way)(codes)
    want = np.unique(codes, return_counts=True)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(codes, before)


@pytest.mark.parametrize("way", _UNIQUE_WAYS)
@pytest.mark.parametrize("bits", [1, 11, 12, 22, 33, 55, 56, 63])
def test_unique_counts_radix_sort_of_wide_codes(bits, way):
    """The radix sort takes as many 11-bit digits as the largest code has (one to six; hashed
    context codes reach 2^62), 8-bit ones below 2,048 codes: every width, a digit's boundary on
    either side, the largest int64, and negative codes (numpy's sort then) give ``np.unique``'s
    values and counts."""
    from fpcodec.codec import rows_kernel

    rng = np.random.default_rng(bits)
    top = (1 << bits) - 1
    codes = rng.integers(0, top, 5000, endpoint=True)
    codes[::7] = codes[3]  # runs of one code, met apart
    codes[:2] = (0, top)
    small = codes[:2047]  # 8-bit digits
    assert rows_kernel._WIDE_FROM == 2048
    for sample in (
        codes,
        small,
        small[:300],
        np.concatenate([codes, -codes[:40]]),
        np.concatenate([small, -small[:9]]),
        codes[:1],
        codes[:0],
    ):
        got = getattr(rows_kernel, way)(np.ascontiguousarray(sample))
        want = np.unique(sample, return_counts=True)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "ordered",
    [[5], [1, 1, 2, 3], [7, 7, 7, 7], [1, 2, 3, 4], [1, 1, 2, 2, 2, 3, 4, 4], [-3, -3, 0, 9, 9, 9]],
)
@pytest.mark.parametrize("in_place", [False, True])
def test_runs_are_numpys(ordered, in_place):
    """``_runs`` (branch-free: a repeated value is written to the next run's slot and overwritten
    later) gives ``np.unique``'s values and counts, also written over its own input, where a run
    after a repeat writes the place of the value before the one it reads next."""
    from fpcodec.codec import rows_kernel

    values = np.array(ordered, np.int64)
    codes = values.copy() if in_place else np.full(values.size, -99, np.int64)
    counts = np.full(values.size, -99, np.int64)
    m = rows_kernel._runs(codes if in_place else values, codes, counts)
    want = np.unique(values, return_counts=True)
    np.testing.assert_array_equal(codes[:m], want[0])
    np.testing.assert_array_equal(counts[:m], want[1])


@pytest.mark.parametrize("slow", ["numpy", "radix"])
def test_sort_choice_keeps_the_faster_sort(monkeypatch, slow):
    """``SortChoice`` times both sorts on a size class's first tables of at least ``trial_from``
    codes and then keeps the faster for every later table of that class; the tables are
    ``np.unique``'s throughout (smaller tables before the choice, the timed ones, and those after
    it). One sort made slower by a pause is the one left out."""
    import time

    from fpcodec.codec import rows_kernel

    name = {"numpy": "_numpy_unique_counts", "radix": "_radix_unique_counts"}[slow]
    original = getattr(rows_kernel, name)

    def slower(codes):
        if codes.size > 1:
            time.sleep(0.01)
        return original(codes)

    monkeypatch.setattr(rows_kernel, name, slower)
    choice = rows_kernel.SortChoice(trials=3, trial_from=100, enough=1.0)
    fast = ({"numpy", "radix"} - {slow}).pop()
    rng = np.random.default_rng(3)
    for n in (50, 300, 99, 400, 500, 310, 40):  # 300-500: one class (256-511 codes)
        codes = rng.integers(0, 1 << 40, n)
        codes[::3] = codes[1]
        if n == 310:
            assert choice.classes[9].timed == 3 and choice.chosen(n) == fast
        elif n >= 100:
            assert choice.chosen(n) is None
        for a, b in zip(choice.unique_counts(codes), np.unique(codes, return_counts=True), strict=True):
            np.testing.assert_array_equal(a, b)
    assert choice.classes[9].seconds[slow] > 0.03 > choice.classes[9].seconds[fast]
    assert choice.chosen(1000) is None  # another class: not timed yet


def test_sort_choice_chooses_for_each_size_of_table(monkeypatch):
    """Where numpy's sort is the slower on small tables and the radix sort on large ones, each
    size class keeps its own faster sort (one choice for all, made on the first tables, kept the
    radix sort for large tables where numpy's was 1.7x as fast); a class decides after two tables
    once each sort has taken ``enough`` seconds there."""
    import time

    from fpcodec.codec import rows_kernel

    def paused(way, small_pause, large_pause):
        original = getattr(rows_kernel, way)

        def run(codes):
            if codes.size > 1:
                time.sleep(small_pause if codes.size < 512 else large_pause)
            return original(codes)

        monkeypatch.setattr(rows_kernel, way, run)

    paused("_numpy_unique_counts", 0.02, 0.01)
    paused("_radix_unique_counts", 0.01, 0.02)
    choice = rows_kernel.SortChoice(trials=8, trial_from=100, enough=0.015)
    rng = np.random.default_rng(4)
    for n in (300, 700, 301, 701, 302, 702):
        codes = rng.integers(-(1 << 40), 1 << 40, n)
        for a, b in zip(choice.unique_counts(codes), np.unique(codes, return_counts=True), strict=True):
            np.testing.assert_array_equal(a, b)
    assert choice.chosen(300) == "radix" and choice.chosen(700) == "numpy"
    assert choice.classes[9].timed == choice.classes[10].timed == 2


@pytest.mark.parametrize("k", [1, 2, 17, 256, 257])
def test_true_shares_are_numpys_on_integer_weights(k):
    """The encoder's estimate reads each row's true-colour share: the compiled pass gives the
    floats numpy's gathered entry over its pairwise row sum gives (integer rows: exact sums)."""
    rng = np.random.default_rng(k)
    n = 3000
    rows = rng.integers(1, 1 << 20, (n, k)).astype(np.float64)
    rows[rng.random((n, k)) < 0.8] = 1.0  # most colours at the weights' floor, as in a real row
    truth = rng.integers(0, k, n)
    want = rows[np.arange(n), truth] / rows.sum(axis=1, dtype=np.float64)
    got = pc.true_shares(rows, truth)
    assert got.dtype == np.float64 and got.shape == (n,)
    assert np.array_equal(got, want)
    small = rows.astype(np.float32)  # version 2's float rows: numpy's own
    assert np.array_equal(
        pc.true_shares(small, truth), small[np.arange(n), truth] / small.sum(axis=1, dtype=np.float64)
    )


def test_pending_codes_are_the_keys_and_symbols_in_the_palette():
    """Each order's codes are key << 8 | symbol of the pixels whose symbol is not -1, in pixel
    order, from a list of key rows or an (orders, N) array; mismatched shapes are refused."""
    from fpcodec.codec import rows_kernel

    rng = np.random.default_rng(5)
    keys = rng.integers(0, 1 << 54, (3, 500))
    symbols = rng.integers(0, 256, 500).astype(np.int32)
    symbols[rng.random(500) < 0.2] = -1
    kept = symbols >= 0
    assert 0 < kept.sum() < 500
    want = np.stack([(k[kept] << 8) | symbols[kept] for k in keys])
    for given in (keys, list(keys), keys[:2]):
        got = rows_kernel.pending_codes(given, symbols)
        assert got.dtype == np.int64 and np.array_equal(got, want[: len(given)])
    assert rows_kernel.pending_codes(keys, np.full(500, -1)).shape == (3, 0)
    with pytest.raises(ValueError, match="keys of shape"):
        rows_kernel.pending_codes(keys, symbols[:-1])
