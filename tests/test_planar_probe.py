"""The planar encoder leaves kinds that keep losing out of inter frames' estimates
(codec/planar_probe.py): the rule itself, that a scene cut still gets its intra estimate, and that
streams still decode exactly."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from test_planar import _assert_planes_equal, _decode, _encode, _moving_planes

from fpcodec.codec import planar_probe
from fpcodec.codec.modes import planar
from fpcodec.codec.modes.base import MODE_PLANAR
from fpcodec.codec.pipeline import Decoder
from fpcodec.codec.planar_probe import CTF_INTER, CTF_MARGIN, INTRA, INTRA_MARGIN, JUMP, PROBE, PlanarProbe


def test_intra_left_out_while_its_last_estimate_is_far_above_the_best_inter() -> None:
    probe = PlanarProbe()
    assert probe.worth(INTRA, 100.0, 50.0)  # nothing known yet
    probe.update(INTRA, 130.0, 100.0, motion_cost=1000.0)
    assert not probe.worth(INTRA, 1000.0, 130.0 / (1 + INTRA_MARGIN))  # exactly at the margin: out
    assert probe.worth(INTRA, 1000.0, 130.0 / (1 + INTRA_MARGIN) * 1.001)  # inter grew: back in
    # Left out for at most PROBE - 1 frames in a row.
    for _ in range(PROBE - 1):
        assert not probe.worth(INTRA, 1000.0, 100.0)
        probe.update(INTRA, None, 100.0, 1000.0)
    assert probe.worth(INTRA, 1000.0, 100.0)


@pytest.mark.parametrize("group", [INTRA, CTF_INTER])
def test_a_jump_of_the_motion_cost_brings_a_group_back(group: str) -> None:
    probe = PlanarProbe()
    probe.update(group, 200.0, 100.0, motion_cost=1000.0)  # lost by 100 %
    assert not probe.worth(group, 1000.0 * JUMP, 100.0)
    assert not probe.worth(group, 1000.0 / JUMP, 100.0)
    assert probe.worth(group, 1000.0 * JUMP * 1.01, 100.0)  # a scene cut
    # A still frame: coarse-to-fine inter may win there; the intra kinds cannot gain on the
    # references, and their rule reads this frame's best inter estimate.
    assert probe.worth(group, 1000.0 / JUMP / 1.01, 100.0) == (group == CTF_INTER)


def test_alternating_motion_goes_by_the_estimate_at_a_like_cost() -> None:
    """Frames that alternate between nearly repeated (low motion cost) and moving (high): once
    coarse-to-fine inter lost at both costs it is left out of both kinds of frames; where it did
    not lose at one, frames like that one estimate it again."""
    probe = PlanarProbe()
    low, high = 1000.0, 1000.0 * JUMP * 3
    probe.update(CTF_INTER, 130.0, 100.0, low)
    assert probe.worth(CTF_INTER, high)  # nothing known at this cost yet
    probe.update(CTF_INTER, 130.0, 100.0, high)
    for _ in range(3):
        assert not probe.worth(CTF_INTER, low) and not probe.worth(CTF_INTER, high)
        probe.update(CTF_INTER, None, 100.0, low)
    probe = PlanarProbe()
    probe.update(CTF_INTER, 100.0, 100.0, low)  # won at the low cost
    probe.update(CTF_INTER, 130.0, 100.0, high)  # lost at the high one
    assert probe.worth(CTF_INTER, low) and not probe.worth(CTF_INTER, high)
    # Only the last REMEMBERED estimates count: a third cost pushes the first out.
    probe.update(CTF_INTER, 130.0, 100.0, high * JUMP * 3)
    assert probe.worth(CTF_INTER, low)
    assert len(probe.groups[CTF_INTER].history) == planar_probe.REMEMBERED == 2


def test_coarse_to_fine_inter_left_out_after_losing_by_its_margin() -> None:
    probe = PlanarProbe()
    probe.update(CTF_INTER, 100.0 * (1 + CTF_MARGIN) * 0.999, 100.0, 1000.0)
    assert probe.worth(CTF_INTER, 1000.0)  # a near tie: kept
    probe.update(CTF_INTER, 100.0 * (1 + CTF_MARGIN), 100.0, 1000.0)
    assert not probe.worth(CTF_INTER, 1000.0)


def _kinds_estimated(monkeypatch) -> list[set[int]]:
    """Records, per estimated frame, which kinds ``planar.estimate`` estimated."""
    log: list[set[int]] = []
    plan, plan_raster, estimate = planar._plan, planar._plan_raster, planar.estimate

    def spy_plan(kind, *args, **kwargs):
        log[-1].add(kind)
        return plan(kind, *args, **kwargs)

    def spy_raster(coded, sizes, mcs=None, field=None, refine=True, runs=1, block=8):
        log[-1].add(planar.KIND_RASTER if mcs is None else planar.KIND_RASTER_INTER)
        return plan_raster(coded, sizes, mcs, field, refine, runs, block)

    def spy_estimate(*args, **kwargs):
        log.append(set())
        return estimate(*args, **kwargs)

    monkeypatch.setattr(planar, "_plan", spy_plan)
    monkeypatch.setattr(planar, "_plan_raster", spy_raster)
    monkeypatch.setattr(planar, "estimate", spy_estimate)
    return log


def test_steady_motion_skips_intra_and_a_scene_cut_gets_it_back(monkeypatch) -> None:
    """A pan (inter wins by far), then a cut to another texture: the probe leaves the intra kinds
    out of the pan's frames but estimates them at the cut, which is coded intra as without it;
    every frame decodes exactly."""
    first = _moving_planes("yuv420p", 64, 48, 10, seed=0)
    second = _moving_planes("yuv420p", 64, 48, 3, seed=7)
    frames = first + second
    log = _kinds_estimated(monkeypatch)
    data = _encode(frames, "yuv420p", 64, 48)
    _, decoded = _decode(data)
    _assert_planes_equal([f.planes for f in decoded], frames)
    with_intra = [planar.KIND_INTRA in kinds for kinds in log]
    assert with_intra[0] and not all(with_intra[1:10]), with_intra  # left out of some pan frames
    assert with_intra[10], with_intra  # the cut
    # Without the probe the cut's frame is coded intra too, and so is it with the probe.
    monkeypatch.setattr(planar_probe.PlanarProbe, "worth", lambda self, *a, **k: True)
    full = _encode(frames, "yuv420p", 64, 48)
    kinds = _kinds(data)
    assert kinds[10] in (planar.KIND_INTRA, planar.KIND_RASTER)
    assert _kinds(full)[10] == kinds[10]
    assert len(data) <= len(full) * 1.01


def _kinds(data: bytes) -> list[int]:
    """Each planar frame's kind (a stored frame: -1)."""
    records = Decoder(io.BytesIO(data), load_model=False).records()
    return [struct.unpack_from("<I", r.payload)[0] & 0xFF if r.mode == MODE_PLANAR else -1 for r in records]


