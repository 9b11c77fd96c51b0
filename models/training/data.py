"""Training clips: every video under some folders, read with the codec's own ``VideoReader``.

A clip is a uint8 (N, H, W, 3) array held in memory: the RGB planes of the frames exactly as
``fpcodec encode`` reads them (GIF disposal and transparency included), which is what the predictors
see when they code the file (the networks do not model alpha).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ...bitstream.errors import FpcodecError
from ...codec.io import VIDEO_EXTENSIONS, VideoReader


def read_clip(path: str | Path) -> np.ndarray:
    """All frames of a video/GIF as uint8 (N, H, W, 3); FpcodecError if it cannot be read."""
    frames = [np.ascontiguousarray(pixels[..., :3]) for pixels, _ in VideoReader(path).frames()]
    if not frames:
        return np.zeros((0, 1, 1, 3), np.uint8)
    return np.stack(frames, 0)


def clip_files(dirs) -> list[Path]:
    """The video files under ``dirs`` (folders, searched recursively and sorted, or files)."""
    files = []
    for d in dirs:
        d = Path(d)
        files += (
            [d] if d.is_file() else sorted(p for p in d.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
        )
    return files


def load_clips(dirs, min_frames: int = 2) -> list[np.ndarray]:
    """Decode every clip under ``dirs`` that has ``min_frames`` frames of at least 8x8; files that
    cannot be read are reported on stderr and skipped (one broken file must not stop training)."""
    clips = []
    for p in clip_files(dirs):
        try:
            clip = read_clip(p)
        except (FpcodecError, OSError) as exc:
            print(f"skipping {p}: {exc}", file=sys.stderr)
            continue
        if len(clip) >= min_frames and min(clip.shape[1:3]) >= 8:
            clips.append(clip)
    return clips
