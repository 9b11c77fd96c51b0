"""The row schedule (format version 10): palette frames coded rows first, then columns within rows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from fpcodec.bitstream.errors import FormatError
from fpcodec.bitstream.profile import CURRENT, FormatProfile
from fpcodec.codec import Decoder, decode, encode, intra, row_schedule
from fpcodec.codec import frame_coding as fc
from fpcodec.codec import palette_context as ctx
from fpcodec.codec.io import VideoReader
from fpcodec.codec.modes import palette, palette_update
from fpcodec.codec.modes.base import FrameToCode
from fpcodec.models.last_frame import last_frame_params

from conftest import assert_frames_equal, assert_old_stream_decodes

DATA = Path(__file__).parent / "data"


def _text_page() -> np.ndarray:
    frame, _ = next(VideoReader(DATA / "text_like.gif").frames())
    return frame


def _pass_ids(height: int, width: int) -> np.ndarray:
    ids = np.full(height * width, -1)
    for k, p in enumerate(row_schedule.passes(height, width)):
        assert (ids[p.targets] == -1).all()
        ids[p.targets] = k
    return ids.reshape(height, width)


@pytest.mark.parametrize("h, w", [(1, 1), (1, 40), (37, 1), (17, 33), (70, 45)])
def test_every_pixel_is_in_exactly_one_pass_and_reads_only_earlier_ones(h: int, w: int) -> None:
    ids = _pass_ids(h, w)
    assert (ids >= 0).all()
    for k, p in enumerate(row_schedule.passes(h, w)):
        template = np.concatenate([p.neighbours, row_schedule.ring(p, h, w).positions(p.targets)])
        inside = template >= 0
        assert (ids.ravel()[template[inside]] < k).all()
        ty, tx = np.divmod(p.targets, w)
        for j, (dy, dx) in enumerate(p.template):  # -1 exactly where the offset leaves the frame
            out = (ty + dy < 0) | (ty + dy >= h) | (tx + dx < 0) | (tx + dx >= w)
            assert np.array_equal(template[j] < 0, out)


def test_templates_are_the_sixteen_nearest_decoded_positions() -> None:
    """FORMAT.md's example (the last pass) and its rule, checked against a 96x96 frame's passes."""
    assert row_schedule.offsets(4, 4) == (
        *((0, -1), (0, 1), (-1, 0), (1, 0)),
        *((-1, -1), (-1, 1), (1, -1), (1, 1), (-1, -2), (-1, 2), (1, -2), (1, 2)),
        *((-2, -1), (-2, 1), (2, -1), (2, 1)),
    )
    assert row_schedule.offsets(0, 0) == ()
    for row_level in range(len(row_schedule.LEVELS)):  # the vectorized rule is the loop's
        for col_level in range(len(row_schedule.LEVELS)):
            got = row_schedule.offsets(row_level, col_level)
            assert got == row_schedule.offsets_reference(row_level, col_level)
            assert all(type(v) is int for pos in got for v in pos)  # no numpy scalars in the format
    size = 160  # a pixel near the centre has every offset within reach inside the frame
    ids = _pass_ids(size, size)
    for k, p in enumerate(row_schedule.passes(size, size)):
        if not p.template:
            continue
        assert len(p.template) == row_schedule.TEMPLATE
        ty, tx = np.divmod(p.targets, size)
        i = int(np.argmin(np.abs(ty - size // 2) + np.abs(tx - size // 2)))
        y, x = int(ty[i]), int(tx[i])
        earlier = [
            (dy * dy + dx * dx, abs(dy), dy, dx)
            for dy in range(-32, 33)
            for dx in range(-32, 33)
            if ids[y + dy, x + dx] < k
        ]
        assert [(dy, dx) for *_, dy, dx in sorted(earlier)[:16]] == list(p.template)


def test_wide_context_keys_match_the_reference() -> None:
    rng = np.random.default_rng(5)
    canvas = rng.integers(-1, 256, 2000).astype(np.int32)
    nbr = np.where(rng.random((4, 500)) < 0.9, rng.integers(0, 2000, (4, 500)), -1).astype(np.int32)
    targets = rng.integers(0, 2000, 500).astype(np.int32)
    ring = intra.Ring(rng.integers(-5, 6, (12, 2)), 40, 50)
    want = ctx.context_keys_reference(canvas, nbr, ring, wide=True, targets=targets)
    got = ctx.context_keys(canvas, nbr, ring, wide=True, targets=targets)
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b)
    narrow = ctx.context_keys(canvas, nbr, ring, targets=targets)
    assert not np.array_equal(got[1], narrow[1]) and np.array_equal(got[2], narrow[2])
    c = [np.where(n >= 0, canvas[np.maximum(n, 0)].astype(np.int64) + 2, 0) for n in nbr]
    assert np.array_equal(got[0], c[0] * 512 + c[1])
    assert np.array_equal(got[1], ((c[0] * 512 + c[1]) * 512 + c[2]) * 512 + c[3])


def test_a_screenshot_is_coded_in_the_row_schedule_and_is_much_smaller(monkeypatch) -> None:
    """jmeter_url_rewrite.gif (a 4-colour dialog screenshot): the pass coder picks the row schedule,
    which codes it in 39 % fewer bytes than the coarse-to-fine passes (this fails without it).
    (Palette LZ, left out here, codes it smaller still: ``test_palette_lz``.)"""
    page, _ = next(VideoReader(DATA / "jmeter_url_rewrite.gif").frames())
    data = encode([page], model="last-frame", lz_frames=False)
    (rec,) = Decoder(io.BytesIO(data), load_model=False).records()
    assert rec.mode == fc.MODE_PALETTE_INTRA and rec.mix & row_schedule.ROWS_BIT
    assert_frames_equal(decode(data).frames, [page])
    monkeypatch.setattr(palette, "SCHEDULES", (False,))
    coarse = encode([page], model="last-frame", lz_frames=False)
    (rec,) = Decoder(io.BytesIO(coarse), load_model=False).records()
    assert not rec.mix & row_schedule.ROWS_BIT
    assert len(data) < 0.75 * len(coarse)


def _frames_in_rows(monkeypatch, frames: list[np.ndarray], model: str = "last-frame") -> tuple[bytes, list]:
    """Every palette frame forced into the row schedule; the stream and its records."""
    monkeypatch.setattr(palette, "SCHEDULES", (True,))
    data = encode(frames, model=model, lz_frames=False)
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    assert_frames_equal(decode(data).frames, frames)
    return data, records


def test_palette_inter_and_update_round_trip_in_the_row_schedule(monkeypatch) -> None:
    frames = list(np.load(DATA / "v3_stream_frames.npy"))
    _, records = _frames_in_rows(monkeypatch, frames, "convlstm-hybrid-int")
    palette_modes = [r for r in records if r.mode in (fc.MODE_PALETTE_INTER, fc.MODE_PALETTE_UPDATE)]
    assert {r.mode for r in palette_modes} == {fc.MODE_PALETTE_INTER, fc.MODE_PALETTE_UPDATE}
    assert all(r.mix & row_schedule.ROWS_BIT for r in palette_modes)


def test_copied_blocks_and_odd_sizes_round_trip_in_the_row_schedule(monkeypatch) -> None:
    page = _text_page()
    a, b = page[:40, :47], page[3:43, :47]  # a scroll: shifted copies
    c = b.copy()
    c[30:34, 40:46] = a[0, 0]
    tiny = [page[:1, :1], page[:1, 5:6]]
    _, records = _frames_in_rows(monkeypatch, [a, b, c])
    assert any(r.mix & (3 << 18) for r in records)  # copied blocks
    assert all(r.mix & row_schedule.ROWS_BIT for r in records if r.mode in (2, 3, 4) and r.mix)
    _frames_in_rows(monkeypatch, tiny)
    _frames_in_rows(monkeypatch, [page[:, :3], page[:, 3:6]])


def test_palette_update_estimate_in_both_schedules_decodes() -> None:
    rng = np.random.default_rng(1)
    previous = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)  # more than 256 colours
    frame = previous.copy()
    frame[5:20, 10:30] = _text_page()[:15, :20]
    pred = last_frame_params([previous])
    update = palette_update.update_palette(frame, previous)
    for rows in (False, True):
        memory = palette.ScheduleMemory(winner={palette_update.MODE: rows}, since={palette_update.MODE: 0})
        c = palette_update.estimate(FrameToCode.of(frame), update, pred, previous, None, 0, None, memory)
        assert bool(c.mix & row_schedule.ROWS_BIT) == rows
        coded = fc.CodedFrame(c.mode, c.scale_shift, fc._ENCODERS[c.mode](c), c.mix, c.palette)
        np.testing.assert_array_equal(fc.decode_frame(coded, pred, 40, 50, 3, previous), frame)


def test_the_schedule_memory_estimates_both_then_the_winner_then_both_again() -> None:
    memory = palette.ScheduleMemory()
    mode = fc.MODE_PALETTE_INTER
    assert memory.schedules(mode) == (False, True)
    memory.update(mode, True, True)
    seen = []
    for _ in range(2 * palette.SCHEDULE_PROBE):
        tried = memory.schedules(mode)
        seen.append(tried)
        memory.update(mode, len(tried) > 1, True)
    assert seen[: palette.SCHEDULE_PROBE - 1] == [(True,)] * (palette.SCHEDULE_PROBE - 1)
    assert seen[palette.SCHEDULE_PROBE - 1] == (False, True)
    assert memory.schedules(fc.MODE_PALETTE_INTRA) == (False, True)  # per mode


def test_the_row_bit_is_refused_before_version_10() -> None:
    page = _text_page()[:32, :40]
    data = encode([page], model="last-frame", lz_frames=False)
    ((rec, pal, _),) = Decoder(io.BytesIO(data), load_model=False).frame_records()
    assert rec.mix & row_schedule.ROWS_BIT
    coded = fc.CodedFrame(rec.mode, rec.scale_shift, rec.payload, rec.mix, pal)
    np.testing.assert_array_equal(fc.decode_frame(coded, None, 32, 40, 3), page)
    with pytest.raises(FormatError, match="out of range for format version 9"):
        fc.decode_frame(coded, None, 32, 40, 3, None, FormatProfile.for_version(9))
    reserved = fc.CodedFrame(rec.mode, rec.scale_shift, rec.payload, rec.mix | (1 << 22), pal)
    with pytest.raises(FormatError, match="out of range"):
        fc.decode_frame(reserved, None, 32, 40, 3)


def test_version_9_streams_still_decode() -> None:
    """tests/data/v9_stream.fpc: the version-9 encoder (commit 661c0d7), convlstm-hybrid-int, the
    frames of v3_stream_frames.npy; v9_screen.fpc: last-frame on a screen-like clip cut from
    text_like.gif (copied blocks with a shift, REPT runs; bench/fuzz/targets.py's seed)."""
    assert_old_stream_decodes("v9_stream.fpc", 9)
    data = (DATA / "v9_screen.fpc").read_bytes()
    assert data[8:10] == (9).to_bytes(2, "little")
    page = _text_page()
    a, b = page[:40, :48], page[3:43, :48]
    c = b.copy()
    c[30:34, 40:46] = a[0, 0]
    assert_frames_equal(decode(data).frames, [a, b, b, c, c, c])


def _screen_clip() -> list[np.ndarray]:
    page = _text_page()
    a, b = page[:40, :48], page[3:43, :48]
    c = b.copy()
    c[30:34, 40:46] = a[0, 0]
    return [a, b, b, c, c, c]


def test_version_10_streams_still_decode() -> None:
    """The version-10 encoder's fixtures (commit d718bba; tests/data/ATTRIBUTION.md) decode to
    their frames, seek through their index and keep their timing: v10_stream.fpc
    (convlstm-hybrid-int, the frames of v3_stream_frames.npy), v10_screen.fpc (last-frame, the
    screen-like clip above in rows with copied blocks, a repeated frame, key frames 0, 2 and 4)
    and v10_planar.fpc (yuv420p, key frames 0 and 3)."""
    from fpcodec.codec.planar_io import read_planes

    assert_old_stream_decodes("v10_stream.fpc", 10)
    data = (DATA / "v10_screen.fpc").read_bytes()
    assert data[8:10] == (10).to_bytes(2, "little")
    frames = _screen_clip()
    video = decode(data)
    assert_frames_equal(video.frames, frames)
    assert video.durations == [3, 5, 5, 7, 7, 9]
    dec = Decoder(io.BytesIO(data))
    assert [f.index for f in dec.frames(start=3)] == [3, 4, 5]
    assert [e.frame for e in dec.index] == [0, 2, 4]
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    intra, inter = fc.MODE_PALETTE_INTRA, fc.MODE_PALETTE_INTER
    assert [r.mode for r in records] == [intra, inter, intra, intra, intra, 7]  # 7: the REPT frame
    planar = (DATA / "v10_planar.fpc").read_bytes()
    assert planar[8:10] == (10).to_bytes(2, "little")
    _, clip = read_planes(DATA / "carphone_yuv420p_64x48.mkv")
    got = list(Decoder(io.BytesIO(planar)).frames())
    assert len(got) == 5
    for frame, planes in zip(got, clip[:5], strict=True):
        want = [planes[0][:24, :24]] + [p[:12, :12] for p in planes[1:]]
        for a, b in zip(frame.planes, want, strict=True):
            np.testing.assert_array_equal(a, b)
    seek = Decoder(io.BytesIO(planar))
    assert [f.index for f in seek.frames(start=4)] == [4]
    # The same clip coded now: version 11's framing (kept by the versions since), the same palette frame
    # coding (FORMAT.md, Version 10 and Version 11).
    now = encode(frames, durations=[3, 5, 5, 7, 7, 9], model="last-frame", keyint=2)
    assert now[8:10] == CURRENT.version.to_bytes(2, "little")
    assert_frames_equal(decode(now).frames, frames)
    # The same frame coding where the encoder chose alike: a frame in the same mode with the same
    # mix field has the same payload. (Palette inter's scale shift is fitted on its changed pixels
    # since, and frame 3, whose copy choice the guess of an unchanged pixel's cost decides, is
    # estimated with both choices since and codes smaller in palette inter.)
    now_records = list(Decoder(io.BytesIO(now), load_model=False).records())
    alike = [
        (a, b)
        for a, b in zip(records, now_records, strict=True)
        if a.mode == b.mode != fc.MODE_PALETTE_INTER and a.mix == b.mix
    ]
    assert [a.index for a, _ in alike] == [0, 2, 4, 5]
    assert all(a.payload == b.payload for a, b in alike)
    assert len(now) < len(data) - 100, (len(now), len(data))


def test_info_lists_each_palette_frames_tools(tmp_path, capsys) -> None:
    from fpcodec.codec.cli import main

    page, _ = next(VideoReader(DATA / "jmeter_url_rewrite.gif").frames())
    a = page[8:56, :120].copy()
    b = a.copy()
    b[20:26, 60:90] = a[0, 0]
    path = tmp_path / "d.fpc"
    path.write_bytes(encode([a, b], model="last-frame", lz_frames=False))
    assert main(["info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("frame  mode"))
    assert lines[header].endswith("key  tools")
    first, second = lines[header + 1 :]
    assert first.endswith("K  rows") and "copy" not in first
    assert second.split()[-2:] == ["rows", "copy16"]


def test_the_estimate_of_a_frame_in_rows_is_within_2_percent_of_its_bytes() -> None:
    page, _ = next(VideoReader(DATA / "jmeter_url_rewrite.gif").frames())
    c = next(c for c in fc.candidates(page, None) if c.mode == fc.MODE_PALETTE_INTRA)
    assert c.mix & row_schedule.ROWS_BIT
    coded_bits = 8 * len(fc._ENCODERS[c.mode](c)) + palette.body_bits(c.palette_body)
    assert abs(coded_bits - c.bits) < 0.02 * c.bits + 64, (coded_bits, c.bits)


def test_the_ring_kernel_matches_the_offsets() -> None:
    h, w = 41, 58
    for p in row_schedule.passes(h, w):
        ty, tx = np.divmod(p.targets, w)
        want = row_schedule.positions(ty, tx, p.template[row_schedule.NEIGHBOURS :], h, w)
        got = row_schedule.ring(p, h, w).positions(p.targets)
        assert got.dtype == p.targets.dtype and np.array_equal(got, want)
