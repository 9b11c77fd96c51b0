"""Measurements of the integer models against their float originals, and the conversion command.

    python -m fpcodec.models.training.integer convert --models conv2d convlstm-hybrid --train DIR...
    python -m fpcodec.models.training.integer compare --models conv2d convlstm-hybrid --val DIR...
    python -m fpcodec.models.training.integer speed --models conv2d convlstm-hybrid

``convert`` writes ``<model>-int.safetensors`` next to the shipped float weights (or ``--out``), from
the shipped float weights (or ``--weights``), calibrating on the training folders (``ptq.convert``).
``compare`` codes the clips with the float model and its integer version and prints bits per
subpixel; ``speed`` times ``predict`` of both.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from ..base import HISTORY
from ..integer import load_int_weights
from .ptq import convert


def _val_clips(dirs) -> list[tuple[str, list[np.ndarray]]]:
    from ...codec.io import VideoReader

    files = []
    for d in dirs:
        d = Path(d)
        files += [d] if d.is_file() else sorted(d.rglob("*.gif"))
    return [(p.name, [f for f, _ in VideoReader(p).frames()]) for p in files]


def compare(
    names,
    val_dirs,
    palette_modes=(False, True),
    check_decode: bool = False,
    weights: str | Path | None = None,
    int_weights: str | Path | None = None,
) -> None:
    """Stream size (bits per subpixel) of each float model and its integer version on the clips.

    Both predictors are loaded once, and the integer file must have been made from the float
    weights loaded (the float weights may be replaced by training while this runs). ``weights`` /
    ``int_weights`` replace the shipped files (one model only), e.g. to measure a QAT run.
    """
    from ...codec import decode, encode
    from ..registry import get

    clips = _val_clips(val_dirs)
    subpixels = sum(len(fr) * fr[0].shape[0] * fr[0].shape[1] * 3 for _, fr in clips)
    print(f"{len(clips)} clips, {subpixels} RGB subpixels", flush=True)
    if (weights is not None or int_weights is not None) and len(names) != 1:
        raise SystemExit("--weights / --int-weights need exactly one model")
    for name in names:
        preds = {name: get(name), f"{name}-int": get(f"{name}-int")}
        if weights is not None:
            preds[name] = type(preds[name])(weights=weights)
        if int_weights is not None:
            preds[f"{name}-int"] = type(preds[f"{name}-int"])(weights=int_weights)
        _, meta, _ = load_int_weights(preds[f"{name}-int"].weights_file)
        fhash = preds[name].weights_hash.hex()
        print(
            f"{name}: float weights sha256 {fhash[:16]}..., integer weights sha256 "
            f"{preds[name + '-int'].weights_hash.hex()[:16]}... made from "
            f"{meta['float_weights_sha256'][:16]}...",
            flush=True,
        )
        if meta["float_weights_sha256"] != fhash:
            raise SystemExit(f"{name}-int was not made from the current {name} weights: run convert")
        for pal in palette_modes:
            tot = {}
            for model, pred in preds.items():
                nbytes = 0
                t0 = time.perf_counter()
                for clip_name, frames in clips:
                    data = encode(frames, model=pred, use_palette=pal)
                    nbytes += len(data)
                    if check_decode and model.endswith("-int") and not pal:
                        out = decode(data).frames
                        if len(out) != len(frames) or not all(map(np.array_equal, out, frames)):
                            raise SystemExit(f"{model}: {clip_name} does not decode to its frames")
                tot[model] = nbytes
                print(
                    f"  {model:22s} palette={'on ' if pal else 'off'} {8 * nbytes / subpixels:.4f} "
                    f"bits/subpixel ({nbytes} bytes, {time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
            rel = tot[f"{name}-int"] / tot[name] - 1
            print(
                f"{name}: integer vs float, palette={'on' if pal else 'off'}: {100 * rel:+.2f}%", flush=True
            )


def speed(names, size: int = 96, repeats: int = 15) -> None:
    """Median CPU time of predict() at size x size, float vs integer, same process."""
    from ..registry import get

    rng = np.random.default_rng(0)
    hist = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(HISTORY)]
    for name in names:
        ps = {m: get(m) for m in (name, f"{name}-int")}
        times = {m: [] for m in ps}
        for m in ps:
            ps[m].predict(hist)
        for _ in range(repeats):  # interleaved, so that load changes hit both alike
            for m, p in ps.items():
                t = time.perf_counter()
                p.predict(hist)
                times[m].append(time.perf_counter() - t)
        med = {m: 1000 * float(np.median(v)) for m, v in times.items()}
        print(
            f"{name}: float {med[name]:.1f} ms, integer {med[name + '-int']:.1f} ms, "
            f"ratio {med[name + '-int'] / med[name]:.2f} (median of {repeats}, {size}x{size}, "
            f"{torch.get_num_threads()} thread(s))",
            flush=True,
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.models.training.integer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["convert", "compare", "speed"])
    parser.add_argument("--models", nargs="+", default=["conv2d", "convlstm-hybrid"])
    parser.add_argument("--val", nargs="+", help="compare: folders of clips to measure on")
    parser.add_argument("--train", nargs="+", help="convert: training folders to calibrate on")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--palette", choices=["off", "on", "both"], default="both")
    parser.add_argument(
        "--check-decode",
        action="store_true",
        help="decode every integer stream (RGB mode) and compare with the input",
    )
    parser.add_argument("--weights", help="float weights file instead of the shipped one (one model)")
    parser.add_argument("--int-weights", help="compare: integer weights file instead of the shipped one")
    parser.add_argument("--out", help="convert: write here instead of next to the shipped weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if (args.weights or args.out) and len(args.models) != 1:
        parser.error("--weights and --out need exactly one model")
    if args.command == "convert" and not args.train:
        parser.error("convert needs --train DIR... (the clips to calibrate on)")
    if args.command == "compare" and not args.val:
        parser.error("compare needs --val DIR... (the clips to measure on)")
    if args.command == "convert":
        for name in args.models:
            path = convert(name, weights=args.weights, out=args.out, calib_dirs=args.train)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            print(f"{name}: wrote {path} ({path.stat().st_size} bytes, sha256 {digest[:16]}...)")
    elif args.command == "compare":
        modes = {"off": (False,), "on": (True,), "both": (False, True)}[args.palette]
        compare(args.models, args.val, modes, args.check_decode, args.weights, args.int_weights)
    else:
        speed(args.models)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
