"""Whether a frame's predicted modes are worth estimating: the encoder's memory across a stream.

The predicted modes (RGB inter, palette inter, palette update) need the predictor's output, and on
screen recordings and still-camera GIFs the learned model runs for nothing: palette intra with
copied blocks wins frame after frame, and the model's run and the inter estimates are most of the
encoding time (chi.gif: 2.3 s of 5.9). ``InterProbe`` remembers how the predicted modes fared on
the frames where they were estimated and leaves them out, prediction included, while they keep
losing. Streams stay decodable the same way: the decoder never knows which modes the encoder
estimated (nor runs the model for a frame that is not predicted).

The predicted modes are estimated on every frame unless they lost on the last LOSSES frames where
they were estimated, each time by at least INTER_MARGIN (their best estimate at least 1 +
INTER_MARGIN times the best of the other modes). LOSSES is HISTORY + 1: after a key frame or a
scene cut the predictor's window holds frames of the old scene, and the predicted modes lose until
it holds the new scene only; they lose on after that only where they lose for good. Then they are
left out for at most INTER_PROBE - 1 frames, and no longer once RGB intra's estimate, a measure of
the content, moves by a factor of INTER_JUMP from that of the last frame where they were estimated.

Chosen on estimates logged with every mode estimated on every frame (dev clips of the screen corpus
with several frames, the corpus's val split, train/giphy200, every 5th train/catz96 clip and
train/native: 1,316 predicted frames; `bench/inter_probe.py`, `bench/results/inter_probe.txt`):
the rule leaves out 54 of them for +0.000 % bits in total (chi.gif 14 of 21 for +0.05 %, racket's balls 30 of 59, a
bigbuckbunny clip 10 of 31, for nothing). Bolder rules cost natural clips after scene cuts, where
the predicted modes lose a few frames and then win again: two losses, margin 0.05 and 8 frames
leave out 259 frames but add 8.4 % to a bigbuckbunny clip. Replayed at format version 11
(`bench/results/inter_probe_v11.txt`), where palette inter loses to palette intra on chi.gif by
only 0.3-8 % a frame (copied blocks), the rule leaves out 10 of 989 predicted frames and none of
chi.gif's; margins of 0-5 % would leave out 9-14 of chi.gif's 21 for +0.01 % but add 3.6-4.7 %
to bigbuckbunny clips whose predicted modes lose by 5-30 % for a dozen frames and then win.

Near ties are the other waste: on dithered natural footage (a 480x270 GIF cut from bikes.mp4,
24 frames) palette inter and palette intra came within 7 % of each other on every frame (2.5 %
on 18 of 23), each winning some, so the model ran on all 23 predicted frames for five wins worth
0.15 % of the stream by the estimates. After TIE_LOSSES estimated frames in a row on which the
predicted modes won by less than TIE (or lost), they are left out of every other frame
(TIE_PROBE) until they win by more.
Replayed on a new log of the same clips at version 11 (40 clips, 989 predicted frames; the grid
of near-tie rules is in `bench/results/inter_probe_ties.txt`), the rule leaves out 40 frames
instead of 10 for +0.003 % bits in total (worst bbb_029.gif +0.18 %; chi.gif 9 of 21); the
480x270 clip 10 of 23 for +0.13 %, and it encodes in 0.82x the time.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.base import HISTORY
from .modes.base import MODE_INTER, MODE_PALETTE_INTER, MODE_PALETTE_UPDATE, Candidate

#: The modes that need the predictor's output.
PREDICTED_MODES = (MODE_INTER, MODE_PALETTE_INTER, MODE_PALETTE_UPDATE)
INTER_MARGIN = 0.1
INTER_PROBE = 16
INTER_JUMP = 1.25
#: Frames in a row on which the predicted modes must have lost before they are left out.
LOSSES = HISTORY + 1
#: Near ties: where the predicted modes won by less than TIE (their best estimate at least 1 - TIE
#: times the others') on TIE_LOSSES estimated frames in a row, they are left out for at most
#: TIE_PROBE - 1 frames: what they could win there is small, what they cost is not.
TIE = 0.01
TIE_LOSSES = 4
TIE_PROBE = 2


@dataclass
class InterProbe:
    """One stream's memory (reset at key frames) of the predicted modes' estimates."""

    losses: int = 0  # frames in a row, among those where they were estimated, that they lost by the margin
    ties: int = 0  # frames in a row, among those, that they did not win by TIE
    rgb_intra_bits: float = 0.0  # RGB intra's estimate on the last of them
    skipped: int = 0  # frames since, where they were not estimated

    def worth(self, rgb_intra_bits: float) -> bool:
        """Whether to estimate the predicted modes of a frame whose RGB intra estimate is this."""
        losing = self.losses >= LOSSES and self.skipped + 1 < INTER_PROBE
        tying = self.ties >= TIE_LOSSES and self.skipped + 1 < TIE_PROBE
        if not (losing or tying):
            return True
        ref = self.rgb_intra_bits
        return not ref / INTER_JUMP <= rgb_intra_bits <= ref * INTER_JUMP

    def update(self, options: list[Candidate], rgb_intra_bits: float) -> None:
        """Learn from a frame's candidates (without predicted ones: they were left out)."""
        predicted = [c.bits for c in options if c.mode in PREDICTED_MODES]
        if not predicted:
            self.skipped += 1
            return
        others = min(c.bits for c in options if c.mode not in PREDICTED_MODES)
        lost = min(predicted) >= (1 + INTER_MARGIN) * others
        self.losses = self.losses + 1 if lost else 0
        self.ties = self.ties + 1 if min(predicted) >= (1 - TIE) * others else 0
        self.rgb_intra_bits = rgb_intra_bits
        self.skipped = 0
