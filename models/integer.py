"""Integer-exact inference for the learned predictors (issue 5: streams decode bit-exactly anywhere).

Method: integer networks in the sense of J. Ballé, N. Johnston, D. Minnen, "Integer networks for
data compression with latent-variable models", ICLR 2019: every quantity the decoder computes from
the decoded frames to the entropy-coder parameters is an integer, obtained by rules whose result
cannot depend on summation order, kernel choice, thread count or device. Here the weights come from
the float models of ``learned.py`` by post-training quantization (PTQ; ``qat.py`` can fine-tune the
float weights for it first, which found nothing to win for the shipped ones):

* weights: int8 to int12 (|w| <= 127 .. 2047: per layer, the widest whose accumulator bound
  below fits), one scale per output channel; the scale of every input channel
  (network input, calibrated per-channel ReLU scales, fixed-point LSTM states) is folded into the
  weights before they are rounded, so concatenations of differently scaled tensors need no rescale;
* biases: integers in accumulator units;
* activations: integers; ReLU outputs 0..2047 with a per-channel scale calibrated by ``convert``
  (2 x the float model's max over 27 windows drawn alike from every training sub-folder);
  network inputs ``2x - 255`` and ``2 (x_t - x_t-1)`` (exactly 510 times the float model's
  ``x/255 - 0.5`` and difference planes) and 510 x the valid flag;
* requantization by a per-channel power of two: ``y = clamp(floor((acc + b') / 2^n), lo, hi)``,
  the rounding constant 2^(n-1) and any offset folded into the integer bias b'. The weight scale
  and the output scale are tied so that their ratio is exactly 2^-n: ReLU layers let the
  calibrated output scale give way (the range lands in 1024..2047), fixed-unit outputs let
  the weight scale give way (max |w| in (w_max/2, w_max]). ReLU is ``lo = 0``; hardsigmoid
  ``clamp(z/6 + 1/2, 0, 1)`` is ``2^-n ~ s * 128/6`` with offset 64, clamped to 0..128 (units
  of 1/128); hardtanh is ``2^-n ~ s * 128`` clamped to -128..128;
* ConvLSTM state: gates in units of 2^-7, cell state c in units of 2^-14,
  ``c_t = floor((f c_t-1 + 2^6) / 2^7) + i g`` and ``h = floor((o clamp(c, +-2^14) + 2^12) / 2^13)``
  (h in units of 2^-8, -256..256); nearest upsampling and max pooling act on integers exactly;
* head: the output conv is requantized straight to the entropy coder's integers: mean correction
  in 1/16 pixel (``mean16 = clamp(16 last + m, 0, 4080)``), log-scale correction in units of
  ``LOG_STEP / 16`` (LOG_STEP = the log spacing of ``entropy.SCALE_TABLE``), coupling in 1/256
  (clamped to -512..512, i.e. |c| <= 2). The last-frame activity baseline ``log(0.25 + act)``
  becomes an integer 5x5 box sum and a lookup table, and ``softplus`` + snapping to the scale
  table is a second lookup table. Both tables are integers stored in the weights file: no float
  exp/log runs on the decode path (the tables are computed once, by ``convert``).

What guarantees exactness. A convolution is evaluated with a float kernel (torch conv in float32
on CPU, float64 on other devices) fed only integers. Every product ``w * x`` is an integer below
2^11 * 2^11 and, for every output channel o, ``|b_o| + sum_{c,k} |w_{o,c,k}| * max|x_c|``
is checked (``accumulator_bound`` / ``check_bound``, at conversion and again at load time) to be
below 2^24. Every partial sum of any subset of the terms, in any order and any grouping (blocked
GEMM, im2col, vectorized reductions, split-K over threads, GPU reductions), is then an integer of
magnitude below 2^24, which float32 (24-bit significand) represents exactly, so every addition is
exact and the result is the same on every machine. Algorithms that transform operands (Winograd,
FFT) are not sums of the products: on CPU, NNPACK (the only torch CPU backend that may pick them)
is switched off around integer inference (oneDNN is called for direct convolution, the fallback is
im2col + GEMM); on GPUs the convs run in float64 (no TF32, which applies to float32 only). The
result of every convolution is also rounded to the nearest integer: a no-op for exact kernels, and
it repairs a transformed algorithm's rounding error below 1/2 (float64 leaves about 2^-29 at these
magnitudes). Requantization multiplies the exact accumulator by 2^-n (exact: a power of two,
no underflow) and takes ``floor`` (exact), so it is integer arithmetic. ConvLSTM products and box
sums stay below 2^24 (bounds in the comments). Table lookups are integer indexing.

What reaches the coder. ``Prediction`` carries floats that are exact functions of those integers:
mean ``m/16`` (float32 exact), scale ``float32(SCALE_TABLE[idx])`` (``quantize_scale`` recovers
``idx``: the value sits at a table point, half a table step from either rounding boundary) and
coupling ``k/256`` with ``|k| <= 512``. The coder snaps them back to those integers and, from
format version 4, computes the coupled G and B means in integer arithmetic
(``entropy.coupled_mean_q``: the exact rational mean + k x residual, rounded half up to 1/16), so
nothing between the decoded frames and constriction's rows depends on float rounding. (Version 3
streams coupled in float32 with ``apply_coupling``: G exact, B deterministic but not always the
exact rational; see INTEGER.md.) Coupling steps of 1/256 because coarser ones cost bits on flat
content: 1/16 steps cost 18 % more on chi.gif, where the coupled G mean must be right to 1/16.

Command line (run from anywhere; the -int weights land next to the float ones)::

    python -m fpcodec.models.integer convert --models conv2d convlstm-hybrid
    python -m fpcodec.models.integer compare --models conv2d convlstm-hybrid --val DIR
    python -m fpcodec.models.integer speed --models conv2d convlstm-hybrid
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..bitstream import entropy
from . import learned
from .base import HISTORY, Prediction, Predictor
from .learned import MEAN_GAIN, WEIGHTS_DIR, window_from_history

FORMAT = "fpcodec-int-v1"
#: Every accumulator (bias + any partial sum of products) must stay below this: float32 is exact.
ACC_LIMIT = 1 << 24
#: Weight magnitude per layer: the widest of these whose accumulator bound fits (int8 .. int12,
#: stored as int16); W_MAX is the limit any file may use.
W_MAX_CHOICES = (2047, 1023, 511, 255, 127)
W_MAX = 2047
#: ReLU ranges are HEADROOM x the calibrated max (content unlike the calibration windows must not
#: saturate; 11-bit activations leave 10 bits of resolution below the calibrated max).
HEADROOM = 2.0
#: Headroom kept below ACC_LIMIT when choosing a layer's weight width.
_BOUND_TARGET = 0.9
#: ReLU activations are 0..ACT_MAX (11 bits) with a per-channel scale; HEADROOM x the calibrated
#: maximum maps into (ACT_MAX/2, ACT_MAX] (the scale is a power of two times the weight scale).
ACT_MAX = 2047
#: Network input planes per step: 2x-255 (3), 2(x_t - x_t-1) (3), 510 x valid flag (1): all in
#: units of 1/510 (one scale, so no plane dominates a channel's weight scale); largest magnitude.
STEP_ONE = 510
STEP_SCALE = np.array([1 / STEP_ONE] * 7)
STEP_MAX = np.array([255.0] * 3 + [510.0] * 3 + [510.0])
#: Fixed-point units of the ConvLSTM: gates 2^-7, cell state 2^-14, hidden output 2^-8.
GATE_ONE = 128
CELL_ONE = 1 << 14
H_ONE = 256
#: Largest requantization shift (the folded rounding constant 2^(n-1) must stay small).
SHIFT_MAX = 24
#: Output units: mean in 1/MEAN_STEPS pixel, log-scale in LOG_STEP/LOG_FRAC, coupling in 1/COUPLING_ONE.
MEAN_STEPS = entropy.MEAN_STEPS
MEAN_Q_MAX = 255 * MEAN_STEPS
LOG_STEP = float(entropy._LOG_STEP)
LOG_FRAC = 16
COUPLING_ONE = entropy.COUPLING_ONE
#: |coupling| <= COUPLING_MAX / COUPLING_ONE = 2 (trained models exceed 1; see the bound above).
COUPLING_MAX = entropy.COUPLING_MAX
#: Largest |log-scale correction| kept (in LOG_STEP/LOG_FRAC units, i.e. 4096/16 table steps).
LOG_Q_MAX = 4096
#: The baseline table is indexed by A/2 where A = 100 * activity is an even integer in 0..25500.
BASE_LUT_SIZE = 12751
N_SCALES = len(entropy.SCALE_TABLE)
_SCALE_F32 = entropy.SCALE_TABLE.astype(np.float32)

#: Calibration of the ReLU ranges: windows of this many clips, this many per clip, cropped to this.
CALIB_CLIPS, CALIB_PER_CLIP, CALIB_CROP = 12, 3, 96


# --------------------------------------------------------------------------------------------------
# Architectures: which convs exist, what feeds them, what follows them
# --------------------------------------------------------------------------------------------------
# Input sources: "step" (one step's 7 planes), "step2"/"step5" (that many steps stacked), "h<N>" (N
# hidden planes of a ConvLSTM, units 2^-8), or the name of a ReLU layer (its calibrated scales).
# Kinds: "relu" (0..255), "lstm" (i, f, o hardsigmoid and g hardtanh, units 2^-7), "out" (head).
# Hidden sizes come from the float net at conversion time.

def _arch(name: str, net) -> list[tuple[str, str, list[str]]]:
    if name == "conv2d":
        return [("conv", "relu", ["step5"]), ("mid", "relu", ["conv"]), ("out", "out", ["mid"])]
    if name == "conv3d-hybrid":
        return [("c1", "relu", ["step"]), ("c2", "relu", ["c1"]), ("mid", "relu", ["c2", "step"]),
                ("out", "out", ["mid"])]
    if name == "convlstm-hybrid":
        hid = net.cell.hidden
        return [("enc", "relu", ["step"]), ("cell.conv", "lstm", ["enc", f"h{hid}"]),
                ("full", "relu", ["step2"]), ("mid", "relu", ["full", f"h{hid}"]),
                ("out", "out", ["mid"])]
    if name == "convlstm-unet":
        h1, h2 = net.cell1.hidden, net.cell2.hidden
        return [("enc1", "relu", ["step"]), ("cell1.conv", "lstm", ["enc1", f"h{h1}"]),
                ("cell2.conv", "lstm", [f"h{h1}", f"h{h2}"]), ("dec2", "relu", [f"h{h2}", f"h{h1}"]),
                ("full", "relu", ["step2"]), ("mix", "relu", ["full", "dec2"]),
                ("out", "out", ["mix"])]
    raise KeyError(name)


ARCHS = ("conv2d", "conv3d-hybrid", "convlstm-hybrid", "convlstm-unet")


# --------------------------------------------------------------------------------------------------
# Bound check (the exactness guarantee)
# --------------------------------------------------------------------------------------------------

def accumulator_bound(weight: torch.Tensor, bias: torch.Tensor, in_max) -> torch.Tensor:
    """Per output channel, the largest |bias + any partial sum of w * x| over inputs |x_c| <= in_max[c].

    ``weight`` (O, C, *k) and ``bias`` (O,) are integers; ``in_max`` (C,) the largest input magnitude
    of each input channel (zero padding only lowers it). Summing the absolute values of all terms
    bounds every partial sum in every order, which is what makes a float32 kernel exact.
    """
    w = weight.detach().to(torch.float64).abs()
    m = torch.as_tensor(np.asarray(in_max, np.float64)).view(1, -1, *([1] * (w.dim() - 2)))
    return bias.detach().to(torch.float64).abs() + (w * m).flatten(1).sum(1)


def check_bound(weight: torch.Tensor, bias: torch.Tensor, in_max, name: str = "layer",
                limit: int = ACC_LIMIT) -> int:
    """Raise ValueError unless every accumulator of the layer stays below ``limit`` (2^24).

    Also checks that |weights| <= W_MAX and the given tensors are integral. Returns the bound.
    """
    w = weight.detach().to(torch.float64)
    b = bias.detach().to(torch.float64)
    if not (torch.equal(w, w.round()) and torch.equal(b, b.round())):
        raise ValueError(f"{name}: weights and biases must be integers")
    if w.abs().max() > W_MAX:
        raise ValueError(f"{name}: weight magnitude {int(w.abs().max())} exceeds {W_MAX}")
    bound = int(accumulator_bound(w, b, in_max).max())
    if bound >= limit:
        raise ValueError(f"{name}: accumulator bound {bound} >= {limit}: a float32 kernel could round")
    return bound


# --------------------------------------------------------------------------------------------------
# Conversion (post-training quantization)
# --------------------------------------------------------------------------------------------------

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


def quantize_conv(weight: torch.Tensor, bias: torch.Tensor, in_scale, in_max, out_mult,
                  offset, lo, hi, name: str = "layer", free_out: bool = False):
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

    return ({"weight": wq.to(torch.int8 if w_max <= 127 else torch.int16),
             "bias": bq.to(torch.int32), "shift": n.to(torch.int32),
             "lo": vec(lo), "hi": vec(hi),
             "in_max": torch.as_tensor(np.asarray(in_max)).to(torch.int32)}, mult.numpy())


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
    from .train import load_clips  # local: train imports the optimizer stack

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
            hist = list(clip[max(0, t - HISTORY):t, y0:y0 + crop, x0:x0 + crop])
            yield window_from_history(hist)


def calibrate(name: str, net, windows) -> dict[str, np.ndarray]:
    """Per-channel max of every ReLU layer's output of the float net over the windows."""
    layers = [ln for ln, kind, _ in _arch(name, net) if kind == "relu"]
    stats = {ln: None for ln in layers}
    hooks = []
    device = next(net.parameters()).device
    for ln in layers:
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
    for ln, kind, srcs in _arch(name, net):
        conv = net.get_submodule(ln)
        parts = [_source_scales(s, relu_scale) for s in srcs]
        in_scale = np.concatenate([p[0] for p in parts])
        in_max = np.concatenate([p[1] for p in parts])
        o = conv.out_channels
        if kind == "relu":
            mx = stats[ln]
            mx = headroom * np.where(mx > 0, mx, max(float(mx.max()), 1e-6) * 1e-3)
            offset, lo, hi = np.zeros(o), np.zeros(o), np.full(o, ACT_MAX)
            q, mult = quantize_conv(conv.weight, conv.bias, in_scale, in_max, ACT_MAX / mx, offset, lo,
                                    hi, ln, free_out=True)
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
        yield ln, conv, q, Requant(np.asarray(mult, np.float64), offset.astype(np.float64),
                                   np.asarray(lo, np.float64), np.asarray(hi, np.float64), in_scale)


