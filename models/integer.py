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

What guarantees exactness. A convolution is evaluated with a float kernel (float32 on CPU: numpy
im2col + GEMM by default, or a torch conv; a torch conv in float64 on other devices) fed only
integers. Every product ``w * x`` is an integer below
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

What reaches the coder. For RGB frames, ``IntegerPrediction`` holds the integers themselves (15
bytes a pixel; a palette pass gathers its pixels' integers, RGB inter reads the planes, and both
code with them as they are); as floats (``Prediction``, and RGBA frames) they are exact functions of
the integers: mean ``m/16`` (float32 exact), scale ``float32(SCALE_TABLE[idx])`` (``quantize_scale``
recovers ``idx``: the value sits at a table point, half a table step from either rounding boundary)
and coupling ``k/256`` with ``|k| <= 512``. The coder snaps them back to those integers and, from
format version 4, computes the coupled G and B means in integer arithmetic
(``entropy.coupled_mean_q``: the exact rational mean + k x residual, rounded half up to 1/16), so
nothing between the decoded frames and constriction's rows depends on float rounding. (Version 3
streams coupled in float32 with ``apply_coupling``: G exact, B deterministic but not always the
exact rational; see INTEGER.md.) Coupling steps of 1/256 because coarser ones cost bits on flat
content: 1/16 steps cost 18 % more on chi.gif, where the coupled G mean must be right to 1/16.

Two backends run the same forward graphs (``arch.py``) on the same checked weights. On CPU (the
default) ``integer_numpy.py`` evaluates them with numpy float32 matrix products (per band of output
rows, one GEMM per kernel column on strided views of a zero-padded copy of the input: sums of
subsets of the same products, hence exact by the argument above) and never imports torch, so ``fpcodec encode``/``decode`` do not pay torch's start-up.
``integer_torch.py`` runs them with torch convolutions: on GPUs, or on CPU when asked
(``backend="torch"``). Both give the same integers (``tests/test_integer_numpy.py``).

The conversion (calibration, quantization, the lookup tables) and the measurement command line live
in ``models/training/ptq.py`` and ``models/training/integer.py``; this module only runs the files.
This module does not import torch; ``IntegerNet``, ``QConv``, ``step_ints`` and ``box_sum5`` (the
torch backend) are loaded from ``integer_torch.py`` on first use.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..bitstream.errors import WeightsError
from .arch import ARCHS
from .base import Prediction, Predictor
from .integer_spec import (  # noqa: F401 - re-exported: the converter and the tests use them here
    ACC_LIMIT,
    BACKENDS,
    BASE_LUT_SIZE,
    CELL_ONE,
    COUPLING_ONE,
    FORMAT,
    GATE_ONE,
    H_ONE,
    LAYER_TENSORS,
    MEAN_Q_MAX,
    MEAN_STEPS,
    N_SCALES,
    SHIFT_MAX,
    STEP_ONE,
    W_MAX,
    SCALE_F32,
    IntLayer,
    IntWeights,
    accumulator_bound,
    check_bound,
    load_int_weights,
    parse_int_weights,
    to_numpy,
)
from . import tiling
from .weights import shipped_path
from .window import rgb_prediction, window_from_history  # noqa: F401 - window_from_history: re-exported

