"""A walk over a GIF file's block structure (GIF89a spec), for what FFmpeg does not tell us.

FFmpeg decodes the pixels but neither reports the NETSCAPE2.0 loop count nor refuses a file cut off
in the middle of an image (it conceals the damage and invents the rest). Walking the blocks gives
both facts exactly, without decoding any LZW data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GifStructure:
    loop: int | None  # NETSCAPE2.0 loop count (0 = forever), None if the file has none
    images: int  # image descriptors seen
    complete: bool  # the walk reached the trailer (0x3B) with every block intact
    truncated: bool  # the data ends inside a block or before any trailer


def _skip_sub_blocks(data: bytes, pos: int) -> int | None:
    """Position after a sequence of data sub-blocks ending in a zero-length block, or None if cut."""
    n = len(data)
    while pos < n:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos
    return None


def walk(data: bytes) -> GifStructure:
    """Walk a GIF's blocks; never raises on malformed input.

    A byte that starts no known block stops the walk without calling the file truncated (FFmpeg
    accepts, for instance, a second GIF appended to the first); running out of data does.
    """
    loop: int | None = None
    images = 0
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        return GifStructure(None, 0, False, len(data) < 13)
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    n = len(data)
    while pos < n:
        kind = data[pos]
        if kind == 0x3B:
            return GifStructure(loop, images, True, False)
        if kind == 0x21:  # extension: label, then sub-blocks
            if pos + 2 > n:
                return GifStructure(loop, images, False, True)
            label = data[pos + 1]
            start = pos + 2
            if label == 0xFF and data[start : start + 12] == b"\x0bNETSCAPE2.0" and loop is None:
                sub = start + 12
                if sub + 4 <= n and data[sub] == 3 and data[sub + 1] == 1:
                    loop = data[sub + 2] | (data[sub + 3] << 8)
            end = _skip_sub_blocks(data, start)
        elif kind == 0x2C:  # image descriptor, optional local table, LZW code size, sub-blocks
            if pos + 10 > n:
                return GifStructure(loop, images, False, True)
            local = data[pos + 9]
            start = pos + 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
            end = _skip_sub_blocks(data, start) if start <= n else None
            images += 1
        else:
            return GifStructure(loop, images, False, False)
        if end is None:
            return GifStructure(loop, images, False, True)
        pos = end
    # Ending exactly between blocks (only the trailer byte missing) loses nothing.
    return GifStructure(loop, images, False, pos != n)
