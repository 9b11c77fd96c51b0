"""Palette LZ (mode 8, format version 15): a palette frame's symbols in one raw LZMA2 stream."""

from __future__ import annotations

import io
import lzma

import numpy as np
import pytest

from conftest import CARPHONE, DATA, assert_frames_equal, read_video, run_main
from fpcodec.bitstream import container, lz
from fpcodec.bitstream.errors import FormatError
from fpcodec.bitstream.profile import CURRENT, FormatProfile
from fpcodec.codec import Decoder, decode, encode
from fpcodec.codec import frame_coding as fc
from fpcodec.codec import palette_coding as pc
from fpcodec.codec.io import VideoReader
from fpcodec.codec.modes import palette_lz
from fpcodec.codec.modes.base import CodedFrame, FrameToCode

V14 = FormatProfile.for_version(14)


# ------------------------------------------------------------------------------ bitstream.lz
def test_lz_round_trips_and_sizes_its_dictionary_from_the_frame() -> None:
    data = np.random.default_rng(0).integers(0, 4, 5000, dtype=np.uint8).tobytes()
    assert lz.decompress(lz.compress(data), len(data)) == data
    assert [lz.dict_size(n) for n in (1, 4096, 4097, 96 * 96, 1920 * 1080)] == [
        4096,
        4096,
        8192,
        16384,
        1 << 21,
    ]
    assert lz.dict_size(10**10) == lz.MAX_DICT


def test_lz_refuses_what_is_not_exactly_the_frame() -> None:
    data = bytes(range(200)) * 10
    payload = lz.compress(data)
    with pytest.raises(FormatError, match="expected 1999"):  # one symbol more than the frame
        lz.decompress(payload, 1999)
    with pytest.raises(FormatError, match="2000 bytes.*expected 2001"):
        lz.decompress(payload, 2001)
    with pytest.raises(FormatError, match="after its LZMA2 stream"):
        lz.decompress(payload + b"\0", 2000)
    with pytest.raises(FormatError, match="without its end marker"):
        lz.decompress(payload[:-1], 2000)
    with pytest.raises(FormatError, match="not an LZMA2 stream"):
        lz.decompress(b"\xff" * 16, 2000)
    # an xz file is not a raw stream
    with pytest.raises(FormatError):
        lz.decompress(lzma.compress(data), 2000)


def test_a_bomb_is_cut_at_the_frame_size() -> None:
    """A payload that decodes to far more than the frame is refused without producing it all."""
    bomb = lz.compress(bytes(50_000_000))
    assert len(bomb) < 10_000
    with pytest.raises(FormatError, match=r"decodes to 101\+ bytes"):
        lz.decompress(bomb, 100)


# ---------------------------------------------------------------------------- the mode itself
def _pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy 8-colour 40x48 frame and the same with a small square changed."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (8, 3), dtype=np.uint8)
    previous = colours[rng.integers(0, 8, (40, 48))]
    frame = previous.copy()
    frame[10:14, 20:26] = colours[3]
    return previous, frame


def _decode(c: palette_lz.LzCandidate, previous, shape, profile=CURRENT) -> np.ndarray:
    coded = CodedFrame(c.mode, c.scale_shift, c.payload, c.mix, c.palette)
    return fc.decode_frame(coded, None, shape[0], shape[1], shape[2], previous, profile)


@pytest.mark.parametrize("mix", [palette_lz.INDICES, palette_lz.KEEP])
def test_both_symbol_sets_round_trip(mix: int) -> None:
    previous, frame = _pair()
    palette, idx = pc.extract_palette(frame)
    data = palette_lz.symbols(FrameToCode.of(frame), idx, len(palette), previous, mix)
    c = palette_lz.LzCandidate(palette_lz.MODE, 0.0, 0, palette, None, lz.compress(data), mix)
    np.testing.assert_array_equal(_decode(c, previous, frame.shape), frame)


def test_the_encoder_offers_the_smaller_symbol_set() -> None:
    """Against a noisy previous frame with a few pixels changed, "keep the previous pixel" (mix 1)
    leaves LZ77 almost nothing; on a key frame only the indices apply."""
    previous, frame = _pair()
    extracted = pc.extract_palette(frame)
    fr = FrameToCode.of(frame)
    kept = palette_lz.estimate(fr, extracted, previous, None)
    alone = palette_lz.estimate(fr, extracted, None, None)
    assert (kept.mix, alone.mix) == (palette_lz.KEEP, palette_lz.INDICES)
    assert kept.bits < 0.2 * alone.bits
    # the bits are the payload's and the palette chunk's, exactly
    body = kept.palette_body
    assert kept.bits == 8 * len(kept.payload) + 8 * container.chunk_size(len(body))
    assert palette_lz.estimate(fr, extracted, previous, extracted[0]).palette_body is None
    np.testing.assert_array_equal(_decode(kept, previous, frame.shape), frame)


