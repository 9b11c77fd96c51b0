"""Copied blocks (format version 9): a palette frame's blocks that equal the previous frame.

Screen recordings, UI demos and line-art animations change a few small regions a frame (a clock's
digits, a progress bar, a cursor), or scroll (a terminal, a text crawl); a GIF codes only the
changed rectangle. Coded pixel by pixel, each unchanged pixel still costs a little (17-60 % of such
frames' bytes on the screen corpus, the rest of the frame being a handful of changed glyphs). So a
palette frame (modes 2, 3, 4) that has a previous frame may split itself into square blocks of
side ``COPY_SIDES[code]`` and send, before its passes, one symbol per block: COPIED (its pixels
are the previous frame's), CODED, or, when the frame has a shift (dy, dx), SHIFTED (pixel (y, x)
is the previous frame's (y + dy, x + dx): scrolled content). The passes then code only the pixels
of CODED blocks; copied pixels are known from the start, vote and key contexts like decoded ones,
and add no counts.

The symbols are coded row of blocks by row of blocks, each row in one constriction call: a
block's context is the symbols of the three blocks above it (above-left, above, above-right;
COPIED outside the map; one more context for the first row), and each context's counts (starting
at 1 each) learn after every row. See FORMAT.md, "Copied blocks".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bitstream import entropy
from ..bitstream.palette import pack_colours

#: Mix bits 18-19 (version 9): the block side; 0 = no map, every pixel is coded.
COPY_SIDES = (0, 4, 8, 16)
MIX_SHIFT = 18
#: Mix bit 20 (version 9): the frame has a shift, and its blocks may be SHIFTED copies.
SHIFTED_BIT = 1 << 20
#: Block symbols.
COPIED, CODED, SHIFTED = 0, 1, 2
#: A shift's components are coded in -MAX_SHIFT..MAX_SHIFT (uniformly), before the map.
MAX_SHIFT = 255
#: How far (in pixels, along one axis) the encoder looks for a shift, and on what share of rows
#: and columns (every SEARCH_STEP-th).
SEARCH_RANGE = 64
SEARCH_STEP = 4
#: The encoder's guesses of what a coded pixel costs (bits) when it equals the previous frame's,
#: and when it does not; they decide the block side and the shift (``choose``). Streams are
#: unaffected: any choice decodes. UNCHANGED_BITS was chosen on the screen corpus's dev split
#: (0.002, 0.005, 0.02, 0.05: 0.005 the smallest total).
UNCHANGED_BITS = 0.005
CHANGED_BITS = 1.0
#: The guesses ``choices`` tries: the tuned one, and ten times it, what an unchanged pixel costs
#: where the changed ones leave the frame's mix and scales no sharper (Pillow's dispose_none.gif:
#: 32x32 icons added to a 100x100 picture, whose last two frames kept every pixel coded at 0.005
#: and took 392 and 508 bytes in palette inter, 276 and 448 with their unchanged blocks copied).
#: Where the two choose differently, the encoder estimates both (``frame_coding``).
UNCHANGED_GUESSES = (UNCHANGED_BITS, 0.05)


def side_of(mix: int) -> int:
    """The block side a palette frame's mix field selects (0: no copied blocks)."""
    return COPY_SIDES[(mix >> MIX_SHIFT) & 3]


