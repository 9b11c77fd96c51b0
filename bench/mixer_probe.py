"""What per-pixel mixing of the palette coder's sources could win (issue 14): measured, not built.

    python -m fpcodec.bench.mixer_probe --train FILE... --test FILE... [--model NAME] [--steps N]

A palette frame's row for a pixel chains its sources with weights the encoder picks once per frame
(``codec/modes/palette.py``, ``code_passes``): the model's row, "the previous frame's colour"
(``w_prev``), the decoded neighbours' votes (a weight per agreement level) and the context counts
(a Dirichlet strength per order). A learned mixer would pick them per pixel. This probe encodes
the clips, records every palette frame's passes as they are coded (``code_passes``' ``observe``
hook: per pixel, the true colour's probability under each source, the votes, the counts, and what
a decoder knows there), and computes the ideal code length of the palette inter frames' pixels
(those with a previous frame) under

- the weights the encoder chose (the baseline),
- ``w_prev`` chosen per frame for each class of (decoded neighbours unchanged since the previous
  frame, neighbours changed), from ``MIX_TABLE``, knowing the answer (an upper bound for a
  "motion-aware" previous-colour weight),
- the model's row mixed with the intra rule's row over the decoded neighbours (what the pixel's
  already-decoded surroundings predict), at fixed weights and at the best weight per frame,
- a 16-unit MLP that adjusts ``w_prev``, the neighbours' weight and the three context strengths per
  pixel from 16 features a decoder has, trained on ``--train`` (torch, CPU) and evaluated on
  ``--test``.

The figures are ideal code lengths (no coder overhead) of the frames as this encoder coded them;
the percentages are of those frames' bits. bench/results/mixer_probe/README.md has a run.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

_COLUMNS = ("p_model", "p_intra", "has_prev", "match", "hits", "valid", "level", "unchanged", "prev_known")
_COLUMNS += ("votes_prev", "step", "own0", "total0", "own1", "total1", "own2", "total2")
_FRAME = ("w_prev", "w_level1", "w_level2", "w_level3", "w_level4", "beta0", "beta1", "beta2", "frame")
INTRA_WEIGHTS = (1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2)


class Recorder:
    """``code_passes``' observer: per pixel of each palette frame with a previous frame, the columns
    above, in coding order."""

    def __init__(self) -> None:
        self.shape: tuple[int, int] = (0, 0)
        self.frames: list[dict[str, np.ndarray]] = []
        self._idx = None  # the frame being recorded (its index array), and its parts so far
        self._parts: list[dict[str, np.ndarray]] = []
        self._intra: tuple[np.ndarray, np.ndarray] | None = None

    def observe(self, inp, palette, idx, prev_idx, mix, counts, keys) -> None:
        from fpcodec.bitstream.profile import CURRENT
        from fpcodec.codec import intra, row_schedule
        from fpcodec.codec import palette_coding as pc
        from fpcodec.codec import palette_context as ctx
        from fpcodec.codec.modes import palette as pm

        if prev_idx is None:
            return
        if idx is not self._idx:
            self.finish()
            self._idx, self._mix = idx, mix
            self._intra = None
            if not row_schedule.used(mix, CURRENT.row_schedule):  # the intra rule's coarse-to-fine means
                h, w = self.shape
                canvas = np.ascontiguousarray(palette[idx].T)
                mean = np.zeros((palette.shape[1], h * w), np.float32)
                scale = np.zeros((palette.shape[1], h * w), np.int32)
                for p in intra.passes(h, w):
                    mean[:, p.targets], scale[:, p.targets] = intra.pass_params(canvas, p)
                self._intra = mean, scale
        t = inp.targets
        true = idx[t]
        part = {"p_model": _true_p(pm.model_blocks(inp, palette), true)}
        if self._intra is None:
            part["p_intra"] = np.full(t.size, np.nan)
        else:
            mean, scale = self._intra
            rule = pm.PassInputs(t, mean[:, t], None, scale[:, t], inp.neighbours)
            part["p_intra"] = _true_p(pm.model_blocks(rule, palette), true)
        nbr = pm.neighbour_colours(idx, inp.neighbours)
        part["hits"], part["valid"], part["level"] = pc.vote_counts(nbr, true)
        prev = prev_idx[t]
        part["has_prev"], part["match"] = prev >= 0, prev == true
        if nbr is None:
            part["unchanged"] = part["prev_known"] = part["votes_prev"] = np.zeros(t.size, np.uint8)
        else:
            pos = inp.neighbours
            before = np.where(pos >= 0, prev_idx[np.maximum(pos, 0)], -2)
            part["unchanged"] = ((nbr == before) & (pos >= 0)).sum(axis=0)
            part["prev_known"] = (before >= 0).sum(axis=0)
            part["votes_prev"] = ((nbr == prev[None, :]) & (nbr >= 0)).sum(axis=0)
        part["step"] = np.full(t.size, len(self._parts))
        keys = keys if keys is not None else ctx.context_keys(idx, inp.neighbours, inp.ring, inp.wide, t)
        for o in range(3):
            if keys is None or o >= len(keys):
                part[f"own{o}"] = part[f"total{o}"] = np.zeros(t.size)
            else:
                part[f"own{o}"], part[f"total{o}"] = counts.true_counts(o, keys[o], true)
        self._parts.append(part)

    def finish(self) -> None:
        """Close the frame being recorded."""
        from fpcodec.codec import palette_coding as pc
        from fpcodec.codec import palette_context as ctx

        if self._parts:
            cols = {k: np.concatenate([p[k] for p in self._parts]).astype(np.float64) for k in _COLUMNS}
            n = cols["p_model"].size
            w_prev, w_levels = pc.mix_weights(self._mix)
            frame = (w_prev, *w_levels, *ctx.betas(self._mix, 3), len(self.frames))
            cols.update({k: np.full(n, float(v)) for k, v in zip(_FRAME, frame, strict=True)})
            self.frames.append(cols)
        self._parts, self._idx = [], None


def _true_p(blocks, true: np.ndarray) -> np.ndarray:
    out = np.empty(true.size)
    for sl, rows in blocks:
        rows = rows.astype(np.float64)
        out[sl] = rows[np.arange(rows.shape[0]), true[sl]] / rows.sum(axis=1)
    return out


def collect(paths: list[Path], model: str, quiet: bool) -> dict[str, np.ndarray]:
    """Encode ``paths`` with ``model`` and return the palette inter frames' columns, concatenated."""
    from fpcodec.codec import io as fio
    from fpcodec.codec import pipeline
    from fpcodec.codec.modes import palette as pm

    rec = Recorder()
    original, keep = pm.code_passes, pm.KEEP_PASSES
    pm.code_passes = functools.partial(original, observe=rec.observe)
    pm.KEEP_PASSES = False  # the observer reads each pass's inputs, which kept passes lack
    try:
        for path in tqdm(paths, desc="encode", disable=quiet, file=sys.stderr):
            frames = [f for f, _ in fio.VideoReader(path).frames()]
            rec.shape = frames[0].shape[:2]
            pipeline.encode(frames, model=model)
            rec.finish()
    finally:
        pm.code_passes, pm.KEEP_PASSES = original, keep
    return {k: np.concatenate([f[k] for f in rec.frames]) for k in _COLUMNS + _FRAME}


