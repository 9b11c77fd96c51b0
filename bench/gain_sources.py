"""Where a learned predictor's gain over last-frame comes from, measured in code length.

A predictor hands the coder three things per pixel and channel: a mean, a Laplace scale and (for G
and B) the coupling to the channels decoded before. When a model's rounded means equal the last
frame's (as a pictured prediction may show), its gain must come from the other two. To say how much,
the clip is encoded with predictions that take some parts from the model and the rest from
last-frame, one part at a time, in a fixed order:

1. last-frame as it is;
2. the model's scales, last-frame's means and coupling;
3. the model's scales and means, last-frame's coupling (last-frame has none);
4. the model as it is (its scales, means and coupling).

Each step's change in bytes is what that part is worth given the parts before it (the order matters
when parts interact; it is the order in which a model departs from last-frame: scales are the
cheapest change). The palette modes' mixing with "same colour as before / as the neighbours" is
the coder's, the same for every predictor: it is why a better per-pixel prediction gains less in
palette frames, and it shows in every step alike. Only encoding is needed: the code length is the
measure, and the encoder is deterministic.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import numpy as np

#: (key, parts taken from the model) of each step after plain last-frame.
STEPS = (("scales", frozenset({"scale"})), ("scales+means", frozenset({"scale", "mean"})))
#: The names reports print for the steps (plain last-frame, the mixed steps, the model).
STEP_LABELS = {
    "last-frame": "last-frame",
    "scales": "+ model scales",
    "scales+means": "+ model means",
    "model": "+ model coupling (= the model)",
}


def mixed_predictor(model, reference, take: frozenset[str]):
    """A predictor whose ``take`` parts (``mean``, ``scale``, ``coupling``) are ``model``'s and the rest
    ``reference``'s. Its streams are for measuring size only (the header names ``model``)."""
    from fpcodec.models.base import Prediction, Predictor

    class Mixed(Predictor):
        name = f"{model.name}[{'+'.join(sorted(take))}]"
        model_id = model.model_id

        @property
        def weights_hash(self) -> bytes:
            return model.weights_hash

        def predict(self, history):
            m, r = model.predict(history), reference.predict(history)
            return Prediction(
                mean=m.mean if "mean" in take else r.mean,
                scale=m.scale if "scale" in take else r.scale,
                coupling=m.coupling if "coupling" in take else r.coupling,
            )

    return Mixed()


def measure(
    frames: Sequence[np.ndarray],
    durations: Sequence[int],
    time_base: Fraction,
    model,
    reference,
    *,
    reference_bytes: int,
    model_bytes: int,
    device: str = "cpu",
) -> dict[str, Any]:
    """Bytes of each step for one clip: {"last-frame": ..., "scales": ..., "scales+means": ...,
    "model": ...}; the two ends are the benchmark's own streams (passed in)."""
    from fpcodec.codec import encode

    out: dict[str, Any] = {"last-frame": reference_bytes}
    for key, take in STEPS:
        stream = encode(
            frames,
            durations=durations,
            model=mixed_predictor(model, reference, take),
            time_base=time_base,
            device=device,
        )
        out[key] = len(stream)
    out["model"] = model_bytes
    return out


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Folder totals of ``measure`` rows: bytes per step and each step's share of the change."""
    if not rows:
        return None
    keys = ["last-frame"] + [k for k, _ in STEPS] + ["model"]
    total = {k: sum(int(r[k]) for r in rows) for k in keys}
    ref = total["last-frame"]
    steps = {}
    for prev, key in zip(keys[:-1], keys[1:], strict=True):
        steps[key] = {
            "bytes": total[key],
            "change_bytes": total[key] - total[prev],
            "change_percent_of_last_frame": 100.0 * (total[key] - total[prev]) / ref if ref else None,
        }
    return {
        "files": len(rows),
        "last_frame_bytes": ref,
        "model_bytes": total["model"],
        "gain_percent": 100.0 * (1 - total["model"] / ref) if ref else None,
        "steps": steps,
    }
