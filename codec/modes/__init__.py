"""One module per frame coding mode, all with the same contract (see ``base``).

``rgb_intra`` (mode 0), ``rgb_inter`` (1), ``palette`` (2 and 3, which share its pass coder),
``palette_update`` (4), ``stored`` (5) and ``palette_lz`` (8) each provide ``estimate`` (the mode's
cost in bits and whatever ``encode`` needs, as a typed candidate), ``encode`` (candidate ->
payload) and ``decode`` (coded frame -> pixels); ``planar`` (6) codes planar streams' frames.
``codec.frame_coding`` only chooses among the candidates.
"""
