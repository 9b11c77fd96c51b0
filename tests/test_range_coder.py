"""The compiled range decoder and encoder (bitstream/range_decoder.py, range_encoder.py) against
constriction itself: the same symbols from the same words, the same words from the same symbols,
under rows of every kind the codec makes, and the same refusals; and the planar frames decoded by
the compiled whole-plane kernels that drive the decoder, against the Python steps through
constriction."""

from __future__ import annotations

import io
from pathlib import Path

import constriction
import numba
import numpy as np
import pytest
from conftest import planar_payloads

from fpcodec.bitstream import entropy, range_decoder, range_encoder, table_kernel
from fpcodec.bitstream.errors import FormatError
from fpcodec.codec.modes import planar

DATA = Path(__file__).parent / "data"

CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


def _rows(rng: np.random.Generator, n: int, k: int, kind: str) -> np.ndarray:
    if kind == "integer":  # the planar and RGB rows: integer counts
        rows = rng.integers(0, 50, (n, k)).astype(np.float64)
        rows[:, 0] += 1
    elif kind == "peaked":  # palette rows after the votes: one colour nearly certain
        rows = rng.random((n, k)) ** 8 * 1000
        rows[np.arange(n), rng.integers(0, k, n)] += 1e6
    elif kind == "zeros":  # most entries exactly zero (escape rows with their window cleared)
        rows = np.where(rng.random((n, k)) < 0.8, 0.0, rng.random((n, k)))
        rows[:, -1] += 1.0
    else:
        rows = rng.random((n, k)) + 1e-12
    return rows


