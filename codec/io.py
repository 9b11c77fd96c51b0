"""Reading videos into RGB(A) frames and writing decoded frames to files.

Reading goes through PyAV (FFmpeg), which composites GIF frames (disposal modes, transparency) into
full canvases. A few GIFs FFmpeg rejects but browsers show (no global palette, for instance) are read
with Pillow instead, and so are animated WebP files, which FFmpeg's WebP decoder does not take
(Pillow composites their frames with libwebp's animation decoder): ``fpcodec decode`` writes
animated WebP, so what it writes it also reads. Writers refuse targets that cannot hold the frames
exactly unless the caller accepts the loss.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..bitstream.errors import FpcodecError, InputError, out_of_memory
from . import anim_writers, gif_blocks, sniff
from .anim_writers import LossyOutputError
from .pipeline import check_dimensions

#: Extensions of the files ``fpcodec bench`` and ``fpcodec train`` pick up in a folder: GIFs and the
#: common video containers (a bare .png is left out: in a report folder it is a plot, not a clip).
VIDEO_EXTENSIONS = frozenset(
    {
        ".gif",
        ".mp4",
        ".m4v",
        ".mkv",
        ".webm",
        ".mov",
        ".avi",
        ".y4m",
        ".mpg",
        ".mpeg",
        ".ogv",
        ".flv",
        ".apng",
        ".webp",
        ".ts",
    }
)
#: Frame timing used when a container gives none (25 fps).
DEFAULT_TIME_BASE = Fraction(1, 100)
#: Bytes of a file's start that ``pillow_kind`` reads.
HEAD_BYTES = 21


def pillow_kind(head: bytes) -> str | None:
    """The name ("GIF" or "WebP") of a file (its first HEAD_BYTES bytes) that Pillow reads where FFmpeg
    fails: a GIF, or a WebP whose extended header (``VP8X``) flags an animation; None otherwise.
    Both are coded as RGB(A) canvases, never in a planar pixel format."""
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    extended = head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X"
    return "WebP" if extended and len(head) > 20 and head[20] & 0x02 else None


def may_have_alpha(pix_fmt: str) -> bool:
    """Whether frames of FFmpeg's ``pix_fmt`` can carry transparency: an alpha component (rgba,
    ya8, yuva420p, rgba64be, gbrap16le, ...) or a palette (pal8, whose entries have alpha). Read
    from FFmpeg's own description of the format, so that no deep or rare format loses its alpha."""
    import av

    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, TypeError):
        return False
    return fmt.has_palette or any(c.is_alpha for c in fmt.components)


#: YUV formats with an 8-bit alpha plane at full size: converted to RGBA as their RGB conversion and
#: their own alpha samples (``to_rgb_array``).
_YUVA8 = frozenset({"yuva420p", "yuva422p", "yuva444p"})


#: Packed 8-bit RGB(A) formats: where each sample of a pixel is, R, G, B and (None for none) A.
#: swscale's threads for every conversion here and in ``planar_convert``: one. PyAV's default (0,
#: as many as there are cores) runs FFmpeg 8.1's threaded scaler, which wrote wrong bytes into
#: the first row of a slice (rows 6 and 12 of 18) in 3 of 3,000 yuv422p -> yuyv422 conversions of
#: a 34x18 frame on this 2-core machine (a test's source, twice in CI); one thread gave the same
#: bytes every time, and converts a 1920x1080 yuv420p frame to rgb24 in 0.70 ms against 1.15.
SWSCALE_THREADS = 1

_PACKED = {
    "rgb24": (0, 1, 2, None),
    "bgr24": (2, 1, 0, None),
    "rgba": (0, 1, 2, 3),
    "bgra": (2, 1, 0, 3),
    "argb": (1, 2, 3, 0),
    "abgr": (3, 2, 1, 0),
}


