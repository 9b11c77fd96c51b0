"""Post-training quantization (PTQ): a float model's weights file -> its ``-int`` weights file.

How the integer network computes is described in ``models/integer.py`` (and models/INTEGER.md); this
module makes the files it runs: it calibrates every ReLU layer's range on windows of training clips
(``calibrate``), quantizes every convolution to integer weights, biases and power-of-two shifts under
the accumulator bound (``quantize_conv``, ``quantize_layers``, which QAT reuses), computes the head's
lookup tables (``base_lut``, ``softplus_lut``) and writes the file (``convert``). The command line is
``python -m fpcodec.models.training.integer convert``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...bitstream import entropy
from .. import learned
from ..arch import ARCHS
from ..base import HISTORY
from ..integer import (
    ACC_LIMIT,
    BASE_LUT_SIZE,
    COUPLING_ONE,
    FORMAT,
    GATE_ONE,
    H_ONE,
    MEAN_Q_MAX,
    MEAN_STEPS,
    N_SCALES,
    SHIFT_MAX,
    STEP_ONE,
    W_MAX,
    accumulator_bound,
    check_bound,
)
from ..learned import MEAN_GAIN, window_from_history
from ..weights import shipped_path
from .data import load_clips

#: Weight magnitude per layer: the widest of these whose accumulator bound fits (int8 .. int12,
#: stored as int16); ``integer.W_MAX`` is the limit any file may use.
W_MAX_CHOICES = (W_MAX, 1023, 511, 255, 127)
#: ReLU ranges are HEADROOM x the calibrated max (content unlike the calibration windows must not
#: saturate; 11-bit activations leave 10 bits of resolution below the calibrated max).
HEADROOM = 2.0
#: Headroom kept below ACC_LIMIT when choosing a layer's weight width.
_BOUND_TARGET = 0.9
#: ReLU activations are 0..ACT_MAX (11 bits) with a per-channel scale; HEADROOM x the calibrated
#: maximum maps into (ACT_MAX/2, ACT_MAX] (the scale is a power of two times the weight scale).
ACT_MAX = 2047
#: Network input planes per step, in units of 1/STEP_ONE (``integer.step_ints``); largest magnitude.
STEP_SCALE = np.array([1 / STEP_ONE] * 7)
STEP_MAX = np.array([255.0] * 3 + [510.0] * 3 + [510.0])
#: Output units: log-scale in LOG_STEP/LOG_FRAC (LOG_STEP: the log spacing of entropy.SCALE_TABLE).
LOG_STEP = float(entropy.LOG_STEP)
LOG_FRAC = 16
#: |coupling| <= COUPLING_MAX / COUPLING_ONE = 2 (trained models exceed 1; see integer.py).
COUPLING_MAX = entropy.COUPLING_MAX
#: Largest |log-scale correction| kept (in LOG_STEP/LOG_FRAC units, i.e. 4096/16 table steps).
LOG_Q_MAX = 4096

#: Calibration of the ReLU ranges: windows of this many clips, this many per clip, cropped to this.
CALIB_CLIPS, CALIB_PER_CLIP, CALIB_CROP = 12, 3, 96


def layers(name: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(layer, kind, input sources) of every conv of the architecture ``name``, in order."""
    return [(c.name, c.kind, c.sources) for c in ARCHS[name].convs]


