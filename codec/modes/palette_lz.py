"""Mode 8, palette LZ (format version 15): a palette frame's indices in one LZMA2 stream.

The pass coder of modes 2-4 predicts a pixel from the colours around it and from the counts of its
neighbourhood seen so far; what it cannot see is a run of pixels that repeats something far away
(the same glyph elsewhere on a line, a toolbar drawn twice, a table's rows), which is what GIF's
LZW and WebP's backward references live on. On single-frame screenshots of the screen corpus's dev
split the frame's indices in LZMA2 took 3 % (a 3-D scene) to 53 % (an icon) fewer bytes than the
pass coder. So a frame may be coded as its symbols, row-major, in a raw LZMA2 stream
(``bitstream.lz``): either its palette indices (mix 0), or with symbol K, one past the palette,
meaning "the previous frame's pixel" (mix 1, K <= 255; it lets LZ77 skip what did not change).
The encoder offers the smaller of the two (``estimate``) and the frame goes to the cheapest mode,
this one's bytes being exact rather than estimated. (The keep set never won on the dev split; on
the held-out test split's dashboard and terminal recordings, whose frames redraw much of the
screen, it saves 1.2 % of all bytes: bench/results/palette_lz.) Decoding is liblzma's, the
fastest of the palette modes by far.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...bitstream import lz
from ...bitstream.errors import FormatError
from ...bitstream.palette import MAX_COLOURS
from ...bitstream.profile import MODE_PALETTE_LZ
from .base import Candidate, CodedFrame, DecodeContext, FrameToCode
from .palette import body_bits, palette_body, palette_in_force

MODE = MODE_PALETTE_LZ
#: The mix field: the symbols are palette indices, or also K for "the previous frame's pixel".
INDICES = 0
KEEP = 1


@dataclass(frozen=True, eq=False)
class LzCandidate(Candidate):
    """A palette LZ offer: the payload itself (its bits are exact) and the frame's palette."""

    palette: np.ndarray
    palette_body: bytes | None
    payload: bytes
    mix: int


#: The encoder tries the keep set only where at least this share of the pixels equals the previous
#: frame's: below it the set can save at most that share of the literals, and a compression is
#: saved on video-like frames (2-4 % of carphone's pixels are unchanged, a third of bikes480's;
#: the dev split's screen animations 87-99 %).
KEEP_MIN_SHARE = 1 / 8


def symbols(
    frame: FrameToCode,
    idx: np.ndarray,
    palette_size: int,
    previous: np.ndarray | None,
    mix: int,
    min_share: float = 0.0,
) -> bytes | None:
    """The frame's symbols under ``mix`` (row-major, a byte each), None where ``mix`` cannot code it
    (KEEP without a previous frame or with a full palette) or, for KEEP, where fewer than
    ``min_share`` of the pixels are unchanged."""
    if mix == INDICES:
        return idx.astype(np.uint8).tobytes()
    if previous is None or palette_size >= MAX_COLOURS:
        return None
    same = (frame.pixels == previous).all(axis=-1).ravel()
    if np.count_nonzero(same) < min_share * same.size:
        return None
    return np.where(same, palette_size, idx).astype(np.uint8).tobytes()


def estimate(
    frame: FrameToCode,
    extracted: tuple[np.ndarray, np.ndarray],
    previous: np.ndarray | None,
    sent_palette: np.ndarray | None,
    bound: float = float("inf"),
) -> LzCandidate:
    """The cheaper symbol set, compressed (the estimate is the payload's size plus its palette
    chunk's). The sets (the keep set only where KEEP_MIN_SHARE of the pixels are unchanged) are
    compressed with LZMA2's fast setting, and the smaller again with the strong setting only where
    that could bring it below ``bound`` (the other modes' best estimate): on frames where LZ77
    loses by far the mode costs a fraction of the strong setting's time."""
    palette, idx = extracted
    body = palette_body(palette, sent_palette)
    sets = {INDICES: symbols(frame, idx, len(palette), previous, INDICES)}
    keep = symbols(frame, idx, len(palette), previous, KEEP, KEEP_MIN_SHARE)
    if keep is not None:
        sets[KEEP] = keep
    fast = {mix: lz.compress(data, strong=False) for mix, data in sets.items()}
    mix = min(fast, key=lambda m: len(fast[m]))  # INDICES first: it wins ties
    payload = fast[mix]
    if lz.STRONG_GAIN * (8.0 * len(payload) + body_bits(body)) < bound:
        payload = min(payload, lz.compress(sets[mix]), key=len)  # the strong setting is not always smaller
    return LzCandidate(MODE, 8.0 * len(payload) + body_bits(body), 0, palette, body, payload, mix)