def _symbols(rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
    p = rows / rows.sum(axis=1, keepdims=True)
    return (p.cumsum(axis=1) < rng.random((rows.shape[0], 1))).sum(axis=1).clip(0, rows.shape[1] - 1)


@pytest.mark.parametrize("k", [2, 3, 17, 256, 511])
@pytest.mark.parametrize("kind", ["integer", "peaked", "zeros", "uniform"])
def test_same_symbols_as_constriction(k: int, kind: str) -> None:
    rng = np.random.default_rng(k * 7 + len(kind))
    rows = _rows(rng, 3000, k, kind)
    symbols = _symbols(rng, rows).astype(np.int32)
    symbols[:50] = rng.integers(0, k, 50)  # unlikely symbols too
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(symbols, CATEGORICAL, rows)
    words = enc.get_compressed()
    ours = range_decoder.RangeDecoder(words)
    got = np.concatenate([ours.decode_rows(rows[:1000]), ours.decode_rows(rows[1000:])])
    np.testing.assert_array_equal(got, symbols)


def _running_sums(rows: np.ndarray) -> np.ndarray:
    """Each row's entries summed left to right from 0.0, one add at a time (as the rows' kernel
    leaves them), not numpy's pairwise sums."""
    sums = np.empty_like(rows)
    total = np.zeros(rows.shape[0])
    for k in range(rows.shape[1]):
        total = total + rows[:, k]
        sums[:, k] = total
    return sums


@pytest.mark.parametrize("k", [2, 3, 17, 256, 511])
@pytest.mark.parametrize("kind", ["integer", "peaked", "zeros", "uniform"])
def test_running_sums_code_as_constriction_codes_the_rows(k: int, kind: str) -> None:
    """Rows handed over as their running sums (palette frames, ``decode_sums``/``encode_sums``):
    the symbols constriction decodes from its own words and the words it writes."""
    rng = np.random.default_rng(k * 5 + len(kind))
    rows = _rows(rng, 3000, k, kind)
    symbols = _symbols(rng, rows).astype(np.int32)
    symbols[:50] = rng.integers(0, k, 50)
    symbols[50:60] = k - 1  # the last symbol's interval ends at 2^24
    ref = constriction.stream.queue.RangeEncoder()
    ref.encode(symbols, CATEGORICAL, rows)
    sums = _running_sums(rows)
    ours = range_decoder.RangeDecoder(ref.get_compressed())
    got = np.concatenate([ours.decode_sums(sums[:1000]), ours.decode_sums(sums[1000:])])
    np.testing.assert_array_equal(got, symbols)
    enc = range_encoder.RangeEncoder()
    for start, stop in ((0, 1), (1, 700), (700, 3000)):
        enc.encode_sums(symbols[start:stop], sums[start:stop])
    np.testing.assert_array_equal(enc.words(), ref.get_compressed())


@pytest.mark.parametrize("k", [2, 3, 256])
@pytest.mark.parametrize("kind", ["integer", "peaked", "zeros"])
def test_hints_leave_the_decoded_symbols_and_state_as_they_are(k: int, kind: str) -> None:
    """``decode_sums``' hints (likely symbols tried before the bisection): right ones, wrong ones,
    -1, out of range, several in turn or none, the same symbols and the same state after them."""
    rng = np.random.default_rng(k + 7 * len(kind))
    rows = _rows(rng, 2000, k, kind)
    symbols = _symbols(rng, rows).astype(np.int32)
    symbols[:20] = 0
    symbols[20:40] = k - 1  # the first and the last interval
    ref = constriction.stream.queue.RangeEncoder()
    ref.encode(symbols, CATEGORICAL, rows)
    words = ref.get_compressed()
    sums = _running_sums(rows)
    right = symbols.copy()
    wrong = (symbols + rng.integers(1, k, symbols.size)) % k
    odd = rng.choice(np.array([-1, k, k + 5, -7]), symbols.size)
    mixed = np.where(rng.random(symbols.size) < 0.5, right, wrong)
    plain = range_decoder.RangeDecoder(words)
    want = plain.decode_sums(sums)
    np.testing.assert_array_equal(want, symbols)
    for hints in (
        [right],
        [wrong],
        [odd],
        [mixed],
        [wrong, odd, right],
        [odd, wrong],
        np.stack([wrong, mixed]),
    ):
        ours = range_decoder.RangeDecoder(words)
        got = np.concatenate(
            [
                ours.decode_sums(sums[:777], [h[:777] for h in hints]),
                ours.decode_sums(sums[777:], [h[777:] for h in hints]),
            ]
        )
        np.testing.assert_array_equal(got, symbols)
        np.testing.assert_array_equal(ours.state, plain.state)
    with pytest.raises(ValueError, match="hints of shape"):
        range_decoder.RangeDecoder(words).decode_sums(sums[:10], [right[:9]])


@pytest.mark.parametrize("clip", ["carphonew_000_5f.gif", "jmeter_url_rewrite.gif"])
def test_palette_frames_code_the_same_through_constriction(monkeypatch, clip: str) -> None:
    """Palette frames are coded by the compiled coder from their rows' running sums: a real GIF's
    stream is the one constriction writes from the rows themselves, byte for byte, and constriction
    decodes it to the same frames (both ways round)."""
    from conftest import encode_frames, read_video

    from fpcodec.codec import Decoder

    frames, _, _ = read_video(DATA / clip)
    frames = frames[:4]
    compiled = encode_frames(frames)
    ours = [f.pixels for f in Decoder(io.BytesIO(compiled))]

    class ConstrictionEncoder(entropy.FrameEncoder):
        def __init__(self, profile=entropy.CURRENT, compiled: bool = False) -> None:
            super().__init__(profile, compiled=False)

    class ConstrictionDecoder(entropy.FrameDecoder):
        def __init__(self, payload, profile=entropy.CURRENT, compiled: bool = False) -> None:
            super().__init__(payload, profile, compiled=False)

    monkeypatch.setattr(entropy, "FrameEncoder", ConstrictionEncoder)
    monkeypatch.setattr(entropy, "FrameDecoder", ConstrictionDecoder)
    assert encode_frames(frames) == compiled
    theirs = [f.pixels for f in Decoder(io.BytesIO(compiled))]
    assert len(theirs) == len(ours) == len(frames)
    for a, b, f in zip(ours, theirs, frames, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, f)


def test_running_sums_need_the_compiled_coder() -> None:
    with pytest.raises(ValueError, match="compiled"):
        entropy.FrameEncoder().encode_sums(np.zeros(1, np.int64), np.ones((1, 2)))
    with pytest.raises(ValueError, match="compiled"):
        entropy.FrameDecoder(b"\0" * 8).decode_sums(np.ones((1, 2)))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("given", ["rows", "running sums"])
def test_garbage_words_read_as_constriction_reads_them(seed: int, given: str) -> None:
    """On words no encoder wrote, both decode the same symbols, or both refuse: from the rows
    (``decode_rows``) and from their running sums (``decode_sums``' bisection)."""
    rng = np.random.default_rng(seed)
    k = [2, 5, 40, 256][seed % 4]
    rows = _rows(rng, 400, k, ["integer", "peaked", "zeros", "uniform"][seed % 4])
    words = rng.integers(0, 2**32, rng.integers(0, 40), dtype=np.uint64).astype(np.uint32)
    try:
        expected = constriction.stream.queue.RangeDecoder(words).decode(CATEGORICAL, rows)
    except Exception:
        expected = None
    try:
        ours = range_decoder.RangeDecoder(words)
        got = ours.decode_rows(rows) if given == "rows" else ours.decode_sums(_running_sums(rows))
    except FormatError:
        got = None
    if expected is None:
        assert got is None
    else:
        np.testing.assert_array_equal(got, expected)


def test_fixed_row_and_frame_decoder_mirror_the_encoder() -> None:
    """``FrameDecoder`` (ours) reads what ``FrameEncoder`` (constriction) wrote: table rows,
    signed values under one fixed row and categorical rows, in one payload."""
    rng = np.random.default_rng(5)
    values = rng.integers(0, 256, 5000)
    mean_q = np.clip(values * 16 + rng.integers(-200, 200, values.size), 0, 4080)
    scale_idx = rng.integers(0, 64, values.size)
    signed = rng.integers(-40, 40, 777)
    rows = _rows(rng, 900, 37, "peaked")
    picks = _symbols(rng, rows)
    enc = entropy.FrameEncoder()
    enc.encode(values, mean_q, scale_idx)
    enc.encode_signed(signed, 6.0)
    enc.encode_categorical(picks, rows)
    dec = entropy.FrameDecoder(enc.finish())
    np.testing.assert_array_equal(dec.decode(mean_q, scale_idx), values)
    np.testing.assert_array_equal(dec.decode_signed(signed.size, 6.0), signed)
    np.testing.assert_array_equal(dec.decode_categorical(rows), picks)


@pytest.mark.parametrize(
    "row",
    [np.zeros(4), np.array([1.0]), np.array([1.0, np.nan]), np.array([1.0, np.inf]), np.full(3, 1e-310)],
)
def test_rows_constriction_refuses_are_refused(row: np.ndarray) -> None:
    words = np.arange(1, 9, dtype=np.uint32)
    with pytest.raises(ValueError, match="not normalizable"):
        constriction.stream.queue.RangeDecoder(words).decode(CATEGORICAL, row.reshape(1, -1))
    with pytest.raises(FormatError, match="refuses"):
        range_decoder.RangeDecoder(words).decode_rows(row.reshape(1, -1))
    with pytest.raises(FormatError, match="refuses"):
        range_decoder.RangeDecoder(words).decode_sums(np.cumsum(row).reshape(1, -1))


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_short_payloads(count: int) -> None:
    """Fewer than the two words of the initial point: read as constriction reads them."""
    rows = np.array([[1.0, 2.0, 3.0]] * 30)
    words = np.arange(7, 7 + count, dtype=np.uint32) * 0x9E3779B1
    expected = constriction.stream.queue.RangeDecoder(words).decode(CATEGORICAL, rows)
    np.testing.assert_array_equal(range_decoder.RangeDecoder(words).decode_rows(rows), expected)


@numba.njit(cache=False)
def _decode_laplace_many(kind, lo, width, mean, scale_idx, phased, words, state, out):  # pragma: no cover
    for i in range(out.size):
        out[i] = range_decoder.decode_laplace(kind, lo[i], width, mean[i], scale_idx[i], phased, words, state)


@pytest.mark.parametrize(
    ("radius", "escape"), [(0, False)] + [(r, e) for r in (3, 7, 15, 31, 63) for e in (False, True)]
)
def test_laplace_rows_decoded_without_making_them(radius: int, escape: bool) -> None:
    """``decode_laplace`` on whole, window and escape rows (means 0..4080 with the window at
    both ends of the range, every scale) reads the symbols constriction wrote under the rows
    themselves (``table_rows``, ``window_rows``, ``escape_rows``)."""
    rng = np.random.default_rng(radius * 2 + escape)
    n = 4000
    mean = np.concatenate([[0, 4080, 8, 4072], rng.integers(0, 4081, n - 4)]).astype(np.int64)
    scale_idx = rng.integers(0, 64, n).astype(np.int64)
    if radius == 0:
        lo, rows, kind, width = (
            np.zeros(n, np.int64),
            entropy.table_rows(mean, scale_idx),
            range_decoder.WHOLE,
            0,
        )
    else:
        lo, rows = entropy.window_rows(mean, scale_idx, radius)
        kind, width = range_decoder.WINDOW, 2 * radius + 1
        if escape:
            rows = entropy.escape_rows(mean, scale_idx, lo, np.full(n, width, np.int64))
            kind = range_decoder.ESCAPE
    symbols = _symbols(rng, rows).astype(np.int32)
    symbols[:40] = rng.integers(0, rows.shape[1], 40)
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(symbols, CATEGORICAL, rows)
    ours = range_decoder.RangeDecoder(enc.get_compressed())
    got = np.empty(n, np.int64)
    _decode_laplace_many(
        kind, lo, width, mean, scale_idx, table_kernel.phased_cdf(), ours.words, ours.state, got
    )
    np.testing.assert_array_equal(got, symbols)


@pytest.mark.parametrize(
    ("clip", "expected"),
    [
        ("bikes_yuv420p_64x48.mkv", {planar.KIND_RASTER, planar.KIND_RASTER_INTER}),
        ("carphone_yuv420p_64x48.mkv", {planar.KIND_RASTER, planar.KIND_INTER}),
    ],
)
def test_planar_frames_decode_the_same_compiled_and_not(clip: str, expected: set[int]) -> None:
    """Every frame of a clip (raster intra and inter kinds, refined planes, the motion field)
    decodes to its planes both by the compiled whole-plane kernels reading the words themselves
    and by a Python step per wavefront through constriction."""
    frames, geometry = planar_payloads(clip)
    kinds = set()
    for planes, payload, references in frames:
        kinds.add(int.from_bytes(payload[:4], "little") & ~planar.LARGE_BLOCKS_BIT)  # either block size
        for compiled in (False, True):
            got = planar.decode(payload, references, geometry, compiled=compiled)
            for g, p in zip(got, planes, strict=True):
                np.testing.assert_array_equal(g, p)
    assert expected <= kinds


def test_damaged_planar_payload_is_refused_compiled() -> None:
    """Words overwritten: the compiled decoder refuses the frame where constriction does (with
    FormatError only) and otherwise gives the planes the Python steps give."""
    frames, geometry = planar_payloads("bikes_yuv420p_64x48.mkv")
    planes, payload, references = frames[2]
    rng = np.random.default_rng(0)
    for _ in range(20):
        damaged = bytearray(payload)
        at = int(rng.integers(4, len(payload) - 4)) & ~3
        damaged[at : at + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        outcomes = []
        for compiled in (False, True):
            try:
                outcomes.append(planar.decode(bytes(damaged), references, geometry, compiled=compiled))
            except FormatError:
                outcomes.append(None)
            except Exception:  # constriction's own refusals (the frame decoder maps them to FormatError)
                assert not compiled
                outcomes.append(None)
        if outcomes[0] is None or outcomes[1] is None:
            assert outcomes[0] is None and outcomes[1] is None
        else:
            for a, b in zip(*outcomes, strict=True):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("k", [2, 3, 17, 256])
@pytest.mark.parametrize("kind", ["integer", "peaked", "zeros", "uniform"])
def test_compiled_encoder_writes_constriction_words(k: int, kind: str) -> None:
    """``range_encoder`` writes the words constriction writes for the same symbols under the
    same rows (long enough to pass through many held-back carries), in batches of any size."""
    rng = np.random.default_rng(k * 3 + len(kind))
    rows = _rows(rng, 5000, k, kind)
    symbols = _symbols(rng, rows).astype(np.int32)
    symbols[:60] = rng.integers(0, k, 60)
    ref = constriction.stream.queue.RangeEncoder()
    ref.encode(symbols, CATEGORICAL, rows)
    ours = range_encoder.RangeEncoder()
    for start, stop in ((0, 1), (1, 700), (700, 5000)):
        ours.encode_rows(symbols[start:stop], rows[start:stop])
    np.testing.assert_array_equal(ours.words(), ref.get_compressed())


@pytest.mark.parametrize("radius", [0, 3, 7, 15, 31, 63])
def test_compiled_encoder_laplace_rows(radius: int) -> None:
    """Whole rows (``encode_values``) and single-window wavefronts with escapes
    (``encode_wavefronts``) give constriction's words for ``entropy``'s own coding of them."""
    rng = np.random.default_rng(radius)
    n = 3000
    values = rng.integers(0, 256, n)
    mean_q = np.clip(values * 16 + rng.integers(-300, 300, n), 0, 4080)
    scale_idx = rng.integers(0, 64, n) if radius == 0 else np.full(n, 0)
    if radius:  # scales whose window is this radius, and a few values far out (escapes)
        scale_idx = rng.choice(np.flatnonzero(entropy.WINDOW_OF_SCALE == radius), n)
        mean_q[::7] = rng.integers(0, 4081, mean_q[::7].size)
    starts = np.array([0, 1, 40, 41, 1000, n])
    ref = entropy.FrameEncoder()
    for s0, s1 in zip(starts[:-1], starts[1:], strict=True):
        entropy.encode_windowed(ref, values[s0:s1], mean_q[s0:s1], scale_idx[s0:s1], single=True)
    ref.encode(values, mean_q, scale_idx)
    ours = entropy.FrameEncoder(compiled=True)
    ours.ranges.encode_wavefronts(values, mean_q, scale_idx, starts)
    ours.encode(values, mean_q, scale_idx)
    assert ours.finish() == ref.finish()
