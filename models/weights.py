"""Weights files: where the shipped ones live, and reading one into tensors, metadata and the SHA-256
that streams record. Every failure is a ``WeightsError`` naming the file, so the CLI prints one line.
Tensors come as torch tensors or, without importing torch, as numpy arrays (``framework="numpy"``)."""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bitstream.errors import WeightsError, WeightsMissingError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def shipped_path(name: str) -> Path:
    """The weights file installed with the package for registry name ``name`` (float or ``-int``)."""
    return WEIGHTS_DIR / f"{name}.safetensors"


@dataclass(frozen=True)
class WeightsFile:
    """A safetensors file's tensors (torch, CPU, or numpy arrays), its ``__metadata__`` strings and its SHA-256."""

    path: Path
    tensors: dict[str, Any]
    metadata: dict[str, str]
    sha256: bytes


def read_weights(path: str | Path, missing_hint: str = "", framework: str = "torch") -> WeightsFile:
    """Read and parse ``path`` once (the hash and the tensors come from the same bytes).

    ``missing_hint`` is appended to the message when the file is not there (how to get it).
    ``framework``: ``"torch"`` (tensors) or ``"numpy"`` (arrays; torch is not imported).
    """
    if framework == "numpy":
        from safetensors.numpy import load
    elif framework == "torch":
        from safetensors.torch import load
    else:
        raise ValueError(f"framework must be 'torch' or 'numpy', not {framework!r}")

    path = Path(path)
    if not path.is_file():
        hint = f" ({missing_hint})" if missing_hint else ""
        raise WeightsMissingError(f"weights file not found: {path}{hint}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc.strerror or exc}") from None
    try:
        tensors = load(data)
        metadata = _metadata(data)
    except Exception as exc:  # safetensors' own error type, or a header that is not what it says
        raise WeightsError(f"{path} is not a safetensors weights file ({exc})") from None
    return WeightsFile(path, tensors, metadata, hashlib.sha256(data).digest())


def _metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file: an 8-byte header length, then a JSON header."""
    (n,) = struct.unpack_from("<Q", data)
    meta = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("metadata is not a map of strings")
    return meta


def describe_mismatch(expected: dict[str, Any], got: dict[str, Any], limit: int = 3) -> str:
    """One line saying which tensors are missing, unexpected or of another shape."""

    def names(keys: list[str]) -> str:
        more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
        return ", ".join(keys[:limit]) + more

    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = sorted(k for k in set(expected) & set(got) if tuple(expected[k].shape) != tuple(got[k].shape))
    parts = [
        f"{what}: {names(keys)}"
        for what, keys in (
            ("missing tensors", missing),
            ("unexpected tensors", unexpected),
            ("wrong shapes", shapes),
        )
        if keys
    ]
    return "; ".join(parts)
