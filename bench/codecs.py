"""Adapters for the external lossless codecs fpcodec is compared against.

Each adapter is small and has the same surface:

* ``name`` (what ``--codecs`` takes), ``label`` (what reports print), ``settings`` (the exact
  options used, quoted in the report), ``notes`` (caveats such as "frame by frame");
* ``availability() -> (bool, reason)``: whether this installation can run it, and why not;
* ``encode(frames, durations_ms, fps) -> bytes``: the whole stream as a file would hold it
  (container included), written to memory;
* ``decode(data) -> Decoded``: the frames back as (H, W, C) uint8 RGB(A), plus per-frame display
  durations in seconds when the format carries them (used to undo merged duplicate frames).

Exactness is not the adapter's business: the harness compares what ``decode`` returns with the
input, pixel for pixel, and flags anything else as NOT EXACT.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np


@dataclass
class Decoded:
    """Frames as returned by a decoder; ``durations`` in seconds (None when unknown)."""

    frames: list[np.ndarray]
    durations: list[float] | None = None


class CodecAdapter:
    """Base class: subclasses fill in the attributes and the three methods."""

    name: str = ""
    label: str = ""
    settings: str = ""
    notes: str = ""
    #: Whether an alpha channel can be coded losslessly; RGBA inputs are skipped otherwise.
    supports_alpha: bool = True
    #: File extension a stored stream would have (for the report only).
    extension: str = ""

    def availability(self) -> tuple[bool, str]:
        return True, ""

    def encode(self, frames: Sequence[np.ndarray], durations_ms: Sequence[int], fps: Fraction) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Decoded:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def _rgb_format(channels: int) -> str:
    return "rgba" if channels == 4 else "rgb24"


def _silence_ffmpeg() -> None:
    try:
        import av.logging

        av.logging.set_level(av.logging.ERROR)
    except Exception:  # pragma: no cover - older PyAV
        pass


# ------------------------------------------------------------------------------------------- PyAV
class PyAVCodec(CodecAdapter):
    """A video encoder run through PyAV into a Matroska stream in memory, decoded by FFmpeg."""

    def __init__(
        self,
        name: str,
        label: str,
        encoder: str,
        pix_fmt: str,
        options: dict[str, str],
        *,
        alpha_pix_fmt: str | None = None,
        container: str = "matroska",
        extension: str = ".mkv",
        notes: str = "",
        stream_attrs: dict | None = None,
    ) -> None:
        self.name = name
        self.label = label
        self.encoder = encoder
        self.pix_fmt = pix_fmt
        self.alpha_pix_fmt = alpha_pix_fmt
        self.options = dict(options)
        self.container = container
        self.extension = extension
        self.notes = notes
        self.stream_attrs = dict(stream_attrs or {})
        self.supports_alpha = alpha_pix_fmt is not None
        opts = " ".join(f"{k}={v}" for k, v in self.options.items())
        fmts = pix_fmt + (f" ({alpha_pix_fmt} with alpha)" if alpha_pix_fmt else "")
        extra = " ".join(f"{k}={v}" for k, v in self.stream_attrs.items())
        self.settings = (
            f"PyAV/FFmpeg `{encoder}` pix_fmt {fmts}; {opts}{' ' + extra if extra else ''}; "
            f"{container} container"
        )

    def availability(self) -> tuple[bool, str]:
        try:
            import av
        except ImportError as exc:  # pragma: no cover - av is a hard dependency
            return False, f"PyAV not installed ({exc})"
        if self.encoder not in av.codecs_available:
            return False, f"FFmpeg in this PyAV build has no `{self.encoder}` encoder"
        try:
            codec = av.codec.Codec(self.encoder, "w")
        except Exception as exc:
            return False, f"`{self.encoder}` cannot be opened for writing ({exc})"
        formats = {f.name for f in (codec.video_formats or [])}
        if formats and self.pix_fmt not in formats:
            return False, f"`{self.encoder}` does not take pix_fmt {self.pix_fmt}"
        if self.alpha_pix_fmt and formats and self.alpha_pix_fmt not in formats:
            self.supports_alpha = False
        return True, ""

    def encode(self, frames: Sequence[np.ndarray], durations_ms: Sequence[int], fps: Fraction) -> bytes:
        import av

        _silence_ffmpeg()
        h, w, c = frames[0].shape
        pix_fmt = self.alpha_pix_fmt if c == 4 else self.pix_fmt
        buf = io.BytesIO()
        with av.open(buf, "w", format=self.container) as cont:
            stream = cont.add_stream(self.encoder, rate=fps, options=dict(self.options))
            stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
            for key, value in self.stream_attrs.items():
                setattr(stream.codec_context, key, value)
            for i, f in enumerate(frames):
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format=_rgb_format(c))
                vf = vf.reformat(format=pix_fmt, threads=1)
                vf.pts = i
                for pkt in stream.encode(vf):
                    cont.mux(pkt)
            for pkt in stream.encode():
                cont.mux(pkt)
        return buf.getvalue()

    def decode(self, data: bytes) -> Decoded:
        import av

        _silence_ffmpeg()
        out = []
        with av.open(io.BytesIO(data), "r") as cont:
            stream = cont.streams.video[0]
            for frame in cont.decode(stream):
                fmt = frame.format.name
                has_alpha = any(fmt.startswith(p) for p in ("gbrap", "yuva", "rgba", "bgra", "argb", "abgr"))
                out.append(frame.to_ndarray(format="rgba" if has_alpha else "rgb24", threads=1))
        return Decoded(out)


# ------------------------------------------------------------------------------------ Pillow WebP
def _pillow_frames(data: bytes, channels_hint: int | None = None) -> Decoded:
    from PIL import Image, ImageSequence

    frames, durs = [], []
    with Image.open(io.BytesIO(data)) as im:
        for fr in ImageSequence.Iterator(im):
            rgba = np.asarray(fr.convert("RGBA"))
            frames.append(rgba)
            durs.append(float(fr.info.get("duration", 0) or 0) / 1000.0)
    if frames and all((f[..., 3] == 255).all() for f in frames):
        frames = [np.ascontiguousarray(f[..., :3]) for f in frames]
    return Decoded(frames, durs)


class WebPCodec(CodecAdapter):
    """Animated WebP, lossless (VP8L), through Pillow's libwebp binding."""

    name = "webp"
    label = "WebP lossless (animated)"
    extension = ".webp"

    def __init__(self, method: int = 5, quality: int = 100) -> None:
        self.method, self.quality = method, quality
        self.settings = (
            f"Pillow save_all=True lossless=True exact=True quality={quality} method={method} "
            f"(libwebp WebPAnimEncoder)"
        )
        self.notes = (
            "libwebp's animation encoder may merge identical consecutive frames into one "
            "longer frame; the check expands them back by duration"
        )

    def availability(self) -> tuple[bool, str]:
        try:
            from PIL import features
        except ImportError as exc:  # pragma: no cover
            return False, f"Pillow not installed ({exc})"
        if not features.check("webp"):
            return False, "Pillow was built without WebP support"
        return True, ""

    def encode(self, frames, durations_ms, fps) -> bytes:
        from PIL import Image

        ims = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
        buf = io.BytesIO()
        ims[0].save(
            buf,
            format="WEBP",
            save_all=True,
            append_images=ims[1:],
            lossless=True,
            exact=True,
            quality=self.quality,
            method=self.method,
            duration=list(durations_ms),
            loop=0,
        )
        return buf.getvalue()

    def decode(self, data: bytes) -> Decoded:
        return _pillow_frames(data)


