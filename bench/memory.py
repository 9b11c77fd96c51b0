"""Peak memory of a codec, measured as the peak resident set size (RSS) of a child process.

tracemalloc sees Python objects and numpy buffers only: it put fpcodec's decoder at 12 MiB while its
process peaks near 250 MB (torch, FFmpeg and the codec libraries allocate natively). So each
measurement here is a fresh ``python -m fpcodec.bench.memory`` process that loads the frames from a
.npy file, encodes them (or decodes a stream) once with one codec, and reports its own
``ru_maxrss``. The number includes the interpreter, numpy, the codec's libraries and the frames
themselves; ``baseline`` measures a child that only loads the frames, for comparison.

Codecs are named, not passed as objects: ``fpcodec:<model>`` or an external name from
``bench.codecs.ALL_CODECS``; other adapters (test doubles) cannot be measured this way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from .codecs import ALL_CODECS

FPCODEC_PREFIX = "fpcodec:"
#: The name after ``fpcodec:`` of RGB(A) frames coded as planes (``encode(planes=True)``), what
#: ``fpcodec encode`` does with an RGB source of many colours; not a predictor of the registry.
RGB_PLANES = "rgb-planes"


def measurable(codec: str) -> bool:
    """Whether a child process can rebuild ``codec`` from its name."""
    return codec.startswith(FPCODEC_PREFIX) or codec in ALL_CODECS


def maxrss_bytes() -> int:
    """This process's peak RSS. Linux: VmHWM of /proc/self/status, since ``ru_maxrss`` survives exec
    and so would report the parent's size at fork time; elsewhere ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # Linux reports KiB


def _child(args: list[str], timeout: float) -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "fpcodec.bench.memory", *args], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory child failed ({proc.returncode}): {tail[:300]}")
    return int(json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_bytes"])


def peak_rss(
    codec: str,
    frames: Sequence[np.ndarray],
    durations: Sequence[int],
    time_base: Fraction,
    frame_ms: int,
    device: str = "cpu",
    timeout: float = 1800,
) -> tuple[int, int]:
    """(encode peak RSS, decode peak RSS) in bytes of child processes running ``codec`` once."""
    with tempfile.TemporaryDirectory(prefix="fpcodec-mem-") as tmp:
        job = _write_job(Path(tmp), codec, frames, durations, time_base, frame_ms, device)
        enc = _child(["encode", str(job)], timeout)
        dec = _child(["decode", str(job)], timeout)
    return enc, dec


def baseline_rss(frames: Sequence[np.ndarray], timeout: float = 600) -> int:
    """Peak RSS of a child that loads the frames and does nothing else."""
    with tempfile.TemporaryDirectory(prefix="fpcodec-mem-") as tmp:
        job = _write_job(Path(tmp), "none", frames, [0] * len(frames), Fraction(1, 100), 40, "cpu")
        return _child(["baseline", str(job)], timeout)


def _write_job(tmp: Path, codec: str, frames, durations, time_base, frame_ms, device) -> Path:
    np.save(tmp / "frames.npy", np.stack([np.asarray(f) for f in frames]))
    job = {
        "codec": codec,
        "frames": str(tmp / "frames.npy"),
        "stream": str(tmp / "stream.bin"),
        "durations": [int(d) for d in durations],
        "time_base": str(time_base),
        "frame_ms": int(frame_ms),
        "device": device,
    }
    path = tmp / "job.json"
    path.write_text(json.dumps(job))
    return path


def _run(step: str, job: dict) -> None:
    frames = list(np.load(job["frames"])) if step != "decode" else []  # a decoder never holds the input
    if step == "baseline":
        return
    codec = job["codec"]
    if codec.startswith(FPCODEC_PREFIX):
        from fpcodec.codec import decode, encode

        if step == "encode":
            name = codec[len(FPCODEC_PREFIX) :]
            data = encode(
                frames,
                durations=job["durations"],
                time_base=Fraction(job["time_base"]),
                device=job["device"],
                **({"planes": True} if name == RGB_PLANES else {"model": name}),
            )
            Path(job["stream"]).write_bytes(data)
        else:
            decode(Path(job["stream"]).read_bytes(), device=job["device"])
        return
    from .codecs import get_adapters

    adapter = get_adapters([codec])[0]
    if step == "encode":
        ms = job["frame_ms"]
        Path(job["stream"]).write_bytes(adapter.encode(frames, [ms] * len(frames), Fraction(1000, ms)))
    else:
        adapter.decode(Path(job["stream"]).read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.memory",
        description="One codec step in this process; prints its peak RSS.",
    )
    parser.add_argument("step", choices=("encode", "decode", "baseline"))
    parser.add_argument("job", help="job.json written by peak_rss()")
    args = parser.parse_args(argv)
    _run(args.step, json.loads(Path(args.job).read_text()))
    print(json.dumps({"peak_rss_bytes": maxrss_bytes(), "pid": os.getpid()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
