"""Format version 4: integer colour coupling (``entropy.coupled_mean_q``), the compiled palette
weight kernel that applies it, and version-3 streams (float32 coupling) still decoding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fpcodec.bitstream import entropy
from fpcodec.bitstream.profile import FormatProfile
from fpcodec.codec import decode
from fpcodec.codec import palette_coding as pc
from fpcodec.codec import weight_kernel

from conftest import assert_old_stream_decodes

DATA = Path(__file__).parent / "data"


def _round_half_up_16(x: Fraction) -> int:
    """x (pixels) to the nearest 1/16, halves up, clamped to 0..4080."""
    q = (x * 16 + Fraction(1, 2)).__floor__()
    return min(max(q, 0), 4080)


def _extreme_params(rng: np.random.Generator, channels: int, n: int):
    mean_q = rng.integers(0, 4081, (channels, n)).astype(np.int32)
    coupling_q = rng.integers(-512, 513, (3, n)).astype(np.int32)
    values = rng.integers(0, 256, (channels, n)).astype(np.uint8)
    e = n // 2  # the second half at the extremes of every range
    mean_q[:, e:] = rng.choice([0, 1, 4079, 4080], (channels, n - e))
    coupling_q[:, e:] = rng.choice([-512, -511, 511, 512], (3, n - e))
    values[:, e:] = rng.choice([0, 1, 254, 255], (channels, n - e))
    return mean_q, coupling_q, values


def test_coupled_means_are_the_exact_rational_rounded() -> None:
    """The integer rule is mean + coefficient x residual, computed in exact rationals and rounded
    half up to 1/16: G on R's residual, B on R's and on G's residual from G's coupled mean."""
    rng = np.random.default_rng(0)
    mean_q, coupling_q, values = _extreme_params(rng, 3, 3000)
    g = entropy.coupled_mean_q(mean_q, coupling_q, 1, values)
    b = entropy.coupled_mean_q(mean_q, coupling_q, 2, values)
    assert g.dtype == b.dtype == np.int32
    assert np.array_equal(entropy.coupled_mean_q(mean_q, coupling_q, 0, values), mean_q[0])
    for i in range(values.shape[1]):
        m = [Fraction(int(v), 16) for v in mean_q[:, i]]
        k = [Fraction(int(v), 256) for v in coupling_q[:, i]]
        r = int(values[0, i]) - m[0]
        g_exact = _round_half_up_16(m[1] + k[0] * r)
        assert g[i] == g_exact
        b_exact = _round_half_up_16(m[2] + k[1] * r + k[2] * (int(values[1, i]) - Fraction(g_exact, 16)))
        assert b[i] == b_exact


def test_uncoupled_and_alpha_means_pass_through() -> None:
    rng = np.random.default_rng(1)
    mean_q, coupling_q, values = _extreme_params(rng, 4, 200)
    for c in range(4):
        assert np.array_equal(entropy.coupled_mean_q(mean_q, None, c, values), mean_q[c])
    assert np.array_equal(entropy.coupled_mean_q(mean_q, coupling_q, 3, values), mean_q[3])
    zero = np.zeros_like(coupling_q)
    for c in range(3):  # zero coefficients give the plain means
        assert np.array_equal(entropy.coupled_mean_q(mean_q, zero, c, values), mean_q[c])


def test_quantize_coupling_grid_and_clamp() -> None:
    c = np.array([0.0, 1 / 256, -1 / 256, 0.4 / 256, 2.0, -2.0, 3.7, -9.0, 1.25], np.float32)
    assert entropy.quantize_coupling(c).tolist() == [0, 1, -1, 0, 512, -512, 512, -512, 320]


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("k", [1, 2, 37, 256])
def test_kernel_equals_the_numpy_rule(channels: int, k: int) -> None:
    rng = np.random.default_rng(k * channels)
    n = 700
    mean_q, coupling_q, _ = _extreme_params(rng, channels, n)
    scale_idx = rng.integers(0, len(entropy.SCALE_TABLE), (channels, n)).astype(np.int32)
    scale_idx[:, :50] = rng.choice([0, len(entropy.SCALE_TABLE) - 1], (channels, 50))
    palette = rng.integers(0, 256, (k, channels)).astype(np.uint8)
    corners = np.array([[0] * channels, [255] * channels, [0, 255, 0, 255][:channels]])
    palette[: min(k, 3)] = corners[: min(k, 3)]
    got = weight_kernel.colour_weights(mean_q, coupling_q, scale_idx, palette, pc.WEIGHT_SHIFT)
    want = pc.colour_weights_reference(mean_q, coupling_q, scale_idx, palette)
    assert got.shape == (n, k) and got.dtype == np.float64
    assert np.array_equal(got, want)
    assert got.min() >= 1 and got.max() < 2.0**21  # every colour possible; row sums exact
    # the encoder's estimate: the true colour's weight and the row sum, without the rows
    truth = rng.integers(0, k, n)
    own, total = weight_kernel.true_weights(mean_q, coupling_q, scale_idx, palette, pc.WEIGHT_SHIFT, truth)
    assert np.array_equal(own, want[np.arange(n), truth]) and np.array_equal(total, want.sum(axis=1))


@pytest.mark.parametrize("channels", [3, 4])
def test_kernel_clamps_planes_out_of_range_as_quantizing_does(channels: int) -> None:
    """Means past 0..4080 (1/16) and coupling past +-512 (1/256) weigh as their clamped values,
    whether the planes come as int16 (read as they are, clamped in the kernel) or wider (clamped
    before): what ``palette_coding._snapped`` gave the kernels before they clamped themselves."""
    rng = np.random.default_rng(11 + channels)
    n, k = 400, 60
    mean_q = rng.integers(-3000, 8000, (channels, n)).astype(np.int16)
    coupling_q = rng.integers(-1500, 1500, (3, n)).astype(np.int16)
    scale_idx = rng.integers(0, len(entropy.SCALE_TABLE), (channels, n)).astype(np.int16)
    palette = rng.integers(0, 256, (k, channels)).astype(np.uint8)
    clamped = (np.clip(mean_q, 0, entropy.MEAN_Q_MAX), np.clip(coupling_q, -512, 512))
    assert (mean_q != clamped[0]).mean() > 0.3 and (coupling_q != clamped[1]).mean() > 0.3
    want = pc.colour_weights_reference(*clamped, scale_idx, palette)
    truth = rng.integers(0, k, n)
    for planes in ((mean_q, coupling_q), (mean_q.astype(np.int32), coupling_q.astype(np.int64))):
        got = weight_kernel.colour_weights(*planes, scale_idx, palette, pc.WEIGHT_SHIFT)
        assert np.array_equal(got, want)
        own, total = weight_kernel.true_weights(*planes, scale_idx, palette, pc.WEIGHT_SHIFT, truth)
        assert np.array_equal(own, want[np.arange(n), truth]) and np.array_equal(total, want.sum(axis=1))
    assert np.array_equal(pc.colour_weights(mean_q, coupling_q, scale_idx, palette), want)


def test_snapped_means_are_quantize_means() -> None:
    """Float32 means (palette intra's) to int16 in 1/16 as ``entropy.quantize_mean`` gives them:
    ties rounded to even, values past 0..255 clamped (as far as float32 goes), a block that is a
    slice of its pass's planes; and the weights of such a block are those of its quantized means."""
    rng = np.random.default_rng(8)
    mean = (rng.random((3, 3000)) * 300 - 20).astype(np.float32)
    mean[0, :40] = np.arange(40) / 32  # every other value a tie in 1/16
    mean[1, :4] = (3e38, -3e38, 255 + 1 / 32, -1 / 32)
    for block in (mean, mean[:, 100:900]):
        got = weight_kernel.snapped_means(block)
        assert got.dtype == np.int16 and np.array_equal(got, entropy.quantize_mean(block))
    with pytest.raises(ValueError, match="channels, pixels"):
        weight_kernel.snapped_means(mean[0])
    scale_idx = rng.integers(0, len(entropy.SCALE_TABLE), (3, 800))
    palette = rng.integers(0, 256, (40, 3)).astype(np.uint8)
    want = pc.colour_weights_reference(
        entropy.quantize_mean(mean[:, :800]), np.zeros((3, 800), np.int32), scale_idx, palette
    )
    assert np.array_equal(pc.colour_weights(mean[:, :800], None, scale_idx, palette), want)


def test_red_windows_hold_every_colour_weighing_more_than_1() -> None:
    """Outside the red window of red's, green's and blue's scales, red's frequency times green's
    and blue's largest, shifted after each product, is 0 (the kernels give those colours 1
    unseen); at the window's ends it is not (the window is no wider than it must be)."""
    bins = entropy.bin_table().astype(np.int64)
    top = bins.max(axis=1)
    lo, hi = weight_kernel._windows(pc.WEIGHT_SHIFT)
    shift = pc.WEIGHT_SHIFT
    for s_r in range(len(bins)):
        for s_g in range(s_r % 5, len(bins), 5):
            for s_b in range(s_r % 7, len(bins), 7):
                above = ((bins[s_r] * top[s_g]) >> shift) * top[s_b] >> shift > 0
                window = slice(lo[s_r, s_g, s_b] + entropy.BIN_SPAN, hi[s_r, s_g, s_b] + entropy.BIN_SPAN + 1)
                assert above.sum() == above[window].sum()
                if above.any():
                    assert above[window.start] and above[window.stop - 1]
                else:
                    assert lo[s_r, s_g, s_b] > hi[s_r, s_g, s_b]
    assert (hi - lo)[0, 0, 0] <= 32 < (hi - lo)[30, 30, 30] and lo[-1, -1, -1] > hi[-1, -1, -1]


@pytest.mark.parametrize("channels", [3, 4])
def test_kernel_at_the_window_edges_equals_the_numpy_rule(channels: int) -> None:
    """Every red value in the palette (green at both ends too) and every pair of scales, means
    at every sixteenth of a level: colours just inside and just outside each pixel's window."""
    rng = np.random.default_rng(channels)
    scales = len(entropy.SCALE_TABLE)
    s_r, s_g = np.meshgrid(np.arange(scales), np.arange(scales))
    n = s_r.size
    scale_idx = rng.integers(0, scales, (channels, n)).astype(np.int32)
    scale_idx[0], scale_idx[1] = s_r.ravel(), s_g.ravel()
    mean_q = rng.integers(0, 4081, (channels, n)).astype(np.int32)
    mean_q[0] = np.arange(n) % 4081
    mean_q[1:] = rng.integers(1800, 2300, (channels - 1, n))  # near the palette's other channels
    coupling_q = rng.integers(-512, 513, (3, n)).astype(np.int32)
    coupling_q[:, : n // 2] = 0
    palette = rng.integers(110, 145, (256, channels)).astype(np.uint8)
    palette[:, 0] = rng.permutation(256)
    palette[:4, 1] = [0, 255, 0, 255]
    got = weight_kernel.colour_weights(mean_q, coupling_q, scale_idx, palette, pc.WEIGHT_SHIFT)
    want = pc.colour_weights_reference(mean_q, coupling_q, scale_idx, palette)
    assert np.array_equal(got, want)
    assert (want > 1).sum() > 1000, (want > 1).sum()  # not a test of rows of 1s
    truth = rng.integers(-1, 257, n)  # outside the palette too: own weight 0
    own, total = weight_kernel.true_weights(mean_q, coupling_q, scale_idx, palette, pc.WEIGHT_SHIFT, truth)
    inside = (truth >= 0) & (truth < 256)
    assert np.array_equal(total, want.sum(axis=1))
    assert np.array_equal(own[inside], want[np.flatnonzero(inside), truth[inside]]) and not own[~inside].any()


def test_colours_at_the_window_ends_keep_their_weights() -> None:
    """Pixels whose red mean puts a colour exactly at its window's ends (and one step outside),
    green and blue at the peaks of their bins: the products there are at the bound, the weights
    above 1 inside and 1 outside, as the numpy rule has them."""
    bins = entropy.bin_table()
    lo, hi = weight_kernel._windows(pc.WEIGHT_SHIFT)
    palette = np.array([[100, 120, 140]], np.uint8)
    v16 = palette[0].astype(np.int64) * 16
    peak = np.argmax(bins, axis=1) - entropy.BIN_SPAN
    cols = []
    for s_r in range(0, len(bins), 3):
        for s_g in range(s_r % 4, len(bins), 4):
            for s_b in range(s_r % 5, len(bins), 5):
                if lo[s_r, s_g, s_b] > hi[s_r, s_g, s_b]:
                    continue
                low, high = lo[s_r, s_g, s_b], hi[s_r, s_g, s_b]
                r16 = np.array([low - 1, low, high, high + 1], np.int64)
                ends = v16[0] - r16
                if 0 <= ends.min() and ends.max() <= entropy.MEAN_Q_MAX:  # the means a pixel can have
                    cols += [(m, v16[1] - peak[s_g], v16[2] - peak[s_b], s_r, s_g, s_b) for m in ends]
    mean_r, mean_g, mean_b, s_r, s_g, s_b = np.array(cols).T
    mean_q = np.stack([mean_r, mean_g, mean_b]).astype(np.int32)
    scale_idx = np.stack([s_r, s_g, s_b]).astype(np.int32)
    coupling_q = np.zeros_like(mean_q)
    got = weight_kernel.colour_weights(mean_q, coupling_q, scale_idx, palette, pc.WEIGHT_SHIFT)
    want = pc.colour_weights_reference(mean_q, coupling_q, scale_idx, palette)
    assert np.array_equal(got, want) and len(want) > 1000
    by_group = want[:, 0].reshape(-1, 4)
    assert (by_group[:, 1:3] > 1).all() and (by_group[:, [0, 3]] == 1).all()
    truth = np.zeros(len(want), np.int64)
    own, total = weight_kernel.true_weights(mean_q, coupling_q, scale_idx, palette, pc.WEIGHT_SHIFT, truth)
    assert np.array_equal(own, want[:, 0]) and np.array_equal(total, want[:, 0])


def test_kernel_on_no_pixels() -> None:
    z = np.zeros((3, 0), np.int32)
    out = weight_kernel.colour_weights(z, z, z, np.zeros((5, 3), np.uint8), pc.WEIGHT_SHIFT)
    assert out.shape == (0, 5)


def test_keep_weights_are_the_colour_weights_of_the_own_colour() -> None:
    rng = np.random.default_rng(3)
    n, k = 300, 40
    mean = (rng.integers(0, 4081, (3, n)) / 16).astype(np.float32)
    coupling = (rng.integers(-600, 601, (3, n)) / 256).astype(np.float32)  # some beyond the clamp
    scale_idx = rng.integers(0, 64, (3, n)).astype(np.int32)
    palette = rng.integers(0, 256, (k, 3)).astype(np.uint8)
    own = rng.integers(0, k, n)
    rows = pc.colour_weights(mean, coupling, scale_idx, palette)
    keep = pc.keep_weights(mean, coupling, scale_idx, palette[own].T)
    assert np.array_equal(keep, rows[np.arange(n), own])
    v3 = FormatProfile.for_version(3)
    legacy_rows = pc.colour_weights(mean, coupling, scale_idx, palette, v3)
    assert not np.array_equal(legacy_rows, rows)  # version 3's float coupling is another rule
    assert np.array_equal(
        pc.colour_weights(mean, None, scale_idx, palette),
        pc.colour_weights(mean, None, scale_idx, palette, v3),
    )


def test_version_3_stream_still_decodes() -> None:
    """tests/data/v3_stream.fpc was written by the version-3 encoder (commit 636aec5) with
    convlstm-hybrid-int, whose colour coupling was float32 then: a 32x32 crop of carphone_000's
    first frames (the last four with +-2 noise, so more than 256 colours), covering palette intra,
    palette inter, RGB inter and palette update."""
    assert_old_stream_decodes("v3_stream.fpc", 3)


def test_version_3_rule_read_as_version_4_fails_its_checksum() -> None:
    """The fixture's coupled frames need the version-3 rule: relabelled as version 4 (the framing is
    the same), a frame decodes differently and the per-frame CRC refuses it."""
    from fpcodec.bitstream.errors import ChecksumError

    data = bytearray((DATA / "v3_stream.fpc").read_bytes())
    data[8:10] = (4).to_bytes(2, "little")
    with pytest.raises(ChecksumError, match=r"frame \d+ does not match its checksum"):
        decode(bytes(data))


_FIRST_CALL = """
import sys
import numpy as np
from fpcodec.codec import weight_kernel
z = np.zeros((3, 4), np.int32)
out = weight_kernel.colour_weights(z, z, z, np.zeros((5, 3), np.uint8), 20)
assert out.shape == (4, 5)
assert "scipy.linalg" not in sys.modules, "scipy.linalg imported by the kernel's first call"
import scipy.linalg  # still importable afterwards
assert scipy.linalg.cython_blas is not None
print("ok")
"""


def test_first_kernel_call_leaves_scipy_linalg_unimported() -> None:
    """Loading the compiled kernel does not pay for scipy.linalg (numba imports it only to look for
    BLAS, which the kernel does not use), and scipy.linalg imports normally afterwards."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _FIRST_CALL], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_the_weights_kernel_adds_up_each_row_as_it_makes_it() -> None:
    """``colour_weights``' ``sums``: each row's exact sum, the same floats as summing the rows
    (colours at the ends of a channel's range and in the red window's middle alike), and the
    estimate's shares from them are ``true_shares``' of the rows."""
    from fpcodec.codec.modes import palette as pm

    rng = np.random.default_rng(5)
    palette = rng.integers(0, 256, (200, 3), dtype=np.uint8)
    palette[:4] = [[0, 9, 9], [255, 30, 40], [9, 0, 255], [128, 128, 128]]
    n = 3000
    mean = rng.uniform(-5, 260, (3, n)).astype(np.float32)
    coupling = rng.uniform(-1, 1, (3, n)).astype(np.float32)
    scale_idx = rng.integers(0, 40, (3, n)).astype(np.int32)
    sums = np.empty(n)
    rows = pc.colour_weights(mean, coupling, scale_idx, palette, sums=sums)
    assert np.array_equal(rows, pc.colour_weights(mean, coupling, scale_idx, palette))
    assert np.array_equal(sums, rows.sum(axis=1)) and (rows.min(axis=1) >= 1).all()
    truth = rng.integers(0, len(palette), n)
    inp = pm.PassInputs(np.arange(n), mean, coupling, scale_idx, np.zeros((0, n), np.int64))
    got = np.concatenate([shares for _, _, shares in pm.model_shares(inp, palette, truth)])
    assert np.array_equal(got, pc.true_shares(rows, truth))
    with pytest.raises(ValueError, match="row sums of 3000 rows"):
        pc.colour_weights(mean, coupling, scale_idx, palette, sums=np.empty(n - 1))
