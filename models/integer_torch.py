"""The torch backend of integer inference (``integer.py``): torch convolutions in float32 on CPU and
float64 on GPUs, fed only integers (the module docstring of ``integer.py`` says why that is exact).

``IntegerPredictor`` uses it for ``device="cuda"`` or ``backend="torch"``; on CPU the default is the
numpy backend (``integer_numpy.py``), which gives the same integers without importing torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .integer_spec import (
    GATE_ONE,
    CELL_ONE,
    MEAN_Q_MAX,
    MEAN_STEPS,
    STEP_ONE,
    IntLayer,
    IntWeights,
    parse_int_weights,
)
from .learned import TorchArrayOps


class QConv:
    """One integer conv + requantization; ``__call__`` maps integer-valued tensors to integers.

    ``dtype`` is float32 on CPU and float64 elsewhere. ``y = clamp(floor(acc * 2^-n), lo, hi)``:
    acc is an exact integer below 2^24 (bias included), scaling by a power of two and ``floor``
    are exact, so this is integer arithmetic. Returns integer-valued tensors of ``dtype``.
    """

    def __init__(self, layer: IntLayer, device: torch.device, dtype: torch.dtype) -> None:
        self.name = layer.name
        self.in_max = layer.in_max
        self.bound = layer.bound
        self.dim = layer.dim
        self.out_ch = layer.out_ch
        self.weight = torch.from_numpy(layer.weight).to(device=device, dtype=dtype)
        self.bias = torch.from_numpy(layer.bias).to(device=device, dtype=dtype)
        inv = torch.pow(2.0, -torch.from_numpy(layer.shift))
        self.inv = inv.to(device=device, dtype=dtype).view(1, -1, *([1] * self.dim))
        # Runs of output channels with the same clamp range (one in-place clamp each).
        self.segments = layer.segments()
        self.stride = layer.stride
        self.padding = layer.padding
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


class IntegerNet(TorchArrayOps):
    """The integer forward pass of one architecture (``arch.py``) on torch tensors, from a ``-int``
    weights file's tensors (torch or numpy) or its checked contents (``integer.IntWeights``);
    ``conv``, ``cell`` and the array operations are the integer ``arch.Ops``."""

    def __init__(
        self,
        tensors: dict[str, Any] | IntWeights,
        meta: dict[str, str],
        device: torch.device,
        dtype: torch.dtype | None = None,
    ) -> None:
        checked = tensors if isinstance(tensors, IntWeights) else parse_int_weights(tensors, meta)
        self.arch = checked.arch
        self.device = device
        # float32 on CPU, float64 on GPUs (no TF32; the tests also run float64 on CPU: same ints).
        self.dtype = dtype or (torch.float32 if device.type == "cpu" else torch.float64)
        self.layers = {n: QConv(layer, device, self.dtype) for n, layer in checked.layers.items()}
        self.lut_base = torch.from_numpy(checked.lut_base).to(device=device, dtype=self.dtype)
        self.lut_softplus = torch.from_numpy(checked.lut_softplus).to(device=device, dtype=torch.int64)
        self.u_lo = checked.u_lo
        self.u_hi = self.u_lo + len(self.lut_softplus) - 1

    # --------------------------------------------------------------------------- arch.Ops
    def conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Integer conv + requantization (the clamp is the ReLU, or the head's range)."""
        return self.layers[name](x)

    def cell(self, name: str, x: torch.Tensor, state):
        """ConvLSTM step in fixed point: gates 2^-7, c 2^-14, h 2^-8 (see ``integer.py``)."""
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

    def forward(self, frames, valid):
        """Integer (mean_q, scale_idx, coupling_q) from (B, T, 3, H, W) uint8-valued frames (torch
        tensors or numpy arrays)."""
        frames = torch.as_tensor(np.asarray(frames) if not torch.is_tensor(frames) else frames)
        valid = torch.as_tensor(np.asarray(valid) if not torch.is_tensor(valid) else valid)
        frames = frames.to(device=self.device, dtype=self.dtype)
        valid = valid.to(device=self.device, dtype=self.dtype)
        with torch.no_grad(), torch.backends.nnpack.flags(enabled=False):
            raw = self.body(step_ints(frames, valid))
            return self.head(raw, frames, bool(valid[0, -2] > 0))
