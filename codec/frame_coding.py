"""Code one frame given a prediction (inter) or none (intra), mirrored exactly by the decoder.

Inter: channels in order R, G, B, (A); each channel is one vectorized constriction call whose means
may depend on the channels already decoded (colour coupling). Intra: the coarse-to-fine passes of
``models.intra``. Both share a per-frame scale shift, chosen by the encoder by measured cost and
stored in the chunk, which calibrates any predictor's scales to the frame at hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bitstream import entropy
from ..bitstream.errors import FormatError
from ..models import intra
from ..models.base import Prediction, apply_coupling

MODE_INTRA = 0
MODE_INTER = 1
SHIFT_MIN, SHIFT_MAX = -24, 24


@dataclass(frozen=True)
class CodedFrame:
    mode: int
    scale_shift: int
    payload: bytes


def _shifted(scale_idx: np.ndarray, shift: int) -> np.ndarray:
    return np.clip(scale_idx + shift, 0, len(entropy.SCALE_TABLE) - 1)


def _best_shift(symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> tuple[int, float]:
    """The scale shift with the smallest (approximate) code length, and that length in bits."""
    costs = entropy.bits_by_shift(symbols, mean_q, scale_idx, _SHIFTS)
    k = int(np.argmin(costs))
    return int(_SHIFTS[k]), float(costs[k])


_SHIFTS = np.arange(SHIFT_MIN, SHIFT_MAX + 1)


# ----------------------------------------------------------------------------------------- inter
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
    c_count, h, w = shape
    dec = entropy.FrameDecoder(payload)
    out = np.zeros(shape, np.uint8)
    for c in range(c_count):
        mean_q, scale_idx = _inter_channel_params(pred, c, out)
        out[c] = dec.decode(mean_q, _shifted(scale_idx, shift))
    return out


# ----------------------------------------------------------------------------------------- intra
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


# ------------------------------------------------------------------------------------- public API
def encode_frame(frame: np.ndarray, pred: Prediction | None) -> CodedFrame:
    """Code ``frame`` ((H, W, C) uint8) in whichever mode measures cheaper."""
    h, w, c = frame.shape
    chw = np.ascontiguousarray(np.moveaxis(frame, -1, 0))
    flat = chw.reshape(c, h * w)
    ps = intra.passes(h, w)
    intra_params = _intra_params(flat, ps)
    i_sym = np.concatenate([flat[:, p.targets] for p in ps], axis=1)
    i_mean = np.concatenate([m for m, _ in intra_params], axis=1)
    i_scale = np.concatenate([s for _, s in intra_params], axis=1)
    i_shift, i_cost = _best_shift(i_sym, i_mean, i_scale)
    if pred is not None:
        mean_q, scale_idx = _inter_params(chw, pred)
        shift, cost = _best_shift(chw, mean_q, scale_idx)
        if cost <= i_cost:
            return CodedFrame(MODE_INTER, shift, _encode_inter(chw, mean_q, scale_idx, shift))
    return CodedFrame(MODE_INTRA, i_shift, _encode_intra(flat, ps, intra_params, i_shift))


def decode_frame(coded: CodedFrame, pred: Prediction | None, height: int, width: int,
                 channels: int) -> np.ndarray:
    """Inverse of ``encode_frame``; returns (H, W, C) uint8."""
    shape = (channels, height, width)
    try:
        if coded.mode == MODE_INTER:
            if pred is None:
                raise FormatError("inter frame with no previous frame to predict from")
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
