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
hardsigmoid, hardtanh) and no normalisation layers are used inside the networks.
The alpha plane of RGBA input is not learned: it comes from ``last_frame_params``.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import HISTORY, Prediction, Predictor
from .last_frame import last_frame_params

try:  # the project's error hierarchy, once it exists
    from fpcodec.bitstream.errors import FpcodecError as _BaseError  # type: ignore
except Exception:  # pragma: no cover - depends on what else is installed
    _BaseError = RuntimeError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

SCALE_MIN = 0.04
SCALE_MAX = 160.0
_LOG_SCALE_MIN = math.log(SCALE_MIN)
_LOG_SCALE_MAX = math.log(SCALE_MAX)
#: Mean corrections are produced in units of MEAN_GAIN pixel levels.
MEAN_GAIN = 8.0
#: Planes per time step fed to the networks (frame, difference, valid flag).
STEP_CH = 7
#: Raw output planes: 3 mean corrections, 3 log-scales, 3 couplings.
OUT_CH = 9


class WeightsMissingError(_BaseError):
    """A learned model's weights file is not installed."""


# --------------------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------------------

def window_from_history(history: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, T, 3, H, W) uint8-valued float frames and (1, T) valid flags from 1..HISTORY frames."""
    if not 1 <= len(history) <= HISTORY:
        raise ValueError(f"history must hold 1..{HISTORY} frames, got {len(history)}")
    frames = [np.asarray(h)[..., :3] for h in history]
    n = len(frames)
    pad = HISTORY - n
    frames = [frames[0]] * pad + frames
    arr = np.stack(frames, 0)  # (T, H, W, 3)
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))).float().unsqueeze(0)
    valid = torch.zeros(1, HISTORY)
    valid[0, pad:] = 1.0
    return x, valid


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
            self.conv.bias[hidden:2 * hidden] += 1.0  # forget gate starts open

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


class Conv2DNet(nn.Module):
    """One Conv2D over the stacked window (5 steps x 7 planes), then a small 1x1 head."""

    def __init__(self, width: int = 32, kernel: int = 5) -> None:
        super().__init__()
        self.conv = nn.Conv2d(HISTORY * STEP_CH, width, kernel, padding=kernel // 2)
        self.mid = nn.Conv2d(width, width, 1)
        self.out = nn.Conv2d(width, OUT_CH, 1)
        _init_head(self.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        y = F.relu(self.conv(x.reshape(b, t * c, h, w)))
        y = F.relu(self.mid(y))
        return self.out(y)


class Conv3DHybridNet(nn.Module):
    """Last frame plus a Conv3D correction over the five frames (time collapsed by valid convs)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.c1 = nn.Conv3d(STEP_CH, width, (3, 3, 3), padding=(0, 1, 1))   # T 5 -> 3
        self.c2 = nn.Conv3d(width, width, (3, 3, 3), padding=(0, 1, 1))     # T 3 -> 1
        self.mid = nn.Conv2d(width + STEP_CH, width, 3, padding=1)
        self.out = nn.Conv2d(width, OUT_CH, 1)
        _init_head(self.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x.transpose(1, 2)  # (B, C, T, H, W)
        y = F.relu(self.c1(v))
        y = F.relu(self.c2(y))[:, :, 0]
        y = F.relu(self.mid(torch.cat([y, x[:, -1]], dim=1)))
        return self.out(y)


class ConvLSTMHybridNet(nn.Module):
    """Last frame plus a ConvLSTM over the five frames (at half resolution) and a Conv2D head."""

    def __init__(self, enc: int = 16, hidden: int = 16, width: int = 24) -> None:
        super().__init__()
        self.enc = nn.Conv2d(STEP_CH, enc, 3, stride=2, padding=1)
        self.cell = ConvLSTMCell(enc, hidden)
        # Full-resolution detail: last two steps stacked (frame, difference, flag).
        self.full = nn.Conv2d(2 * STEP_CH, width, 3, padding=1)
        self.mid = nn.Conv2d(width + hidden, width, 3, padding=1)
        self.out = nn.Conv2d(width, OUT_CH, 1)
        _init_head(self.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        e = F.relu(self.enc(x.reshape(b * t, c, h, w)))
        e = e.reshape(b, t, *e.shape[1:])
        state = None
        for k in range(t):
            hk, state = self.cell(e[:, k], state)
        up = F.interpolate(hk, size=(h, w), mode="nearest")
        full = F.relu(self.full(x[:, -2:].reshape(b, 2 * c, h, w)))
        y = F.relu(self.mid(torch.cat([full, up], dim=1)))
        return self.out(y)


class ConvLSTMUNet(nn.Module):
    """ConvLSTM encoder-decoder: pool to 1/2 and 1/4 resolution, ConvLSTMs there, upsample back,
    concatenate with the last frame's full-resolution features and mix by a 1x1 conv."""

    def __init__(self, c1: int = 16, h1: int = 16, h2: int = 24, width: int = 24) -> None:
        super().__init__()
        self.enc1 = nn.Conv2d(STEP_CH, c1, 3, padding=1)
        self.cell1 = ConvLSTMCell(c1, h1)            # 1/2 resolution
        self.cell2 = ConvLSTMCell(h1, h2)            # 1/4 resolution
        self.dec2 = nn.Conv2d(h2 + h1, h1, 3, padding=1)
        self.full = nn.Conv2d(2 * STEP_CH, width, 3, padding=1)
        self.mix = nn.Conv2d(width + h1, width, 1)
        self.out = nn.Conv2d(width, OUT_CH, 1)
        _init_head(self.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        e = F.relu(self.enc1(x.reshape(b * t, c, h, w)))
        e = F.max_pool2d(e, 2, ceil_mode=True)
        e = e.reshape(b, t, *e.shape[1:])
        s1 = s2 = None
        for k in range(t):
            h1, s1 = self.cell1(e[:, k], s1)
            h2, s2 = self.cell2(F.max_pool2d(h1, 2, ceil_mode=True), s2)
        u2 = F.interpolate(h2, size=h1.shape[-2:], mode="nearest")
        d1 = F.relu(self.dec2(torch.cat([u2, h1], dim=1)))
        u1 = F.interpolate(d1, size=(h, w), mode="nearest")
        full = F.relu(self.full(x[:, -2:].reshape(b, 2 * c, h, w)))
        y = F.relu(self.mix(torch.cat([full, u1], dim=1)))
        return self.out(y)


NETS = {
    "conv2d": Conv2DNet,
    "conv3d-hybrid": Conv3DHybridNet,
    "convlstm-hybrid": ConvLSTMHybridNet,
    "convlstm-unet": ConvLSTMUNet,
}


def build_net(name: str) -> nn.Module:
    """A freshly initialised network for registry name ``name``."""
    return NETS[name]()


def forward_params(net: nn.Module, frames: torch.Tensor, valid: torch.Tensor):
    """Mean, scale, coupling for a batch of windows ((B, T, 3, H, W) in 0..255, (B, T) flags)."""
    raw = net(step_inputs(frames, valid))
    return head_params(raw, frames[:, -1], base_log_scale(frames, valid))


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.safetensors"


def read_weights_file(path: str | Path, missing: str) -> tuple[bytes, bytes]:
    """The bytes of a weights file and their SHA-256 (what streams record); ``missing`` is the
    error message when the file is not there."""
    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError(missing)
    data = path.read_bytes()
    return data, hashlib.sha256(data).digest()


def load_weights(net: nn.Module, path: Path) -> bytes:
    """Load safetensors weights into ``net``; returns the SHA-256 of the file bytes."""
    from safetensors.torch import load

    data, digest = read_weights_file(
        path, f"weights file for model {getattr(net, 'name', type(net).__name__)!r} not found: {path} "
              f"(train it with `python -m fpcodec.models.train` or reinstall the package)")
    net.load_state_dict(load(data), strict=True)
    return digest


def rgb_prediction(mean: np.ndarray, scale: np.ndarray, coupling: np.ndarray,
                   history: list[np.ndarray]) -> Prediction:
    """A learned model's (3, H, W) planes as a Prediction; RGBA input gets its alpha plane from
    ``last_frame_params`` (the networks do not model alpha)."""
    if np.asarray(history[-1]).shape[-1] == 4:
        alpha = last_frame_params(history)
        mean = np.concatenate([mean, alpha.mean[3:4]], axis=0)
        scale = np.concatenate([scale, alpha.scale[3:4].astype(np.float32)], axis=0)
    return Prediction(mean=np.ascontiguousarray(mean), scale=np.ascontiguousarray(scale),
                      coupling=np.ascontiguousarray(coupling))


# --------------------------------------------------------------------------------------------------
# Predictors
# --------------------------------------------------------------------------------------------------

class LearnedPredictor(Predictor):
    """Common predict() for the torch models; subclasses set ``name`` and ``model_id``."""

    takes_device = True

    def __init__(self, device: str = "cpu", weights: str | Path | None = None) -> None:
        self.device = torch.device("cpu" if device in (None, "auto") else device)
        self.net = build_net(self.name)
        self.weights_file = Path(weights) if weights is not None else weights_path(self.name)
        self._hash = load_weights(self.net, self.weights_file)
        self.net.to(self.device).eval()

    @property
    def weights_hash(self) -> bytes:
        return self._hash

    def predict(self, history: list[np.ndarray]) -> Prediction:
        frames, valid = window_from_history(history)
        with torch.no_grad():
            mean, scale, coupling = forward_params(self.net, frames.to(self.device),
                                                   valid.to(self.device))
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
