"""Tests for fpcodec.bench: harness, exactness flagging, reports, CLI, metrics and corpus helpers."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fpcodec.bench import corpus, metrics
from fpcodec.bench.codecs import Decoded, FunctionCodec, get_adapters
from fpcodec.bench.plots import write_plots
from fpcodec.bench.report import write_json, write_markdown
from fpcodec.bench.run import discover, fpcodec_key, run_bench


def _write_gif(path: Path, frames: list[np.ndarray], transparency: int | None = None) -> Path:
    """Exact GIF from frames that use at most 256 colours (palette built from the frames)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colours = np.unique(np.concatenate([f.reshape(-1, 3) for f in frames]), axis=0)
    assert len(colours) <= 256
    pal = np.zeros((256, 3), np.uint8)
    pal[: len(colours)] = colours
    ims = []
    for f in frames:
        idx = np.zeros(f.shape[:2], np.uint8)
        flat = f.reshape(-1, 3)
        for i, c in enumerate(colours):
            idx.reshape(-1)[(flat == c).all(axis=1)] = i
        im = Image.fromarray(idx, mode="L").convert("P")
        im.putpalette(pal.ravel().tolist())
        ims.append(im)
    kw = {"transparency": transparency, "disposal": 2} if transparency is not None else {"disposal": 1}
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=40, loop=0, optimize=False, **kw)
    return path


