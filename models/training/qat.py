"""Quantization-aware fine-tuning (issue 5): train a float model while its layers compute what its
integer version (``models/integer.py``) will compute, so that ``ptq.convert`` loses as little as
possible.

Fake quantization with straight-through gradients, the usual way to train integer networks
(Jacob et al., CVPR 2018; Ballé et al., ICLR 2019): before every step, ``FakeQuant.refresh`` runs
the converter's own ``ptq.quantize_layers`` on the current weights (the ReLU ranges calibrated
once, at the start), and every conv of the network then

* convolves with the weights and bias that the integer layer will hold, back in float units
  (``w_int * s_w / s_in``), and
* rounds its output to the layer's integer grid, ``clamp(round(y * mult + offset), lo, hi)``,
  mapped back to float units, which is what the integer layer passes on (ReLU codes, gates in
  1/128, the head's 1/16-pixel means, log-scale steps and 1/256 couplings);

and every ConvLSTM cell rounds its cell state to 2^-14 and its output to 2^-8. Gradients go
through all of it unchanged (straight-through), so the float weights keep learning. Not simulated:
the head's lookup tables (the activity baseline and softplus, within half a table step) and the
floor-for-round details of the ConvLSTM update.

    fpcodec train DATA... --model convlstm-hybrid --init models/weights/convlstm-hybrid.safetensors \\
        --qat --lr 2e-4 --steps 2000 -o qat.safetensors
    python -m fpcodec.models.training.integer convert --models convlstm-hybrid --weights qat.safetensors \\
        --train DATA... --out qat-int.safetensors
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from .. import integer
from ..learned import ConvLSTMCell
from . import ptq


def _ste(x: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """``quantized`` in the forward pass, the gradient of ``x`` in the backward pass."""
    return x + (quantized - x).detach()


class FakeQuant:
    """Installs fake quantization on ``net`` (the float network of ``name``) until ``remove``.

    ``stats`` are the calibrated ReLU maxima (``ptq.calibrate``); ``from_windows`` computes
    them. The weights file the network saves is still a plain float file.
    """

    def __init__(
        self, name: str, net: nn.Module, stats: dict[str, np.ndarray], headroom: float = ptq.HEADROOM
    ) -> None:
        self.name, self.net, self.stats, self.headroom = name, net, stats, headroom
        self._layers: dict[str, tuple[torch.Tensor, ...]] = {}
        self._patched: list[nn.Module] = []
        self.refresh()
        for ln, _, _ in ptq.layers(name):
            conv = net.get_submodule(ln)
            conv.forward = functools.partial(self._conv_forward, ln, conv)
            self._patched.append(conv)
        for module in net.modules():
            if isinstance(module, ConvLSTMCell):
                module.forward = functools.partial(self._cell_forward, module)
                self._patched.append(module)

    @classmethod
    def from_windows(cls, name: str, net: nn.Module, windows, **kw) -> "FakeQuant":
        """Calibrate the ReLU ranges of the float ``net`` on ``windows`` (as ``convert`` does), then
        install."""
        return cls(name, net, ptq.calibrate(name, net, windows), **kw)

    @torch.no_grad()
    def refresh(self) -> None:
        """Recompute every layer's integer weights from the current float weights."""
        for ln, conv, q, rq in ptq.quantize_layers(self.name, self.net, self.stats, self.headroom):
            dev, dims = conv.weight.device, conv.weight.dim() - 2
            shift = q["shift"].to(torch.float64)
            s_w = torch.pow(2.0, -shift) / torch.as_tensor(rq.mult)  # weight scale per output channel
            in_scale = torch.as_tensor(rq.in_scale, dtype=torch.float64).view(1, -1, *([1] * dims))
            w = q["weight"].to(torch.float64) * s_w.view(-1, 1, *([1] * dims)) / in_scale
            offset = torch.as_tensor(rq.offset)
            # the integer bias less the folded offset and rounding constant: round(b / s_w)
            b0 = (
                q["bias"].to(torch.float64)
                - offset * torch.pow(2.0, shift)
                - torch.floor(torch.pow(2.0, shift - 1))
            )
            view = (1, -1) + (1,) * dims

            def vec(a, view=view, dev=dev):
                return torch.as_tensor(np.asarray(a, np.float64)).view(view).to(dev, torch.float32)

            self._layers[ln] = (
                w.to(dev, torch.float32),
                (b0 * s_w).to(dev, torch.float32),
                vec(rq.mult),
                vec(rq.offset),
                vec(rq.lo),
                vec(rq.hi),
            )

    def _conv_forward(self, ln: str, conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
        w_eff, b_eff, mult, offset, lo, hi = self._layers[ln]
        y = conv._conv_forward(x, _ste(conv.weight, w_eff), _ste(conv.bias, b_eff))
        y_int = torch.floor(y * mult + offset + 0.5).clamp(lo, hi)
        return _ste(y, (y_int - offset) / mult)

    @staticmethod
    def _cell_forward(cell: ConvLSTMCell, x: torch.Tensor, state):
        h, (_, c) = ConvLSTMCell.forward(cell, x, state)
        c = _ste(c, torch.round(c * integer.CELL_ONE) / integer.CELL_ONE)
        h = _ste(h, torch.round(h * integer.H_ONE) / integer.H_ONE)
        return h, (h, c)

    def remove(self) -> None:
        """Give the network back its plain float forward passes."""
        for module in self._patched:
            del module.forward
        self._patched = []