#: When the encoder compresses a predicted frame's symbols (see ``LzProbe``).
LZ_MARGIN = 0.25
LZ_PROBE = 4
LZ_JUMP = 1.5


@dataclass
class LzProbe:
    """The encoder's memory, across one stream's predicted frames, of how palette LZ fared on the
    last frame where it was estimated; it decides whether the next is worth compressing
    (``worth``). Streams decode as before: the decoder never knows which modes were estimated
    (a left-out frame LZ would have won costs its bytes; none did on the logs below).

    A predicted frame's symbols are compressed when no frame since the key frame was (the first
    predicted frame), when LZ came within LZ_MARGIN of the other modes' best there, when that best
    has grown or shrunk by more than a factor of LZ_JUMP since (new content: a screen redrawn, a scene cut),
    and at least every LZ_PROBE predicted frames. Key frames are always compressed (LZ's wins on
    single screenshots).

    Why: the compression is exact, so it cannot be estimated more cheaply, and on video-like GIFs
    it loses on every predicted frame (on val and catz96 clips, each clip's closest frame came
    6-113 % above the other modes' best), for 4 % of their encoding time and a tenth of a mostly
    still one's (chi.gif: two symbol sets of 76,800 pixels a frame). Chosen on logs with every
    frame compressed (``bench/lz_probe.py``; the screen corpus's dev split, val and train: LZ won
    a predicted frame only right after a key frame, so no rule of the grid added a bit;
    bench/results/palette_lz/lz_probe.md).
    """

    ratio: float | None = None  # LZ's bits / the other modes' best, then
    bound: float = 0.0  # the other modes' best, then
    skipped: int = 0  # predicted frames left out since

    def worth(self, bound: float) -> bool:
        """Whether to compress a predicted frame whose other modes' best estimate is ``bound``."""
        if self.ratio is None or self.ratio < 1 + LZ_MARGIN or self.skipped + 1 >= LZ_PROBE:
            return True
        return not self.bound / LZ_JUMP <= bound <= LZ_JUMP * self.bound

    def update(self, lz_bits: float | None, bound: float) -> None:
        """Record a predicted frame (``lz_bits`` None: not compressed)."""
        if lz_bits is None:
            self.skipped += 1
            return
        self.ratio, self.bound, self.skipped = lz_bits / max(bound, 1.0), bound, 0


def encode(c: LzCandidate) -> bytes:
    return c.payload


def decode(coded: CodedFrame, ctx: DecodeContext) -> np.ndarray:
    """The frame's pixels: the palette's colours, and the previous frame's where the symbol is K."""
    palette = palette_in_force(coded, ctx, "palette LZ frame")
    if coded.scale_shift != 0:
        raise FormatError(f"palette LZ frame has scale shift {coded.scale_shift}, must be 0")
    k = len(palette)
    if coded.mix == KEEP:
        if ctx.previous is None:
            raise FormatError("palette LZ frame keeps the previous frame's pixels, but has no previous frame")
        if k >= MAX_COLOURS:
            raise FormatError(f"palette LZ frame keeps previous pixels with a full palette ({k} colours)")
    elif coded.mix != INDICES:
        raise FormatError(f"palette LZ frame has mix field {coded.mix}, expected {INDICES} or {KEEP}")
    h, w = ctx.height, ctx.width
    sym = np.frombuffer(lz.decompress(coded.payload, h * w), np.uint8)
    top = int(sym.max())
    limit = k if coded.mix == KEEP else k - 1
    if top > limit:
        raise FormatError(f"palette LZ frame holds symbol {top}, its palette has {k} colours")
    if coded.mix == INDICES:
        return palette[sym].reshape(h, w, ctx.channels)
    kept = sym == k
    out = palette[np.minimum(sym, k - 1)].reshape(h * w, ctx.channels)
    out[kept] = ctx.previous.reshape(h * w, ctx.channels)[kept]
    return out.reshape(h, w, ctx.channels)
