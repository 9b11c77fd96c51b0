"""report.md (tables a person reads) and report.json (every number) from a BenchResult."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from .run import FPCODEC_PREFIX, REFERENCE_MODEL, BenchResult, fpcodec_key


# ---------------------------------------------------------------------------------------- format
def _num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:+.1f} %"


def _share(x: float | None) -> str:
    """A share of subpixels in percent, with enough digits that a few pixels are not shown as 0."""
    return "–" if x is None else f"{100 * x:.3g} %"


def _mib(x: int | None) -> str:
    if x is None:
        return "–"
    m = x / 2**20
    return f"{m:.1f}" if m >= 10 else f"{m:.2f}" if m >= 0.1 else f"{m:.3f}"


def _fps(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---:" if a == "c" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _short(key: str) -> str:
    return key[len(FPCODEC_PREFIX) :] if key.startswith(FPCODEC_PREFIX) else key


def _col(result: BenchResult, key: str) -> str:
    return f"fpcodec {_short(key)}" if key.startswith(FPCODEC_PREFIX) else key


# --------------------------------------------------------------------------------------- markdown
def _cell(result: BenchResult, folder: dict[str, Any], key: str) -> str:
    e = folder["codecs"].get(key)
    if e is None:
        return "skipped"
    bpp = _num(e.get("bits_per_pixel")) if e.get("files_counted") else "–"
    marks = _problems(e, "{label} ×{n}")
    if e["files_counted"] < folder["files"] and not marks:
        marks.append(f"{e['files_counted']}/{folder['files']} files")
    return bpp + (f" ({', '.join(marks)})" if marks else "")


def _problems(e: dict, template: str) -> list[str]:
    """Counts of files a codec got wrong, failed on or skipped, worded by ``template``."""
    return [
        template.format(label=label, n=len(e[key]))
        for key, label in (("not_exact", "NOT EXACT"), ("errors", "error"), ("skipped", "skipped"))
        if e[key]
    ]


def _run_keys(result: BenchResult) -> list[str]:
    return [k for k in result.codec_order() if k not in result.skipped]


def _models_run(result: BenchResult) -> list[str]:
    return [_short(k) for k in _run_keys(result) if k.startswith(FPCODEC_PREFIX)]


def headline(result: BenchResult) -> str:
    keys = [k for k in _run_keys(result) if any(k in f["codecs"] for f in result.folders)]
    header = ["folder", "files", "frames"] + [_col(result, k) for k in keys]
    rows = [
        [f["folder"], str(f["files"]), str(f["frames"])] + [_cell(result, f, k) for k in keys]
        for f in result.folders
    ]
    out = [
        "Bits per pixel (bytes summed over pixels summed; lower is better; only pixel-exact "
        "results are counted):",
        "",
        _table(header, rows),
    ]
    if result.skipped:
        out += [
            "",
            "**Not run** (asked for or default, but unavailable here): "
            + "; ".join(f"{_col(result, k)}: {why}" for k, why in result.skipped.items())
            + ".",
        ]
    models = [m for m in _models_run(result) if m != REFERENCE_MODEL]
    if models:
        header = ["folder"] + [f"{m} vs last-frame" for m in models]
        rows = [
            [f["folder"]] + [_pct(f["gain_over_last_frame"].get(m)) for m in models] for f in result.folders
        ]
        out += [
            "",
            "Gain of each fpcodec predictor over last-frame (percent fewer bits; positive = better):",
            "",
            _table(header, rows),
        ]
    else:
        out += [
            "",
            "Only the last-frame predictor ran, so there is no learned-model gain to report "
            "(see *Skipped* below).",
        ]
    return "\n".join(out)


def folder_detail(result: BenchResult, folder: dict[str, Any]) -> str:
    header = [
        "codec",
        "bits/pixel",
        "× smaller than raw",
        "size vs GIF",
        "encode fps",
        "decode fps",
        "enc peak RSS MiB",
        "dec peak RSS MiB",
        "files counted",
        "status",
    ]
    rows = []
    for key in _run_keys(result):
        e = folder["codecs"].get(key)
        if e is None:
            continue
        status = _problems(e, "{label} on {n}")
        kind = result.codec_info[key]["kind"]
        if not status:
            status.append("source" if kind == "source" else "exact")
        gif = e.get("size_vs_gif")
        rows.append(
            [
                _col(result, key),
                _num(e.get("bits_per_pixel")),
                _num(e.get("ratio_to_raw"), 2),
                "–" if gif is None else f"{100 * gif:.0f} %",
                _fps(e.get("encode_fps")) if kind != "source" else "–",
                _fps(e.get("decode_fps")),
                _mib(e.get("encode_peak_bytes")),
                _mib(e.get("decode_peak_bytes")),
                f"{e['files_counted']}/{folder['files']}",
                "; ".join(status),
            ]
        )
    text = [
        f"### {folder['folder']}",
        "",
        f"{folder['files']} files, {folder['frames']} frames, {folder['pixels']} pixels "
        f"(raw RGB(A) {folder['raw_bytes']} bytes)"
        + (f"; {folder['unreadable']} unreadable" if folder["unreadable"] else ""),
        "",
        _table(header, rows),
    ]
    if folder["prediction"]:
        header = [
            "predictor",
            "frames with history",
            "perceptual distance ↓",
            "PSNR dB ↑",
            "SSIM ↑",
            "frames predicted exactly",
            "mean ≠ last frame",
        ]
        rows = [
            [
                m,
                str(q["frames"]),
                _num(q["perceptual_distance"], 2),
                _num(q["psnr"], 2),
                _num(q["ssim"], 4),
                str(q["identical_frames"]),
                _share(q.get("off_last_frame")),
            ]
            for m, q in folder["prediction"].items()
        ]
        text += [
            "",
            (
                "Prediction quality (the tutorial's view: rounded predicted mean vs the true frame; "
                "the last column is the share of subpixels where that mean is not the last frame's "
                "value):"
            ),
            "",
            _table(header, rows),
        ]
    return "\n".join(text)


def gain_sources_section(result: BenchResult) -> str | None:
    """Table: bytes from last-frame to each learned model, one predictor part at a time."""
    from .gain_sources import STEP_LABELS

    rows = []
    for folder in result.folders:
        for model, g in folder.get("gain_sources", {}).items():
            if not g:
                continue
            row = [folder["folder"], model, str(g["files"]), str(g["last_frame_bytes"])]
            for key in ("scales", "scales+means", "model"):
                st = g["steps"][key]
                row.append(f"{st['bytes']} ({_signed_pct(st['change_percent_of_last_frame'])})")
            row.append(_pct(g["gain_percent"]))
            rows.append(row)
    if not rows:
        return None
    header = (
        ["folder", "model", "files", "last-frame bytes"]
        + [STEP_LABELS[k] for k in ("scales", "scales+means", "model")]
        + ["gain"]
    )
    off = {m: q.get("off_last_frame") for f in result.folders[:1] for m, q in f["prediction"].items()}
    same = [m for m, share in off.items() if m != REFERENCE_MODEL and share == 0]
    text = [
        "Each learned model's prediction is brought in one part at a time: the clip is encoded with "
        "last-frame's prediction, then with the model's scales and last-frame's means and coupling, "
        "then with the model's scales and means, then as the model itself (adding its colour "
        "coupling; last-frame has none). Bytes of each step, and in brackets its change in percent "
        "of last-frame's bytes (negative = fewer bits). The palette modes' mixing with "
        '"same colour as before / as the neighbours" is the coder\'s and the same for every '
        "predictor.",
        "",
        _table(header, rows),
    ]
    if same:
        text += [
            "",
            f"The rounded means of {', '.join(same)} equal last-frame's on every subpixel (the "
            '"mean ≠ last frame" column is 0): their gain is the scales and coupling columns, '
            "which a picture of the predicted colours cannot show.",
        ]
    return "\n".join(text)


def _signed_pct(x: float | None) -> str:
    return "–" if x is None else f"{x:+.2f} %"


def file_tables(result: BenchResult) -> str:
    keys = [k for k in _run_keys(result)]
    header = ["file", "size", "frames", "ch"] + [_col(result, k) for k in keys]
    rows = []
    for f in result.files:
        if f.error:
            rows.append([f.rel, "–", "–", "–"] + ["unreadable"] + [""] * (len(keys) - 1))
            continue
        cells = []
        for k in keys:
            r = f.codecs.get(k)
            if r is None:
                cells.append("–")
            elif r.status in ("exact", "source"):
                cells.append(_num(r.bits_per_pixel))
            elif r.status == "not-exact":
                cells.append(f"NOT EXACT ({_num(r.bits_per_pixel)})")
            else:
                cells.append(r.status)
        rows.append([f.rel, f"{f.width}x{f.height}", str(f.frames), str(f.channels)] + cells)
    out = [
        "Bits per pixel per file (NOT EXACT results are shown in brackets and never counted):",
        "",
        _table(header, rows),
    ]
    models = [m for m in _models_run(result) if m != REFERENCE_MODEL]
    if models:
        ref = fpcodec_key(REFERENCE_MODEL)
        header = ["file"] + [f"{m} vs last-frame" for m in models]
        rows = []
        for f in result.files:
            if f.error or ref not in f.codecs or not f.codecs[ref].counted:
                continue
            row = [f.rel]
            for m in models:
                r = f.codecs.get(fpcodec_key(m))
                row.append(_pct(100 * (1 - r.bytes / f.codecs[ref].bytes)) if r and r.counted else "–")
            rows.append(row)
        out += ["", "Gain over last-frame per file:", "", _table(header, rows)]
    header = ["file", "codec", "encode fps", "decode fps", "enc peak RSS MiB", "dec peak RSS MiB"]
    rows = []
    for f in result.files:
        for k in keys:
            r = f.codecs.get(k)
            if r is None or r.status == "skipped":
                continue
            rows.append(
                [
                    f.rel,
                    _col(result, k),
                    _fps(r.encode_fps) if r.kind != "source" else "–",
                    _fps(r.decode_fps),
                    _mib(r.encode_peak_bytes),
                    _mib(r.decode_peak_bytes),
                ]
            )
    out += [
        "",
        "<details><summary>Speed and memory per file and codec</summary>",
        "",
        _table(header, rows),
        "",
        "</details>",
    ]
    return "\n".join(out)


def issues(result: BenchResult) -> str:
    out = []
    if result.skipped:
        out += ["Skipped (not run on any file):", ""]
        out += [f"- **{_col(result, k)}**: {why}" for k, why in result.skipped.items()]
        out.append("")
    rows = []
    for f in result.files:
        if f.error:
            rows.append([f.rel, "(reading)", "unreadable", f.error])
        for k, r in f.codecs.items():
            if r.status in ("not-exact", "error", "skipped"):
                rows.append(
                    [
                        f.rel,
                        _col(result, k),
                        "NOT EXACT" if r.status == "not-exact" else r.status,
                        r.detail.replace("|", "\\|").replace("\n", " "),
                    ]
                )
    if rows:
        out += [
            "Per-file problems:",
            "",
            _table(["file", "codec", "status", "detail"], rows, ["l", "l", "l", "l"]),
        ]
    else:
        out.append("Every codec that ran decoded every file back pixel-exactly.")
    return "\n".join(out)


def settings_section(result: BenchResult) -> str:
    rows = []
    for key, info in result.codec_info.items():
        rows.append(
            [
                _col(result, key),
                info.get("label", ""),
                info.get("settings", "").replace("|", "\\|"),
                info.get("notes", "").replace("|", "\\|"),
            ]
        )
    return _table(["codec", "name", "settings", "notes"], rows, ["l", "l", "l", "l"])


def environment_section(result: BenchResult) -> str:
    env = result.environment
    lines = [
        f"- command: `{result.command}`",
        f"- started {result.started}, took {result.elapsed_seconds:.1f} s",
        f"- machine: {env.get('platform')}, {env.get('cpu_model', env.get('processor') or env.get('machine'))}, "
        f"{env.get('cpu_count')} CPUs ({env.get('cpus_usable')} usable by this process)",
        f"- Python {env.get('python')}; fpcodec {env.get('fpcodec')}; torch {env.get('torch')}; "
        f"av {env.get('av')} (FFmpeg {env.get('ffmpeg')}); constriction {env.get('constriction')}; "
        f"numpy {env.get('numpy')}; Pillow {env.get('pillow')} (libwebp {env.get('libwebp')}); "
        f"imagecodecs {env.get('imagecodecs')} ({env.get('libjxl')}); scikit-image {env.get('scikit-image')}; "
        f"matplotlib {env.get('matplotlib')}",
        f"- timing: {result.config['timing_method']}",
        f"- memory: {result.config['memory_method'] if result.config['memory'] else 'not measured'}"
        + (
            f"; a child that only loads the frames of {result.config['memory_baseline_file']} peaks at "
            f"{_mib(result.config['memory_baseline_bytes'])} MiB"
            if result.config.get("memory_baseline_bytes")
            else ""
        ),
        f"- device for fpcodec predictors: {result.config['device']}; torch threads: "
        f"{result.config.get('torch_threads') or 'torch not loaded'}",
    ]
    return "\n".join(lines)


def _same_panels(result: BenchResult) -> list[str]:
    """Models whose pictured predictions equal last-frame's in every sample."""
    import numpy as np

    models = {m for smp in result.samples for m in smp["predictions"]} - {REFERENCE_MODEL}
    return sorted(
        m
        for m in models
        if all(
            REFERENCE_MODEL in smp["predictions"]
            and m in smp["predictions"]
            and np.array_equal(smp["predictions"][m], smp["predictions"][REFERENCE_MODEL])
            for smp in result.samples
            if m in smp["predictions"]
        )
    )