def chain(c: dict, w_prev, w_nbr, betas, p_model=None, vote=None):
    """The true colour's probability under the coder's chain (``palette_coding.mixed_true_p_stats``
    and ``palette_context.blend_true``), with weights per pixel (torch or numpy arrays). ``vote``:
    (where it exists, where it is the true colour, its weight), a further vote mixed in after the
    previous colour's (``bench.back_probe``)."""
    p = c["p_model"] if p_model is None else p_model
    xp = sys.modules["torch"] if not isinstance(p, np.ndarray) else np
    p = xp.where(c["has_prev"] > 0, (1 - w_prev) * p + w_prev * c["match"], p)
    if vote is not None:
        has, match, weight = vote
        p = xp.where(has > 0, (1 - weight) * p + weight * match, p)
    p = (1 - w_nbr) * p + w_nbr * c["hits"] / xp.maximum(c["valid"], xp.ones_like(c["valid"]))
    for o, b in enumerate(betas):
        p = xp.where(b > 0, (c[f"own{o}"] + b * p) / xp.maximum(c[f"total{o}"] + b, 1e-12 + 0 * b), p)
    return xp.maximum(p, 2.0**-24 + 0 * p)


def frame_weights(c: dict):
    """(w_prev, the neighbours' weight at each pixel's agreement level, betas) the encoder chose
    (numpy or torch arrays, as ``c`` holds)."""
    xp = np if isinstance(c["w_prev"], np.ndarray) else sys.modules["torch"]
    levels = xp.stack([xp.zeros_like(c["w_prev"])] + [c[f"w_level{k}"] for k in range(1, 5)], 1)
    level = c["level"].astype(np.int64) if xp is np else c["level"].long()
    w_nbr = levels[xp.arange(levels.shape[0]), level]
    return c["w_prev"], w_nbr, [c[f"beta{o}"] for o in range(3)]


