#!/usr/bin/env bash
# Run every fuzz target for SECONDS of CPU time each and append libFuzzer's final statistics to a log.
#
#   bench/fuzz/run_all.sh SECONDS [TARGET...]        (targets: stream gif_blocks input; default all)
#
# The budget is CPU time (user + system), not wall clock: on a shared machine a target given 1800
# wall-clock seconds may get a fraction of that; each part runs at most FUZZ_CHUNK wall-clock seconds
# and parts follow each other until the target has had SECONDS of CPU.
#
# Environment: FPCODEC_FUZZ_DIR (corpora and findings, default .fuzz), FUZZ_LOG (default
# bench/results/fuzz.log), FUZZ_TIMEOUT (wall-clock seconds per input, default 60), FUZZ_RSS_MB (default 3072),
# FUZZ_NICE (default 15), FUZZ_CHUNK (default 300). Run from the repository root with the venv active
# (pip install -e '.[fuzz]'). A finding stops that target: its input is saved as
# $FPCODEC_FUZZ_DIR/<target>-crash-* (or -timeout-*, -oom-*) and the run goes on to the next target.
# The per-input bound that matters is the harness' own (CPU time, 20 s for stream/input, 5 s for
# gif_blocks); libFuzzer's -timeout is wall clock, so raise FUZZ_TIMEOUT on a crowded machine.
# Extra libFuzzer flags go in FUZZ_ARGS (e.g. FUZZ_ARGS=-max_len=4096 to favour small, fast inputs).
#
# Each target runs as a series of fresh processes of FUZZ_CHUNK seconds on the same corpus folder:
# an atheris process grows over many executions (stream: 420 MB to 2.4 GB RSS in 87,000; not the codec: replaying
# 6,000 mutated streams in a plain loop stays at a flat RSS), and after some 90,000 executions an
# allocation fails under the harness' address-space cap although no single input is to blame.
set -u
seconds=${1:?usage: bench/fuzz/run_all.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(stream gif_blocks input)
dir=${FPCODEC_FUZZ_DIR:-.fuzz}
log=${FUZZ_LOG:-bench/results/fuzz.log}
chunk=${FUZZ_CHUNK:-300}
export FPCODEC_FUZZ_DIR=$dir
mkdir -p "$dir" "$(dirname "$log")"
status=0
for t in "${targets[@]}"; do
    total_cpu=0
    total_execs=0
    part=0
    while [ "$total_cpu" -lt "$seconds" ]; do
        part=$((part + 1))
        left=$((seconds - total_cpu))
        this=$(( left < chunk ? left : chunk ))
        out="$dir/$t.out"
        # libFuzzer's -max_total_time is wall clock; the CPU seconds the target really got go in the log.
        TIMEFORMAT='%U %S'
        { time nice -n "${FUZZ_NICE:-15}" python -m "fpcodec.bench.fuzz.$t" \
            -max_total_time="$this" -timeout="${FUZZ_TIMEOUT:-60}" -rss_limit_mb="${FUZZ_RSS_MB:-3072}" \
            -print_final_stats=1 -artifact_prefix="$dir/$t-" ${FUZZ_ARGS:-} "$dir/$t" >"$out" 2>&1; } 2>"$dir/$t.time"
        rc=$?
        cpu=$(awk '{printf "%.0f", $1 + $2}' "$dir/$t.time")
        execs=$(grep -E '^stat::number_of_executed_units' "$out" | awk '{print $2}')
        total_cpu=$((total_cpu + cpu))
        total_execs=$((total_execs + ${execs:-0}))
        {
            echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) target=$t part=$part seconds=$this cpu_seconds=$cpu exit=$rc" \
                 "commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
            # The last status line (#execs, cov:, ft:, corp:) and libFuzzer's final stats.
            grep -E '^#[0-9]+' "$out" | tail -n 1
            grep -E '^stat::' "$out"
            grep -E 'ERROR: libFuzzer|^=== Uncaught|Test unit written to' "$out" | head -n 5
        } | tee -a "$log"
        cp "$out" "$dir/$t.part$part.out"
        if [ $rc -ne 0 ]; then
            status=1
            break
        fi
    done
    echo "== target=$t total: parts=$part cpu_seconds=$total_cpu executions=$total_execs" | tee -a "$log"
done
exit $status
