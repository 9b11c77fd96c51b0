"""Shared fixtures and helpers for the fpcodec test suite.

Everything a test reads lives under tests/data/ (see tests/data/ATTRIBUTION.md); no test reads the
shared corpus or the network.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"
ODD = DATA / "odd"
CARPHONE = DATA / "carphone_000.gif"  # 96x96, 34 frames, 4 cs each, loops forever
CARPHONE_WIDE = DATA / "carphonew_000_5f.gif"  # 200x164, first 5 frames of a giphy200 clip

#: Pillow's deliberately broken GIFs: VideoReader must refuse them with InputError.
BROKEN_GIFS = ("decompression_bomb.gif", "zero_width.gif")
#: Every other odd GIF must read and round-trip.
ODD_GIFS = sorted(p.name for p in ODD.glob("*.gif") if p.name not in BROKEN_GIFS)
#: The odd GIFs whose composited frames have pixels that are not opaque.
ODD_RGBA = frozenset(
    {
        "different_transparency.gif",
        "dispose_bgnd_rgba.gif",
        "dispose_bgnd_transparency.gif",
        "dispose_none_load_end.gif",
        "dispose_prev_first_frame.gif",
        "first_frame_transparency.gif",
        "missing_background.gif",
        "transparent.gif",
        "transparent_dispose.gif",
    }
)


# ------------------------------------------------------------------------------------ the CLI
def run_main(capsys, *args) -> tuple[int, str, str]:
    """``fpcodec.codec.cli.main`` in-process (far cheaper than a subprocess): (exit code, out, err)."""
    from fpcodec.codec.cli import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------------------------ videos
def read_video(path) -> tuple[list[np.ndarray], list[int], object]:
    """(frames, durations, info) of a file, through the codec's own reader."""
    from fpcodec.codec.io import VideoReader

    reader = VideoReader(path)
    pairs = list(reader.frames())
    return [f for f, _ in pairs], [d for _, d in pairs], reader.info


def assert_frames_equal(actual, expected, what: str = "frame") -> None:
    """Same number of frames, and each the same shape, dtype and every byte."""
    actual, expected = list(actual), list(expected)
    assert len(actual) == len(expected), f"{len(actual)} {what}s, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"{what} {i}: shape {a.shape}, expected {e.shape}"
        assert a.dtype == e.dtype == np.uint8, f"{what} {i}: dtype {a.dtype}/{e.dtype}"
        if not np.array_equal(a, e):
            bad = np.argwhere((a != e).any(axis=-1))
            y, x = bad[0]
            raise AssertionError(
                f"{what} {i}: {len(bad)} pixels differ, first at (y={y}, x={x}): "
                f"{a[y, x].tolist()} != {e[y, x].tolist()}"
            )


def clear_transparent(frame: np.ndarray) -> np.ndarray:
    """RGBA frame with the colour of fully transparent pixels set to 0 (formats that cannot keep it)."""
    frame = np.array(frame, copy=True)
    if frame.shape[-1] == 4:
        frame[frame[..., 3] == 0] = 0
    return frame


