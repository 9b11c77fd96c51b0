"""What a stream's format version means for coding: one frozen profile instead of yes/no flags.

Every layer that codes or decodes a frame asks the profile (``profile.integer_tables``, ...) rather
than comparing version numbers, so a new format version is one entry in ``_INTRODUCED`` (plus a
field if it brings a new rule) and ``LATEST``; nothing else compares versions. The encoder always
writes ``LATEST``; the decoder reads any version from ``SUPPORTED_VERSIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import UnsupportedVersionError

#: The version this build writes.
LATEST = 21

#: The stored mode's id (FRAM ``mode``), needed by the container: its payload is raw bytes, not words.
MODE_STORED = 5
#: The mode of a frame read from a REPT chunk (version 9): the frame before it, again. It never
#: appears in a FRAM (a reader refuses it there).
MODE_REPEAT = 7
#: The palette LZ mode's id (version 15): its payload is an LZMA2 stream, not words (the container
#: needs it, like the stored mode's).
MODE_PALETTE_LZ = 8

#: The first version with each rule; a profile's field is true from that version on.
_INTRODUCED = {
    "palette_frames": 2,  # PLTE chunks, palette modes 2 and 3, the FRAM mix field
    "integer_tables": 3,  # integer Laplace tables and integer palette rows (before: QuantizedLaplace)
    "context_counts": 3,  # mix bits 12-15: palette rows blended with context counts
    "palette_update": 3,  # mode 4
    "integer_coupling": 4,  # colour coupling in integers (before: float32)
    "interlaced_palette_inter": 5,  # modes 3 and 4 in intra's pass order (before: checkerboard)
    "stored_mode": 6,  # mode 5: the frame's raw pixels
    "key_frames": 6,  # FRAM flags byte (bit 0: key frame), INDX chunk, FEND with the index offset
    "planar_frames": 7,  # PFMT chunk: frames in the source's pixel format, mode 6 (planar)
    "repeat_context": 8,  # 32-bit FRAM mix field; palette modes' repeat context (mix bits 16-17)
    "copied_blocks": 9,  # palette modes' blocks copied from the previous frame (mix bits 18-19)
    "repeat_frames": 9,  # REPT chunk: a run of frames equal to the frame before them
    "row_schedule": 10,  # palette frames in the row-first pass schedule (mix bit 21)
    "compact_framing": 11,  # one-letter chunk types, varint lengths and fields (small streams)
    "error_levels": 12,  # raster planar planes: scale indices also by the neighbours' coded errors
    "refinement": 13,  # raster planar planes: means refined by the plane's linear weights
    "field_coding": 13,  # planar motion fields in wavefronts against the neighbours' median
    "substreams": 14,  # raster planar frames: runs of tile rows, each in a range coder of its own
    "lz_frames": 15,  # mode 8: a palette frame's indices in an LZMA2 stream
    "rgb_planes": 16,  # PFMT pixel format 13: RGB frames as planes G, B - G, R - G (planar rule)
    "deep_samples": 17,  # PFMT pixel formats 15-22: 14- and 16-bit planes
    "more_formats": 18,  # PFMT pixel formats 29-54: 4:4:0, 4:1:1, 4:1:0, 9 bits, YUV with alpha
    "large_blocks": 18,  # planar inter frames' motion fields of 16x16 blocks (kind word bit 17)
    "jpeg_planes": 19,  # planar frames of kind 4: the 8x8 blocks' JPEG levels (codec.dct_coding)
    "interpolations": 20,  # planar inter frames read their references by an MPEG rule (kind word bits 18-19)
    "palette_steps": 21,  # PLTE: new colours in their references' order (steps 0..255), kept colours coded
}


@dataclass(frozen=True)
class FormatProfile:
    """The coding rules of one format version (see FORMAT.md, a section per older version)."""

    version: int
    palette_frames: bool
    integer_tables: bool
    context_counts: bool
    palette_update: bool
    integer_coupling: bool
    interlaced_palette_inter: bool
    stored_mode: bool
    key_frames: bool
    planar_frames: bool
    repeat_context: bool
    copied_blocks: bool
    repeat_frames: bool
    row_schedule: bool
    compact_framing: bool
    error_levels: bool
    refinement: bool
    field_coding: bool
    substreams: bool
    lz_frames: bool
    rgb_planes: bool
    deep_samples: bool
    more_formats: bool
    large_blocks: bool
    jpeg_planes: bool
    interpolations: bool
    palette_steps: bool

    @staticmethod
    def for_version(version: int) -> FormatProfile:
        """The profile of ``version``; UnsupportedVersionError for one this build cannot read."""
        if version not in SUPPORTED_VERSIONS:
            raise UnsupportedVersionError(
                f"stream format version {version} is not supported (this build reads {SUPPORTED_VERSIONS})"
            )
        return _PROFILES[version]


def introduced(rule: str) -> int:
    """The first version with ``rule`` (a FormatProfile field), for messages that name it."""
    return _INTRODUCED[rule]


def _build(version: int) -> FormatProfile:
    rules = {f.name: version >= _INTRODUCED[f.name] for f in fields(FormatProfile) if f.name != "version"}
    return FormatProfile(version=version, **rules)


SUPPORTED_VERSIONS = tuple(range(1, LATEST + 1))
_PROFILES = {v: _build(v) for v in SUPPORTED_VERSIONS}
#: The profile the encoder writes.
CURRENT = _PROFILES[LATEST]