def to_rgb_array(frame, fmt: str) -> np.ndarray:
    """(H, W, C) uint8 pixels of a PyAV frame in ``fmt`` ("rgb24" or "rgba"). A YUV frame with an
    8-bit alpha plane takes its alpha samples as they are: FFmpeg's own conversion of yuva420p
    to rgba changes alpha by one in about 5 % of pixels and, at widths of 16k + 1 and 16k + 3
    (and others), reads memory it never wrote, so two reads of one file differed (FFmpeg 8.1).
    A packed RGB(A) frame (FFmpeg decodes GIFs to bgra) has its samples reordered here
    (``packed_rgb``): FFmpeg's conversion does only that, but sets up its scaler for each new
    frame, 0.25 ms at 96x96, twice a frame of a GIF's encoding (the probe's alpha test, the
    frames)."""
    name = frame.format.name
    if name in _PACKED:
        return packed_rgb(frame.to_ndarray(), _PACKED[name], 4 if fmt == "rgba" else 3)
    if fmt == "rgba" and name in _YUVA8:
        alpha = plane_view(frame.planes[3], np.uint8, frame.height)[:, : frame.width]
        return np.dstack([frame.to_ndarray(format="rgb24", threads=SWSCALE_THREADS), alpha])
    return frame.to_ndarray(format=fmt, threads=SWSCALE_THREADS)


def opaque(frame) -> bool:
    """Whether every pixel of a PyAV frame is opaque in its RGBA conversion (``to_rgb_array``)."""
    order = _PACKED.get(frame.format.name)
    if order is not None:  # its alpha samples as they are, none for none
        return order[3] is None or bool((frame.to_ndarray()[..., order[3]] == 255).all())
    return bool((to_rgb_array(frame, "rgba")[..., 3] == 255).all())


def packed_rgb(samples: np.ndarray, order: tuple, channels: int) -> np.ndarray:
    """(H, W, ``channels``) R, G, B (and A: opaque where ``order`` has none) of packed samples
    (H, W, C) whose R, G, B, A are at ``order``: one copy per channel."""
    out = np.empty((*samples.shape[:2], channels), np.uint8)
    for c in range(channels):
        if order[c] is None:
            out[..., c] = 255
        else:
            out[..., c] = samples[..., order[c]]
    return out


