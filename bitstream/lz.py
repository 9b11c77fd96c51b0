"""LZMA2 glue for the palette LZ mode (version 15): a frame's symbols as one raw LZMA2 stream.

Screenshots, diagrams and terminal recordings repeat whole runs of pixels (glyphs, borders, icons,
rows of a table) at distances no local context sees; an LZ77 coder finds them, as GIF's LZW and
WebP's backward references do. LZMA2 (liblzma, Python's ``lzma``) is a well-kept LZ77 with an
adaptive binary range coder, so the mode writes nothing of its own: the payload is the raw
LZMA2 stream (no .xz container, no header), whose dictionary size follows from the frame's size.

The decoder's checks: the stream must decode to exactly ``size`` bytes and end there (an LZMA2
end marker and nothing after it); a longer output is cut off at ``size + 1`` bytes (no
decompression bomb), a shorter one or a damaged stream is a ``FormatError``.
"""

from __future__ import annotations

import lzma

from .errors import FormatError

#: Smallest dictionary; the dictionary is the smallest power of two holding the frame's symbols.
MIN_DICT = 1 << 12
#: liblzma's largest LZMA2 dictionary (1.5 GiB); frames are smaller than that by far.
MAX_DICT = 3 << 29
#: The encoder's settings (the decoder needs none of them): no literal context (lc 0, lp 0, pb 0):
#: a palette index is not a byte of text, and on the screen corpus's dev split lc 0 gave 1.7 %
#: fewer bytes than the default lc 3 (pb 2 tells nothing for bytes). ``strong``: preset 9 with
#: PRESET_EXTREME, 4 % fewer bytes there than preset 6; the fast setting, preset 3 (hash chains),
#: takes a quarter of preset 6's time on a 480x270 frame and bounds the strong setting's size as
#: well (``STRONG_GAIN``; preset 4's and presets 1-2's bounds are far looser: 0.35 and 0.27).
_LITERALS = {"lc": 0, "lp": 0, "pb": 0}
_PRESETS = {False: 3, True: 9 | lzma.PRESET_EXTREME}
#: The smallest ratio of the strong setting's bytes to the fast setting's seen on the dev split's
#: 497 symbol sets (0.691; 1 % of them below 0.81), rounded down: what an encoder may hope to win
#: by trying the strong setting after the fast one.
STRONG_GAIN = 0.65


def dict_size(size: int) -> int:
    """The LZMA2 dictionary of a frame of ``size`` symbols (both sides derive it, nothing is sent)."""
    return min(MAX_DICT, max(MIN_DICT, 1 << max(0, size - 1).bit_length()))


def compress(symbols: bytes, strong: bool = True) -> bytes:
    """``symbols`` as a raw LZMA2 stream (``strong``: the slower, stronger setting)."""
    settings = {"preset": _PRESETS[strong], **_LITERALS}
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": dict_size(len(symbols)), **settings}]
    return lzma.compress(symbols, format=lzma.FORMAT_RAW, filters=filters)


def decompress(payload: bytes, size: int) -> bytes:
    """The ``size`` symbols of a raw LZMA2 stream; FormatError unless it holds exactly that many
    and ends with the payload."""
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": dict_size(size)}]
    decoder = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters)
    try:
        out = decoder.decompress(payload, max_length=size + 1)
    except lzma.LZMAError as exc:
        raise FormatError(f"LZ payload of {len(payload)} bytes is not an LZMA2 stream ({exc})") from None
    if len(out) != size or not decoder.eof:
        got = f"{len(out)}+" if len(out) > size else str(len(out))
        raise FormatError(
            f"LZ payload decodes to {got} bytes{'' if decoder.eof else ' without its end marker'}, "
            f"expected {size}"
        )
    if decoder.unused_data:
        raise FormatError(f"LZ payload has {len(decoder.unused_data)} bytes after its LZMA2 stream")
    return out
