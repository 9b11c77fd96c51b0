"""Integer-exact inference for the learned predictors (issue 5: streams decode bit-exactly anywhere).

Method: integer networks in the sense of J. Ballé, N. Johnston, D. Minnen, "Integer networks for
data compression with latent-variable models", ICLR 2019: every quantity the decoder computes from
the decoded frames to the entropy-coder parameters is an integer, obtained by rules whose result
cannot depend on summation order, kernel choice, thread count or device. Here the weights come from
the float models of ``learned.py`` by post-training quantization (PTQ, ``training/ptq.py``;
``training/qat.py`` can fine-tune the float weights for it first, which found nothing to win for the
shipped ones):

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

The conversion (calibration, quantization, the lookup tables) and the measurement command line live
in ``models/training/ptq.py`` and ``models/training/integer.py``; this module only runs the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..bitstream import entropy
from ..bitstream.errors import WeightsError
from .arch import ARCHS, Arch
from .base import Prediction, Predictor
from .learned import rgb_prediction, window_from_history
from .weights import read_weights, shipped_path

FORMAT = "fpcodec-int-v1"
#: Every accumulator (bias + any partial sum of products) must stay below this: float32 is exact.
ACC_LIMIT = 1 << 24
#: Largest weight magnitude a file may use (int12, stored as int16).
W_MAX = 2047
#: Network input planes per step: 2x-255 (3), 2(x_t - x_t-1) (3), 510 x valid flag (1): all in
#: units of 1/510 (one scale, so no plane dominates a channel's weight scale).
STEP_ONE = 510
#: Fixed-point units of the ConvLSTM: gates 2^-7, cell state 2^-14, hidden output 2^-8.
GATE_ONE = 128
CELL_ONE = 1 << 14
H_ONE = 256
#: Largest requantization shift (the folded rounding constant 2^(n-1) must stay small).
SHIFT_MAX = 24
#: Output units: mean in 1/MEAN_STEPS pixel, coupling in 1/COUPLING_ONE.
MEAN_STEPS = entropy.MEAN_STEPS
MEAN_Q_MAX = 255 * MEAN_STEPS
COUPLING_ONE = entropy.COUPLING_ONE
#: The baseline table is indexed by A/2 where A = 100 * activity is an even integer in 0..25500.
BASE_LUT_SIZE = 12751
N_SCALES = len(entropy.SCALE_TABLE)
_SCALE_F32 = entropy.SCALE_TABLE.astype(np.float32)
#: Tensors of every layer in a ``-int`` file.
LAYER_TENSORS = ("weight", "bias", "shift", "lo", "hi", "in_max")


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


def check_bound(
    weight: torch.Tensor, bias: torch.Tensor, in_max, name: str = "layer", limit: int = ACC_LIMIT
) -> int:
    """Raise WeightsError unless every accumulator of the layer stays below ``limit`` (2^24).

    Also checks that |weights| <= W_MAX and the given tensors are integral. Returns the bound.
    """
    w = weight.detach().to(torch.float64)
    b = bias.detach().to(torch.float64)
    if not (torch.equal(w, w.round()) and torch.equal(b, b.round())):
        raise WeightsError(f"{name}: weights and biases must be integers")
    if w.abs().max() > W_MAX:
        raise WeightsError(f"{name}: weight magnitude {int(w.abs().max())} exceeds {W_MAX}")
    bound = int(accumulator_bound(w, b, in_max).max())
    if bound >= limit:
        raise WeightsError(f"{name}: accumulator bound {bound} >= {limit}: a float32 kernel could round")
    return bound


# --------------------------------------------------------------------------------------------------
# Integer inference
# --------------------------------------------------------------------------------------------------


class QConv:
    """One integer conv + requantization; ``__call__`` maps integer-valued tensors to integers.

    ``dtype`` is float32 on CPU and float64 elsewhere. ``y = clamp(floor(acc * 2^-n), lo, hi)``:
    acc is an exact integer below 2^24 (bias included), scaling by a power of two and ``floor``
    are exact, so this is integer arithmetic. Returns integer-valued tensors of ``dtype``.
    """

    def __init__(
        self,
        t: dict[str, torch.Tensor],
        geometry: dict,
        device: torch.device,
        dtype: torch.dtype,
        name: str = "layer",
    ) -> None:
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
            raise WeightsError(f"{name}: shift out of range")
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
    """The integer forward pass of one architecture (``arch.py``), from a ``-int`` weights file's
    tensors; ``conv`` and ``cell`` are the integer ``arch.Ops``."""

    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        meta: dict[str, str],
        device: torch.device,
        dtype: torch.dtype | None = None,
    ) -> None:
        if meta.get("format") != FORMAT:
            raise WeightsError(f"not an {FORMAT} weights file")
        if meta.get("model") not in ARCHS:
            raise WeightsError(f"unknown architecture {meta.get('model')!r}")
        self.arch = ARCHS[meta["model"]]
        self.device = device
        # float32 on CPU, float64 on GPUs (no TF32; the tests also run float64 on CPU: same ints).
        self.dtype = dtype or (torch.float32 if device.type == "cpu" else torch.float64)
        geometry = _geometry(meta, self.arch)
        inputs = self.arch.in_channels()
        self.layers = {}
        for spec in self.arch.convs:
            t = {k: tensors.get(f"{spec.name}.{k}") for k in LAYER_TENSORS}
            if any(v is None for v in t.values()):
                raise WeightsError(f"layer {spec.name}: tensors missing")
            want = (spec.out_channels, inputs[spec.name])
            if t["weight"].dim() != spec.dims + 2 or tuple(t["weight"].shape[:2]) != want:
                raise WeightsError(
                    f"layer {spec.name}: weight shape {tuple(t['weight'].shape)}, expected {want} x kernel"
                )
            self.layers[spec.name] = QConv(t, geometry[spec.name], device, self.dtype, spec.name)
        luts = tensors.get("lut.base"), tensors.get("lut.softplus")
        if luts[0] is None or luts[1] is None or len(luts[0]) != BASE_LUT_SIZE:
            raise WeightsError("lookup tables missing or of the wrong size")
        if int(luts[1].min()) < 0 or int(luts[1].max()) >= N_SCALES:
            raise WeightsError(f"softplus table indexes outside the {N_SCALES} scales")
        self.lut_base = luts[0].to(device=device, dtype=self.dtype)
        self.lut_softplus = luts[1].to(device=device, dtype=torch.int64)
        self.u_lo = int(meta["softplus_lo"])
        self.u_hi = self.u_lo + len(self.lut_softplus) - 1

    # --------------------------------------------------------------------------- arch.Ops
    def conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Integer conv + requantization (the clamp is the ReLU, or the head's range)."""
        return self.layers[name](x)

    def cell(self, name: str, x: torch.Tensor, state):
        """ConvLSTM step in fixed point: gates 2^-7, c 2^-14, h 2^-8 (see module docstring)."""
        conv = self.layers[name + ".conv"]
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
        return self.arch.forward(self, x)

    def head(self, raw: torch.Tensor, frames: torch.Tensor, two: bool):
        """(mean in 1/16, scale-table index, coupling in 1/256) integer planes (B, 3, H, W)."""
        last = frames[:, -1]
        mean_q = torch.clamp(MEAN_STEPS * last + raw[:, 0:3], 0, MEAN_Q_MAX)
        if two:  # A = 100 x activity = 4 x (5x5 sum of |last - previous|)
            a = 4.0 * box_sum5((last - frames[:, -2]).abs())
        else:  # one frame: 100 x box mean of half the gradient magnitudes (zero past the edge)
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


