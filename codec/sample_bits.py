"""Which bits of a plane's samples carry information: a planar frame's sample rules (version 17).

A 16-bit file often holds fewer bits: 10-bit video in a 16-bit container, 8-bit samples shifted
up (FFmpeg's YUV conversions) or replicated into the low byte (PNG tools' x257), or small values
(Pillow's ``I;16`` from an 8-bit image). Coded as they stand, the bits that are zero or copies cost
as much as noise. A plane's rule says which bits are coded: its samples ``v`` are coded as ``c = v
>> shift`` in ``depth`` bits (8 at least), the low ``shift`` bits being zero or, with
``replicate``, the top ``shift`` bits of ``c`` (FLAC's "wasted bits", and PNG's bit replication
undone). A frame's reference frames are brought to its planes' coded values the same way
(shifted, clamped) before anything is predicted from them, so the planar rule works on ``c``
exactly as on a plane of that depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bitstream.errors import FormatError

#: The largest shift a rule word holds (4 bits).
MAX_SHIFT = 15
#: Samples a replication test reads before the whole plane (most planes fail it there).
_PROBE = 4096


@dataclass(frozen=True)
class SampleBits:
    """A plane's rule: ``shift`` low bits not coded (zero, or with ``replicate`` copies of the coded
    value's top bits), the rest coded as samples of ``depth`` bits."""

    shift: int
    depth: int
    replicate: bool = False

    def word(self) -> int:
        """The rule's u32 (FORMAT.md, "Sample rules"): bits 0-3 shift, 4-7 depth - 8, 8 replicate."""
        return self.shift | (self.depth - 8) << 4 | int(self.replicate) << 8


def plain(depth: int) -> SampleBits:
    """The rule of a plane coded as it stands."""
    return SampleBits(0, depth)


def from_word(word: int, depth: int) -> SampleBits:
    """A rule word of a plane of ``depth`` bits; a FormatError for one no encoder writes."""
    rule = SampleBits(word & 15, 8 + (word >> 4 & 15), bool(word >> 8 & 1))
    if word >> 9 or not (rule.shift < depth and rule.depth <= depth):
        raise FormatError(f"planar frame: sample rule word {word:#x} for a plane of {depth} bits")
    if rule.replicate and not 1 <= 2 * rule.shift <= depth:
        raise FormatError(f"planar frame: sample rule word {word:#x} replicates {rule.shift} of {depth} bits")
    return rule


def fit(plane: np.ndarray, depth: int) -> SampleBits:
    """The rule that codes the fewest bits of ``plane`` (``depth``-bit samples): the most low bits
    that are zero in every sample or, if more, that replicate every sample's top bits; then the
    coded depth that holds the largest coded value (8 at least). An 8-bit plane is coded as it
    stands: its coded depth could not be smaller."""
    flat = plane.ravel()
    if not flat.size or depth <= 8:
        return plain(depth)
    ored = int(np.bitwise_or.reduce(flat))
    # every bit of an all-zero plane is zero: shifted by all it can be
    shift = min((ored & -ored).bit_length() - 1 if ored else depth, depth - 1, MAX_SHIFT)
    replicate = False
    for s in range(depth // 2, shift, -1):  # the widest replication first
        if _replicates(flat[:_PROBE], s, depth) and _replicates(flat, s, depth):
            shift, replicate = s, True
            break
    top = int(flat.max()) >> shift
    return SampleBits(shift, min(max(8, top.bit_length()), depth), replicate)


def _replicates(values: np.ndarray, shift: int, depth: int) -> bool:
    v = values.astype(np.int64)
    c = v >> shift
    return bool(np.array_equal(v, (c << shift) | (c >> (depth - 2 * shift))))


def reduce(samples: np.ndarray, rule: SampleBits) -> np.ndarray:
    """A plane's samples (or a reference frame's, for it) as coded values under ``rule`` (int64):
    shifted, and clamped to the coded depth (an earlier frame may hold larger samples; a plane's
    own fit them)."""
    return np.minimum(samples.astype(np.int64) >> rule.shift, (1 << rule.depth) - 1)


def expand(coded: np.ndarray, rule: SampleBits, depth: int) -> np.ndarray:
    """The samples of a plane's decoded values (int64); a FormatError where a value does not fit
    the plane's ``depth`` bits once shifted back."""
    if not rule.shift:
        return coded
    if coded.size and int(coded.max()) > ((1 << depth) - 1) >> rule.shift:
        raise FormatError(
            f"planar frame: coded sample {int(coded.max())} above {depth} bits shifted by {rule.shift}"
        )
    low = coded >> (depth - 2 * rule.shift) if rule.replicate else 0
    return (coded << rule.shift) | low