def _clip(seed: int, n: int = 4, size: int = 16) -> list[np.ndarray]:
    """A small moving pattern with few colours (so the GIF is exact)."""
    rng = np.random.default_rng(seed)
    base = (rng.integers(0, 4, (size, size, 3)) * 80).astype(np.uint8)
    return [np.roll(base, k, axis=1) for k in range(n)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips") / "corpus"
    _write_gif(root / "a" / "one.gif", _clip(1))
    _write_gif(root / "b" / "two.gif", _clip(2, n=5))
    return root


def _need(*names: str) -> None:
    for a in get_adapters(names):
        ok, why = a.availability()
        if not ok:
            pytest.skip(f"{a.name} unavailable: {why}")


@pytest.fixture(scope="module")
def result(clips):
    _need("ffv1", "apng")
    return run_bench(
        [clips],
        codecs=["ffv1", "apng"],
        models=["last-frame"],
        repeats=2,
        progress=False,
        command="test",
        memory_files=1,
    )


def test_discover_labels(clips):
    found = discover([clips])
    assert [p.name for p, _ in found] == ["one.gif", "two.gif"]
    assert found[0][1] == ["corpus", "corpus/a"]


def test_harness_numbers_are_sane(result):
    assert len(result.files) == 2
    for f in result.files:
        assert f.error is None
        assert f.channels == 3 and f.width == 16 and f.height == 16
        assert f.pixels == 16 * 16 * f.frames and f.raw_bytes == 3 * f.pixels
        for key in ("gif", fpcodec_key("last-frame"), "ffv1", "apng"):
            r = f.codecs[key]
            assert r.counted, (key, r.status, r.detail)
            assert r.bytes > 0 and r.bits_per_pixel > 0
        assert f.codecs["gif"].status == "source"
        for key in (fpcodec_key("last-frame"), "ffv1", "apng"):
            r = f.codecs[key]
            assert r.status == "exact"
            assert len(r.encode_seconds) == 2 and r.encode_fps > 0 and r.decode_fps > 0
            measured = f is result.files[0]  # memory_files=1
            assert (r.encode_peak_bytes is not None) == measured == (r.decode_peak_bytes is not None)
            if measured:  # a whole child process: more than the baseline that only loads the frames
                assert r.encode_peak_bytes > result.config["memory_baseline_bytes"] > 10 * 2**20
        fb = f.codecs[fpcodec_key("last-frame")].frame_bytes
        assert len(fb) == f.frames and all(b > 0 for b in fb)
        q = f.prediction["last-frame"]["mean"]
        assert q["frames"] == f.frames - 1
        assert q["perceptual_distance"] > 0 and 0 < q["psnr"] < 100 and -1 <= q["ssim"] <= 1
        assert q["off_last_frame"] == 0.0  # last-frame predicts the last frame, by definition
    top = result.folders[0]
    assert top["folder"] == "corpus" and top["files"] == 2
    assert [f["folder"] for f in result.folders] == ["corpus", "corpus/a", "corpus/b"]
    e = top["codecs"]["ffv1"]
    assert e["files_counted"] == 2
    total = sum(f.codecs["ffv1"].bytes for f in result.files)
    assert e["bits_per_pixel"] == pytest.approx(8 * total / sum(f.pixels for f in result.files))
    assert top["codecs"]["gif"]["size_vs_gif"] == pytest.approx(1.0)
    # last-frame is the reference; the learned models were not asked for.
    assert top["gain_over_last_frame"] == {"last-frame": pytest.approx(0.0)}


def test_reports_written(result, tmp_path):
    plots = write_plots(result, tmp_path)
    write_json(result, tmp_path / "report.json")
    md = write_markdown(result, tmp_path / "report.md", plots).read_text()
    assert set(plots) == {"bits_per_pixel", "frame_bits", "predictions"}
    assert "| mean ≠ last frame |" in md and "| 0 % |" in md
    for name in plots.values():
        p = tmp_path / name
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size < 300_000
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["files"][0]["codecs"]["ffv1"]["status"] == "exact"
    assert data["folders"][0]["codecs"]["apng"]["bits_per_pixel"] > 0
    assert data["environment"]["cpu_count"] >= 1
    assert "## Headline" in md and "ffv1" in md and "fpcodec last-frame" in md and "NOT EXACT ×" not in md


def _perturb_decoder(adapter):
    def decode(data: bytes) -> Decoded:
        out = adapter.decode(data)
        frames = [f.copy() for f in out.frames]
        frames[-1][0, 0, 0] ^= 1  # one sample off by one
        return Decoded(frames, out.durations)

    return decode


def test_not_exact_is_flagged_and_not_counted(clips, tmp_path):
    _need("apng")
    apng = get_adapters(["apng"])[0]
    liar = FunctionCodec(
        name="liar", encode_fn=apng.encode, decode_fn=_perturb_decoder(apng), label="APNG with a wrong pixel"
    )
    gone = FunctionCodec(
        name="gone", encode_fn=apng.encode, decode_fn=apng.decode, available=(False, "not built here")
    )
    res = run_bench(
        [clips], adapters=[apng, liar, gone], models=["last-frame"], repeats=1, memory=False, progress=False
    )
    for f in res.files:
        assert f.codecs["liar"].status == "not-exact"
        assert "1 pixels differ" in f.codecs["liar"].detail
        assert f.codecs["apng"].status == "exact"
        assert "gone" not in f.codecs
    top = res.folders[0]
    assert top["codecs"]["liar"]["files_counted"] == 0
    assert "bits_per_pixel" not in top["codecs"]["liar"]
    assert len(top["codecs"]["liar"]["not_exact"]) == 2
    assert res.skipped == {"gone": "not built here"}
    md = write_markdown(res, tmp_path / "r.md").read_text()
    assert "NOT EXACT" in md and "not built here" in md


def test_lossy_codec_is_flagged(clips):
    from fpcodec.bench.codecs import PyAVCodec

    lossy = PyAVCodec("mpeg4", "MPEG-4 part 2 (lossy)", "mpeg4", "yuv420p", {"qscale": "10"})
    ok, why = lossy.availability()
    if not ok:
        pytest.skip(why)
    res = run_bench([clips], adapters=[lossy], models=["last-frame"], repeats=1, memory=False, progress=False)
    assert all(f.codecs["mpeg4"].status == "not-exact" for f in res.files)


def test_alpha_clip(tmp_path):
    _need("ffv1", "x264")
    frames = _clip(3)
    for f in frames:
        f[:4, :4] = 0  # colour 0 becomes transparent
    path = _write_gif(tmp_path / "alpha" / "t.gif", frames, transparency=0)
    res = run_bench(
        [path], codecs=["ffv1", "x264"], models=["last-frame"], repeats=1, memory=False, progress=False
    )
    f = res.files[0]
    assert f.channels == 4 and f.raw_bytes == 4 * f.pixels
    assert f.codecs["ffv1"].status == "exact", f.codecs["ffv1"].detail
    assert f.codecs["x264"].status == "skipped"
    assert f.codecs[fpcodec_key("last-frame")].status == "exact"


def test_rgb_source_of_many_colours_is_also_coded_as_planes(tmp_path):
    """``fpcodec bench`` shows what ``fpcodec encode`` does with an RGB source of many colours (planes,
    format version 16) next to the models' RGB modes; never on a GIF or a file of few colours, and
    a child process can rebuild the row by its name for the memory figures."""
    from fractions import Fraction

    from fpcodec.bench import memory

    yy, xx = np.mgrid[0:24, 0:32]
    smooth = [np.dstack([(xx * 7 + yy * 3 + t) % 256, (yy * 9 + t) % 256, (xx * 5) % 256]).astype(np.uint8)
              for t in range(3)]  # fmt: skip
    images = [Image.fromarray(f) for f in smooth]
    (tmp_path / "lib").mkdir()
    images[0].save(tmp_path / "lib" / "many.apng", save_all=True, append_images=images[1:], format="PNG")
    few = [Image.fromarray(f // 128 * 128) for f in smooth]
    few[0].save(tmp_path / "lib" / "few.apng", save_all=True, append_images=few[1:], format="PNG")
    _write_gif(tmp_path / "lib" / "g.gif", _clip(4))
    res = run_bench(
        [tmp_path / "lib"], codecs=[], models=["last-frame"], repeats=1, memory=False, progress=False
    )
    key = fpcodec_key("rgb-planes")
    by_name = {Path(f.path).name: f for f in res.files}
    many = by_name["many.apng"].codecs
    assert many[key].status == "exact" and many[key].bytes < many[fpcodec_key("last-frame")].bytes
    assert len(many[key].frame_bytes) == 3
    assert by_name["few.apng"].codecs[key].status == "skipped"
    assert key not in by_name["g.gif"].codecs
    assert res.folders[0]["codecs"][key]["files_counted"] == 1
    assert res.folders[0]["gain_over_last_frame"]["rgb-planes"] > 0
    enc, dec = memory.peak_rss(key, smooth, [4, 4, 4], Fraction(1, 100), 40)
    assert enc > 5 * 2**20 and dec > 5 * 2**20


def test_unreadable_file_is_reported(tmp_path):
    (tmp_path / "bad.gif").write_bytes(b"GIF89a broken")
    res = run_bench([tmp_path], codecs=[], models=["last-frame"], repeats=1, memory=False, progress=False)
    assert res.files[0].error
    assert res.folders[0]["unreadable"] == 1


def test_cli_in_process(clips, tmp_path):
    from fpcodec.codec.cli import main

    _need("apng")
    out = tmp_path / "rep"
    rc = main(
        [
            "bench",
            str(clips),
            "--codecs",
            "apng",
            "--models",
            "last-frame",
            "--repeats",
            "1",
            "--no-memory",
            "-q",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
    assert (out / "bits_per_pixel.png").is_file()
    assert main(["bench", str(clips), "--codecs", "nope", "-q", "-o", str(out)]) == 1


def test_cli_refuses_to_replace_a_report_without_force(clips, tmp_path, capsys, monkeypatch):
    from fpcodec.bench import run as bench_run
    from fpcodec.codec.cli import main

    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.md").write_text("an earlier report")
    monkeypatch.setattr(bench_run, "run_bench", lambda *a, **k: pytest.fail("benchmarked before the check"))
    args = [
        "bench",
        str(clips),
        "--codecs",
        "none",
        "--models",
        "last-frame",
        "--repeats",
        "1",
        "--no-memory",
        "--no-gain-sources",
        "-q",
        "-o",
        str(out),
    ]
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("fpcodec: error: ") and "already holds a report" in err and "-y" in err
    assert (out / "report.md").read_text() == "an earlier report"
    monkeypatch.undo()
    assert main(args + ["-y"]) == 0
    assert "# fpcodec compression benchmark" in (out / "report.md").read_text()


def test_unavailable_codec_is_said_on_stderr_and_in_the_report(clips, tmp_path, capsys, monkeypatch):
    """``--codecs webp jxl`` without imagecodecs: jxl is not silently dropped."""
    from fpcodec.bench.codecs import JpegXLCodec
    from fpcodec.codec.cli import main

    monkeypatch.setattr(
        JpegXLCodec,
        "availability",
        lambda self: (False, "imagecodecs is not installed (pip install imagecodecs)"),
    )
    out = tmp_path / "rep"
    capsys.readouterr()
    assert (
        main(
            [
                "bench",
                str(clips),
                "--codecs",
                "apng",
                "jxl",
                "--models",
                "last-frame",
                "--repeats",
                "1",
                "--no-memory",
                "-q",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "warning: jxl is not run: imagecodecs is not installed" in err and "fpcodec[bench]" in err
    md = (out / "report.md").read_text()
    headline = md.split("## Headline", 1)[1].split("## Per folder", 1)[0]
    assert "**Not run**" in headline and "jxl: imagecodecs is not installed" in headline


def test_memory_is_the_peak_rss_of_a_child_process(clips):
    """Whole processes, native libraries included: far more than tracemalloc's Python heap."""
    from fractions import Fraction

    from fpcodec.bench import memory

    frames = [np.zeros((64, 64, 3), np.uint8)] * 3
    base = memory.baseline_rss(frames)
    enc, dec = memory.peak_rss("fpcodec:last-frame", frames, [4, 4, 4], Fraction(1, 100), 40)
    assert 5 * 2**20 < base < enc and 5 * 2**20 < dec
    assert memory.measurable("apng") and memory.measurable("fpcodec:conv2d") and not memory.measurable("liar")


def test_gain_sources_split_a_models_gain_into_its_parts(tmp_path):
    """A "model" that differs from last-frame only in its scales gets all its gain in the scales
    step; one that differs only in its means gets it in the means step. (The scales change on
    every other row: a change by one factor everywhere the frame's scale shift takes back.)"""
    from fractions import Fraction

    from fpcodec.bench import gain_sources
    from fpcodec.codec import encode
    from fpcodec.models import registry
    from fpcodec.models.base import Prediction, Predictor

    ref = registry.get("last-frame")

    def variant(scale_factor: float, mean_shift: float):
        class Variant(Predictor):
            name, model_id = "variant", ref.model_id

            def predict(self, history):
                p = ref.predict(history)
                factor = np.ones_like(p.scale)
                factor[..., ::2, :] = scale_factor
                return Prediction(
                    np.clip(p.mean + mean_shift, 0, 255).astype(np.float32),
                    (p.scale * factor).astype(np.float32),
                    p.coupling,
                )

        return Variant()

    frames = _clip(7, n=4, size=24)
    durations = [4] * len(frames)
    ref_bytes = len(encode(frames, durations=durations, model=ref))
    for model, changed in ((variant(3.0, 0.0), "scales"), (variant(1.0, 9.0), "scales+means")):
        model_bytes = len(encode(frames, durations=durations, model=model))
        assert model_bytes != ref_bytes
        row = gain_sources.measure(
            frames,
            durations,
            Fraction(1, 100),
            model,
            ref,
            reference_bytes=ref_bytes,
            model_bytes=model_bytes,
        )
        assert row["last-frame"] == ref_bytes and row["model"] == model_bytes
        summary = gain_sources.summarise([row, row])
        assert summary["last_frame_bytes"] == 2 * ref_bytes and summary["files"] == 2
        steps = summary["steps"]
        assert sum(s["change_bytes"] for s in steps.values()) == 2 * (model_bytes - ref_bytes)
        for key, step in steps.items():
            assert (step["change_bytes"] != 0) == (key == changed), (changed, steps)


def test_report_explains_identical_prediction_panels(clips, tmp_path):
    """A learned model whose rounded means are last-frame's: the report's gain-sources table and the
    caption under the predictions say where its gain comes from."""
    res = run_bench(
        [clips], codecs=[], models=["last-frame", "conv2d-int"], repeats=1, memory=False, progress=False
    )
    top = res.folders[0]
    g = top["gain_sources"]["conv2d-int"]
    assert g["files"] == 2 and set(g["steps"]) == {"scales", "scales+means", "model"}
    assert g["model_bytes"] == top["codecs"][fpcodec_key("conv2d-int")]["bytes"]
    plots = write_plots(res, tmp_path)
    md = write_markdown(res, tmp_path / "report.md", plots).read_text()
    assert "## Where the learned models' gain comes from" in md and "+ model scales" in md
    if top["prediction"]["conv2d-int"]["off_last_frame"] == 0:
        assert "equal last-frame's on every subpixel" in md
    with Image.open(tmp_path / plots["frame_bits"]) as im:
        assert im.size[0] >= 700  # readable (was 336 px wide at 80 dpi)


def test_python_m_help():
    proc = subprocess.run(
        [sys.executable, "-m", "fpcodec.bench", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "--codecs" in proc.stdout


# ------------------------------------------------------------------------------------- metrics
def test_redmean_distance():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    assert metrics.redmean_distance(a, b) == 0
    b[..., 1] = 10  # dG = 10 everywhere: sqrt(4 * 100) = 20
    assert metrics.redmean_distance(a, b) == pytest.approx(20.0)
    c = a.copy()
    c[0, 0] = (100, 0, 0)  # r̄ = 50: sqrt((2 + 50/256) * 100²) on one of four pixels
    assert metrics.redmean_distance(a, c) == pytest.approx(np.sqrt((2 + 50 / 256) * 1e4) / 4)


def test_prediction_to_uint8_and_quality():
    mean = np.full((3, 8, 8), 254.6, np.float32)
    mean[0, 0, 0] = -3.0
    img = metrics.prediction_to_uint8(mean)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    assert img[0, 0, 0] == 0 and img[1, 1, 1] == 255
    q = metrics.prediction_quality(img, img)
    assert q["psnr"] == float("inf") and q["perceptual_distance"] == 0 and q["ssim"] == pytest.approx(1.0)
    assert metrics.residual_image(img, img)[0, 0, 0] == 128
    assert "off_last_frame" not in q
    last = img.copy()
    last[2, 3, 1] = 7  # one of 8 * 8 * 3 subpixels differs from the prediction (255 there)
    moved = metrics.prediction_quality(img, img, last)["off_last_frame"]
    assert moved == pytest.approx(1 / 192)
    assert metrics.mean_quality([{"off_last_frame": moved}, {"off_last_frame": 0.0}])[
        "off_last_frame"
    ] == pytest.approx(1 / 384)


def test_compare_and_expand():
    f = [np.full((2, 2, 3), i, np.uint8) for i in range(3)]
    assert metrics.compare_frames(f, [x.copy() for x in f]).exact
    assert not metrics.compare_frames(f, f[:2]).exact
    merged = [f[0], f[1]]  # f[1] shown for two periods
    assert metrics.compare_frames(
        f[:1] + [f[1], f[1]], metrics.expand_by_duration(merged, [0.04, 0.08], 0.04)
    ).exact
    assert metrics.gain_percent(90, 100) == pytest.approx(10.0)


# -------------------------------------------------------------------------------------- corpus
def test_shipped_manifest_loads():
    specs = corpus.load_manifest()
    assert len(specs) >= 1
    modes = {s.mode for s in specs}
    assert modes <= {"catz96", "giphy200", "native"}


def test_cut_clip():
    frames = [np.full((1, 1, 3), i, np.uint8) for i in range(20)]
    clip = corpus.cut_clip(frames, 3, 4, 2)
    assert [int(c[0, 0, 0]) for c in clip] == [3, 5, 7, 9]
    assert corpus.clip_indices(0, 3, 1) == [0, 1, 2]
    with pytest.raises(ValueError):
        corpus.cut_clip(frames, 15, 4, 2)


def test_crop_box_and_make_clip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        l, t, r, b = corpus.crop_box(176, 144, rng)
        side = r - l
        assert side == b - t and 0.45 * 144 - 1 <= side <= 144
        assert 0 <= l and r <= 176 and 0 <= t and b <= 144
    src = [np.random.default_rng(i).integers(0, 255, (36, 44, 3), dtype=np.uint8) for i in range(10)]
    spec = corpus.ClipSpec("val", "val/catz96/x_000.gif", "carphone", 1, 3, 2, True, (96, 96))
    out = corpus.make_clip_frames(src, spec)
    assert len(out) == 3 and out[0].shape == (96, 96, 3)
    assert corpus.make_clip_frames(src, spec)[0].tobytes() == out[0].tobytes()  # deterministic
    wide = corpus.ClipSpec("val", "val/giphy200/x_000.gif", "carphonew", 0, 2, 1, False, (200, 164))
    assert corpus.make_clip_frames(src, wide)[0].shape == (164, 200, 3)


def test_palettize_and_save(tmp_path):
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    for dither in (False, True):
        im = corpus.palettize(frame, dither)
        assert im.mode == "P" and len(im.getcolors(1 << 16)) <= 256
    p = corpus.save_gif(tmp_path / "c.gif", [frame, frame[::-1]], True, stride=2)
    with Image.open(p) as im:
        assert im.n_frames == 2 and im.info["duration"] == 80 and im.info["loop"] == 0


def test_merged_duplicate_frames_are_still_exact():
    """APNG/WebP writers merge identical consecutive frames; the check expands them by duration."""
    from fpcodec.bench.run import _run_external

    rng = np.random.default_rng(5)
    a, b = (rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) for _ in range(2))
    frames = [a, b, b, a, a, a]
    for adapter in get_adapters(["apng", "webp"]):
        if not adapter.availability()[0]:
            continue
        res = _run_external(adapter, frames, 40, 1, 8 * 8 * len(frames))
        assert res.status == "exact", (adapter.name, res.detail)


def test_row_share_reports_rgb_and_palette_costs(tmp_path, capsys):
    """The per-mode predictor diagnostic on a real 5-frame GIF: its palette-inter estimate equals
    what the encoder writes when it picks palette inter for the frame (within the coder's overhead), and flat
    rows (no temporal prediction in them) cost more than last-frame's on this moving clip."""
    from conftest import CARPHONE_WIDE

    from fpcodec.bench import row_share
    from fpcodec.codec import frame_coding as fc
    from fpcodec.codec.io import VideoReader
    from fpcodec.models.last_frame import last_frame_params

    frames = [f for f, _ in VideoReader(CARPHONE_WIDE).frames()]
    pred = last_frame_params(frames[:1])
    rgb, pal = row_share.frame_bits(frames[1], frames[0], pred)
    _, flat = row_share.frame_bits(frames[1], frames[0], pred, flat=True)
    assert pal is not None and flat > 1.1 * pal and rgb > pal
    moved = row_share.frame_bits(frames[1], frames[0], pred, mean_gain=0.5)[1]
    widened = row_share.frame_bits(frames[1], frames[0], pred, scale_gain=1.0)[1]
    assert moved != pal and widened != pal and abs(moved - pal) < 0.2 * pal
    coded = fc.encode_frame(frames[1], pred, frames[0], use_palette=True)
    assert coded.mode == fc.MODE_PALETTE_INTER
    assert abs(8 * len(coded.payload) - pal) < 0.01 * pal + 64

    clip = tmp_path / "clips" / "wide.gif"
    clip.parent.mkdir()
    clip.write_bytes(CARPHONE_WIDE.read_bytes())
    assert row_share.main([str(clip.parent), "--model", "last-frame", "--neighbour-mean", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "1 clips, 131200 predicted pixels, 131200 of them" in out
    lines = {line[:24].strip(): line.split() for line in out.splitlines()[2:]}
    assert set(lines) == {row_share.FLAT, "last-frame", "last-frame, mean 0.5"}
    assert lines["last-frame"][-2:] == ["+0.0", "%"]
    assert float(lines[row_share.FLAT][-3]) > float(lines["last-frame"][-3])


def test_oracle_motion_finds_the_displacement_of_each_block():
    """Block motion compensation, the oracle behind ``--oracle-motion``: a frame made of two blocks
    moved by different known amounts is rebuilt exactly from the previous frame, and a block that
    did not move keeps displacement zero even where other displacements tie."""
    from fpcodec.bench import row_share

    rng = np.random.default_rng(0)
    previous = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    frame = previous.copy()
    frame[:8, :8] = previous[1:9, 2:10]  # block (0, 0) moved by (+1, +2)
    frame[8:, 16:] = previous[5:13, 13:21]  # block (1, 2) moved by (-3, -3)
    mc = row_share.motion_compensated(previous, frame, block=8, reach=3)
    assert mc.dtype == np.float32 and np.array_equal(mc, frame)
    # Every displacement ties (each pixel is 1 off whatever is moved in): zero is kept.
    stripe = np.zeros((8, 8, 3), np.uint8)
    stripe[:, 7] = 2
    ones = np.ones((8, 8, 3), np.uint8)
    assert np.array_equal(row_share.motion_compensated(stripe, ones, 8, 3), stripe)
    # A frame of a size that is not a multiple of the block.
    odd = previous[:13, :21]
    assert np.array_equal(row_share.motion_compensated(odd, odd, 8, 2), odd)


def test_row_share_oracle_rows_beat_last_frame(tmp_path, capsys):
    """``--oracle-motion`` adds its three bounds to the report; on a moving clip the
    motion-compensated rows (an oracle: displacements picked with the true frame) cost less than
    last-frame's in both codings."""
    from conftest import CARPHONE_WIDE

    from fpcodec.bench import row_share

    clip = tmp_path / "clips" / "wide.gif"
    clip.parent.mkdir()
    clip.write_bytes(CARPHONE_WIDE.read_bytes())
    assert row_share.main([str(clip.parent), "--model", "last-frame", "--oracle-motion", "8", "3"]) == 0
    lines = {re.split(r"\s{2,}", line)[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(lines) == {row_share.FLAT, "last-frame", *row_share.oracle_labels(8, 3)}
    motion = lines["oracle motion 8/3"]
    assert float(motion[-3]) < float(lines["last-frame"][-3])  # palette inter
    assert float(motion[-6]) < float(lines["last-frame"][-6])  # RGB inter


def test_cross_device_encode_then_verify(tmp_path, capsys):
    """The cross-device check on one machine: the streams it writes verify (same bytes, decode to
    the source); a stream changed in the archive, or a source that is not the file the streams were
    made from, makes verify fail."""
    import tarfile

    from conftest import DATA

    from fpcodec.bench import cross_device

    source = (DATA / "odd" / "dispose_bgnd.gif").read_bytes()  # 5 frames, 100x100, disposal

    clip = tmp_path / "clips" / "clip.gif"
    clip.parent.mkdir()
    clip.write_bytes(source)
    archive = tmp_path / "streams.tar"
    assert (
        cross_device.main(
            [
                "encode",
                str(clip.parent),
                "-o",
                str(archive),
                "--device",
                "cpu",
                "--models",
                "last-frame",
                "convlstm-hybrid-int",
                "--rgb",
            ]
        )
        == 0
    )
    assert cross_device.main(["encode", str(clip), "-o", str(archive)]) == 2  # exists: not overwritten
    assert "exists" in capsys.readouterr().err
    assert cross_device.main(["verify", str(archive)]) == 0
    assert "4 streams identical and decoding to their sources, 0 not" in capsys.readouterr().out

    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(members[cross_device.MANIFEST])
    assert [(e["model"], e["palette"]) for e in manifest["streams"]] == [
        ("last-frame", True),
        ("last-frame", False),
        ("convlstm-hybrid-int", True),
        ("convlstm-hybrid-int", False),
    ]
    tampered = bytearray(members["0002.fpc"])
    tampered[-10] ^= 0x40
    members["0002.fpc"] = bytes(tampered)
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert cross_device.main(["verify", str(bad)]) == 1
    out = capsys.readouterr().out
    assert (
        out.count("BYTES DIFFER") == 1 and "3 streams identical and decoding to their sources, 1 not" in out
    )

    clip.write_bytes(source + b"\0")  # another file under the same name
    assert cross_device.main(["verify", str(archive)]) == 1
    assert "not the file the streams were made from" in capsys.readouterr().out


def test_model_time_reports_time_and_the_predictions_digest(capsys):
    """bench/model_time.py: one line per clip; the digest is that of the predicted integers (the
    same for the same frames, another for other frames)."""
    from conftest import DATA

    from fpcodec.bench import model_time
    from fpcodec.codec.io import VideoReader

    clip = DATA / "carphone_000.gif"
    assert model_time.main([str(clip), "--frames", "4", "--repeats", "1"]) == 0
    line = capsys.readouterr().out.strip()
    default = model_time.registry.DEFAULT_MODEL
    assert re.fullmatch(
        rf"carphone_000\.gif 96x96 {re.escape(default)} \(cpu\): [\d.]+ ms/frame, digest [0-9a-f]{{16}}, "
        rf"peak RSS \d+ MiB",
        line,
    ), line
    frames = [f for f, _ in VideoReader(clip).frames()][:4]
    seconds, digest = model_time.time_model(frames, default, 1)
    assert seconds > 0 and f"digest {digest}," in line
    assert model_time.time_model(frames[::-1], default, 1)[1] != digest


def test_model_time_in_tiles_gives_the_same_digest(capsys, monkeypatch):
    """``--tiled-from 0`` predicts every frame in tiles (the same integers: the same digest)."""
    from conftest import DATA

    from fpcodec.bench import model_time
    from fpcodec.models import tiling

    monkeypatch.setattr(tiling, "TILED_FROM", tiling.TILED_FROM)  # the option sets it for the process
    monkeypatch.setattr(tiling, "TILED_FROM_GPU", tiling.TILED_FROM_GPU)
    tiles = []
    monkeypatch.setattr(tiling, "tiles", lambda *a, tiles_of=tiling.tiles: tiles.append(a) or tiles_of(*a))
    clip = str(DATA / "carphone_000.gif")
    assert model_time.main([clip, "--frames", "2", "--repeats", "1", "--tiled-from", str(1 << 40)]) == 0
    whole = capsys.readouterr().out.split("digest ")[1].split(",")[0]
    assert not tiles
    assert model_time.main([clip, "--frames", "2", "--repeats", "1", "--tiled-from", "0"]) == 0
    assert capsys.readouterr().out.split("digest ")[1].split(",")[0] == whole and tiles


def test_inter_probe_log_and_replay(tmp_path):
    """bench/inter_probe.py: ``log`` writes every mode's estimate per frame (the predicted modes
    from the second frame on); ``replay`` charges a left-out frame the best mode without
    prediction and leaves frames out only after the losses in a row."""
    from conftest import DATA

    from fpcodec.bench import inter_probe

    out = tmp_path / "est.jsonl"
    assert inter_probe.main(["log", str(DATA / "carphone_000.gif"), "-o", str(out), "--frames", "3"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in rows] == [0, 1, 2] and {r["clip"] for r in rows} == {"carphone_000.gif"}
    assert "3" not in rows[0]["bits"] and {"0", "2", "3"} <= set(rows[1]["bits"])
    # Predicted modes lose by 50 % on frames 1-3, then would win on frames 4-6.
    frames = [{"bits": {"0": 100.0, "2": 10.0}}]
    frames += [{"bits": {"0": 100.0, "2": 10.0, "3": 15.0}} for _ in range(3)]
    frames += [{"bits": {"0": 100.0, "2": 10.0, "3": 5.0}} for _ in range(3)]
    best, rule, count, left_out = inter_probe.replay(frames, losses=3, margin=0.1, probe=4)
    assert (best, count) == (10 + 3 * 10 + 3 * 5, 6)
    assert left_out == 3 and rule == 10 + 3 * 10 + 3 * 10  # frames 4-6 left out at 10 bits each
    assert inter_probe.replay(frames, losses=4, margin=0.1, probe=4)[1:] == (best, 6, 0)
    # losses on the first frames after a key frame (its window filling) need not count
    assert inter_probe.replay(frames, losses=3, margin=0.1, probe=4, warm=1)[1:] == (best, 6, 0)
    assert inter_probe.replay(frames[:4] + frames[1:], losses=3, margin=0.1, probe=4, warm=1)[3] == 3
    # Near ties: the predicted modes win by 1 % on frames 1-6; after two such frames in a row,
    # every 2nd frame is left out (frames 3 and 5), each charged the 0.1 bits it would have won.
    ties = frames[:1] + [{"bits": {"0": 100.0, "2": 10.0, "3": 9.9}} for _ in range(6)]
    best, rule, count, left_out = inter_probe.replay(ties, 6, 0.1, 16, tie=0.02, tie_losses=2, tie_probe=2)
    assert (count, left_out) == (6, 2) and rule == pytest.approx(best + 2 * 0.1)
    assert inter_probe.replay(ties, 6, 0.1, 16, tie=0.005, tie_losses=2, tie_probe=2)[3] == 0  # not a tie
    assert inter_probe.replay(ties, 6, 0.1, 16)[3] == 0
    # Close ties (within 5 %) double the frames left out after each, up to tie_max: estimated on
    # frames 1, 2, 6 and (up to 4) 10 of 12.
    ties = frames[:1] + [{"bits": {"0": 100.0, "2": 10.0, "3": 9.9}} for _ in range(12)]
    close = {"tie": 0.02, "tie_losses": 2, "tie_probe": 2, "tie_close": 0.05}
    best, rule, count, left_out = inter_probe.replay(ties, 6, 0.1, 16, **close, tie_max=8)
    assert (count, left_out) == (12, 9) and rule == pytest.approx(best + 9 * 0.1)
    assert inter_probe.replay(ties, 6, 0.1, 16, **close, tie_max=4)[3] == 8
    assert (
        inter_probe.replay(ties, 6, 0.1, 16, **{**close, "tie_close": -0.02}, tie_max=8)[3] == 5
    )  # not close
    assert [inter_probe.tie_span(n, 2, 8) for n in range(5)] == [2, 4, 8, 8, 8]
    lines = inter_probe.simulate([out])
    assert lines[0].startswith("| not counted after a key frame | losses |") and len(lines) == 2 + 27
    assert len(inter_probe.simulate([out], (6,), (0.1,), (16,), (0,), (0.01, 0.02), (2, 4), (2,))) == 2 + 4
    assert len(inter_probe.simulate([out], (6,), (0.0, 0.1), (16,), (0, 6))) == 2 + 4
    grid = inter_probe.simulate([out], (6,), (0.1,), (16,), (0,), (0.01,), (4,), (2,), (0.02, 0.05), (0, 8))
    assert len(grid) == 2 + 4 and grid[0].count("|") == grid[-1].count("|")


def test_ab_medians_reads_times_and_peak_memory(tmp_path, capsys):
    """speed_ab.sh's lines, with and without the peak RSS column: medians and ratios per clip."""
    from fpcodec.bench import ab_medians

    lines = [
        "a.gif: streams identical",
        "old enc a.gif 4.0 204800",
        "new enc a.gif 2.0 102400",
        "old enc a.gif 6.0 307200",
        "new enc a.gif 3.0 102400",
        "old dec a.gif 1.0",
        "new dec a.gif 0.5",
        "new1 dec a.gif 0.75",
    ]
    path = tmp_path / "ab.txt"
    path.write_text("\n".join(lines) + "\n")
    ab_medians.main(str(path))
    out = capsys.readouterr().out
    assert "| a.gif | enc | 5.00 | 2.50 | 0.50 | – | – | 250 / 100 |" in out
    assert "| a.gif | dec | 1.00 | 0.50 | 0.50 | 0.75 | 1.50 | – |" in out


def test_encoder_and_decoder_compile_each_kernel_once(tmp_path):
    """bench/kernel_signatures.py, in a fresh process: palette, RGB and planar frames encoded and
    decoded compile every numba kernel for one set of argument types (a second version is a
    second compile, 1-5 s, on a machine's first run); the listing names the kernels."""
    from conftest import DATA

    out = tmp_path
    commands = [
        f"encode {DATA / 'carphonew_000_5f.gif'} -o {out / 'p.fpc'} -q",
        f"decode {out / 'p.fpc'} -o {out / 'p.apng'} -q",
        f"encode {DATA / 'carphonew_000_5f.gif'} --no-palette -o {out / 'r.fpc'} -q",
        f"decode {out / 'r.fpc'} -o {out / 'r.apng'} -q",
        f"encode {DATA / 'carphone_yuv420p_64x48.mkv'} -o {out / 'y.fpc'} -q",
        f"decode {out / 'y.fpc'} -o {out / 'y.mkv'} -q",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "fpcodec.bench.kernel_signatures", *commands],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = proc.stdout.splitlines()
    for kernel in ("search_kernel._beta_costs", "intra_kernel._params", "planar_kernel._inter_params"):
        assert f"1  codec.{kernel}" in listed
    assert "motion_kernel._compensate" in proc.stdout and listed[-1].endswith("0 of them more than once")


def test_sort_ab_times_both_sorts_on_a_decodes_tables(tmp_path, capsys):
    """bench/sort_ab.py on a real clip's stream: both sorts make every table of the decodes (it
    checks that they agree), each takes some time, and the codec's ``unique_counts`` is its own
    again afterwards."""
    from conftest import CARPHONE_WIDE

    from fpcodec.bench import sort_ab
    from fpcodec.codec import encode, rows_kernel
    from fpcodec.codec.io import VideoReader

    frames = [f[:48, :48] for f, _ in VideoReader(CARPHONE_WIDE).frames()][:3]
    data = encode(frames, model="last-frame")
    original = rows_kernel.unique_counts
    seconds, tables, count = sort_ab.sort_times(data, repeats=2)
    assert rows_kernel.unique_counts is original
    assert count == 6 and tables > 0 and tables % 2 == 0
    assert set(seconds) == {"numpy", "radix"} and min(seconds.values()) > 0
    stream = tmp_path / "s.fpc"
    stream.write_bytes(data)
    assert sort_ab.main([str(stream), "--repeats", "1"]) == 0
    assert "tables in 3 frames" in capsys.readouterr().out
    by_class: dict[int, dict[str, float]] = {}
    clip = tmp_path / "c.gif"
    images = [Image.fromarray(f).quantize(64) for f in frames]
    images[0].save(clip, save_all=True, append_images=images[1:], duration=40)
    seconds, tables, count = sort_ab.encode_sort_times(clip, repeats=1, by_class=by_class)
    assert rows_kernel.unique_counts is original
    assert count == 3 and tables > 0 and min(seconds.values()) > 0
    assert by_class and all(set(ways) == {"numpy", "radix"} for ways in by_class.values())
    assert sum(ways["radix"] for ways in by_class.values()) == pytest.approx(seconds["radix"])


def test_decode_share_times_the_stages_of_a_real_decode(tmp_path, capsys):
    """bench/decode_share.py on a real clip with the learned model: every stage it times is inside
    the decode it reports, the model runs once per predicted frame, and the codec's functions are
    its own again afterwards."""
    from conftest import CARPHONE_WIDE

    from fpcodec.bench import decode_share
    from fpcodec.codec import encode, frame_coding
    from fpcodec.codec.io import VideoReader

    frames = [f[:48, :48] for f, _ in VideoReader(CARPHONE_WIDE).frames()][:3]
    data = encode(frames)  # the default, learned model
    original = frame_coding.decode_frame
    total, count, rows = decode_share.decode_shares(data, repeats=2)
    assert frame_coding.decode_frame is original
    assert count == 3
    stages = {label: (seconds, calls) for label, seconds, calls in rows}
    frame_seconds, frame_calls = stages["a frame's decoding, the model included"]
    assert frame_calls == 3
    assert 1 <= stages["learned model (integer)"][1] <= 2  # the first frame has no prediction
    assert stages["palette passes"][1] >= 1 and stages["palette rows: model weights"][1] >= 1
    assert stages["learned model (integer)"][0] <= frame_seconds <= total
    assert all(seconds <= total for seconds, _ in stages.values())
    stream = tmp_path / "s.fpc"
    stream.write_bytes(data)
    assert decode_share.main([str(stream), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{stream}: 3 frames in ") and "learned model (integer)" in out


def test_range_speed_times_both_searches_and_checks_the_symbols(tmp_path, capsys):
    """bench/range_speed.py: Laplace values decoded back exactly at two scales, and a real
    palette stream's blocks of running sums decoded again, with and without the hints, to the
    symbols the decoder found (a block decoded to other symbols would raise)."""
    from conftest import CARPHONE_WIDE

    from fpcodec.bench import range_speed
    from fpcodec.codec import encode
    from fpcodec.codec.io import VideoReader

    frames = [f[:40, :40] for f, _ in VideoReader(CARPHONE_WIDE).frames()][:3]
    stream = tmp_path / "s.fpc"
    stream.write_bytes(encode(frames))
    calls = range_speed.captured_sums(stream.read_bytes(), blocks=2)
    assert 1 <= len(calls) <= 2 and all(c[1].shape[1] == c[4].size for c in calls)
    argv = ["--scales", "0,40", "--values", "3000", "--repeats", "1", str(stream)]
    assert range_speed.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Laplace rows, scale index 0 (b = 0.04): ") and out[1].startswith(
        "Laplace rows, scale index 40"
    )
    assert (
        out[2].startswith(f"{stream}: ") and "without hints" in out[2] and "a hint is the symbol in" in out[2]
    )


def test_vs_gif_table_compares_two_runs(tmp_path, capsys) -> None:
    """Two vs_gif JSON runs: bytes per clip, ratios, the totals over the clips WebP codes exactly
    and the clips not smaller than their GIF."""
    import json

    from fpcodec.bench import vs_gif_table

    def run(name: str, sizes: dict[str, int], webp: bool) -> Path:
        clips = []
        for clip, size in sizes.items():
            entry = {"name": f"pkg__{clip}", "frames": 2, "width": 4, "height": 3, "gif_bytes": 100}
            entry["models"] = {"last-frame": {"bytes": size, "encode_seconds": 0.1}}
            if webp:
                entry["webp"] = {"bytes": 80, "counted": clip != "b.gif"}
            clips.append(entry)
        clips.append({"name": "broken.gif", "skipped": "damaged"})
        path = tmp_path / name
        path.write_text(json.dumps({"clips": clips}))
        return path

    before = run("a.json", {"a.gif": 120, "b.gif": 50}, False)
    after = run("b.json", {"a.gif": 60, "b.gif": 100}, True)
    assert vs_gif_table.main([str(before), str(after), "--labels", "v1", "v2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| clip | frames | WxH | GIF | WebP lossless | v1 | v2 | v2 / v1 |")
    assert out[2] == "| a.gif | 2 | 4x3 | 100 | 80 | 120 | **60** | 0.500 | 0.600 | 0.750 |"
    assert out[3] == "| b.gif | 2 | 4x3 | 100 | n/a | 50 | **100** | 2.000 | 1.000 | n/a |"
    assert out[4] == "| **all 2** | | | 200 | | 170 | 160 | 0.941 | 0.800 | |"
    assert out[5] == "| **the 1 WebP codes exactly** | | | 100 | 80 | 120 | 60 | 0.500 | 0.600 | 0.750 |"
    assert out[-1] == "Not smaller than the GIF (v2): pkg__b.gif."
    with pytest.raises(SystemExit, match="different clips: pkg__c.gif"):
        vs_gif_table.table(before, run("c.json", {"a.gif": 1, "b.gif": 1, "c.gif": 1}, False))


def test_rgb_planes_bench_checks_every_coder_and_totals_the_exact_ones(monkeypatch):
    """bench/rgb_planes.py: fpcodec's three coders give the frames back (checked inside), an
    external codec that does not is listed as NOT EXACT, and the totals leave it out."""
    from fpcodec.bench import rgb_planes

    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:24, 0:32]
    frames = [
        np.clip(np.dstack([x * 7 + t, y * 9, (x + y) * 4]) + rng.integers(0, 3, (24, 32, 3)), 0, 255).astype(
            np.uint8
        )
        for t in range(3)
    ]
    lossy = FunctionCodec("lossy", lambda fr, d, f: b"x" * 10, lambda data: Decoded([f ^ 1 for f in frames]))
    good = FunctionCodec("good", lambda fr, d, f: b"y" * 50, lambda data: Decoded(list(frames)))
    rows = [rgb_planes.measure(name, frames, [lossy, good]) for name in ("a", "b")]
    assert rows[0]["lossy"]["status"] == "NOT EXACT" and rows[0]["good"]["status"] == "exact"
    assert all(rows[0][k]["bytes"] > 0 for k in ("rgb_default", "rgb_last_frame", "planes"))
    monkeypatch.setattr(rgb_planes, "_EXTERNAL", ("lossy", "good"))  # the report's columns
    text = rgb_planes.report(rows, "t")
    assert "| a | 32x24 x 3 |" in text and "NOT EXACT" in text
    total = next(line for line in text.splitlines() if line.startswith("| **total**"))
    assert "(2 clips exact in every counted coder)" in total and total.count("n/a") == 1


def test_mixer_probe_reproduces_the_coders_bits(tmp_path):
    """bench/mixer_probe.py's recorder, fed by code_passes' observe hook, rebuilds each palette
    inter pixel's probability under the encoder's weights: its ideal code length is what the
    frames' payloads hold, within the coder's overhead and the copied-block maps."""
    from fpcodec.bench import mixer_probe
    from fpcodec.codec import Decoder, encode
    from fpcodec.codec.io import VideoReader

    frames = [
        f[:48, :48] for f, _ in VideoReader(Path(__file__).parent / "data" / "carphone_000.gif").frames()
    ][:4]
    path = tmp_path / "c.gif"
    Image.fromarray(frames[0]).save(
        path, save_all=True, append_images=[Image.fromarray(f) for f in frames[1:]], duration=40
    )
    got = [f for f, _ in VideoReader(path).frames()]
    cols = mixer_probe.collect([path], "last-frame", quiet=True)
    found = mixer_probe.oracles(cols)
    stream = encode(got, model="last-frame")
    inter = [
        r for r, _, _ in Decoder(io.BytesIO(stream), load_model=False).frame_records() if r.mode in (3, 4)
    ]
    assert inter and cols["p_model"].size == sum(48 * 48 for _ in inter)
    payload_bits = 8 * sum(len(r.payload) for r in inter)
    assert 0.9 * payload_bits < found["baseline"] <= payload_bits
    assert all(v <= found["baseline"] + 1e-6 for k, v in found.items() if "per frame" in k)


def _toggling_clip(path: Path, frames: int = 6) -> None:
    """A 48x48 GIF of carphone's first frame with a square that is there on odd frames only."""
    from fpcodec.codec.io import VideoReader

    still = next(iter(VideoReader(Path(__file__).parent / "data" / "carphone_000.gif").frames()))[0][:48, :48]
    shown = still.copy()
    shown[8:24, 16:32] = still[0, 0]  # a colour of the frame's own, so the palette stays the same
    images = [Image.fromarray(shown if k % 2 else still) for k in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=40)


def test_back_probe_votes_for_the_colour_before_the_last(tmp_path):
    """bench/back_probe.py: where a square comes and goes, every pixel that changes from the last
    frame has the colour of two frames back, and both votes say so (none elsewhere), so a weight
    per frame saves bits; ``back_votes`` itself on a pixel that returns after three frames."""
    from fpcodec.bench import back_probe

    path = tmp_path / "toggle.gif"
    _toggling_clip(path)
    cols, total, coded = back_probe.collect([path, tmp_path / "missing.gif"], "last-frame")
    assert total > 0 and coded == 1 and cols["p_model"].size > 0
    for vote in back_probe.VOTES:
        has = cols[f"has_{vote}"] > 0
        assert has.any() and np.array_equal(has, cols[f"match_{vote}"] > 0)
        changed = (cols["has_prev"] > 0) & (cols["match"] == 0)  # the square's pixels
        later = cols["frame"] > 0  # from the clip's third frame on (its second is recorded first)
        assert np.array_equal(has, changed & later)
        per_frame, fixed, weight = back_probe.savings(cols, vote)
        assert per_frame > 0 and fixed > 0 and weight > 0

    palette = np.array([[0, 0, 0], [9, 9, 9], [200, 0, 0]], np.uint8)
    a, b, c = ([[v]] for v in palette)
    history = [np.array(x, np.uint8) for x in (c, a, a, b)]  # oldest first: c, then a, a, then b
    votes = back_probe.back_votes(history, palette[::-1])  # any palette order
    # a is index 2 of the reversed palette
    assert votes["t2"].tolist() == [2] and votes["latest"].tolist() == [2]
    votes = back_probe.back_votes(history[:1] + [np.array(b, np.uint8)] * 2 + history[-1:], palette)
    assert votes["t2"].tolist() == [-1] and votes["latest"].tolist() == [2]  # c, three frames back


def test_lz_probe_log_and_replay(tmp_path):
    """bench/lz_probe.py: ``log`` writes palette LZ's bits and bound for every frame (the probe
    left out of the encoder); ``replay`` leaves frames out as ``LzProbe`` does and charges each
    the bits LZ would have won there."""
    from conftest import DATA

    from fpcodec.bench import lz_probe

    out = tmp_path / "lz.jsonl"
    args = ["log", str(DATA / "carphone_000.gif"), "-o", str(out), "--frames", "6", "-m", "last-frame"]
    assert lz_probe.main(args) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in rows] == list(range(6))
    assert [r["previous"] for r in rows] == [False, True, True, True, True, True]
    assert all(r["lz"] > r["bound"] > 0 for r in rows[1:])  # video: LZ loses every predicted frame
    # LZ loses by 50 % on frames 1-2, then would win frames 3-5 (bound unchanged): with a probe
    # of 4, frames 2-4 are left out, 3 and 4 charged their 20 bits; frame 5 is compressed.
    frames = [{"previous": False, "lz": 100.0, "bound": 100.0, "seconds": 1.0}]
    frames += [{"previous": True, "lz": 150.0, "bound": 100.0, "seconds": 1.0} for _ in range(2)]
    frames += [{"previous": True, "lz": 80.0, "bound": 100.0, "seconds": 1.0} for _ in range(3)]
    best, added, count, left_out, saved = lz_probe.replay(frames, margin=0.25, probe=4, jump=1.5)
    assert (best, count, left_out, saved, added) == (100 + 200 + 240, 5, 3, 3.0, 40.0)
    assert lz_probe.replay(frames, margin=0.6, probe=4, jump=1.5)[3] == 0  # within the margin
    moved = frames[:3] + [{**f, "bound": 200.0, "lz": 160.0} for f in frames[3:]]
    assert lz_probe.replay(moved, margin=0.25, probe=4, jump=1.5)[3] == 1  # frame 2 only
    lines = lz_probe.simulate([out])
    assert lines[0].startswith("1 clips, 6 frames") and len(lines) == 4 + 18


def test_module_ab_compares_a_modules_old_file_and_restores_the_new(tmp_path, capsys):
    """bench/module_ab.py: the same file as "old" gives the same frames (and, encoding, the same
    stream) and a ratio per pair; an old file whose rows differ is refused (exit 1) before any
    timing; and the codec's own module is in place afterwards."""
    from conftest import CARPHONE_WIDE

    from fpcodec.bench import module_ab
    from fpcodec.codec import encode, rows_kernel
    from fpcodec.codec.io import VideoReader

    frames = [f[:32, :32] for f, _ in VideoReader(CARPHONE_WIDE).frames()][:3]
    stream = tmp_path / "s.fpc"
    stream.write_bytes(encode(frames))
    source = Path(rows_kernel.__file__)
    assert module_ab.main(["rows_kernel", str(source), str(stream), "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "the same 3 frames from both: True" in out and "(2 pairs)" in out
    changed = tmp_path / "rows_kernel.py"  # the context counts' blend at twice their weight
    blend = "coeff[j, o] = 1.0 / denom"
    text = source.read_text().replace(blend, blend.replace("1.0 /", "2.0 /"))
    changed.write_text(text.replace("cache=True", "cache=False"))
    assert module_ab.main(["rows_kernel", str(changed), str(stream), "--rounds", "2"]) == 1
    out = capsys.readouterr().out  # a frame's checksum fails, or (without one) other frames
    assert "the old module fails" in out or "the same 3 frames from both: False" in out
    clip = tmp_path / "c.gif"  # --encode: the same stream from both
    pictures = [Image.fromarray(f).quantize(32) for f in frames]
    pictures[0].save(clip, save_all=True, append_images=pictures[1:], duration=40)
    assert module_ab.main(["rows_kernel", str(source), str(clip), "--encode", "--rounds", "1"]) == 0
    assert "the same stream from both: True" in capsys.readouterr().out
    import fpcodec.codec as package

    assert package.rows_kernel is rows_kernel and sys.modules["fpcodec.codec.rows_kernel"] is rows_kernel


def test_tree_ab_compares_two_whole_trees_in_one_process(tmp_path, capsys, monkeypatch):
    """bench/tree_ab.py: the installed tree as the "old" one gives the same frames and a ratio per
    pair; its kernels are made with numba's cache in the given folder (not next to the files,
    where they were cached under the name ``fpcodec``); a tree whose frames differ is refused (exit
    1) before any timing; a folder that is not a checkout is refused. (A version-1 stream: its
    frames need no kernel, which the old tree would compile into the empty cache first.)"""
    from fpcodec.bench import tree_ab

    tree = str(Path(tree_ab.__file__).parents[1])  # codec/, models/, bitstream/, bench/
    stream = Path(__file__).parent / "data" / "v1_stream.fpc"
    cache = tmp_path / "cache"
    assert tree_ab.main([tree, str(stream), "--rounds", "2", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "the same 4 frames from both trees: True" in out and "(2 pairs)" in out
    old_rows = sys.modules[f"{tree_ab.OLD_PACKAGE}.codec.rows_kernel"]
    assert old_rows._rows._cache._cache_path.startswith(str(cache))
    package = tmp_path / "pkg"
    package.mkdir()
    for part in tree_ab.PARTS:
        (package / part).symlink_to(Path(tree) / part)
    kernels = tree_ab.kernel_modules(str(package))
    assert {"pkg.codec.weight_kernel", "pkg.bitstream.range_decoder", "pkg.models.conv_kernel"} <= set(
        kernels
    )
    assert not any(".bench." in name for name in kernels) and "pkg.codec.pipeline" not in kernels
    decoder = tree_ab.decoder

    def other(package="fpcodec"):  # the old tree's frames one value off
        decode = decoder(package)
        if package == "fpcodec":
            return decode
        return lambda data: (lambda s, f: (s, [x ^ 1 for x in f]))(*decode(data))

    monkeypatch.setattr(tree_ab, "decoder", other)
    assert tree_ab.main([tree, str(stream), "--rounds", "2", "--cache-dir", str(cache)]) == 1
    out = capsys.readouterr().out
    assert "the same 4 frames from both trees: False" in out and "pairs" not in out
    with pytest.raises(SystemExit, match="no codec/ folder"):
        tree_ab.main([str(tmp_path), str(stream)])


def test_context_model_probe_aligns_each_pass_with_its_frame(tmp_path):
    """bench/context_model_probe.py: every recorded pixel's true index is its colour in the frame
    the network is shown, the history is the frames before it, and the passes it is shown decoded
    are exactly those before the pixel's own; a briefly trained network's rows give finite bits,
    choosing per frame never costs more than the encoder's rows, and an untrained network's rows
    are the intra rule's."""
    from fpcodec.bench import context_model_probe as cmp
    from fpcodec.codec import intra
    from fpcodec.codec.io import VideoReader

    path = Path(__file__).parent / "data" / "carphone_000.gif"
    got = [f[..., :3] for f, _ in VideoReader(path).frames()][:12]
    # the clip's first predicted frames are coded in the row schedule, which the probe leaves out
    cols, data = cmp.collect([path], "last-frame", quiet=True, frames=12)
    assert cols and len(cols) == len(data)
    ranks = cmp.pass_ranks(96, 96)
    passes = list(intra.passes(96, 96))
    assert sum(p.targets.size for p in passes) == ranks.size
    assert all(np.all(ranks[p.targets] == k) for k, p in enumerate(passes))
    for c, d in zip(cols, data, strict=True):
        n = d["index"]
        assert len(d["history"]) == min(n, cmp.HISTORY) and np.array_equal(d["frame"], got[n])
        assert all(np.array_equal(f, got[n - len(d["history"]) + j]) for j, f in enumerate(d["history"]))
        flat = d["frame"].reshape(-1, 3)
        assert np.array_equal(d["palette"][d["idx"][d["pos"]]], flat[d["pos"]])
        assert d["pos"].size == c["p_model"].size
        k = ranks[d["pos"][-1]]
        rule = cmp.rule_planes(d["frame"], int(k))
        x = cmp.net_inputs(d["history"], d["frame"], (ranks < k).reshape(96, 96), rule)
        assert x.shape == (cmp.IN_CHANNELS, 96, 96)
        known = x[3 * cmp.HISTORY + 3].astype(bool).ravel()
        assert np.array_equal(known, ranks < k) and not known[d["pos"][-1]]
        assert np.all(x[3 * cmp.HISTORY : 3 * cmp.HISTORY + 3].reshape(3, -1)[:, ~known] == 0)
        # the rule's mean at the pass's pixels is the intra rule's, read from the earlier passes
        canvas = np.ascontiguousarray(d["frame"].reshape(-1, 3).T)
        mean, _ = intra.pass_params(canvas, passes[k])
        assert np.array_equal(rule[0].reshape(3, -1)[:, passes[k].targets], mean)
    net = cmp.train(cmp.load_clips([path]), steps=3, batch=2, quiet=True)
    found = cmp.size(net, cols, data)
    assert np.isfinite(found["network"]) and found["network"] > 0
    assert found["better per frame"] <= found["baseline"] + 1e-6
    assert found["rows mixed per frame"] <= found["baseline"] + 1e-6
    # an untrained network moves nothing: at scale shift 0 its rows are the intra rule's, which
    # the recorder made from the coder's own pass parameters
    untrained = cmp.build_net().eval()
    for c, d in zip(cols, data, strict=True):
        c = dict(c, idx=d["idx"][d["pos"]])
        p = cmp.network_true_p(untrained, d, c)[cmp.SHIFTS.index(0)]
        assert np.allclose(p, c["p_intra"], rtol=1e-12, atol=0)


def test_peak_holders_names_the_buffers_a_frame_reaches():
    """bench/peak_holders.py: each numpy base buffer the frames' locals reach is listed once (a view
    of it is not another buffer), under the name that reaches it, through dicts, objects and
    closures; small ones are left out, and a dead weak proxy (which raises when looked at, as one
    did among the gc's objects in the whole suite) is passed over."""
    import weakref

    from fpcodec.bench import peak_holders

    class Holder:
        def __init__(self) -> None:
            self.plane = np.zeros((512, 512), np.float32)  # 1 MB

    big = np.zeros(1 << 19, np.uint8)  # 512 KB
    view = big[10:]  # noqa: F841 - reached, but the same buffer as ``big``
    table = {"codes": np.zeros(1 << 16, np.int64)}  # 512 KB
    holder = Holder()
    small = np.zeros(100)  # noqa: F841 - below min_bytes

    def counter():
        hidden = np.ones(1 << 17, np.int32)  # 512 KB, reached through the closure only

        def closure():
            return hidden.sum()

        return closure

    closure = counter()
    gone = Holder()
    dead = weakref.proxy(gone)  # noqa: F841 - a dead proxy raises on every look: skipped
    del gone
    peak_holders.live_counts()  # the gc's objects include the proxy: it does not raise
    rows = peak_holders.reachable_buffers(sys._getframe(), min_bytes=1 << 18)
    here = "test_bench.py:test_peak_holders_names_the_buffers_a_frame_reaches."
    by_path = {path.removeprefix(here): (n, dtype) for n, path, dtype, _ in rows if path.startswith(here)}
    assert by_path["holder.['plane']"] == (1 << 20, "float32")
    assert by_path["big"] == (1 << 19, "uint8") and "view" not in by_path
    assert by_path["table['codes']"] == (1 << 19, "int64")
    assert by_path["closure<closure 0>"] == (1 << 19, "int32")
    assert not any(n < 1 << 18 for n, _, _, _ in rows)
    assert holder is not None and table and closure() == 1 << 17


def test_peak_holders_snapshots_the_main_thread_at_a_new_high(tmp_path, capsys):
    """A ``PeakWatch`` signals the main thread when the resident set grows and the snapshot holds
    the buffer that grew it; ``main`` runs an fpcodec command in-process and reports."""
    import time

    from fpcodec.bench import peak_holders

    watch = peak_holders.PeakWatch(step=1 << 16)
    watch.start()
    try:
        grown = np.ones(16 << 20, np.uint8)  # 16 MB, every page written
        more = []
        for _ in range(100):  # more highs: a snapshot may come before ``grown`` is bound
            more.append(np.ones(1 << 20, np.uint8))
            time.sleep(0.01)  # the handler runs when the sleep is interrupted
            if any(path.endswith(".grown") for _, path, _, _ in watch.buffers):
                break
    finally:
        watch.stop()
    assert watch.rss > grown.nbytes
    assert any(path.endswith(".grown") and n == grown.nbytes for n, path, _, _ in watch.buffers)
    assert "test_peak_holders_snapshots" in " ".join(watch.stack)
    clip = tmp_path / "c.gif"
    frames = [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(3)]
    Image.fromarray(frames[0]).save(
        clip, save_all=True, append_images=[Image.fromarray(f) for f in frames[1:]]
    )
    out = tmp_path / "c.fpc"
    assert peak_holders.main(["--top", "3", "--", "encode", str(clip), "-o", str(out), "-q"]) == 0
    assert out.stat().st_size > 0 and "peak RSS" in capsys.readouterr().out


def test_memory_sizes_bytes_a_pixel_above_the_first_size_and_marginal():
    """bench/memory_sizes.py's arithmetic: MiB over pixels, against the first row and the row before."""
    from fpcodec.bench import memory_sizes

    rows = [
        {"pixels": 1000, "encode_mib": 100.0},
        {"pixels": 1000 + 2**20, "encode_mib": 164.0},  # 64 MiB more for 2^20 pixels more: 64 B/px
        {"pixels": 1000 + 3 * 2**20, "encode_mib": 196.0},  # 32 MiB for 2^21 more: 16 marginal
    ]
    assert memory_sizes.per_pixel(rows, "encode") == [(None, None), (64.0, 64.0), (32.0, 16.0)]
    assert memory_sizes.parse_size("480x270") == (480, 270)
    for bad in ("480", "0x5", "axb"):
        with pytest.raises(Exception, match="size"):
            memory_sizes.parse_size(bad)


def test_memory_sizes_measures_each_size_in_child_processes(tmp_path, capsys):
    """Two tiny sizes: a line each with both peaks and the frames whose decoding ran the model
    (palette inter on the moving crops), the plot beside the table."""
    from fpcodec.bench import memory_sizes

    out = tmp_path / "sizes.md"
    args = ["--sizes", "16x16", "40x24", "--frames", "2", "--colours", "16", "-o", str(out)]
    assert memory_sizes.main(args) == 0
    text = out.read_text()
    assert text == capsys.readouterr().out.strip() + "\n"
    lines = [line for line in text.splitlines() if line.startswith("| 16x16") or line.startswith("| 40x24")]
    assert len(lines) == 2
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2] in ("1 of 2", "0 of 2") and float(cells[3]) > 50 and float(cells[4]) > 50
    assert lines[0].endswith("| – | – | – | – |")
    assert out.with_suffix(".png").stat().st_size > 1000
    clip = tmp_path / "c.gif"
    memory_sizes.make_clip(clip, 40, 24, 3, 16)
    with Image.open(clip) as im:
        assert im.size == (40, 24) and im.n_frames == 3
