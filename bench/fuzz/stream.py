"""Fuzz target: the stream decoder as a whole (``fpcodec.codec.pipeline.decode`` on mutated bytes).

Reaches the container, the palette chunks, the entropy payloads of every mode and every format
version: before decoding, the harness recomputes the CRC of every chunk it can frame (unless the
input's length is odd), so that mutations get past the chunk checksums into the parsers behind them.
Seeds: tests/data/v*_stream.fpc, and streams encoded here from tests/data GIFs (a few frames, small
crops) with last-frame, with last-frame in RGB modes only (``--no-palette``) and with conv2d-int.

    python -m fpcodec.bench.fuzz.stream [-max_total_time=60 -timeout=10 -rss_limit_mb=3072] [CORPUS]
"""

from __future__ import annotations

import struct
import sys
import zlib
from functools import lru_cache
from pathlib import Path

import atheris

from . import _common

with atheris.instrument_imports(
    include=["fpcodec.codec", "fpcodec.bitstream", "fpcodec.models"], exclude=["fpcodec.codec.weight_kernel"]
):
    from fpcodec.bitstream import container
    from fpcodec.bitstream import entropy, palette  # noqa: F401 (instrumented for coverage)
    from fpcodec.bitstream.errors import FpcodecError
    from fpcodec.codec import frame_coding, palette_coding, palette_context, pipeline  # noqa: F401
    from fpcodec.models import intra, last_frame, registry  # noqa: F401

_PREFIX = struct.Struct("<I4s")


def fix_crcs(data: bytes) -> bytes:
    """The stream with each chunk's CRC recomputed, as far as its chunks can be framed."""
    out = bytearray(data)
    pos = container._PREAMBLE.size
    while pos + _PREFIX.size <= len(out):
        length, kind = _PREFIX.unpack_from(out, pos)
        body_end = pos + _PREFIX.size + length
        if body_end + 4 > len(out):
            break
        out[body_end : body_end + 4] = struct.pack("<I", zlib.crc32(out[pos + 4 : body_end]))
        pos = body_end + 4
    return bytes(out)


@lru_cache(maxsize=None)
def _cached_model(name: str, device: str):
    return registry.get(name, device=device)


def _get_model(name: str, device: str):
    try:
        return _cached_model(name, device)
    except KeyError:
        raise pipeline.InputError(f"unknown model {name!r}") from None


def check(data: bytes) -> None:
    if len(data) % 2 == 0:
        data = fix_crcs(data)
    pipeline.decode(data, max_pixels=_common.FUZZ_MAX_PIXELS)


def _small_clips():
    """(name, frames) of a few frames cropped small from the test GIFs, RGB and RGBA."""
    from fpcodec.codec.io import VideoReader

    for name, size, count in (
        ("carphone_000.gif", 32, 4),
        ("carphonew_000_5f.gif", 40, 3),
        ("odd/transparent_dispose.gif", 64, 3),
        ("odd/dispose_prev.gif", 48, 4),
        ("odd/test.colors.gif", 48, 2),
        ("odd/hopper.gif", 24, 2),
    ):
        path = _common.TEST_DATA / name
        frames = []
        for pixels, _ in VideoReader(path).frames():
            frames.append(pixels[:size, :size].copy())
            if len(frames) == count:
                break
        yield Path(name).stem, frames


def write_seeds(corpus: Path) -> None:
    for path in sorted(_common.TEST_DATA.glob("v*_stream.fpc")):
        (corpus / path.name).write_bytes(path.read_bytes())
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


def warm_up() -> None:
    """Load the models and compile the kernels once, before the address-space cap."""
    pipeline._get_model = _get_model
    for path in sorted(_common.seed_dir("stream", write_seeds).iterdir()):
        try:
            pipeline.decode(path.read_bytes())
        except FpcodecError:
            pass


def main() -> None:
    _common.run(
        "stream", _common.bounded(check, (FpcodecError,), seconds=20), write_seeds, warm_up, memory_mb=2048
    )


if __name__ == "__main__":
    main()
    sys.exit(0)
