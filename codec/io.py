"""Reading videos into RGB(A) frames and writing decoded frames to files.

Reading goes through PyAV (FFmpeg), which composites GIF frames (disposal modes, transparency) into
full canvases. A few GIFs FFmpeg rejects but browsers show (no global palette, for instance) are read
with Pillow instead. Writers refuse targets that cannot hold the frames exactly unless the caller
accepts the loss.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..bitstream.errors import FpcodecError, InputError

#: Frame timing used when a container gives none (25 fps).
DEFAULT_TIME_BASE = Fraction(1, 100)
_ALPHA_FORMATS = {"rgba", "bgra", "argb", "abgr", "yuva420p", "yuva444p", "ya8", "pal8", "gbrap"}


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    channels: int
    time_base: Fraction
    loop: int | None
    frame_count: int | None


class VideoReader:
    """Opens a video file; ``info`` first, then ``frames()`` streams (pixels, duration) pairs."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"no such file: {self.path}")
        with open(self.path, "rb") as fh:
            magic = fh.read(6)
        self._is_gif = magic in (b"GIF87a", b"GIF89a")
        self._backend = "av"
        try:
            info = self._probe_av()
        except FpcodecError:
            if not self._is_gif:
                raise
            self._backend = "pillow"
            info = self._probe_pillow()
        self.info = info

    # --------------------------------------------------------------------------------- PyAV
    def _open_av(self):
        import av
        try:
            return av.open(str(self.path), metadata_errors="ignore")
        except av.FFmpegError as exc:
            raise InputError(f"{self.path} is not a video FFmpeg can read ({_short(exc)})") from None

    def _probe_av(self) -> VideoInfo:
        import av
        with self._open_av() as cont:
            if not cont.streams.video:
                raise InputError(f"{self.path} has no video stream")
            stream = cont.streams.video[0]
            fmt = stream.codec_context.pix_fmt or ""
            tb = stream.time_base or DEFAULT_TIME_BASE
            count = stream.frames or None
            has_alpha = fmt in _ALPHA_FORMATS or fmt.startswith("yuva")
            width = height = 0
            alpha_used = False
            n = 0
            try:
                # One cheap pass: size, frame count, and whether any pixel is not opaque.
                for frame in cont.decode(stream):
                    width, height = frame.width, frame.height
                    n += 1
                    if has_alpha and not alpha_used:
                        rgba = frame.to_ndarray(format="rgba")
                        alpha_used = bool((rgba[..., 3] != 255).any())
            except av.FFmpegError as exc:
                raise InputError(f"{self.path} could not be decoded ({_short(exc)})") from None
            if n == 0:
                raise InputError(f"{self.path} has no frames")
        loop = gif_loop_count(self.path) if self._is_gif else None
        return VideoInfo(width, height, 4 if alpha_used else 3, Fraction(tb), loop, n)

    def _frames_av(self) -> Iterator[tuple[np.ndarray, int]]:
        import av
        fmt = "rgba" if self.info.channels == 4 else "rgb24"
        with self._open_av() as cont:
            stream = cont.streams.video[0]
            prev = None
            try:
                for frame in cont.decode(stream):
                    if (frame.width, frame.height) != (self.info.width, self.info.height):
                        raise InputError(f"{self.path}: frame size changes mid-stream "
                                         f"({frame.width}x{frame.height})")
                    cur = (frame.to_ndarray(format=fmt), frame.pts, frame.duration)
                    if prev is not None:
                        yield prev[0], _duration(prev, cur[1])
                    prev = cur
            except av.FFmpegError as exc:
                raise InputError(f"{self.path} could not be decoded ({_short(exc)})") from None
            if prev is not None:
                yield prev[0], _duration(prev, None)

    # ------------------------------------------------------------------------------- Pillow
    def _probe_pillow(self) -> VideoInfo:
        from PIL import Image, ImageSequence
        try:
            with Image.open(self.path) as im:
                width, height = im.size
                alpha, n = False, 0
                for fr in ImageSequence.Iterator(im):
                    n += 1
                    if not alpha and fr.convert("RGBA").getextrema()[3][0] < 255:
                        alpha = True
                loop = im.info.get("loop")
        except Exception as exc:  # Pillow raises many types for broken files
            raise InputError(f"{self.path} is not a readable GIF ({_short(exc)})") from None
        if n == 0 or width == 0 or height == 0:
            raise InputError(f"{self.path} has no frames")
        return VideoInfo(width, height, 4 if alpha else 3, Fraction(1, 1000), loop, n)

    def _frames_pillow(self) -> Iterator[tuple[np.ndarray, int]]:
        from PIL import Image, ImageSequence
        mode = "RGBA" if self.info.channels == 4 else "RGB"
        with Image.open(self.path) as im:
            for fr in ImageSequence.Iterator(im):
                yield np.asarray(fr.convert(mode)), int(fr.info.get("duration", 0) or 0)

    def frames(self) -> Iterator[tuple[np.ndarray, int]]:
        """(H, W, C) uint8 frames with their durations in ``info.time_base`` units."""
        return self._frames_av() if self._backend == "av" else self._frames_pillow()


