"""What a model that also sees the decoded part of the current frame could win (issue 14): sized.

    python -m fpcodec.bench.context_model_probe --train FILE... --test NAME=FILE... [--steps N]

Issue 14 notes that the oracle bound of models/TRAINING.md (means and scales from the past frames
alone) does not bound a model that predicts each pass of a palette frame from the past frames *and*
the pixels of the frame decoded in earlier passes. Before any format version, this probe measures
one such model with the real encoder's bits:

1. It trains a small convolutional network (torch, CPU) on ``--train`` clips: for a frame and one
   coarse-to-fine pass of palette coding (``codec.intra.passes``), the inputs are the five
   previous frames, the current frame's pixels decoded before that pass (zero elsewhere) and
   their mask; the outputs are a mean and a Laplace scale per colour channel at every pixel of
   the pass, trained on the code length of each pixel's true colour among the frame's colours
   under the product of the channels' Laplace densities (``palette_nll``: the coder's palette
   rows before its rounding).
2. It encodes every ``--test`` clip with the codec (``--model``) and records, for each palette frame
   coded in coarse-to-fine passes that has a previous frame, every pixel's true-colour
   probability under each of the coder's sources (``bench.mixer_probe.Recorder``: the model's or
   intra rule's row, the previous colour, the neighbours' votes, the context counts, with the
   weights the encoder chose).
3. It runs the network on each recorded pass, turns its means and scales into the coder's own
   palette rows (``modes.palette.model_blocks``: means snapped to 1/16, scales to the table, a
   scale shift per frame chosen on the frame) and chains them through the same votes and counts
   with the same weights.

Reported per test set, in ideal code lengths (bits) of the recorded frames: the encoder's rows
(the baseline), the network's rows in their place, the better of the two per frame (what a
mode flag per frame could choose), the two rows mixed at the best of ``ROW_MIXES`` per frame,
and the rows' own bits before the votes and counts (the encoder's rows: the model's on palette
inter frames, the intra rule's on palette intra frames). The weights of the votes and counts are
the encoder's choice for its own rows, not chosen again for the network's (which favours the
baseline). Frames coded in the row schedule, palette LZ, RGB modes and key frames are not
recorded. The sizes are what such a model could save, not a codec: nothing here is in the format.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from .mixer_probe import Recorder, chain, frame_weights

#: Previous frames the network reads (the codec's history).
HISTORY = 5
#: Input channels: five previous RGB frames, the decoded part of the current frame, its mask, and
#: at the pass's pixels the intra rule's mean and log scale (zero elsewhere).
IN_CHANNELS = 3 * HISTORY + 3 + 1 + 6
#: Scale shifts tried per frame for the network's rows.
SHIFTS = (-2, -1, 0, 1, 2)
#: Weights of the network's row mixed with the encoder's, tried per frame.
ROW_MIXES = (0.25, 0.5, 0.75)


def build_net(width: int = 32):
    """A fully convolutional net whose 3x3 layers (dilated 1, 2, 4, 8 after the first) reach 16
    pixels each way, enough to see a decoded pixel from the coarsest pass (a 16-pixel grid).
    Outputs per channel: a move of the intra rule's mean (one unit is 16 values) and of the log of
    its scale, zero at first: the network starts as the hand-made rule and learns what the past
    frames and the wider decoded surroundings add."""
    import torch.nn as nn

    layers: list = [nn.Conv2d(IN_CHANNELS, width, 3, padding=1), nn.ReLU()]
    for d in (1, 2, 4, 8):
        layers += [nn.Conv2d(width, width, 3, padding=d, dilation=d), nn.ReLU()]
    last = nn.Conv2d(width, 6, 1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


@functools.cache
def schedule(height: int, width: int) -> tuple:
    """The coarse-to-fine passes of palette coding at this size (``codec.intra.passes``), kept."""
    from ..codec import intra

    return tuple(intra.passes(height, width))


def pass_ranks(height: int, width: int) -> np.ndarray:
    """(H*W,) int32: each pixel's pass number in palette coding's coarse-to-fine schedule."""
    rank = np.empty(height * width, np.int32)
    for k, p in enumerate(schedule(height, width)):
        rank[p.targets] = k
    return rank


def rule_planes(frame: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(3, H, W) float32 mean and Laplace scale of the intra rule (``intra.pass_params``, no scale
    shift) at the pixels of pass ``k`` of ``frame``'s coarse-to-fine schedule, read from the pixels
    decoded before it (the frame's own: coding is lossless); mean 128 and scale 1 elsewhere."""
    from ..bitstream import entropy
    from ..codec import intra

    h, w = frame.shape[:2]
    p = schedule(h, w)[k]
    canvas = np.ascontiguousarray(frame[..., :3].reshape(-1, 3).T)
    mean, sidx = intra.pass_params(canvas, p)
    m = np.full((3, h * w), 128.0, np.float32)
    b = np.ones((3, h * w), np.float32)
    m[:, p.targets] = mean
    b[:, p.targets] = entropy.SCALE_TABLE[sidx]
    return m.reshape(3, h, w), b.reshape(3, h, w)


