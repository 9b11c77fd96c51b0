"""What a learned per-sample model could save on natural video's raster inter planes: a sizing for
issue 19's learned predictor, not a format feature (no stream carries it).

``python -m fpcodec.bench.learned_planar_probe /tmp/natcorpus -o bench/results/learned_planar_probe``

Every clip of the corpus' ``dev`` and ``test`` splits (``bench/natural_corpus.py``) is coded
in-process as ``fpcodec encode`` codes it; of every inter frame the smallest raster inter (kind 3)
fit of each 8-bit plane is kept as the encoder would code it: the samples, the motion-compensated
plane, the rule's refined means (1/16 of a sample), each sample's (context, error level) pair, and
for chroma the rule's hint (the co-located luma's compensation error). Two small networks (torch,
CPU), one for luma and one for chroma, are trained on samples of the dev sources only to move
each mean and scale, from what a decoder holds when it decodes the sample: the decoded neighbours
and their errors (within the tiles' wavefronts: a neighbour counts only where its wavefront
``x mod TILE_W + 2 (y mod TILE_H)`` comes before the sample's, else it reads as absent), the
motion-compensated 3x3 samples around it, the rule's context and error level, and chroma's hint.

Code lengths are ideal ones, in one family for the rule alone and for the rule with the network,
so their ratio is the network's: per sample a Laplace discretized to whole samples around its mean,
the scale from a table per plane and (context, error level) pair with the best of SCALES
log-spaced scales for the pair's samples. The network's mean moves are rounded to 1/16 of a sample
(the rule's unit) and its scale moves to whole steps of that table, as a format could carry them;
the table is fitted again on the moved samples. Per plane ``--samples`` samples are drawn (the
same for both costings); totals weight each row by the encoder's own estimate of its whole planes'
bits. The codec's own table (a scale per context plus an offset per error level) is coarser than a
scale per pair, so this baseline is a little smaller than the streams' planes.

``--extra-train SOURCE...`` moves held-out sources into training (a cross-check of how the gain
grows with the sources a model sees; the rows trained on are not reported); ``--folds`` trains
networks per held-out source family (its package) on every other clip, dev and held-out, and
costs that family with them (what a corpus of many sources could give on a source it never saw);
``--hidden`` sizes the networks. ``forward_ms`` times a compiled forward pass of the network's size
over one 320x240 plane, a sample at a time as a decoder would run it (one core, median of 5), in
int32 and in float32 holding the same integers (exact in any order while the sums stay below 2^24).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, NamedTuple

import numpy as np
from tqdm import tqdm

from ..codec import planar_rule, raster_rule
from ..codec.modes import planar
from . import natural

if TYPE_CHECKING:
    import torch


class PlaneFit(NamedTuple):
    """A raster inter plane (8-bit) as the encoder would code it, in (H, W) arrays."""

    samples: np.ndarray  # uint8
    mc: np.ndarray  # int32, motion-compensated
    means: np.ndarray  # int32, 1/16 of a sample, refined
    pairs: np.ndarray  # int32, context * ERROR_LEVELS + error level
    bits: float  # the encoder's estimate for the plane's samples and refinement weights
    #: int32, a chroma plane's: the largest |luma - its compensation| over the luma samples each
    #: sample covers (the rule's ``chroma_hint``); None for luma
    hint: np.ndarray | None = None


#: The planes sized, each with a network of its own.
PLANES = ("luma", "chroma")


def plane_kind(fit: PlaneFit) -> str:
    return "luma" if fit.hint is None else "chroma"


@contextmanager
def kept_fits() -> Iterator[list[PlaneFit]]:
    """Within the block, the encoder's raster inter fits of 8-bit planes are kept, in frame order:
    per frame and plane the smallest (an inter frame is estimated in several kinds, block sizes
    and interpolation rules, each a ``_plan_raster`` call that fits its planes in order)."""
    kept: dict[tuple[int, int], PlaneFit] = {}  # (frame, plane) -> the smallest fit so far
    at = {"frame": -1, "plane": 0}
    estimate, plan, fit = planar.estimate, planar._plan_raster, planar._fit_raster_plane
    out: list[PlaneFit] = []

    def next_frame(*args, **kwargs):
        at["frame"] += 1
        return estimate(*args, **kwargs)

    def planning(*args, **kwargs):
        at["plane"] = 0
        return plan(*args, **kwargs)

    def keeping(flat, mc, hint, order, neighbours, width, depth, refine):
        fitted = fit(flat, mc, hint, order, neighbours, width, depth, refine)
        if mc is not None and depth == 8:  # an inter frame's plane (chroma: with its luma hint)
            key = (at["frame"], at["plane"])
            at["plane"] += 1
            if key not in kept or fitted.bits < kept[key].bits:
                h = flat.size // width
                means, pairs = np.zeros(flat.size, np.int32), np.zeros(flat.size, np.int32)
                means[order], pairs[order] = fitted.mean, fitted.pair
                kept[key] = PlaneFit(
                    flat.astype(np.uint8).reshape(h, width),
                    mc.astype(np.int32).reshape(h, width),
                    means.reshape(h, width),
                    pairs.reshape(h, width),
                    fitted.bits,
                    None if hint is None else hint.astype(np.int32).reshape(h, width),
                )
        return fitted

    planar.estimate, planar._plan_raster, planar._fit_raster_plane = next_frame, planning, keeping
    try:
        yield out
    finally:
        planar.estimate, planar._plan_raster, planar._fit_raster_plane = estimate, plan, fit
        out.extend(kept[key] for key in sorted(kept))


def capture(path: Path) -> list[PlaneFit]:
    """The raster inter fits of the clip's inter frames' 8-bit planes, coded as ``fpcodec encode``
    does."""
    with kept_fits() as fits:
        natural.encode_file(path)
    return fits


#: The decoded neighbours a sample's features read, (dy, dx): a, b, c, d and two more.
NEIGHBOURS = ((0, -1), (-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0))
#: The motion-compensated samples around it.
MC_WINDOW = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def wavefront_keys(height: int, width: int) -> np.ndarray:
    """Each sample's wavefront in raster inter's tiles (its decoding step: smaller is earlier), as
    the codec's schedule orders them, (height, width)."""
    return raster_rule._wavefront_keys(height, width, raster_rule.TILED).reshape(height, width)