def plane_view(plane, dtype, rows: int) -> np.ndarray:
    """A (rows, line_size // itemsize) view of a PyAV plane's buffer, padding included (the buffer
    may hold more than ``rows`` lines)."""
    stride = plane.line_size // np.dtype(dtype).itemsize
    return np.frombuffer(plane, dtype)[: rows * stride].reshape(rows, stride)


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

    def __init__(self, path: str | os.PathLike, max_pixels: int | None = None) -> None:
        self.path = Path(path)
        self._max_pixels = max_pixels
        problem = sniff.input_kind(self.path)
        if problem:
            raise InputError(
                f"{self.path} {problem}" + (" (fpcodec bench takes folders)" if self.path.is_dir() else "")
            )
        with open(self.path, "rb") as fh:
            self._kind = pillow_kind(fh.read(HEAD_BYTES))  # read by Pillow where FFmpeg fails
        self._is_gif = self._kind == "GIF"
        if self._is_gif:
            data = self.path.read_bytes()
            screen = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
            if all(screen):  # the logical screen, before FFmpeg or Pillow allocates anything
                check_dimensions(*screen, self._max_pixels)
            structure = gif_blocks.walk(data)
            if structure.truncated and structure.images > 0:
                # A file cut inside its image data: decoders would invent the missing pixels.
                raise InputError(
                    f"{self.path} is a truncated or damaged GIF (its blocks end before the GIF trailer)"
                )
        self._backend = "av"
        self._peeked: tuple[list[tuple[np.ndarray, int]], Iterator[tuple[np.ndarray, int]]] | None = None
        try:
            info = self._probe_av()
        except FpcodecError:
            if self._kind is None:
                raise
            self._backend = "pillow"
            info = self._probe_pillow()
        self.info = info

    @property
    def is_gif(self) -> bool:
        """Whether the file is a GIF (its frames are palettes: never coded as planes)."""
        return self._is_gif

    # --------------------------------------------------------------------------------- PyAV
    def _open_av(self):
        return open_av(self.path)

    def _probe_av(self) -> VideoInfo:
        import av

        with self._open_av() as cont:
            if not cont.streams.video:
                raise InputError(f"{self.path} has no video stream")
            stream = cont.streams.video[0]
            if stream.codec_context is None:  # FFmpeg knows the container, not the stream's codec
                raise InputError(f"{self.path} has a video stream in a codec FFmpeg cannot decode")
            if stream.codec_context.width and stream.codec_context.height:
                # Refuse absurd sizes from the header, before decoding a single frame.
                check_dimensions(stream.codec_context.width, stream.codec_context.height, self._max_pixels)
            fmt = stream.codec_context.pix_fmt or ""
            tb = stream.time_base or DEFAULT_TIME_BASE
            has_alpha = may_have_alpha(fmt)
            width = height = 0
            alpha_used = False
            n = 0
            try:
                # One cheap pass: size, frame count, and whether any pixel is not opaque.
                for frame in cont.decode(stream):
                    width, height = frame.width, frame.height
                    n += 1
                    if has_alpha and not alpha_used:
                        alpha_used = not opaque(frame)
            except av.FFmpegError as exc:
                raise InputError(f"{self.path} could not be decoded ({_short(exc)})") from None
            if n == 0:
                raise InputError(f"{self.path} has no frames")
            check_dimensions(width, height, self._max_pixels)
        loop = gif_loop_count(self.path) if self._is_gif else None
        return VideoInfo(width, height, 4 if alpha_used else 3, Fraction(tb), loop, n)

    def _frames_av(self) -> Iterator[tuple[np.ndarray, int]]:
        fmt = "rgba" if self.info.channels == 4 else "rgb24"

        def convert(frame) -> np.ndarray:
            same_size(self.path, (frame.width, frame.height), (self.info.width, self.info.height))
            return to_rgb_array(frame, fmt)

        with self._open_av() as cont:
            yield from timed_frames(self.path, cont, convert)

    # ------------------------------------------------------------------------------- Pillow
    def _probe_pillow(self) -> VideoInfo:
        from PIL import Image, ImageSequence

        try:
            # Sizes are checked here, against fpcodec's limit, before a frame is loaded: Pillow's own
            # warning would only repeat that check.
            with warnings.catch_warnings(), Image.open(self.path) as im:
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                width, height = im.size
                check_dimensions(width, height, self._max_pixels)
                alpha, n = False, 0
                for fr in ImageSequence.Iterator(im):
                    # A GIF image outside the logical screen grows Pillow's canvas, which loading
                    # then allocates: a 139-byte GIF of 10x10 reached 1802x65526 (1.5 GB).
                    same_size(self.path, fr.size, (width, height))
                    n += 1
                    if not alpha and fr.convert("RGBA").getextrema()[3][0] < 255:
                        alpha = True
                loop = im.info.get("loop")
        except FpcodecError:
            raise
        except Exception as exc:  # Pillow raises many types for broken files
            raise InputError(f"{self.path} is not a readable {self._kind} ({_short(exc)})") from None
        if n == 0 or width == 0 or height == 0:
            raise InputError(f"{self.path} has no frames")
        check_dimensions(width, height, self._max_pixels)
        return VideoInfo(width, height, 4 if alpha else 3, Fraction(1, 1000), loop, n)

    def _frames_pillow(self) -> Iterator[tuple[np.ndarray, int]]:
        from PIL import Image, ImageSequence

        mode = "RGBA" if self.info.channels == 4 else "RGB"
        with Image.open(self.path) as im:
            for fr in ImageSequence.Iterator(im):
                same_size(self.path, fr.size, (self.info.width, self.info.height))
                try:
                    pixels = np.asarray(fr.convert(mode))
                except Exception as exc:  # as in the probe: Pillow raises many types for broken files
                    raise InputError(f"{self.path} is not a readable {self._kind} ({_short(exc)})") from None
                yield pixels, int(fr.info.get("duration", 0) or 0)

    def peek(self) -> Iterator[np.ndarray]:
        """The frames' pixels from the first on, each decoded once: the frames read here are kept,
        and the next ``frames()`` starts with them and goes on from there rather than decoding the
        file again (0.45 s for a 12.6-Mpixel PNG). For rules that look at the first frames before
        coding (``planar_io.rgb_as_planes``); a caller keeps every frame it reads here in memory."""
        if self._peeked is None:
            self._peeked = ([], self._decode())
        kept, rest = self._peeked
        for k in itertools.count():
            if k == len(kept):
                got = next(rest, None)
                if got is None:
                    return
                kept.append(got)
            yield kept[k][0]

    def first_frame(self) -> np.ndarray | None:
        """The first frame's pixels (None if there is none), as ``peek`` reads it."""
        return next(self.peek(), None)

    def frames(self) -> Iterator[tuple[np.ndarray, int]]:
        """(H, W, C) uint8 frames with their durations in ``info.time_base`` units."""
        if self._peeked is not None:  # frames were peeked at: they first, then the rest
            kept, rest = self._peeked
            self._peeked = None
            return _replayed(kept, rest)
        return self._decode()

    def _decode(self) -> Iterator[tuple[np.ndarray, int]]:
        return self._frames_av() if self._backend == "av" else self._frames_pillow()


