"""The learned predictors' input window and output planes, in numpy (no torch).

``window_from_history`` stacks the last decoded frames into the networks' window and
``rgb_prediction`` turns a network's (3, H, W) planes into a ``Prediction``. The float nets of
``learned.py`` (which wrap the window into torch tensors) and both integer backends of
``integer.py`` use them, so the integer predictor on CPU never needs torch.
"""

from __future__ import annotations

import numpy as np

from .base import HISTORY, Prediction
from .last_frame import last_frame_params


def window_from_history(history: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(1, T, 3, H, W) uint8-valued float32 frames and (1, T) float32 valid flags from 1..HISTORY
    frames (oldest first; a shorter history is padded by repeating its oldest frame)."""
    if not 1 <= len(history) <= HISTORY:
        raise ValueError(f"history must hold 1..{HISTORY} frames, got {len(history)}")
    frames = [np.asarray(h)[..., :3] for h in history]
    pad = HISTORY - len(frames)
    frames = [frames[0]] * pad + frames
    arr = np.stack(frames, 0)  # (T, H, W, 3)
    x = np.ascontiguousarray(arr.transpose(0, 3, 1, 2)[None], dtype=np.float32)
    valid = np.zeros((1, HISTORY), np.float32)
    valid[0, pad:] = 1.0
    return x, valid


def rgb_prediction(
    mean: np.ndarray, scale: np.ndarray, coupling: np.ndarray, history: list[np.ndarray]
) -> Prediction:
    """A learned model's (3, H, W) planes as a Prediction; RGBA input gets its alpha plane from
    ``last_frame_params`` (the networks do not model alpha)."""
    if np.asarray(history[-1]).shape[-1] == 4:
        alpha = last_frame_params(history)
        mean = np.concatenate([mean, alpha.mean[3:4]], axis=0)
        scale = np.concatenate([scale, alpha.scale[3:4].astype(np.float32)], axis=0)
    return Prediction(
        mean=np.ascontiguousarray(mean),
        scale=np.ascontiguousarray(scale),
        coupling=np.ascontiguousarray(coupling),
    )
