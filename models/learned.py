"""Learned predictors (torch): conv2d, conv3d-hybrid, convlstm-hybrid, convlstm-unet.

Every network reads the same window: the last ``HISTORY`` decoded RGB frames (oldest first; shorter
histories are padded by repeating the oldest frame and flagged by a per-step ``valid`` plane), and
outputs 9 raw planes per pixel that ``head_params`` turns into

* mean  = last frame + a correction (pixel units), clamped to 0..255;
* scale = exp(log(SCALE_MIN) + softplus(raw)), at most SCALE_MAX: a floor of 0.04 so that an
  unchanged pixel predicted exactly costs ~0 bits;
* coupling (G<-R, B<-R, B<-G) for ``apply_coupling``.

Per-step inputs are the centred frame ``x/255 - 0.5``, its difference to the previous frame (zero
at the first real frame) and the valid flag: 7 planes. Only integer-friendly activations (ReLU,
hardsigmoid, hardtanh) and no normalisation layers are used inside the networks, which are built
from their descriptions in ``arch.py`` (shared with the integer nets of ``integer.py``).
The alpha plane of RGBA input is not learned: it comes from ``last_frame_params``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..bitstream.errors import WeightsError
from . import window
from .arch import ARCHS, Arch
from .base import Prediction, Predictor
from .weights import describe_mismatch, read_weights, shipped_path
from .window import rgb_prediction

SCALE_MIN = 0.04
SCALE_MAX = 160.0
_LOG_SCALE_MIN = math.log(SCALE_MIN)
_LOG_SCALE_MAX = math.log(SCALE_MAX)
#: Mean corrections are produced in units of MEAN_GAIN pixel levels.
MEAN_GAIN = 8.0


# --------------------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------------------


def window_from_history(history: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, T, 3, H, W) uint8-valued float frames and (1, T) valid flags from 1..HISTORY frames
    (``window.window_from_history`` as torch tensors)."""
    frames, valid = window.window_from_history(history)
    return torch.from_numpy(frames), torch.from_numpy(valid)


