"""Palette LZ (mode 8, format version 15): a palette frame's symbols in one raw LZMA2 stream."""

from __future__ import annotations

import io
import lzma

import numpy as np
import pytest

from conftest import DATA, assert_frames_equal, run_main
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
def _frame(seed: int = 0, colours: int = 8) -> np.ndarray:
    """A noisy 40x48 frame of ``colours`` colours."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (colours, 3), dtype=np.uint8)
    return palette[rng.integers(0, colours, (40, 48))]


def _decode(coded: CodedFrame, shape, profile=CURRENT) -> np.ndarray:
    return fc.decode_frame(coded, None, shape[0], shape[1], shape[2], None, profile)


def _coded(frame: np.ndarray, **change) -> CodedFrame:
    palette, idx = pc.extract_palette(frame)
    fields = {
        "mode": palette_lz.MODE,
        "scale_shift": 0,
        "payload": lz.compress(idx.astype(np.uint8).tobytes()),
        "mix": 0,
        "palette": palette,
    }
    fields.update(change)
    return CodedFrame(**fields)


def test_the_estimate_is_the_payload_and_its_palette_chunk_exactly() -> None:
    frame = _frame()
    extracted = pc.extract_palette(frame)
    c = palette_lz.estimate(FrameToCode.of(frame), extracted, None)
    assert c.bits == 8 * len(c.payload) + 8 * container.chunk_size(len(c.palette_body))
    assert palette_lz.estimate(FrameToCode.of(frame), extracted, extracted[0]).palette_body is None
    coded = CodedFrame(c.mode, c.scale_shift, palette_lz.encode(c), c.mix, c.palette)
    np.testing.assert_array_equal(_decode(coded, frame.shape), frame)


def test_a_full_palette_round_trips() -> None:
    rng = np.random.default_rng(1)
    frame = rng.permutation(np.arange(256 * 3, dtype=np.uint8).reshape(256, 3)).reshape(16, 16, 3)
    assert len(pc.extract_palette(frame)[0]) == 256
    np.testing.assert_array_equal(_decode(_coded(frame), frame.shape), frame)


def test_the_strong_setting_runs_only_where_lz_could_win(monkeypatch) -> None:
    """A smooth 161-colour frame (the pass coder far ahead: 1,316 bytes against preset 6's 2,215)
    is compressed with preset 6 alone; a dialog screenshot also with the strong setting."""
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


@pytest.mark.parametrize(
    "change, message",
    [
        ({"mix": 1}, "mix 1, both must be 0"),
        ({"scale_shift": 1}, "scale shift 1"),
        ({"palette": None}, "before any palette chunk"),
        ({"payload": b"\0\0\0\0"}, "LZ payload"),
    ],
)
def test_malformed_lz_frames_are_refused(change, message) -> None:
    frame = _frame()
    with pytest.raises(FormatError, match=message):
        _decode(_coded(frame, **change), frame.shape)


def test_indices_past_the_palette_are_refused() -> None:
    frame = _frame()
    coded = _coded(frame)
    small = CodedFrame(coded.mode, 0, coded.payload, 0, coded.palette[:-1])  # K one less
    with pytest.raises(FormatError, match="holds index 7, its palette has 7 colours"):
        _decode(small, frame.shape)
    with pytest.raises(FormatError, match="palette has 4 channels, stream has 3"):
        _decode(CodedFrame(coded.mode, 0, coded.payload, 0, np.zeros((8, 4), np.uint8)), frame.shape)


def test_version_14_has_no_lz_frames() -> None:
    """Mode 8 in a version-14 stream is refused, by the frame coder and by the container (whose
    word rule exempts mode 8's bytes from version 15 on only)."""
    frame = _frame()
    with pytest.raises(FormatError, match="mode 8.*version-14"):
        _decode(_coded(frame), frame.shape, V14)
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
    """RGBA palettes (alpha is part of a colour), a 1x1 frame, thin frames: every frame exact,
    whichever mode the encoder takes."""
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
