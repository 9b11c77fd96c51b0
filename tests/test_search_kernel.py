"""codec/search_kernel.py: the encoder's compiled parameter searches choose what their numpy
references choose, for the same bits up to the summation order, for any thread count."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from fpcodec.codec import palette_coding as pc
from fpcodec.codec import palette_context as ctx
from fpcodec.codec import search_kernel
from fpcodec.codec.modes import palette


def _stats(n: int, seed: int, prev: bool = True):
    rng = np.random.default_rng(seed)
    true_p = rng.beta(0.6, 0.4, n)  # many pixels near 0 and 1, as in real frames
    true_p[rng.random(n) < 0.01] = 0.0  # a colour the model gives nothing: the floor
    has_prev = rng.random(n) < 0.8 if prev else np.zeros(n, bool)
    match = has_prev & (rng.random(n) < 0.7)
    hits = rng.integers(0, 5, n).astype(np.uint8)
    valid = np.maximum(hits, rng.integers(0, 5, n)).astype(np.uint8)
    level = np.where(valid > 0, np.maximum(hits, 1), 0).astype(np.uint8)
    return pc.TrueColourStats(true_p, has_prev, match, hits, valid, level)


@pytest.mark.parametrize("n, prev", [(1, True), (1000, True), (50_000, True), (50_000, False)])
def test_mix_search_matches_the_reference(n, prev):
    stats = _stats(n, n, prev)
    mix, bits = pc.choose_mix_stats(stats)
    want_mix, want_bits = pc.choose_mix_stats_reference(stats)
    assert mix == want_mix
    assert bits == pytest.approx(want_bits, rel=1e-12, abs=1e-9)


def test_pixels_without_a_previous_colour_add_the_same_bits_to_every_previous_weight():
    """Their bits are computed once and added to every previous-colour weight's sums (the kernel's
    shortcut): each weight's sums are then the same floats, and those of the weight-by-weight
    reference."""
    stats = _stats(50_000, 11, prev=False)
    costs = search_kernel.mix_costs(stats, pc.MIX_TABLE, pc.NBR_TABLE, pc._LEVELS)
    assert all(np.array_equal(costs[a], costs[0]) for a in range(len(pc.MIX_TABLE)))
    mix, bits = pc.choose_mix_stats_reference(stats)
    assert costs[0, 0] + sum(
        costs[0, 1 + (lv - 1) * len(pc.NBR_TABLE) + ((mix >> (4 + 2 * (lv - 1))) & 3)]
        for lv in range(1, pc._LEVELS + 1)
    ) == pytest.approx(bits, rel=1e-12)


def test_mix_search_without_some_levels():
    """A level no pixel has keeps its weight bits 0, as the reference leaves them."""
    stats = _stats(5000, 7)
    stats.level[stats.level == 2] = 0
    got = pc.choose_mix_stats(stats)
    assert got[0] == pc.choose_mix_stats_reference(stats)[0]
    assert (got[0] >> 6) & 3 == 0


@pytest.mark.parametrize("mix", [0, 0x1, 0x7, 0x5 | (1 << 4) | (2 << 6) | (3 << 8) | (3 << 10), 0xFF7])
def test_mixed_probabilities_are_the_reference_floats(mix):
    stats = _stats(20_000, mix)
    stats.level[:50] = 6  # levels above the table's: clipped to its last weight, as numpy clips
    got = pc.mixed_true_p_stats(stats, mix)
    want = pc.mixed_true_p_stats_reference(stats, mix)
    assert got.dtype == want.dtype == np.float64 and np.array_equal(got.view(np.int64), want.view(np.int64))


def _counts(n: int, seed: int, orders: int = 3):
    rng = np.random.default_rng(seed)
    p_true = rng.beta(0.5, 0.5, n)
    total = [rng.integers(0, 40, n).astype(np.int32) for _ in range(orders)]
    own = [np.minimum(t, rng.integers(0, 40, n)).astype(np.int32) for t in total]
    return p_true, own, total


@pytest.mark.parametrize("n, seed", [(1, 0), (3000, 1), (70_000, 2)])
def test_beta_search_matches_the_reference(n, seed):
    p_true, own, total = _counts(n, seed)
    bits, mix = palette._choose_betas(p_true, own, total)
    want_bits, want_mix = palette._choose_betas_reference(p_true, own, total)
    assert mix == want_mix
    assert bits == pytest.approx(want_bits, rel=1e-12, abs=1e-9)


def test_searches_add_the_same_for_any_thread_count():
    """The partial sums are per fixed chunk: one thread and all threads give equal floats."""
    stats = _stats(100_000, 3)
    p_true, own, total = _counts(100_000, 4)
    both = pc.choose_mix_stats(stats), palette._choose_betas(p_true, own, total)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = pc.choose_mix_stats(stats), palette._choose_betas(p_true, own, total)
    finally:
        numba.set_num_threads(threads)
    assert one == both


def test_a_context_blend_the_search_prefers():
    """Counts that always name the true colour: the search picks the smallest betas above 0
    (the counts count most), whose bits are those of ``blend_true`` at them."""
    n = 4000
    p_true = np.full(n, 0.25)
    own = total = [np.full(n, 30, np.int32)] * 3
    bits, mix = palette._choose_betas(p_true, own, total)
    assert mix == ctx.mix_bits((1, 1, 1))
    beta = (ctx.BETA_TABLE[1], ctx.BETA_TABLE[1], ctx.BETA_REPEAT[1])
    assert bits == pytest.approx(-np.log2(ctx.blend_true(p_true, own, total, beta)).sum())


def test_every_step_of_the_beta_search_runs_one_compiled_signature(monkeypatch):
    """Each step gets every order's counts (a step reads only the orders up to its own), so the
    kernel is compiled once for a stream's orders, not once per step (2.3 s each, first run);
    the bits are those of the counts the step reads."""

    class Recorder:
        def __init__(self, kernel):
            self.kernel, self.orders = kernel, []

        @property
        def signatures(self):
            return self.kernel.signatures

        def __call__(self, p_true, own, total, *rest):
            self.orders.append((len(own), len(total)))
            return self.kernel(p_true, own, total, *rest)

    recorder = Recorder(search_kernel._beta_costs)
    monkeypatch.setattr(search_kernel, "_beta_costs", recorder)
    p_true, own, total = _counts(3000, 6)
    palette._choose_betas(p_true, own, total)
    assert recorder.orders == [(3, 3), (3, 3)]
    step = search_kernel.beta_costs(p_true, own, total, (), ctx.BETA_TABLE, pairs=True)
    assert np.array_equal(
        step, search_kernel.beta_costs(p_true, own[:2], total[:2], (), ctx.BETA_TABLE, True)
    )
    with pytest.raises(ValueError, match="3 orders used, counts of 2 given"):
        search_kernel.beta_costs(p_true, own[:2], total[:2], (32.0, 128.0), ctx.table(2), pairs=False)