def convert(name: str, *, calib_dirs, weights: str | Path | None = None, out: str | Path | None = None,
            n_clips: int = CALIB_CLIPS, per_clip: int = CALIB_PER_CLIP,
            crop: int = CALIB_CROP, seed: int = 0, headroom: float = HEADROOM) -> Path:
    """Quantize the float model ``name`` (with its shipped weights) into ``<name>-int.safetensors``,
    calibrating its ReLU ranges on clips from the folders ``calib_dirs`` (the training data)."""
    from safetensors.torch import save

    net = learned.build_net(name)
    wfile = Path(weights) if weights is not None else learned.weights_path(name)
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
    meta = {"format": FORMAT, "model": name, "float_weights_sha256": float_hash.hex(),
            "softplus_lo": str(u_lo), "geometry": json.dumps(geometry),
            "calibration": json.dumps({"dirs": [str(d) for d in calib_dirs], "clips": n_clips,
                                       "per_clip": per_clip, "crop": crop, "seed": seed,
                                       "headroom": headroom})}
    data = save(tensors, metadata=meta)
    path = Path(out) if out is not None else int_weights_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def int_weights_path(float_name: str) -> Path:
    return WEIGHTS_DIR / f"{float_name}-int.safetensors"


# --------------------------------------------------------------------------------------------------
# Integer inference
# --------------------------------------------------------------------------------------------------

