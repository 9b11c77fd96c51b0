"""``fpcodec batch``: code a whole library of videos on a Ray cluster, resumably and checked.

- ``discovery``: which files, and where each one's output goes (the input tree mirrored);
- ``manifest``: the append-only JSON Lines record of every file;
- ``work``: what a worker does to one file (no engine in it);
- ``driver``: Ray: the cluster, one actor per worker, bounded work in flight;
- ``cli``: ``fpcodec batch encode|decode|verify``.

Only ``driver`` imports Ray (the ``batch`` extra: ``pip install 'fpcodec[batch]'``).
"""
