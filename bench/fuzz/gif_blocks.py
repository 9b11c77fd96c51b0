"""Fuzz target: the GIF block walker (``codec/gif_blocks.walk``), which must never raise.

python -m fpcodec.bench.fuzz.gif_blocks [-max_total_time=60 -timeout=10 -rss_limit_mb=3072] [CORPUS]
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

from . import _common

with atheris.instrument_imports(include=["fpcodec.codec.gif_blocks"]):
    from fpcodec.codec import gif_blocks


def check(data: bytes) -> None:
    result = gif_blocks.walk(data)
    if not isinstance(result, gif_blocks.GifStructure) or result.images < 0:
        raise RuntimeError(f"walk returned {result!r}")


def write_seeds(corpus: Path) -> None:
    for path in sorted(_common.TEST_DATA.rglob("*.gif")):
        (corpus / path.name).write_bytes(path.read_bytes())


def main() -> None:
    # walk() promises never to raise: no exception is allowed.
    _common.run("gif_blocks", _common.bounded(check, (), seconds=5), write_seeds, lambda: None, memory_mb=512)


if __name__ == "__main__":
    main()
    sys.exit(0)