class QConv:
    """One integer conv + requantization; ``__call__`` maps integer-valued tensors to integers.

    ``dtype`` is float32 on CPU and float64 elsewhere. ``y = clamp(floor(acc * 2^-n), lo, hi)``:
    acc is an exact integer below 2^24 (bias included), scaling by a power of two and ``floor``
    are exact, so this is integer arithmetic. Returns integer-valued tensors of ``dtype``.
    """

    def __init__(self, t: dict[str, torch.Tensor], geometry: dict, device: torch.device,
                 dtype: torch.dtype, name: str = "layer") -> None:
        w, b = t["weight"], t["bias"]
        self.name = name
        self.in_max = t["in_max"].to(torch.float64).numpy()
        self.bound = check_bound(w, b, self.in_max, name)  # refuse a file that could round
        self.dim = w.dim() - 2
        self.out_ch = w.shape[0]
        self.weight = w.to(device=device, dtype=dtype)
        self.bias = b.to(device=device, dtype=dtype)
        shift = t["shift"].to(torch.float64)
        if shift.min() < 0 or shift.max() > SHIFT_MAX:
            raise ValueError(f"{name}: shift out of range")
        self.inv = torch.pow(2.0, -shift).to(device=device, dtype=dtype).view(1, -1, *([1] * self.dim))
        # Runs of output channels with the same clamp range (one in-place clamp each).
        lo, hi = t["lo"].tolist(), t["hi"].tolist()
        self.segments = []
        for c in range(self.out_ch):
            if self.segments and (lo[c], hi[c]) == tuple(self.segments[-1][2:]):
                self.segments[-1][1] = c + 1
            else:
                self.segments.append([c, c + 1, lo[c], hi[c]])
        self.stride = tuple(geometry["stride"])
        self.padding = tuple(geometry["padding"])
        self._conv = F.conv2d if self.dim == 2 else F.conv3d

    def accumulate(self, x: torch.Tensor) -> torch.Tensor:
        """bias + conv(w, x), exact integers (rounding is a no-op for exact kernels)."""
        return torch.round_(self._conv(x, self.weight, self.bias, self.stride, self.padding))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.accumulate(x).mul_(self.inv).floor_()
        for c0, c1, lo, hi in self.segments:
            y[:, c0:c1].clamp_(lo, hi)
        return y


