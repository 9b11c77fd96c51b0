"""Format version 13's refinement of raster planes (FORMAT.md, "Refinement"): each mean moves by
the plane's linear weights on the decoded neighbours and (inter, where the blend is not an exact
copy) the motion-compensated samples around it. The rule by hand, the compiled kernel against the
numpy rule, the encoder's fit finding a filter it can pay for, the weights' coding and its
checks, and version-12 streams (no refinement) still decoding exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import assert_planar_fixture_decodes

from fpcodec.bitstream import entropy
from fpcodec.bitstream.errors import FormatError
from fpcodec.codec import motion_field, planar_kernel, planar_rule, raster_rule, refinement
from fpcodec.codec.modes import planar
from fpcodec.codec.pipeline import Decoder

G, F = raster_rule.REFINE_GROUPS, raster_rule.REFINE_FEATURES
GI, FI = raster_rule.INTRA_REFINE_GROUPS, raster_rule.INTRA_REFINE_FEATURES
Q = planar_rule.QUALITY


def test_refinement_by_hand() -> None:
    """A 3x3 plane, the centre sample (flat 4) with a, b, c, d at 3, 1, 0, 2 and compensation 9 x
    v. Weight 256 (one whole) on the compensation's centre moves the mean onto it; 128 on a and 64
    on b move it by half and a quarter of their distances, rounded half up; group 2 (exact copies)
    is never moved, and a mean moved past the range is clamped."""
    plane = np.array([10, 20, 30, 40, 0, 0, 0, 0, 0], np.int64)
    mc = np.arange(9, dtype=np.int64) * 9
    neighbours = np.array([[3], [1], [0], [2]], np.int64)
    targets = np.array([4], np.int64)
    mean = np.array([16 * 35], np.int64)
    for refine in (raster_rule.refine, raster_rule.refine_reference):

        def moved(weights: np.ndarray, group: int = 0, refine=refine) -> int:
            ctx = np.array([group * Q + 1], np.int64)
            return int(refine(plane, mc, neighbours, targets, 3, mean, ctx, weights, 8)[0])

        w = np.zeros((G, F), np.int64)
        w[1, 4 + 4] = 256  # group 1, the compensation's centre (9 * 4 = 36)
        assert moved(w, 1) == 16 * 36
        assert moved(w, 0) == 16 * 35  # group 0's weights are zero
        assert moved(w, 2) == 16 * 35  # exact copies are left alone
        w = np.zeros((G, F), np.int64)
        w[0, 0], w[0, 1] = 128, 64  # a = 40: +(16*5)/2 = 40; b = 20: (16*-15)/4 = -60
        assert moved(w) == 16 * 35 + 40 - 60
        w[0, 0], w[0, 1] = 0, 3  # (3 * -240 + 128) >> 8 = -592 >> 8 = -3 (floor)
        assert moved(w) == 16 * 35 - 3
        w = np.zeros((G, F), np.int64)
        w[0, 4 + 8] = raster_rule.REFINE_MAX  # 8 times towards 16 * 72: past 255
        assert moved(w) == 16 * 255
        w[0, 4 + 8] = -raster_rule.REFINE_MAX
        assert moved(w) == 0
        assert moved(raster_rule.NO_REFINEMENT) == 16 * 35


def test_intra_refinement_by_hand() -> None:
    """Intra: the 4 weights of the sample's group (context // 4) on a, b, c, d, every group
    refined. Median 30 of a = 40, b = 20, c = 30 (mean 16 * 30) at context 9 (group 2): 128 on a
    moves it halfway to 40, 256 on d (10) all the way; other groups' weights do nothing."""
    plane = np.array([30, 20, 10, 40, 0], np.int64)
    neighbours = np.array([[3], [1], [0], [2]], np.int64)
    targets = np.array([4], np.int64)
    mean, ctx = np.array([16 * 30], np.int64), np.array([9], np.int64)
    for refine in (raster_rule.refine, raster_rule.refine_reference):
        w = np.zeros((GI, FI), np.int64)
        w[2, 0] = 128
        assert refine(plane, None, neighbours, targets, 5, mean, ctx, w, 8).tolist() == [16 * 35]
        w[2, 0], w[2, 3] = 0, 256
        assert refine(plane, None, neighbours, targets, 5, mean, ctx, w, 8).tolist() == [16 * 10]
        w = np.full((GI, FI), 200, np.int64)
        w[2] = 0
        assert refine(plane, None, neighbours, targets, 5, mean, ctx, w, 8).tolist() == [16 * 30]


