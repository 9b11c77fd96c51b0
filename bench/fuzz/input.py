"""Fuzz target: the input path (``VideoReader``, then a ``last-frame`` encode) on GIF/APNG/WebP bytes.

Each input is written to a temporary file, opened with ``VideoReader`` (the GIF block walk, FFmpeg or
Pillow) and its first frames are encoded with last-frame, as ``fpcodec encode -m last-frame`` does.
Seeds: the GIFs in tests/data, and APNG and WebP clips made here from a few small frames of them
(FFmpeg reads still WebP only: an animated WebP input is refused cleanly).

    python -m fpcodec.bench.fuzz.input [-max_total_time=60 -timeout=10 -rss_limit_mb=3072] [CORPUS]
"""

from __future__ import annotations

import io
import itertools
import os
import sys
import tempfile
from pathlib import Path

import atheris

from . import _common

with atheris.instrument_imports(
    include=["fpcodec.codec", "fpcodec.bitstream", "fpcodec.models"], exclude=["fpcodec.codec.weight_kernel"]
):
    from fpcodec.bitstream.errors import FpcodecError
    from fpcodec.codec import gif_blocks, io as fio, pipeline  # noqa: F401
    from fpcodec.models import last_frame  # noqa: F401

#: Frames encoded per input, and the largest side encoded (the reader still walks, probes and
#: decodes every frame whole; the crop only keeps the encoder's share of an execution small).
ENCODED_FRAMES = 2
ENCODED_SIDE = 48
_WORK = Path(tempfile.mkdtemp(prefix="fpcodec-fuzz-input-"))


def check(data: bytes) -> None:
    path = _WORK / "input"
    path.write_bytes(data)
    reader = fio.VideoReader(path, max_pixels=_common.FUZZ_MAX_PIXELS)
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
        max_pixels=_common.FUZZ_MAX_PIXELS,
    ) as enc:
        for pixels, duration in itertools.islice(reader.frames(), ENCODED_FRAMES):
            enc.write(pixels[:height, :width], duration)


def write_seeds(corpus: Path) -> None:
    from PIL import Image

    gifs = sorted(_common.TEST_DATA.rglob("*.gif"))
    for path in gifs:
        if path.stat().st_size <= 30_000:
            (corpus / path.name).write_bytes(path.read_bytes())
    for name, size in (("carphone_000.gif", 24), ("odd/transparent_dispose.gif", 32)):
        frames = [
            Image.fromarray(p[:size, :size].copy())
            for p, _ in itertools.islice(fio.VideoReader(_common.TEST_DATA / name).frames(), 3)
        ]
        stem = Path(name).stem
        for ext, kw in ((".png", {}), (".webp", {"lossless": True})):
            frames[0].save(
                corpus / f"{stem}{ext}", save_all=True, append_images=frames[1:], duration=40, loop=0, **kw
            )
        os.rename(corpus / f"{stem}.png", corpus / f"{stem}.apng")
        frames[0].save(corpus / f"{stem}_still.webp", lossless=True)  # FFmpeg reads still WebP only


def warm_up() -> None:
    for path in sorted(_common.seed_dir("input", write_seeds).iterdir()):
        try:
            check(path.read_bytes())
        except FpcodecError:
            pass


def main() -> None:
    _common.run(
        "input", _common.bounded(check, (FpcodecError,), seconds=20), write_seeds, warm_up, memory_mb=2048
    )


if __name__ == "__main__":
    main()
    sys.exit(0)
