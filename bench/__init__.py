"""Compression benchmark: fpcodec against the lossless codecs people use.

``fpcodec bench PATH... -o REPORT_DIR`` (or ``python -m fpcodec.bench``); modules: ``codecs``
(external codec adapters), ``metrics``, ``run`` (harness), ``report`` (markdown/json), ``plots``,
``cli``, ``speed_cli`` (the CLI timed as processes against WebP and JPEG XL decoding, see
SPEED.md), ``corpus`` (rebuild the public corpus: ``python -m fpcodec.bench.corpus DIR``),
``natural_corpus`` and ``natural`` (natural video in its own pixel format), ``screen_corpus`` (the
held-out screen/text/graphics GIFs), ``vs_gif`` (stream size against the GIF, and WebP) and
``vs_gif_table`` (two ``vs_gif`` runs side by side).
"""
