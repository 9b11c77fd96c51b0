"""Code one frame in the cheapest of four modes, mirrored exactly by the decoder.

- RGB inter: channels in order R, G, B, (A); each channel is one vectorized constriction call whose
  means may depend on the channels already decoded (colour coupling).
- RGB intra: the coarse-to-fine passes of ``models.intra``, for frames with no useful history.
- Palette inter / palette intra: the same two predictions, turned into categorical distributions
  over the frame's palette (see ``palette_coding``), for frames of at most 256 colours.
All share a per-frame scale shift chosen by the encoder by measured cost and stored in the chunk,
which calibrates any predictor's scales to the frame at hand. The encoder estimates every mode's
cost from the ideal code lengths and codes the frame once, in the cheapest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..bitstream import entropy
from ..bitstream.errors import FormatError
from ..bitstream.palette import encode_palette
from ..models import intra
from ..models.base import Prediction, apply_coupling
from . import palette_coding as pc

MODE_INTRA = 0
MODE_INTER = 1
MODE_PALETTE_INTRA = 2
MODE_PALETTE_INTER = 3
MODE_NAMES = {MODE_INTRA: "intra", MODE_INTER: "inter", MODE_PALETTE_INTRA: "p-intra",
              MODE_PALETTE_INTER: "p-inter"}
SHIFT_MIN, SHIFT_MAX = -63, 63
_SHIFTS = np.arange(SHIFT_MIN, SHIFT_MAX + 1)


@dataclass(frozen=True)
class CodedFrame:
    """A coded frame; ``palette`` is the palette a palette-mode frame indexes into."""

    mode: int
    scale_shift: int
    payload: bytes
    mix: int = 0
    palette: np.ndarray | None = None


def _shifted(scale_idx: np.ndarray, shift: int) -> np.ndarray:
    return np.clip(scale_idx + shift, 0, len(entropy.SCALE_TABLE) - 1)


def _best_shift(symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> tuple[int, float]:
    """The scale shift with the smallest (approximate) code length, and that length in bits."""
    costs = entropy.bits_by_shift(symbols, mean_q, scale_idx, _SHIFTS)
    k = int(np.argmin(costs))
    return int(_SHIFTS[k]), float(costs[k])


# ------------------------------------------------------------------------------------- RGB inter
def _inter_channel_params(pred: Prediction, channel: int, decoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = apply_coupling(pred.mean, pred.coupling, channel, decoded)
    return entropy.quantize_mean(mean), entropy.quantize_scale(pred.scale[channel])


def _inter_params(frame_chw: np.ndarray, pred: Prediction) -> tuple[np.ndarray, np.ndarray]:
    """All channels' snapped params at once; valid for the encoder, which knows every channel."""
    ps = [_inter_channel_params(pred, c, frame_chw) for c in range(frame_chw.shape[0])]
    return np.stack([p[0] for p in ps]), np.stack([p[1] for p in ps])


def _encode_inter(frame_chw: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray, shift: int) -> bytes:
    enc = entropy.FrameEncoder()
    for c in range(frame_chw.shape[0]):
        enc.encode(frame_chw[c], mean_q[c], _shifted(scale_idx[c], shift))
    return enc.finish()


def _decode_inter(payload: bytes, pred: Prediction, shift: int, shape: tuple[int, int, int]) -> np.ndarray:
    dec = entropy.FrameDecoder(payload)
    out = np.zeros(shape, np.uint8)
    for c in range(shape[0]):
        mean_q, scale_idx = _inter_channel_params(pred, c, out)
        out[c] = dec.decode(mean_q, _shifted(scale_idx, shift))
    return out