def step_inputs(frames: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, 7, H, W) per-step features from (B, T, 3, H, W) frames in 0..255 and (B, T) flags."""
    f = frames * (1.0 / 255.0) - 0.5
    d = torch.zeros_like(f)
    both = (valid[:, 1:] * valid[:, :-1])[:, :, None, None, None]
    d[:, 1:] = (f[:, 1:] - f[:, :-1]) * both
    b, t, _, h, w = f.shape
    v = valid[:, :, None, None, None].expand(b, t, 1, h, w)
    return torch.cat([f, d, v], dim=2)


def box5(a: torch.Tensor) -> torch.Tensor:
    """5x5 mean of each plane of (B, C, H, W), edges replicated (as ``last_frame.box_mean``)."""
    return F.avg_pool2d(F.pad(a, (2, 2, 2, 2), mode="replicate"), 5, stride=1)


def base_log_scale(frames: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """log of the last-frame predictor's activity scale (B, 3, H, W), the scale head's baseline.

    Same rule as ``last_frame.last_frame_params``: 0.25 + 5x5 mean |last - previous| (spatial
    gradient when there is only one frame), at least half the strongest channel's activity.
    """
    last = frames[:, -1]
    temporal = box5((last - frames[:, -2]).abs())
    gy = (last[..., 1:, :] - last[..., :-1, :]).abs()
    gx = (last[..., :, 1:] - last[..., :, :-1]).abs()
    gy = F.pad(gy, (0, 0, 0, 1))
    gx = F.pad(gx, (0, 1, 0, 0))
    spatial = box5(0.5 * (gx + gy))
    two = valid[:, -2].reshape(-1, 1, 1, 1) > 0
    act = torch.where(two, temporal, spatial)
    act = torch.maximum(act, 0.5 * act.amax(dim=1, keepdim=True))
    return torch.log(0.25 + act)


def head_params(raw: torch.Tensor, last: torch.Tensor, base_log: torch.Tensor):
    """Mean, scale, coupling (each (B, 3, H, W)) from raw outputs, the last frame (0..255) and the
    baseline log-scale: the network corrects the last-frame predictor (raw = 0 is close to it)."""
    mean = (last + MEAN_GAIN * raw[:, 0:3]).clamp(0.0, 255.0)
    log_scale = _LOG_SCALE_MIN + F.softplus(base_log - _LOG_SCALE_MIN + raw[:, 3:6])
    scale = torch.exp(log_scale.clamp(max=_LOG_SCALE_MAX))
    coupling = raw[:, 6:9]
    return mean, scale, coupling


def _init_head(conv: nn.Conv2d, scale_bias: float = 0.0) -> None:
    """Small output weights: start near the last-frame predictor (mean, scale), no coupling."""
    with torch.no_grad():
        conv.weight.mul_(0.05)
        conv.bias.zero_()
        conv.bias[3:6] = scale_bias


# --------------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------------


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell: input, forget, output gates and a cell state, all from one conv.

    Gates use hardsigmoid, the candidate and the cell output hardtanh (integer-friendly).
    """

    def __init__(self, in_ch: int, hidden: int, kernel: int = 3) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv = nn.Conv2d(in_ch + hidden, 4 * hidden, kernel, padding=kernel // 2)
        with torch.no_grad():
            self.conv.bias[hidden : 2 * hidden] += 1.0  # forget gate starts open

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        if state is None:
            b, _, h, w = x.shape
            z = x.new_zeros(b, self.hidden, h, w)
            state = (z, z)
        h_prev, c_prev = state
        gates = self.conv(torch.cat([x, h_prev], dim=1))
        i, f, o, g = torch.chunk(gates, 4, dim=1)
        i = F.hardsigmoid(i)
        f = F.hardsigmoid(f)
        o = F.hardsigmoid(o)
        g = F.hardtanh(g)
        c = f * c_prev + i * g
        h = o * F.hardtanh(c)
        return h, (h, c)


class Net(nn.Module):
    """The float network of one architecture (``arch.py``): its convs, ReLUs and ConvLSTM cells.

    Modules are registered in the spec's order under the spec's names, which fixes the state-dict
    keys of the weights files and the order in which a seeded initialisation draws.
    """

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        self.arch = arch
        inputs = arch.in_channels()
        for spec in arch.convs:
            if spec.kind == "lstm":
                module = ConvLSTMCell(inputs[spec.name] - spec.out, spec.out, spec.kernel)
            else:
                conv = nn.Conv2d if spec.dims == 2 else nn.Conv3d
                module = conv(
                    inputs[spec.name],
                    spec.out_channels,
                    spec.kernel,
                    stride=spec.stride,
                    padding=spec.padding,
                )
                if spec.kind == "out":
                    _init_head(module)
            self.add_module(spec.module, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.arch.forward(_FloatOps(self), x)


class TorchArrayOps:
    """The array operations of ``arch.Ops`` on torch tensors (shared with ``integer_torch.py``)."""

    @staticmethod
    def cat(xs: list[torch.Tensor], dim: int) -> torch.Tensor:
        return torch.cat(xs, dim=dim)

    @staticmethod
    def upsample_nearest(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(x, size=size, mode="nearest")

    @staticmethod
    def max_pool2(x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, 2, ceil_mode=True)


class _FloatOps(TorchArrayOps):
    """``arch.Ops`` of a float net (apart from the net: its modules may be called ``conv``/``cell``).
    Modules are called, not their weights used, so that hooks and QAT's patches see every call."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.relu = {spec.name: spec.kind == "relu" for spec in net.arch.convs}

    def conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        y = self.net.get_submodule(name)(x)
        return F.relu(y) if self.relu[name] else y

    def cell(self, name: str, x: torch.Tensor, state):
        return self.net.get_submodule(name)(x, state)


def build_net(name: str) -> Net:
    """A freshly initialised float network for registry name ``name`` (KeyError if unknown)."""
    return Net(ARCHS[name])


def forward_params(net: nn.Module, frames: torch.Tensor, valid: torch.Tensor):
    """Mean, scale, coupling for a batch of windows ((B, T, 3, H, W) in 0..255, (B, T) flags)."""
    raw = net(step_inputs(frames, valid))
    return head_params(raw, frames[:, -1], base_log_scale(frames, valid))


def load_weights(net: Net, path: str | Path) -> bytes:
    """Load a float weights file into ``net``; returns the SHA-256 of the file's bytes.

    A missing, foreign or damaged file raises a WeightsError that says which it is.
    """
    name = net.arch.name
    wf = read_weights(path, "train weights with `fpcodec train`, or reinstall the package")
    model = wf.metadata.get("model")
    if "format" in wf.metadata:  # the integer files' marker (integer.FORMAT)
        raise WeightsError(
            f"{path} holds integer {model}-int weights, not float {name} weights (use -m {model}-int)"
        )
    if model is not None and model != name:
        raise WeightsError(f"{path} holds {model} weights, not {name} weights (use -m {model})")
    expected = net.state_dict()
    mismatch = describe_mismatch(expected, wf.tensors)
    if mismatch:
        raise WeightsError(f"{path} does not hold {name} weights ({mismatch})")
    net.load_state_dict(wf.tensors, strict=True)
    return wf.sha256


# --------------------------------------------------------------------------------------------------
# Predictors
# --------------------------------------------------------------------------------------------------


class LearnedPredictor(Predictor):
    """Common predict() for the torch models; subclasses set ``name`` and ``model_id``."""

    takes_device = True

    def __init__(self, device: str = "cpu", weights: str | Path | None = None) -> None:
        self.device = torch.device("cpu" if device in (None, "auto") else device)
        self.net = build_net(self.name)
        self.weights_file = Path(weights) if weights is not None else shipped_path(self.name)
        self._hash = load_weights(self.net, self.weights_file)
        self.net.to(self.device).eval()

    @property
    def weights_hash(self) -> bytes:
        return self._hash

    def predict(self, history: list[np.ndarray]) -> Prediction:
        frames, valid = window_from_history(history)
        with torch.no_grad():
            mean, scale, coupling = forward_params(self.net, frames.to(self.device), valid.to(self.device))
        mean = mean[0].cpu().numpy().astype(np.float32)
        scale = scale[0].cpu().numpy().astype(np.float32)
        coupling = coupling[0].cpu().numpy().astype(np.float32)
        return rgb_prediction(mean, scale, coupling, history)


class Conv2DPredictor(LearnedPredictor):
    name = "conv2d"
    model_id = 2


class Conv3DHybridPredictor(LearnedPredictor):
    name = "conv3d-hybrid"
    model_id = 3


class ConvLSTMHybridPredictor(LearnedPredictor):
    name = "convlstm-hybrid"
    model_id = 4


class ConvLSTMUNetPredictor(LearnedPredictor):
    name = "convlstm-unet"
    model_id = 5
