"""Large frames' palette intra schedule chosen on bands of rows (``codec.frame_sample``): where the
bands lie, when the encoder trusts them, and that the streams are the ones it made without them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from fpcodec.codec import Decoder, copied_blocks, decode, encode, frame_sample, pass_sample, row_schedule
from fpcodec.codec import frame_coding as fc
from fpcodec.codec.io import VideoReader
from fpcodec.codec.modes import palette

from conftest import assert_frames_equal

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("h, w", [(1449, 1449), (3281, 2224), (2965, 5264), (300, 20000), (20000, 105)])
def test_the_bands_are_whole_aligned_rows_spread_over_the_frame(h: int, w: int) -> None:
    rows = frame_sample.sample_rows(h, w)
    band = frame_sample.BAND
    starts = rows[::band]
    assert rows.size % band == 0 and len(starts) >= 2
    assert (rows.reshape(-1, band) == starts[:, None] + np.arange(band)).all()  # whole bands
    assert (starts % 16 == 0).all() and (np.diff(starts) > band).all()  # aligned, apart
    assert starts[0] == 0 and h - band - 16 < starts[-1] <= h - band  # top to bottom
    pixels = rows.size * w
    assert pixels >= frame_sample.SAMPLE_PIXELS or len(starts) == 2
    assert pixels < frame_sample.SAMPLE_PIXELS + band * w or len(starts) == 2
    assert 2 * rows.size <= h


@pytest.mark.parametrize("h, w", [(1024, 1024), (1447, 1447), (200, 20000), (10, 300000)])
def test_small_frames_and_frames_of_few_rows_have_no_bands(h: int, w: int) -> None:
    assert frame_sample.sample_rows(h, w) is None


def _stacked(name: str) -> np.ndarray:
    """The first frame of ``name`` over itself upside down: enough rows for two bands."""
    page, _ = next(VideoReader(DATA / name).frames())
    return np.ascontiguousarray(np.concatenate([page, page[::-1]], axis=0))


@pytest.fixture
def small_samples(monkeypatch):
    """Frames of 2^14 pixels and more get their schedule chosen on bands of about 2^14 pixels;
    what ``palette.sampled_schedules`` returned, call by call."""
    monkeypatch.setattr(frame_sample, "SAMPLE_FROM", 1 << 14)
    monkeypatch.setattr(frame_sample, "SAMPLE_PIXELS", 1 << 14)
    calls = []
    real = palette.sampled_schedules

    def spy(*args, **kwargs):
        calls.append(real(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(palette, "sampled_schedules", spy)
    return calls


def test_a_large_screenshot_is_estimated_whole_in_the_schedule_its_bands_choose(small_samples, monkeypatch):
    """jmeter_url_rewrite.gif (a 4-colour dialog, 409x170) stacked to 340 rows: the row
    schedule wins on its two bands by more than the margin, so only it is estimated on the whole
    frame, which codes to the same bytes as estimating both."""
    monkeypatch.setattr(pass_sample, "SAMPLE_PIXELS", 1 << 40)  # the estimates read every pixel
    page = _stacked("jmeter_url_rewrite.gif")
    c = next(c for c in fc.candidates(page, None) if c.mode == fc.MODE_PALETTE_INTRA)
    assert small_samples == [(True,)]
    assert c.mix & row_schedule.ROWS_BIT
    coded_bits = 8 * len(fc._ENCODERS[c.mode](c)) + palette.body_bits(c.palette_body)
    assert abs(coded_bits - c.bits) < 0.02 * c.bits + 64, (coded_bits, c.bits)  # a whole-frame estimate

    data = encode([page], model="last-frame")
    assert_frames_equal(decode(data).frames, [page])
    monkeypatch.setattr(frame_sample, "SAMPLE_FROM", 1 << 40)  # both schedules estimated whole
    assert encode([page], model="last-frame") == data


def test_close_schedules_are_both_estimated_whole(small_samples) -> None:
    """A video frame (carphonew_000, 200x164, stacked to 328 rows): the schedules' estimates on
    the bands are within the margin, so both are estimated on the whole frame."""
    page = _stacked("carphonew_000_5f.gif")
    fc.candidates(page, None)
    assert small_samples == [palette.SCHEDULES]


def test_frames_with_copied_blocks_choose_without_bands(small_samples) -> None:
    page = _stacked("jmeter_url_rewrite.gif")
    later = page.copy()
    later[200:216, 32:64] = page[0, 0]  # one block changed: the rest is copied
    data = encode([page, later], model="last-frame")
    assert_frames_equal(decode(data).frames, [page, later])
    assert small_samples == [(True,)]  # the first frame's only
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    assert records[1].mode == fc.MODE_PALETTE_INTRA and copied_blocks.side_of(records[1].mix)


def test_the_bench_reports_the_same_bytes_and_the_bands_decision(tmp_path, capsys) -> None:
    from PIL import Image

    from fpcodec.bench import schedule_sample

    clip = tmp_path / "stacked.gif"
    Image.fromarray(_stacked("jmeter_url_rewrite.gif")).save(clip)
    assert schedule_sample.main([str(clip), "--from", str(1 << 14), "--pixels", str(1 << 14)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| stacked.gif"))
    _, _, whole, banded, change, decided, _ = (cell.strip() for cell in row.split("|"))
    assert whole == banded and change == "+0.000%" and decided == "rows"
