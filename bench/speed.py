"""Encode and decode frames per second of fpcodec models on given clips, in one process.

    python -m fpcodec.bench.speed CLIP... [--model NAME ...] [--repeats 3] [--device cpu]

A CLIP may be a training pack (``.npz``, ``models.training.data``): each of its clips is timed.

Each model encodes and decodes each clip ``--repeats`` times; the median is reported. Running the
models side by side in one process keeps their ratios comparable on a noisy machine.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from typing import Sequence

import numpy as np

from ..codec import Decoder, Encoder
from ..codec.io import VideoInfo
from ..models import registry
from ..models.base import Predictor
from .run import source_clips


def encode_once(frames: Sequence[np.ndarray], info: VideoInfo, model: Predictor) -> tuple[float, bytes]:
    """(seconds, stream) of one in-process encode of ``frames`` (one tick each) with ``model``."""
    buf = io.BytesIO()
    started = time.perf_counter()
    enc = Encoder(buf, width=info.width, height=info.height, channels=info.channels, model=model)
    for f in frames:
        enc.write(f, 1)
    enc.close()
    return time.perf_counter() - started, buf.getvalue()


def time_in_process(
    frames: Sequence[np.ndarray], info: VideoInfo, model: Predictor, repeats: int
) -> tuple[list[float], list[float], bytes, int]:
    """(encode seconds, decode seconds, the last stream, frames decoded) of ``repeats`` warm runs.

    The model object is built once by the caller and reused for every encode and decode (no reload),
    so this is the steady state: no imports, no weight loading, no file I/O.
    """
    enc_s, dec_s = [], []
    stream, count = b"", 0
    for _ in range(repeats):
        seconds, stream = encode_once(frames, info, model)
        enc_s.append(seconds)
        started = time.perf_counter()
        dec = Decoder(io.BytesIO(stream), predictor=model)  # the same object: no reload
        count = sum(1 for _ in dec)
        dec_s.append(time.perf_counter() - started)
    return enc_s, dec_s, stream, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--model", nargs="+", default=["last-frame", registry.DEFAULT_MODEL])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="where the models run: cpu (default), cuda or auto")
    args = parser.parse_args(argv)
    models = {name: registry.get(name, device=args.device) for name in args.model}
    for path, frames, info in (c for clip in args.clips for c in source_clips(clip)):
        for name, model in models.items():
            enc_s, dec_s, stream, count = time_in_process(frames, info, model, args.repeats)
            bpp = 8 * len(stream) / (count * info.width * info.height)
            print(
                f"{path} {info.width}x{info.height} {name}: {bpp:.3f} bits/pixel, "
                f"encode {count / statistics.median(enc_s):.1f} frames/s, "
                f"decode {count / statistics.median(dec_s):.1f} frames/s "
                f"(median of {args.repeats}, {count} frames)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
