"""Training clips: every video under some folders, read with the codec's own ``VideoReader``.

A clip is a uint8 (N, H, W, 3) array held in memory: the RGB planes of the frames exactly as
``fpcodec encode`` reads them (GIF disposal and transparency included), which is what the predictors
see when they code the file (the networks do not model alpha).

A **pack** (``.npz``, ``pack_clips``) holds already-read clips compactly, each frame as palette
indices plus its palette where it has at most 256 colours (raw RGB otherwise), zlib-compressed: the
training data travels to a GPU machine without the video decoder and in a fraction of the RGB size
(``python -m fpcodec.models.training.data pack DIR... -o data.npz``). A pack reads back to exactly
the clips it was made of, and ``load_clips`` takes packs wherever it takes folders.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ...bitstream.errors import FpcodecError
from ...bitstream.palette import pack_colours
from ...codec.io import VIDEO_EXTENSIONS, VideoReader, atomic_output
from ...codec.palette_coding import extract_palette

#: A training pack's file name ends so.
PACK_SUFFIX = ".npz"


def read_clip(path: str | Path) -> np.ndarray:
    """All frames of a video/GIF as uint8 (N, H, W, 3); FpcodecError if it cannot be read."""
    frames = [np.ascontiguousarray(pixels[..., :3]) for pixels, _ in VideoReader(path).frames()]
    if not frames:
        return np.zeros((0, 1, 1, 3), np.uint8)
    return np.stack(frames, 0)


def clip_files(dirs) -> list[Path]:
    """The video files (and packs) under ``dirs`` (folders, searched recursively and sorted, or files)."""
    files = []
    for d in dirs:
        d = Path(d)
        files += (
            [d]
            if d.is_file()
            else sorted(p for p in d.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS | {PACK_SUFFIX})
        )
    return files


def most_colours(clip: np.ndarray) -> int:
    """The largest number of distinct colours in one frame of a clip."""
    return max((len(np.unique(pack_colours(f))) for f in clip), default=0)


def _pack_frame(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices uint8 (H, W), palette uint8 (K, 3)) of a frame of at most 256 colours (the codec's
    ``extract_palette``), else (the frame itself, an empty palette)."""
    found = extract_palette(frame)
    if found is None:
        return frame, np.zeros((0, 3), np.uint8)
    palette, index = found
    return index.reshape(frame.shape[:2]).astype(np.uint8), palette


def pack_clips(clips: list[np.ndarray], path: str | Path, force: bool = False) -> None:
    """Write uint8 (N, H, W, 3) clips to a compressed ``.npz`` pack (see the module docstring),
    atomically; an existing file only with ``force``."""
    arrays = {}
    for c, clip in enumerate(clips):
        for f, frame in enumerate(clip):
            data, palette = _pack_frame(frame)
            arrays[f"c{c}_f{f}"] = data
            arrays[f"c{c}_p{f}"] = palette
        arrays[f"c{c}_n"] = np.array([len(clip)], np.int64)
    with atomic_output(path, force) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, count=np.array([len(clips)], np.int64), **arrays)


def read_pack(path: str | Path) -> list[np.ndarray]:
    """The clips of a pack written by ``pack_clips``, exactly; FpcodecError if it is not one."""
    try:
        with np.load(path, allow_pickle=False) as pack:
            clips = []
            for c in range(int(pack["count"][0])):
                frames = []
                for f in range(int(pack[f"c{c}_n"][0])):
                    data, palette = pack[f"c{c}_f{f}"], pack[f"c{c}_p{f}"]
                    frame = palette[data] if len(palette) else data
                    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                        raise ValueError(f"clip {c} frame {f} is {frame.dtype} {frame.shape}, not RGB")
                    frames.append(frame)
                clips.append(np.stack(frames, 0) if frames else np.zeros((0, 1, 1, 3), np.uint8))
            return clips
    except (KeyError, ValueError, IndexError, OSError) as exc:
        raise FpcodecError(f"{path} is not a training pack ({exc})") from None


def load_clips(dirs, min_frames: int = 2) -> list[np.ndarray]:
    """Decode every clip under ``dirs`` that has ``min_frames`` frames of at least 8x8; files that
    cannot be read are reported on stderr and skipped (one broken file must not stop training)."""
    clips = []
    for p in clip_files(dirs):
        try:
            read = read_pack(p) if p.suffix.lower() == PACK_SUFFIX else [read_clip(p)]
        except (FpcodecError, OSError) as exc:
            print(f"skipping {p}: {exc}", file=sys.stderr)
            continue
        clips += [c for c in read if len(c) >= min_frames and min(c.shape[1:3]) >= 8]
    return clips


def main(argv: list[str] | None = None) -> int:
    """``pack DIR... -o data.npz``: read every clip under the folders and write them as one pack."""
    parser = argparse.ArgumentParser(prog="python -m fpcodec.models.training.data", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    pack = sub.add_parser("pack", help="write the clips under some folders as one .npz pack")
    pack.add_argument("dirs", nargs="+")
    pack.add_argument("-o", "--output", required=True)
    pack.add_argument("-y", "--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args(argv)
    try:
        clips = load_clips(args.dirs, min_frames=1)
        pack_clips(clips, args.output, args.force)
    except FpcodecError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.output}: {len(clips)} clips, {sum(len(c) for c in clips)} frames, {Path(args.output).stat().st_size:,} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