# ------------------------------------------------------------------------------------------- APNG
class APNGCodec(CodecAdapter):
    """Animated PNG written by Pillow (changed-region frames), read back by FFmpeg's APNG decoder."""

    name = "apng"
    label = "APNG"
    extension = ".apng"

    def __init__(self, compress_level: int = 9) -> None:
        self.compress_level = compress_level
        self.settings = (
            f"Pillow save_all=True compress_level={compress_level} (zlib), frames cropped "
            "to the changed region; decoded with FFmpeg's apng decoder (Pillow as fallback)"
        )
        self.notes = (
            "Pillow merges identical consecutive frames into one longer frame; the check expands them"
        )

    def encode(self, frames, durations_ms, fps) -> bytes:
        from PIL import Image

        ims = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
        buf = io.BytesIO()
        ims[0].save(
            buf,
            format="PNG",
            save_all=True,
            append_images=ims[1:],
            duration=list(durations_ms),
            loop=0,
            compress_level=self.compress_level,
        )
        return buf.getvalue()

    def decode(self, data: bytes) -> Decoded:
        try:
            return self._decode_av(data)
        except Exception:
            return _pillow_frames(data)

    @staticmethod
    def _decode_av(data: bytes) -> Decoded:
        import av

        _silence_ffmpeg()
        frames, durs = [], []
        with av.open(io.BytesIO(data), "r", format="apng") as cont:
            stream = cont.streams.video[0]
            tb = stream.time_base
            for frame in cont.decode(stream):
                fmt = frame.format.name
                alpha = fmt in ("rgba", "ya8", "rgba64be", "ya16be", "pal8")
                frames.append(frame.to_ndarray(format="rgba" if alpha else "rgb24", threads=1))
                dur = getattr(frame, "duration", None)
                durs.append(float(dur * tb) if dur else None)
        if frames and frames[0].shape[-1] == 4 and all((f[..., 3] == 255).all() for f in frames):
            frames = [np.ascontiguousarray(f[..., :3]) for f in frames]
        return Decoded(frames, durs if any(d is not None for d in durs) else None)


