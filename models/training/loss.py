"""Training loss: the exact code length of the codec's discretized Laplace model, in torch.

Mirrors ``fpcodec.bitstream.entropy.laplace_bits``: symbols 0..255, the mass below 0.5 goes to
symbol 0 and the mass above 254.5 to symbol 255, probabilities floored at 2**-24, and the colour
coupling of ``fpcodec.models.base.apply_coupling`` applied with the *true* values of the earlier
channels (what the decoder knows when it decodes the later channel). Means are clamped to 0..255
like ``quantize_mean``; grids (1/16 mean steps, the 64-entry scale table) are not applied, so the
loss is the code length of the continuous parameters (equal to the coder's when they are on grid).
"""

from __future__ import annotations

import math

import torch

_LN2 = math.log(2.0)
_LOG_HALF = math.log(0.5)
_MAX_BITS = 24.0
#: Finite stand-in for +-infinity at the clipped tails (keeps gradients free of inf * 0).
_FAR = 1.0e4


def laplace_bits_torch(x: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Code length in bits of integer symbols ``x`` (float tensor, 0..255) under Laplace(mean, scale).

    Numerically stable in every regime: log-probabilities are formed without subtracting CDFs of
    nearby values when both bounds lie on the same side of the mean.
    """
    mean = mean.clamp(0.0, 255.0)
    upper = torch.where(x >= 255.0, torch.full_like(x, _FAR), x + 0.5)
    lower = torch.where(x <= 0.0, torch.full_like(x, -_FAR), x - 0.5)
    inv_b = 1.0 / scale
    zu = (upper - mean) * inv_b
    zl = (lower - mean) * inv_b
    width = zu - zl  # 1/b inside the range, huge at the tails
    log1m = torch.log1p(-torch.exp(-width))  # log(1 - e^-width), width > 0
    # Both bounds right of the mean: P = 0.5 e^-zl (1 - e^-width).
    lp_right = _LOG_HALF - zl + log1m
    # Both bounds left of the mean: P = 0.5 e^zu (1 - e^-width).
    lp_left = _LOG_HALF + zu + log1m
    # Straddling: P = 1 - 0.5 e^-zu - 0.5 e^zl.
    tail = 0.5 * (torch.exp(-zu.clamp(min=0.0)) + torch.exp(zl.clamp(max=0.0)))
    lp_mid = torch.log1p(-tail.clamp(max=1.0 - 1e-7))
    lp = torch.where(zl >= 0, lp_right, torch.where(zu <= 0, lp_left, lp_mid))
    bits = -lp / _LN2
    # Value: the coder's floor of 2**-24 (24 bits). Gradient: that of the unfloored code length, so
    # badly predicted pixels still pull the parameters (straight-through).
    return bits - (bits - bits.clamp(max=_MAX_BITS)).detach()


def coupled_means(x: torch.Tensor, mean: torch.Tensor, coupling: torch.Tensor | None) -> torch.Tensor:
    """Per-channel means after R->G->B conditioning on the true values (``(B, 3, H, W)`` each)."""
    if coupling is None:
        return mean
    r_res = x[:, 0] - mean[:, 0]
    g_mean = mean[:, 1] + coupling[:, 0] * r_res
    g_res = x[:, 1] - g_mean
    b_mean = mean[:, 2] + coupling[:, 1] * r_res + coupling[:, 2] * g_res
    return torch.stack([mean[:, 0], g_mean, b_mean], dim=1)


def code_length(
    x: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor, coupling: torch.Tensor | None
) -> torch.Tensor:
    """Bits of every subpixel (``(B, 3, H, W)``); ``x`` holds the true pixel values as floats."""
    return laplace_bits_torch(x, coupled_means(x, mean, coupling), scale)
