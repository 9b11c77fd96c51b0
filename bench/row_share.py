"""What a predictor is worth in each coding mode: RGB inter against palette inter, frame by frame.

    python -m fpcodec.bench.row_share DIR [--model NAME ...]

For every frame after the first of every GIF under DIR (frames of at most 256 colours; the
history is the input itself, which is what a lossless decoder has), the encoder's own estimates of
the ideal code length of

* RGB inter: the predictor's discretized Laplace per channel, with its colour coupling;
* palette inter: the same prediction turned into palette rows, mixed with the previous-colour and
  neighbour votes and blended with the context counts (what GIF-like frames are coded with);

and, as a floor for the second, palette inter with *flat* model rows: every scale index at the top
of the table, so the rows carry almost no temporal prediction and the votes and counts do the work.
``--neighbour-mean A`` and ``--neighbour-scale G`` add last-frame rows refined by the pixel's
already-decoded neighbours (what a learned second pass would condition on): each mean moved by A x
the neighbours' mean residual, each scale widened to sqrt(b^2 + (G x their mean |residual|)^2).
The gap between the flat rows and last-frame's is what any temporal predictor can act on in
palette coding; a learned model's gain over last-frame is measured against the same coding.
Both use the scale shift the encoder would pick (the RGB-inter one). Mode choice is left out.

``--oracle-motion B R`` adds bounds that no decoder could reach, to size what a better predictor
could win at all: the mean moved by block motion compensation of the last frame (B x B blocks,
displacements up to R pixels), each block's displacement picked with the true frame (least absolute
difference; the side information it would cost is left out), with (1) last-frame's scale, (2) an
oracle scale, last-frame's floor plus the 7x7 local mean of the true absolute residual (strongest
channel), and (3) last-frame's mean with that oracle scale (knowing *where* the frame changes, not
*what* to).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..bitstream import entropy
from ..bitstream.errors import FpcodecError
from ..codec import palette_coding as pc
from ..codec.io import VideoReader
from ..codec.modes import palette as pm
from ..codec.modes import rgb_inter
from ..codec.modes.base import FrameToCode, shifted
from ..models import registry
from ..models.base import HISTORY, Prediction
from ..models.last_frame import SCALE_FLOOR, box_mean

#: The pseudo-model whose palette rows are flat (scale index at the top of the table).
FLAT = "flat rows"


def motion_compensated(previous: np.ndarray, frame: np.ndarray, block: int, reach: int) -> np.ndarray:
    """(H, W, C) float32: ``previous`` moved block by block by the displacement (|dy|, |dx| <=
    ``reach``) that best matches ``frame`` (sum of absolute differences; ties keep the smaller
    displacement). An oracle: it looks at the frame being predicted."""
    h, w, c = frame.shape
    padded = np.pad(previous.astype(np.int32), ((reach, reach), (reach, reach), (0, 0)), mode="edge")
    shifts = sorted(
        ((dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)),
        key=lambda d: (abs(d[0]) + abs(d[1]), d),
    )
    candidates = np.stack(
        [padded[reach + dy : reach + dy + h, reach + dx : reach + dx + w] for dy, dx in shifts]
    )  # (S, H, W, C)
    sad = np.abs(candidates - frame.astype(np.int32)[None]).sum(axis=-1)  # (S, H, W)
    bh, bw = -(-h // block), -(-w // block)
    sad = np.pad(sad, ((0, 0), (0, bh * block - h), (0, bw * block - w)))
    per_block = sad.reshape(len(shifts), bh, block, bw, block).sum(axis=(2, 4))  # (S, bh, bw)
    best = per_block.argmin(axis=0).repeat(block, 0).repeat(block, 1)[:h, :w]  # first minimum
    return np.take_along_axis(candidates, best[None, :, :, None], axis=0)[0].astype(np.float32)


def oracle_labels(block: int, reach: int) -> list[str]:
    """Row labels of ``--oracle-motion``, in the order ``oracle_predictions`` returns them."""
    return [f"oracle motion {block}/{reach}", f"oracle motion {block}/{reach} + scale", "oracle scale"]


def oracle_predictions(
    reference: Prediction, previous: np.ndarray, frame: np.ndarray, block: int, reach: int
) -> dict[str, Prediction]:
    """The three oracle rows of ``--oracle-motion`` (see the module's docstring), from last-frame's
    prediction ``reference`` made after ``previous``."""
    mc = np.moveaxis(motion_compensated(previous, frame, block, reach), -1, 0)
    truth = np.moveaxis(frame, -1, 0).astype(np.float32)

    def oracle_scale(mean):  # last-frame's floor, plus the true residual's local mean, all channels
        return SCALE_FLOOR + box_mean(np.abs(truth - mean)).max(axis=0, keepdims=True).repeat(len(truth), 0)

    rows = (
        Prediction(mc, reference.scale),
        Prediction(mc, oracle_scale(mc)),
        Prediction(reference.mean, oracle_scale(reference.mean)),
    )
    return dict(zip(oracle_labels(block, reach), rows, strict=True))


def _refine_by_neighbours(
    passes, frame: np.ndarray, pred: Prediction, shift: int, mean_gain: float, scale_gain: float
) -> None:
    """Move each pass's means by ``mean_gain`` x, and widen its scales by ``scale_gain`` x, the mean
    (absolute) residual of the pixel's decoded neighbours (the decoder knows those pixels)."""
    c = frame.shape[-1]
    residual = np.moveaxis(frame, -1, 0).reshape(c, -1).astype(np.float32) - pred.mean.reshape(c, -1)
    scale = pred.scale.reshape(c, -1)
    for inp in passes:  # each pass (or part of one) lists its own pixels and neighbours
        if inp.neighbours.shape[0] == 0:
            continue
        valid = inp.neighbours >= 0
        count = np.maximum(valid.sum(axis=0), 1)
        r = residual[:, np.maximum(inp.neighbours, 0)] * valid  # (C, J, N)
        if mean_gain:
            mean = pc.float_pass_planes(inp.mean, None)[0]  # an integer prediction's are in 1/16
            inp.mean = np.clip(mean + mean_gain * r.sum(axis=1) / count, 0, 255).astype(np.float32)
        if scale_gain:
            wide = np.hypot(scale[:, inp.targets], scale_gain * np.abs(r).sum(axis=1) / count)
            inp.scale_idx = shifted(entropy.quantize_scale(wide), shift)


def frame_bits(
    frame: np.ndarray,
    previous: np.ndarray,
    pred: Prediction,
    flat: bool = False,
    mean_gain: float = 0.0,
    scale_gain: float = 0.0,
) -> tuple[float, float | None]:
    """(RGB inter bits, palette inter bits or None without a palette) for one frame, as the encoder
    estimates them (the mode modules' own estimators, so the figures are the encoder's)."""
    h, w, c = frame.shape
    inter = rgb_inter.estimate(FrameToCode.of(frame), pred)
    shift, rgb_bits = inter.scale_shift, inter.bits
    extracted = pc.extract_palette(frame)
    if extracted is None:
        return rgb_bits, None
    palette, idx = extracted
    passes = pm.inter_passes(pred, shift, h, w)
    if flat:
        for inp in passes:
            inp.scale_idx = np.full_like(inp.scale_idx, len(entropy.SCALE_TABLE) - 1)
    if mean_gain or scale_gain:
        _refine_by_neighbours(passes, frame, pred, shift, mean_gain, scale_gain)
    counts = pm.pretrained_counts(pm.inter_geometry(h, w), previous, palette)
    _, bits, _, _ = pm.estimate_passes(passes, palette, idx, pc.previous_indices(previous, palette), counts)
    return rgb_bits, bits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.row_share",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder")
    parser.add_argument("--model", nargs="+", default=["last-frame", registry.DEFAULT_MODEL])
    parser.add_argument("--neighbour-mean", type=float, nargs="*", default=[], metavar="A")
    parser.add_argument("--neighbour-scale", type=float, nargs="*", default=[], metavar="G")
    parser.add_argument("--oracle-motion", type=int, nargs=2, metavar=("B", "R"))
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(["last-frame"] + args.model))
    models = {name: registry.get(name) for name in names}
    refined = {
        **{f"last-frame, mean {a:g}": (a, 0.0) for a in args.neighbour_mean},
        **{f"last-frame, scale {g:g}": (0.0, g) for g in args.neighbour_scale},
    }
    paths = sorted(Path(args.folder).rglob("*.gif"))
    names += oracle_labels(*args.oracle_motion) if args.oracle_motion else []
    rgb = dict.fromkeys(names, 0.0)
    pal = dict.fromkeys(names + [FLAT] + list(refined), 0.0)
    pixels = palette_pixels = 0
    for path in tqdm(paths, desc="clips", disable=not sys.stderr.isatty()):
        try:
            frames = [f for f, _ in VideoReader(path).frames()]
        except FpcodecError as exc:
            print(f"{path}: skipped ({exc})", flush=True)
            continue
        for t in range(1, len(frames)):
            history = frames[max(0, t - HISTORY) : t]
            n = frames[t].shape[0] * frames[t].shape[1]
            pixels += n
            preds = {name: model.predict(history) for name, model in models.items()}
            if args.oracle_motion:
                preds.update(
                    oracle_predictions(preds["last-frame"], frames[t - 1], frames[t], *args.oracle_motion)
                )
            costs = {name: frame_bits(frames[t], frames[t - 1], pred) for name, pred in preds.items()}
            for name, (r, _) in costs.items():
                rgb[name] += r
            if costs["last-frame"][1] is None:
                continue
            palette_pixels += n
            for name, (_, p) in costs.items():
                pal[name] += p
            reference = preds["last-frame"]
            pal[FLAT] += frame_bits(frames[t], frames[t - 1], reference, flat=True)[1]
            for label, (a, g) in refined.items():
                pal[label] += frame_bits(frames[t], frames[t - 1], reference, mean_gain=a, scale_gain=g)[1]
    print(
        f"{len(paths)} clips, {pixels} predicted pixels, {palette_pixels} of them in frames of "
        f"at most 256 colours"
    )
    labels = [FLAT] + names + list(refined)
    width = max(24, *map(len, labels))
    print(
        f"{'rows':<{width}} {'RGB inter bpp':>14} {'vs last-frame':>14} {'palette inter bpp':>18} "
        f"{'vs last-frame':>14}"
    )
    for name in labels:
        cells = ["", ""]
        if name in rgb:
            cells = [f"{rgb[name] / pixels:.4f}", f"{100 * (rgb[name] / rgb['last-frame'] - 1):+.1f} %"]
        p = pal[name] / max(palette_pixels, 1)
        gain = 100 * (pal[name] / pal["last-frame"] - 1) if pal["last-frame"] else float("nan")
        print(f"{name:<{width}} {cells[0]:>14} {cells[1]:>14} {p:>18.4f} {gain:>+13.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