def grid(height: int, width: int, side: int) -> tuple[int, int]:
    """Rows and columns of blocks (the last ones may be cut by the frame's edge)."""
    return -(-height // side), -(-width // side)


def block_all(same: np.ndarray, side: int) -> np.ndarray:
    """(rows, cols) bool: the blocks whose pixels (those inside the frame) all hold in ``same``."""
    h, w = same.shape
    rows, cols = grid(h, w, side)
    padded = np.ones((rows * side, cols * side), bool)
    padded[:h, :w] = same
    return padded.reshape(rows, side, cols, side).all(axis=(1, 3))


def pixel_symbols(blocks: np.ndarray, side: int, height: int, width: int) -> np.ndarray:
    """(H*W,) int8: each pixel's block symbol, row-major."""
    full = np.repeat(np.repeat(blocks.astype(np.int8), side, axis=0), side, axis=1)
    return np.ascontiguousarray(full[:height, :width]).ravel()


def sources(
    symbols: np.ndarray, shift: tuple[int, int] | None, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """(copied pixels, the previous frame's pixels they copy), flat positions. ValueError (with
    the offending values) if a SHIFTED pixel's source lies outside the frame."""
    dest = np.flatnonzero(symbols != CODED)
    src = dest.copy()
    moved = symbols[dest] == SHIFTED
    if moved.any():
        dy, dx = shift if shift is not None else (0, 0)
        y, x = np.divmod(dest[moved], width)
        y, x = y + dy, x + dx
        outside = (y < 0) | (y >= height) | (x < 0) | (x >= width)
        if outside.any():
            raise ValueError(
                f"{int(outside.sum())} shifted pixels copy from outside the frame (shift {dy}, {dx})"
            )
        src[moved] = y * width + x
    return dest, src


def _contexts(above: np.ndarray | None, cols: int, k: int) -> np.ndarray:
    if above is None:
        return np.full(cols, k**3, np.int64)
    a = above.astype(np.int64)
    left = np.concatenate([[COPIED], a[:-1]])
    right = np.concatenate([a[1:], [COPIED]])
    return k * k * left + k * a + right


def _rows(blocks_shape: tuple[int, int], k: int, symbols_of) -> None:
    """Walk the map row by row over ``k`` symbols: ``symbols_of(row, probability rows)`` gives
    each row's symbols (the true ones, or the decoded ones), which the counts learn."""
    counts = np.ones((k**3 + 1, k), np.int64)
    above = None
    for r in range(blocks_shape[0]):
        ctx = _contexts(above, blocks_shape[1], k)
        symbols = symbols_of(r, counts[ctx].astype(np.float64))
        np.add.at(counts, (ctx, symbols.astype(np.int64)), 1)
        above = symbols


def _uniform_rows(n: int) -> np.ndarray:
    return np.ones((n, 2 * MAX_SHIFT + 1))


def encode_map(blocks: np.ndarray, shift: tuple[int, int] | None, coder: entropy.FrameEncoder) -> None:
    """Code the shift (if any) and the block symbols (before the frame's passes)."""
    if shift is not None:
        coder.encode_categorical(np.array(shift) + MAX_SHIFT, _uniform_rows(2))

    def put(r: int, rows: np.ndarray) -> np.ndarray:
        coder.encode_categorical(blocks[r].astype(np.int32), rows)
        return blocks[r]

    _rows(blocks.shape, 2 + (shift is not None), put)


def decode_map(
    coder: entropy.FrameDecoder, rows: int, cols: int, shifted: bool
) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The symbols and shift ``encode_map`` coded: ((rows, cols) int8, (dy, dx) or None)."""
    shift = None
    if shifted:
        dy, dx = (int(v) - MAX_SHIFT for v in coder.decode_categorical(_uniform_rows(2)))
        shift = (dy, dx)
    out = np.zeros((rows, cols), np.int8)

    def get(r: int, probs: np.ndarray) -> np.ndarray:
        out[r] = coder.decode_categorical(probs)
        return out[r]

    _rows(out.shape, 2 + shifted, get)
    return out, shift


def map_bits(blocks: np.ndarray, shifted: bool = False) -> float:
    """Ideal code length of the symbols (and the shift) in bits (the encoder's estimate)."""
    total = 2 * np.log2(2 * MAX_SHIFT + 1) if shifted else 0.0

    def cost(r: int, rows: np.ndarray) -> np.ndarray:
        nonlocal total
        f = blocks[r].astype(np.int64)
        total += float(-np.log2(rows[np.arange(f.size), f] / rows.sum(axis=1)).sum())
        return blocks[r]

    _rows(blocks.shape, 2 + shifted, cost)
    return total


@dataclass(frozen=True, eq=False)
class CopiedBlocks:
    """The encoder's choice for one frame: the side's code, the block symbols, the shift, the
    coded pixels and the map's estimated bits."""

    code: int
    blocks: np.ndarray  # (rows, cols) int8: COPIED, CODED or SHIFTED
    shift: tuple[int, int] | None
    coded: np.ndarray  # (H*W,) bool
    bits: float

    @property
    def side(self) -> int:
        return COPY_SIDES[self.code]

    @property
    def mix_bits(self) -> int:
        return (self.code << MIX_SHIFT) | (SHIFTED_BIT if self.shift is not None else 0)


def _shifted_same(cur: np.ndarray, prev: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """(H, W) bool: cur[y, x] == prev[y + dy, x + dx], False where that lies outside."""
    h, w = cur.shape
    out = np.zeros((h, w), bool)
    y0, y1 = max(0, -dy), min(h, h - dy)
    x0, x1 = max(0, -dx), min(w, w - dx)
    if y0 < y1 and x0 < x1:
        out[y0:y1, x0:x1] = cur[y0:y1, x0:x1] == prev[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
    return out


def _sampled(n: int, d: int, step: int) -> tuple[slice, slice] | None:
    """Along one axis of length n: (the sampled positions 0, step, 2 step, ... whose position + d
    lies inside, as a slice of the sampled axis; their sources, as a slice of the full axis)."""
    first = -(-max(0, -d) // step)  # the first sampled index whose source is >= 0
    last = -(-(n - max(0, d)) // step)  # one past the last whose source is < n
    if first >= last:
        return None
    return slice(first, last), slice(first * step + d, (last - 1) * step + d + 1, step)


def find_shift(cur: np.ndarray, prev: np.ndarray, same: np.ndarray) -> tuple[int, int] | None:
    """The vertical or horizontal scroll (dy, 0) or (0, dx), |d| <= SEARCH_RANGE, under which the
    most pixels that differ in place equal the previous frame's, counted on every SEARCH_STEP-th
    row and column; None when no shift explains at least 1 % of the sampled pixels (the first
    shift of the most, vertical ones first, each axis from -d up).

    Only the sampled pixels that differ in place are read (on a still GIF they are a few percent
    of the frame, where 2 x 128 passes over the whole sample took a tenth of its encoding), every
    shift of an axis in one compiled call (``search_kernel.shift_gains``; numpy's gathers of
    every (shift, pixel) pair took 11 ms a frame at 480x270, where two thirds of the pixels move)."""
    from . import search_kernel  # numba: loaded on first use

    h, w = cur.shape
    step = SEARCH_STEP
    moved = ~same[::step, ::step]
    ys, xs = np.nonzero(moved)
    ys, xs = ys * step, xs * step  # in the frame
    values = cur[ys, xs]
    best, best_gain = None, max(1, moved.size // 100)
    for axis, limit in ((0, min(SEARCH_RANGE, h - 1)), (1, min(SEARCH_RANGE, w - 1))):
        shifts = np.arange(-limit, limit + 1)
        shifts = shifts[shifts != 0]
        if not shifts.size:
            continue
        gains = search_kernel.shift_gains(prev, ys, xs, values, axis, shifts)
        k = int(np.argmax(gains))
        if gains[k] > best_gain:
            d = int(shifts[k])
            best, best_gain = ((d, 0) if axis == 0 else (0, d)), int(gains[k])
    return best


def find_shift_reference(cur: np.ndarray, prev: np.ndarray, same: np.ndarray) -> tuple[int, int] | None:
    """``find_shift`` a shift at a time over the whole sample (for testing it)."""
    h, w = cur.shape
    step = SEARCH_STEP
    c, moved = cur[::step, ::step], ~same[::step, ::step]
    full_rows, full_cols = _sampled(h, 0, step), _sampled(w, 0, step)
    best, best_gain = None, max(1, c.size // 100)
    for axis, limit in ((0, min(SEARCH_RANGE, h - 1)), (1, min(SEARCH_RANGE, w - 1))):
        for d in range(-limit, limit + 1):
            along = _sampled(h if axis == 0 else w, d, step)
            if d == 0 or along is None:
                continue
            rows, cols = (along, full_cols) if axis == 0 else (full_rows, along)
            src = prev[rows[1], cols[1]]
            gain = int(((c[rows[0], cols[0]] == src) & moved[rows[0], cols[0]]).sum())
            if gain > best_gain:
                best, best_gain = ((d, 0) if axis == 0 else (0, d)), gain
    return best


def choose(
    frame: np.ndarray, previous: np.ndarray, unchanged_bits: float = UNCHANGED_BITS
) -> CopiedBlocks | None:
    """The block side and shift for ``frame`` ((H, W, C)) after ``previous``, or None for no
    copies: each option is costed as its map's bits plus ``unchanged_bits`` for every coded pixel
    that equals its previous colour and CHANGED_BITS for every other coded pixel."""
    return choices(frame, previous, (unchanged_bits,))[0]


def choices(
    frame: np.ndarray, previous: np.ndarray, guesses: tuple[float, ...] | None = None
) -> list[CopiedBlocks | None]:
    """``choose``'s choice under each guess of an unchanged pixel's cost (UNCHANGED_GUESSES by
    default), without repeats, in the guesses' order: two where the guess decides, so that the
    encoder can estimate both."""
    options = _options(frame, previous)
    if not options:
        return [None]
    out: list[CopiedBlocks | None] = []
    for unchanged in UNCHANGED_GUESSES if guesses is None else guesses:
        best = min(options, key=lambda o: o[1] + unchanged * o[2] + CHANGED_BITS * o[3])[0]
        if not any(best is c for c in out):
            out.append(best)
    return out


def _options(frame: np.ndarray, previous: np.ndarray) -> list[tuple[CopiedBlocks | None, float, int, int]]:
    """Every copy option (None: none) with its map's bits and its coded pixels that equal their
    previous colour and that do not; [] when nothing could be copied."""
    cur, prev = pack_colours(frame), pack_colours(previous)  # one integer per pixel colour
    same = cur == prev
    n_same = int(same.sum())
    shift = find_shift(cur, prev, same)
    if n_same == 0 and shift is None:
        return []
    h, w = same.shape
    options: list[tuple[CopiedBlocks | None, float, int, int]] = [(None, 0.0, n_same, same.size - n_same)]
    moved = None if shift is None else _shifted_same(cur, prev, *shift)
    for code in range(1, len(COPY_SIDES)):
        side = COPY_SIDES[code]
        in_place = block_all(same, side)
        for use in (None,) if shift is None else (None, shift):
            blocks = np.where(in_place, COPIED, CODED).astype(np.int8)
            if use is not None:
                blocks[~in_place & block_all(moved, side)] = SHIFTED
                if not (blocks == SHIFTED).any():
                    continue
            coded = pixel_symbols(blocks, side, h, w) == CODED
            coded_same = int(same.ravel()[coded].sum())
            bits = map_bits(blocks, use is not None)
            option = CopiedBlocks(code, blocks, use, coded, bits)
            options.append((option, bits, coded_same, int(coded.sum()) - coded_same))
    return options
