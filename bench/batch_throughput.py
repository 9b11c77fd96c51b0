"""Throughput of ``fpcodec batch encode`` with 1 and 2 Ray workers, and the engine's overhead.

    python -m fpcodec.bench.batch_throughput ../shared/corpus/train --files 16 --repeats 3 \\
        -o bench/results/batch_throughput.json

Each repeat codes the same files (an even spread over the sorted folder) three ways, in turn so that
the host's load falls on all of them alike: through the plain API in one fresh process
(``work.Worker``, one file after the other: what ``fpcodec encode`` does per file, without a process
per file), and through the Ray driver with 1 and with 2 worker actors on a local cluster started
once. Every stream is verified (decoded and compared with its source), as a batch does by default.
Reported: medians of files/s and MB/s of source read, the 2-worker speedup over 1 worker, the
overhead of 1 Ray worker over the plain API, and the CPU share per worker (CPU seconds the coding
processes got per second of wall time; 1.0 on an idle machine), with the load average before and
after, since the host is shared.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ..codec.batch import discovery, driver
from ..codec.batch.work import Options, Worker, run_local


def pick(folder: str, count: int) -> list[discovery.Job]:
    """``count`` files spread evenly over the folder's sorted videos (all when count is 0)."""
    jobs = discovery.find_jobs([folder], suffix=".fpc")
    if count and count < len(jobs):
        step = len(jobs) / count
        jobs = [jobs[int(i * step)] for i in range(count)]
    return jobs


def _plain_in_process(jobs, options: Options) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as out:
        worker = Worker(options)  # model load included, as the actors' is
        return list(run_local(worker, "encode", [(j, None) for j in jobs], out))


def _plain(jobs, options: Options) -> tuple[float, list[dict[str, Any]]]:
    """The plain API in a fresh process (start-up and imports timed, as an actor's are).

    Not in this process: it hosts the Ray driver, whose threads would take CPU from the loop.
    """
    # Ray starts its workers with OMP_NUM_THREADS=1; without it numba's OpenMP threads spin and cost
    # this loop 10-20 % more CPU on a busy host, which is not the engine's doing.
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            records = pool.submit(_plain_in_process, jobs, options).result()
        return time.perf_counter() - started, records
    finally:
        if saved is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def _ray(ray, jobs, options: Options, workers: int) -> tuple[float, list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()  # actor start-up included
        driver.run(
            ray, "encode", [(j, None) for j in jobs], options, out, workers=workers, on_result=records.append
        )
        return time.perf_counter() - started, records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.batch_throughput", description=__doc__.split("\n")[0]
    )
    ap.add_argument("folder", help="folder of clips (e.g. ../shared/corpus/train)")
    ap.add_argument("--files", type=int, default=16, help="files to code per run (0: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("-m", "--model", default="last-frame")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("-o", "--output", help="write the results as JSON here")
    args = ap.parse_args(argv)

    jobs = pick(args.folder, args.files)
    size = sum(os.stat(j.source).st_size for j in jobs)
    options = Options(model=args.model, threads=1)
    ray = driver.import_ray()
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=max(args.workers),
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    cluster_start = time.perf_counter() - t0
    runs: dict[str, list[float]] = {"plain": []} | {f"ray-{w}": [] for w in args.workers}
    per_file: dict[str, list[float]] = {"code": [], "verify": [], "total": [], "cpu": []}
    # CPU seconds the workers got per second of wall time, per worker: 1.0 on an idle machine; on a
    # shared one it says how much of the speedup the other jobs took.
    cpu_share: dict[str, list[float]] = {name: [] for name in runs}
    try:
        for r in range(args.repeats):
            for name in runs:
                if name == "plain":
                    wall, records = _plain(jobs, options)
                else:
                    wall, records = _ray(ray, jobs, options, int(name.split("-")[1]))
                bad = [rec for rec in records if rec["status"] != "ok"]
                if bad:
                    raise SystemExit(f"{name}: {len(bad)} files failed, first: {bad[0].get('error')}")
                if name == "plain":
                    for rec in records:
                        for key in per_file:
                            per_file[key].append(rec["seconds"][key])
                workers = 1 if name == "plain" else int(name.split("-")[1])
                cpu_share[name].append(sum(rec["seconds"]["cpu"] for rec in records) / (wall * workers))
                runs[name].append(wall)
                print(
                    f"repeat {r + 1}: {name:7} {wall:7.1f} s  {len(jobs) / wall:.3f} files/s  "
                    f"CPU share per worker {cpu_share[name][-1]:.2f}  load {os.getloadavg()[0]:.1f}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        ray.shutdown()
    med = {name: statistics.median(walls) for name, walls in runs.items()}
    result: dict[str, Any] = {
        "folder": args.folder,
        "files": len(jobs),
        "bytes": size,
        "model": args.model,
        "repeats": args.repeats,
        "command": "python -m fpcodec.bench.batch_throughput "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": started,
        "verify": True,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cluster_start_s": cluster_start,
        "wall_s": runs,
        "cpu_share_per_worker": cpu_share,
        "median": {
            name: {"wall_s": w, "files_per_s": len(jobs) / w, "mb_per_s_in": size / 1e6 / w}
            for name, w in med.items()
        },
        "per_file_median_s": {k: statistics.median(v) for k, v in per_file.items()},
        "per_file_mean_s": {k: statistics.mean(v) for k, v in per_file.items()},
    }
    if "ray-1" in med:
        result["ray1_overhead"] = med["ray-1"] / med["plain"] - 1
        for w in args.workers:
            if w != 1:
                result[f"speedup_{w}_vs_1"] = med["ray-1"] / med[f"ray-{w}"]
    text = json.dumps(result, indent=1)
    print(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
