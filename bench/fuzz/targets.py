"""The fuzz targets' checks and seeds, without atheris: the harnesses (``stream``, ``gif_blocks``,
``input``) run them under libFuzzer, and tests/test_fuzz_regressions.py replays the saved inputs
through ``replay`` without it.

Allowed outcomes: success or the project's FpcodecError family (the GIF block walker: success only).
"""

from __future__ import annotations

import atexit
import io
import itertools
import os
import shutil
import struct
import tempfile
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from fpcodec.bitstream import container
from fpcodec.bitstream.errors import FpcodecError, InputError
from fpcodec.codec import gif_blocks, pipeline
from fpcodec.codec import io as fio
from fpcodec.models import registry

#: The repository's test data (seeds come from here, never from /work/shared).
TEST_DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
#: Largest frame a fuzzed input may declare: the limit (max_pixels) is the protection against huge
#: frames, so the harness sets it low and keeps every execution small.
FUZZ_MAX_PIXELS = 1 << 16
#: Exceptions that are bugs in Python code even when a catch-all turned them into an allowed error
#: (frame_coding.decode_frame wraps whatever constriction raises, AssertionError and ValueError
#: included, in a FormatError ``from`` it): an explicit cause of one of these types is a finding.
MASKED_BUGS = (
    MemoryError,
    RecursionError,
    IndexError,
    KeyError,
    AttributeError,
    TypeError,
    NameError,
    ZeroDivisionError,
    OverflowError,
)


def masked_bug(exc: BaseException) -> BaseException | None:
    """The first exception of a MASKED_BUGS type in ``exc``'s chain of explicit causes, if any."""
    seen = set()
    cause = exc.__cause__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, MASKED_BUGS):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__
    return None


# ---------------------------------------------------------------------------------------- stream
_PREFIX = struct.Struct("<I4s")


def fix_crcs(data: bytes) -> bytes:
    """The stream with each chunk's CRC recomputed, as far as its chunks can be framed (in its
    preamble's version's framing: version 11's one-letter types and varint lengths, or before)."""
    try:
        profile = container.read_preamble(io.BytesIO(data))
    except FpcodecError:
        return data
    out = bytearray(data)
    pos = container.PREAMBLE_SIZE
    while pos < len(out):
        if profile.compact_framing:
            try:
                length, start = container.read_uvarint(out, pos + 1, "chunk length", container.MAX_CHUNK)
            except FpcodecError:
                break
            tag = bytes(out[pos : pos + 1])
        elif pos + _PREFIX.size <= len(out):
            length, tag = _PREFIX.unpack_from(out, pos)
            start = pos + _PREFIX.size
        else:
            break
        body_end = start + length
        if body_end + 4 > len(out):
            break
        out[body_end : body_end + 4] = struct.pack("<I", zlib.crc32(out[start:body_end], zlib.crc32(tag)))
        pos = body_end + 4
    return bytes(out)


@lru_cache(maxsize=None)
def _cached_model(name: str, device: str):
    return registry.get(name, device=device)


def cached_get_model(name: str, device: str, weights=None):
    """pipeline._get_model, but each shipped predictor is built once (they are stateless)."""
    if weights is not None:  # not cached: the harness decodes with the shipped weights only
        return registry.get(name, device=device, weights=weights)
    try:
        return _cached_model(name, device)
    except KeyError:
        raise InputError(f"unknown model {name!r}") from None


def check_stream(data: bytes) -> None:
    """Decode the stream (chunk CRCs recomputed first unless its length is odd)."""
    if len(data) % 2 == 0:
        data = fix_crcs(data)
    pipeline.decode(data, max_pixels=FUZZ_MAX_PIXELS)


def _small_clips():
    """(name, frames) of a few frames cropped small from the test GIFs, RGB and RGBA."""
    for name, size, count in (
        ("carphone_000.gif", 32, 4),
        ("carphonew_000_5f.gif", 40, 3),
        ("odd/transparent_dispose.gif", 64, 3),
        ("odd/dispose_prev.gif", 48, 4),
        ("odd/test.colors.gif", 48, 2),
        ("odd/hopper.gif", 24, 2),
    ):
        frames = []
        for pixels, _ in fio.VideoReader(TEST_DATA / name).frames():
            frames.append(pixels[:size, :size].copy())
            if len(frames) == count:
                break
        yield Path(name).stem, frames


