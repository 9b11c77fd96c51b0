"""Predictor names and stable stream IDs.

IDs are written into streams, so they are hand-assigned here and never derived from ordering.
Learned models are imported lazily so that using ``last-frame`` never imports torch.
"""

from __future__ import annotations

import importlib

from .base import Predictor

# name -> (model_id, "module:Class")
_REGISTRY: dict[str, tuple[int, str]] = {
    "last-frame": (1, "last_frame:LastFramePredictor"),
    # Learned models (models/learned.py); IDs fixed here once and for all.
    # "conv2d": (2, ...), "conv3d-hybrid": (3, ...), "convlstm-hybrid": (4, ...), "convlstm-unet": (5, ...)
}

DEFAULT_MODEL = "last-frame"


def available() -> list[str]:
    """Names accepted by ``get`` / ``fpcodec encode --model``."""
    return list(_REGISTRY)


def name_for_id(model_id: int) -> str | None:
    """Registry name of a stream's model ID, or None when this install does not know it."""
    for name, (mid, _) in _REGISTRY.items():
        if mid == model_id:
            return name
    return None


def get(name: str, device: str = "cpu") -> Predictor:
    """Instantiate the predictor ``name`` (KeyError if unknown)."""
    model_id, target = _REGISTRY[name]
    module_name, cls_name = target.split(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    cls = getattr(module, cls_name)
    predictor = cls(device=device) if getattr(cls, "takes_device", False) else cls()
    if predictor.model_id != model_id:
        raise RuntimeError(f"registry id {model_id} != {cls_name}.model_id {predictor.model_id}")
    return predictor