def moving_video(n: int = 4, h: int = 24, w: int = 32, c: int = 3, seed: int = 0) -> list[np.ndarray]:
    """A smooth gradient with a block moving over it: compressible, inter-coded, changes every frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack(
        [(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) * 7) % 256]
        + ([np.full((h, w), 255)] if c == 4 else []),
        -1,
    )
    base = base.astype(np.uint8)
    frames = []
    for i in range(n):
        f = base.copy()
        f[2 + i : 8 + i, 3 + 2 * i : 9 + 2 * i, :3] = rng.integers(0, 256, 3, dtype=np.uint8)
        if c == 4:
            f[0, : i + 1, 3] = 0  # a few transparent pixels, more each frame
            f[1, 0, 3] = 128  # and one half-transparent one
        frames.append(f)
    return frames


# ------------------------------------------------------------------------------------ streams
def encode_frames(frames, **kw) -> bytes:
    """Encode with last-frame unless told otherwise: container tests need the fast, weightless model."""
    from fpcodec.codec import encode

    kw.setdefault("model", "last-frame")
    return encode(frames, **kw)


@pytest.fixture(scope="session")
def small_frames() -> list[np.ndarray]:
    """Three 8x8 RGB frames: the first random, then small changes (one intra, two inter frames)."""
    rng = np.random.default_rng(7)
    f0 = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    f1 = f0.copy()
    f1[2:4, 3:6] = rng.integers(0, 256, (2, 3, 3), dtype=np.uint8)
    f2 = f1.copy()
    f2[5, 5] = [0, 255, 0]
    return [f0, f1, f2]


@pytest.fixture(scope="session")
def small_stream(small_frames) -> bytes:
    return encode_frames(small_frames, durations=[3, 4, 5], time_base=Fraction(1, 100), loop=2)


# Container layout (FORMAT.md / bitstream/container.py), spelled out independently of the code so
# that tests can patch bytes without going through the writer under test.
PREAMBLE_SIZE = 12  # magic(8) version(2) flags(2)
VERSION_OFFSET = 8
HEAD_FIELDS = (  # the HEAD fields in order (version 10: the struct formats at their offsets)
    ("width", "<I"),
    ("height", "<I"),
    ("channels", "<B"),
    ("frame_count", "<I"),
    ("tb_num", "<I"),
    ("tb_den", "<I"),
    ("loop", "<i"),
    ("model_id", "<H"),
    ("weights_hash", "32s"),
)


#: The weights hash in the container tests' hand-made headers.
TEST_HASH = bytes(range(32))


def stream_header(**kw):
    """A HEAD record for the container tests (a 96x64 RGB stream of 7 frames), ``kw`` replaced."""
    from fpcodec.bitstream.container import StreamHeader

    base = dict(
        width=96,
        height=64,
        channels=3,
        frame_count=7,
        time_base=Fraction(1, 100),
        loop=0,
        model_id=1,
        weights_hash=TEST_HASH,
        coder="constriction=0.5.0",
    )
    base.update(kw)
    return StreamHeader(**base)


def stream_profile(data: bytes):
    """The format profile of a stream's bytes (its preamble's version)."""
    from fpcodec.bitstream.profile import FormatProfile

    return FormatProfile.for_version(int.from_bytes(data[VERSION_OFFSET : VERSION_OFFSET + 2], "little"))


def split_chunks(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(offset, type, body) of every chunk after the preamble, parsed by hand (no CRC check); the
    type is the four-letter name in every version (version 11 writes one letter)."""
    from fpcodec.bitstream import container as C

    compact = stream_profile(data).compact_framing
    out, pos = [], PREAMBLE_SIZE
    while pos < len(data):
        if compact:
            length, start = C.read_uvarint(data, pos + 1, "chunk length")
            kind = C._KINDS.get(data[pos : pos + 1], data[pos : pos + 1])
        else:
            (length, kind), start = struct.unpack_from("<I4s", data, pos), pos + 8
        out.append((pos, kind, data[start : start + length]))
        pos = start + length + 4
    assert pos == len(data), "stream does not end on a chunk boundary"
    return out


def chunk_bytes(kind: bytes, body: bytes, profile=None) -> bytes:
    """A whole chunk (framing and CRC) as ``profile`` (default: the current version) writes it."""
    import io

    from fpcodec.bitstream import container as C

    out = io.BytesIO()
    C.write_chunk(out, kind, body, *(() if profile is None else (profile,)))
    return out.getvalue()


def chunk_end(data: bytes, pos: int) -> int:
    """Offset just after the chunk that starts at ``pos``."""
    chunk = [c for c in split_chunks(data) if c[0] == pos][0]
    return body_start(data, pos) + len(chunk[2]) + 4


def body_start(data: bytes, pos: int) -> int:
    """Offset of the body of the chunk that starts at ``pos``."""
    from fpcodec.bitstream import container as C

    if stream_profile(data).compact_framing:
        return C.read_uvarint(data, pos + 1, "chunk length")[1]
    return pos + 8


def replace_chunk(data: bytes, pos: int, body: bytes) -> bytes:
    """``data`` with the chunk at ``pos`` given a new body (framed again, CRC correct)."""
    kind = [c for c in split_chunks(data) if c[0] == pos][0][1]
    return (
        bytes(data[:pos])
        + chunk_bytes(kind, body, stream_profile(data))
        + bytes(data[chunk_end(data, pos) :])
    )


def patch_header(data: bytes, field: str, value) -> bytes:
    """Overwrite one HEAD field and recompute the HEAD chunk's CRC, so only the field is wrong."""
    from fpcodec.bitstream import container as C

    (pos, kind, body) = split_chunks(data)[0]
    assert kind == b"HEAD"
    names = [name for name, _ in HEAD_FIELDS]
    if not stream_profile(data).compact_framing:
        off = struct.calcsize("<" + "".join(f.lstrip("<") for _, f in HEAD_FIELDS[: names.index(field)]))
        body = bytearray(body)
        struct.pack_into(HEAD_FIELDS[names.index(field)][1], body, off, value)
        return replace_chunk(data, pos, bytes(body))
    values, coder_at = C._compact_header(body)
    values = list(values)
    values[names.index(field)] = value
    width, height, channels, count, tb_num, tb_den, loop, model_id, whash, coder_len = values
    numbers = (width, height, channels, (count + 1) & 0xFFFFFFFF, tb_num, tb_den, loop + 1, model_id)
    new = b"".join(C.uvarint(v) for v in numbers) + whash + bytes([coder_len]) + body[coder_at:]
    return _shift_index(replace_chunk(data, pos, new), len(new) - len(body))


