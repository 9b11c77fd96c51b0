"""Compare predictors on held-out clips: bits per subpixel and forward time.

``python -m fpcodec.models.training.evaluate --val DIR [DIR ...] [--models NAME ...]`` prints, per model,

* ``bits``: the exact code length (``laplace_bits`` on snapped means/scales, colour coupling on the
  true values) of every RGB subpixel of every frame but the first, no scale shift;
* ``bits+shift``: the same with the codec's per-frame scale shift chosen by measured cost
  (``entropy.bits_by_shift``, an approximation at the 0/255 tails), i.e. what RGB inter coding costs;
* forward time of ``predict`` on one 96x96 and one 200x150 history of five frames.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ...bitstream import entropy
from ..base import HISTORY, apply_coupling
from ..registry import available, get
from .data import load_clips

SHIFTS = np.arange(-24, 25)


def clip_bits(predictor, clip: np.ndarray) -> tuple[float, float, int]:
    """(bits without shift, bits with the best per-frame shift, subpixels) over frames 1..N-1."""
    plain = shifted = 0.0
    count = 0
    for t in range(1, len(clip)):
        pred = predictor.predict(list(clip[max(0, t - HISTORY) : t]))
        x = np.moveaxis(clip[t], -1, 0)
        mq = np.stack(
            [entropy.quantize_mean(apply_coupling(pred.mean, pred.coupling, c, x)) for c in range(3)]
        )
        si = entropy.quantize_scale(pred.scale[:3])
        plain += float(entropy.laplace_bits(x[:3], mq, si).sum())
        shifted += float(entropy.bits_by_shift(x[:3], mq, si, SHIFTS).min())
        count += x[:3].size
    return plain, shifted, count


def forward_ms(predictor, h: int, w: int, repeats: int = 20) -> float:
    rng = np.random.default_rng(0)
    hist = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(HISTORY)]
    predictor.predict(hist)
    t = time.perf_counter()
    for _ in range(repeats):
        predictor.predict(hist)
    return 1000 * (time.perf_counter() - t) / repeats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.models.training.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--val", nargs="+", required=True)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    clips = load_clips(args.val)
    names = args.models or available()
    base = None
    print(
        f"{'model':16s} {'bits':>7s} {'vs LF':>7s} {'bits+shift':>10s} {'vs LF':>7s} "
        f"{'ms 96x96':>9s} {'ms 200x150':>10s}"
    )
    for name in names:
        p = get(name)
        tot = np.zeros(3)
        for clip in clips:
            tot += clip_bits(p, clip)
        plain, shifted = tot[0] / tot[2], tot[1] / tot[2]
        if base is None and name == "last-frame":
            base = (plain, shifted)
        rel = (
            (f"{100 * (plain / base[0] - 1):+6.1f}%", f"{100 * (shifted / base[1] - 1):+6.1f}%")
            if base
            else ("", "")
        )
        print(
            f"{name:16s} {plain:7.4f} {rel[0]:>7s} {shifted:10.4f} {rel[1]:>7s} "
            f"{forward_ms(p, 96, 96):9.1f} {forward_ms(p, 150, 200):10.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