@pytest.mark.parametrize("inter", [True, False])
@pytest.mark.parametrize(("depth", "shape"), [(8, (37, 53)), (10, (20, 31)), (8, (1, 9)), (8, (9, 1))])
def test_compiled_refinement_is_the_numpy_rule(depth: int, shape: tuple[int, int], inter: bool) -> None:
    """planar_kernel's refinement against raster_rule's numpy reference, inter and intra: random
    samples, means, groups and weights (the largest included), neighbours missing and at the
    plane's edges."""
    rng = np.random.default_rng(depth + shape[0])
    h, w = shape
    top = (1 << depth) - 1
    plane = rng.integers(0, top + 1, h * w)
    mc = np.clip(plane + rng.integers(-9, 10, h * w), 0, top) if inter else None
    fronts = raster_rule.wavefronts(h, w, raster_rule.TILED if inter else raster_rule.WHOLE)
    shape = raster_rule.refine_shape(inter)
    weights = rng.integers(-raster_rule.REFINE_MAX, raster_rule.REFINE_MAX + 1, shape)
    weights[0, 0] = raster_rule.REFINE_MAX
    for targets, neighbours in zip(fronts.targets, fronts.neighbours, strict=True):
        n = targets.size
        mean = rng.integers(0, 16 * top + 1, n)
        ctx = rng.integers(0, planar_rule.CONTEXTS if inter else raster_rule.CONTEXTS, n)
        got = raster_rule.refine(plane, mc, neighbours, targets, w, mean, ctx, weights, depth)
        want = raster_rule.refine_reference(plane, mc, neighbours, targets, w, mean, ctx, weights, depth)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("inter", [True, False])