def features(fit: PlaneFit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample (flat): its features (float32; NEIGHBOURS' value minus the mean, their error and
    whether present, then MC_WINDOW's value minus the mean, then a chroma plane's hint), its
    distance from its mean (in samples) and its pair."""
    h, w = fit.samples.shape
    y = fit.samples.astype(np.float32)
    mean = fit.means / np.float32(16)
    error = y - mean
    keys = wavefront_keys(h, w)

    def shifted(a: np.ndarray, dy: int, dx: int, fill: float | int) -> np.ndarray:
        p = np.pad(a, 2, mode="constant", constant_values=fill)
        return p[2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w]

    cols = []
    for dy, dx in NEIGHBOURS:
        present = shifted(keys, dy, dx, 1 << 40) < keys  # decoded before the sample
        cols += [
            np.where(present, shifted(y, dy, dx, 0) - mean, 0),
            np.where(present, shifted(error, dy, dx, 0), 0),
            present.astype(np.float32),
        ]
    mc = np.pad(fit.mc.astype(np.float32), 2, mode="edge")
    cols += [mc[2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w] - mean for dy, dx in MC_WINDOW]
    if fit.hint is not None:
        cols.append(fit.hint.astype(np.float32))
    x = np.stack([c.ravel() for c in cols], axis=1).astype(np.float32)
    return x, error.ravel(), fit.pairs.ravel().astype(np.int64)


#: The scale table's entries: log-spaced, this many from SCALE_LOW to SCALE_HIGH samples.
SCALES = 64
SCALE_LOW, SCALE_HIGH = 0.12, 80.0
SCALE_STEP = math.log(SCALE_HIGH / SCALE_LOW) / (SCALES - 1)
GRID = np.exp(np.linspace(math.log(SCALE_LOW), math.log(SCALE_HIGH), SCALES))
#: Distances from the mean are costed in 1/16 of a sample up to this many 16ths.
_REACH = 4095


def _laplace_cdf(x: np.ndarray) -> np.ndarray:
    return np.where(x < 0, 0.5 * np.exp(np.minimum(x, 0)), 1 - 0.5 * np.exp(-np.maximum(x, 0)))


def _bits_table() -> np.ndarray:
    """(SCALES, 2 _REACH + 1) bits of a whole sample at each distance (1/16) from its mean."""
    d = np.arange(-_REACH, _REACH + 1) / 16.0
    b = GRID[:, None]
    p = _laplace_cdf((d + 0.5) / b) - _laplace_cdf((d - 0.5) / b)
    return -np.log2(np.maximum(p, 1e-12))


_BITS = _bits_table()


def plane_bits(
    distance: np.ndarray, pairs: np.ndarray, moves: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """The samples' bits under the per-pair table that costs them least, a sample's table index
    moved by its ``moves`` (whole steps); and each sample's scale (its pair's, unmoved)."""
    d = np.clip(np.rint(np.asarray(distance, np.float64) * 16).astype(np.int64), -_REACH, _REACH) + _REACH
    steps = np.arange(SCALES)
    if moves is None:
        cost = _BITS[:, d].T
    else:
        cost = _BITS[np.clip(steps[None, :] + moves[:, None], 0, SCALES - 1), d[:, None]]
    used, at = np.unique(pairs, return_inverse=True)
    per_pair = np.stack([np.bincount(at, cost[:, j], minlength=used.size) for j in range(SCALES)], axis=1)
    return float(per_pair.min(axis=1).sum()), GRID[per_pair.argmin(axis=1)][at]


class Samples(NamedTuple):
    """Drawn samples of a clip's planes."""

    x: np.ndarray
    distance: np.ndarray
    pairs: np.ndarray
    scale: np.ndarray  # the rule's table scale of the sample's pair on its plane
    plane: np.ndarray  # the plane (frame) each came from
    bits: list[float]  # per plane: the encoder's estimate