def write_markdown(result: BenchResult, path: str | Path, plots: dict[str, str] | None = None) -> Path:
    path = Path(path)
    plots = plots or {}
    parts = [
        "# fpcodec compression benchmark",
        "",
        "Every clip is decoded once to RGB(A) frames; each codec encodes them to memory, its output "
        "is decoded back and compared pixel for pixel with the input. Sizes are whole files "
        "(container included); raw is 24 bits/pixel for RGB and 32 for RGBA. A result that does not "
        "decode to the input exactly is marked NOT EXACT and left out of every total.",
        "",
        "## Headline",
        "",
        headline(result),
        "",
    ]
    if "bits_per_pixel" in plots:
        parts += [f"![bits per pixel by codec]({plots['bits_per_pixel']})", ""]
    parts += ["## Per folder", ""]
    for folder in result.folders:
        parts += [folder_detail(result, folder), ""]
    sources = gain_sources_section(result)
    if sources:
        parts += ["## Where the learned models' gain comes from", "", sources, ""]
    if "frame_bits" in plots:
        parts += [
            "## Bits per frame over time",
            "",
            "Bits per pixel of each frame (8 × the frame record's payload bytes / pixels per frame, "
            "palette chunks not included) for each fpcodec predictor, on a few clips; frame 0 is "
            "coded without history (intra).",
            "",
            f"![bits per pixel of each frame]({plots['frame_bits']})",
            "",
        ]
    if "predictions" in plots:
        same = _same_panels(result)
        parts += [
            "## Predictions",
            "",
            "True frame, each predictor's rounded mean, and the residual (true − prediction, ×4, "
            "centred at grey 128) for a few frames."
            + (
                f" The panels of {', '.join(same)} are identical to last-frame's: in these frames "
                "their rounded means are the last frame's colours, and what they change there "
                "(scales, coupling) is not a colour; see *Where the learned models' gain comes "
                "from*."
                if same
                else ""
            ),
            "",
            f"![predictions]({plots['predictions']})",
            "",
        ]
    parts += [
        "## Per file",
        "",
        file_tables(result),
        "",
        "## Skipped, errors and NOT EXACT",
        "",
        issues(result),
        "",
        "## Codec settings",
        "",
        settings_section(result),
        "",
        "## Environment",
        "",
        environment_section(result),
        "",
    ]
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def write_json(result: BenchResult, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(result.to_json(), indent=1, allow_nan=False), encoding="utf-8")
    return path