def test_estimate_without_a_probe_estimates_every_kind(monkeypatch) -> None:
    frames = _moving_planes("yuv420p", 32, 24, 2)
    log = _kinds_estimated(monkeypatch)
    planes = [np.asarray(p) for p in frames[1]]
    geom = [
        planar.PlaneGeometry(p.shape[0], p.shape[1], *((1, 1) if k else (0, 0)), 8)
        for k, p in enumerate(planes)
    ]
    planar.estimate(planes, [frames[0]], geom)
    assert {planar.KIND_INTRA, planar.KIND_RASTER, planar.KIND_INTER, planar.KIND_RASTER_INTER} <= log[-1]


def test_jpeg_levels_rules() -> None:
    """After a frame that JPEG levels won by far, up to PROBE - 1 frames skip the other kinds;
    after JPEG_FAILS frames without them, PROBE - 1 frames are not fitted, then one is."""
    probe = planar_probe.PlanarProbe()
    probe.update_jpeg(1000, 8 * 1000 / planar_probe.JPEG_MARGIN + 1)
    assert [probe.skip_samples() for _ in range(planar_probe.PROBE)] == [True] * (planar_probe.PROBE - 1) + [
        False
    ]
    probe.update_jpeg(1000, 8 * 1000)  # won, but not by the margin
    assert not probe.skip_samples()
    probe.update_jpeg(None, 8 * 1000)
    assert not probe.skip_samples()
    probe = planar_probe.PlanarProbe()
    tried = []
    for _ in range(21):
        tried.append(probe.try_jpeg())
        if tried[-1]:
            probe.fitted_jpeg(False)
    waits = [False] * (planar_probe.PROBE - 1)
    assert tried == [True, True, *waits, True, *waits, True, False, False, False]
    probe.fitted_jpeg(True)  # a frame with JPEG levels: every frame is fitted again
    assert all(probe.try_jpeg() for _ in range(5))


def test_interpolation_rules_are_compared_again_after_losing_streaks() -> None:
    """INTERPOLATION_FAILS inter frames in a row where no MPEG rule beat H.264's leave the rules
    uncompared on the next PROBE - 1; a frame where one did compares them on every frame again;
    one that beat it by MPEG_CLEAR marks the stream MPEG-made."""
    probe = planar_probe.PlanarProbe()
    tried = []
    for _ in range(4 + 2 * planar_probe.PROBE + 1):
        tried.append(probe.try_interpolations())
        if tried[-1]:
            probe.compared_interpolations(1.0)
    waits = [False] * (planar_probe.PROBE - 1)
    assert tried == [True] * planar_probe.INTERPOLATION_FAILS + waits + [True] + waits + [True, False]
    probe.compared_interpolations(0.99)
    assert all(probe.try_interpolations() for _ in range(planar_probe.INTERPOLATION_FAILS))
    assert not probe.mpeg_made
    probe.compared_interpolations(1 - planar_probe.MPEG_CLEAR)
    assert probe.mpeg_made