def _duration(prev: tuple, next_pts: int | None) -> int:
    _, pts, dur = prev
    if next_pts is not None and pts is not None and next_pts > pts:
        return int(next_pts - pts)
    return int(dur or 0)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


_NETSCAPE = re.compile(rb"\x21\xff\x0bNETSCAPE2\.0\x03\x01(..)\x00", re.DOTALL)


def gif_loop_count(path: str | os.PathLike) -> int | None:
    """The GIF's NETSCAPE2.0 loop count (0 = forever), or None when it has none (play once)."""
    data = Path(path).read_bytes()
    m = _NETSCAPE.search(data)
    return struct.unpack("<H", m.group(1))[0] if m else None


# -------------------------------------------------------------------------------------- writing
class LossyOutputError(FpcodecError):
    """The chosen output format cannot hold the frames exactly."""


OUTPUT_FORMATS = (".gif", ".apng", ".png", ".webp", ".y4m", ".mp4")


@contextmanager
def atomic_output(path: str | os.PathLike, force: bool):
    """Yield a temp path next to ``path``; rename it into place only if the block succeeds."""
    path = Path(path)
    if path.exists() and not force:
        raise FpcodecError(f"{path} exists (use -y/--force to overwrite)")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp",
                               dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def durations_ms(durations: list[int], time_base: Fraction) -> tuple[list[int], bool]:
    """Durations in milliseconds and whether that conversion was exact."""
    ms = [d * time_base * 1000 for d in durations]
    return [int(round(m)) for m in ms], all(m.denominator == 1 for m in ms)


def write_frames(path: str | os.PathLike, frames: Iterable[np.ndarray], durations: list[int] | None,
                 time_base: Fraction, loop: int | None, *, force: bool = False,
                 allow_lossy: bool = False) -> list[str]:
    """Write frames to ``path`` by its extension; returns warnings (timing or data not kept).

    ``frames_%04d.png``-style paths write a PNG sequence. Raises LossyOutputError when the target
    would change pixels and ``allow_lossy`` is false.
    """
    path = Path(path)
    name = str(path)
    ext = path.suffix.lower()
    frames = list(frames)
    durs = durations or [0] * len(frames)
    warnings: list[str] = []
    if "%" in path.name:
        return _write_png_sequence(name, frames, force)
    if ext not in OUTPUT_FORMATS:
        raise FpcodecError(f"unsupported output format {ext or path.name!r} "
                           f"(choose from {', '.join(OUTPUT_FORMATS)} or a frames_%04d.png pattern)")
    if ext in (".y4m", ".mp4"):
        if not allow_lossy:
            raise LossyOutputError(f"{ext} stores frames in YUV and would change pixels; use .apng, "
                                   ".webp, .gif or a PNG sequence, or pass --lossy to accept it")
        warnings.append(f"{ext} output is not pixel-exact (YUV conversion)")
    if ext == ".gif":
        over = [i for i, f in enumerate(frames) if _colour_count(f) > 256]
        if over and not allow_lossy:
            raise LossyOutputError(f"frame {over[0]} has more than 256 colours, which a GIF cannot hold; "
                                   "use .apng/.webp or pass --lossy to quantize")
        if over:
            warnings.append(f"{len(over)} frames quantized to 256 colours")
    ms, exact = durations_ms(durs, time_base)
    if ext in (".gif",) and any(m % 10 for m in ms):
        exact = False
    if not exact:
        warnings.append(f"frame durations rounded to what {ext} can store")
    with atomic_output(path, force) as tmp:
        if ext in (".gif", ".apng", ".png", ".webp"):
            _write_pillow(tmp, ext, frames, ms, loop)
        else:
            _write_av(tmp, ext, frames, durs, time_base)
    return warnings