def _geometry(meta: dict[str, str], arch: Arch) -> dict[str, dict]:
    """Each layer's stride and padding from the file, checked against the architecture."""
    try:
        geometry = json.loads(meta["geometry"])
        got = {
            s.name: (tuple(geometry[s.name]["stride"]), tuple(geometry[s.name]["padding"]))
            for s in arch.convs
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"geometry metadata missing or damaged ({exc!r})") from None
    for spec in arch.convs:
        if got[spec.name] != spec.geometry():
            raise WeightsError(
                f"layer {spec.name}: stride/padding {got[spec.name]}, expected {spec.geometry()}"
            )
    return geometry


def load_int_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str], bytes]:
    """Tensors, metadata and SHA-256 of a ``-int`` weights file."""
    wf = read_weights(
        path,
        "make integer weights with `python -m fpcodec.models.training.integer "
        "convert`, or reinstall the package",
    )
    return wf.tensors, wf.metadata, wf.sha256


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
        self.weights_file = path = Path(weights) if weights is not None else shipped_path(self.name)
        tensors, meta, self._hash = load_int_weights(path)
        model = meta.get("model")
        if meta.get("format") != FORMAT:
            hint = (
                (
                    f": it holds float {model} weights (use -m {model}, or convert them with "
                    f"`python -m fpcodec.models.training.integer convert`)"
                )
                if model in ARCHS
                else ""
            )
            raise WeightsError(f"{path} is not an integer ({FORMAT}) weights file{hint}")
        if model != self.float_name:
            raise WeightsError(
                f"{path} holds {model}-int weights, not {self.name} weights (use -m {model}-int)"
            )
        try:
            self.net = IntegerNet(tensors, meta, self.device)
        except WeightsError as exc:
            raise WeightsError(f"{path}: {exc}") from None
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            raise WeightsError(f"{path}: damaged integer weights ({exc!r})") from None

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
        mean = m.astype(np.float32) * np.float32(1.0 / MEAN_STEPS)  # exact: m < 2^12
        scale = _SCALE_F32[s]
        coupling = c.astype(np.float32) * np.float32(1.0 / COUPLING_ONE)  # exact: |c| <= 512
        return rgb_prediction(mean, scale, coupling, history)


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