def step_ints(frames: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, 7, H, W) integer step planes: exactly 510 x the float model's ``step_inputs``."""
    f = 2.0 * frames - 255.0
    d = torch.zeros_like(f)
    both = (valid[:, 1:] * valid[:, :-1])[:, :, None, None, None]
    d[:, 1:] = 2.0 * (frames[:, 1:] - frames[:, :-1]) * both
    b, t, _, h, w = f.shape
    v = (STEP_ONE * valid[:, :, None, None, None]).to(f.dtype).expand(b, t, 1, h, w)
    return torch.cat([f, d, v], dim=2)


def box_sum5(a: torch.Tensor) -> torch.Tensor:
    """5x5 sum of each plane (B, C, H, W), edges replicated (integer sums below 25 * 510)."""
    return F.avg_pool2d(F.pad(a, (2, 2, 2, 2), mode="replicate"), 5, stride=1, divisor_override=1)


class IntegerNet:
    """The integer forward pass of one architecture, from a ``-int`` weights file's tensors."""

    def __init__(self, tensors: dict[str, torch.Tensor], meta: dict[str, str],
                 device: torch.device, dtype: torch.dtype | None = None) -> None:
        if meta.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} weights file")
        self.arch = meta["model"]
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}")
        self.device = device
        # float32 on CPU, float64 on GPUs (no TF32; the tests also run float64 on CPU: same ints).
        self.dtype = dtype or (torch.float32 if device.type == "cpu" else torch.float64)
        geometry = json.loads(meta["geometry"])
        self.layers = {}
        for ln, geo in geometry.items():
            t = {k[len(ln) + 1:]: v for k, v in tensors.items() if k.startswith(ln + ".")
                 and "." not in k[len(ln) + 1:]}
            self.layers[ln] = QConv(t, geo, device, self.dtype, ln)
        self.lut_base = tensors["lut.base"].to(device=device, dtype=self.dtype)
        self.lut_softplus = tensors["lut.softplus"].to(device=device, dtype=torch.int64)
        self.u_lo = int(meta["softplus_lo"])
        self.u_hi = self.u_lo + len(self.lut_softplus) - 1

    # --------------------------------------------------------------------------- building blocks
    def cell(self, name: str, x: torch.Tensor, state):
        """ConvLSTM step in fixed point: gates 2^-7, c 2^-14, h 2^-8 (see module docstring)."""
        conv = self.layers[name]
        hid = conv.out_ch // 4
        if state is None:
            b, _, h, w = x.shape
            state = (x.new_zeros(b, hid, h, w), x.new_zeros(b, hid, h, w))
        h_prev, c_prev = state
        i, f, o, g = torch.chunk(conv(torch.cat([x, h_prev], dim=1)), 4, dim=1)
        # |c| grows by at most 2^14 + 1 per step (|i g| <= 2^14, +1 for the floor): over HISTORY = 5
        # steps |f c| <= 2^7 * 5 * (2^14 + 1) < 2^24 and |o clamp(c)| <= 2^21: every value below
        # is an integer that float32 holds exactly.
        c = ((f * c_prev).add_(GATE_ONE // 2).mul_(1.0 / GATE_ONE).floor_()).add_(i * g)
        hc = torch.clamp(c, -CELL_ONE, CELL_ONE)
        h = (o * hc).add_(1 << 12).mul_(1.0 / (1 << 13)).floor_()  # 2^-21 -> 2^-8 units
        return h, (h, c)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """Raw integer outputs (B, 9, H, W) from integer step planes (B, T, 7, H, W)."""
        L = self.layers
        b, t, c, h, w = x.shape
        if self.arch == "conv2d":
            y = L["conv"](x.reshape(b, t * c, h, w))
            y = L["mid"](y)
            return L["out"](y)
        if self.arch == "conv3d-hybrid":
            y = L["c1"](x.transpose(1, 2))
            y = L["c2"](y)[:, :, 0]
            y = L["mid"](torch.cat([y, x[:, -1]], dim=1))
            return L["out"](y)
        if self.arch == "convlstm-hybrid":
            e = L["enc"](x.reshape(b * t, c, h, w))
            e = e.reshape(b, t, *e.shape[1:])
            state = None
            for k in range(t):
                hk, state = self.cell("cell.conv", e[:, k], state)
            up = F.interpolate(hk, size=(h, w), mode="nearest")
            full = L["full"](x[:, -2:].reshape(b, 2 * c, h, w))
            y = L["mid"](torch.cat([full, up], dim=1))
            return L["out"](y)
        # convlstm-unet
        e = L["enc1"](x.reshape(b * t, c, h, w))
        e = F.max_pool2d(e, 2, ceil_mode=True)
        e = e.reshape(b, t, *e.shape[1:])
        s1 = s2 = None
        for k in range(t):
            h1, s1 = self.cell("cell1.conv", e[:, k], s1)
            h2, s2 = self.cell("cell2.conv", F.max_pool2d(h1, 2, ceil_mode=True), s2)
        u2 = F.interpolate(h2, size=h1.shape[-2:], mode="nearest")
        d1 = L["dec2"](torch.cat([u2, h1], dim=1))
        u1 = F.interpolate(d1, size=(h, w), mode="nearest")
        full = L["full"](x[:, -2:].reshape(b, 2 * c, h, w))
        y = L["mix"](torch.cat([full, u1], dim=1))
        return L["out"](y)

    def head(self, raw: torch.Tensor, frames: torch.Tensor, two: bool):
        """(mean in 1/16, scale-table index, coupling in 1/256) integer planes (B, 3, H, W)."""
        last = frames[:, -1]
        mean_q = torch.clamp(MEAN_STEPS * last + raw[:, 0:3], 0, MEAN_Q_MAX)
        if two:  # A = 100 x activity = 4 x (5x5 sum of |last - previous|)
            a = 4.0 * box_sum5((last - frames[:, -2]).abs())
        else:    # one frame: 100 x box mean of half the gradient magnitudes (zero past the edge)
            gy = F.pad((last[..., 1:, :] - last[..., :-1, :]).abs(), (0, 0, 0, 1))
            gx = F.pad((last[..., :, 1:] - last[..., :, :-1]).abs(), (0, 1, 0, 0))
            a = 2.0 * box_sum5(gx + gy)
        a = torch.maximum(a, torch.floor(a.amax(dim=1, keepdim=True) * 0.5))  # A is even
        u = self.lut_base[(a * 0.5).long()] + raw[:, 3:6]
        idx = self.lut_softplus[(torch.clamp(u, self.u_lo, self.u_hi) - self.u_lo).long()]
        return mean_q, idx, raw[:, 6:9]

    def forward(self, frames: torch.Tensor, valid: torch.Tensor):
        """Integer (mean_q, scale_idx, coupling_q) from (B, T, 3, H, W) uint8-valued frames."""
        frames = frames.to(device=self.device, dtype=self.dtype)
        valid = valid.to(device=self.device, dtype=self.dtype)
        with torch.no_grad(), torch.backends.nnpack.flags(enabled=False):
            raw = self.body(step_ints(frames, valid))
            return self.head(raw, frames, bool(valid[0, -2] > 0))


def load_int_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str], bytes]:
    """Tensors, metadata and SHA-256 of a ``-int`` weights file."""
    from safetensors import safe_open
    from safetensors.torch import load

    data, digest = learned.read_weights_file(
        path, f"integer weights not found: {path} (make them with "
              f"`python -m fpcodec.models.integer convert`)")
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata() or {})
    return load(data), meta, digest