# -------------------------------------------------------------------------------------- JPEG XL
class JpegXLCodec(CodecAdapter):
    """JPEG XL lossless through imagecodecs (libjxl), all frames in one multi-frame codestream."""

    name = "jxl"
    label = "JPEG XL lossless"
    extension = ".jxl"

    def __init__(self, effort: int | None = None, name: str = "jxl") -> None:
        self.effort = effort
        self.name = name
        self.label = "JPEG XL lossless" + (f" (effort {effort})" if effort else "")
        self.settings = (
            f"imagecodecs.jpegxl_encode(frames (N,H,W,C), lossless=True"
            f"{', effort=%d' % effort if effort else ', effort=default (7)'}); "
            "decoded with imagecodecs.jpegxl_decode"
        )
        self.notes = (
            "one animated JXL file; libjxl codes every frame on its own (no inter-frame "
            "prediction), so this is effectively frame-by-frame lossless JXL"
        )

    def availability(self) -> tuple[bool, str]:
        try:
            import imagecodecs
        except ImportError:
            return False, "imagecodecs is not installed (pip install imagecodecs)"
        if not getattr(getattr(imagecodecs, "JPEGXL", None), "available", False):
            return False, "imagecodecs was built without libjxl"
        return True, ""

    def encode(self, frames, durations_ms, fps) -> bytes:
        import imagecodecs

        stack = np.ascontiguousarray(np.stack(frames, 0))
        kw = {"lossless": True}
        if self.effort:
            kw["effort"] = self.effort
        return bytes(imagecodecs.jpegxl_encode(stack, **kw))

    def decode(self, data: bytes) -> Decoded:
        import imagecodecs

        arr = imagecodecs.jpegxl_decode(data)
        if arr.ndim == 3:
            arr = arr[None]
        return Decoded([np.ascontiguousarray(a) for a in arr])


# -------------------------------------------------------------------------------------- registry
def default_adapters() -> list[CodecAdapter]:
    """Every external codec, in report order."""
    return [
        PyAVCodec(
            "ffv1",
            "FFV1 (level 3)",
            "ffv1",
            "bgr0",
            {"level": "3", "coder": "1", "context": "1", "slicecrc": "0", "g": "1000"},
            alpha_pix_fmt="bgra",
            notes="no inter-frame prediction; g=1000 keeps the adaptive contexts across the "
            "whole clip (smaller than FFmpeg's default GOP on these clips)",
        ),
        PyAVCodec(
            "x264",
            "H.264 lossless (x264rgb)",
            "libx264rgb",
            "rgb24",
            {"qp": "0", "preset": "veryslow"},
            notes="RGB 4:4:4 coded as GBR planes; no alpha",
        ),
        PyAVCodec(
            "x265",
            "HEVC lossless (x265)",
            "libx265",
            "gbrp",
            {"preset": "veryslow", "x265-params": "lossless=1:log-level=error"},
            notes="no alpha (x265 has no lossless RGBA mode)",
        ),
        PyAVCodec(
            "vp9",
            "VP9 lossless (libvpx)",
            "libvpx-vp9",
            "gbrp",
            {"lossless": "1", "deadline": "good", "cpu-used": "1", "row-mt": "1"},
            notes="profile 1 GBR; alpha not supported here (libvpx keeps it in a side stream "
            "FFmpeg's decoders drop)",
        ),
        WebPCodec(),
        APNGCodec(),
        JpegXLCodec(),
        JpegXLCodec(effort=9, name="jxl-e9"),
    ]


ALL_CODECS: tuple[str, ...] = ("ffv1", "x264", "x265", "vp9", "webp", "apng", "jxl", "jxl-e9")


def get_adapters(names: Sequence[str] | None = None) -> list[CodecAdapter]:
    """Adapters for ``names`` (all when None); KeyError on an unknown name."""
    adapters = {a.name: a for a in default_adapters()}
    if names is None:
        return list(adapters.values())
    unknown = [n for n in names if n not in adapters]
    if unknown:
        raise KeyError(f"unknown codec(s) {', '.join(unknown)} (choose from {', '.join(adapters)})")
    return [adapters[n] for n in names]


@dataclass
class FunctionCodec(CodecAdapter):
    """An adapter from two plain functions (handy for tests and one-off experiments)."""

    name: str = "custom"
    encode_fn: Callable[..., bytes] | None = None
    decode_fn: Callable[[bytes], Decoded | list] | None = None
    label: str = ""
    settings: str = ""
    notes: str = ""
    supports_alpha: bool = True
    available: tuple[bool, str] = field(default=(True, ""))

    def availability(self) -> tuple[bool, str]:
        return self.available

    def encode(self, frames, durations_ms, fps) -> bytes:
        return self.encode_fn(frames, durations_ms, fps)

    def decode(self, data: bytes) -> Decoded:
        out = self.decode_fn(data)
        return out if isinstance(out, Decoded) else Decoded(list(out))
