"""bench/shift_trial: the encoder coding each frame from its shifted history, for a size trial."""

from __future__ import annotations

import json

import numpy as np

from fpcodec.bench import shift_trial
from fpcodec.codec import encode, pipeline
from fpcodec.models import registry


def test_translate_reads_the_shifted_position_and_repeats_the_edge():
    frame = np.arange(4 * 5).reshape(4, 5, 1)
    out = shift_trial.translate(frame, 1, -2)
    assert out[0, 2, 0] == frame[1, 0, 0] and out[2, 4, 0] == frame[3, 2, 0]
    assert out[3, 0, 0] == frame[3, 0, 0]  # both coordinates clamped
    assert np.array_equal(shift_trial.translate(frame, 0, 0), frame)


def _clip(pan: int) -> list[np.ndarray]:
    """16 colours in 4x4 blocks, moved ``pan`` pixels left each frame."""
    rng = np.random.default_rng(5)
    colours = rng.integers(0, 256, (16, 3)).astype(np.uint8)
    big = colours[rng.integers(0, 16, (16, 24))].repeat(4, 0).repeat(4, 1)
    return [np.ascontiguousarray(big[:48, i * pan : i * pan + 48]) for i in range(4)]


def test_a_panned_clip_codes_smaller_from_its_shifted_history_and_a_still_one_the_same():
    pan = _clip(2)
    plain = encode(pan, model="last-frame")
    for choose in ("mad", "cost"):
        with shift_trial.shifted_history(radius=3, choose=choose) as counts:
            trial = encode(pan, model="last-frame")
        assert (counts.searched, counts.shifted) == (3, 3)
        assert len(trial) < 0.75 * len(plain), (choose, len(trial), len(plain))
    assert counts.won == 3
    model = registry.get("last-frame")  # a model object given by the caller is unwrapped on exit
    with shift_trial.shifted_history(radius=3):
        assert len(encode(pan, model=model)) < 0.75 * len(plain)
    assert "shifted" not in pipeline.Encoder.write.__name__
    assert "predict_region" not in vars(model) and encode(pan, model=model) == plain
    still = _clip(0)
    still[2] = still[2].copy()
    still[2][10:14, 10:14] = 7  # not a repeat of the frame before
    with shift_trial.shifted_history(radius=3) as counts:
        trial = encode(still, model="last-frame")
    assert counts.shifted == 0 and trial == encode(still, model="last-frame")


def test_main_names_the_models_of_its_report_after_the_trial(tmp_path, capsys):
    from PIL import Image

    frames = [Image.fromarray(f).quantize(16) for f in _clip(2)]
    frames[0].save(tmp_path / "pan.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    report = tmp_path / "trial.json"
    argv = [str(tmp_path), "--model", "last-frame", "--radius", "3", "--json", str(report)]
    assert shift_trial.main(argv) == 0
    assert "3 frames searched, 3 given a shift" in capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["models"] == ["last-frame +shift mad"]
    assert list(data["clips"][0]["models"]) == ["last-frame +shift mad"]
    assert data["command"].startswith("python -m fpcodec.bench.shift_trial ")
