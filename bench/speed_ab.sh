#!/bin/bash
# Whole-process A/B timing of two fpcodec trees on the same clips, runs alternating so that a busy
# machine slows both alike; prints one "label seconds" line per run (take medians).
#
#   git worktree add /tmp/wt_old <commit>
#   mkdir -p /tmp/fpold/fpcodec && for d in codec models bitstream bench; do
#       ln -sfn /tmp/wt_old/$d /tmp/fpold/fpcodec/$d; done
#   bench/speed_ab.sh /tmp/fpold CLIP... > ab.txt
#
# "new" is the installed tree; "new1" is it on one core (taskset -c 0, NUMBA_NUM_THREADS=1), and
# "old1" the old tree on one core.
# The streams of both trees, and their decoded outputs, are compared byte for byte first.
# OUT_EXT: the decoded output's format (default gif; y4m for a planar stream's samples);
# ENCODE_ARGS: more arguments of every encode (e.g. --rgb). Where /usr/bin/time (GNU) is
# installed, each line also gives the run's peak RSS in KB (then "label seconds kb").
# OPS: which runs a round makes, of "enc dec dec1 olddec1" (the default: the first three; "enc" for
# an encoder change; "dec dec1 olddec1" to compare what a second core gives each tree). Odd rounds run the old tree first, even rounds the new one: on this 2-core machine the
# second of two back-to-back runs came out up to 6 % slower (bench/SPEED.md), so use an even ROUNDS.
set -u
OLD=$1; shift
PY=${PYTHON:-python}
ROUNDS=${ROUNDS:-3}
OPS=${OPS:-enc dec dec1}
EXT=${OUT_EXT:-gif}
read -ra ENC_ARGS <<< "${ENCODE_ARGS:-}"
run() {
  local label=$1; shift
  local s=$(date +%s.%N) rss=""
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%M" -o "$tmp/rss" "$@" >/dev/null 2>&1 || echo "FAIL $label"
    rss=" $(tail -n 1 "$tmp/rss")"
  else
    "$@" >/dev/null 2>&1 || echo "FAIL $label"
  fi
  echo "$label $(echo "$(date +%s.%N) - $s" | bc)$rss"
}
# commands, not shell functions: /usr/bin/time runs them
OLD_CLI=(env "PYTHONPATH=$OLD" "$PY" -m fpcodec.codec.cli)
NEW_CLI=("$PY" -m fpcodec.codec.cli)
ONE_CLI=(taskset -c 0 env NUMBA_NUM_THREADS=1 "$PY" -m fpcodec.codec.cli)
OLD_ONE_CLI=(taskset -c 0 env NUMBA_NUM_THREADS=1 "PYTHONPATH=$OLD" "$PY" -m fpcodec.codec.cli)
old() { "${OLD_CLI[@]}" "$@"; }
new() { "${NEW_CLI[@]}" "$@"; }
tmp=$(mktemp -d)
# Both trees' modules compiled to .pyc first: where PYTHONDONTWRITEBYTECODE is set (as on these
# machines) a tree without them (a fresh worktree, a module just edited) compiles its sources in
# every process, about 0.2 s of start-up that the other tree does not pay. compileall skips
# symlinked folders, so the old tree's are resolved.
for d in "$OLD"/fpcodec/*/; do "$PY" -m compileall -q "$(readlink -f "$d")" >/dev/null; done
NEW_ROOT=$("$PY" -c "import os, fpcodec.codec as c; print(os.path.dirname(os.path.dirname(c.__file__)))")
for d in codec models bitstream bench; do "$PY" -m compileall -q "$NEW_ROOT/$d" >/dev/null; done
for clip in "$@"; do  # warm numba's caches; the same bytes from both trees
  name=$(basename "$clip")
  old encode "$clip" "${ENC_ARGS[@]}" -o "$tmp/old_$name.fpc" -q -y
  new encode "$clip" "${ENC_ARGS[@]}" -o "$tmp/new_$name.fpc" -q -y
  cmp -s "$tmp/old_$name.fpc" "$tmp/new_$name.fpc" && echo "$name: streams identical" || echo "$name: streams DIFFER"
  old decode "$tmp/old_$name.fpc" -o "$tmp/o.$EXT" -y -q; new decode "$tmp/new_$name.fpc" -o "$tmp/n.$EXT" -y -q
  cmp -s "$tmp/o.$EXT" "$tmp/n.$EXT" && echo "$name: outputs identical" || echo "$name: outputs DIFFER"
done
has() { [[ " $OPS " == *" $1 "* ]]; }
for r in $(seq "$ROUNDS"); do
  trees=(old new)
  (( r % 2 == 0 )) && trees=(new old)
  for clip in "$@"; do
    name=$(basename "$clip")
    if has enc; then
      for t in "${trees[@]}"; do
        if [ "$t" = old ]; then cli=("${OLD_CLI[@]}"); else cli=("${NEW_CLI[@]}"); fi
        run "$t enc $name" "${cli[@]}" encode "$clip" "${ENC_ARGS[@]}" -o "$tmp/$t.fpc" -q -y
      done
    fi
    if has dec; then
      for t in "${trees[@]}"; do
        if [ "$t" = old ]; then cli=("${OLD_CLI[@]}"); else cli=("${NEW_CLI[@]}"); fi
        run "$t dec $name" "${cli[@]}" decode "$tmp/${t}_$name.fpc" -o "$tmp/$t.$EXT" -y -q
      done
    fi
    if has dec1; then
      run "new1 dec $name" "${ONE_CLI[@]}" decode "$tmp/new_$name.fpc" -o "$tmp/n1.$EXT" -y -q
    fi
    if has olddec1; then
      run "old1 dec $name" "${OLD_ONE_CLI[@]}" decode "$tmp/old_$name.fpc" -o "$tmp/o1.$EXT" -y -q
    fi
  done
done
rm -rf "$tmp"
