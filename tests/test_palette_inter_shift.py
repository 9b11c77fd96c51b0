"""Palette inter's scale shift is fitted on the pixels it codes that changed (``palette.inter_scale_shift``),
not taken from RGB inter's fit over the whole frame."""

from __future__ import annotations

import io

import numpy as np

from fpcodec.codec import Decoder, decode, encode
from fpcodec.codec.io import VideoReader
from fpcodec.codec.modes import palette, rgb_inter
from fpcodec.codec.modes.base import FrameToCode
from fpcodec.models.last_frame import last_frame_params

from conftest import ODD, assert_frames_equal


def _icon_on_background() -> tuple[np.ndarray, np.ndarray]:
    """A flat two-colour background, then the same with a new 16x16 icon of 6 colours: a tenth of
    the frame changed, as in Pillow's disposal test GIFs."""
    rng = np.random.default_rng(4)
    previous = np.zeros((48, 48, 3), np.uint8)
    previous[:] = (135, 206, 235)
    previous[24:, :] = (30, 144, 255)
    colours = np.array(
        [(0, 0, 255), (255, 0, 0), (255, 255, 0), (0, 128, 0), (255, 255, 255), (0, 0, 0)], np.uint8
    )
    frame = previous.copy()
    frame[8:24, 20:36] = colours[rng.integers(0, len(colours), (16, 16))]
    return previous, frame


def test_the_shift_is_fitted_on_the_changed_pixels() -> None:
    previous, frame = _icon_on_background()
    pred = last_frame_params([previous, previous])
    inter = rgb_inter.estimate(FrameToCode.of(frame), pred)
    wide = palette.inter_scale_shift(inter, frame, previous, None)
    assert wide > inter.scale_shift + 16, (inter.scale_shift, wide)
    # with nothing changed, RGB inter's own shift
    still = rgb_inter.estimate(FrameToCode.of(previous), pred)
    assert palette.inter_scale_shift(still, previous, previous, None) == still.scale_shift


def test_a_disposal_gif_codes_smaller_than_its_gif() -> None:
    """Pillow's multiple_comments.gif (100x100, new 32x32 icons on an unchanged background): 1,611
    bytes with RGB inter's shift (-63 on its later frames), 1,499 with the fitted one, against the
    GIF's 1,540; the frames round-trip exactly."""
    path = ODD / "multiple_comments.gif"
    reader = VideoReader(path)
    frames, durations = zip(*reader.frames(), strict=True)
    data = encode(frames, durations=durations, model="last-frame", time_base=reader.info.time_base)
    assert len(data) < path.stat().st_size, (len(data), path.stat().st_size)
    assert_frames_equal(decode(data).frames, frames)
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    assert any(r.mode == palette.MODE_PALETTE_INTER and r.scale_shift > 0 for r in records)
