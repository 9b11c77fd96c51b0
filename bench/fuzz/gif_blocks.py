"""Fuzz target: the GIF block walker (``codec/gif_blocks.walk``), which must never raise.

python -m fpcodec.bench.fuzz.gif_blocks [-max_total_time=60 -timeout=30 -rss_limit_mb=3072] [CORPUS]
"""

import atheris

from . import _common

with atheris.instrument_imports(include=["fpcodec.codec.gif_blocks"]):
    from fpcodec.codec import gif_blocks  # noqa: F401

if __name__ == "__main__":
    _common.run("gif_blocks", seconds=5, memory_mb=512)
