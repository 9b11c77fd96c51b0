"""Training losses: the exact code length of the codec's discretized Laplace model, in torch, as
the RGB modes pay it (``code_length``, bits per subpixel) and as palette frames pay it
(``palette_code_length``, bits per pixel).

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

from ...bitstream.palette import MAX_COLOURS

_LN2 = math.log(2.0)
_LOG_HALF = math.log(0.5)
_MAX_BITS = 24.0
#: Finite stand-in for +-infinity at the clipped tails (keeps gradients free of inf * 0).
_FAR = 1.0e4
#: Natural log of the palette row's floor, 2^-WEIGHT_SHIFT (``codec.palette_coding.colour_weights``).
_LOG_ROW_FLOOR = -20.0 * math.log(2.0)


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


# --------------------------------------------------------------------------------------------------
# Palette code length: what a palette frame's pixel costs
# --------------------------------------------------------------------------------------------------


def palette_targets(
    target: torch.Tensor, previous: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The palette of each target image and where its pixels are in it, as palette coding sees them.

    ``target`` and ``previous``: (B, 3, H, W) integer values as floats. Returns the palettes (B, K,
    3) float (K the largest palette of the batch, smaller ones padded with their first colour), a
    (B, K) mask of real entries, each pixel's palette index (B, H, W) and the index of its colour in
    the previous image, or -1 where that colour is not in the palette (the codec's previous-colour
    vote; it also takes colours within a small L1 distance, this takes exact ones)."""
    b, _, h, w = target.shape
    weights = torch.tensor([65536, 256, 1], dtype=torch.int64, device=target.device).view(1, 3, 1, 1)
    keys = (target.to(torch.int64) * weights).sum(1).view(b, -1)
    prev_keys = (previous.to(torch.int64) * weights).sum(1).view(b, -1)
    found = [torch.unique(k, return_inverse=True) for k in keys]
    size = max(len(u) for u, _ in found)
    if size > MAX_COLOURS:
        raise ValueError(f"the palette loss needs images of at most {MAX_COLOURS} colours; one has {size}")
    palettes = torch.empty(b, size, 3, dtype=target.dtype, device=target.device)
    real = torch.zeros(b, size, dtype=torch.bool, device=target.device)
    index = torch.empty(b, h * w, dtype=torch.int64, device=target.device)
    prev_index = torch.empty_like(index)
    for i, (uniq, inverse) in enumerate(found):
        padded = torch.cat([uniq, uniq[:1].expand(size - len(uniq))])
        palettes[i] = torch.stack([padded // 65536, padded // 256 % 256, padded % 256], 1).to(target.dtype)
        real[i, : len(uniq)] = True
        index[i] = inverse
        pos = torch.searchsorted(uniq, prev_keys[i]).clamp(max=len(uniq) - 1)
        prev_index[i] = torch.where(uniq[pos] == prev_keys[i], pos, torch.full_like(pos, -1))
    return palettes, real, index.view(b, h, w), prev_index.view(b, h, w)


def palette_row_log_prob(
    mean: torch.Tensor,
    scale: torch.Tensor,
    coupling: torch.Tensor | None,
    palettes: torch.Tensor,
    real: torch.Tensor,
    index: torch.Tensor,
) -> torch.Tensor:
    """Natural log of the model row's probability of each pixel's true palette entry (B, H, W).

    As ``codec.palette_coding.colour_weights``: a colour's weight is the product over channels of
    its discretized Laplace mass, the G and B means coupled to the colour's *own* R and G, and the
    row is normalized over the palette (with the coder's floor of 2^-20 a colour, but not its
    integer frequencies)."""
    pal = palettes.permute(0, 2, 1)[..., None, None]  # (B, 3, K, 1, 1)
    m = mean.clamp(0.0, 255.0).unsqueeze(2)  # (B, 3, 1, H, W)
    s = scale.unsqueeze(2)
    if coupling is None:
        means = [m[:, 0], m[:, 1], m[:, 2]]
    else:
        cp = coupling.unsqueeze(2)
        r_res = pal[:, 0] - m[:, 0]
        g_mean = m[:, 1] + cp[:, 0] * r_res
        means = [m[:, 0], g_mean, m[:, 2] + cp[:, 1] * r_res + cp[:, 2] * (pal[:, 1] - g_mean)]
    bits = sum(laplace_bits_torch(pal[:, c], means[c], s[:, c]) for c in range(3))  # (B, K, H, W)
    # The coder's weight is the product of the channels' integer frequencies out of 2^20, plus 1:
    # a colour's probability has a floor of 2^-20, so a pixel that every colour fits badly gets a
    # flat row.
    log_w = torch.logaddexp(-_LN2 * bits, torch.full_like(bits, _LOG_ROW_FLOOR))
    log_w = log_w.masked_fill(~real[:, :, None, None], -_FAR)
    return log_w.gather(1, index.unsqueeze(1)).squeeze(1) - torch.logsumexp(log_w, dim=1)


def palette_code_length(
    target: torch.Tensor,
    mean: torch.Tensor,
    scale: torch.Tensor,
    coupling: torch.Tensor | None,
    previous: torch.Tensor,
    rows=palette_row_log_prob,
) -> torch.Tensor:
    """Bits per pixel of each image (B,) coded over its own palette: the model row mixed with the
    "same colour as in the previous frame" event, with the weight of ``MIX_TABLE`` that costs the
    image least (the encoder picks one per frame). Pixels whose previous colour is not in the
    palette get the row alone. The codec's other sources (neighbour votes, context counts, copied
    blocks) are left out: this is what the network's rows are worth on their own next to the
    cheapest of them. ``rows``: ``palette_row_log_prob`` or a compiled version of it
    (``compiled_rows``)."""
    from ...codec.palette_coding import MIX_TABLE

    palettes, real, index, prev_index = palette_targets(target, previous)
    log_row = rows(mean, scale, coupling, palettes, real, index)
    same = prev_index == index
    has_prev = prev_index >= 0
    per_weight = []
    for w in MIX_TABLE:
        if w == 0.0:
            log_p = log_row
        else:
            kept = math.log(w)
            moved = math.log1p(-w) + log_row
            log_p = torch.where(same, torch.logaddexp(moved, torch.full_like(moved, kept)), moved)
            log_p = torch.where(has_prev, log_p, log_row)
        per_weight.append(-log_p.flatten(1).mean(1) / _LN2)
    return torch.stack(per_weight, 1).min(1).values


def compiled_rows():
    """``palette_row_log_prob`` through ``torch.compile`` (shapes dynamic: palettes differ in
    size): its (B, K, H, W) element-wise chain fused into one loop, 4-5x faster on the CPU than
    eager after a compilation of about 30 s (needs a C++ compiler), the same values to float
    rounding."""
    return torch.compile(palette_row_log_prob, dynamic=True)
