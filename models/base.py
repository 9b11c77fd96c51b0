"""The predictor interface every model implements.

A predictor looks at the last few *decoded* frames and says, for every pixel and channel of the next
frame, where the value probably is (``mean``) and how sure it is (``scale`` of a Laplace distribution).
The codec turns that into code lengths with constriction; the predictor never sees the entropy coder.

Colour conditioning (PixelCNN++ style, parallel over pixels): once channel R of the frame is decoded,
G's mean moves by ``coupling[0] * (x_R - mean_R)``; once G is decoded, B's mean moves by
``coupling[1] * (x_R - mean_R) + coupling[2] * (x_G - mean_G')`` where ``mean_G'`` is G's conditioned
mean. ``apply_coupling`` below is that rule in float32, as the training loss and format version 3
streams use it; from version 4 the coder applies it to the snapped integers instead
(``entropy.coupled_mean_q``: means in 1/16, couplings in 1/256, integer arithmetic).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

#: How many decoded frames a predictor may look at.
HISTORY = 5


@dataclass(frozen=True)
class Prediction:
    """Distribution parameters for one frame, channel-first.

    mean:     float32 (C, H, W), in pixel units (0..255 scale).
    scale:    float32 (C, H, W), Laplace scale ``b`` > 0, in pixel units.
    coupling: float32 (3, H, W) colour-conditioning coefficients (G<-R, B<-R, B<-G), or None.
    """

    mean: np.ndarray
    scale: np.ndarray
    coupling: np.ndarray | None = None

    def pixels(self, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Mean (C, N), coupling (3, N) or None and integer scale-table index (C, N) of the flat
        pixels ``targets``: what one palette pass reads, gathered per pass, so that a subclass
        holding smaller planes (``integer.IntegerPrediction``) never makes whole-frame copies. Mean
        and coupling are float32 here; a subclass may give integers in their snapped steps (1/16,
        1/256) instead, which the palette coder takes as they are."""
        from ..bitstream import entropy

        c = self.mean.shape[0]
        coupling = None if self.coupling is None else self.coupling.reshape(3, -1)[:, targets]
        scale_idx = entropy.quantize_scale(self.scale.reshape(c, -1)[:, targets])
        return self.mean.reshape(c, -1)[:, targets], coupling, scale_idx

    def rows(self, band: slice) -> "Prediction":
        """The prediction of the rows ``band`` (views of the planes): RGB inter makes its integer
        parameters band by band, so that their int32 temporaries never span a large frame."""
        coupling = None if self.coupling is None else self.coupling[:, band]
        return Prediction(mean=self.mean[:, band], scale=self.scale[:, band], coupling=coupling)

    def snapped(self, channel: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """int32 means in 1/16 (C, H, W), couplings in 1/256 (3, H, W) or None, and the scale-table
        index of ``channel`` (H, W): what RGB inter codes with from format version 4."""
        from ..bitstream import entropy

        coupling = None if self.coupling is None else entropy.quantize_coupling(self.coupling)
        return entropy.quantize_mean(self.mean), coupling, entropy.quantize_scale(self.scale[channel])


def apply_coupling(
    mean: np.ndarray, coupling: np.ndarray | None, channel: int, decoded: np.ndarray
) -> np.ndarray:
    """Mean of ``channel`` given the channels before it (``decoded``, (C, H, W) or (C, N)).

    Only channels 1 (G) and 2 (B) are conditioned; alpha and R are returned unchanged.
    Works on any trailing shape so the coder can apply it to a subset of pixels.
    """
    m = mean[channel]
    if coupling is None or channel not in (1, 2):
        return m
    r_res = decoded[0].astype(np.float32) - mean[0]
    if channel == 1:
        return m + coupling[0] * r_res
    g_mean = mean[1] + coupling[0] * r_res
    g_res = decoded[1].astype(np.float32) - g_mean
    return m + coupling[1] * r_res + coupling[2] * g_res


class Predictor(ABC):
    """Base class: subclasses set ``name``, ``model_id`` (stable, hand-written, stored in streams)."""

    name: str = ""
    model_id: int = -1

    @property
    def weights_hash(self) -> bytes:
        """SHA-256 of the shipped weights (32 zero bytes for models without weights)."""
        return bytes(32)

    @abstractmethod
    def predict(self, history: list[np.ndarray]) -> Prediction:
        """Predict the next frame from ``history`` (1..HISTORY uint8 frames, (H, W, C), oldest first).

        Must be deterministic: the encoder and the decoder call it on identical inputs and must get
        identical outputs. Channels C may be 3 (RGB) or 4 (RGBA); the alpha plane may be handled by
        ``last_frame_params`` regardless of the model.
        """

    def predict_region(self, history: list[np.ndarray], region: tuple[slice, slice] | None) -> Prediction:
        """``predict``, needed only inside ``region`` (rows, columns; None: the whole frame): the
        encoder and the decoder ask so for a frame whose other pixels are copied, and a model that
        costs per pixel predicts only there. Inside the region it must equal ``predict``'s; outside, any
        values. The default predicts the whole frame."""
        return self.predict(history)