def _shift_index(data: bytes, delta: int) -> bytes:
    """``data`` whose chunks after the HEAD moved by ``delta`` bytes (a version-11 field grew or
    shrank), with the INDX offsets and FEND's pointer moved too, so only the patched field is wrong."""
    from dataclasses import replace

    from fpcodec.bitstream import container as C

    profile = stream_profile(data)
    chunks = split_chunks(data)
    if not delta or not profile.key_frames or chunks[-1][1] != C.CHUNK_END or chunks[-2][1] != C.CHUNK_INDEX:
        return data
    (index_pos, _, index_body), (_, _, end_body) = chunks[-2:]
    entries = [replace(e, offset=e.offset + delta) for e in C.decode_index(index_body, profile)]
    count, _ = C.decode_end(end_body, profile)
    return (
        bytes(data[:index_pos])
        + chunk_bytes(C.CHUNK_INDEX, C.encode_index(entries, profile), profile)
        + chunk_bytes(C.CHUNK_END, C.encode_end(count, index_pos), profile)
    )


# ------------------------------------------------------------------------------------ CLI
def fpcodec_command() -> list[str]:
    script = Path(sys.executable).parent / "fpcodec"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "fpcodec.codec.cli"]


def run_cli(*args, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run(
        fpcodec_command() + [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def assert_clean_error(proc: subprocess.CompletedProcess) -> str:
    """Non-zero exit, exactly one stderr line ``fpcodec: error: ...``, no traceback."""
    assert proc.returncode != 0, f"exit code 0; stdout={proc.stdout!r} stderr={proc.stderr!r}"
    lines = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {proc.stderr!r}"
    assert lines[0].startswith("fpcodec: error: "), lines[0]
    return lines[0]


def dir_listing(path: Path) -> set[str]:
    """Every name in a directory, hidden ones (temp files) included."""
    return {p.name for p in Path(path).iterdir()}


def assert_old_stream_decodes(name: str, version: int) -> None:
    """A stream written by an earlier encoder (tests/data/``name``) still decodes to the frames of
    tests/data/v3_stream_frames.npy, in the fixtures' modes: palette intra, palette inter twice,
    RGB inter three times, palette update."""
    import io

    from fpcodec.codec import Decoder, decode
    from fpcodec.codec import frame_coding as fc

    data = (DATA / name).read_bytes()
    assert data[8:10] == version.to_bytes(2, "little")
    expected = np.load(DATA / "v3_stream_frames.npy")
    video = decode(data)
    assert len(video.frames) == len(expected)
    assert_frames_equal(video.frames, expected)
    modes = [rec.mode for rec in Decoder(io.BytesIO(data), load_model=False).records()]
    assert modes == [
        fc.MODE_PALETTE_INTRA,
        fc.MODE_PALETTE_INTER,
        fc.MODE_PALETTE_INTER,
        fc.MODE_INTER,
        fc.MODE_INTER,
        fc.MODE_INTER,
        fc.MODE_PALETTE_UPDATE,
    ]


def encode_planes(frames: list[list[np.ndarray]], fmt_name: str, duration: int = 40) -> bytes:
    """A planar stream of ``frames`` (each its planes) in pixel format ``fmt_name``, by the
    encoder's API with the planar rule."""
    from fpcodec.codec.pipeline import Encoder
    from fpcodec.codec.planar_io import pixel_format_by_name

    fmt = pixel_format_by_name(fmt_name)
    h, w = frames[0][0].shape
    buf = io.BytesIO()
    enc = Encoder(buf, width=w, height=h, channels=fmt.planes, model="last-frame", pixel_format=fmt)
    for planes in frames:
        enc.write_planes(planes, duration)
    enc.close()
    return buf.getvalue()


def assert_planar_fixture_decodes(
    name: str, version: int, source: str = "carphone_yuv420p_64x48.mkv"
) -> bytes:
    """tests/data/``name``, a planar stream of format ``version`` written from tests/data/``source``,
    decodes to that clip's samples exactly; returns its bytes."""
    from fpcodec.codec.pipeline import Decoder
    from fpcodec.codec.planar_io import read_planes

    data = (DATA / name).read_bytes()
    assert data[8:10] == version.to_bytes(2, "little")
    _, clip = read_planes(DATA / source)
    got = list(Decoder(io.BytesIO(data)).frames())
    assert len(got) == len(clip)
    for frame, planes in zip(got, clip, strict=True):
        for a, b in zip(frame.planes, planes, strict=True):
            np.testing.assert_array_equal(a, b)
    return data


def planar_payloads(clip: str) -> tuple[list, list]:
    """(per frame: its planes, its payload and the decoded frames before it) of tests/data/``clip``
    coded by the encoder's planar candidates, and the plane geometry."""
    from fpcodec.codec import motion, planar_coding, planar_io
    from fpcodec.codec.modes import planar

    reader = planar_io.native_reader(str(DATA / clip))
    geometry = planar_coding.geometry(reader.pixel_format, reader.width, reader.height)
    frames, history = [], []
    for planes, _ in reader.frames():
        candidate = planar.estimate(planes, history[: motion.REFERENCES], geometry)
        frames.append((planes, planar.encode(candidate), list(history[: motion.REFERENCES])))
        history.insert(0, planes)
    return frames, geometry
