"""How fast fpcodec is for a user: the CLI timed as whole processes, next to the warm in-process speed
and to the decode speed of WebP and JPEG XL on the same clips, in one run.

    python -m fpcodec.bench.speed_cli CLIP... [--model M ...] [--codecs webp jxl-e9 ...]
        [--repeats 3] [--out bench/results/speed_cli] [--device cpu]

For each clip (anything ``fpcodec encode`` reads) and each model (default ``last-frame`` and the
registry's default model):

* ``fpcodec encode CLIP -o X.fpc``, ``fpcodec decode X.fpc -o X.apng`` and ``... -o X.gif`` run as
  child processes (``python -m fpcodec.codec.cli``), ``--repeats`` times each; the median wall time,
  the median CPU time (user + system of the child, from ``os.wait4``) and the child's peak RSS
  (``ru_maxrss`` from ``os.wait4``) are reported. The decoder has no .npy output, so the raw-ish
  output is APNG (the CLI's default, lossless); GIF is timed as well since it is the usual target.
* The same model, loaded once, encodes and decodes the frames in this process
  (``bench.speed.time_in_process``): the steady state, without imports, model load or file I/O.
* Start-up: the whole-process time of decoding a 1-frame stream of the clip's first frame (imports,
  model load, one frame, one small file), and as a cross-check the process decode time minus
  frames / in-process decode frames/s.
* Each external codec (default ``webp`` and ``jxl-e9``, i.e. WebP lossless and JPEG XL lossless at
  effort 9; any name of ``bench.codecs.ALL_CODECS``) encodes the frames once and decodes them
  ``--repeats`` times in this process (decode checked pixel for pixel once); its peak RSS is that of
  a child process running one decode (``bench.memory.peak_rss``). A codec this installation lacks is
  skipped with a one-line reason.

Ratios: ``fpcodec decode frames/s / reference decode frames/s``, for each reference (``jxl-e9``,
``webp``) measured in the same run, on the same clip: in-process against in-process, and fpcodec's
whole process against the reference in-process (what a user waits for). Below 1: fpcodec is slower.

Peak RSS and the child-process trap: Linux keeps a process's ``maxrss`` across ``exec``, and a child
starts with the RSS of the parent it forked from, so a child spawned by this (torch-loaded) process
would report at least this process's size (checked: a parent holding 400 MB saw 417 MB from
``wait4`` for ``python -c "import numpy"``, the launcher 27 MB). Every timed child is therefore spawned by a small
launcher process (a bare ``python -I -S -c ...`` started once, ~10 MB), which ``os.posix_spawn``-s
the command, ``os.wait4``-s it and reports wall time, CPU time and ``ru_maxrss``. "Bytes per pixel"
is (peak RSS - baseline) / (width x height of one frame), where the baseline is the peak RSS of
``python -c "import numpy"`` run the same way (the interpreter a user would pay for anyway).

Output (``--out``): ``speed_cli.json`` (every measurement, the per-repeat lists included, machine
info with the load average at start and end), ``speed_cli.md`` (the table) and ``speed_cli.png``
(bits/pixel against decode frames/s, log x: filled markers in-process, open markers fpcodec as a
whole process).

Profiling (see ``bench/SPEED.md`` for the exact commands): ``py-spy record -r 200 -f speedscope -o
prof.json -- fpcodec decode X.fpc -o X.gif -y -q`` (view it at speedscope.app); ``py-spy record -r 200
-f raw -o prof.txt -- fpcodec decode ...`` and the one-liner in SPEED.md give inclusive percentages
per function. Threads: numba's parallel kernel (``codec/weight_kernel.py``) and torch use every core;
on a busy machine ``NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1`` can be faster. The variables are passed to
the children and recorded in the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import metrics
from .codecs import ALL_CODECS, get_adapters
from .memory import peak_rss
from .speed import time_in_process

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "speed_cli"
DEFAULT_CODECS = ("webp", "jxl-e9")
#: References fpcodec's decode speed is divided by, when they ran.
REFERENCES = ("jxl-e9", "webp")
#: The fpcodec outputs timed as processes (the CLI has no .npy output; APNG is its lossless default).
DECODE_OUTPUTS = ("apng", "gif")
THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TORCH_NUM_THREADS")
BASELINE_CMD = ["-c", "import numpy"]
DPI = 150

# The launcher: reads one JSON request a line ({"argv", "stderr"}), spawns it with posix_spawn, waits
# with wait4, answers one JSON line. Its own RSS is small, so its children's ru_maxrss is theirs.
_LAUNCHER = r"""
import json, os, sys, time
for line in sys.stdin:
    req = json.loads(line)
    fa = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    t0 = time.perf_counter()
    pid = os.posix_spawn(req["argv"][0], req["argv"], req["env"], file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    out = {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "user_s": ru.ru_utime,
           "sys_s": ru.ru_stime, "maxrss_bytes": ru.ru_maxrss * (1 if sys.platform == "darwin" else 1024),
           "returncode": os.waitstatus_to_exitcode(status)}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"""


#: Left out of the timed processes' environment: with PYTHONDONTWRITEBYTECODE set (as on the
#: development machines), Python compiles every module of fpcodec from source at each start (a
#: 1-frame decode: 1.86 s against 1.80, medians of 5), which an installed package does not.
DROPPED_ENV = ("PYTHONDONTWRITEBYTECODE",)


class Launcher:
    """A small process that runs commands for us and reports their wall time, CPU time and peak RSS."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = {k: v for k, v in (os.environ if env is None else env).items() if k not in DROPPED_ENV}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="fpcodec-speedcli-")

    def run(self, argv: Sequence[str]) -> dict[str, Any]:
        """Run ``argv`` (argv[0] a path) to completion; RuntimeError with the stderr tail on failure."""
        err = os.path.join(self._tmp.name, "stderr.txt")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"argv": list(argv), "env": self.env, "stderr": err}) + "\n")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the launcher process died")
        res = json.loads(line)
        if res["returncode"] != 0:
            tail = Path(err).read_text(errors="replace").strip().splitlines() or ["no output"]
            raise RuntimeError(f"{' '.join(argv[1:])} failed ({res['returncode']}): {tail[-1][:300]}")
        return res

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self._tmp.cleanup()

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "fpcodec.codec.cli", *args]


