"""``fpcodec batch encode|decode|verify``: the command line of a batch job (loaded lazily by the CLI).

Ray is imported only when a batch runs, so ``fpcodec -h`` and ``fpcodec batch -h`` work without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from ...bitstream.errors import FpcodecError
from . import discovery
from .manifest import MANIFEST_NAME, ManifestWriter, latest, read_records
from .work import DECODE_FORMATS, PLANAR_DECODE_FORMATS, Options, decode_output_for

PROG = "fpcodec"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``batch`` subcommands (called by ``fpcodec.codec.cli`` when ``batch`` runs)."""
    from ...models import registry

    sub = parser.add_subparsers(dest="op", required=True)

    def engine(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--address",
            help="join the Ray cluster at this address (default: start a local "
            "one on this machine for the job)",
        )
        p.add_argument(
            "--workers", type=int, default=None, help="worker processes (default: one per CPU of the cluster)"
        )
        p.add_argument(
            "--in-flight",
            type=int,
            default=None,
            help="most files submitted at once (default: two per worker)",
        )
        p.add_argument(
            "--gpus-per-worker",
            type=float,
            default=0.0,
            help="GPUs Ray reserves for each worker (e.g. 0.25: four workers share a GPU)",
        )
        p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
        p.add_argument(
            "--max-pixels",
            type=int,
            default=None,
            help="largest frame (width*height) accepted; default 178956970, with a warning above 89478485",
        )
        p.add_argument(
            "--max-bytes",
            type=int,
            default=1 << 30,
            help="largest input file in bytes (default 1 GiB); larger ones fail",
        )
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")

    def coding(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "sources",
            nargs="+",
            metavar="SRC",
            help="folders (walked recursively), files, or @LIST (a text file, one path a line)",
        )
        p.add_argument(
            "-o",
            "--output",
            required=True,
            metavar="OUT_DIR",
            help="output folder: mirrors the input tree, holds manifest.jsonl",
        )
        p.add_argument(
            "--no-verify",
            action="store_true",
            help="do not decode each result and compare it with its source",
        )
        p.add_argument(
            "-y",
            "--force",
            action="store_true",
            help="overwrite outputs that exist (default: keep and check them)",
        )
        p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
        engine(p)

    p = sub.add_parser("encode", help="encode every video under SRC to OUT_DIR/<path>.fpc")
    p.add_argument(
        "-m",
        "--model",
        default=registry.DEFAULT_MODEL,
        choices=registry.available(),
        help="predictor of the files coded as RGB frames (GIF, RGB of few colours, palette video; "
        f"default {registry.DEFAULT_MODEL}); a YUV or gray video is coded in its own pixel format by the "
        "planar rule, and an RGB(A) source with more than 256 colours in one of its first frames as planes",
    )
    p.add_argument(
        "--rgb",
        action="store_true",
        help="code YUV and gray videos as RGB frames too (a conversion: not their own samples), "
        "and RGB sources of many colours by the RGB modes, with -m's predictor",
    )
    coding(p)

    p = sub.add_parser("decode", help="decode every .fpc stream under SRC to OUT_DIR")
    p.add_argument(
        "--to",
        choices=[f[1:] for f in DECODE_FORMATS + PLANAR_DECODE_FORMATS],
        default=None,
        help="output format (default: the name inside the stream's, a.gif.fpc -> a.gif; else apng, "
        "or mkv (FFV1) for a stream of a YUV or gray video, which only mkv and y4m hold exactly)",
    )
    coding(p)

    p = sub.add_parser("verify", help="check every output in a batch's manifest against its source again")
    p.add_argument("output", metavar="OUT_DIR", help="the folder a batch encode or decode wrote")
    engine(p)


