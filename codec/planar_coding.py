"""Planar frames (format version 7): each frame in its source's own pixel format, coded in mode 6
or stored (mode 5), the planar counterpart of ``frame_coding``.

A planar stream's frame is a list of planes (luma, then the two chroma planes; one plane for
gray) of 8-bit (uint8) or 9-16-bit (uint16) samples. Its CRC and its stored form are the planes'
samples one after the other, one byte each, or two (little-endian) above 8 bits.
"""

from __future__ import annotations

import zlib
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..bitstream.errors import FormatError, out_of_memory
from ..bitstream.profile import CURRENT, FormatProfile
from . import dct_coding, motion, raster_rule
from .modes import planar

from .modes.base import MODE_PLANAR, MODE_STORED
from .planar_probe import PlanarProbe

if TYPE_CHECKING:
    from .planar_io import PixelFormat

#: The decoded frames an inter frame may copy from (the pipeline keeps this many).
REFERENCES = motion.REFERENCES


def geometry(fmt: PixelFormat, width: int, height: int) -> list[planar.PlaneGeometry]:
    """Every plane's size and subsampling for a frame of ``fmt``."""
    shapes = fmt.plane_shapes(width, height)
    return [
        planar.PlaneGeometry(
            h,
            w,
            *fmt.subsampling(k),
            fmt.depth,
            fmt.gbr and k in (1, 2),
        )
        for k, (h, w) in enumerate(shapes)
    ]


def _stored(plane: np.ndarray) -> np.ndarray:
    """A plane as the format stores it: one byte per 8-bit sample, two little-endian above."""
    return np.ascontiguousarray(plane, dtype=np.uint8 if plane.dtype == np.uint8 else "<u2")


def planes_bytes(planes: list[np.ndarray]) -> bytes:
    """The frame as the format stores and checksums it: the planes' samples, row-major, in order."""
    return b"".join(_stored(p).tobytes() for p in planes)


def planes_crc(planes: list[np.ndarray]) -> int:
    crc = 0
    for p in planes:
        crc = zlib.crc32(_stored(p).data, crc)
    return crc


#: The encoder's tools that ``without_tools`` can turn off for a comparison (the benchmarks of
#: each, ``bench/jpeg_planes.py`` and ``bench/mpeg_interpolation.py``); the format is the same
#: either way. "jpeg_levels": frames coded as their JPEG levels (kind 4, version 19);
#: "interpolations": inter frames whose references are read by an MPEG rule (version 20).
TOOLS = ("jpeg_levels", "interpolations")
_TOOLS_ON = dict.fromkeys(TOOLS, True)


@contextmanager
def without_tools(*names: str) -> Iterator[None]:
    """Within the block, ``encode_frame`` does not use the ``TOOLS`` named (the choices of the
    versions before them)."""
    unknown = set(names) - set(TOOLS)
    if unknown:
        raise ValueError(f"unknown planar encoder tools {sorted(unknown)} (known: {TOOLS})")
    before = dict(_TOOLS_ON)
    _TOOLS_ON.update(dict.fromkeys(names, False))
    try:
        yield
    finally:
        _TOOLS_ON.update(before)


def encode_frame(
    planes: list[np.ndarray],
    references: list[list[np.ndarray]],
    geom: list[planar.PlaneGeometry],
    probe: PlanarProbe | None = None,
) -> tuple[int, bytes]:
    """(mode, payload): mode 6, or the raw planes (mode 5) when coding would not make them
    smaller; of mode 6's kinds, the JPEG levels (version 19) where a JPEG decoder made the planes
    and they are smaller than the estimate of every other kind. ``references``: the decoded
    frames since the last key frame, the last first (at most REFERENCES); ``probe``: the
    stream's memory of which kinds are worth estimating (after a frame that JPEG levels won by
    far, the others are not estimated on the next ones; after frames that had no JPEG levels,
    the next ones are not fitted)."""
    raw = sum(g.height * g.width * (1 if g.depth == 8 else 2) for g in geom)
    jpeg = None  # version 19: the planes' JPEG levels, where a JPEG decoder made them
    codes = None
    if _TOOLS_ON["jpeg_levels"] and planar.jpeg_codable(geom) and (probe is None or probe.try_jpeg()):
        codes = dct_coding.fit_frame(planes)
        if probe is not None:
            probe.fitted_jpeg(codes is not None)
    if codes is not None:
        jpeg = planar.encode_jpeg(codes, references)
        if len(jpeg) < raw and probe is not None and probe.skip_samples():
            return MODE_PLANAR, jpeg
        raw = min(raw, len(jpeg))
    with raster_rule.schedules_kept():
        candidate = planar.estimate(planes, references, geom, probe, _TOOLS_ON["interpolations"])
        if probe is not None:
            probe.update_jpeg(None if jpeg is None else len(jpeg), candidate.bits)
        if candidate.bits / 8 < raw:
            payload = planar.encode(candidate)
            if len(payload) < raw:
                return MODE_PLANAR, payload
    if jpeg is not None and len(jpeg) == raw:
        return MODE_PLANAR, jpeg
    return MODE_STORED, planes_bytes(planes)


def decode_frame(
    mode: int,
    payload: bytes,
    references: list[list[np.ndarray]],
    geom: list[planar.PlaneGeometry],
    profile: FormatProfile = CURRENT,
) -> list[np.ndarray]:
    """The planes of a coded planar frame of ``profile``'s format version; FormatError for a mode
    planar streams do not have."""
    if mode == MODE_PLANAR:
        try:
            with raster_rule.schedules_kept():
                return planar.decode(
                    payload,
                    references,
                    geom,
                    profile.error_levels,
                    profile.refinement,
                    profile.field_coding,
                    substreams=profile.substreams,
                    deep_samples=profile.deep_samples,
                    large_blocks=profile.large_blocks,
                    jpeg_planes=profile.jpeg_planes,
                    interpolations=profile.interpolations,
                )
        except FormatError:
            raise
        except Exception as exc:  # constriction rejects malformed payloads with assorted exceptions
            if out_of_memory(exc):
                raise
            raise FormatError(f"planar frame payload could not be decoded ({exc})") from exc
    if mode == MODE_STORED:
        sizes = [g.height * g.width * (1 if g.depth == 8 else 2) for g in geom]
        if len(payload) != sum(sizes):
            raise FormatError(f"stored planar frame holds {len(payload)} bytes, expected {sum(sizes)}")
        out, at = [], 0
        for g, size in zip(geom, sizes, strict=True):
            dtype = np.uint8 if g.depth == 8 else np.dtype("<u2")
            plane = np.frombuffer(payload, dtype, g.height * g.width, at).reshape(g.height, g.width)
            if g.depth > 8 and int(plane.max(initial=0)) > g.max_value:
                raise FormatError(f"stored planar frame has a sample above {g.max_value} ({g.depth} bits)")
            out.append(plane.astype(np.uint8 if g.depth == 8 else np.uint16))
            at += size
        return out
    raise FormatError(f"mode {mode} in a planar stream (planar streams use modes 5 and 6)")
