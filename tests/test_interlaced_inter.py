"""Format version 5: palette inter and palette update frames in the coarse-to-fine pixel order.

Before version 5 those frames were coded in a two-pass checkerboard, so half the pixels had only
the temporal prediction; from version 5 they use ``intra.passes``, so all but the first grid's
pixels also have decoded neighbours voting. Old streams keep the checkerboard.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from fpcodec.bitstream.errors import ChecksumError
from fpcodec.bitstream.profile import LATEST, FormatProfile
from fpcodec.codec import Decoder, decode, encode
from fpcodec.codec import frame_coding as fc
from fpcodec.codec.modes import palette

from conftest import assert_frames_equal, assert_old_stream_decodes

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (5, 1), (16, 16), (17, 33), (40, 36)])
@pytest.mark.parametrize("interlaced", [False, True])
def test_inter_geometry_codes_every_pixel_once_after_its_neighbours(size, interlaced) -> None:
    """The decoder can mirror a pass only if every neighbour it reads was coded in an earlier one."""
    h, w = size
    order = np.full(h * w, -1)
    profile = FormatProfile.for_version(5 if interlaced else 4)
    for k, p in enumerate(palette.inter_geometry(h, w, profile)):
        assert (order[p.targets] == -1).all()
        order[p.targets] = k
        nbr = p.neighbours[p.neighbours >= 0]
        assert (order[nbr] >= 0).all() and (order[nbr] < k).all()
    assert (order >= 0).all()


def test_version_4_stream_still_decodes() -> None:
    """tests/data/v4_stream.fpc was written by the version-4 encoder (commit c273a33) with
    convlstm-hybrid-int from the frames of tests/data/v3_stream_frames.npy; like the v3 fixture it
    covers palette intra, palette inter (checkerboard), RGB inter and palette update."""
    assert_old_stream_decodes("v4_stream.fpc", 4)


def test_version_4_order_read_as_version_5_fails_its_checksum() -> None:
    """The fixture's palette inter frames need the checkerboard: relabelled as version 5 (the
    framing is the same), a frame decodes differently and the per-frame CRC refuses it."""
    data = bytearray((DATA / "v4_stream.fpc").read_bytes())
    data[8:10] = (5).to_bytes(2, "little")
    with pytest.raises(ChecksumError, match=r"frame [12] does not match its checksum"):
        decode(bytes(data))


def test_version_5_palette_inter_and_update_round_trip() -> None:
    """The same frames coded now: the modes are chosen afresh, and every frame comes back exactly."""
    frames = list(np.load(DATA / "v3_stream_frames.npy"))
    data = encode(frames, model="convlstm-hybrid-int")
    assert data[8:10] == (LATEST).to_bytes(2, "little")
    modes = {rec.mode for rec in Decoder(io.BytesIO(data), load_model=False).records()}
    assert {fc.MODE_PALETTE_INTER, fc.MODE_PALETTE_UPDATE} <= modes
    assert_frames_equal(decode(data).frames, frames)


def test_version_5_stream_still_decodes() -> None:
    """tests/data/v5_stream.fpc was written by the version-5 encoder (commit 76bb7cd) with
    convlstm-hybrid-int from the frames of tests/data/v3_stream_frames.npy (copied as
    v5_stream_frames.npy); it covers palette intra, palette inter (intra's pass order), RGB inter and
    palette update in version 5's framing (no FRAM flags, no index)."""
    assert np.array_equal(np.load(DATA / "v5_stream_frames.npy"), np.load(DATA / "v3_stream_frames.npy"))
    assert_old_stream_decodes("v5_stream.fpc", 5)


def test_version_6_stream_still_decodes() -> None:
    """tests/data/v6_stream.fpc was written by the version-6 encoder (commit a594b6a) with
    convlstm-hybrid-int from the frames of tests/data/v3_stream_frames.npy; version 7 only added
    planar streams, so an RGB stream of version 6 decodes by the same rules."""
    assert_old_stream_decodes("v6_stream.fpc", 6)
