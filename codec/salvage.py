"""Decode what can be decoded from a damaged stream (``fpcodec decode --salvage``).

A frame that cannot be decoded (a chunk whose CRC or length is damaged, a payload that does not
decode, a reconstruction that fails its pixel CRC) loses every frame up to the next key frame, which
needs nothing from before it. The scanner resynchronises on the next intact chunk: it looks for the
next chunk type tag whose length fits and whose CRC checks, and resumes decoding at the next key
frame (its PLTE, if it has one, then its FRAM). Every frame returned is pixel-exact (its CRC
checked); the lost frames are reported, not guessed.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from ..bitstream import container
from ..bitstream.errors import FormatError
from ..bitstream.palette import decode_palette
from ..bitstream.profile import FormatProfile
from .pipeline import DecodedFrame, Decoder


@dataclass
class SalvageReport:
    """What a salvage pass found: the frames lost, and the frame count it believes in."""

    lost: list[int] = field(default_factory=list)
    total: int | None = None
    damaged_at: list[int] = field(default_factory=list)  # byte offsets where decoding failed


def _length_limits(dec: Decoder, profile: FormatProfile) -> dict[bytes, int]:
    """The longest body each chunk type can have in ``dec``'s stream: a FRAM at most its raw pixels
    (two bytes a sample covers deep planar formats) plus its fields, since the encoder stores a frame
    whose coded payload would be larger. Candidates longer than this are not checked, which keeps
    the scan over damaged bytes linear: in version 11 a one-letter type occurs every ~50 bytes of
    coded data, and a CRC over every length a random varint can claim would be quadratic."""
    h = dec.header
    frames = h.frame_count if h.frame_count is not None else container.MAX_CHUNK
    return {
        container.CHUNK_FRAME: 2 * h.width * h.height * h.channels + 64,
        container.CHUNK_PALETTE: 64 + 8 * 256 * 4,
        container.CHUNK_REPEAT: 10 * (container.MAX_REPEATS + 1),
        container.CHUNK_INDEX: 32 * (frames + 1),
        container.CHUNK_END: container.end_body_size(profile),
    }


def _next_chunk(data: mmap.mmap, pos: int, profile: FormatProfile, limits: dict[bytes, int]) -> int | None:
    """Offset of the next intact chunk starting after ``pos`` (by its type tag, a plausible
    length, a type tag right after it, and its CRC), or None."""
    tags, tag_at = container.chunk_tags(profile).values(), container.tag_offset(profile)
    found = {tag: data.find(tag, pos + 1 + tag_at) for tag in tags}  # each tag's next place
    while True:
        hits = [q for q in found.values() if q >= 0]
        if not hits:
            return None
        at = min(hits)
        if _plausible(data, at - tag_at, profile, limits, tag_at):
            return at - tag_at
        for tag, q in found.items():
            if q == at:
                found[tag] = data.find(tag, at + 1)


def _plausible(
    data: mmap.mmap, start: int, profile: FormatProfile, limits: dict[bytes, int], tag_at: int
) -> bool:
    """Whether an intact chunk starts at ``start``: cheap tests first, the CRC last."""
    prefix = container.chunk_prefix(data, start, profile)
    if prefix is None:
        return False
    kind, length, body_at = prefix
    limit = limits.get(kind, -1)
    if length > limit or (kind == container.CHUNK_END and length != limit):
        return False
    after = body_at + length + 4 + tag_at  # the next chunk's type, unless the stream ends here
    if after < len(data) and not data[after : after + 1].isalpha():
        return False
    return container.parse_chunk(data, start, profile) is not None


def salvage(dec: Decoder, inp: BinaryIO, report: SalvageReport) -> Iterator[DecodedFrame]:
    """The frames of ``dec``'s stream that can be decoded, in order; ``report`` collects the rest.

    ``inp`` is the stream's file (seekable, opened for reading); ``dec`` has read its header.
    """
    profile = dec.profile
    data = mmap.mmap(inp.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        pos = container.PREAMBLE_SIZE
        head = container.parse_chunk(data, pos, profile)
        if head is None or head[0] != container.CHUNK_HEAD:
            raise FormatError("the stream header is damaged: nothing can be salvaged without it")
        pos = head[2]
        limits = _length_limits(dec, profile)
        history = dec.new_history()
        palette = None
        pending: bytes | None = None
        expected = 0  # the next frame index in sequence
        synced = True  # the frames before decoded; False until the next key frame after damage
        decoded: set[int] = set()
        highest = -1
        while True:
            chunk = container.parse_chunk(data, pos, profile)
            if chunk is None:
                report.damaged_at.append(pos)
                synced, pending = False, None
                nxt = _next_chunk(data, pos, profile, limits)
                if nxt is None:
                    break
                pos = nxt
                continue
            kind, body, end = chunk
            pos = end
            if kind == container.CHUNK_PALETTE and profile.palette_frames:
                if profile.key_frames:
                    pending = body
                elif synced:
                    try:
                        palette = decode_palette(body, palette, dec.header.channels, profile)
                    except FormatError:
                        report.damaged_at.append(pos)
                        synced = False
            elif kind == container.CHUNK_FRAME or (kind == container.CHUNK_REPEAT and profile.repeat_frames):
                try:
                    if kind == container.CHUNK_FRAME:
                        records = [container.decode_frame(body, profile)]
                    else:  # copies of the frame before: usable only right after it
                        records, pending = container.decode_repeats(body, profile), None
                except FormatError:
                    report.damaged_at.append(pos)
                    synced, pending = False, None
                    continue
                for rec in records:
                    highest = max(highest, rec.index)
                    usable = rec.key or (synced and rec.index == expected)
                    if usable:
                        try:
                            if rec.key:
                                palette = None
                            if pending is not None:
                                palette = decode_palette(pending, palette, dec.header.channels, profile)
                            frame = dec.decode_record(rec, palette, history)
                        except FormatError:
                            usable = False
                            report.damaged_at.append(pos)
                    if usable:
                        synced = True
                        decoded.add(rec.index)
                        expected = rec.index + 1
                        yield frame
                    else:
                        synced = False
                        history.clear()
                    pending = None
            elif kind == container.CHUNK_END:
                try:
                    report.total, _ = container.decode_end(body, profile)
                except FormatError:
                    pass
                break
            # INDX and anything else: nothing to decode
        if report.total is None:
            report.total = dec.header.frame_count if dec.header.frame_count is not None else highest + 1
        report.lost = [i for i in range(report.total) if i not in decoded]
    finally:
        data.close()
