"""Are streams the same whatever machine makes them? Encode on one device, verify on another.

    python -m fpcodec.bench.cross_device encode PATH... --device cuda -o streams.tar [--models ...]
    python -m fpcodec.bench.cross_device verify streams.tar [--device cpu]

``encode`` codes every GIF/video under PATH with each model (palette modes on; ``--rgb`` adds an
RGB-modes-only stream), decodes each stream on the same device and checks the frames, and writes
the streams to a tar with a ``manifest.json``: per stream the source path, its SHA-256, the model
and the options. ``verify``, run where the same paths exist (the repository root, say), re-encodes
each source on its device, compares the bytes with the stream from the other machine, and decodes
that stream back to the source's frames. Integer inference (``models/integer.py``) promises both;
the float models make no such promise. Exit status 1 when any stream differs. A PATH may be a
training pack (``.npz``, ``models.training.data``): each of its clips is a source (``pack.npz#k``,
RGB), for a machine without PyAV.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

from ..bitstream.errors import FpcodecError
from ..codec import decode, encode
from ..codec.io import VideoReader, atomic_output
from ..models import registry
from ..models.training.data import PACK_SUFFIX, read_pack
from .run import discover, pack_source

MANIFEST = "manifest.json"


def _frames(name: str) -> list[np.ndarray]:
    """The frames of a source: a video file, or clip k of a training pack (``pack.npz#k``)."""
    file, k = pack_source(name)
    return list(_pack(file)[k]) if k is not None else [f for f, _ in VideoReader(file).frames()]


@functools.lru_cache(maxsize=1)
def _pack(file: Path) -> list[np.ndarray]:
    """A pack's clips, read once for all its sources (they come one after another)."""
    return read_pack(file)


def _same(frames: list[np.ndarray], decoded: list[np.ndarray]) -> bool:
    return len(frames) == len(decoded) and all(
        np.array_equal(a, b) for a, b in zip(frames, decoded, strict=True)
    )


def encode_all(
    paths: list[str],
    models: list[str],
    device: str,
    out: str,
    rgb: bool = False,
    force: bool = False,
    log=print,
) -> int:
    """Write the tar of ``encode``; returns the number of streams whose same-device decode failed."""
    files = [
        f"{f}#{k}" if f.suffix.lower() == PACK_SUFFIX else str(f)
        for f, _ in discover(paths)
        for k in (range(len(_pack(f))) if f.suffix.lower() == PACK_SUFFIX else [None])
    ]
    if not files:
        raise FpcodecError(f"no video files under {' '.join(paths)}")
    device = _resolve(device)
    entries, failures = [], 0
    with atomic_output(out, force) as tmp, tarfile.open(tmp, "w") as tar:
        for path in files:
            try:
                frames = _frames(path)
            except FpcodecError as exc:
                log(f"{path}: skipped ({exc})")
                continue
            digest = hashlib.sha256(pack_source(path)[0].read_bytes()).hexdigest()
            for model in models:
                for palette in (True, False) if rgb else (True,):
                    started = time.perf_counter()
                    data = encode(frames, model=model, device=device, use_palette=palette)
                    ok = _same(frames, decode(data, device=device).frames)
                    failures += not ok
                    name = f"{len(entries):04d}.fpc"
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                    entries.append(
                        {
                            "stream": name,
                            "source": str(path),
                            "sha256": digest,
                            "model": model,
                            "palette": palette,
                            "frames": len(frames),
                        }
                    )
                    log(
                        f"{path} {model}{'' if palette else ' (RGB modes)'}: {len(data)} bytes, "
                        f"decoded on {device}: {'ok' if ok else 'MISMATCH'} "
                        f"({time.perf_counter() - started:.1f} s)"
                    )
        blob = json.dumps(
            {"device": device, "torch": _torch_version(device), "streams": entries}, indent=1
        ).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    return failures


def _resolve(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise FpcodecError(f"device {device!r} asked for, but torch sees no CUDA device")
    return device


def _torch_version(device: str) -> str:
    import torch

    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    return f"{torch.__version__} on {name}"


def verify_all(archive: str, device: str, log=print) -> tuple[int, int]:
    """(identical and decoding, differing or failing) streams of an ``encode`` tar."""
    good = bad = 0
    device = _resolve(device)
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile(MANIFEST).read())
        log(
            f"{archive}: {len(manifest['streams'])} streams made with torch {manifest['torch']}; "
            f"verifying with torch {_torch_version(device)}"
        )
        for entry in manifest["streams"]:
            source = entry["source"]
            file = pack_source(source)[0]
            if not file.is_file() or hashlib.sha256(file.read_bytes()).hexdigest() != entry["sha256"]:
                log(f"{source}: not here, or not the file the streams were made from")
                bad += 1
                continue
            theirs = tar.extractfile(entry["stream"]).read()
            frames = _frames(source)
            ours = encode(frames, model=entry["model"], device=device, use_palette=entry["palette"])
            try:
                decodes = _same(frames, decode(theirs, device=device).frames)
            except FpcodecError as exc:
                decodes = False
                log(f"{source}: {exc}")
            ok = ours == theirs and decodes
            good += ok
            bad += not ok
            log(
                f"{source} {entry['model']}{'' if entry['palette'] else ' (RGB modes)'}: "
                f"{'identical' if ours == theirs else 'BYTES DIFFER'}, "
                f"decodes here {'to the source' if decodes else 'WRONGLY'}"
            )
    return good, bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.cross_device",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encode", help="encode, decode on the same device, write the streams")
    enc.add_argument("paths", nargs="+")
    enc.add_argument("-o", "--output", required=True, help="the .tar to write")
    enc.add_argument("--models", nargs="+", default=[registry.DEFAULT_MODEL])
    enc.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    enc.add_argument("--rgb", action="store_true", help="also code every source in RGB modes only")
    enc.add_argument("-y", "--force", action="store_true", help="overwrite the output")
    ver = sub.add_parser("verify", help="re-encode here and compare with the streams of a tar")
    ver.add_argument("archive")
    ver.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    args = parser.parse_args(argv)
    try:
        if args.command == "encode":
            failures = encode_all(args.paths, args.models, args.device, args.output, args.rgb, args.force)
            return 1 if failures else 0
        good, bad = verify_all(args.archive, args.device)
    except (FpcodecError, OSError, tarfile.TarError, KeyError, json.JSONDecodeError) as exc:
        print(f"cross_device: error: {exc}", file=sys.stderr)
        return 2
    print(f"{good} streams identical and decoding to their sources, {bad} not")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