def _source_scales(src: str, relu_scale: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(real value per integer unit, largest integer magnitude) of each channel of an input source."""
    if src.startswith("step"):
        reps = int(src[4:] or 1)
        return np.tile(STEP_SCALE, reps), np.tile(STEP_MAX, reps)
    if src.startswith("h") and src[1:].isdigit():
        n = int(src[1:])
        return np.full(n, 1.0 / H_ONE), np.full(n, float(H_ONE))
    s = relu_scale[src]
    return s, np.full(len(s), float(ACT_MAX))


def quantize_conv(
    weight: torch.Tensor,
    bias: torch.Tensor,
    in_scale,
    in_max,
    out_mult,
    offset,
    lo,
    hi,
    name: str = "layer",
    free_out: bool = False,
):
    """Integer tensors of one conv, and the output multiplier actually used.

    Real model: ``y = act(conv(w, x_real) + b)`` with ``x_real = x_int * in_scale[c]``; integer model:
    ``y_int = clamp(floor((conv(w_int, x_int) + b_int) / 2^n), lo, hi)`` with ``w_int = W / s_w``,
    approximating ``out_mult[o] * y_pre + offset[o]``. The weight scale is tied to a power of two,
    ``s_w[o] * out_mult[o] = 2^-n[o]``; the rounding constant 2^(n-1) and ``offset * 2^n`` are
    folded into the integer bias. ``free_out`` (ReLU layers): ``out_mult`` is only a target, and
    the output scale gives way instead of the weights (``s_w`` = max|W|/127 exactly, the output
    multiplier lands in (target/2, target]). Per-output-channel shifts are lowered (coarser
    weights) where needed so that ``accumulator_bound < ACC_LIMIT``.
    """
    w = weight.detach().to("cpu", torch.float64)  # quantized on the CPU whatever the net's device
    b = bias.detach().to("cpu", torch.float64)
    k = (1,) * (w.dim() - 2)
    wp = w * torch.as_tensor(np.asarray(in_scale, np.float64)).view(1, -1, *k)
    wabs = wp.abs().flatten(1)
    peak = torch.where(wabs.amax(1) > 0, wabs.amax(1), torch.full_like(wabs[:, 0], 1e-6))
    # Widest weights whose bound (bias aside) fits: sum |W| max|x| / (peak / w_max) < target.
    m_in = torch.as_tensor(np.asarray(in_max, np.float64)).view(1, -1, *k).expand_as(wp).flatten(1)
    rel = ((wabs * m_in).sum(1) / peak).max()
    w_max = next((c for c in W_MAX_CHOICES if rel * c < _BOUND_TARGET * ACC_LIMIT), W_MAX_CHOICES[-1])
    ideal = peak / w_max
    target = torch.as_tensor(np.broadcast_to(np.asarray(out_mult, np.float64), ideal.shape).copy())
    if free_out:
        n = torch.ceil(-torch.log2(ideal * target)).clamp(0, SHIFT_MAX)
        mult = torch.pow(2.0, -n) / ideal
    else:
        n = torch.floor(-torch.log2(ideal * target)).clamp(max=SHIFT_MAX)
        mult = target
    off = torch.as_tensor(np.broadcast_to(np.asarray(offset, np.float64), ideal.shape).copy())
    for _ in range(64):
        if (n < 0).any():
            raise ValueError(f"{name}: no power-of-two requantization fits")
        s_w = torch.pow(2.0, -n) / mult
        wq = torch.round(wp / s_w.view(-1, 1, *k))
        if wq.abs().max() > w_max:  # rounding at the edge of the range
            n = torch.where(wq.abs().flatten(1).amax(1) > w_max, n - 1, n)
            continue
        bq = torch.round(b / s_w) + off * torch.pow(2.0, n) + torch.floor(torch.pow(2.0, n - 1))
        bad = accumulator_bound(wq, bq, in_max) >= ACC_LIMIT
        if not bad.any():
            break
        n = torch.where(bad, n - 1, n)
    else:  # pragma: no cover - would need absurd biases
        raise ValueError(f"{name}: could not fit the accumulator bound")
    check_bound(wq, bq, in_max, name)
    o = wq.shape[0]

    def vec(v):
        return torch.as_tensor(np.broadcast_to(np.asarray(v, np.int64), (o,)).copy()).to(torch.int32)

    return (
        {
            "weight": wq.to(torch.int8 if w_max <= 127 else torch.int16),
            "bias": bq.to(torch.int32),
            "shift": n.to(torch.int32),
            "lo": vec(lo),
            "hi": vec(hi),
            "in_max": torch.as_tensor(np.asarray(in_max)).to(torch.int32),
        },
        mult.numpy(),
    )


def base_lut() -> np.ndarray:
    """Baseline log-scale, ``log(0.25 + act) - log(SCALE_MIN)``, in LOG_STEP/LOG_FRAC units.

    Indexed by A/2 where A = 100 act is an even integer; 0.25 + act over 0.04 is (25 + A) / 4.
    """
    a = 2.0 * np.arange(BASE_LUT_SIZE, dtype=np.float64)
    return np.rint(np.log((25.0 + a) / 4.0) / LOG_STEP * LOG_FRAC).astype(np.int16)


def softplus_lut() -> tuple[np.ndarray, int]:
    """Scale-table index of ``softplus(u)`` for u = (U_LO + j) LOG_STEP/LOG_FRAC, and U_LO.

    Below U_LO the index is 0 and above the table's top it is N_SCALES - 1 (checked).
    """
    lo = int(math.floor(-4.0 / LOG_STEP * LOG_FRAC))
    hi = (N_SCALES + 1) * LOG_FRAC  # softplus(u) >= u: past the top of the table
    u = np.arange(lo, hi + 1, dtype=np.float64) * (LOG_STEP / LOG_FRAC)
    sp = np.logaddexp(0.0, u)
    idx = np.clip(np.rint(sp / LOG_STEP), 0, N_SCALES - 1).astype(np.int8)
    assert idx[0] == 0 and idx[-1] == N_SCALES - 1
    return idx, lo


def corpus_calibration_windows(dirs, n_clips: int, per_clip: int, crop: int, seed: int):
    """A few (frames (1,T,3,H,W), valid (1,T)) windows from the training clips (deterministic).

    Clips are drawn from every sub-folder alike (the corpus mixes very different sources), then
    ``calibration_windows`` takes ``per_clip`` windows of each.
    """
    rng = np.random.default_rng(seed)
    groups = []
    for d in dirs:
        d = Path(d)
        subs = sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []
        for g in subs + [d]:
            files = sorted(g.glob("*.gif")) if g in subs else sorted(p for p in d.glob("*.gif"))
            if files:
                groups.append(files)
    pick = []
    for k, files in enumerate(groups):
        share = n_clips // len(groups) + (k < n_clips % len(groups))
        pick += [files[i] for i in sorted(rng.choice(len(files), min(share, len(files)), replace=False))]
    yield from calibration_windows(load_clips(pick), per_clip, crop, rng)


def calibration_windows(clips, per_clip: int, crop: int, rng: np.random.Generator):
    """``per_clip`` windows of each uint8 (N, H, W, 3) clip: a full history, a one-frame history
    (as at the start of every stream) and random ones, cropped to ``crop``."""
    for clip in clips:
        n, h, w = clip.shape[:3]
        for j in range(per_clip):
            t = int(rng.integers(1, n)) if j else min(n - 1, HISTORY)
            if j == 1:
                t = 1
            y0 = int(rng.integers(0, max(1, h - crop + 1)))
            x0 = int(rng.integers(0, max(1, w - crop + 1)))
            hist = list(clip[max(0, t - HISTORY) : t, y0 : y0 + crop, x0 : x0 + crop])
            yield window_from_history(hist)


def calibrate(name: str, net, windows) -> dict[str, np.ndarray]:
    """Per-channel max of every ReLU layer's output of the float net over the windows."""
    relus = [ln for ln, kind, _ in layers(name) if kind == "relu"]
    stats = {ln: None for ln in relus}
    hooks = []
    device = next(net.parameters()).device
    for ln in relus:

        def hook(_m, _inp, out, ln=ln):
            mx = out.detach().clamp(min=0).transpose(0, 1).flatten(1).amax(1).double()
            stats[ln] = mx if stats[ln] is None else torch.maximum(stats[ln], mx)

        hooks.append(net.get_submodule(ln).register_forward_hook(hook))
    try:
        with torch.no_grad():
            for frames, valid in windows:
                learned.forward_params(net, frames.to(device), valid.to(device))
    finally:
        for h in hooks:
            h.remove()
    return {k: v.cpu().numpy() for k, v in stats.items()}


@dataclass(frozen=True)
class Requant:
    """How a layer's integer output relates to the float model's conv output y, per output
    channel: ``y_int = clamp(round(y * mult + offset), lo, hi)`` (what ``QConv`` computes exactly,
    halves rounding up); ``in_scale`` is the real value of one integer unit of each input channel."""

    mult: np.ndarray
    offset: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    in_scale: np.ndarray


def quantize_layers(name: str, net, stats: dict[str, np.ndarray], headroom: float = HEADROOM):
    """Yield (layer name, conv module, integer tensors, Requant) for every conv of ``name``'s
    architecture, in order, given the calibrated ReLU maxima ``stats`` (``calibrate``). The
    integer tensors are ``quantize_conv``'s; ``convert`` stores them, QAT simulates them."""
    relu_scale = {}
    for ln, kind, srcs in layers(name):
        conv = net.get_submodule(ln)
        parts = [_source_scales(s, relu_scale) for s in srcs]
        in_scale = np.concatenate([p[0] for p in parts])
        in_max = np.concatenate([p[1] for p in parts])
        o = conv.out_channels
        if kind == "relu":
            mx = stats[ln]
            mx = headroom * np.where(mx > 0, mx, max(float(mx.max()), 1e-6) * 1e-3)
            offset, lo, hi = np.zeros(o), np.zeros(o), np.full(o, ACT_MAX)
            q, mult = quantize_conv(
                conv.weight, conv.bias, in_scale, in_max, ACT_MAX / mx, offset, lo, hi, ln, free_out=True
            )
            relu_scale[ln] = 1.0 / mult
        elif kind == "lstm":
            hid = o // 4
            mult = np.array([GATE_ONE / 6.0] * (3 * hid) + [float(GATE_ONE)] * hid)
            offset = np.array([GATE_ONE // 2] * (3 * hid) + [0] * hid)
            lo, hi = np.array([0] * (3 * hid) + [-GATE_ONE] * hid), np.full(o, GATE_ONE)
            q, _ = quantize_conv(conv.weight, conv.bias, in_scale, in_max, mult, offset, lo, hi, ln)
        else:  # "out": mean correction (MEAN_GAIN pixels per unit), log-scale correction, coupling
            if o != 9:
                raise ValueError(f"{ln}: head has {o} outputs, expected 9")
            mult = np.array([MEAN_GAIN * MEAN_STEPS] * 3 + [LOG_FRAC / LOG_STEP] * 3 + [COUPLING_ONE] * 3)
            hi = np.array([MEAN_Q_MAX] * 3 + [LOG_Q_MAX] * 3 + [COUPLING_MAX] * 3)
            offset, lo = np.zeros(o), -hi
            q, _ = quantize_conv(conv.weight, conv.bias, in_scale, in_max, mult, 0, lo, hi, ln)
        yield (
            ln,
            conv,
            q,
            Requant(
                np.asarray(mult, np.float64),
                offset.astype(np.float64),
                np.asarray(lo, np.float64),
                np.asarray(hi, np.float64),
                in_scale,
            ),
        )


def convert(
    name: str,
    *,
    calib_dirs,
    weights: str | Path | None = None,
    out: str | Path | None = None,
    n_clips: int = CALIB_CLIPS,
    per_clip: int = CALIB_PER_CLIP,
    crop: int = CALIB_CROP,
    seed: int = 0,
    headroom: float = HEADROOM,
) -> Path:
    """Quantize the float model ``name`` (with its shipped weights) into ``<name>-int.safetensors``,
    calibrating its ReLU ranges on clips from the folders ``calib_dirs`` (the training data)."""
    from safetensors.torch import save

    net = learned.build_net(name)
    wfile = Path(weights) if weights is not None else shipped_path(name)
    float_hash = learned.load_weights(net, wfile)
    net.eval()
    stats = calibrate(name, net, corpus_calibration_windows(calib_dirs, n_clips, per_clip, crop, seed))
    tensors, geometry = {}, {}
    for ln, conv, q, _ in quantize_layers(name, net, stats, headroom):
        for key, val in q.items():
            tensors[f"{ln}.{key}"] = val.contiguous()
        geometry[ln] = {"stride": list(conv.stride), "padding": list(conv.padding)}
    sp, u_lo = softplus_lut()
    tensors["lut.base"] = torch.from_numpy(base_lut())
    tensors["lut.softplus"] = torch.from_numpy(sp)
    meta = {
        "format": FORMAT,
        "model": name,
        "float_weights_sha256": float_hash.hex(),
        "softplus_lo": str(u_lo),
        "geometry": json.dumps(geometry),
        "calibration": json.dumps(
            {
                "dirs": [str(d) for d in calib_dirs],
                "clips": n_clips,
                "per_clip": per_clip,
                "crop": crop,
                "seed": seed,
                "headroom": headroom,
            }
        ),
    }
    data = save(tensors, metadata=meta)
    path = Path(out) if out is not None else shipped_path(f"{name}-int")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
