"""The range decoder's search for a symbol, timed alone.

    python -m fpcodec.bench.range_speed [--scales 0,10,20,30,40,50] [--values 400000] [STREAM.fpc ...]

Two measures, each printed with the symbols checked against what was coded:

- **Laplace rows** (``RangeDecoder.decode_values``: RGB frames' values; the same search as the
  planar wavefronts' window rows and the motion field's): synthetic values, a seeded Laplace of
  each scale index around means drawn over the range, coded by ``RangeEncoder.encode_values``
  and decoded back; nanoseconds a value, the median of ``--repeats``. To compare two source
  trees, run it in each (``PYTHONPATH=/tmp/fpold python -m fpcodec.bench.range_speed``), the runs
  alternating: the values and words are the same in both.
- **Palette rows' running sums** (``RangeDecoder.decode_sums``), for each STREAM: its first
  ``--blocks`` blocks of running sums, with the likely symbols ``codec.modes.palette`` gives the
  decoder and the decoder's state before each, captured from one decode in this process; then
  each block decoded again from that state with the hints and without them, alternating: the
  sums of the two times (medians over ``--repeats``), and how often a hint was the symbol.

Results: bench/SPEED.md, "The range decoder's searches".
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import numpy as np

from ..bitstream import entropy, range_decoder, range_encoder


def laplace_times(scale_idx: int, values: int, repeats: int, seed: int = 0) -> tuple[float, float]:
    """(nanoseconds a value, scale) of ``decode_values`` on ``values`` synthetic values of
    ``scale_idx``; raises AssertionError if a value comes back wrong."""
    rng = np.random.default_rng(seed + scale_idx)
    scale = float(entropy.SCALE_TABLE[scale_idx])
    mean_q = rng.integers(16 * 20, 16 * 236, values)
    coded = np.clip(np.round(mean_q / 16 + rng.laplace(0.0, scale, values)), 0, 255).astype(np.uint8)
    scales = np.full(values, scale_idx)
    enc = range_encoder.RangeEncoder()
    enc.encode_values(coded, mean_q, scales)
    words = enc.words()
    times = []
    for _ in range(repeats + 1):  # the first compiles or loads the kernel
        dec = range_decoder.RangeDecoder(words)
        started = time.perf_counter()
        got = dec.decode_values(mean_q, scales)
        times.append(time.perf_counter() - started)
        assert np.array_equal(got, coded), f"scale index {scale_idx}: values decoded wrong"
    return 1e9 * statistics.median(times[1:]) / values, scale


def captured_sums(
    stream: bytes, blocks: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(sums, hints, words, state before, symbols) of the first ``blocks`` ``decode_sums`` calls
    with hints (the palette decoder's) of a decode of ``stream``, in order (a 480x270 frame's
    blocks of running sums hold 270 MB)."""
    from ..codec.pipeline import Decoder

    calls = []
    real = range_decoder.RangeDecoder.decode_sums

    def spy(self, sums, hints=None):
        before = self.state.copy()
        out = real(self, sums, hints)
        if hints is not None and len(hints) and len(calls) < blocks:
            calls.append((np.array(sums), np.array(hints, np.int32, ndmin=2), self.words, before, out))
        return out

    range_decoder.RangeDecoder.decode_sums = spy
    try:
        for _ in Decoder(io.BytesIO(stream)).frames():
            pass
    finally:
        range_decoder.RangeDecoder.decode_sums = real
    return calls


def _decoder_at(words: np.ndarray, state: np.ndarray) -> range_decoder.RangeDecoder:
    dec = range_decoder.RangeDecoder(words)
    dec.state[:] = state
    return dec


def hint_times(calls: list, repeats: int) -> tuple[float, float, float]:
    """(seconds without hints, seconds with them, the share of rows where a hint is the symbol)
    over the captured calls; raises AssertionError where a decode gives other symbols than the
    captured ones."""
    without, with_hints = [], []
    for r in range(repeats + 1):
        totals = [0.0, 0.0]
        for k, (sums, hints, words, state, symbols) in enumerate(calls):
            for use in (0, 1) if (k + r) % 2 == 0 else (1, 0):
                dec = _decoder_at(words, state)
                started = time.perf_counter()
                got = dec.decode_sums(sums, hints if use else None)
                totals[use] += time.perf_counter() - started
                assert np.array_equal(got, symbols), "a block decoded to other symbols"
        if r:  # the first compiles or loads the kernel
            without.append(totals[0])
            with_hints.append(totals[1])
    rows = sum(c[4].size for c in calls)
    hit = sum(int((c[1] == c[4][None]).any(axis=0).sum()) for c in calls)
    return statistics.median(without), statistics.median(with_hints), hit / max(rows, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.range_speed", description=__doc__.split("\n")[0]
    )
    ap.add_argument("streams", nargs="*", type=Path, help="fpcodec streams whose palette rows to time")
    ap.add_argument("--scales", default="0,10,20,30,40,50", help="scale indices of the Laplace rows")
    ap.add_argument("--values", type=int, default=400_000, help="values a scale")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--blocks", type=int, default=300, help="a stream's first blocks of running sums timed")
    args = ap.parse_args(argv)
    for s in (int(x) for x in args.scales.split(",") if x):
        ns, scale = laplace_times(s, args.values, args.repeats)
        print(f"Laplace rows, scale index {s} (b = {scale:.2f}): {ns:.1f} ns a value", flush=True)
    for path in args.streams:
        calls = captured_sums(path.read_bytes(), args.blocks)
        rows = sum(c[4].size for c in calls)
        if not rows:
            print(f"{path}: no palette rows decoded from running sums")
            continue
        without, with_hints, hit = hint_times(calls, args.repeats)
        print(
            f"{path}: {rows} palette rows in {len(calls)} blocks: {1e9 * without / rows:.1f} ns a row "
            f"without hints, {1e9 * with_hints / rows:.1f} with ({with_hints / without:.2f}x); "
            f"a hint is the symbol in {100 * hit:.1f} % of the rows",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