def bits(p) -> float:
    return float(-np.log2(np.asarray(p)).sum())


def oracles(c: dict) -> dict[str, float]:
    """Bits under the encoder's weights, and under the per-frame oracles of the docstring."""
    from fpcodec.codec.palette_coding import MIX_TABLE

    w_prev, w_nbr, betas = frame_weights(c)
    base = -np.log2(chain(c, w_prev, w_nbr, betas))
    out = {"baseline": float(base.sum())}
    cls = np.minimum(c["unchanged"], 4) * 4 + np.minimum(c["valid"] - c["unchanged"], 3)
    key = c["frame"] * 32 + cls
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(key[order]) != 0])
    per_w = [-np.log2(chain(c, np.full_like(w_prev, w), w_nbr, betas))[order] for w in MIX_TABLE]
    sums = np.stack([np.add.reduceat(b, starts) for b in per_w])
    out["w_prev per frame and neighbour-change class"] = float(sums.min(axis=0).sum())
    has_intra = ~np.isnan(c["p_intra"])
    frames = c["frame"].astype(int)
    per_a = []
    for a in INTRA_WEIGHTS:
        mixed = np.where(has_intra, (1 - a) * c["p_model"] + a * np.nan_to_num(c["p_intra"]), c["p_model"])
        per_a.append(-np.log2(chain(c, w_prev, w_nbr, betas, p_model=mixed)))
        out[f"intra row at weight {a:g}"] = float(per_a[-1].sum())
    by_frame = np.stack([np.bincount(frames, b) for b in [base, *per_a]])
    out["intra row, weight per frame"] = float(by_frame.min(axis=0).sum())
    return out


def features(c: dict):
    import torch

    f = [
        c["has_prev"],
        c["valid"] / 4,
        c["level"] / 4,
        c["unchanged"] / 4,
        c["prev_known"] / 4,
        c["votes_prev"] / 4,
        (c["valid"] - c["unchanged"]) / 4,
        *[np.log2(1 + c[f"total{o}"]) / 8 for o in range(3)],
        np.minimum(c["step"], 32) / 16,
        c["w_prev"],
        c["w_level1"],
        c["w_level4"],
        np.log2(1 + c["beta0"]) / 8,
        np.log2(1 + c["beta2"]) / 4,
    ]
    return torch.tensor(np.stack(f, axis=1), dtype=torch.float32)