def _replayed(kept: list, rest: Iterator) -> Iterator:
    """``kept``'s items, each let go of once given, then ``rest``'s: peeked frames are not all held
    until the last of them is coded."""
    kept.reverse()
    while kept:
        yield kept.pop()
    yield from rest


def open_av(path: Path):
    """``av.open`` of an input, its failure as one line that says what the file is instead."""
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        kind = sniff.describe_file(path)
        if kind in ("empty", "a text file", "an fpcodec stream", "a zip archive"):
            hint = " (decode it with fpcodec decode)" if kind == "an fpcodec stream" else ""
            raise InputError(f"{path} is {kind}, not a GIF or video{hint}") from None
        raise InputError(f"{path} is not a video FFmpeg can read ({_short(exc)})") from None


def timed_frames(path: Path, cont, convert) -> Iterator[tuple[object, int]]:
    """The first video stream's frames of an open PyAV container, each as ``convert(frame)`` (which
    raises InputError for a frame it refuses), with its duration in the stream's time base (up to
    the next frame's pts; the last one its own); FFmpeg's decoding errors as one InputError line."""
    import av

    prev = None
    try:
        for frame in cont.decode(cont.streams.video[0]):
            cur = (convert(frame), frame.pts, frame.duration)
            if prev is not None:
                yield prev[0], _duration(prev, cur[1])
            prev = cur
    except av.FFmpegError as exc:
        raise InputError(f"{path} could not be decoded ({_short(exc)})") from None
    if prev is not None:
        yield prev[0], _duration(prev, None)


def _duration(prev: tuple, next_pts: int | None) -> int:
    _, pts, dur = prev
    if next_pts is not None and pts is not None and next_pts > pts:
        return int(next_pts - pts)
    return int(dur or 0)


def same_size(path: Path, size: tuple[int, int], expected: tuple[int, int]) -> None:
    """Refuse a frame whose (width, height) is not the stream's: a stream has one frame size."""
    if size != expected:
        raise InputError(f"{path}: frame size changes mid-stream ({size[0]}x{size[1]})")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def gif_loop_count(path: str | os.PathLike) -> int | None:
    """The GIF's NETSCAPE2.0 loop count (0 = forever), or None when it has none (play once)."""
    return gif_blocks.walk(Path(path).read_bytes()).loop


# -------------------------------------------------------------------------------------- writing
OUTPUT_FORMATS = (".gif", ".apng", ".png", ".webp", ".mkv", ".y4m", ".mp4")