def _colour_count(frame: np.ndarray) -> int:
    flat = frame.reshape(-1, frame.shape[-1])
    packed = flat.astype(np.uint32) @ (256 ** np.arange(flat.shape[1], dtype=np.uint32))[:, None]
    return int(np.unique(packed).size)


def _to_palette(frame: np.ndarray):
    """Exact P-mode image (plus transparency index) for a frame of at most 256 colours."""
    from PIL import Image
    h, w, c = frame.shape
    flat = frame.reshape(-1, c)
    if c == 4:
        flat = flat.copy()
        flat[flat[:, 3] == 0] = 0  # all fully transparent pixels share one palette entry
    colours, index = np.unique(flat, axis=0, return_inverse=True)
    if len(colours) > 256:
        return Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE), None
    im = Image.fromarray(index.reshape(h, w).astype(np.uint8), mode="L").convert("P")
    pal = np.zeros((256, 3), np.uint8)
    pal[: len(colours)] = colours[:, :3]
    im.putpalette(pal.ravel().tolist())
    transparent = None
    if c == 4:
        t = np.flatnonzero(colours[:, 3] == 0)
        transparent = int(t[0]) if t.size else None
    return im, transparent


def _write_pillow(tmp: Path, ext: str, frames: list[np.ndarray], ms: list[int], loop: int | None) -> None:
    from PIL import Image
    if ext == ".gif":
        ims, infos = zip(*(_to_palette(f) for f in frames))
        kw = dict(save_all=True, append_images=list(ims[1:]), duration=list(ms), optimize=False,
                  disposal=2 if frames[0].shape[2] == 4 else 1)
        if any(t is not None for t in infos):
            kw["transparency"] = next(t for t in infos if t is not None)
        if loop is not None:
            kw["loop"] = loop
        ims[0].save(tmp, format="GIF", **kw)
        return
    ims = [Image.fromarray(f) for f in frames]
    kw = dict(save_all=True, append_images=ims[1:], duration=list(ms) if len(ms) > 1 else ms[0],
              loop=loop or 0)
    if ext == ".webp":
        ims[0].save(tmp, format="WEBP", lossless=True, quality=100, method=4, exact=True, **kw)
    else:
        ims[0].save(tmp, format="PNG", **kw)


def _write_png_sequence(pattern: str, frames: list[np.ndarray], force: bool) -> list[str]:
    from PIL import Image
    try:
        paths = [pattern % i for i in range(len(frames))]
    except (TypeError, ValueError):
        raise FpcodecError(f"bad frame pattern {pattern!r} (expected e.g. frames_%04d.png)") from None
    for p in paths:
        if os.path.exists(p) and not force:
            raise FpcodecError(f"{p} exists (use -y/--force to overwrite)")
    for p, f in zip(paths, frames):
        with atomic_output(p, True) as tmp:
            Image.fromarray(f).save(tmp, format="PNG")
    return ["a PNG sequence does not store frame timing or loop count"]


def _write_av(tmp: Path, ext: str, frames: list[np.ndarray], durs: list[int], time_base: Fraction) -> None:
    import av
    fmt = "yuv4mpegpipe" if ext == ".y4m" else "mp4"
    with av.open(str(tmp), "w", format=fmt) as cont:
        h, w = frames[0].shape[:2]
        if ext == ".y4m":
            stream = cont.add_stream("rawvideo", rate=25)
            stream.pix_fmt = "yuv444p"
        else:
            stream = cont.add_stream("libx264", rate=25)
            stream.pix_fmt = "yuv420p"
            w, h = w + (w % 2), h + (h % 2)
        stream.width, stream.height = w, h
        for f in frames:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[..., :3]), format="rgb24")
            for pkt in stream.encode(vf.reformat(width=w, height=h, format=stream.pix_fmt)):
                cont.mux(pkt)
        for pkt in stream.encode():
            cont.mux(pkt)
