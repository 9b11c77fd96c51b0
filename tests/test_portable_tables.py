"""Format v3's coding tables: integers from literal constants, no maths-library calls on the decode path."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.bitstream import entropy
from fpcodec.codec import decode, encode
from fpcodec.codec import frame_coding as fc
from fpcodec.codec.modes import rgb_inter
from fpcodec.codec.modes.base import shifted
from fpcodec.models.base import Prediction

from conftest import assert_frames_equal


def test_cdf_table_is_the_rounded_laplace_cdf_and_has_the_recorded_hash() -> None:
    table = entropy.cdf_table()  # raises TableMismatchError if the SHA-256 differs
    k = np.arange(-entropy.CDF_HALF, entropy.CDF_HALF + 1) / entropy.MEAN_STEPS
    b = entropy.SCALE_TABLE[:, None]
    with np.errstate(over="ignore"):
        cdf = np.where(k < 0, 0.5 * np.exp(np.minimum(k, 0) / b), 1 - 0.5 * np.exp(-np.maximum(k, 0) / b))
    assert np.abs(table - np.floor(cdf * entropy.CDF_TOTAL + 0.5)).max() <= 1
    assert (np.diff(table, axis=1) >= 0).all()
    assert table.dtype == np.int64 and not table.flags.writeable


def test_bin_table_is_the_cdf_between_a_values_bin_edges() -> None:
    """Column BIN_SPAN + j: C(j + 8) - C(j - 8) + 1, the count of an interior value 16 v - mean = j
    sixteenths from its mean, for every scale and offset (gathered here column by column)."""
    c, bins = entropy.cdf_table(), entropy.bin_table()
    j = np.arange(-entropy.BIN_SPAN, entropy.BIN_SPAN + 1)
    half = entropy.MEAN_STEPS // 2
    want = c[:, entropy.CDF_HALF + j + half] - c[:, entropy.CDF_HALF + j - half] + 1
    assert bins.dtype == np.int32 and bins.flags.c_contiguous and not bins.flags.writeable
    assert np.array_equal(bins, want)
    mean_q, v = np.array([1000]), np.array([70])  # an interior value 120 sixteenths above its mean
    assert entropy.value_counts(v, mean_q, np.array([40]))[0] == bins[40, entropy.BIN_SPAN + 16 * 70 - 1000]


def test_scale_literals_are_the_documented_values() -> None:
    expected = np.exp(np.linspace(np.log(0.04), np.log(160.0), 64))
    np.testing.assert_allclose(entropy.SCALE_TABLE, expected, rtol=1e-14)
    np.testing.assert_allclose(entropy.SCALE_BOUNDS, np.sqrt(expected[:-1] * expected[1:]), rtol=1e-14)
    idx = np.arange(64)
    assert (entropy.quantize_scale(entropy.SCALE_TABLE) == idx).all()
    assert (entropy.quantize_scale(entropy.SCALE_TABLE.astype(np.float32)) == idx).all()
    assert (entropy.quantize_scale(entropy.SCALE_BOUNDS) == idx[:-1]).all()  # a boundary rounds down
    assert (entropy.quantize_scale(np.nextafter(entropy.SCALE_BOUNDS, np.inf)) == idx[1:]).all()
    assert entropy.quantize_scale(np.array([0.0, 1e-9, 1e9])).tolist() == [0, 0, 63]


def test_quantize_scale_is_searchsorted_everywhere() -> None:
    """The bucketed look-up gives numpy's search of the literal bounds for every float: each bucket
    edge and its neighbours, the bounds and theirs, values far below and above the table,
    negative and zero, subnormal, infinite and NaN of either sign (numpy sorts NaN last)."""
    first, below, _ = entropy._scale_buckets()
    edges = (np.arange(first - 2, first + below.size + 2, dtype=np.int64) << entropy._BUCKET_SHIFT).view(
        np.float64
    )
    bounds = entropy.SCALE_BOUNDS
    rng = np.random.default_rng(9)
    special = [0.0, -0.0, -1.0, 5e-324, 1e-310, 1e300, -1e300, np.inf, -np.inf, np.nan, -np.nan]
    values = np.concatenate(
        [
            edges,
            np.nextafter(edges, 0),
            np.nextafter(edges, np.inf),
            bounds,
            np.nextafter(bounds, 0),
            np.nextafter(bounds, np.inf),
            np.exp(rng.uniform(-40, 40, 20000)),
            special,
        ]
    )
    assert np.isnan(values).sum() == 2 and np.signbit(values[np.isnan(values)]).any()
    got = entropy.quantize_scale(values)
    assert got.dtype == np.int32
    assert np.array_equal(got, np.searchsorted(bounds, values))
    assert np.diff(below).max() == 1  # no bucket holds two bounds: one comparison settles each value


def test_quantize_scale_in_blocks_is_searchsorted_on_the_whole_array(monkeypatch) -> None:
    """Arrays above its block go in blocks (no whole-frame float64 copy): the same indices, the
    same shape, from float32 and float64, contiguous or not, the bounds and their neighbours too."""
    monkeypatch.setattr(entropy, "_QUANTIZE_BLOCK", 7)
    rng = np.random.default_rng(5)
    bounds = entropy.SCALE_BOUNDS
    values = np.concatenate([bounds, np.nextafter(bounds, np.inf), np.exp(rng.uniform(-4, 6, 300))])
    for x in (values, values.astype(np.float32), values.reshape(3, -1), values.reshape(3, -1)[:, ::2]):
        got = entropy.quantize_scale(x)
        want = np.searchsorted(bounds, np.asarray(x, np.float64))
        assert got.dtype == np.int32 and got.shape == x.shape and np.array_equal(got, want)
    assert entropy.quantize_scale(np.float64(0.6)).ndim == 0


@pytest.mark.parametrize("lo,hi", [(0, 255), (-255, 255)])
def test_count_rows_sum_to_the_fixed_total_and_agree_with_value_counts(lo: int, hi: int) -> None:
    rng = np.random.default_rng(3)
    values = np.arange(lo, hi + 1)
    mean_q = rng.integers(0, 4081, (200, 1)) if lo == 0 else np.zeros((200, 1), np.int64)
    scale_idx = rng.integers(0, 64, (200, 1))
    rows = entropy.count_rows(values, mean_q, scale_idx, lo, hi)
    assert (rows >= 1).all()
    assert (rows.sum(axis=1) == entropy.CDF_TOTAL + hi - lo + 1).all()
    np.testing.assert_array_equal(rows, entropy.value_counts(values[None, :], mean_q, scale_idx, lo, hi))


def test_table_bits_track_the_continuous_laplace() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, 5000)
    mean_q = np.clip(x * 16 + rng.integers(-200, 200, 5000), 0, 4080)
    scale_idx = rng.integers(35, 64, 5000)  # b >= 4: where the 2^-20 resolution does not bind
    np.testing.assert_allclose(
        entropy.table_bits(x, mean_q, scale_idx).sum(),
        entropy.laplace_bits(x, mean_q, scale_idx).sum(),
        rtol=2e-3,
    )


def test_rgb_payload_is_the_table_code_length() -> None:
    rng = np.random.default_rng(5)
    h, w = 40, 48
    truth = rng.integers(0, 256, (3, h, w)).astype(np.uint8)
    mean = np.clip(truth.astype(np.float32) + rng.laplace(0, 3, truth.shape), 0, 255).astype(np.float32)
    pred = Prediction(mean=mean, scale=np.full(truth.shape, 3.0, np.float32))
    coded = fc.encode_frame(np.moveaxis(truth, 0, -1), pred, use_palette=False)
    assert coded.mode == fc.MODE_INTER
    mean_q, scale_idx = rgb_inter.params(truth, pred)
    ideal = entropy.table_bits(truth, mean_q, shifted(scale_idx, coded.scale_shift)).sum()
    assert ideal <= 8 * len(coded.payload) <= 1.01 * ideal + 64
    back = fc.decode_frame(coded, pred, h, w, 3)
    assert np.array_equal(back, np.moveaxis(truth, 0, -1))


_TRANSCENDENTAL = (
    "exp",
    "exp2",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "cosh",
    "sinh",
    "tanh",
    "logaddexp",
    "logaddexp2",
    "float_power",
)


def _videos() -> list[list[np.ndarray]]:
    rng = np.random.default_rng(6)
    noisy = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(3)]  # > 256 colours: RGB
    pal = rng.integers(0, 256, (12, 3), dtype=np.uint8)
    idx = rng.integers(0, 12, (20, 24))
    paletted = []
    for _ in range(4):
        idx = np.where(rng.random(idx.shape) < 0.2, rng.integers(0, 12, idx.shape), idx)
        paletted.append(pal[idx])
    return [noisy, paletted]


@pytest.mark.parametrize("model", ["last-frame", "convlstm-hybrid-int"])
def test_decoding_calls_no_transcendental_numpy_function(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    """The decoder of a version-3 stream computes every probability from integers and tables: with
    numpy's exp/log family replaced by a trap, decoding still works (the encoder may use them for
    its estimates, so it runs first)."""
    streams = [(encode(v, model=model), v) for v in _videos()]
    entropy.cdf_table()  # built at first use; built from literals, but build it outside the trap

    def trap(*args, **kwargs):
        raise AssertionError("a transcendental numpy function ran on the decode path")

    for name in _TRANSCENDENTAL:
        monkeypatch.setattr(np, name, trap)
    for data, frames in streams:
        assert_frames_equal(decode(data).frames, frames)
