"""Where a warm decode's time goes, stage by stage, timed in-process.

    python -m fpcodec.bench.decode_share STREAM.fpc [--repeats 3]

Decodes the stream ``--repeats`` times in one process (the predictor loaded once, as
``bench.speed``'s steady state) and times the last run's stages with wrappers around the functions
that do them: the learned model, the palette rows (model weights, the votes' mix and context blend),
the range decoder, the context keys and count tables, and so on. Each line is one function's
inclusive time, its share of the whole decode and its number of calls; stages nest (the palette
rows are inside ``code_passes``, and the model inside a frame's decoding, which asks for it once
it knows which pixels it codes), so the shares do not add up to 100 %.

Why not a sampling profiler alone: py-spy leaves out the samples where a thread waits (unless
``--idle``), and the decoder's main thread waits for the model's convolutions on fpcodec's thread
pool, so the model's share came out at 22 % of a 96x96 decode where these timers give 36 %; and it
gave 6-9 % to ``neighbour_colours``, a kernel that takes 1 % by the clock.
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: (module, attribute path, what it does): the stages timed.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("fpcodec.models.integer", "IntegerPredictor.predict_region", "learned model (integer)"),
    ("fpcodec.codec.frame_coding", "decode_frame", "a frame's decoding, the model included"),
    ("fpcodec.codec.modes.palette", "code_passes", "palette passes"),
    ("fpcodec.codec.weight_kernel", "colour_weights", "palette rows: model weights"),
    ("fpcodec.codec.rows_kernel", "mix_blend", "palette rows: votes' mix and context blend"),
    ("fpcodec.bitstream.entropy", "FrameDecoder.decode_categorical", "range decoding of indices"),
    ("fpcodec.bitstream.entropy", "FrameDecoder.decode_sums", "range decoding of palette rows' sums"),
    ("fpcodec.codec.palette_context", "ContextCounts._levels", "count tables: sort and merge"),
    ("fpcodec.codec.modes.palette", "pretrained_counts", "counts of the previous frame"),
    ("fpcodec.codec.rows_kernel", "context_keys", "context keys"),
    ("fpcodec.codec.palette_context", "ContextCounts.add", "counts: codes added"),
    ("fpcodec.models.integer", "IntegerPrediction.pixels", "a pass's model planes"),
    ("fpcodec.codec.palette_coding", "previous_matches", "previous colours in this palette"),
    ("fpcodec.codec.rows_kernel", "neighbour_colours", "neighbours' colours"),
    ("fpcodec.codec.pipeline", "decode_palette", "palettes (PLTE)"),
    ("fpcodec.codec.intra", "pass_params", "palette intra's rule"),
)


@contextmanager
def timed(stages=STAGES) -> Iterator[tuple[collections.Counter, collections.Counter]]:
    """(seconds, calls) per stage label, counted while the context is open; the functions are
    restored on exit. A stage is wrapped where its callers look it up (a module's global), so a
    function imported by name into another module is wrapped there (``pipeline.decode_palette``)."""
    seconds: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    restore = []
    for module_name, path, label in stages:
        owner = importlib.import_module(module_name)
        *outer, name = path.split(".")
        for part in outer:
            owner = getattr(owner, part)
        original = owner.__dict__[name]
        restore.append((owner, name, original))
        setattr(owner, name, _wrapped(original, label, seconds, calls))
    try:
        yield seconds, calls
    finally:
        for owner, name, original in reversed(restore):
            setattr(owner, name, original)


def _wrapped(function: Callable, label: str, seconds: collections.Counter, calls: collections.Counter):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - started
            calls[label] += 1

    return wrapper


def decode_shares(data: bytes, repeats: int = 3) -> tuple[float, int, list[tuple[str, float, int]]]:
    """(seconds of the last decode, frames, [(stage, seconds, calls)] largest first) of ``repeats``
    warm decodes of the stream ``data`` in this process."""
    from ..codec.pipeline import Decoder

    predictor = None
    total, frames = 0.0, 0
    for _ in range(max(1, repeats)):
        with timed() as (seconds, calls):
            decoder = Decoder(io.BytesIO(data), predictor=predictor)
            predictor = decoder.predictor
            started = time.perf_counter()
            frames = sum(1 for _ in decoder)
            total = time.perf_counter() - started
    rows = sorted(((label, seconds[label], calls[label]) for label in seconds), key=lambda r: -r[1])
    return total, frames, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.decode_share", description=__doc__.split("\n")[0]
    )
    ap.add_argument("stream", help="an fpcodec stream")
    ap.add_argument("--repeats", type=int, default=3, help="decodes in all; the last is reported (default 3)")
    args = ap.parse_args(argv)
    with open(args.stream, "rb") as f:
        data = f.read()
    total, frames, rows = decode_shares(data, args.repeats)
    print(
        f"{args.stream}: {frames} frames in {total * 1000:.0f} ms ({total / max(frames, 1) * 1000:.1f} ms a frame)"
    )
    width = max((len(label) for label, _, _ in rows), default=0)
    for label, seconds, calls in rows:
        print(
            f"  {label:<{width}}  {seconds * 1000:8.1f} ms  {100 * seconds / total:5.1f} %  {calls:6d} calls"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