def _planar_seeds():
    """(name, stream) of small planar (version 7) streams: the yuv420p test clip cropped, in every
    kind of frame the encoder picks there, and 10-bit and gray versions of it; two whole frames
    of the bikes clip, with refined planes (version 13); 16-bit and planar RGB ones (version 17);
    4:1:1 and YUV with alpha (version 18); and three in substreams (version 14)."""
    from fpcodec.codec.planar_io import pixel_format_by_name, read_planes

    _, clip = read_planes(TEST_DATA / "carphone_yuv420p_64x48.mkv")
    for name, fmt_name, size in (
        ("yuv420p", "yuv420p", 24),
        ("yuv420p10le", "yuv420p10le", 16),
        ("gray", "gray", 20),
    ):
        fmt = pixel_format_by_name(fmt_name)
        buf = io.BytesIO()
        enc = pipeline.Encoder(
            buf, width=size, height=size, channels=fmt.planes, model="last-frame", pixel_format=fmt, keyint=3
        )
        for planes in clip[:5]:
            cropped = [planes[0][:size, :size]] + [p[: size // 2, : size // 2] for p in planes[1:]]
            cropped = cropped[: fmt.planes]
            if fmt.depth > 8:
                cropped = [p.astype("uint16") << 2 for p in cropped]
            enc.write_planes(cropped, 4)
        enc.close()
        yield f"planar_{name}", buf.getvalue()
    # Version 13's refinement: whole 64x48 frames, whose planes are large enough to be refined.
    _, clip = read_planes(TEST_DATA / "bikes_yuv420p_64x48.mkv")
    buf = io.BytesIO()
    enc = pipeline.Encoder(
        buf, width=64, height=48, channels=3, model="last-frame", pixel_format=pixel_format_by_name("yuv420p")
    )
    for planes in clip[:2]:
        enc.write_planes(planes, 4)
    enc.close()
    yield "planar_refined", buf.getvalue()
    # Version 17: 16-bit planes with real low bits, and planar RGB of 8-bit samples x257 (sample
    # rules, blue and red less green).
    luma = [planes[0][:16, :16].astype("uint16") for planes in clip[:3]]
    for fmt_name, frames in (
        ("yuv420p16le", [[y * 251, y[:8, :8] * 253, y[8:, 8:] * 255] for y in luma]),
        ("gbrp16le", [[y * 257, np.roll(y, 3) * 257, y[::-1] * 257] for y in luma]),
    ):
        fmt = pixel_format_by_name(fmt_name)
        buf = io.BytesIO()
        enc = pipeline.Encoder(buf, width=16, height=16, channels=3, model="last-frame", pixel_format=fmt)
        for planes in frames:
            enc.write_planes(planes, 4)
        enc.close()
        yield f"planar_{fmt_name}", buf.getvalue()
    # Version 18: 4:1:1 chroma (a quarter of the width) and a YUV frame with an alpha plane.
    for fmt_name, frames in (
        ("yuv411p", [[y.astype("uint8"), y[:, :4].astype("uint8"), y[:, 4:8].astype("uint8")] for y in luma]),
        (
            "yuva420p",
            [
                [
                    y.astype("uint8"),
                    y[:8, :8].astype("uint8"),
                    y[8:, 8:].astype("uint8"),
                    255 - y.astype("uint8"),
                ]
                for y in luma
            ],
        ),
    ):
        fmt = pixel_format_by_name(fmt_name)
        buf = io.BytesIO()
        enc = pipeline.Encoder(
            buf, width=16, height=16, channels=fmt.planes, model="last-frame", pixel_format=fmt
        )
        for planes in frames:
            enc.write_planes(planes, 4)
        enc.close()
        yield f"planar_{fmt_name}", buf.getvalue()
    # Version 14's substreams: three such frames with every raster frame in two (the encoder splits
    # only frames of 2^15 luma samples and more, raster intra 2^17; small seeds run faster).
    from fpcodec.codec.modes import planar

    saved = planar.SUBSTREAM_SAMPLES, planar.INTRA_SUBSTREAM_SAMPLES
    planar.SUBSTREAM_SAMPLES = planar.INTRA_SUBSTREAM_SAMPLES = 0
    try:
        buf = io.BytesIO()
        enc = pipeline.Encoder(
            buf,
            width=64,
            height=48,
            channels=3,
            model="last-frame",
            pixel_format=pixel_format_by_name("yuv420p"),
        )
        for planes in clip[:3]:
            enc.write_planes(planes, 4)
        enc.close()
    finally:
        planar.SUBSTREAM_SAMPLES, planar.INTRA_SUBSTREAM_SAMPLES = saved
    yield "planar_substreams", buf.getvalue()


def _screen_frames() -> list:
    """A small screen-like clip for version 9's tools: text that scrolls (shifted copies), a frame
    repeated (a REPT run), and a small change (in-place copies)."""
    page, _ = next(fio.VideoReader(TEST_DATA / "text_like.gif").frames())
    a = page[:40, :48].copy()
    b = page[3:43, :48].copy()
    c = b.copy()
    c[30:34, 40:46] = a[0, 0]
    return [a, b, b, c, c, c]


def _dialog_frames() -> list:
    """A small dialog screenshot for version 10's row schedule: a crop of jmeter_url_rewrite.gif,
    then the same crop with a few pixels changed (palette intra and inter, both in rows)."""
    page, _ = next(fio.VideoReader(TEST_DATA / "jmeter_url_rewrite.gif").frames())
    a = page[8:56, :120].copy()
    b = a.copy()
    b[20:26, 60:90] = a[0, 0]
    return [a, b]


def _rgb_planes_stream(frames: list) -> bytes:
    """RGB frames coded as planes (format version 16, pixel format 13)."""
    from fpcodec.codec.planar_io import PLANES_FOR_CHANNELS

    h, w, c = frames[0].shape
    buf = io.BytesIO()
    with pipeline.Encoder(
        buf, width=w, height=h, channels=c, model=registry.PLANAR_MODEL, pixel_format=PLANES_FOR_CHANNELS[c]
    ) as enc:
        for f in frames:
            enc.write(f, 4)
    return buf.getvalue()


def write_stream_seeds(corpus: Path) -> None:
    """tests/data/v*_stream.fpc, and streams of small clips: last-frame, last-frame in RGB modes only
    (--no-palette), conv2d-int, planar streams, a screen-like clip (copied blocks, repeats), a
    dialog screenshot in the pass coder (the row schedule) and in palette LZ (version 15), RGB
    and RGBA frames as planes (version 16), planar frames of JPEG levels (version 19:
    tests/data/v19_jpeg.fpc) and planar inter frames read by MPEG interpolation rules (version 20:
    tests/data/v20_mpeg4.fpc)."""
    fixtures = [TEST_DATA / "v19_jpeg.fpc", TEST_DATA / "v20_mpeg4.fpc"]
    for path in sorted(TEST_DATA.glob("v*_stream.fpc")) + fixtures:
        (corpus / path.name).write_bytes(path.read_bytes())
    screen, dialog = _screen_frames(), _dialog_frames()
    (corpus / "screen_v9.fpc").write_bytes(pipeline.encode(screen, model="last-frame", lz_frames=False))
    (corpus / "rows_v10.fpc").write_bytes(pipeline.encode(dialog, model="last-frame", lz_frames=False))
    (corpus / "lz_v15.fpc").write_bytes(pipeline.encode(dialog, model="last-frame"))
    (corpus / "rgb_planes_v16.fpc").write_bytes(_rgb_planes_stream([f[:24, :32] for f in screen[:3]]))
    with_alpha = [np.dstack([f[:16, :24], f[:16, :24, :1]]) for f in screen[:2]]
    (corpus / "rgba_planes_v16.fpc").write_bytes(_rgb_planes_stream(with_alpha))
    for name, data in _planar_seeds():
        (corpus / f"{name}.fpc").write_bytes(data)
    for stem, frames in _small_clips():
        durs = [4] * len(frames)
        (corpus / f"{stem}_last.fpc").write_bytes(pipeline.encode(frames, durations=durs, model="last-frame"))
        (corpus / f"{stem}_rgb.fpc").write_bytes(
            pipeline.encode(frames, durations=durs, model="last-frame", use_palette=False)
        )
        if stem in ("carphone_000", "transparent_dispose"):
            small = [f[:16, :16] for f in frames[:3]]
            (corpus / f"{stem}_conv2d.fpc").write_bytes(pipeline.encode(small, model="conv2d-int"))
            (corpus / f"{stem}_conv2d_rgb.fpc").write_bytes(
                pipeline.encode(small, model="conv2d-int", use_palette=False)
            )


# ------------------------------------------------------------------------------------ gif_blocks
def check_gif_blocks(data: bytes) -> None:
    """walk() promises never to raise on any bytes."""
    result = gif_blocks.walk(data)
    if not isinstance(result, gif_blocks.GifStructure) or result.images < 0:
        raise RuntimeError(f"walk returned {result!r}")


def write_gif_seeds(corpus: Path) -> None:
    for path in sorted(TEST_DATA.rglob("*.gif")):
        (corpus / path.name).write_bytes(path.read_bytes())


# ----------------------------------------------------------------------------------------- input
#: Frames encoded per input, and the largest side encoded (the reader still walks, probes and
#: decodes every frame whole; the crop only keeps the encoder's share of an execution small).
ENCODED_FRAMES = 2
ENCODED_SIDE = 48
_WORK: Path | None = None


def check_input(data: bytes) -> None:
    """Write the bytes to a file, open it with VideoReader and encode its first frames with last-frame."""
    global _WORK
    if _WORK is None:
        _WORK = Path(tempfile.mkdtemp(prefix="fpcodec-fuzz-input-"))
        atexit.register(shutil.rmtree, _WORK, ignore_errors=True)
    path = _WORK / "input"
    path.write_bytes(data)
    reader = fio.VideoReader(path, max_pixels=FUZZ_MAX_PIXELS)
    info = reader.info
    out = io.BytesIO()
    width, height = min(info.width, ENCODED_SIDE), min(info.height, ENCODED_SIDE)
    with pipeline.Encoder(
        out,
        width=width,
        height=height,
        channels=info.channels,
        model="last-frame",
        time_base=info.time_base,
        loop=info.loop,
        max_pixels=FUZZ_MAX_PIXELS,
    ) as enc:
        for pixels, duration in itertools.islice(reader.frames(), ENCODED_FRAMES):
            enc.write(pixels[:height, :width], duration)


def write_input_seeds(corpus: Path) -> None:
    """The GIFs in tests/data up to 30 kB, and APNG and WebP clips made from a few small frames of
    them (FFmpeg reads still WebP only: an animated WebP input is refused cleanly)."""
    from PIL import Image

    for path in sorted(TEST_DATA.rglob("*.gif")):
        if path.stat().st_size <= 30_000:
            (corpus / path.name).write_bytes(path.read_bytes())
    for name, size in (("carphone_000.gif", 24), ("odd/transparent_dispose.gif", 32)):
        frames = [
            Image.fromarray(p[:size, :size].copy())
            for p, _ in itertools.islice(fio.VideoReader(TEST_DATA / name).frames(), 3)
        ]
        stem = Path(name).stem
        for ext, kw in ((".png", {}), (".webp", {"lossless": True})):
            frames[0].save(
                corpus / f"{stem}{ext}", save_all=True, append_images=frames[1:], duration=40, loop=0, **kw
            )
        os.rename(corpus / f"{stem}.png", corpus / f"{stem}.apng")
        frames[0].save(corpus / f"{stem}_still.webp", lossless=True)


# ------------------------------------------------------------------------------------------------
#: target -> (check, exceptions allowed, seed writer)
TARGETS = {
    "stream": (check_stream, (FpcodecError,), write_stream_seeds),
    "gif_blocks": (check_gif_blocks, (), write_gif_seeds),
    "input": (check_input, (FpcodecError,), write_input_seeds),
}


def replay(target: str, data: bytes) -> None:
    """Run one input as the harness does; raises whatever the harness would report as a finding."""
    check, allowed, _ = TARGETS[target]
    try:
        check(data)
    except allowed as exc:
        bug = masked_bug(exc)
        if bug is not None:
            raise bug from exc