#: The torch backend's names, loaded from ``integer_torch.py`` on first use (module ``__getattr__``).
_TORCH_NAMES = ("IntegerNet", "QConv", "step_ints", "box_sum5")


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(f"{__package__}.integer_torch"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------------
# Predictors
# --------------------------------------------------------------------------------------------------


#: ``predict_ints``'s types of the mean, scale-index and coupling planes.
PLANE_TYPES = (np.int16, np.uint8, np.int16)


class IntegerPredictor(Predictor):
    """Integer-exact version of a learned predictor; subclasses set name, model_id, float_name.

    Outputs are exact functions of integers: mean m/16, scale SCALE_TABLE[idx], coupling k/256.
    ``device`` "cpu" (the default; also for None and "auto") runs the numpy backend and does not
    import torch; "cuda" runs the torch backend on the GPU when one is available, else on CPU.
    ``backend`` ("numpy" or "torch") overrides the choice ("numpy" only on CPU). The integers are
    the same whatever runs them.
    """

    takes_device = True
    #: "auto" does not make the registry import torch to look for a GPU (see ``registry.get``).
    auto_device_needs_torch = False
    float_name = ""

    def __init__(
        self,
        device: str | None = "cpu",
        weights: str | Path | None = None,
        backend: str | None = None,
    ) -> None:
        dev = "cpu" if device in (None, "auto") else str(device)
        if backend not in (None, *BACKENDS):
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        if dev != "cpu" or backend == "torch":
            import torch

            if dev.startswith("cuda") and not torch.cuda.is_available():
                dev = "cpu"
        if backend is None:
            backend = "numpy" if dev == "cpu" else "torch"
        if backend == "numpy" and dev != "cpu":
            raise ValueError(f"the numpy backend runs on CPU only, not on {dev!r}")
        self.backend = backend
        self.weights_file = path = Path(weights) if weights is not None else shipped_path(self.name)
        tensors, meta, self._hash = load_int_weights(path, framework="numpy")
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
            checked = parse_int_weights(tensors, meta)
            if backend == "numpy":
                from .integer_numpy import NumpyIntegerNet

                self.net = NumpyIntegerNet(checked)
            else:
                from .integer_torch import IntegerNet

                self.net = IntegerNet(checked, meta, torch.device(dev))
        except WeightsError as exc:
            raise WeightsError(f"{path}: {exc}") from None
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            raise WeightsError(f"{path}: damaged integer weights ({exc!r})") from None
        self.device = self.net.device

    @property
    def weights_hash(self) -> bytes:
        return self._hash

    def predict_ints(
        self, history: list[np.ndarray], tile: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(3, H, W) mean in 1/16 (int16: at most 255 x 16), scale-table index (uint8: < 64),
        coupling in 1/256 (int16: |c| <= 512), in the smallest types that hold them (a 1600x1400
        frame's planes take 34 MB, not 81 as int32); a frame above ``tiling.tiled_from`` pixels in
        ``tile`` x ``tile`` tiles (default ``tiling.tile_side``'s for the network; the same
        integers)."""
        h, w = np.asarray(history[-1]).shape[:2]
        if h * w <= tiling.tiled_from(self.device):
            frames, valid = window_from_history(history)
            result = self.net.forward(frames, valid)
            return tuple(to_numpy(t[0]).astype(dt) for t, dt in zip(result, PLANE_TYPES, strict=True))
        out = tuple(np.empty((3, h, w), dt) for dt in PLANE_TYPES)
        reach = self.net.arch.reach
        self._predict_tiles(history, tiling.tiles(h, w, reach, tile or tiling.tile_side(reach)), out)
        return out

    def _predict_tiles(
        self, history: list[np.ndarray], tiles: Iterable[tiling.Tile], out: tuple[np.ndarray, ...]
    ) -> None:
        """Each tile's part of ``out``'s planes, its window predicted alone. The numpy backend's
        step memo is paused: a tile's step comes back only after every other tile's, never hits."""
        memo = getattr(self.net, "memo", None)
        with memo.paused() if memo is not None else contextlib.nullcontext():
            for t in tiles:
                frames, valid = window_from_history([np.asarray(f)[t.window] for f in history])
                for plane, result in zip(out, self.net.forward(frames, valid), strict=True):
                    plane[(slice(None), *t.frame)] = to_numpy(result[0])[(slice(None), *t.inside)]

    def predict_region(self, history: list[np.ndarray], region: tuple[slice, slice] | None) -> Prediction:
        """The network run on ``region``'s tile alone (``tiling.region_tile``: the same integers
        there), its planes zero elsewhere; the whole frame where there is no region, for RGBA (its
        alpha is last-frame's, whole) and where the tile would not be predicted whole."""
        last = np.asarray(history[-1])
        h, w = last.shape[:2]
        if region is None or last.shape[-1] != 3:
            return self.predict(history)
        t = tiling.region_tile(h, w, self.net.arch.reach, *region)
        window = (t.window[0].stop - t.window[0].start) * (t.window[1].stop - t.window[1].start)
        if window > tiling.tiled_from(self.device):
            return self.predict(history)
        planes = tuple(np.zeros((3, h, w), dt) for dt in PLANE_TYPES)
        self._predict_tiles(history, [t], planes)  # another frame's region rarely matches: no memo
        return IntegerPrediction(*planes)

    def predict(self, history: list[np.ndarray]) -> Prediction:
        planes = self.predict_ints(history)
        if np.asarray(history[-1]).shape[-1] == 3:
            return IntegerPrediction(*planes)
        return rgb_prediction(*_float_planes(*planes), history)  # RGBA: alpha from last-frame


def _float_planes(m: np.ndarray, s: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 mean, scale and coupling that are exact functions of the network's integers."""
    return _float_mean(m), SCALE_F32[s], _float_coupling(c)


def _float_mean(m: np.ndarray) -> np.ndarray:
    return m.astype(np.float32) * np.float32(1.0 / MEAN_STEPS)  # exact: m < 2^12


def _float_coupling(c: np.ndarray) -> np.ndarray:
    return c.astype(np.float32) * np.float32(1.0 / COUPLING_ONE)  # exact: |c| <= 512


class IntegerPrediction(Prediction):
    """A ``Prediction`` that holds the network's integer planes (int16 mean in 1/16, uint8 scale
    index, int16 coupling in 1/256: 15 bytes a pixel, not float32's 36) and gives a palette pass
    its pixels' integers (``pixels``) and RGB inter the planes (``snapped``): the coder snaps
    floats to these integers anyway. ``mean``, ``scale`` and ``coupling`` are whole-frame float32
    copies made on each access, for readers outside the coder's hot path."""

    def __init__(self, mean_q: np.ndarray, scale_idx: np.ndarray, coupling_q: np.ndarray) -> None:
        for name, plane in (("mean_q", mean_q), ("scale_idx", scale_idx), ("coupling_q", coupling_q)):
            object.__setattr__(self, name, plane)  # the dataclass is frozen

    mean = property(lambda self: _float_mean(self.mean_q))
    scale = property(lambda self: SCALE_F32[self.scale_idx])
    coupling = property(lambda self: _float_coupling(self.coupling_q))

    def pixels(self, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The pass's int16 mean (1/16) and coupling (1/256) as they are, which the coder snaps to
        themselves (no float32 planes: 18 bytes a pixel of the pass instead of 36), and its scale
        indices as int16 (room for the frame's scale shift)."""
        m, s, c = (  # np.take: 2.5x as fast as indexing [:, targets] on a pass of a few hundred
            np.take(plane.reshape(3, -1), targets, axis=1)
            for plane in (self.mean_q, self.scale_idx, self.coupling_q)
        )
        return m, c, s.astype(np.int16)

    def rows(self, band: slice) -> "IntegerPrediction":
        return IntegerPrediction(self.mean_q[:, band], self.scale_idx[:, band], self.coupling_q[:, band])

    def snapped(self, channel: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        return (
            self.mean_q.astype(np.int32),
            self.coupling_q.astype(np.int32),
            self.scale_idx[channel].astype(np.int32),
        )


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


class ConvLSTMHybridPaletteIntPredictor(IntegerPredictor):
    """convlstm-hybrid's network fine-tuned on the palette code length (``--loss palette``,
    models/TRAINING.md): the rows palette frames are coded with, the default for them."""

    name = "convlstm-hybrid-pal-int"
    model_id = 16
    float_name = "convlstm-hybrid"


class ConvLSTMUNetIntPredictor(IntegerPredictor):
    name = "convlstm-unet-int"
    model_id = 15
    float_name = "convlstm-unet"
