"""The integer weights files' constants, checks and checked contents (``integer.py`` describes the
method). Shared by the numpy (``integer_numpy.py``) and torch (``integer_torch.py``) backends and by
the converter (``training/ptq.py``, via ``integer.py``); no torch here: the checks run in float64
numpy and accept torch tensors as well as numpy arrays.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..bitstream import entropy
from ..bitstream.errors import WeightsError
from .arch import ARCHS, Arch
from .weights import read_weights

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
#: The output layer's clamps stay within this, so that its planes fit int16 (``predict_ints``).
OUT_LIMIT = (1 << 15) - 1
#: The baseline table is indexed by A/2 where A = 100 * activity is an even integer in 0..25500.
BASE_LUT_SIZE = 12751
N_SCALES = len(entropy.SCALE_TABLE)
SCALE_F32 = entropy.SCALE_TABLE.astype(np.float32)
#: Tensors of every layer in a ``-int`` file.
LAYER_TENSORS = ("weight", "bias", "shift", "lo", "hi", "in_max")
#: Inference backends: numpy (CPU, no torch) and torch (CPU or GPU); the same integers.
BACKENDS = ("numpy", "torch")


# --------------------------------------------------------------------------------------------------
# Bound check (the exactness guarantee)
# --------------------------------------------------------------------------------------------------


def _is_torch(x: Any) -> bool:
    return hasattr(x, "detach") and "torch" in sys.modules


def to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (any device) or array-like as a numpy array (no torch needed for the latter)."""
    if _is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def accumulator_bound(weight, bias, in_max):
    """Per output channel, the largest |bias + any partial sum of w * x| over inputs |x_c| <= in_max[c].

    ``weight`` (O, C, *k) and ``bias`` (O,) are integers; ``in_max`` (C,) the largest input magnitude
    of each input channel (zero padding only lowers it). Summing the absolute values of all terms
    bounds every partial sum in every order, which is what makes a float32 kernel exact. Computed in
    float64 numpy; a torch ``weight`` gets a torch (float64) result.
    """
    w = np.abs(to_numpy(weight).astype(np.float64))
    m = np.asarray(to_numpy(in_max), np.float64).reshape(1, -1, *([1] * (w.ndim - 2)))
    bound = np.abs(to_numpy(bias).astype(np.float64)) + (w * m).reshape(w.shape[0], -1).sum(1)
    if _is_torch(weight):
        return sys.modules["torch"].from_numpy(bound)
    return bound


def check_bound(weight, bias, in_max, name: str = "layer", limit: int = ACC_LIMIT) -> int:
    """Raise WeightsError unless every accumulator of the layer stays below ``limit`` (2^24).

    Also checks that |weights| <= W_MAX and the given tensors are integral. Returns the bound.
    Takes torch tensors or numpy arrays (the check runs in float64 numpy either way).
    """
    w = to_numpy(weight).astype(np.float64)
    b = to_numpy(bias).astype(np.float64)
    if not (np.array_equal(w, np.round(w)) and np.array_equal(b, np.round(b))):
        raise WeightsError(f"{name}: weights and biases must be integers")
    if np.abs(w).max() > W_MAX:
        raise WeightsError(f"{name}: weight magnitude {int(np.abs(w).max())} exceeds {W_MAX}")
    bound = int(accumulator_bound(w, b, in_max).max())
    if bound >= limit:
        raise WeightsError(f"{name}: accumulator bound {bound} >= {limit}: a float32 kernel could round")
    return bound


