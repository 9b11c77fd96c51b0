"""Fuzz target: the input path (``VideoReader``, then a ``last-frame`` encode) on GIF/APNG/WebP bytes.

Each input is written to a temporary file, opened with ``VideoReader`` (the GIF block walk, FFmpeg or
Pillow) and its first frames are encoded with last-frame, as ``fpcodec encode -m last-frame`` does.
Seeds: the GIFs in tests/data, and APNG and WebP clips made from a few small frames of them (FFmpeg
reads still WebP only: an animated WebP input is refused cleanly).

    python -m fpcodec.bench.fuzz.input [-max_total_time=60 -timeout=30 -rss_limit_mb=3072] [CORPUS]
"""

import atheris

from . import _common

with atheris.instrument_imports(
    include=["fpcodec.codec", "fpcodec.bitstream", "fpcodec.models"], exclude=["fpcodec.codec.weight_kernel"]
):
    from fpcodec.codec import gif_blocks, io, pipeline  # noqa: F401 (instrumented for coverage)
    from fpcodec.models import last_frame  # noqa: F401

    from . import targets  # noqa: F401

if __name__ == "__main__":
    _common.run("input", seconds=20, memory_mb=2048)
