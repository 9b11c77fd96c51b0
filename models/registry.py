"""Predictor names and stable stream IDs.

IDs are written into streams, so they are hand-assigned here and never derived from ordering.
Learned models are imported lazily so that using ``last-frame`` never imports torch; the integer
models (``-int``, the default) run on numpy on CPU and do not import torch either (see ``get``).
"""

from __future__ import annotations

import importlib
import sys
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
    # convlstm-hybrid's network trained on the palette code length (models/TRAINING.md).
    "convlstm-hybrid-pal-int": (16, "integer:ConvLSTMHybridPaletteIntPredictor"),
}

#: The default: convlstm-hybrid's network trained on the palette code length, since nearly every
#: GIF frame is coded over its palette. RGB frames (more than 256 colours, ``--no-palette``) code
#: about 1 % smaller with ``convlstm-hybrid-int`` (models/TRAINING.md, "Training on the palette
#: code length").
DEFAULT_MODEL = "convlstm-hybrid-pal-int"
#: What a planar stream (frames in the source's pixel format) records: its frames are coded by the
#: planar rule (codec/planar_rule.py), which uses no learned predictor yet.
PLANAR_MODEL = "last-frame"


def available() -> list[str]:
    """Names accepted by ``get`` / ``fpcodec encode --model``."""
    return list(_REGISTRY)


def name_for_id(model_id: int) -> str | None:
    """Registry name of a stream's model ID, or None when this install does not know it."""
    for name, (mid, _) in _REGISTRY.items():
        if mid == model_id:
            return name
    return None


def id_for_name(name: str) -> int:
    """The stream ID of a registry name (KeyError if unknown)."""
    return _REGISTRY[name][0]


def get(name: str, device: str = "cpu", weights: str | Path | None = None) -> Predictor:
    """Instantiate the predictor ``name`` (KeyError if unknown), with its shipped weights or the
    weights file ``weights`` (WeightsError if it is missing, foreign or damaged).

    ``device="auto"``: the float models (torch anyway) use CUDA when it is available. The integer
    models give the same integers on any device, so for them a GPU is only a matter of speed, and
    looking for one would cost the ~2 s import of torch that their numpy CPU backend avoids:
    "auto" picks CUDA only when torch is already imported (by the program using fpcodec) and
    CUDA is available, else the CPU (numpy). Ask for a GPU with ``device="cuda"``
    (``--device cuda``).
    """
    model_id, target = _REGISTRY[name]
    module_name, cls_name = target.split(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    cls = getattr(module, cls_name)
    if getattr(cls, "takes_device", False):
        if device == "auto":  # resolved here so that models without torch never import it
            if getattr(cls, "auto_device_needs_torch", True):
                import torch
            else:
                torch = sys.modules.get("torch")
            device = "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
        predictor = cls(device=device, weights=weights)
    elif weights is not None:
        raise WeightsError(f"model {name!r} has no weights: the weights file {weights} does not apply to it")
    else:
        predictor = cls()
    if predictor.model_id != model_id:
        raise RuntimeError(f"registry id {model_id} != {cls_name}.model_id {predictor.model_id}")
    return predictor
