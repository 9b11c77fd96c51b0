"""PNG plots (matplotlib, Agg backend) from a BenchResult: readable at 150 dpi, few panels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .run import FPCODEC_PREFIX, REFERENCE_MODEL, BenchResult, fpcodec_key

DPI = 150


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _corpus_folder(result: BenchResult) -> dict[str, Any] | None:
    if not result.folders:
        return None
    for f in result.folders:
        if f["folder"] == "ALL":
            return f
    return result.folders[0]


def _label(key: str) -> str:
    return "fpcodec\n" + key[len(FPCODEC_PREFIX) :] if key.startswith(FPCODEC_PREFIX) else key


def plot_bits_per_pixel(result: BenchResult, path: Path) -> Path | None:
    folder = _corpus_folder(result)
    if folder is None:
        return None
    keys = [
        k for k in result.codec_order() if k in folder["codecs"] and folder["codecs"][k].get("files_counted")
    ]
    if not keys:
        return None
    plt = _plt()
    vals = [folder["codecs"][k]["bits_per_pixel"] for k in keys]
    colours = [
        "#d62728"
        if k.startswith(FPCODEC_PREFIX)
        else "#7f7f7f"
        if result.codec_info[k]["kind"] == "source"
        else "#1f77b4"
        for k in keys
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(keys) + 1.5), 4.0))
    bars = ax.bar(range(len(keys)), vals, color=colours)
    for b, v, k in zip(bars, vals, keys, strict=True):
        e = folder["codecs"][k]
        txt = f"{v:.2f}" + ("*" if e["files_counted"] < folder["files"] else "")
        ax.text(b.get_x() + b.get_width() / 2, b.get_height(), txt, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([_label(k) for k in keys], fontsize=8, rotation=0)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("bits per pixel (lower is better)", fontsize=9)
    ax.set_title(
        f"{folder['folder']}: {folder['files']} files, {folder['frames']} frames "
        f"(exact results only; * = not all files)",
        fontsize=9,
    )
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_frame_bits(result: BenchResult, path: Path, max_clips: int = 4) -> Path | None:
    ref = fpcodec_key(REFERENCE_MODEL)
    clips = [
        f
        for f in result.files
        if f.error is None and ref in f.codecs and f.codecs[ref].frame_bytes and f.frames >= 2
    ]
    if not clips:
        return None
    # Prefer clips from different folders, then the longest.
    chosen, seen = [], set()
    for f in sorted(clips, key=lambda f: -f.frames):
        if f.folders[-1] not in seen:
            chosen.append(f)
            seen.add(f.folders[-1])
    for f in sorted(clips, key=lambda f: -f.frames):
        if len(chosen) >= max_clips:
            break
        if f not in chosen:
            chosen.append(f)
    chosen = chosen[:max_clips]
    plt = _plt()
    cols = min(2, len(chosen))
    rows = (len(chosen) + cols - 1) // cols
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(rows, cols, figsize=(5.0 * cols, 3.4 * rows), squeeze=False)
    for ax, f in zip(axes.ravel(), chosen, strict=False):
        px = f.width * f.height
        for key, r in f.codecs.items():
            if not key.startswith(FPCODEC_PREFIX) or not r.frame_bytes:
                continue
            y = 8.0 * np.asarray(r.frame_bytes) / px
            style = dict(color="black", lw=1.6) if key == ref else dict(lw=1.0)
            ax.plot(np.arange(len(y)), y, label=key[len(FPCODEC_PREFIX) :], **style)
        ax.set_title(f.rel, fontsize=9)
        ax.set_xlabel("frame", fontsize=8)
        ax.set_ylabel("bits per pixel of the frame", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(chosen) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_predictions(result: BenchResult, path: Path, gain: float = 4.0) -> Path | None:
    samples = [s for s in result.samples if s["predictions"]]
    if not samples:
        return None
    models = list(dict.fromkeys(m for s in samples for m in s["predictions"]))
    plt = _plt()
    ncols = 1 + 2 * len(models)
    fig, axes = plt.subplots(
        len(samples), ncols, figsize=(1.9 * ncols, 2.1 * len(samples) + 0.3), squeeze=False
    )
    for row, s in zip(axes, samples, strict=True):
        true = s["true"][..., :3]
        row[0].imshow(true, interpolation="nearest")
        row[0].set_title(f"true #{s['frame']}", fontsize=7)
        row[0].set_ylabel(s["file"].split("/")[-1], fontsize=7)
        for j, m in enumerate(models):
            pred = s["predictions"].get(m)
            ax_p, ax_r = row[1 + 2 * j], row[2 + 2 * j]
            if pred is None:
                ax_p.axis("off")
                ax_r.axis("off")
                continue
            ax_p.imshow(pred[..., :3], interpolation="nearest")
            d = metrics.redmean_distance(true, pred)
            ax_p.set_title(f"{m} (d {d:.1f})", fontsize=6.5)
            ax_r.imshow(metrics.residual_image(true, pred, gain), interpolation="nearest")
            ax_r.set_title(f"residual ×{gain:g}", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(pad=0.4, h_pad=0.6)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def shrink_png(path: str | Path, limit: int = 300_000) -> Path:
    """Re-save a PNG over ``limit`` bytes with a 256-colour palette (plots survive this well)."""
    from PIL import Image

    path = Path(path)
    if path.stat().st_size <= limit:
        return path
    with Image.open(path) as im:
        pal = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    pal.save(path, format="PNG", optimize=True)
    return path


def write_plots(result: BenchResult, out_dir: str | Path) -> dict[str, str]:
    """All plots into ``out_dir``; returns name -> file name (relative, for the markdown)."""
    out_dir = Path(out_dir)
    made: dict[str, str] = {}
    for name, fn, fname in (
        ("bits_per_pixel", plot_bits_per_pixel, "bits_per_pixel.png"),
        ("frame_bits", plot_frame_bits, "frame_bits.png"),
        ("predictions", plot_predictions, "predictions.png"),
    ):
        p = fn(result, out_dir / fname)
        if p is not None:
            shrink_png(p)
            made[name] = fname
    return made