def draw(fits: list[PlaneFit], per_plane: int, rng: np.random.Generator, chroma: bool = False) -> Samples:
    """Up to ``per_plane`` samples of each plane of ``fits`` (all luma, or all ``chroma``; the same
    draw for every costing)."""
    parts: list[tuple] = []
    for k, fit in enumerate(fits):
        x, distance, pairs = features(fit)
        pick = rng.choice(distance.size, min(per_plane, distance.size), replace=False)
        _, scale = plane_bits(distance[pick], pairs[pick])
        parts.append((x[pick], distance[pick], pairs[pick], scale, np.full(pick.size, k)))
    if not parts:
        empty = np.zeros(0)
        return Samples(
            np.zeros((0, _width(chroma))), empty, empty.astype(np.int64), empty, empty.astype(np.int64), []
        )
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    return Samples(*cols, [f.bits for f in fits])


def _width(chroma: bool) -> int:
    return 3 * len(NEIGHBOURS) + len(MC_WINDOW) + chroma


def inputs(x: np.ndarray, pairs: np.ndarray) -> "torch.Tensor":
    """The network's inputs: the features on a log scale, and the pair's context (agreement group
    and confidence level) and error level."""
    import torch

    levels = raster_rule.ERROR_LEVELS
    context, level = pairs // levels, pairs % levels
    group, quality = context // planar_rule.QUALITY, context % planar_rule.QUALITY
    extra = [quality / planar_rule.QUALITY, level / levels] + [group == g for g in range(3)]
    cols = np.concatenate([np.sign(x) * np.log1p(np.abs(x)), np.stack(extra, axis=1)], axis=1)
    return torch.tensor(cols, dtype=torch.float32)


def _laplace_bits_torch(distance: "torch.Tensor", scale: "torch.Tensor") -> "torch.Tensor":
    import torch

    def cdf(v: "torch.Tensor") -> "torch.Tensor":
        return torch.where(v < 0, 0.5 * torch.exp(v.clamp(max=0)), 1 - 0.5 * torch.exp(-v.clamp(min=0)))

    p = cdf((distance + 0.5) / scale) - cdf((distance - 0.5) / scale)
    return -torch.log2(p.clamp_min(1e-12))


#: The network's scale move is at most this (natural log) either way.
MAX_MOVE = 3.0


def train(data: Samples, hidden: tuple[int, ...], steps: int, seed: int = 0) -> "torch.nn.Module":
    """A network (ReLU layers of ``hidden`` units) giving per sample a mean move (samples) and a
    scale move (natural log), trained on the code length of ``data`` (Adam, cosine schedule)."""
    import torch

    torch.manual_seed(seed)
    x = inputs(data.x, data.pairs)
    distance = torch.tensor(data.distance, dtype=torch.float32)
    scale = torch.tensor(data.scale, dtype=torch.float32)
    layers: list = []
    width = x.shape[1]
    for units in hidden:
        layers += [torch.nn.Linear(width, units), torch.nn.ReLU()]
        width = units
    layers.append(torch.nn.Linear(width, 2))
    net = torch.nn.Sequential(*layers)
    torch.nn.init.zeros_(net[-1].weight)  # starts as the rule itself
    torch.nn.init.zeros_(net[-1].bias)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in tqdm(range(steps), desc="train", unit="step", leave=False):
        pick = torch.randint(0, x.shape[0], (4096,))
        out = net(x[pick])
        moved = scale[pick] * torch.exp(out[:, 1].clamp(-MAX_MOVE, MAX_MOVE))
        loss = _laplace_bits_torch(distance[pick] - out[:, 0], moved).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return net