# --------------------------------------------------------------------------------------------------
# Checked weights (shared by both backends)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntLayer:
    """One checked integer layer: numpy arrays (weight (O, C, *k) and bias as float64 integers),
    clamp ranges, the accumulator bound and the conv geometry."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    shift: np.ndarray
    lo: tuple[int, ...]
    hi: tuple[int, ...]
    in_max: np.ndarray
    bound: int
    stride: tuple[int, ...]
    padding: tuple[int, ...]

    @property
    def dim(self) -> int:
        return self.weight.ndim - 2

    @property
    def out_ch(self) -> int:
        return self.weight.shape[0]

    def segments(self) -> list[list[int]]:
        """Runs [c0, c1, lo, hi] of output channels with the same clamp range."""
        out: list[list[int]] = []
        for c in range(self.out_ch):
            if out and (self.lo[c], self.hi[c]) == tuple(out[-1][2:]):
                out[-1][1] = c + 1
            else:
                out.append([c, c + 1, self.lo[c], self.hi[c]])
        return out


@dataclass(frozen=True)
class IntWeights:
    """A ``-int`` file's checked contents: architecture, layers in spec order, lookup tables."""

    arch: Arch
    layers: dict[str, IntLayer]
    lut_base: np.ndarray
    lut_softplus: np.ndarray
    u_lo: int


def parse_int_weights(tensors: dict[str, Any], meta: dict[str, str]) -> IntWeights:
    """Check a ``-int`` file's tensors (torch or numpy) and metadata; WeightsError if they could
    not be run exactly (the bound check, in float64 numpy) or do not fit the architecture."""
    if meta.get("format") != FORMAT:
        raise WeightsError(f"not an {FORMAT} weights file")
    if meta.get("model") not in ARCHS:
        raise WeightsError(f"unknown architecture {meta.get('model')!r}")
    arch = ARCHS[meta["model"]]
    geometry = _geometry(meta, arch)
    inputs = arch.in_channels()
    layers = {}
    for spec in arch.convs:
        t = {k: tensors.get(f"{spec.name}.{k}") for k in LAYER_TENSORS}
        if any(v is None for v in t.values()):
            raise WeightsError(f"layer {spec.name}: tensors missing")
        t = {k: to_numpy(v) for k, v in t.items()}
        want = (spec.out_channels, inputs[spec.name])
        if t["weight"].ndim != spec.dims + 2 or tuple(t["weight"].shape[:2]) != want:
            raise WeightsError(
                f"layer {spec.name}: weight shape {tuple(t['weight'].shape)}, expected {want} x kernel"
            )
        in_max = t["in_max"].astype(np.float64)
        bound = check_bound(t["weight"], t["bias"], in_max, spec.name)  # refuse a file that could round
        shift = t["shift"].astype(np.float64)
        if shift.min() < 0 or shift.max() > SHIFT_MAX:
            raise WeightsError(f"{spec.name}: shift out of range")
        layers[spec.name] = IntLayer(
            spec.name,
            t["weight"].astype(np.float64),
            t["bias"].astype(np.float64),
            shift,
            tuple(t["lo"].tolist()),
            tuple(t["hi"].tolist()),
            in_max,
            bound,
            tuple(geometry[spec.name]["stride"]),
            tuple(geometry[spec.name]["padding"]),
        )
    last = layers[arch.convs[-1].name]
    if min(last.lo) < -OUT_LIMIT or max(last.hi) > OUT_LIMIT:
        raise WeightsError(
            f"{last.name}: output clamp {min(last.lo)}..{max(last.hi)} is outside +-{OUT_LIMIT}"
            " (the coupling planes are int16)"
        )
    luts = tensors.get("lut.base"), tensors.get("lut.softplus")
    if luts[0] is None or luts[1] is None or len(luts[0]) != BASE_LUT_SIZE:
        raise WeightsError("lookup tables missing or of the wrong size")
    base, softplus = to_numpy(luts[0]), to_numpy(luts[1]).astype(np.int64)
    if int(softplus.min()) < 0 or int(softplus.max()) >= N_SCALES:
        raise WeightsError(f"softplus table indexes outside the {N_SCALES} scales")
    return IntWeights(arch, layers, base.astype(np.float64), softplus, int(meta["softplus_lo"]))


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


def load_int_weights(
    path: str | Path, framework: str = "torch"
) -> tuple[dict[str, Any], dict[str, str], bytes]:
    """Tensors (torch, or numpy arrays with ``framework="numpy"``), metadata and SHA-256 of a
    ``-int`` weights file."""
    wf = read_weights(
        path,
        "make integer weights with `python -m fpcodec.models.training.integer "
        "convert`, or reinstall the package",
        framework,
    )
    return wf.tensors, wf.metadata, wf.sha256
