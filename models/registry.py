"""Predictor names and stable stream IDs.

IDs are written into streams, so they are hand-assigned here and never derived from ordering.
Learned models are imported lazily so that using ``last-frame`` never imports torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..bitstream.errors import WeightsError
from .base import Predictor

# name -> (model_id, "module:Class")
_REGISTRY: dict[str, tuple[int, str]] = {
    "last-frame": (1, "last_frame:LastFramePredictor"),
    # Learned models (models/learned.py, architectures in models/arch.py); IDs fixed once and for all.
    "conv2d": (2, "learned:Conv2DPredictor"),
    "conv3d-hybrid": (3, "learned:Conv3DHybridPredictor"),
    "convlstm-hybrid": (4, "learned:ConvLSTMHybridPredictor"),
    "convlstm-unet": (5, "learned:ConvLSTMUNetPredictor"),
    # Integer-exact versions (models/integer.py, models/INTEGER.md).
    "conv2d-int": (12, "integer:Conv2DIntPredictor"),
    "conv3d-hybrid-int": (13, "integer:Conv3DHybridIntPredictor"),
    "convlstm-hybrid-int": (14, "integer:ConvLSTMHybridIntPredictor"),
    "convlstm-unet-int": (15, "integer:ConvLSTMUNetIntPredictor"),
}

DEFAULT_MODEL = "convlstm-hybrid-int"


def available() -> list[str]:
    """Names accepted by ``get`` / ``fpcodec encode --model``."""
    return list(_REGISTRY)


def name_for_id(model_id: int) -> str | None:
    """Registry name of a stream's model ID, or None when this install does not know it."""
    for name, (mid, _) in _REGISTRY.items():
        if mid == model_id:
            return name
    return None


def get(name: str, device: str = "cpu", weights: str | Path | None = None) -> Predictor:
    """Instantiate the predictor ``name`` (KeyError if unknown), with its shipped weights or the
    weights file ``weights`` (WeightsError if it is missing, foreign or damaged)."""
    model_id, target = _REGISTRY[name]
    module_name, cls_name = target.split(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    cls = getattr(module, cls_name)
    if getattr(cls, "takes_device", False):
        if device == "auto":  # resolved here so that models without torch never import it
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        predictor = cls(device=device, weights=weights)
    elif weights is not None:
        raise WeightsError(f"model {name!r} has no weights: the weights file {weights} does not apply to it")
    else:
        predictor = cls()
    if predictor.model_id != model_id:
        raise RuntimeError(f"registry id {model_id} != {cls_name}.model_id {predictor.model_id}")
    return predictor