class _Tally:
    """Counts for the progress bar and the summary."""

    def __init__(self, total: int, op: str) -> None:
        self.total, self.op = total, op
        self.ok = self.skipped = 0
        self.failed: list[dict[str, Any]] = []
        self.bytes_in = self.bytes_out = 0
        self.started = time.perf_counter()

    def add(self, rec: dict[str, Any]) -> None:
        status = rec.get("status")
        if status == "skipped":
            self.skipped += 1
        elif status == "ok":
            self.ok += 1
            self.bytes_in += rec.get("source_size", 0)
            self.bytes_out += rec.get("stream_size", rec.get("output_size", 0))
        else:
            self.failed.append(rec)

    def saving(self) -> str:
        return f"{100 * (1 - self.bytes_out / self.bytes_in):.1f}%" if self.bytes_in else "-"

    def summary(self, manifest: Path | None) -> str:
        elapsed = time.perf_counter() - self.started
        done = self.ok + len(self.failed)
        verb = {"encode": "encoded", "decode": "decoded", "verify": "verified"}[self.op]
        lines = [
            f"{self.total} files: {self.ok} {verb}, {self.skipped} already done, "
            f"{len(self.failed)} failed, in {elapsed:.1f} s ({done / elapsed:.2f} files/s)"
        ]
        if self.op != "verify" and self.ok:
            lines.append(
                f"{self.bytes_in} bytes in, {self.bytes_out} bytes out, saving {self.saving()} "
                f"({self.bytes_in / 1e6 / elapsed:.2f} MB/s in)"
            )
        for rec in self.failed[:10]:
            lines.append(f"failed: {_failure(rec)}")
        if len(self.failed) > 10:
            lines.append(f"... and {len(self.failed) - 10} more")
        if manifest is not None:
            lines.append(f"manifest: {manifest}")
        return "\n".join(lines)


def _failure(rec: dict[str, Any]) -> str:
    """A failed record as one line, naming the file once."""
    source, error = str(rec.get("source")), str(rec.get("error"))
    return error if source in error else f"{source}: {error}"


def _progress(total: int, op: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=f"batch {op}",
        unit="file",
        disable=quiet or not sys.stderr.isatty(),
        leave=False,
        dynamic_ncols=True,
    )


def run(args: argparse.Namespace) -> int:
    """Run one batch; returns 0 when every file succeeded, 1 otherwise."""
    from . import driver

    for name in ("workers", "in_flight", "threads", "max_bytes"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise FpcodecError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    out_dir = Path(args.output)
    options = Options(
        force=getattr(args, "force", False),
        verify=not getattr(args, "no_verify", False),
        max_pixels=args.max_pixels,
        max_bytes=args.max_bytes,
        threads=args.threads,
        device=getattr(args, "device", "cpu"),
    )
    if args.op == "encode":
        options = dataclasses.replace(options, model=args.model, rgb=args.rgb)
        jobs = discovery.find_jobs(args.sources, suffix=".fpc")
    elif args.op == "decode":
        to = f".{args.to}" if args.to else None
        options = dataclasses.replace(options, to=to)
        jobs = [
            dataclasses.replace(j, rel=decode_output_for(j, to))
            for j in discovery.find_jobs(args.sources, walk=discovery.walk_streams)
        ]
    else:
        if not (out_dir / MANIFEST_NAME).is_file():
            raise FpcodecError(f"{out_dir} holds no {MANIFEST_NAME} (not a batch's output folder)")
    manifest_path = out_dir / MANIFEST_NAME
    records = read_records(manifest_path)
    if args.op == "verify":
        items: list[Any] = [r for r in latest(records).values() if r.get("status") == "ok"]
    else:
        done = {
            rel: rec
            for rel, rec in latest([r for r in records if r.get("op") == args.op]).items()
            if rec.get("status") == "ok"
        }
        items = [(job, done[job.rel]["source_sha256"] if job.rel in done else None) for job in jobs]
    tally = _Tally(len(items), args.op)
    if not items:
        if not args.quiet:
            print(f"{PROG} batch {args.op}: no files to process")
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    with driver.cluster(args.address, num_cpus=args.workers) as ray:
        workers = min(args.workers or driver.cluster_cpus(ray), len(items))
        writer = ManifestWriter(manifest_path) if args.op != "verify" else None
        bar = _progress(len(items), args.op, args.quiet)
        try:

            def on_result(rec: dict[str, Any]) -> None:
                tally.add(rec)
                if writer is not None and rec.get("status") != "skipped":
                    writer.append(rec)
                if rec.get("status") == "error" and not args.quiet:
                    bar.write(f"{PROG}: {_failure(rec)}", file=sys.stderr)
                bar.set_postfix_str(f"saving {tally.saving()}, {len(tally.failed)} failed", refresh=False)
                bar.update()

            driver.run(
                ray,
                args.op,
                items,
                options,
                str(out_dir),
                workers=workers,
                in_flight=args.in_flight,
                gpus_per_worker=args.gpus_per_worker,
                on_result=on_result,
            )
        finally:
            bar.close()
            if writer is not None:
                writer.close()
    if not args.quiet:
        print(tally.summary(manifest_path if args.op != "verify" else None))
    if tally.failed:
        print(
            f"{PROG}: error: {len(tally.failed)} of {tally.total} files failed"
            + (f" (see {manifest_path})" if args.op != "verify" else ""),
            file=sys.stderr,
        )
        return 1
    return 0
