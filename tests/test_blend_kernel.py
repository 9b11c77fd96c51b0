"""codec/blend_kernel.py: the compiled blend gives palette_context.blend_sparse_reference's rows bit
for bit (the coded bytes of every version with context counts depend on them)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

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
