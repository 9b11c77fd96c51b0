"""Fuzz target: the stream decoder as a whole (``fpcodec.codec.pipeline.decode`` on mutated bytes).

Reaches the container, the palette chunks, the entropy payloads of every mode and every format
version: before decoding, the harness recomputes the CRC of every chunk it can frame (unless the
input's length is odd), so that mutations get past the chunk checksums into the parsers behind them.
Seeds: tests/data/v*_stream.fpc, streams encoded from tests/data GIFs (a few frames, small crops)
with last-frame, with last-frame in RGB modes only (``--no-palette``) and with conv2d-int, and
planar streams (yuv420p, yuv420p10le, gray) of the test clip carphone_yuv420p_64x48.mkv,
tests/data/v19_jpeg.fpc (planar frames of JPEG levels) and tests/data/v20_mpeg4.fpc (inter frames
read by MPEG interpolation rules).

    python -m fpcodec.bench.fuzz.stream [-max_total_time=60 -timeout=30 -rss_limit_mb=3072] [CORPUS]
"""

import atheris

from . import _common

with atheris.instrument_imports(
    include=["fpcodec.codec", "fpcodec.bitstream", "fpcodec.models"], exclude=["fpcodec.codec.weight_kernel"]
):
    from fpcodec.bitstream import entropy, palette  # noqa: F401 (instrumented for coverage)
    from fpcodec.codec import frame_coding, palette_coding, palette_context, pipeline  # noqa: F401
    from fpcodec.codec import dct_coding, intra, jpeg_blocks, motion, planar_coding  # noqa: F401
    from fpcodec.codec import planar_rule, raster_rule  # noqa: F401
    from fpcodec.codec.modes import planar  # noqa: F401
    from fpcodec.models import last_frame, registry  # noqa: F401

    from . import targets

if __name__ == "__main__":
    pipeline._get_model = targets.cached_get_model  # predictors are stateless: build each once
    _common.run("stream", seconds=20, memory_mb=2048)