class IntegerPredictor(Predictor):
    """Integer-exact version of a learned predictor; subclasses set name, model_id, float_name.

    Outputs are exact functions of integers: mean m/16, scale SCALE_TABLE[idx], coupling k/256.
    ``device`` may be "cuda" (used when available, else CPU): the integers are the same.
    """

    takes_device = True
    float_name = ""

    def __init__(self, device: str | None = "cpu", weights: str | Path | None = None) -> None:
        dev = "cpu" if device in (None, "auto") else str(device)
        if dev.startswith("cuda") and not torch.cuda.is_available():
            dev = "cpu"
        self.device = torch.device(dev)
        self.weights_file = Path(weights) if weights is not None else int_weights_path(self.float_name)
        tensors, meta, self._hash = load_int_weights(self.weights_file)
        if meta.get("model") != self.float_name:
            raise ValueError(f"{self.weights_file} holds {meta.get('model')!r}, not {self.float_name!r}")
        self.net = IntegerNet(tensors, meta, self.device)

    @property
    def weights_hash(self) -> bytes:
        return self._hash

    def predict_ints(self, history: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """int32 (3, H, W) mean in 1/16, scale-table index, coupling in 1/256."""
        frames, valid = window_from_history(history)
        m, s, c = self.net.forward(frames, valid)
        return tuple(t[0].cpu().numpy().astype(np.int32) for t in (m, s, c))

    def predict(self, history: list[np.ndarray]) -> Prediction:
        m, s, c = self.predict_ints(history)
        mean = m.astype(np.float32) * np.float32(1.0 / MEAN_STEPS)       # exact: m < 2^12
        scale = _SCALE_F32[s]
        coupling = c.astype(np.float32) * np.float32(1.0 / COUPLING_ONE)  # exact: |c| <= 512
        return learned.rgb_prediction(mean, scale, coupling, history)


class Conv2DIntPredictor(IntegerPredictor):
    name = "conv2d-int"
    model_id = 12
    float_name = "conv2d"


class Conv3DHybridIntPredictor(IntegerPredictor):
    name = "conv3d-hybrid-int"
    model_id = 13
    float_name = "conv3d-hybrid"


class ConvLSTMHybridIntPredictor(IntegerPredictor):
    name = "convlstm-hybrid-int"
    model_id = 14
    float_name = "convlstm-hybrid"


class ConvLSTMUNetIntPredictor(IntegerPredictor):
    name = "convlstm-unet-int"
    model_id = 15
    float_name = "convlstm-unet"


# --------------------------------------------------------------------------------------------------
# Measurements (command line)
# --------------------------------------------------------------------------------------------------

def _val_clips(dirs) -> list[tuple[str, list[np.ndarray]]]:
    from ..codec.io import VideoReader

    files = []
    for d in dirs:
        d = Path(d)
        files += [d] if d.is_file() else sorted(d.rglob("*.gif"))
    return [(p.name, [f for f, _ in VideoReader(p).frames()]) for p in files]


def compare(names, val_dirs, palette_modes=(False, True), check_decode: bool = False,
            weights: str | Path | None = None, int_weights: str | Path | None = None) -> None:
    """Stream size (bits per subpixel) of each float model and its integer version on the clips.

    Both predictors are loaded once, and the integer file must have been made from the float
    weights loaded (the float weights may be replaced by training while this runs). ``weights`` /
    ``int_weights`` replace the shipped files (one model only), e.g. to measure a QAT run.
    """
    from ..codec import decode, encode
    from .registry import get

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
        print(f"{name}: float weights sha256 {fhash[:16]}..., integer weights sha256 "
              f"{preds[name + '-int'].weights_hash.hex()[:16]}... made from "
              f"{meta['float_weights_sha256'][:16]}...", flush=True)
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
                        assert all(np.array_equal(a, b) for a, b in zip(out, frames)), clip_name
                tot[model] = nbytes
                print(f"  {model:22s} palette={'on ' if pal else 'off'} {8 * nbytes / subpixels:.4f} "
                      f"bits/subpixel ({nbytes} bytes, {time.perf_counter() - t0:.0f} s)", flush=True)
            rel = tot[f"{name}-int"] / tot[name] - 1
            print(f"{name}: integer vs float, palette={'on' if pal else 'off'}: {100 * rel:+.2f}%",
                  flush=True)


def speed(names, size: int = 96, repeats: int = 15) -> None:
    """Median CPU time of predict() at size x size, float vs integer, same process."""
    from .registry import get

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
        print(f"{name}: float {med[name]:.1f} ms, integer {med[name + '-int']:.1f} ms, "
              f"ratio {med[name + '-int'] / med[name]:.2f} (median of {repeats}, {size}x{size}, "
              f"{torch.get_num_threads()} thread(s))", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fpcodec.models.integer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["convert", "compare", "speed"])
    parser.add_argument("--models", nargs="+", default=["conv2d", "convlstm-hybrid"])
    parser.add_argument("--val", nargs="+", help="compare: folders of clips to measure on")
    parser.add_argument("--train", nargs="+", help="convert: training folders to calibrate on")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--palette", choices=["off", "on", "both"], default="both")
    parser.add_argument("--check-decode", action="store_true",
                        help="decode every integer stream (RGB mode) and compare with the input")
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