def _process_stats(runs: list[dict[str, Any]], frames: int) -> dict[str, Any]:
    wall = [r["wall_s"] for r in runs]
    cpu = [r["cpu_s"] for r in runs]
    med = metrics.median(wall)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "median_wall_s": med,
        "median_cpu_s": metrics.median(cpu),
        "peak_rss_bytes": max(r["maxrss_bytes"] for r in runs),
        "fps": metrics.fps(frames, med),
    }


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "threads_env": {k: os.environ[k] for k in THREAD_VARS if k in os.environ},
        "dropped_env": [k for k in DROPPED_ENV if k in os.environ],
    }
    try:
        info["affinity_cpus"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # pragma: no cover
        pass
    return info


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


# --------------------------------------------------------------------------------------- measuring
def bench_fpcodec(
    clip: Path,
    name: str,
    model,
    frames: list[np.ndarray],
    info,
    launcher: Launcher,
    repeats: int,
    device: str,
    tmp: Path,
    step,
) -> dict[str, Any]:
    from fpcodec.codec import Encoder

    n = len(frames)
    pixels = info.width * info.height
    stream = tmp / f"{name}.fpc"
    res: dict[str, Any] = {"codec": f"fpcodec:{name}", "kind": "fpcodec", "model": name, "process": {}}
    runs = []
    for _ in range(repeats):
        runs.append(
            launcher.run(
                _cli("encode", str(clip), "-o", str(stream), "-m", name, "--device", device, "-q", "-y")
            )
        )
        step()
    res["process"]["encode"] = _process_stats(runs, n)
    res["bytes"] = stream.stat().st_size
    res["bits_per_pixel"] = metrics.bits_per_pixel(res["bytes"], n * pixels)
    for fmt in DECODE_OUTPUTS:
        runs = []
        for _ in range(repeats):
            out = tmp / f"{name}.{fmt}"
            runs.append(
                launcher.run(_cli("decode", str(stream), "-o", str(out), "--device", device, "-q", "-y"))
            )
            step()
        res["process"][f"decode_{fmt}"] = _process_stats(runs, n)

    # start-up: a 1-frame stream of the first frame, decoded by a whole process
    one = tmp / f"{name}_1frame.fpc"
    with open(one, "wb") as fh:
        enc = Encoder(fh, width=info.width, height=info.height, channels=info.channels, model=model)
        enc.write(frames[0], 1)
        enc.close()
    runs = [
        launcher.run(_cli("decode", str(one), "-o", str(tmp / "one.apng"), "--device", device, "-q", "-y"))
        for _ in range(repeats)
    ]
    res["process"]["decode_1frame_apng"] = _process_stats(runs, 1)
    step()

    enc_s, dec_s, data, count = time_in_process(frames, info, model, repeats)
    if count != n:
        raise RuntimeError(f"{clip}: in-process decode gave {count} frames, expected {n}")
    res["in_process"] = {
        "encode_s": enc_s,
        "decode_s": dec_s,
        "bytes": len(data),
        "encode_fps": metrics.fps(n, metrics.median(enc_s)),
        "decode_fps": metrics.fps(n, metrics.median(dec_s)),
    }
    step()

    p = res["process"]
    res["encode_fps_process"] = p["encode"]["fps"]
    res["decode_fps_process"] = p["decode_apng"]["fps"]
    res["decode_fps_process_gif"] = p["decode_gif"]["fps"]
    res["encode_fps_in_process"] = res["in_process"]["encode_fps"]
    res["decode_fps_in_process"] = res["in_process"]["decode_fps"]
    res["startup_s"] = p["decode_1frame_apng"]["median_wall_s"]
    res["startup_estimate_s"] = p["decode_apng"]["median_wall_s"] - n / res["decode_fps_in_process"]
    res["peak_rss_bytes"] = {
        "encode": p["encode"]["peak_rss_bytes"],
        "decode": max(p[f"decode_{f}"]["peak_rss_bytes"] for f in DECODE_OUTPUTS),
    }
    return res


def bench_external(
    adapter, frames: list[np.ndarray], info, durations, repeats: int, memory: bool, step
) -> dict[str, Any]:
    n = len(frames)
    ms = [d * info.time_base * 1000 for d in durations if d > 0]
    frame_ms = max(1, int(round(float(sum(ms) / len(ms))))) if ms else 40
    res: dict[str, Any] = {
        "codec": adapter.name,
        "kind": "external",
        "label": adapter.label,
        "settings": adapter.settings,
    }
    data, enc_s = metrics.timed(lambda: adapter.encode(frames, [frame_ms] * n, Fraction(1000, frame_ms)))
    res["encode_s"] = enc_s
    res["encode_fps_in_process"] = metrics.fps(n, enc_s)
    res["bytes"] = len(data)
    res["bits_per_pixel"] = metrics.bits_per_pixel(len(data), n * info.width * info.height)
    dec_s = []
    for r in range(repeats):
        decoded, t = metrics.timed(lambda: adapter.decode(data))
        dec_s.append(t)
        if r == 0:
            out = decoded.frames
            if len(out) != n and decoded.durations:  # merged repeated frames (WebP): expand them
                out = metrics.expand_by_duration(out, decoded.durations, frame_ms / 1000.0)
            check = metrics.compare_frames(frames, out)
            res["exact"], res["exact_detail"] = check.exact, check.detail
        step()
    res["decode_s"] = dec_s
    res["decode_fps_in_process"] = metrics.fps(n, metrics.median(dec_s))
    if memory:
        enc_rss, dec_rss = peak_rss(adapter.name, frames, durations, info.time_base, frame_ms)
        res["peak_rss_bytes"] = {"encode": enc_rss, "decode": dec_rss}
    step()
    return res


def add_ratios(results: list[dict[str, Any]]) -> None:
    """fpcodec decode frames/s over each reference's, all from ``results`` (one clip, one run)."""
    refs = {r["codec"]: r for r in results if r["kind"] == "external" and r["codec"] in REFERENCES}
    for r in results:
        if r["kind"] != "fpcodec":
            continue
        r["decode_ratio"] = {}
        for ref_name, ref in refs.items():
            ref_fps = ref["decode_fps_in_process"]
            r["decode_ratio"][ref_name] = {
                "reference_decode_fps": ref_fps,
                "in_process": r["decode_fps_in_process"] / ref_fps,
                "process": r["decode_fps_process"] / ref_fps,
            }


def _rss_per_pixel(results: list[dict[str, Any]], baseline: int, pixels: int) -> None:
    for r in results:
        if "peak_rss_bytes" in r:
            r["rss_above_baseline_bytes_per_pixel"] = {
                k: (v - baseline) / pixels for k, v in r["peak_rss_bytes"].items()
            }


# ---------------------------------------------------------------------------------------- reports
def _f(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _g(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# fpcodec speed: the CLI as a process, in-process, and against WebP / JPEG XL",
        "",
        f"{report['started_utc']} UTC, commit {m.get('git_commit', '?')}, {m['cpu_count']} CPUs "
        f"({m.get('affinity_cpus', '?')} usable), load average (1/5/15 min) {m['load_start']} at "
        f"start, {m['load_end']} at end; Python {m['python']}, torch {m.get('torch', '?')} "
        f"({m.get('torch_threads', '?')} threads); thread variables: {m['threads_env'] or 'none set'}"
        + (
            f"; left out of the timed processes: {', '.join(m['dropped_env'])} (Python writes and reads bytecode, as an installed package does)."
            if m.get("dropped_env")
            else "."
        ),
        "",
        f"Command: `{report['command']}`. Medians of {report['repeats']} runs. Decode frames/s "
        "'process' is the whole `fpcodec decode` process to APNG (GIF in brackets); in-process is "
        "the model loaded once. Start-up: a whole-process decode of a 1-frame stream (the estimate "
        "in brackets: process time minus frames / in-process frames/s). Peak RSS: the decoding "
        "process (fpcodec: the CLI; others: one decode in a child), and in bytes per pixel of one "
        f'frame above a `python -c "import numpy"` baseline of {report["baseline_rss_bytes"] / 1e6:.1f} MB. '
        "Ratios: fpcodec decode frames/s over the reference's (in-process / process against "
        "in-process), same clip, same run; below 1 fpcodec is slower.",
        "",
    ]
    for clip in report["clips"]:
        lines += [
            f"## {clip['clip']} ({clip['width']}x{clip['height']}, {clip['frames']} frames)",
            "",
            "| codec | bits/pixel | encode fps (process / in-proc) | decode fps process | "
            "decode fps in-proc | start-up s | decode peak RSS MB | B/pixel above baseline | "
            + " | ".join(f"decode vs {r}" for r in clip["references"])
            + " |",
            "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(clip["references"]),
        ]
        for r in clip["results"]:
            rss = r.get("peak_rss_bytes", {}).get("decode")
            bpp_rss = r.get("rss_above_baseline_bytes_per_pixel", {}).get("decode")
            if r["kind"] == "fpcodec":
                enc = f"{_f(r['encode_fps_process'])} / {_f(r['encode_fps_in_process'])}"
                dproc = f"{_f(r['decode_fps_process'])} ({_f(r['decode_fps_process_gif'])})"
                start = f"{_f(r['startup_s'], 2)} ({_f(r['startup_estimate_s'], 2)})"
                ratios = [
                    f"{_g(q['in_process'])} / {_g(q['process'])}"
                    if (q := r["decode_ratio"].get(ref))
                    else "–"
                    for ref in clip["references"]
                ]
            else:
                enc = f"– / {_f(r['encode_fps_in_process'])}"
                dproc, start = "–", "–"
                ratios = ["–"] * len(clip["references"])
                if not r.get("exact", True):
                    enc += " NOT EXACT"
            lines.append(
                f"| {r['codec']} | {r['bits_per_pixel']:.3f} | {enc} | {dproc} | "
                f"{_f(r['decode_fps_in_process'])} | {start} | "
                f"{_f(None if rss is None else rss / 1e6)} | {_f(bpp_rss, 0)} | " + " | ".join(ratios) + " |"
            )
        for name, why in clip["skipped"].items():
            lines.append(f"\n{name} skipped: {why}")
        lines.append("")
    if report.get("plot"):
        lines += [f"![bits/pixel against decode frames/s]({report['plot']})", ""]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> Path:
    from .plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = sorted({r["codec"] for c in report["clips"] for r in c["results"]})
    colours = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    markers = "osD^vP*X"
    for ci, clip in enumerate(report["clips"]):
        mk = markers[ci % len(markers)]
        short = Path(clip["clip"]).stem
        for i, r in enumerate(clip["results"]):
            y = r["bits_per_pixel"]
            x = r["decode_fps_in_process"]
            ax.scatter([x], [y], marker=mk, color=colours[r["codec"]], s=40, zorder=3)
            label = r["codec"] + (f" ({short})" if len(report["clips"]) > 1 else "")
            # alternate above / below so neighbours (WebP and JXL often are) stay readable
            ax.annotate(label, (x, y), fontsize=6, xytext=(4, 4 if i % 2 else -9), textcoords="offset points")
            if r["kind"] == "fpcodec" and r.get("decode_fps_process"):
                xp = r["decode_fps_process"]
                ax.scatter(
                    [xp], [y], marker=mk, facecolors="none", edgecolors=colours[r["codec"]], s=40, zorder=3
                )
                ax.plot([xp, x], [y, y], color=colours[r["codec"]], lw=0.6, alpha=0.6)
                ax.annotate(
                    "process", (xp, y), fontsize=5, xytext=(-4, -8), textcoords="offset points", ha="right"
                )
    ax.set_xscale("log")
    ax.set_xlabel("decode frames/s (log; filled: in-process, open: fpcodec as a whole process)")
    ax.set_ylabel("bits/pixel (lower is better)")
    m = report["machine"]
    names = ", ".join(Path(c["clip"]).stem for c in report["clips"])
    load = m["load_start"][0] if m["load_start"] else "?"
    ax.set_title(f"Size against decode speed: {names} ({m['cpu_count']} CPUs, load {load})", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(x=0.15, y=0.08)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    from fpcodec.codec.io import VideoReader
    from fpcodec.models import registry
    from tqdm import tqdm

    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.speed_cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--model", nargs="+", default=["last-frame", registry.DEFAULT_MODEL])
    parser.add_argument(
        "--codecs", nargs="*", default=list(DEFAULT_CODECS), help=f"from {', '.join(ALL_CODECS)}"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--device", default="cpu", help="for fpcodec: cpu (default), cuda or auto")
    parser.add_argument("--no-memory", action="store_true", help="skip the external codecs' RSS children")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    adapters = []
    skipped: dict[str, str] = {}
    for adapter in get_adapters(args.codecs):
        ok, why = adapter.availability()
        if ok:
            adapters.append(adapter)
        else:
            skipped[adapter.name] = why
            print(f"skipping {adapter.name}: {why}", file=sys.stderr)

    started = datetime.datetime.now(datetime.timezone.utc)
    machine = machine_info()
    machine["load_start"] = _load()
    models = {name: registry.get(name, device=args.device) for name in args.model}
    per_model = 3 * args.repeats + 2
    per_codec = args.repeats + 1
    total = len(args.clips) * (len(models) * per_model + len(adapters) * per_codec) + 1
    report: dict[str, Any] = {
        "started_utc": started.strftime("%Y-%m-%d %H:%M"),
        "command": "python -m fpcodec.bench.speed_cli " + " ".join(sys.argv[1:] if argv is None else argv),
        "repeats": args.repeats,
        "models": list(models),
        "codecs": [a.name for a in adapters],
        "machine": machine,
        "clips": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        Launcher() as launcher,
        tempfile.TemporaryDirectory(prefix="fpcodec-speedcli-") as tmpdir,
        tqdm(total=total, desc="speed_cli", unit="run", disable=args.quiet, file=sys.stderr) as bar,
    ):
        baseline = launcher.run([sys.executable, *BASELINE_CMD])
        report["baseline_rss_bytes"] = baseline["maxrss_bytes"]
        report["baseline_command"] = "python " + " ".join(BASELINE_CMD)
        bar.update(1)
        for clip in args.clips:
            reader = VideoReader(clip)
            frames, durations = [], []
            for f, d in reader.frames():
                frames.append(np.ascontiguousarray(f))
                durations.append(int(d))
            info = reader.info
            pixels = info.width * info.height
            results = []
            tmp = Path(tmpdir)
            for name, model in models.items():
                bar.set_postfix_str(f"{clip.name} {name}")
                results.append(
                    bench_fpcodec(
                        clip,
                        name,
                        model,
                        frames,
                        info,
                        launcher,
                        args.repeats,
                        args.device,
                        tmp,
                        lambda: bar.update(1),
                    )
                )
            clip_skipped = dict(skipped)
            for adapter in adapters:
                bar.set_postfix_str(f"{clip.name} {adapter.name}")
                if info.channels == 4 and not adapter.supports_alpha:
                    clip_skipped[adapter.name] = "clip has alpha; no lossless alpha mode here"
                    bar.update(per_codec)
                    continue
                results.append(
                    bench_external(
                        adapter,
                        frames,
                        info,
                        durations,
                        args.repeats,
                        not args.no_memory,
                        lambda: bar.update(1),
                    )
                )
            add_ratios(results)
            _rss_per_pixel(results, report["baseline_rss_bytes"], pixels)
            report["clips"].append(
                {
                    "clip": str(clip),
                    "width": info.width,
                    "height": info.height,
                    "channels": info.channels,
                    "frames": len(frames),
                    "references": [r for r in REFERENCES if any(x["codec"] == r for x in results)],
                    "skipped": clip_skipped,
                    "results": results,
                }
            )
    machine["load_end"] = _load()
    report["finished_utc"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    report["plot"] = plot(report, args.out / "speed_cli.png").name
    (args.out / "speed_cli.json").write_text(json.dumps(report, indent=1) + "\n")
    md = markdown(report)
    (args.out / "speed_cli.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
