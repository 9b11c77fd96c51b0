"""Warm decoding time of streams inside one process: the decoder's own work, without the process's
start-up, imports and numba's cache loading, which dominate a whole `fpcodec decode` of a short
clip. Run it under ``NUMBA_NUM_THREADS=1 taskset -c 0`` and without, to see what a second core
gives (bench/SPEED.md, "Substreams"):

    python -m fpcodec.bench.warm_decode a.fpc b.fpc --repeats 7
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

from tqdm import tqdm


def decode_times(data: bytes, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` decodes of the stream ``data``, after one that is not
    counted (it loads the model and the compiled kernels)."""
    from fpcodec.codec.pipeline import Decoder

    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for _frame in Decoder(io.BytesIO(data)).frames():
            pass
        times.append(time.perf_counter() - start)
    return times[1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("streams", nargs="+", type=Path, help=".fpc streams")
    parser.add_argument("--repeats", type=int, default=7, help="timed decodes of each stream (default 7)")
    args = parser.parse_args(argv)
    for path in tqdm(args.streams, desc="streams", disable=len(args.streams) < 2):
        times = decode_times(path.read_bytes(), args.repeats)
        runs = " ".join(f"{t * 1000:.0f}" for t in times)
        tqdm.write(f"{path.name}: median {statistics.median(times) * 1000:.0f} ms ({runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
