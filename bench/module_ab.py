"""In-process A/B of one ``fpcodec.codec`` module: an old copy of its file against the installed
one, decoding the same stream in one process, the two alternating, so that a neighbour's load on
this shared machine slows both of a pair alike (whole processes, ``bench/speed_ab.sh``, varied by
up to 1.5x from run to run there). Checks first that both give the same frames (decoding a stream)
or the same stream (``--encode``: encoding a clip with the default model), then prints the
medians and the new / old ratio of each adjacent pair.

    git worktree add /tmp/wt_old <commit>
    python -m fpcodec.bench.module_ab rows_kernel /tmp/wt_old/codec/rows_kernel.py STREAM.fpc --rounds 8
    python -m fpcodec.bench.module_ab rows_kernel /tmp/wt_old/codec/rows_kernel.py CLIP.gif --encode

Only modules that the codec imports where it uses them (``from . import rows_kernel`` inside a
function: the package attribute is read at every call) can be swapped this way."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import io
import sys
import time
from types import ModuleType

import numpy as np


def _load_old(name: str, path: str) -> ModuleType:
    """The old file as a module of the ``fpcodec.codec`` package (its relative imports resolve
    to the installed package's other modules)."""
    spec = importlib.util.spec_from_file_location(f"fpcodec.codec.{name}_old", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"module_ab: cannot load {path!r}")
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "fpcodec.codec"
    spec.loader.exec_module(module)
    return module


def _use(name: str, module: ModuleType) -> None:
    from .. import codec as package

    setattr(package, name, module)
    sys.modules[f"fpcodec.codec.{name}"] = module


def decoder(package: str = "fpcodec"):
    """A function that decodes a stream with ``package``'s ``Decoder`` (this tree's, or
    ``bench.tree_ab``'s old tree) and returns (seconds, [the frames])."""
    pipeline = importlib.import_module(f"{package}.codec.pipeline")

    def decode(data: bytes) -> tuple[float, list[np.ndarray]]:
        start = time.perf_counter()
        frames = [f.pixels.copy() for f in pipeline.Decoder(io.BytesIO(data)).frames()]
        return time.perf_counter() - start, frames

    return decode


def encoder(clip: str, package: str = "fpcodec"):
    """A function that encodes ``clip``'s frames in-process with ``package``'s default model (built
    once), as ``bench.speed`` does, and returns (seconds, [the stream])."""
    registry = importlib.import_module(f"{package}.models.registry")
    run = importlib.import_module(f"{package}.bench.run")
    speed = importlib.import_module(f"{package}.bench.speed")
    _, frames, info = next(iter(run.source_clips(clip)))
    model = registry.get(registry.DEFAULT_MODEL)

    def encode(_: bytes) -> tuple[float, list[bytes]]:
        seconds, stream = speed.encode_once(frames, info, model)
        return seconds, [stream]

    return encode


def same_outputs(old: list, new: list) -> bool:
    """Whether two runs gave the same frames (arrays) or streams (bytes)."""
    return len(old) == len(new) and all(
        np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b for a, b in zip(old, new, strict=True)
    )


def summary(times: dict[str, list[float]], frames: int | None = None) -> str:
    """The medians and least times of both sides, their frames/s where ``frames`` is given, and the
    median and range of the new / old ratio of each pair."""
    ratios = np.array(times["new"]) / np.array(times["old"])
    rate = (
        ""
        if frames is None
        else (
            f"; {frames / np.median(times['new']):.1f} against {frames / np.median(times['old']):.1f} frames/s"
        )
    )
    return (
        f"old median {np.median(times['old']):.3f} s (least {min(times['old']):.3f}), "
        f"new median {np.median(times['new']):.3f} s (least {min(times['new']):.3f}){rate}; "
        f"new / old per pair: median {np.median(ratios):.3f}, {ratios.min():.3f}-{ratios.max():.3f} "
        f"({ratios.size} pairs)"
    )


def _pairs(
    name: str, old: ModuleType, new: ModuleType, run, data: bytes, rounds: int, source: str, encoding: bool
) -> dict[str, list[float]] | None:
    """The seconds of ``rounds`` alternating pairs of runs, after a check that both modules give
    the same output (None, said, where they do not or where one fails)."""
    outs = []
    for label, module in (("old", old), ("new", new)):  # also the first calls: kernels loaded
        _use(name, module)
        try:
            outs.append(run(data)[1])
        except ValueError as exc:  # FormatError: the old file's rows decode a stream of the new one's
            print(f"{source}: the {label} module fails: {exc}")
            return None
    old_out, new_out = outs
    same = same_outputs(old_out, new_out)
    what = "stream" if encoding else f"{len(new_out)} frames"
    print(f"{source}: the same {what} from both: {same}")
    if not same:
        return None
    times: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(rounds):
        for label in ("old", "new") if r % 2 == 0 else ("new", "old"):
            _use(name, old if label == "old" else new)
            times[label].append(run(data)[0])
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="a module of fpcodec.codec, e.g. rows_kernel")
    parser.add_argument("old_file", help="the old version of its file")
    parser.add_argument("stream", help="an .fpc stream of RGB or palette frames (a clip with --encode)")
    parser.add_argument("--encode", action="store_true", help="time encoding the clip instead")
    parser.add_argument("--rounds", type=int, default=8, help="pairs of runs (default 8)")
    args = parser.parse_args(argv)
    new = importlib.import_module(f"fpcodec.codec.{args.module}")
    old = _load_old(args.module, args.old_file)
    run = encoder(args.stream) if args.encode else decoder()
    data = b"" if args.encode else open(args.stream, "rb").read()
    try:
        times = _pairs(args.module, old, new, run, data, args.rounds, args.stream, args.encode)
    finally:
        _use(args.module, new)  # the codec's own module, whatever happened
    if times is None:
        return 1
    print(summary(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