def test_the_strong_setting_runs_only_where_lz_could_win(monkeypatch) -> None:
    """A smooth 161-colour frame (the pass coder far ahead: 1,316 bytes against the fast
    setting's 2,294) is compressed with the fast setting alone; a dialog screenshot also with the
    strong setting."""
    strengths = []
    compress = lz.compress
    monkeypatch.setattr(
        lz, "compress", lambda data, strong=True: strengths.append(strong) or compress(data, strong)
    )
    yy, xx = np.mgrid[0:48, 0:64]
    noise = np.random.default_rng(0).integers(0, 2, (48, 64))
    v = (40 * np.sin(yy / 7.0) + 40 * np.cos(xx / 9.0) + 90 + noise).astype(np.uint8)
    found = fc.candidates(np.stack([v, v // 2, 255 - v], -1), None)
    assert strengths == [False] and found[-2].mode == palette_lz.MODE
    assert lz.STRONG_GAIN * found[-2].bits > min(c.bits for c in found)
    strengths.clear()
    page, _ = next(VideoReader(DATA / "jmeter_url_rewrite.gif").frames())
    fc.candidates(page, None)
    assert strengths == [False, True]


def test_the_keep_set_is_tried_only_where_enough_pixels_are_unchanged(monkeypatch) -> None:
    """Two unrelated 64-colour noise frames (about 1/64 of the pixels the same by chance): only
    the indices are compressed; the pair above (all but 24 pixels unchanged): both sets."""
    sets = []
    compress = lz.compress
    monkeypatch.setattr(
        lz, "compress", lambda data, strong=True: sets.append(strong) or compress(data, strong)
    )
    rng = np.random.default_rng(5)
    colours = rng.integers(0, 256, (64, 3), dtype=np.uint8)
    previous, frame = colours[rng.integers(0, 64, (2, 40, 48))]
    assert 0 < (previous == frame).all(-1).mean() < palette_lz.KEEP_MIN_SHARE
    c = palette_lz.estimate(FrameToCode.of(frame), pc.extract_palette(frame), previous, None)
    assert c.mix == palette_lz.INDICES and sets.count(False) == 1
    sets.clear()
    previous, frame = _pair()
    palette_lz.estimate(FrameToCode.of(frame), pc.extract_palette(frame), previous, None)
    assert sets.count(False) == 2


def test_a_full_palette_codes_only_indices() -> None:
    rng = np.random.default_rng(1)
    frame = rng.permutation(np.arange(256 * 3, dtype=np.uint8).reshape(256, 3)).reshape(16, 16, 3)
    palette, idx = pc.extract_palette(frame)
    assert len(palette) == 256
    assert palette_lz.symbols(FrameToCode.of(frame), idx, 256, frame, palette_lz.KEEP) is None
    c = palette_lz.estimate(FrameToCode.of(frame), (palette, idx), frame, None)
    assert c.mix == palette_lz.INDICES
    np.testing.assert_array_equal(_decode(c, frame, frame.shape), frame)


def _coded(**change) -> tuple[CodedFrame, np.ndarray, np.ndarray]:
    previous, frame = _pair()
    palette, idx = pc.extract_palette(frame)
    data = palette_lz.symbols(FrameToCode.of(frame), idx, len(palette), previous, palette_lz.KEEP)
    fields = {
        "mode": palette_lz.MODE,
        "scale_shift": 0,
        "payload": lz.compress(data),
        "mix": 1,
        "palette": palette,
    }
    fields.update(change)
    return CodedFrame(**fields), previous, frame


@pytest.mark.parametrize(
    "change, previous, message",
    [
        ({"mix": 2}, True, "mix field 2"),
        ({"scale_shift": 1}, True, "scale shift 1"),
        ({"palette": None}, True, "before any palette chunk"),
        ({}, False, "has no previous frame"),
        ({"payload": b"\0\0\0\0"}, True, "LZ payload"),
    ],
)
def test_malformed_lz_frames_are_refused(change, previous, message) -> None:
    coded, prev, frame = _coded(**change)
    with pytest.raises(FormatError, match=message):
        fc.decode_frame(coded, None, 40, 48, 3, prev if previous else None)


def test_symbols_past_the_palette_are_refused() -> None:
    coded, prev, frame = _coded()
    small = CodedFrame(coded.mode, 0, coded.payload, coded.mix, coded.palette[:-1])  # K one less
    with pytest.raises(FormatError, match="holds symbol"):
        fc.decode_frame(small, None, 40, 48, 3, prev)
    indices = CodedFrame(coded.mode, 0, coded.payload, palette_lz.INDICES, coded.palette)  # K means keep
    with pytest.raises(FormatError, match="holds symbol 8, its palette has 8 colours"):
        fc.decode_frame(indices, None, 40, 48, 3, prev)
    full = np.zeros((256, 3), np.uint8)
    full[:, 0] = np.arange(256)
    keep_full = CodedFrame(coded.mode, 0, coded.payload, palette_lz.KEEP, full)
    with pytest.raises(FormatError, match="full palette"):
        fc.decode_frame(keep_full, None, 40, 48, 3, prev)


def test_version_14_has_no_lz_frames() -> None:
    """Mode 8 in a version-14 stream is refused, by the frame coder and by the container (whose
    word rule exempts mode 8's bytes from version 15 on only)."""
    coded, prev, _ = _coded()
    with pytest.raises(FormatError, match="mode 8.*version-14"):
        fc.decode_frame(coded, None, 40, 48, 3, prev, V14)
    record = container.FrameRecord(0, 0, palette_lz.MODE, 0, 0, b"\1\2\3", 0, container.FLAG_KEY)
    body = container.encode_frame(record)
    assert container.decode_frame(body).payload == b"\1\2\3"
    with pytest.raises(FormatError, match="not whole 32-bit words"):
        container.decode_frame(body, V14)


# ------------------------------------------------------------------------------- in the codec
def test_a_screenshot_codes_smaller_in_lz_and_round_trips(tmp_path, capsys) -> None:
    """jmeter_url_rewrite.gif (a 409x170 4-colour dialog): 1,301 bytes with palette LZ, 1,749
    with the pass coder's best (the row schedule); this fails without mode 8."""
    page, _ = next(VideoReader(DATA / "jmeter_url_rewrite.gif").frames())
    data = encode([page], model="last-frame")
    without = encode([page], model="last-frame", lz_frames=False)
    (rec,) = Decoder(io.BytesIO(data), load_model=False).records()
    assert rec.mode == palette_lz.MODE and rec.key
    assert len(data) < 0.8 * len(without), (len(data), len(without))
    assert_frames_equal(decode(data).frames, [page])
    # the CLI: --no-lz, and info's mode name
    src = tmp_path / "page.gif"
    src.write_bytes((DATA / "jmeter_url_rewrite.gif").read_bytes())
    for args, name in (([], "page.fpc"), (["--no-lz"], "page_nolz.fpc")):
        assert (
            run_main(capsys, "encode", str(src), "-m", "last-frame", "-q", "-o", str(tmp_path / name), *args)[
                0
            ]
            == 0
        )
    for name, stream in (("page.fpc", data), ("page_nolz.fpc", without)):  # the GIF's timing aside
        (cli,) = Decoder(io.BytesIO((tmp_path / name).read_bytes()), load_model=False).records()
        (api,) = Decoder(io.BytesIO(stream), load_model=False).records()
        assert (cli.mode, cli.mix, cli.payload) == (api.mode, api.mix, api.payload)
    code, out, _ = run_main(capsys, "info", str(tmp_path / "page.fpc"))
    assert code == 0 and any(line.split()[:2] == ["0", "p-lz"] for line in out.splitlines()), out


@pytest.mark.parametrize("shape", [(1, 1), (3, 700), (37, 5)])
def test_odd_sizes_and_transparency_round_trip(shape) -> None:
    """RGBA palettes (alpha is part of a colour), a 1x1 frame, a frame whose previous pixels are
    kept: every frame exact, whichever mode the encoder takes."""
    rng = np.random.default_rng(sum(shape))
    colours = np.concatenate([rng.integers(0, 256, (5, 3)), [[0], [0], [255], [255], [128]]], axis=1)
    first = colours.astype(np.uint8)[np.arange(shape[0] * shape[1]).reshape(shape) // 7 % 5]
    second = first.copy()
    second[: max(1, shape[0] // 2)] = colours[2]
    frames = [first, second, first]
    data = encode(frames, model="last-frame")
    assert_frames_equal(decode(data).frames, frames)


def test_version_14_streams_still_decode() -> None:
    """tests/data/v14_screen.fpc: the version-14 encoder (commit fcebfbe, ``last-frame``,
    ``keyint=2``) on the screen-like clip of v10_screen.fpc, the last version without mode 8."""
    from test_row_schedule import _screen_clip

    data = (DATA / "v14_screen.fpc").read_bytes()
    assert data[8:10] == (14).to_bytes(2, "little")
    video = decode(data)
    assert_frames_equal(video.frames, _screen_clip())
    assert video.durations == [3, 5, 5, 7, 7, 9]


def test_a_keep_frame_round_trips_in_a_stream_and_info_names_it(tmp_path, capsys, monkeypatch) -> None:
    """A stream whose second frame is palette LZ with the keep symbol set (forced: the encoder
    takes it only where it is the cheapest mode) decodes exactly, and ``info`` lists the set."""
    real = fc.candidates

    def keep_first(frame, pred, previous=None, sent_palette=None, *args, **kwargs):
        out = real(frame, pred, previous, sent_palette, *args, **kwargs)
        if previous is None:
            return out
        palette, idx = pc.extract_palette(frame)
        data = palette_lz.symbols(FrameToCode.of(frame), idx, len(palette), previous, palette_lz.KEEP)
        body = palette_lz.palette_body(palette, sent_palette)
        forced = palette_lz.LzCandidate(
            palette_lz.MODE, 0.0, 0, palette, body, lz.compress(data), palette_lz.KEEP
        )
        return [forced] + out

    previous, frame = _pair()
    monkeypatch.setattr(fc, "candidates", keep_first)
    data = encode([previous, frame], model="last-frame")
    monkeypatch.setattr(fc, "candidates", real)
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    assert [(r.mode, r.mix) for r in records][1] == (palette_lz.MODE, palette_lz.KEEP)
    assert_frames_equal(decode(data).frames, [previous, frame])
    path = tmp_path / "keep.fpc"
    path.write_bytes(data)
    code, out, _ = run_main(capsys, "info", str(path))
    last = out.rstrip().splitlines()[-1].split()
    assert code == 0 and (last[0], last[1], last[-1]) == ("1", "p-lz", "keep"), out


# --------------------------------------------------------------------------------- LzProbe
def test_the_probe_leaves_lz_out_after_a_clear_loss_until_the_content_moves() -> None:
    probe = palette_lz.LzProbe()
    assert probe.worth(1000.0)  # nothing known yet
    probe.update(1300.0, 1000.0)  # lost by 30 %: beyond the margin
    assert not probe.worth(1000.0) and not probe.worth(1000.0 * palette_lz.LZ_JUMP)
    assert probe.worth(1001.0 * palette_lz.LZ_JUMP) and probe.worth(999.0 / palette_lz.LZ_JUMP)
    for _ in range(palette_lz.LZ_PROBE - 2):
        probe.update(None, 1000.0)
        assert not probe.worth(1000.0)
    probe.update(None, 1000.0)
    assert probe.worth(1000.0)  # every LZ_PROBE predicted frames
    probe.update(1200.0, 1000.0)  # within the margin: LZ may win the next one
    assert probe.worth(1000.0)


def test_lz_is_left_out_of_still_frames_where_it_loses_and_the_stream_decodes(monkeypatch) -> None:
    """carphone_000's frames (video: the pass coder far ahead of LZ) with the stream's probe:
    the key frame and every LZ_PROBE-th predicted frame are compressed; without the probe every
    frame is, and every stream decodes exactly. A screenshot sequence where LZ wins is
    compressed on every frame (a win leaves the next frame in)."""
    frames = read_video(CARPHONE)[0][:10]
    calls = []
    estimate = palette_lz.estimate

    def spy(fr, extracted, previous, sent, bound=float("inf")):
        c = estimate(fr, extracted, previous, sent, bound)
        calls.append(c.bits < bound)
        return c

    monkeypatch.setattr(fc.palette_lz, "estimate", spy)
    stream = encode(frames, model="last-frame")
    assert len(calls) == 1 + -(-(len(frames) - 1) // palette_lz.LZ_PROBE) and not any(calls[1:])
    assert_frames_equal(decode(stream).frames, frames)
    calls.clear()
    monkeypatch.setattr(palette_lz.LzProbe, "worth", lambda self, bound: True)
    assert encode(frames, model="last-frame") == stream  # LZ lost every frame it was left out of
    assert len(calls) == len(frames)
    calls.clear()
    page, _ = next(VideoReader(DATA / "jmeter_url_rewrite.gif").frames())
    pages = [page, page[::-1].copy(), page, page[:, ::-1].copy()]
    assert_frames_equal(decode(encode(pages, model="last-frame")).frames, pages)
    assert len(calls) == len(pages) and all(calls[:-1])  # LZ won frames 0-2 (the last: not)