def net_inputs(
    history: list[np.ndarray], frame: np.ndarray, known: np.ndarray, rule: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """(IN_CHANNELS, H, W) float32: the last HISTORY frames (the oldest repeated where the clip has
    fewer), the frame where ``known`` ((H, W) bool) and zero elsewhere, and ``known``, values / 255;
    then the intra rule's mean / 255 and log scale (``rule_planes``) where they are given."""
    past = list(history[-HISTORY:])
    past = [past[0]] * (HISTORY - len(past)) + past
    chans = [f[..., :3].transpose(2, 0, 1) for f in past]
    chans.append(frame[..., :3].transpose(2, 0, 1) * known[None])
    x = np.concatenate(chans, 0).astype(np.float32) / 255.0
    mean, scale = rule
    return np.concatenate([x, known[None].astype(np.float32), mean / 255.0, np.log(scale)], 0)


def outputs(net, x, rule_mean, rule_scale):
    """(mean, scale) tensors (N, 3, H, W) in pixel units from the net's raw output on ``x``: the
    intra rule's (N, 3, H, W) moved (a zero output keeps the rule's)."""
    import torch

    raw = net(x)
    mean = rule_mean + 16.0 * raw[:, :3]
    scale = rule_scale * torch.exp(raw[:, 3:].clamp(-4.0, 4.0))
    return mean, scale


@dataclass
class Clip:
    """A clip's frames (H, W, 3) uint8, each frame's colours (its palette, (K, 3)) and each pixel's
    index among them, and the pass ranks of its size."""

    frames: list[np.ndarray]
    ranks: np.ndarray = field(repr=False)
    palettes: list[np.ndarray] = field(default_factory=list, repr=False)
    indices: list[np.ndarray] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        for f in self.frames:
            pal, inv = np.unique(f.reshape(-1, 3), axis=0, return_inverse=True)
            self.palettes.append(pal)
            self.indices.append(inv.ravel())


def load_clips(paths: Sequence[Path]) -> list[Clip]:
    from ..codec.io import VideoReader

    out = []
    for path in paths:
        frames = [np.asarray(f)[..., :3] for f, _ in VideoReader(path).frames()]
        if len(frames) > 1:
            out.append(Clip(frames, pass_ranks(*frames[0].shape[:2])))
    return out


def palette_nll(mean, scale, palette, true):
    """Nats of the true colours among the frame's colours under a product of per-channel Laplace
    densities, normalized over the palette (what the coder's rows are, up to its rounding):
    ``mean``, ``scale`` (N, 3); ``palette`` (K, 3); ``true`` (N,) indices."""
    import torch

    logp = -(
        torch.log(2 * scale[:, None, :]) + (palette[None] - mean[:, None, :]).abs() / scale[:, None, :]
    ).sum(-1)
    return -(logp.gather(1, true[:, None])[:, 0] - torch.logsumexp(logp, 1))


def train(
    clips: list[Clip], steps: int, batch: int = 8, seed: int = 0, quiet: bool = False, per_sample: int = 1024
):
    """The network trained on random (frame, pass) samples of ``clips``: a pixel drawn at random
    picks the pass (so passes weigh by their size), the loss is the code length of up to
    ``per_sample`` of the pass's pixels' true colours among the frame's colours
    (``palette_nll``)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    by_size: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for ci, c in enumerate(clips):
        for fi in range(1, len(c.frames)):
            by_size.setdefault(c.frames[0].shape[:2], []).append((ci, fi))
    sizes = list(by_size)
    weights = np.array([len(by_size[s]) for s in sizes], np.float64)
    bar = tqdm(range(steps), desc="train", disable=quiet, file=sys.stderr)
    for _ in bar:
        size = sizes[rng.choice(len(sizes), p=weights / weights.sum())]
        picks = [by_size[size][i] for i in rng.integers(0, len(by_size[size]), batch)]
        xs, means, scales, chosen = [], [], [], []
        for ci, fi in picks:
            c = clips[ci]
            k = c.ranks[rng.integers(0, c.ranks.size)]
            known = (c.ranks < k).reshape(size)
            rule = rule_planes(c.frames[fi], int(k))
            xs.append(net_inputs(c.frames[:fi], c.frames[fi], known, rule))
            means.append(rule[0])
            scales.append(rule[1])
            at = np.flatnonzero(c.ranks == k)
            if at.size > per_sample:
                at = rng.choice(at, per_sample, replace=False)
            chosen.append((c, fi, at))
        x = torch.from_numpy(np.stack(xs))
        mean, scale = outputs(net, x, torch.from_numpy(np.stack(means)), torch.from_numpy(np.stack(scales)))
        mean, scale = mean.flatten(2), scale.flatten(2)
        losses = []
        for b, (c, fi, at) in enumerate(chosen):
            t = torch.from_numpy(at)
            pal = torch.from_numpy(c.palettes[fi].astype(np.float32))
            true = torch.from_numpy(c.indices[fi][at].astype(np.int64))
            losses.append(palette_nll(mean[b][:, t].T, scale[b][:, t].T, pal, true))
        loss = torch.cat(losses).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(bits=f"{float(loss.detach()) / np.log(2):.3f}")
    return net.eval()


class PassRecorder(Recorder):
    """``mixer_probe.Recorder`` that also keeps, per recorded frame, the clip's frames up to it and
    each recorded pixel's position, so that the network can be run on the same passes."""

    def __init__(self) -> None:
        super().__init__()
        self.frame_data: list[dict] = []
        self.history: list[np.ndarray] = []
        self.frame: np.ndarray | None = None
        self.index = 0  # the frame's number in its clip
        self._pos: list[np.ndarray] = []
        self._pal = self._true = None

    def observe(self, inp, palette, idx, prev_idx, mix, counts, keys) -> None:
        from fpcodec.bitstream.profile import CURRENT
        from fpcodec.codec import row_schedule

        if prev_idx is None:
            return
        if idx is not self._idx:
            self.finish()
        before = len(self._parts)
        super().observe(inp, palette, idx, prev_idx, mix, counts, keys)
        if row_schedule.used(mix, CURRENT.row_schedule):
            return
        if len(self._parts) > before:
            self._pos.append(np.asarray(inp.targets, np.int64))
            self._pal, self._true = palette, idx

    def finish(self) -> None:
        had = bool(self._parts)
        rows = had and self._mix is not None and self._intra is None
        super().finish()
        if not had:
            return
        if rows or self._pal is None or self._pal.shape[1] != 3:  # row schedule, alpha: left out
            self.frames.pop()
        else:
            self.frame_data.append(
                {
                    "index": self.index,
                    "history": list(self.history[-HISTORY:]),
                    "frame": self.frame,
                    "palette": self._pal,
                    "idx": np.array(self._true),
                    "pos": np.concatenate(self._pos),
                }
            )
        self._pos, self._pal, self._true = [], None, None


def collect(
    paths: Sequence[Path], model: str, quiet: bool, frames: int | None = None
) -> tuple[list[dict], list[dict]]:
    """Encode ``paths`` (their first ``frames`` frames, where given) with ``model``; (recorded
    frames' columns, their frame data)."""
    from fpcodec.codec import io as fio
    from fpcodec.codec import pipeline
    from fpcodec.codec.modes import palette as pm

    rec = PassRecorder()
    original, keep = pm.code_passes, pm.KEEP_PASSES
    write = pipeline.Encoder.write

    def watched_write(self, frame, duration=0):
        rec.finish()
        rec.frame, rec.index = np.asarray(frame)[..., :3], self.frames_written
        rec.history = [np.asarray(f)[..., :3] for f in self._history]  # what the predictor reads
        try:
            return write(self, frame, duration)
        finally:
            rec.finish()

    pm.code_passes = functools.partial(original, observe=rec.observe)
    pm.KEEP_PASSES = False
    pipeline.Encoder.write = watched_write
    try:
        for path in tqdm(paths, desc="encode", disable=quiet, file=sys.stderr):
            clip = [f for f, _ in fio.VideoReader(path).frames()][:frames]
            rec.shape = clip[0].shape[:2]
            pipeline.encode(clip, model=model)
            rec.finish()
    finally:
        pm.code_passes, pm.KEEP_PASSES = original, keep
        pipeline.Encoder.write = write
    return rec.frames, rec.frame_data


def network_true_p(net, data: dict, cols: dict) -> np.ndarray:
    """(len(SHIFTS), N): each recorded pixel's true-colour share of the coder's palette row made
    from the network's mean and scale at its pass, at each of the frame scale shifts SHIFTS
    (``size`` keeps the frame's cheapest)."""
    import torch

    from ..bitstream import entropy
    from ..codec.modes import palette as pm

    frame, palette, pos = data["frame"], data["palette"], data["pos"]
    h, w = frame.shape[:2]
    ranks = pass_ranks(h, w)
    idx = cols["idx"]
    log_table = np.log(entropy.SCALE_TABLE)
    pixel_rank = ranks[pos]
    order_ranks = np.unique(pixel_rank)
    rules = [rule_planes(frame, int(k)) for k in order_ranks]
    xs = np.stack(
        [
            net_inputs(data["history"], frame, (ranks < k).reshape(h, w), r)
            for k, r in zip(order_ranks, rules, strict=True)
        ]
    )
    with torch.no_grad():
        mean, scale = outputs(
            net,
            torch.from_numpy(xs),
            torch.from_numpy(np.stack([r[0] for r in rules])),
            torch.from_numpy(np.stack([r[1] for r in rules])),
        )
    mean = mean.clamp(0, 255).numpy().reshape(len(order_ranks), 3, -1)
    scale = scale.numpy().reshape(len(order_ranks), 3, -1)
    per_shift = np.empty((len(SHIFTS), pos.size))
    for j, k in enumerate(order_ranks):
        at = np.flatnonzero(pixel_rank == k)
        t = pos[at]
        sidx = np.abs(np.log(scale[j][:, t])[..., None] - log_table).argmin(-1).astype(np.int16)
        none = np.zeros((0, t.size), np.int64)  # the rows read no neighbours (the votes are recorded)
        for si, s in enumerate(SHIFTS):
            shifted = np.clip(sidx + s, 0, len(log_table) - 1).astype(np.int16)
            inp = pm.PassInputs(t, mean[j][:, t].astype(np.float32), None, shifted, none)
            for sl, rows in pm.model_blocks(inp, palette):
                rows = rows.astype(np.float64)
                true = idx[at[sl]]
                per_shift[si, at[sl]] = rows[np.arange(rows.shape[0]), true] / rows.sum(axis=1)
    return per_shift


def size(net, frames: list[dict], data: list[dict]) -> dict[str, float]:
    """Bits of the recorded frames: the encoder's rows, the network's, the better per frame, the
    two mixed per frame; and the rows' own bits, before the votes and counts."""
    out = {
        "frames": float(len(frames)),
        "pixels": 0.0,
        "baseline": 0.0,
        "network": 0.0,
        "better per frame": 0.0,
        "rows mixed per frame": 0.0,
        "baseline rows alone": 0.0,
        "network rows alone": 0.0,
    }
    for cols, d in zip(frames, data, strict=True):
        c = dict(cols)
        c["idx"] = d["idx"][d["pos"]]  # each recorded pixel's true palette index
        w_prev, w_nbr, betas = frame_weights(c)
        base = float(-np.log2(chain(c, w_prev, w_nbr, betas)).sum())
        p_net = network_true_p(net, d, c)
        net_bits = min(float(-np.log2(chain(c, w_prev, w_nbr, betas, p_model=p)).sum()) for p in p_net)
        mixed = min(
            float(-np.log2(chain(c, w_prev, w_nbr, betas, p_model=a * p + (1 - a) * c["p_model"])).sum())
            for p in p_net
            for a in ROW_MIXES
        )
        out["rows mixed per frame"] += min(base, mixed)
        out["baseline rows alone"] += float(-np.log2(np.maximum(c["p_model"], 2.0**-24)).sum())
        out["network rows alone"] += min(float(-np.log2(np.maximum(p, 2.0**-24)).sum()) for p in p_net)
        out["pixels"] += c["p_model"].size
        out["baseline"] += base
        out["network"] += net_bits
        out["better per frame"] += min(base, net_bits)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.context_model_probe", description=__doc__.split("\n")[0]
    )
    p.add_argument("--train", nargs="+", type=Path, default=[], help="training clips")
    p.add_argument(
        "--test", nargs="+", required=True, metavar="NAME=FILE", help="test clips, grouped by NAME"
    )
    p.add_argument(
        "--model", default="last-frame", help="the codec's model for the baseline (default last-frame)"
    )
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--save-net", type=Path, metavar="FILE", help="save the trained network's weights (torch)")
    p.add_argument(
        "--load-net",
        type=Path,
        metavar="FILE",
        help="cost with these weights instead of training (--train ignored)",
    )
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    groups: dict[str, list[Path]] = {}
    for item in args.test:
        name, _, path = item.rpartition("=")
        groups.setdefault(name or "test", []).append(Path(path))
    if args.load_net is not None:
        net = build_net()
        net.load_state_dict(torch.load(args.load_net, weights_only=True))
        net.eval()
        trained = f"weights {args.load_net.name}"
    elif args.train:
        net = train(load_clips(args.train), args.steps, quiet=args.quiet)
        trained = f"{args.steps} steps on {len(args.train)} clips"
    else:
        p.error("--train or --load-net is needed")
    if args.save_net is not None:
        torch.save(net.state_dict(), args.save_net)
    params = sum(int(t.numel()) for t in net.parameters())
    print(f"network: {params} parameters, {trained}; codec model {args.model}")
    print(
        "| test set | clips | frames | pixels | baseline bits/pixel | network | change "
        "| better per frame | change | rows mixed per frame | change | rows alone: baseline | network |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, paths in groups.items():
        frames, data = collect(paths, args.model, args.quiet)
        r = size(net, frames, data)
        n = max(r["pixels"], 1.0)
        b = r["baseline"]
        print(
            f"| {name} | {len(paths)} | {int(r['frames'])} | {int(r['pixels'])} | {b / n:.4f} | "
            f"{r['network'] / n:.4f} | {100 * (r['network'] / b - 1):+.2f} % | "
            f"{r['better per frame'] / n:.4f} | {100 * (r['better per frame'] / b - 1):+.2f} % | "
            f"{r['rows mixed per frame'] / n:.4f} | {100 * (r['rows mixed per frame'] / b - 1):+.2f} % | "
            f"{r['baseline rows alone'] / n:.4f} | {r['network rows alone'] / n:.4f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