def evaluate(net: "torch.nn.Module", data: Samples) -> dict[str, float]:
    """The drawn samples' bits: the rule, the rule with the network's mean moves, and with its
    mean and scale moves (each per plane, each with its table fitted)."""
    import torch

    with torch.no_grad():
        out = net(inputs(data.x, data.pairs)).numpy().astype(np.float64)
    shift = np.rint(out[:, 0] * 16) / 16
    moves = np.rint(np.clip(out[:, 1], -MAX_MOVE, MAX_MOVE) / SCALE_STEP).astype(np.int64)
    totals = {"rule": 0.0, "mean": 0.0, "both": 0.0}
    for k in np.unique(data.plane):
        m = data.plane == k
        totals["rule"] += plane_bits(data.distance[m], data.pairs[m])[0]
        totals["mean"] += plane_bits(data.distance[m] - shift[m], data.pairs[m])[0]
        totals["both"] += plane_bits(data.distance[m] - shift[m], data.pairs[m], moves[m])[0]
    return totals


def forward_ms(
    hidden: tuple[int, ...], width: int, samples: int = 320 * 240, repeats: int = 5, exact_float: bool = False
) -> float:
    """Median ms of an integer forward pass (shifts by 8 bits after each layer) of a network of this
    size over ``samples`` samples, one at a time and one core: what a decoder would pay a plane,
    whose samples depend on the decoded ones before them. In int32, or (``exact_float``) in float32
    holding the same integers, whose sums stay below 2^24 here and so are exact in any order (the
    compiler may then reorder and vectorize them)."""
    import numba

    def integer(x, weights, out):  # pragma: no cover - compiled
        a = np.zeros(512, np.int32)
        b = np.zeros(512, np.int32)
        for i in range(x.shape[0]):
            a[: x.shape[1]] = x[i]
            for w in weights:  # (outputs, inputs): each output's sum runs along a row
                for j in range(w.shape[0]):
                    row = w[j]
                    s = np.int32(0)
                    for k in range(w.shape[1]):
                        s += a[k] * row[k]
                    b[j] = max(s >> 8, 0)
                a[: w.shape[0]] = b[: w.shape[0]]
            out[i] = a[0] + a[1]

    def floating(x, weights, out):  # pragma: no cover - compiled
        a = np.zeros(512, np.float32)
        b = np.zeros(512, np.float32)
        for i in range(x.shape[0]):
            a[: x.shape[1]] = x[i]
            for w in weights:
                for j in range(w.shape[0]):
                    row = w[j]
                    s = np.float32(0)
                    for k in range(w.shape[1]):
                        s += a[k] * row[k]
                    b[j] = max(np.floor(s * np.float32(1 / 256)), np.float32(0))
                a[: w.shape[0]] = b[: w.shape[0]]
            out[i] = a[0] + a[1]

    if max(width, *hidden) > 512:
        raise ValueError(f"forward_ms times layers of at most 512 units, not {max(width, *hidden)}")
    if exact_float:
        run = numba.njit(nogil=True, cache=False, fastmath={"reassoc", "contract"})(floating)
        dtype = np.float32
    else:
        run = numba.njit(nogil=True, cache=False)(integer)
        dtype = np.int32
    rng = np.random.default_rng(0)
    sizes = (width, *hidden, 2)
    weights = numba.typed.List(
        [rng.integers(-99, 99, (n, m)).astype(dtype) for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
    )
    x = rng.integers(-99, 99, (samples, width)).astype(dtype)
    out = np.zeros(samples, dtype)
    run(x[:16], weights, out)  # compiled before timing
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run(x, weights, out)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def families(corpus: Path, names: list[str]) -> dict[str, str]:
    """Each clip's source family: its package in the corpus' ``natural_corpus.json``, else the
    part of its name before the first underscore."""
    listing = corpus / "natural_corpus.json"
    known = {}
    if listing.is_file():
        known = {c["name"]: c["package"]["name"] for c in json.loads(listing.read_text())["clips"]}
    return {n: known.get(n, n.split("_")[0]) for n in names}


def _joined(parts: list[Samples]) -> Samples:
    return Samples(*[np.concatenate(c) for c in list(zip(*parts, strict=True))[:5]], [])


def _costed(net: "torch.nn.Module", name: str, split: str, kind: str, d: Samples) -> dict:
    row = {
        "clip": name,
        "split": split,
        "plane": kind,
        "planes": len(d.bits),
        "samples": int(d.distance.size),
        "encoder_bits": float(sum(d.bits)),
    }
    return row | evaluate(net, d)


def run_probe(
    corpus: Path,
    hidden: tuple[int, ...],
    steps: int,
    per_plane: int,
    extra_train: list[str],
    seed: int = 0,
    folds: bool = False,
) -> dict:
    """Capture every clip of ``corpus``' dev and test splits, train on the dev ones (and
    ``extra_train``), cost the rest. With ``folds``, instead one network per held-out source
    family, trained on every other clip (dev and held-out) and costed on that family's clips.
    Returns the report's data."""
    rng = np.random.default_rng(seed)
    clips = [(p, "dev") for p in sorted((corpus / "dev").glob("*.mkv"))]
    clips += [(p, "test") for p in sorted((corpus / "test").glob("*.mkv"))]
    unknown = set(extra_train) - {p.stem for p, split in clips if split == "test"}
    if unknown:
        raise SystemExit(f"learned_planar_probe: --extra-train names no held-out clip: {sorted(unknown)}")
    drawn: dict[str, tuple[str, dict[str, Samples]]] = {}
    for path, split in tqdm(clips, desc="capture", unit="clip"):
        fits = capture(path)
        drawn[path.stem] = (
            split,
            {
                kind: draw([f for f in fits if plane_kind(f) == kind], per_plane, rng, kind == "chroma")
                for kind in PLANES
            },
        )
    rows = []
    for kind in PLANES:  # a network for each, on its own features
        if folds:
            family = families(corpus, list(drawn))
            held = sorted({family[n] for n, (split, _) in drawn.items() if split == "test"})
            for fam in tqdm(held, desc=f"folds ({kind})", unit="family"):
                data = _joined([d[kind] for n, (_, d) in drawn.items() if family[n] != fam and d[kind].bits])
                net = train(data, hidden, steps, seed)
                rows += [
                    _costed(net, n, split, kind, d[kind])
                    for n, (split, d) in drawn.items()
                    if family[n] == fam and d[kind].bits
                ]
        else:
            trained_on = [
                d[kind]
                for n, (split, d) in drawn.items()
                if (split == "dev" or n in extra_train) and d[kind].bits
            ]
            data = _joined(trained_on)
            net = train(data, hidden, steps, seed)
            rows += [
                _costed(net, n, split, kind, d[kind])
                for n, (split, d) in drawn.items()
                if n not in extra_train and d[kind].bits
            ]
        if kind == "luma":
            width = inputs(data.x[:1], data.pairs[:1]).shape[1]
            params = sum(p.numel() for p in net.parameters())
    return {
        "hidden": list(hidden),
        "steps": steps,
        "per_plane": per_plane,
        "extra_train": extra_train,
        "folds": folds,
        "parameters": int(params),
        "forward_ms_320x240": forward_ms(hidden, width),
        "forward_ms_320x240_float32": forward_ms(hidden, width, exact_float=True),
        "rows": rows,
    }


def _ratios(rows: list[dict]) -> tuple[float, float]:
    """The rows' ratios (mean moved, mean and scale moved), each row weighted by its planes' bits
    as the encoder estimated them (the drawn samples are a smaller part of a larger plane)."""
    weight = sum(r["encoder_bits"] for r in rows)
    mean, both = (sum(r["encoder_bits"] * r[k] / r["rule"] for r in rows) / weight for k in ("mean", "both"))
    return mean, both


def report(result: dict, out: Path, command: str) -> None:
    """README.md (tables), probe.json and probe.png (the held-out clips' ratios) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps(result, indent=1))
    lines = [
        "# A learned per-sample model on raster inter planes: a sizing",
        "",
        f"Command: `{command}`. Networks (one for luma, one for chroma, whose inputs add the co-located"
        f" luma's compensation error): {result['hidden']} hidden units, {result['parameters']:,}"
        f" parameters (luma), {result['steps']} steps; "
        + (
            "one network per held-out source family, trained on every clip of the other families"
            " (dev and held-out): each held-out row is costed by a network that never saw its source"
            if result.get("folds")
            else "trained on the dev split"
            + (f" and {', '.join(result['extra_train'])}" if result["extra_train"] else "")
        )
        + f"; {result['per_plane']:,} samples drawn a plane. An integer forward pass of its size over a"
        f" 320x240 plane, a sample at a time, one core: {result['forward_ms_320x240']:.1f} ms in int32,"
        f" {result['forward_ms_320x240_float32']:.1f} ms in float32 holding the same integers.",
        "",
        "Ratios of ideal code lengths (bench/learned_planar_probe.py's docstring): the rule with the"
        " network's mean moves, and with its mean and scale moves, over the rule alone. 'share': the"
        " plane kind's part of the clip's raster inter bits as the encoder estimated them; totals weight"
        " each row by those bits.",
        "",
        "| clip | split | plane | planes | samples | rule bits/sample | share | mean moved | mean and scale moved |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = sorted(result["rows"], key=lambda r: (r["split"] != "dev", r["clip"], PLANES.index(r["plane"])))
    clip_bits: dict[str, float] = {}
    for r in rows:
        clip_bits[r["clip"]] = clip_bits.get(r["clip"], 0.0) + r["encoder_bits"]
    for r in rows:
        lines.append(
            f"| {r['clip']} | {r['split']} | {r['plane']} | {r['planes']} | {r['samples']:,} |"
            f" {r['rule'] / r['samples']:.3f} | {r['encoder_bits'] / clip_bits[r['clip']]:.2f} |"
            f" {r['mean'] / r['rule']:.4f} | {r['both'] / r['rule']:.4f} |"
        )
    lines += [
        "",
        "| split | planes | planes costed | mean moved | mean and scale moved |",
        "|---|---|---:|---:|---:|",
    ]
    for split in ("dev", "test"):
        for label, kinds in (("luma", ("luma",)), ("chroma", ("chroma",)), ("luma and chroma", PLANES)):
            part = [r for r in rows if r["split"] == split and r["plane"] in kinds]
            if part:
                mean, both = _ratios(part)
                lines.append(
                    f"| **{split}** | {label} | {sum(r['planes'] for r in part)} | **{mean:.4f}** | **{both:.4f}** |"
                )
    lines.append("")
    (out / "README.md").write_text("\n".join(lines))
    held = [r for r in rows if r["split"] == "test"]
    if held:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(dict.fromkeys(r["clip"] for r in held))
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.2))
        for k, (kind, colour) in enumerate(zip(PLANES, ("tab:blue", "tab:orange"), strict=True)):
            part = {r["clip"]: r["both"] / r["rule"] - 1 for r in held if r["plane"] == kind}
            at = [i + 0.4 * k - 0.2 for i, n in enumerate(names) if n in part]
            ax.barh(at, [part[n] for n in names if n in part], height=0.4, color=colour, label=kind)
        ax.set_yticks(range(len(names)), names)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("bits with the network's moves / the rule's - 1 (held-out clips; left is smaller)")
        ax.invert_yaxis()
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "probe.png", dpi=100)
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="learned_planar_probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="the natural corpus (dev/ and test/ of .mkv clips)")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--hidden", default="64,32", help="hidden units per layer (default 64,32)")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--samples", type=int, default=20000, help="samples drawn a plane (default 20000)")
    parser.add_argument(
        "--extra-train", nargs="*", default=[], metavar="CLIP", help="held-out clips to train on"
    )
    parser.add_argument(
        "--folds", action="store_true", help="a network per held-out source family, trained on all the others"
    )
    args = parser.parse_args(argv)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    if args.folds and args.extra_train:
        parser.error("--folds trains on every other family; --extra-train has no place beside it")
    result = run_probe(args.corpus, hidden, args.steps, args.samples, args.extra_train, folds=args.folds)
    command = (
        f"python -m fpcodec.bench.learned_planar_probe {args.corpus} -o {args.out} --hidden {args.hidden}"
        f" --steps {args.steps} --samples {args.samples}"
        + (f" --extra-train {' '.join(args.extra_train)}" if args.extra_train else "")
        + (" --folds" if args.folds else "")
    )
    report(result, args.out, command)
    print((args.out / "README.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
