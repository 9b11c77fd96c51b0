"""Which planar kinds an inter frame's encoder estimates: the planar counterpart of ``inter_probe``.

The encoder of a planar frame with references estimates four kinds and codes the cheapest
(``modes.planar.estimate``). On natural video raster inter wins nearly every inter frame, and the
others lose by the same wide margin frame after frame: on the three dev clips (carphone, bikes,
bigbuckbunny; 70 inter frames) the intra kinds cost 1.24-6.5 times the best, and coarse-to-fine
inter 1.15-1.20 times on bikes (but only 1.00-1.03 on carphone). Their estimates are a quarter of
such a frame's encoding time. ``PlanarProbe`` remembers how each group fared on the last frame
where it was estimated and leaves it out while it is far from winning (below), for at most
PROBE - 1 frames in a row, and not once the frame's content moves: the luma motion search's total cost (a
block's sum of absolute differences plus its vector's cost, taken before the kinds are
estimated) leaving a factor of JUMP of the costs of the last REMEMBERED frames where the group
was estimated. A scene cut raises it, a still frame lowers it; either is when coarse-to-fine
inter may win (on bigbuckbunny a frame whose motion cost fell to a sixth was coarse-to-fine
inter's, 27 % below raster inter). Two costs, not one: in video whose frames alternate between
nearly repeated and moving (a held-out clip, fillets_intro: inter estimates of 15 and 150 kbit in
turn) every frame left a factor of JUMP of the one before, and every kind was estimated on every
frame; a frame near a remembered cost now goes by what the group did at the latest such one.

The intra kinds' rule compares their last estimate with this frame's best inter estimate rather
than asking whether they lost last time: an intra frame's cost moves slowly within a scene, and
where the inter estimates climb frame by frame (a held-out clip, forensics_dog, where intra then
won three frames) a rule that only asked left them out and cost 1.1 % (an earlier form, reverted,
1.5 %: bench/results/tried_2026-12-04.md, section 4). How this rule was chosen and measured:
bench/results/speed_cli/ab_planar_encoder_2026-12-04.md. Only a rise of the motion cost by
JUMP brings the intra kinds back early: where it falls, the references predict the frame better,
and this frame's best inter estimate, which their rule reads, already says so.

Version 18's two motion field sizes are two more groups: raster inter with the (merged) 8x8
and with the 16x16 field. The 16x16 search runs on every inter frame (the 8x8 field merges from
it, and its cost is the motion cost above), the 8x8 search only where its size is estimated. A
size whose raster inter lost to the other's by BLOCK_MARGIN on the last frame where it was
estimated is left out for PROBE - 1 frames; the motion cost's jumps do not bring it back.

Version 19's JPEG levels (``codec.dct_coding``) are fitted before any kind is estimated. Where
they won by far (JPEG_MARGIN), the next frames that fit take them without estimating the other
kinds, PROBE - 1 in a row at most; where two frames in a row had none (natural video, MPEG-coded
video), the next PROBE - 1 frames are not fitted.

Version 20's interpolation rules (``motion.INTERPOLATIONS``) are compared on every inter frame
until INTERPOLATION_FAILS frames in a row found none better than H.264's (video that no MPEG-1/2
or MPEG-4 encoder made); then on every PROBE-th frame only, until one finds one. A comparison
that found an MPEG rule better by MPEG_CLEAR marks the stream as MPEG-made until its next key
frame (``modes.planar.INTERPOLATION_MARGIN``).

The decoder never knows which kinds were estimated: streams decode the same way. Key frames, which
have no references, estimate every kind, and a key frame resets the probe (the pipeline makes a new
one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The groups of kinds the probe can leave out: the intra kinds (coarse-to-fine and raster intra,
#: with the raster intra refinement), coarse-to-fine inter, and (version 18) the inter kinds with a
#: field of 8x8 blocks or with one of 16x16 blocks (the motion search and raster inter of each).
INTRA = "intra"
CTF_INTER = "ctf-inter"
SMALL_BLOCKS = "blocks-8"
LARGE_BLOCKS = "blocks-16"
#: Coarse-to-fine inter is left out after losing by at least CTF_MARGIN (its estimate at least 1 +
#: CTF_MARGIN times the frame's best) on the last frame where it was estimated.
CTF_MARGIN = 0.05
#: A block size is left out after its raster inter lost to the other's by at least BLOCK_MARGIN.
#: Where the two are close (carphone: each wins half the frames, within 1 %) both are estimated;
#: where one wins by far (bikes: 16x16 by 10-13 %, bigbuckbunny: 8x8 by 15-25 %), the other only
#: every PROBE-th frame.
BLOCK_MARGIN = 0.02
_MARGINS = {CTF_INTER: CTF_MARGIN, SMALL_BLOCKS: BLOCK_MARGIN, LARGE_BLOCKS: BLOCK_MARGIN}
#: The intra kinds are left out where their last estimate (an intra frame's cost moves slowly
#: within a scene) is at least 1 + INTRA_MARGIN times this frame's best inter estimate.
INTRA_MARGIN = 0.2
#: A group left out is estimated again on the PROBE-th frame at the latest.
PROBE = 8
#: ... or as soon as the luma motion cost leaves a factor of JUMP of those it was last estimated at
#: (the intra kinds: rises above JUMP times the last one).
JUMP = 1.5
#: How many of a group's last estimates (their motion cost, and whether the group lost there) the
#: probe remembers.
REMEMBERED = 2
#: JPEG levels (version 19): after a frame whose JPEG levels came to at most JPEG_MARGIN times the
#: other kinds' best estimate, the next frames that are JPEG levels skip estimating the other
#: kinds, PROBE - 1 in a row at most (on the dev clips made Motion JPEG, the JPEG levels' streams
#: are 0.14-0.62 times the samples': bench/results/jpeg_planes).
JPEG_MARGIN = 0.8
#: After JPEG_FAILS frames in a row that are not JPEG levels (the fit finds no JPEG decoder's
#: planes: natural video, or MPEG-4 and MPEG-1 video, whose DC steps look like JPEG's but whose
#: blocks do not rebuild), the next PROBE - 1 frames do not try (a full fit is 0.1-0.15 s a
#: 320x240 frame: mecavideo_g1 encoded in 3.1x the time with it).
JPEG_FAILS = 2
#: After INTERPOLATION_FAILS inter frames in a row whose comparison found no MPEG rule better than
#: H.264's, the next PROBE - 1 do not compare the MPEG rules (compared on every frame, the dev
#: clips encoded at 11.6 frames/s instead of 13.2; on the dev clips made MPEG-1 or MPEG-4 with B
#: frames, H.264's rule wins a frame here and there, rarely four in a row).
INTERPOLATION_FAILS = 4
#: A frame whose best MPEG rule cost at most 1 - MPEG_CLEAR times H.264's in the comparison marks
#: the stream (until its next key frame) as MPEG-made: ``modes.planar.INTERPOLATION_MARGIN``.
MPEG_CLEAR = 0.03


@dataclass
class _Streak:
    """A trial that is left out for PROBE - 1 frames after ``fails`` failures in a row, then
    tried again (one more failure leaves it out again)."""

    fails: int
    count: int = 0  # failures in a row, then the frames left out since

    def attempt(self) -> bool:
        """Whether to try on this frame (and counts it if not)."""
        if self.fails <= self.count < self.fails + PROBE - 1:
            self.count += 1
            return False
        if self.count >= self.fails + PROBE - 1:
            self.count = self.fails - 1
        return True

    def learn(self, found: bool) -> None:
        self.count = 0 if found else self.count + 1


@dataclass
class _Memory:
    bits: float | None = None  # the group's best estimate on the last frame where it was estimated
    lost: bool = False  # whether it lost by its margin there
    motion_cost: float = 0.0  # that frame's luma motion cost
    skipped: int = 0  # frames since, where it was left out
    #: (luma motion cost, lost) of the last REMEMBERED frames where it was estimated, oldest first
    history: list[tuple[float, bool]] = field(default_factory=list)

    def near(self, motion_cost: float) -> list[bool]:
        """Whether the group lost, at each remembered estimate (oldest first) whose motion cost is
        within a factor of JUMP of ``motion_cost``."""
        return [lost for cost, lost in self.history if cost / JUMP <= motion_cost <= cost * JUMP]


@dataclass
class PlanarProbe:
    """One stream's memory (a new one at each key frame) of the kinds' estimates on inter frames."""

    groups: dict[str, _Memory] = field(
        default_factory=lambda: {g: _Memory() for g in (INTRA, CTF_INTER, SMALL_BLOCKS, LARGE_BLOCKS)}
    )
    jpeg_sure: bool = False  # the last frame estimated with JPEG levels took them by JPEG_MARGIN
    jpeg_skipped: int = 0  # frames since, whose other kinds were not estimated
    #: frames in a row that were not JPEG levels, then the frames not fitted since
    jpeg_streak: _Streak = field(default_factory=lambda: _Streak(JPEG_FAILS))
    #: inter frames in a row whose comparison found no MPEG rule better than H.264's, then the
    #: frames not compared since
    interpolation_streak: _Streak = field(default_factory=lambda: _Streak(INTERPOLATION_FAILS))
    mpeg_made: bool = False  # a frame's comparison found an MPEG rule better by MPEG_CLEAR

    def try_jpeg(self) -> bool:
        """Whether to fit this frame's JPEG levels (and counts itself if not)."""
        return self.jpeg_streak.attempt()

    def fitted_jpeg(self, found: bool) -> None:
        """Learn whether the frame's planes were JPEG levels."""
        self.jpeg_streak.learn(found)

    def try_interpolations(self) -> bool:
        """Whether this inter frame compares the interpolation rules (and counts itself if not)."""
        return self.interpolation_streak.attempt()

    def compared_interpolations(self, ratio: float) -> None:
        """Learn a frame's comparison: its best rule's cost over H.264's (1: H.264's is best)."""
        self.interpolation_streak.learn(ratio < 1)
        self.mpeg_made = self.mpeg_made or ratio <= 1 - MPEG_CLEAR

    def skip_samples(self) -> bool:
        """Whether a frame that JPEG levels can code leaves out estimating the other kinds (and
        counts itself as left out)."""
        if self.jpeg_sure and self.jpeg_skipped + 1 < PROBE:
            self.jpeg_skipped += 1
            return True
        return False

    def update_jpeg(self, jpeg_bytes: int | None, samples_bits: float) -> None:
        """Learn from a frame whose kinds were estimated: its JPEG levels' size (None: it has
        none) against the other kinds' best estimate."""
        self.jpeg_sure = jpeg_bytes is not None and 8 * jpeg_bytes <= JPEG_MARGIN * samples_bits
        self.jpeg_skipped = 0

    def worth(self, group: str, motion_cost: float | None, best_inter: float | None = None) -> bool:
        """Whether to estimate ``group`` on an inter frame of this luma motion cost (None: before
        the motion search, for a block size, which the cost's jumps do not decide; the intra
        kinds: and whose best inter estimate is ``best_inter``)."""
        m = self.groups[group]
        if m.bits is None or m.skipped + 1 >= PROBE:
            return True
        if group == INTRA:
            if motion_cost is not None and motion_cost > m.motion_cost * JUMP:
                return True
            return best_inter is None or m.bits < (1 + INTRA_MARGIN) * best_inter
        if motion_cost is None:
            return not m.lost
        near = m.near(motion_cost)
        return not near or not near[-1]  # the latest estimate at a like cost decides

    def update(self, group: str, bits: float | None, best: float, motion_cost: float) -> None:
        """Learn from an inter frame: ``group``'s best estimate (None: left out) and the best it is
        measured against (the frame's; for a block size, the best raster inter)."""
        m = self.groups[group]
        if bits is None:
            m.skipped += 1
            return
        m.bits = bits
        m.lost = bits >= (1 + _MARGINS.get(group, CTF_MARGIN)) * best  # the intra kinds use bits
        m.motion_cost = motion_cost
        m.skipped = 0
        m.history = [*m.history, (motion_cost, m.lost)][-REMEMBERED:]
