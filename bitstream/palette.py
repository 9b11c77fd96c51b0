"""Serialising a frame palette relative to the previous one (the body of a ``PLTE`` chunk).

Palettes are canonical: their colours sorted by packed value (R, G, B[, A] as a big-endian integer),
no duplicates. Consecutive GIF frames usually share most colours, so a palette is sent as a bitmap
of which previous colours it keeps plus the new colours, delta-coded in packed order and deflated.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from .errors import FormatError

_HEAD = struct.Struct("<HH")  # colour count, previous palette size the bitmap refers to
MAX_COLOURS = 256


def pack_colours(colours: np.ndarray) -> np.ndarray:
    """(..., C) uint8 colours as int64 keys that sort like the colours."""
    c = colours.shape[-1]
    weights = (256 ** np.arange(c - 1, -1, -1)).astype(np.int64)
    return colours.astype(np.int64) @ weights


def unpack_colours(keys: np.ndarray, channels: int) -> np.ndarray:
    shifts = 8 * np.arange(channels - 1, -1, -1)
    return ((keys[:, None] >> shifts) & 0xFF).astype(np.uint8)


def encode_palette(palette: np.ndarray, previous: np.ndarray | None) -> bytes:
    """Body of a PLTE chunk for ``palette`` ((K, C) uint8, canonical) given the previous palette."""
    keys = pack_colours(palette)
    prev_keys = pack_colours(previous) if previous is not None else np.zeros(0, np.int64)
    kept = np.isin(prev_keys, keys)
    new = np.setdiff1d(keys, prev_keys[kept], assume_unique=True)
    deltas = np.diff(new, prepend=0).astype(">u4").tobytes()
    body = np.packbits(kept).tobytes() + deltas
    return _HEAD.pack(len(keys), len(prev_keys)) + zlib.compress(body, 9)


def decode_palette(body: bytes, previous: np.ndarray | None, channels: int) -> np.ndarray:
    """Inverse of ``encode_palette``; raises FormatError on anything inconsistent."""
    if len(body) < _HEAD.size:
        raise FormatError(f"palette chunk is {len(body)} bytes, expected at least {_HEAD.size}")
    count, prev_count = _HEAD.unpack_from(body)
    prev_keys = pack_colours(previous) if previous is not None else np.zeros(0, np.int64)
    if not 1 <= count <= MAX_COLOURS:
        raise FormatError(f"palette has {count} colours, expected 1..{MAX_COLOURS}")
    if prev_count != len(prev_keys):
        raise FormatError(f"palette refers to a previous palette of {prev_count} colours, "
                          f"the stream has {len(prev_keys)}")
    try:
        raw = zlib.decompress(body[_HEAD.size:])
    except zlib.error as exc:
        raise FormatError(f"palette data is corrupt ({exc})") from None
    nbits = (prev_count + 7) // 8
    if len(raw) < nbits or (len(raw) - nbits) % 4:
        raise FormatError(f"palette data has {len(raw)} bytes, inconsistent with {prev_count} old colours")
    kept = np.unpackbits(np.frombuffer(raw[:nbits], np.uint8))[:prev_count].astype(bool)
    new = np.cumsum(np.frombuffer(raw[nbits:], ">u4").astype(np.int64))
    keys = np.union1d(prev_keys[kept], new)
    if len(keys) != count or (len(new) and new.max() >= 256 ** channels):
        raise FormatError(f"palette decodes to {len(keys)} colours, header says {count}")
    return unpack_colours(keys, channels)