# ------------------------------------------------------------------------------------- RGB intra
def _intra_params(frame_flat: np.ndarray, ps: tuple[intra.Pass, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every pass's snapped params computed from the full frame (encoder side)."""
    canvas = frame_flat.astype(np.float32)
    return [(entropy.quantize_mean(m), entropy.quantize_scale(s))
            for m, s in (intra.pass_params(canvas, p) for p in ps)]


def _encode_intra(frame_flat: np.ndarray, ps: tuple[intra.Pass, ...], params: list, shift: int) -> bytes:
    enc = entropy.FrameEncoder()
    for p, (mean_q, scale_idx) in zip(ps, params):
        enc.encode(frame_flat[:, p.targets], mean_q, _shifted(scale_idx, shift))
    return enc.finish()


def _decode_intra(payload: bytes, shift: int, shape: tuple[int, int, int]) -> np.ndarray:
    c_count, h, w = shape
    dec = entropy.FrameDecoder(payload)
    canvas = np.zeros((c_count, h * w), np.float32)
    for p in intra.passes(h, w):
        mean, scale = intra.pass_params(canvas, p)
        vals = dec.decode(entropy.quantize_mean(mean), _shifted(entropy.quantize_scale(scale), shift))
        canvas[:, p.targets] = vals
    return canvas.astype(np.uint8).reshape(shape)


# ------------------------------------------------------------------------------------ palette modes
def _palette_blocks(mean: np.ndarray, coupling: np.ndarray | None, scale_idx: np.ndarray,
                    palette: np.ndarray, prev_idx: np.ndarray | None, mix: int,
                    nbr_idx: np.ndarray | None = None):
    """Yield (slice, probabilities) over blocks of pixels; the decoder walks the same blocks."""
    n = mean.shape[1]
    step = pc.block_size(len(palette))
    w_prev, w_nbr = pc.mix_weights(mix)
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        bits = pc.colour_bits(mean[:, sl], None if coupling is None else coupling[:, sl],
                              scale_idx[:, sl], palette)
        yield sl, pc.probabilities(bits, None if prev_idx is None else prev_idx[sl], w_prev,
                                   None if nbr_idx is None else nbr_idx[:, sl], w_nbr)


def _palette_true_p(mean, coupling, scale_idx, palette, idx) -> np.ndarray:
    out = np.empty(idx.size)
    for sl, p in _palette_blocks(mean, coupling, scale_idx, palette, None, 0):
        out[sl] = p[np.arange(p.shape[0]), idx[sl]] / p.sum(axis=1, dtype=np.float64)
    return out


def _palette_inter_inputs(pred: Prediction, shift: int, n: int):
    c = pred.mean.shape[0]
    mean = pred.mean.reshape(c, n)
    coupling = None if pred.coupling is None else pred.coupling.reshape(3, n)
    scale_idx = _shifted(entropy.quantize_scale(pred.scale.reshape(c, n)), shift)
    return mean, coupling, scale_idx


@lru_cache(maxsize=16)
def checkerboard(height: int, width: int) -> tuple[intra.Pass, intra.Pass]:
    """Palette-inter pixel order: the (y + x) even half first, then the odd half, whose four
    axis neighbours (all in the first half) vote for their colours."""
    ys, xs = np.mgrid[0:height, 0:width]
    even = ((ys + xs) % 2 == 0).ravel()
    first = np.flatnonzero(even)
    second = np.flatnonzero(~even)
    ty, tx = second // width, second % width
    nbr = []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ty + dy, tx + dx
        ok = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        nbr.append(np.where(ok, ny * width + nx, -1))
    return (intra.Pass(first, np.zeros((0, first.size), np.int64)),
            intra.Pass(second, np.stack(nbr) if second.size else np.zeros((4, 0), np.int64)))


def _subset(arr: np.ndarray | None, targets: np.ndarray) -> np.ndarray | None:
    return None if arr is None else arr[..., targets]


def _encode_palette_inter(pred, shift, palette, idx, prev_idx, mix, height, width) -> bytes:
    enc = entropy.FrameEncoder()
    mean, coupling, scale_idx = _palette_inter_inputs(pred, shift, idx.size)
    for p in checkerboard(height, width):
        t = p.targets
        nbr = _neighbour_colours(idx, p) if p.neighbours.shape[0] else None
        for sl, probs in _palette_blocks(mean[:, t], _subset(coupling, t), scale_idx[:, t], palette,
                                         _subset(prev_idx, t), mix, nbr):
            enc.encode_categorical(idx[t][sl], probs)
    return enc.finish()


def _decode_palette_inter(payload, pred, shift, palette, prev_idx, mix, height, width) -> np.ndarray:
    dec = entropy.FrameDecoder(payload)
    mean, coupling, scale_idx = _palette_inter_inputs(pred, shift, height * width)
    idx = np.zeros(height * width, np.int32)
    for p in checkerboard(height, width):
        t = p.targets
        nbr = _neighbour_colours(idx, p) if p.neighbours.shape[0] else None
        got = np.empty(t.size, np.int32)
        for sl, probs in _palette_blocks(mean[:, t], _subset(coupling, t), scale_idx[:, t], palette,
                                         _subset(prev_idx, t), mix, nbr):
            got[sl] = dec.decode_categorical(probs)
        idx[t] = got
    return idx


def _palette_inter_choice(pred, shift, palette, idx, prev_idx, height, width) -> tuple[int, float]:
    """(mix byte, estimated bits) of palette-inter for this frame."""
    mean, coupling, sidx = _palette_inter_inputs(pred, shift, idx.size)
    true_p = _palette_true_p(mean, coupling, sidx, palette, idx)
    order = np.concatenate([p.targets for p in checkerboard(height, width)])
    nbr = np.concatenate([_neighbour_colours(idx, p) if p.neighbours.shape[0] else
                          np.full((4, p.targets.size), -1, np.int32)
                          for p in checkerboard(height, width)], axis=1)
    return pc.choose_mix(true_p[order], None if prev_idx is None else prev_idx[order], idx[order], nbr)


def _intra_pass_inputs(canvas: np.ndarray, p: intra.Pass, shift: int):
    mean, scale = intra.pass_params(canvas, p)
    return mean, _shifted(entropy.quantize_scale(scale), shift)


def _neighbour_colours(idx_canvas: np.ndarray, p: intra.Pass) -> np.ndarray:
    """(J, N) palette indices of a pass's neighbours (-1 where outside the frame)."""
    return np.where(p.neighbours >= 0, idx_canvas[np.maximum(p.neighbours, 0)], -1).astype(np.int32)


def _encode_palette_intra(flat, ps, shift, palette, idx, prev_idx, mix) -> bytes:
    enc = entropy.FrameEncoder()
    canvas = flat.astype(np.float32)
    for p in ps:
        mean, sidx = _intra_pass_inputs(canvas, p, shift)
        prev = None if prev_idx is None else prev_idx[p.targets]
        nbr = _neighbour_colours(idx, p)
        for sl, probs in _palette_blocks(mean, None, sidx, palette, prev, mix, nbr):
            enc.encode_categorical(idx[p.targets][sl], probs)
    return enc.finish()


def _decode_palette_intra(payload, shift, palette, prev_idx, mix, shape) -> np.ndarray:
    c_count, h, w_ = shape
    dec = entropy.FrameDecoder(payload)
    canvas = np.zeros((c_count, h * w_), np.float32)
    idx = np.zeros(h * w_, np.int32)
    for p in intra.passes(h, w_):
        mean, sidx = _intra_pass_inputs(canvas, p, shift)
        prev = None if prev_idx is None else prev_idx[p.targets]
        nbr = _neighbour_colours(idx, p)
        got = np.empty(p.targets.size, np.int32)
        for sl, probs in _palette_blocks(mean, None, sidx, palette, prev, mix, nbr):
            got[sl] = dec.decode_categorical(probs)
        idx[p.targets] = got
        canvas[:, p.targets] = palette[got].T
    return idx


# ------------------------------------------------------------------------------------- public API
def encode_frame(frame: np.ndarray, pred: Prediction | None, previous: np.ndarray | None = None,
                 sent_palette: np.ndarray | None = None, use_palette: bool = True) -> CodedFrame:
    """Code ``frame`` ((H, W, C) uint8) in whichever mode measures cheapest.

    ``previous`` is the last decoded frame (for palette modes' previous-colour event) and
    ``sent_palette`` the palette last transmitted (a palette frame reusing it sends no palette).
    """
    h, w, c = frame.shape
    chw = np.ascontiguousarray(np.moveaxis(frame, -1, 0))
    flat = chw.reshape(c, h * w)
    ps = intra.passes(h, w)
    intra_params = _intra_params(flat, ps)
    order = np.concatenate([p.targets for p in ps])
    i_mean = np.concatenate([m for m, _ in intra_params], axis=1)
    i_scale = np.concatenate([s for _, s in intra_params], axis=1)
    i_shift, i_cost = _best_shift(flat[:, order], i_mean, i_scale)
    # (estimated bits, mode, shift, extra)
    candidates: list[tuple[float, int, int, object]] = [(i_cost, MODE_INTRA, i_shift, None)]
    if pred is not None:
        mean_q, scale_idx = _inter_params(chw, pred)
        shift, cost = _best_shift(chw, mean_q, scale_idx)
        candidates.append((cost, MODE_INTER, shift, (mean_q, scale_idx)))
    extracted = pc.extract_palette(frame) if use_palette else None
    if extracted is not None:
        palette, idx = extracted
        same = sent_palette is not None and np.array_equal(sent_palette, palette)
        palette_bits = 0 if same else 8 * (12 + len(encode_palette(palette, sent_palette)))
        prev_idx = pc.previous_indices(previous, palette)
        canvas = flat.astype(np.float32)
        true_p = np.concatenate([_intra_true_p(canvas, p, i_shift, palette, idx) for p in ps])
        nbr = np.concatenate([_neighbour_colours(idx, p) if p.neighbours.shape[0] else
                              np.full((4, p.targets.size), -1, np.int32) for p in ps], axis=1)
        mix, cost = pc.choose_mix(true_p, None if prev_idx is None else prev_idx[order], idx[order], nbr)
        candidates.append((cost + palette_bits, MODE_PALETTE_INTRA, i_shift, (palette, idx, prev_idx, mix)))
        if pred is not None:
            p_shift = next(s for _, m, s, _ in candidates if m == MODE_INTER)
            mix, cost = _palette_inter_choice(pred, p_shift, palette, idx, prev_idx, h, w)
            candidates.append((cost + palette_bits, MODE_PALETTE_INTER, p_shift,
                               (palette, idx, prev_idx, mix)))
    _, mode, shift, extra = min(candidates, key=lambda t: t[0])
    if mode == MODE_INTER:
        return CodedFrame(mode, shift, _encode_inter(chw, *extra, shift))
    if mode == MODE_INTRA:
        return CodedFrame(mode, shift, _encode_intra(flat, ps, intra_params, shift))
    palette, idx, prev_idx, mix = extra
    if mode == MODE_PALETTE_INTER:
        payload = _encode_palette_inter(pred, shift, palette, idx, prev_idx, mix, h, w)
    else:
        payload = _encode_palette_intra(flat, ps, shift, palette, idx, prev_idx, mix)
    return CodedFrame(mode, shift, payload, mix, palette)


def _intra_true_p(canvas: np.ndarray, p: intra.Pass, shift: int, palette: np.ndarray,
                  idx: np.ndarray) -> np.ndarray:
    mean, sidx = _intra_pass_inputs(canvas, p, shift)
    return _palette_true_p(mean, None, sidx, palette, idx[p.targets])


def decode_frame(coded: CodedFrame, pred: Prediction | None, height: int, width: int,
                 channels: int, previous: np.ndarray | None = None) -> np.ndarray:
    """Inverse of ``encode_frame``; returns (H, W, C) uint8. Palette modes need ``coded.palette``."""
    shape = (channels, height, width)
    try:
        if coded.mode in (MODE_INTER, MODE_PALETTE_INTER) and pred is None:
            raise FormatError("inter frame with no previous frame to predict from")
        if coded.mode in (MODE_PALETTE_INTRA, MODE_PALETTE_INTER):
            if coded.palette is None:
                raise FormatError("palette frame before any palette chunk")
            if coded.palette.shape[1] != channels:
                raise FormatError(f"palette has {coded.palette.shape[1]} channels, stream has {channels}")
            if not pc.valid_mix(coded.mix):
                raise FormatError(f"palette mix byte 0x{coded.mix:02x} out of range")
            prev_idx = pc.previous_indices(previous, coded.palette)
            if coded.mode == MODE_PALETTE_INTER:
                idx = _decode_palette_inter(coded.payload, pred, coded.scale_shift, coded.palette,
                                            prev_idx, coded.mix, height, width)
            else:
                idx = _decode_palette_intra(coded.payload, coded.scale_shift, coded.palette, prev_idx,
                                            coded.mix, shape)
            return coded.palette[idx].reshape(height, width, channels)
        if coded.mode == MODE_INTER:
            chw = _decode_inter(coded.payload, pred, coded.scale_shift, shape)
        elif coded.mode == MODE_INTRA:
            chw = _decode_intra(coded.payload, coded.scale_shift, shape)
        else:
            raise FormatError(f"unknown frame coding mode {coded.mode}")
    except FormatError:
        raise
    except Exception as exc:  # constriction rejects malformed payloads with assorted exceptions
        raise FormatError(f"frame payload could not be decoded ({exc})") from exc
    return np.ascontiguousarray(np.moveaxis(chw, 0, -1))
