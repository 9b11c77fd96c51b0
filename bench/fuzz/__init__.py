"""Coverage-guided fuzzing of every parser that reads untrusted bytes (atheris, ``pip install -e '.[fuzz]'``).

One module per target, each runnable as ``python -m fpcodec.bench.fuzz.<target> [libFuzzer args]``:
``stream`` (the whole stream decoder), ``gif_blocks`` (the GIF block walker) and ``input`` (VideoReader
and a last-frame encode of GIF/APNG/WebP bytes). ``bench/fuzz/run_all.sh SECONDS`` runs them all and
appends libFuzzer's final statistics to a log. A target's only allowed outcomes are success or the
project's FpcodecError family; anything else, a hang past the per-input time bound, or a memory blow-up
past the harness' address-space cap is a finding (libFuzzer writes the input as ``crash-*``/``timeout-*``).
"""