@contextmanager
def atomic_output(path: str | os.PathLike, force: bool):
    """Yield a temp path next to ``path``; rename it into place only if the block succeeds. Where
    the temp file cannot be made or renamed, the error names ``path``, not the temp file's name."""
    path = Path(path)
    if path.exists() and not force:
        raise FpcodecError(f"{path} exists (use -y/--force to overwrite)")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.",
            suffix=path.suffix or ".tmp",
            dir=path.parent if str(path.parent) else ".",
        )
    except OSError as exc:
        if out_of_memory(exc):
            raise
        raise FpcodecError(
            f"cannot write {path}: no file can be made in its folder ({exc.strerror or exc})"
        ) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield Path(tmp)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            if out_of_memory(exc):
                raise
            raise FpcodecError(f"cannot write {path} ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def durations_ms(durations: list[int], time_base: Fraction) -> tuple[list[int], bool]:
    """Durations in milliseconds and whether that conversion was exact."""
    ms = [d * time_base * 1000 for d in durations]
    return [int(round(m)) for m in ms], all(m.denominator == 1 for m in ms)


def write_frames(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    durations: Sequence[int] | None,
    time_base: Fraction,
    loop: int | None,
    *,
    force: bool = False,
    allow_lossy: bool = False,
) -> list[str]:
    """Write frames to ``path`` by its extension; returns warnings (timing or data not kept).

    ``frames_%04d.png``-style paths write a PNG sequence. Raises LossyOutputError when the target
    would change pixels and ``allow_lossy`` is false (GIF: at the first frame it cannot hold). Every
    writer takes the frames one at a time, so a generator keeps memory flat however long the video
    (``anim_writers`` for GIF and WebP). If ``frames`` raises, no output file is left behind (a PNG
    sequence keeps the frames written so far).
    """
    path = Path(path)
    name = str(path)
    ext = path.suffix.lower()
    if "%" not in path.name and ext not in OUTPUT_FORMATS:
        raise FpcodecError(
            f"unsupported output format {ext or path.name!r} "
            f"(choose from {', '.join(OUTPUT_FORMATS)} or a frames_%04d.png pattern)"
        )
    if ext in (".y4m", ".mp4") and "%" not in path.name and not allow_lossy:
        raise LossyOutputError(
            f"{ext} stores frames in YUV and would change pixels; use .apng, "
            ".webp, .gif, .mkv or a PNG sequence, or pass --lossy to accept it"
        )
    if durations is None:
        frames = list(frames)
        durations = [0] * len(frames)
    if "%" in path.name:
        return _write_png_sequence(name, frames, len(durations), force)
    first, frames = _peek(frames)
    warnings: list[str] = []
    if ext in (".y4m", ".mp4"):
        warnings.append(f"{ext} output is not pixel-exact (YUV conversion)")
    ms, exact = durations_ms(list(durations), time_base)
    if ext == ".gif" and any(m % 10 for m in ms):
        exact = False
    if ext in (".apng", ".png"):
        exact = all(d > 0 for d in durations)  # written in the stream's own time base; 0 becomes 1 tick
    if ext == ".mkv":
        exact = exact and all(m > 0 for m in ms)  # Matroska's milliseconds; 0 becomes 1
    written = 0

    def counted():
        nonlocal written
        for f in frames:
            written += 1
            yield f

    with atomic_output(path, force) as tmp:
        if ext == ".gif":
            with open(tmp, "wb") as fh:
                notes, written = anim_writers.write_gif(fh, frames, ms, loop, allow_lossy)
            warnings += notes
        elif ext == ".webp":
            notes, written = anim_writers.write_webp(tmp, frames, ms, loop)
            warnings += notes
        elif ext in (".apng", ".png"):
            _write_apng(tmp, first, counted(), durations, time_base, loop)
        elif ext == ".mkv":
            _write_ffv1_rgb(tmp, first, counted(), ms)
        else:
            _write_av(tmp, ext, first, counted())
        if written != len(durations):
            raise FpcodecError(f"{written} frames for {len(durations)} durations")
    if not exact:
        warnings.append(f"frame durations rounded to what {ext} can store")
    return warnings


def _peek(frames: Iterable[np.ndarray]) -> tuple[np.ndarray, Iterable[np.ndarray]]:
    """The first frame, and all the frames again (a list stays a list)."""
    if isinstance(frames, list):
        if not frames:
            raise FpcodecError("no frames to write")
        return frames[0], frames
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise FpcodecError("no frames to write")
    return first, itertools.chain([first], it)


def _write_apng(
    tmp: Path,
    first: np.ndarray,
    frames: Iterable[np.ndarray],
    durs: Sequence[int],
    time_base: Fraction,
    loop: int | None,
) -> None:
    """APNG (``apng.write_apng``), every frame kept."""
    from . import apng

    with open(tmp, "wb") as fh:
        apng.write_apng(fh, first, frames, durs, time_base, loop)


def _write_png_sequence(pattern: str, frames: Iterable[np.ndarray], count: int, force: bool) -> list[str]:
    from PIL import Image

    try:
        paths = [pattern % i for i in range(count)]
    except (TypeError, ValueError):
        raise FpcodecError(f"bad frame pattern {pattern!r} (expected e.g. frames_%04d.png)") from None
    for p in paths:
        if os.path.exists(p) and not force:
            raise FpcodecError(f"{p} exists (use -y/--force to overwrite)")
    written = 0
    for p, f in zip(paths, frames, strict=False):
        with atomic_output(p, True) as tmp:
            if f.dtype == np.uint16 and f.ndim == 3:  # 16-bit RGB(A), which Pillow does not write
                from . import apng

                with open(tmp, "wb") as fh:
                    apng.write_png(fh, f)
            else:
                Image.fromarray(f).save(tmp, format="PNG")
        written += 1
    if written != count:
        raise FpcodecError(f"{written} frames for {count} durations")
    return ["a PNG sequence does not store frame timing or loop count"]


def _write_ffv1_rgb(tmp: Path, first: np.ndarray, frames: Iterable[np.ndarray], ms: Sequence[int]) -> None:
    """RGB(A) frames losslessly as FFV1 (level 3, slice CRCs) in Matroska: pix_fmt bgr0, or bgra
    for RGBA (FFV1's packed RGB formats; it takes no rgb24), each frame at its own time in
    milliseconds (Matroska's unit; a duration of 0 becomes 1), as a video player or FFmpeg reads
    an RGB video back; the same frames give the same bytes (``planar_io.BITEXACT``)."""
    import av

    from .planar_io import BITEXACT

    fmt = "bgra" if first.shape[2] == 4 else "bgr0"
    with av.open(str(tmp), "w", format="matroska", options=BITEXACT) as cont:
        stream = cont.add_stream("ffv1", rate=25, options={"level": "3", "slicecrc": "1"})
        stream.width, stream.height, stream.pix_fmt = first.shape[1], first.shape[0], fmt
        stream.codec_context.time_base = Fraction(1, 1000)
        pts = 0
        for f, d in zip(frames, ms, strict=False):
            layout = "rgba" if f.shape[2] == 4 else "rgb24"
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format=layout)
            vf = vf.reformat(format=fmt, threads=SWSCALE_THREADS)
            vf.pts, vf.time_base = pts, Fraction(1, 1000)
            pts += max(int(d), 1)
            for pkt in stream.encode(vf):
                cont.mux(pkt)
        for pkt in stream.encode():
            cont.mux(pkt)


def _write_av(tmp: Path, ext: str, first: np.ndarray, frames: Iterable[np.ndarray]) -> None:
    import av

    fmt = "yuv4mpegpipe" if ext == ".y4m" else "mp4"
    with av.open(str(tmp), "w", format=fmt) as cont:
        h, w = first.shape[:2]
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
            for pkt in stream.encode(vf.reformat(w, h, stream.pix_fmt, threads=SWSCALE_THREADS)):
                cont.mux(pkt)
        for pkt in stream.encode():
            cont.mux(pkt)