def mlp_mixer(train: dict, test: dict, steps: int, seed: int = 0) -> tuple[float, float]:
    """(train, test) bits with the MLP's per-pixel weights (see the docstring)."""
    import torch

    torch.manual_seed(seed)
    tr = {k: torch.tensor(v) for k, v in train.items()}
    te = {k: torch.tensor(v) for k, v in test.items()}
    ftr, fte = features(train), features(test)
    net = torch.nn.Sequential(torch.nn.Linear(ftr.shape[1], 16), torch.nn.ReLU(), torch.nn.Linear(16, 5))
    torch.nn.init.zeros_(net[2].weight)
    torch.nn.init.zeros_(net[2].bias)
    opt = torch.optim.Adam(net.parameters(), 3e-3)

    def mixed(c: dict, out):
        w_prev, w_nbr, betas = frame_weights(c)
        logit = lambda w: torch.logit(w.clamp(1e-4, 1 - 1e-4))  # noqa: E731
        wp = torch.where(w_prev > 0, torch.sigmoid(logit(w_prev) + out[:, 0].double()), w_prev)
        wn = torch.where(w_nbr > 0, torch.sigmoid(logit(w_nbr) + out[:, 1].double()), w_nbr)
        bs = [torch.where(b > 0, b * torch.exp2(out[:, 2 + o].double()), b) for o, b in enumerate(betas)]
        return chain(c, wp, wn, bs)

    n = ftr.shape[0]
    for _ in range(steps):
        i = torch.randint(0, n, (65536,))
        loss = -torch.log2(mixed({k: v[i] for k, v in tr.items()}, net(ftr[i]))).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return bits(mixed(tr, net(ftr)).numpy()), bits(mixed(te, net(fte)).numpy())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", nargs="+", type=Path, required=True, help="clips the MLP is fitted on")
    parser.add_argument("--test", nargs="+", type=Path, required=True, help="clips every figure is given for")
    parser.add_argument("--model", default="last-frame", help="the predictor the clips are coded with")
    parser.add_argument(
        "--steps", type=int, default=1500, help="MLP training steps (batches of 65,536 pixels)"
    )
    parser.add_argument("--max-train", type=int, default=3_000_000, help="pixels of --train the MLP sees")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    test = collect(args.test, args.model, args.quiet)
    found = oracles(test)
    base = found["baseline"]
    print(f"{len(args.test)} test clips, {test['p_model'].size} palette inter pixels, model {args.model}")
    print(f"baseline: {base / test['p_model'].size:.4f} bits/pixel ({base / 8:.0f} bytes, ideal)")
    w_prev, w_nbr, betas = frame_weights(test)
    per_pixel = -np.log2(chain(test, w_prev, w_nbr, betas))
    changed = (test["has_prev"] > 0) & (test["match"] == 0)
    for what, where in (("equal to the last frame", test["match"] > 0), ("changed", changed)):
        share = per_pixel[where].sum() / per_pixel.sum()
        print(
            f"pixels {what}: {where.mean():.1%} of them, {share:.1%} of the bits, {per_pixel[where].mean():.2f} bits each"
        )
    for name, value in found.items():
        if name != "baseline":
            print(f"{name}: {100 * (base - value) / base:+.2f} % of the bits")
    train = collect(args.train, args.model, args.quiet)
    if train["p_model"].size > args.max_train:
        pick = np.random.default_rng(0).choice(train["p_model"].size, args.max_train, replace=False)
        train = {k: v[pick] for k, v in train.items()}
    tr_base = bits(chain(train, *frame_weights(train)))
    tr_bits, te_bits = mlp_mixer(train, test, args.steps)
    print(
        f"MLP mixer ({len(args.train)} train clips, {train['p_model'].size} pixels, {args.steps} steps): "
        f"train {100 * (tr_base - tr_bits) / tr_base:+.2f} %, test {100 * (base - te_bits) / base:+.2f} % of the bits"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
