"""Format version 13's motion field coding (FORMAT.md, "Motion field"; codec/motion_field.py): the
prediction and contexts by hand, round trips of fields of every shape and reference count
(extreme vectors included), the encoder's estimate against the coded size, the header's and the
vectors' checks, and what it saves against the intra planes of versions 7 to 12."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.bitstream import entropy
from fpcodec.bitstream.errors import FormatError
from fpcodec.codec import motion_field, raster_rule
from fpcodec.codec.modes import planar


def _round_trip(
    vy: np.ndarray, vx: np.ndarray, ref: np.ndarray, references: int, compiled: bool = False
) -> tuple:
    field = motion_field.plan(vy, vx, ref, references)
    enc = entropy.FrameEncoder(compiled=compiled)
    motion_field.write_header(enc, field)
    motion_field.write_symbols(enc, field)
    data = enc.finish()
    if compiled:  # the compiled encoder's one call writes constriction's words
        reference = entropy.FrameEncoder()
        motion_field.write_header(reference, field)
        motion_field.write_symbols(reference, field)
        assert data == reference.finish()
    dec = entropy.FrameDecoder(data, compiled=compiled)
    header = motion_field.read_header(dec, references)
    return field, data, motion_field.read_symbols(dec, header, *vy.shape)


def test_prediction_and_contexts_by_hand() -> None:
    """A 2x3 field in wavefront order (x + 2y): block (1, 1) has a = (1, 0), b = (0, 1),
    d = (0, 2): its prediction is the median per component of (vy, vx) = (4, 0), (5, 6), (9, -2):
    (5, 0); a and b both differ from it (flag context 0); activity |4-5| + |5-9| + |0-6| + |6+2|
    = 19 -> thresholds 1, 3, 8 -> context 3."""
    vy = np.array([[1, 5, 9], [4, 0, 0]])
    vx = np.array([[1, 6, -2], [0, 0, 0]])
    fronts = raster_rule.wavefronts(2, 3)
    values = np.stack([vy.ravel(), vx.ravel()]).astype(np.int64)
    values = np.concatenate([values, np.zeros((2, 1), np.int64)], axis=1)  # a missing neighbour: 0
    neighbours = np.concatenate(fronts.neighbours, axis=1)
    prediction, flag_ctx, act_ctx = motion_field._predict(values, neighbours)
    k = int(np.flatnonzero(fronts.order == 4)[0])  # block (1, 1)
    assert neighbours[[0, 1, 3], k].tolist() == [3, 1, 2]
    assert prediction[:, k].tolist() == [5, 0] and flag_ctx[k] == 0 and act_ctx[k] == 3
    first = int(np.flatnonzero(fronts.order == 0)[0])  # no neighbours: all read (0, 0)
    assert prediction[:, first].tolist() == [0, 0] and flag_ctx[first] == 2 and act_ctx[first] == 0


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("references", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (7, 13), (34, 80)])
def test_fields_round_trip(shape: tuple[int, int], references: int, compiled: bool) -> None:
    """Piecewise-constant fields with noise, the extremes +-127 and wrapping differences (254
    apart), and random references, coded and decoded back exactly, by the Python steps through
    constriction and by the compiled kernels (``range_encoder.RangeEncoder.encode_batches``, the
    same words; ``motion_kernel.read_field``); the estimate is the coded size within the
    coder's rounding (whole 32-bit words) and the header's."""
    rng = np.random.default_rng(shape[0] * 7 + references)
    h, w = shape
    vy = np.repeat(rng.integers(-20, 21, (h, 1)), w, axis=1) + (rng.random((h, w)) < 0.2) * rng.integers(
        -3, 4, (h, w)
    )
    vx = np.where(rng.random((h, w)) < 0.1, rng.choice([-127, 127], (h, w)), 2 * np.arange(w) % 9 - 4)
    ref = rng.integers(0, references, (h, w))
    field, data, (got_y, got_x, got_ref) = _round_trip(vy, vx, ref, references, compiled)
    np.testing.assert_array_equal(got_y, vy)
    np.testing.assert_array_equal(got_x, vx)
    np.testing.assert_array_equal(got_ref, ref if references > 1 else 0)
    assert 8 * len(data) == pytest.approx(field.bits, abs=64 + 0.02 * field.bits)


def test_a_zero_probability_is_refused() -> None:
    enc = entropy.FrameEncoder()
    enc.encode_categorical(np.array([0, 5, 9]), np.ones((3, motion_field.PROBABILITY_ONE)))
    enc.encode_categorical(np.zeros(motion_field.ACTIVITY_CONTEXTS, np.int64), np.ones((5, 64)))
    with pytest.raises(FormatError, match="probability of 0"):
        motion_field.read_header(entropy.FrameDecoder(enc.finish()), 1)


def test_a_vector_of_minus_128_is_refused() -> None:
    """The differences wrap, so a stream can spell -128 (not a vector the format allows): the
    planar decoder refuses the frame."""
    h, w = 8, 8
    flat = [np.full(h * w, 100, np.int64)]
    field = motion_field.plan(np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), 1)
    forged = motion_field.FieldCode(
        field.bits,
        1,
        field.flag_q,
        field.scales,
        field.reference_q,
        flags=np.zeros(1, np.int64),
        flag_ctx=np.zeros(1, np.int64),
        flag_starts=np.array([0, 1]),
        differences=np.zeros((2, 1), np.int64),
        activity=np.zeros(1, np.int64),
        picks=np.zeros(0, np.int64),
        moved_starts=np.array([0, 1]),
    )
    cand = planar._joined(forged, planar._plan(planar.KIND_INTER, flat, flat, [(h, w, 8)]))
    ref = np.full((h, w), 100, np.uint8)
    with pytest.raises(FormatError, match="motion vector component 128"):
        planar.decode(planar.encode(cand), [[ref]], [planar.PlaneGeometry(h, w)])


def test_a_smooth_field_costs_less_than_as_intra_planes() -> None:
    """Two regions moving apart, their edge ragged, a little noise (the shape of a once-MPEG-coded
    video's field): fewer bits than the intra planes of versions 7 to 12 on the same field."""
    rng = np.random.default_rng(5)
    h, w = 30, 40
    ys, xs = np.mgrid[0:h, 0:w]
    left = xs < 18 + rng.integers(-2, 3, (h, 1))
    vy = np.where(left, -6, 11) + (rng.random((h, w)) < 0.1) * rng.integers(-2, 3, (h, w))
    vx = np.where(left, 3, -9) + (rng.random((h, w)) < 0.1) * rng.integers(-2, 3, (h, w))
    ref = np.where(left, 0, 1)
    new = motion_field.plan(vy, vx, ref, 2).bits
    planes = [(v + planar.FIELD_OFFSET).ravel().astype(np.int64) for v in (vy, vx)] + [ref.ravel()]
    old = planar._plan(planar.KIND_INTER, planes, [None] * 3, [(h, w, 8)] * 3).bits
    assert new < 0.8 * old