@pytest.mark.parametrize(("depth", "shape"), [(8, (37, 53)), (10, (20, 31)), (8, (1, 9)), (8, (9, 1))])
def test_compiled_fit_inputs_are_the_numpy_ones(depth: int, shape: tuple[int, int], inter: bool) -> None:
    """The fit's least-squares inputs from planar_kernel (one pass) equal refinement's numpy
    reference exactly: x = 16 features - mean, t = 16 sample - mean, for every sample of a
    plane's schedule and for an evenly spaced subset, neighbours missing and at the edges, in
    blocks of samples padded with 0."""
    rng = np.random.default_rng(depth * 7 + shape[1])
    h, w = shape
    top = (1 << depth) - 1
    plane = rng.integers(0, top + 1, h * w)
    mc = np.clip(plane + rng.integers(-9, 10, h * w), 0, top) if inter else None
    order, neighbours, mean, _ = raster_rule.plane_rule(plane, h, w, depth, mc)
    mean = mean + rng.integers(-40, 41, mean.size)  # any integers: the fit reads them as they are
    features = raster_rule.refine_shape(inter)[1]
    for chosen in (np.arange(order.size), np.arange(order.size)[1::3]):
        x, t = planar_kernel.fit_inputs(plane, mc, neighbours, order, chosen, w, mean, depth)
        want = refinement.fit_inputs_reference(plane, mc, neighbours, order, chosen, w, mean, depth)
        blocks = -(-chosen.size // planar_kernel.FIT_BLOCK)
        assert x.shape == (blocks, features, planar_kernel.FIT_BLOCK)
        assert t.shape == (blocks, planar_kernel.FIT_BLOCK)
        rows = x.transpose(0, 2, 1).reshape(-1, features)  # blocks of features back to rows
        assert x.dtype == np.float32 and t.dtype == np.float64  # features exact in float32: half the bytes
        for a, b in zip((rows[: chosen.size], t.ravel()[: chosen.size]), want, strict=True):
            np.testing.assert_array_equal(a, b)
        assert not rows[chosen.size :].any() and not t.ravel()[chosen.size :].any()  # padding
        numba = pytest.importorskip("numba")
        threads = numba.get_num_threads()
        numba.set_num_threads(1)  # blocks run on the threads: the same arrays on one
        try:
            alone = planar_kernel.fit_inputs(plane, mc, neighbours, order, chosen, w, mean, depth)
        finally:
            numba.set_num_threads(threads)
        np.testing.assert_array_equal(alone[0], x)
        np.testing.assert_array_equal(alone[1], t)


@pytest.mark.parametrize("samples", [1, 255, 256, 257, 3000])
@pytest.mark.parametrize("reweight", [True, False])
def test_weighted_normal_equations_are_numpys(samples: int, reweight: bool) -> None:
    """One reweighting round's normal equations and spread from the blocked compiled pass equal
    numpy's products on the rows to float rounding (only the order of the sums differs), on full
    and partial blocks; the padding past ``n`` counts for nothing."""
    rng = np.random.default_rng(samples)
    features = raster_rule.refine_shape(True)[1]
    rows = rng.integers(-4000, 4000, (samples, features)).astype(np.float64)
    target = rng.integers(-4000, 4000, samples).astype(np.float64)
    blocks = -(-samples // planar_kernel.FIT_BLOCK)
    x = np.full((blocks * planar_kernel.FIT_BLOCK, features), 1e6)  # padding that would show
    t = np.full(blocks * planar_kernel.FIT_BLOCK, 1e6)
    x[:samples], t[:samples] = rows, target
    x = np.ascontiguousarray(
        x.reshape(blocks, planar_kernel.FIT_BLOCK, features).transpose(0, 2, 1), np.float32
    )
    t = t.reshape(blocks, planar_kernel.FIT_BLOCK)
    w = rng.normal(0, 0.3, features)
    error = np.maximum(np.abs(target - rows @ w), refinement.FLOOR)
    step = 1.0 / error if reweight else np.ones(samples)
    normal, rhs, spread = planar_kernel.weighted_normal(x, t, samples, w, reweight, refinement.FLOOR)
    want = (rows * step[:, None]).T @ rows
    np.testing.assert_allclose(normal, want, rtol=1e-10, atol=1e-6 * np.abs(want).max())
    np.testing.assert_array_equal(normal, normal.T)
    np.testing.assert_allclose(rhs, (rows * step[:, None]).T @ target, rtol=1e-10, atol=1e-3)
    assert spread == pytest.approx(error.sum(), rel=1e-12)
    none = planar_kernel.weighted_normal(x, t, samples, w, reweight, refinement.FLOOR, products=False)
    assert none[2] == spread and not none[0].any() and not none[1].any()


def test_weighted_normal_equations_do_not_depend_on_the_threads() -> None:
    """The same floats on one thread as on all: the blocks' sums are split into fixed parts."""
    numba = pytest.importorskip("numba")
    rng = np.random.default_rng(5)
    x = rng.integers(-4000, 4000, (40, 13, planar_kernel.FIT_BLOCK)).astype(np.float32)  # as fit_inputs' x
    t = rng.integers(-4000, 4000, (40, planar_kernel.FIT_BLOCK)).astype(np.float64)
    w = rng.normal(0, 0.3, 13)
    every = planar_kernel.weighted_normal(x, t, x.shape[0] * x.shape[2] - 7, w, True, refinement.FLOOR)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = planar_kernel.weighted_normal(x, t, x.shape[0] * x.shape[2] - 7, w, True, refinement.FLOOR)
    finally:
        numba.set_num_threads(threads)
    for a, b in zip(every, one, strict=True):
        np.testing.assert_array_equal(a, b)


def test_numpys_summation_order_in_the_kernel() -> None:
    """The compiled fit adds the spread's parts and the diagonal as ``numpy.sum`` does (pairwise
    above 7 entries), to the last bit, at every length it meets and around numpy's block of 8."""
    rng = np.random.default_rng(11)
    for n in [1, 2, 5, 7, 8, 9, 13, 15, 16, 17, 40, 128]:
        for _ in range(50):
            a = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 7, n)
            assert planar_kernel._numpy_sum(a) == a.sum()


def _fit_problem(seed: int, samples: int, features: int, flat: bool = False):
    """``fit_inputs``-shaped blocks of a noisy linear fit (x = 16 features - mean, integers) with
    a tenth of the targets far off (where the reweighting rounds still move the weights), and a
    constant feature where ``flat`` (a flat area: the ridge keeps the solve defined)."""
    rng = np.random.default_rng(seed)
    blocks = -(-samples // planar_kernel.FIT_BLOCK)
    rows = rng.integers(-3000, 3000, (blocks * planar_kernel.FIT_BLOCK, features)).astype(np.float64)
    if flat:
        rows[:, 1] = 48.0
    true = rng.normal(0.2, 0.3, features)
    target = np.round(rows @ true / features + rng.laplace(0, 40, rows.shape[0]))
    far = rng.random(target.size) < 0.1
    target[far] += rng.integers(-20000, 20000, far.sum())
    rows[samples:], target[samples:] = 0.0, 0.0  # fit_inputs' padding
    x = rows.reshape(blocks, planar_kernel.FIT_BLOCK, features).transpose(0, 2, 1)
    return np.ascontiguousarray(x, np.float32), target.reshape(blocks, planar_kernel.FIT_BLOCK)


@pytest.mark.parametrize(
    ("samples", "features", "flat"), [(513, F, False), (4000, F, True), (600, FI, False), (20000, FI, True)]
)
def test_the_compiled_fit_is_numpys(samples: int, features: int, flat: bool) -> None:
    """``planar_kernel.irls`` (the rounds in one compiled call, Gaussian elimination for the
    solve) gives the weights and the error ratio of ``refinement.irls_reference`` (numpy, LAPACK),
    inter and intra, a partial last block, a feature that never changes; weights that move the
    mean (the fit is not trivially 0), after every one of its rounds (one fewer gives others)."""
    x, t = _fit_problem(samples + features, samples, features, flat)
    got = planar_kernel.irls(x, t, samples, refinement.ROUNDS, refinement.FLOOR, refinement.RIDGE)
    want = refinement.irls_reference(x, t, samples)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1] and got[1] > 1 and np.abs(got[0]).sum() > 0
    fewer = planar_kernel.irls(x, t, samples, refinement.ROUNDS - 1, refinement.FLOOR, refinement.RIDGE)
    assert not np.array_equal(fewer[0], got[0])


def test_the_compiled_solve_is_the_linear_systems() -> None:
    """``_solve`` (partial pivoting: a zero on the diagonal is no obstacle) agrees with numpy's
    solve to rounding on symmetric and general systems."""
    rng = np.random.default_rng(3)
    for n in (1, 5, 13):
        a = rng.standard_normal((n, n))
        for m in (a, a @ a.T + np.eye(n)):
            b = rng.standard_normal(n)
            np.testing.assert_allclose(
                planar_kernel._solve(m, b), np.linalg.solve(m, b), rtol=1e-9, atol=1e-12
            )
    swapped = np.array([[0.0, 2.0], [3.0, 1.0]])
    np.testing.assert_allclose(planar_kernel._solve(swapped, np.array([4.0, 5.0])), [1.0, 2.0])


def _shifted(h: int, w: int, seed: int = 13) -> tuple[np.ndarray, np.ndarray]:
    """A textured reference and the current plane: the reference moved by half a sample to the
    left (the mean of two neighbours, which the blend's whole-sample copy gets wrong), plus a
    little noise."""
    rng = np.random.default_rng(seed)
    ref = np.clip(128 + np.cumsum(rng.integers(-12, 13, (h, w + 1)), axis=1) // 2, 0, 255)
    cur = (ref[:, :-1] + ref[:, 1:] + 1) // 2 + rng.integers(-1, 2, (h, w))
    return np.clip(cur, 0, 255).ravel(), ref[:, :-1].ravel()


def _candidate(flat: np.ndarray, mc: np.ndarray, h: int, w: int, depth: int = 8) -> planar.PlanarCandidate:
    """The encoder's raster inter candidate for one plane, with a zero motion field."""
    zero = np.zeros((-(-h // 8), -(-w // 8)), np.int64)
    return planar._plan_raster([flat], [(h, w, depth)], [mc], motion_field.plan(zero, zero, zero, 1))


@pytest.mark.parametrize("depth", [8, 10])
def test_the_fit_finds_the_half_sample_shift_and_pays_for_it(monkeypatch, depth: int) -> None:
    """On a half-sample shift the fitted weights halve the blend's absolute error; the encoder
    codes the plane refined, in fewer bits (weights included) than unrefined, and it decodes back
    exactly (8 bits: the decoder's one call per wavefront; 10: the deeper samples' path)."""
    h, w = 64, 96
    cur, mc = _shifted(h, w)
    cur, mc = cur << (depth - 8), mc << (depth - 8)
    order, neighbours, mean, ctx = raster_rule.plane_rule(cur, h, w, depth, mc)
    weights = refinement.fit(cur, mc, neighbours, order, w, mean, ctx, depth).weights
    assert weights.shape == (G, F) and weights.any() and np.abs(weights).max() <= raster_rule.REFINE_MAX
    moved = raster_rule.refine(cur, mc, neighbours, order, w, mean, ctx, weights, depth)
    before = np.abs(16 * cur[order] - mean).mean()
    after = np.abs(16 * cur[order] - moved).mean()
    assert after < 0.5 * before
    refined = _candidate(cur, mc, h, w, depth)
    assert refined.weights[0].shape == (G, F)
    monkeypatch.setattr(refinement, "fit", lambda *args: refinement.Fit(np.zeros((G, F), np.int64), 0.0))
    plain = _candidate(cur, mc, h, w, depth)
    assert plain.weights[0].shape[0] == 0  # zero weights: the plane is sent unrefined (one flag)
    assert refined.bits < 0.9 * plain.bits
    ref = mc.reshape(h, w).astype(np.uint8 if depth == 8 else np.uint16)
    for cand in (refined, plain):
        back = planar.decode(planar.encode(cand), [[ref]], [planar.PlaneGeometry(h, w, depth=depth)])
        np.testing.assert_array_equal(back[0], cur.reshape(h, w))


def _autoregressive(h: int, w: int, seed: int = 21) -> np.ndarray:
    """A plane whose samples are 0.9 times their left neighbour plus noise, row by row, around 128:
    a linear predictor's world, where the median predictor (which also looks up) is off."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 3, (h, w))
    p = np.zeros((h, w))
    p[:, 0] = noise[:, 0]
    for x in range(1, w):  # test data, made once: a loop over columns, each a whole column
        p[:, x] = 0.9 * p[:, x - 1] + noise[:, x]
    return np.clip(np.round(p) + 128, 0, 255).astype(np.int64).ravel()


@pytest.mark.parametrize("depth", [8, 10])
def test_intra_planes_are_refined_where_it_pays(depth: int) -> None:
    """Raster intra (kind 2) on an autoregressive plane: the fitted weights lower the median
    predictor's absolute error, the encoder keeps them (fewer bits with them than without), and
    the plane decodes back exactly."""
    h, w = 48, 64
    plane = _autoregressive(h, w) << (depth - 8)
    order, neighbours, mean, ctx = raster_rule.plane_rule(plane, h, w, depth)
    weights = refinement.fit(plane, None, neighbours, order, w, mean, ctx, depth).weights
    assert weights.shape == (GI, FI) and weights.any()
    moved = raster_rule.refine(plane, None, neighbours, order, w, mean, ctx, weights, depth)
    assert np.abs(16 * plane[order] - moved).mean() < 0.95 * np.abs(16 * plane[order] - mean).mean()
    geometry = [planar.PlaneGeometry(h, w, depth=depth)]
    cand = planar.estimate([plane.reshape(h, w)], [], geometry)  # the encoder's choice of kind
    assert cand.kind == planar.KIND_RASTER and cand.weights[0].shape == (GI, FI)
    back = planar.decode(planar.encode(cand), [], geometry)
    np.testing.assert_array_equal(back[0], plane.reshape(h, w))


def test_small_planes_and_copies_are_not_refined() -> None:
    """Fewer than MIN_SAMPLES samples in a group: its weights are zero (they would cost more than
    they save); a plane that is an exact copy has no samples outside group 2 and is sent
    unrefined."""
    cur, mc = _shifted(8, 12)
    order, neighbours, mean, ctx = raster_rule.plane_rule(cur, 8, 12, 8, mc)
    assert not refinement.fit(cur, mc, neighbours, order, 12, mean, ctx, 8).weights.any()
    cur, _ = _shifted(40, 40)
    assert _candidate(cur, cur, 40, 40).weights[0].shape[0] == 0


def test_the_decoders_wavefront_call_refines_as_the_encoder_did() -> None:
    """``planar_kernel.raster_rows`` (the decoder's one call per 8-bit wavefront) with a plane's
    weights gives, wavefront by wavefront, the refined means ``plane_params`` gave the encoder."""
    h, w = 45, 70  # two tiles across, a partial one below
    cur, mc = _shifted(h, w, 5)
    order, neighbours, mean, ctx = raster_rule.plane_rule(cur, h, w, 8, mc)
    weights = refinement.fit(cur, mc, neighbours, order, w, mean, ctx, 8).weights
    assert weights.any()
    _, means, _, _ = raster_rule.plane_params(cur, h, w, 8, mc, weights=weights)
    table = np.full(planar_rule.CONTEXTS * raster_rule.ERROR_LEVELS, 20, np.int64)
    kept = np.zeros(h * w, np.int64)
    fronts = raster_rule.wavefronts(h, w, raster_rule.TILED)
    start = 0
    for targets, front in zip(fronts.targets, fronts.neighbours, strict=True):
        got = planar_kernel.raster_rows(cur, mc, front, targets, table, None, kept, w, weights)
        np.testing.assert_array_equal(got[3], means[start : start + targets.size])
        start += targets.size
    assert start == h * w and not np.array_equal(means, mean)


def test_weights_round_trip_and_beyond_the_limit_are_refused() -> None:
    rng = np.random.default_rng(4)
    weights = rng.integers(-raster_rule.REFINE_MAX, raster_rule.REFINE_MAX + 1, (G, F))
    weights[0, :2] = raster_rule.REFINE_MAX, -raster_rule.REFINE_MAX
    enc = entropy.FrameEncoder()
    intra = rng.integers(-raster_rule.REFINE_MAX, raster_rule.REFINE_MAX + 1, (GI, FI))
    planar._encode_weights(enc, weights)
    planar._encode_weights(enc, raster_rule.NO_REFINEMENT)
    planar._encode_weights(enc, intra)
    dec = entropy.FrameDecoder(enc.finish())
    np.testing.assert_array_equal(planar._decode_weights(dec, True), weights)
    assert planar._decode_weights(dec, True).shape[0] == 0
    np.testing.assert_array_equal(planar._decode_weights(dec, False), intra)
    weights[1, 5] = -raster_rule.REFINE_MAX - 1  # the one value the coding can carry beyond it
    enc = entropy.FrameEncoder()
    planar._encode_weights(enc, weights)
    with pytest.raises(FormatError, match="refinement weight -2048"):
        planar._decode_weights(entropy.FrameDecoder(enc.finish()), True)


def test_weights_bits_are_what_the_coder_writes() -> None:
    """The encoder's estimate of a refinement's cost against the range coder's output, within the
    coder's rounding to whole 32-bit words; no refinement costs the flag only."""
    rng = np.random.default_rng(9)
    weights = np.round(rng.laplace(0, 60, (G, F))).astype(np.int64)
    enc = entropy.FrameEncoder()
    planar._encode_weights(enc, weights)
    assert len(enc.finish()) * 8 == pytest.approx(planar._weights_bits(weights), abs=40)
    assert planar._weights_bits(raster_rule.NO_REFINEMENT) == 1.0


def test_version_12_planar_stream_still_decodes() -> None:
    """tests/data/v12_planar.fpc: the version-12 encoder (commit 864f450, `last-frame`) on
    bikes_yuv420p_64x48.mkv, with raster frames (kinds 2 and 3) without refinement: decoded sample
    for sample; read as version 13, its raster frames fail."""
    data = assert_planar_fixture_decodes("v12_planar.fpc", 12, "bikes_yuv420p_64x48.mkv")
    relabelled = data[:8] + (13).to_bytes(2, "little") + data[10:]
    with pytest.raises(FormatError):
        list(Decoder(io.BytesIO(relabelled)).frames())


def test_a_sure_refinement_is_not_costed_unrefined_too(monkeypatch) -> None:
    """Where the fit promises at least SURE_REFINEMENT times its weights' bits, the encoder costs
    the plane refined only (one error-level fit instead of two) and gets the same candidate as
    when it costs both; below that it costs both."""
    h, w = 64, 96
    cur, mc = _shifted(h, w)
    order, neighbours, mean, ctx = raster_rule.plane_rule(cur, h, w, 8, mc)
    fit = refinement.fit(cur, mc, neighbours, order, w, mean, ctx, 8)
    assert fit.gain_bits >= planar.SURE_REFINEMENT * planar._weights_bits(fit.weights)
    calls: list[int] = []
    real = planar._fit_plane
    monkeypatch.setattr(planar, "_fit_plane", lambda *args: calls.append(1) or real(*args))
    sure = _candidate(cur, mc, h, w)
    assert len(calls) == 1
    monkeypatch.setattr(planar, "SURE_REFINEMENT", float("inf"))
    both = _candidate(cur, mc, h, w)
    assert len(calls) == 3
    assert sure.bits == both.bits
    np.testing.assert_array_equal(sure.weights[0], both.weights[0])
