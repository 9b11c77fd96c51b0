"""Code one frame in the cheapest of four modes, mirrored exactly by the decoder.

- RGB inter: channels in order R, G, B, (A); each channel is one vectorized constriction call whose
  means may depend on the channels already decoded (colour coupling).
- RGB intra: the coarse-to-fine passes of ``models.intra``, for frames with no useful history.
- Palette inter / palette intra: the same two predictions, turned into categorical distributions
  over the frame's palette (see ``palette_coding``), for frames of at most 256 colours.
- Palette update: for frames of more than 256 colours whose changed pixels have at most 255, the
  palette inter coding over those colours plus one "keep the previous colour" symbol.
All share a per-frame scale shift chosen by the encoder by measured cost and stored in the chunk,
which calibrates any predictor's scales to the frame at hand. The encoder estimates every mode's
cost from the ideal code lengths and codes the frame once, in the cheapest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..bitstream import entropy
from ..bitstream.errors import FormatError
from ..bitstream.palette import encode_palette
from ..models import intra
from ..models.base import Prediction, apply_coupling
from . import palette_coding as pc
from . import palette_context as ctx

MODE_INTRA = 0
MODE_INTER = 1
MODE_PALETTE_INTRA = 2
MODE_PALETTE_INTER = 3
MODE_PALETTE_UPDATE = 4
MODE_NAMES = {MODE_INTRA: "intra", MODE_INTER: "inter", MODE_PALETTE_INTRA: "p-intra",
              MODE_PALETTE_INTER: "p-inter", MODE_PALETTE_UPDATE: "p-update"}
#: Palette-update frames index at most this many colours (the keep symbol is index K).
MAX_UPDATE_COLOURS = 255
SHIFT_MIN, SHIFT_MAX = -63, 63
_SHIFTS = np.arange(SHIFT_MIN, SHIFT_MAX + 1)


@dataclass(frozen=True)
class CodedFrame:
    """A coded frame; ``palette`` is the palette a palette-mode frame indexes into."""

    mode: int
    scale_shift: int
    payload: bytes
    mix: int = 0
    palette: np.ndarray | None = None


def _shifted(scale_idx: np.ndarray, shift: int) -> np.ndarray:
    return np.clip(scale_idx + shift, 0, len(entropy.SCALE_TABLE) - 1)


def _best_shift(symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> tuple[int, float]:
    """The scale shift with the smallest (approximate) code length, and that length in bits."""
    costs = entropy.bits_by_shift(symbols, mean_q, scale_idx, _SHIFTS)
    k = int(np.argmin(costs))
    return int(_SHIFTS[k]), float(costs[k])


# ------------------------------------------------------------------------------------- RGB inter
def _inter_channel_params(pred: Prediction, channel: int, decoded: np.ndarray,
                          exact: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Snapped mean and scale index of ``channel`` given the channels decoded before it: the
    integer coupling of format version 4 when ``exact``, else version 3's float32 coupling."""
    if exact:
        coupling_q = None if pred.coupling is None else entropy.quantize_coupling(pred.coupling)
        mean_q = entropy.coupled_mean_q(entropy.quantize_mean(pred.mean), coupling_q, channel, decoded)
    else:
        mean_q = entropy.quantize_mean(apply_coupling(pred.mean, pred.coupling, channel, decoded))
    return mean_q, entropy.quantize_scale(pred.scale[channel])


def _inter_params(frame_chw: np.ndarray, pred: Prediction) -> tuple[np.ndarray, np.ndarray]:
    """All channels' snapped params at once; valid for the encoder, which knows every channel."""
    ps = [_inter_channel_params(pred, c, frame_chw) for c in range(frame_chw.shape[0])]
    return np.stack([p[0] for p in ps]), np.stack([p[1] for p in ps])


def _encode_inter(frame_chw: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray, shift: int) -> bytes:
    enc = entropy.FrameEncoder()
    for c in range(frame_chw.shape[0]):
        enc.encode(frame_chw[c], mean_q[c], _shifted(scale_idx[c], shift))
    return enc.finish()


def _decode_inter(payload: bytes, pred: Prediction, shift: int, shape: tuple[int, int, int],
                  legacy: bool, exact: bool) -> np.ndarray:
    dec = entropy.FrameDecoder(payload, legacy)
    out = np.zeros(shape, np.uint8)
    for c in range(shape[0]):
        mean_q, scale_idx = _inter_channel_params(pred, c, out, exact)
        out[c] = dec.decode(mean_q, _shifted(scale_idx, shift))
    return out


# ------------------------------------------------------------------------------------- RGB intra
def _intra_params(frame_flat: np.ndarray, ps: tuple[intra.Pass, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every pass's snapped params computed from the full frame (encoder side)."""
    canvas = frame_flat.astype(np.float32)
    return [(entropy.quantize_mean(m), entropy.quantize_scale(s))
            for m, s in (intra.pass_params(canvas, p) for p in ps)]


def _encode_intra(frame_flat: np.ndarray, ps: tuple[intra.Pass, ...], params: list, shift: int) -> bytes:
    enc = entropy.FrameEncoder()
    for p, (mean_q, scale_idx) in zip(ps, params):
        enc.encode(frame_flat[:, p.targets], mean_q, _shifted(scale_idx, shift))
    return enc.finish()


def _decode_intra(payload: bytes, shift: int, shape: tuple[int, int, int], legacy: bool) -> np.ndarray:
    c_count, h, w = shape
    dec = entropy.FrameDecoder(payload, legacy)
    canvas = np.zeros((c_count, h * w), np.float32)
    for p in intra.passes(h, w):
        mean, scale = intra.pass_params(canvas, p)
        vals = dec.decode(entropy.quantize_mean(mean), _shifted(entropy.quantize_scale(scale), shift))
        canvas[:, p.targets] = vals
    return canvas.astype(np.uint8).reshape(shape)


# ------------------------------------------------------------------------------------ palette modes
# A palette frame is coded in passes (the coarse-to-fine passes; inter before version 5: a
# checkerboard). Each pass has its pixels' continuous prediction (mean, coupling, scale indices),
# their previous-frame colours and their already-decoded neighbours' colours; the model rows come
# from the prediction, the votes are mixed in, and the indices are coded in blocks.

#: The encoder keeps a candidate's model rows for the final coding pass when they fit in this many
#: entries (else it recomputes them, so memory stays bounded on large frames).
_CACHE_ENTRIES = 6_000_000


@dataclass
class _PassInputs:
    targets: np.ndarray
    mean: np.ndarray
    coupling: np.ndarray | None
    scale_idx: np.ndarray
    neighbours: np.ndarray  # (J, N) flat positions, -1 outside; J = 0 for none
    keep: np.ndarray | None = None  # (C, N) previous colours: the keep symbol's colour (p-update)
    exact: bool = True  # integer colour coupling (version 4); False: version 3's float32 coupling


def _model_blocks(inp: _PassInputs, palette: np.ndarray, legacy: bool = False):
    """(slice, unmixed model rows) over blocks of the pass's pixels: integer weights (float64), or
    version 2's float32 rows when ``legacy``."""
    n = inp.targets.size
    step = pc.block_size(len(palette) + (inp.keep is not None))
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        args = (inp.mean[:, sl], None if inp.coupling is None else inp.coupling[:, sl], inp.scale_idx[:, sl])
        if legacy:
            yield sl, pc.model_rows(pc.colour_bits(*args, palette))
        elif inp.keep is None:
            yield sl, pc.colour_weights(*args, palette, exact=inp.exact)
        else:
            rows = np.concatenate([pc.colour_weights(*args, palette, exact=inp.exact),
                                   pc.keep_weights(*args, inp.keep[:, sl], exact=inp.exact)[:, None]],
                                  axis=1)
            yield sl, rows


def _neighbour_colours(idx_canvas: np.ndarray, neighbours: np.ndarray) -> np.ndarray | None:
    """(J, N) palette indices of the neighbours (-1 where outside the frame), None without any."""
    if neighbours.shape[0] == 0:
        return None
    return np.where(neighbours >= 0, idx_canvas[np.maximum(neighbours, 0)], -1).astype(np.int32)


def _pretrained_counts(geometry: tuple[intra.Pass, ...], previous: np.ndarray | None,
                       palette: np.ndarray) -> ctx.ContextCounts:
    """Context counts seeded with the previous decoded frame read in this frame's pass geometry,
    its colours mapped to this palette (colours the palette lacks count as one 'other' class)."""
    counts = ctx.ContextCounts()
    if previous is None:
        return counts
    prev_canvas = pc.exact_indices(previous, palette)
    for p in geometry:
        counts.add(ctx.context_keys(prev_canvas, p.neighbours), prev_canvas[p.targets])
    return counts


def _code_palette_passes(passes, palette: np.ndarray, prev_idx: np.ndarray | None, mix: int,
                         idx: np.ndarray, coder, counts: ctx.ContextCounts, cached=None) -> None:
    """Encode (``coder`` a FrameEncoder, ``idx`` the true indices) or decode (a FrameDecoder, ``idx``
    filled in) a palette frame. ``passes`` yields _PassInputs and may look at ``idx`` as it goes;
    ``counts`` (from ``_pretrained_counts``) learns from each pass once it is coded. A legacy
    coder (version 2) gets version 2's rows."""
    w_prev, w_levels = pc.mix_weights(mix)
    legacy = coder.legacy
    betas = ctx.betas(mix)
    use_context = any(b > 0 for b in betas)
    decoding = isinstance(coder, entropy.FrameDecoder)
    for k, inp in enumerate(passes):
        t = inp.targets
        prev = None if prev_idx is None else prev_idx[t]
        nbr = _neighbour_colours(idx, inp.neighbours)
        keys = ctx.context_keys(idx, inp.neighbours) if use_context else None
        blocks = cached[k] if cached is not None else _model_blocks(inp, palette, legacy)
        for sl, rows in blocks:
            rows = pc.mix_rows(rows, None if prev is None else prev[sl], w_prev,
                               None if nbr is None else nbr[:, sl], w_levels, normalize=not legacy)
            if keys is not None:
                rows = ctx.blend_sparse(rows, counts, [key[sl] for key in keys], betas)
            if decoding:
                idx[t[sl]] = coder.decode_categorical(rows)
            else:
                coder.encode_categorical(idx[t[sl]], rows)
        if keys is not None:
            counts.add(keys, idx[t])


def _intra_pass_inputs(canvas: np.ndarray, p: intra.Pass, shift: int) -> _PassInputs:
    mean, scale = intra.pass_params(canvas, p)
    return _PassInputs(p.targets, mean, None, _shifted(entropy.quantize_scale(scale), shift), p.neighbours)


def _intra_palette_passes(canvas: np.ndarray, palette: np.ndarray, idx: np.ndarray, shift: int,
                          height: int, width: int, decoding: bool):
    for p in intra.passes(height, width):
        yield _intra_pass_inputs(canvas, p, shift)
        if decoding:  # the next pass predicts from the colours just decoded
            canvas[:, p.targets] = palette[idx[p.targets]].T


@lru_cache(maxsize=16)
def checkerboard(height: int, width: int) -> tuple[intra.Pass, intra.Pass]:
    """Palette-inter pixel order of format versions 1-4: the (y + x) even half first, then the odd
    half, whose four axis neighbours (all in the first half) vote for their colours."""
    ys, xs = np.mgrid[0:height, 0:width]
    even = ((ys + xs) % 2 == 0).ravel()
    first = np.flatnonzero(even)
    second = np.flatnonzero(~even)
    ty, tx = second // width, second % width
    nbr = []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ty + dy, tx + dx
        ok = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        nbr.append(np.where(ok, ny * width + nx, -1))
    return (intra.Pass(first, np.zeros((0, first.size), np.int64)),
            intra.Pass(second, np.stack(nbr) if second.size else np.zeros((4, 0), np.int64)))


def inter_geometry(height: int, width: int, interlaced: bool = True) -> tuple[intra.Pass, ...]:
    """Pixel order of palette inter and update frames: from format version 5 the coarse-to-fine
    passes of intra coding, so that all but the first grid's pixels (1 in 256) have decoded
    neighbours voting beside the temporal prediction; before, the two-pass ``checkerboard``."""
    return intra.passes(height, width) if interlaced else checkerboard(height, width)


def _inter_palette_passes(pred: Prediction, shift: int, height: int, width: int,
                          previous: np.ndarray | None = None, exact: bool = True,
                          interlaced: bool = True) -> list[_PassInputs]:
    """The passes of palette inter (in ``inter_geometry``); with ``previous`` ((H, W, C)), of
    palette update, whose rows get the keep symbol's column. ``exact``: version 4's integer
    coupling; ``interlaced``: version 5's pixel order."""
    c, n = pred.mean.shape[0], height * width
    mean = pred.mean.reshape(c, n)
    coupling = None if pred.coupling is None else pred.coupling.reshape(3, n)
    scale_idx = _shifted(entropy.quantize_scale(pred.scale.reshape(c, n)), shift)
    keep = None if previous is None else previous.reshape(n, c).T
    return [_PassInputs(p.targets, mean[:, p.targets],
                        None if coupling is None else coupling[:, p.targets],
                        scale_idx[:, p.targets], p.neighbours,
                        None if keep is None else keep[:, p.targets], exact)
            for p in inter_geometry(height, width, interlaced)]


def update_palette(frame: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Palette of the pixels that differ from ``previous`` and the per-pixel symbols (an index into
    it, or K = keep the previous colour); None when nothing changed or more than
    MAX_UPDATE_COLOURS colours did."""
    c = frame.shape[-1]
    changed = (frame != previous).any(axis=-1).ravel()
    if not changed.any():
        return None
    extracted = pc.extract_palette(frame.reshape(-1, c)[changed][None])
    if extracted is None or len(extracted[0]) > MAX_UPDATE_COLOURS:
        return None
    palette, changed_idx = extracted
    idx = np.full(changed.size, len(palette), np.int32)
    idx[changed] = changed_idx
    return palette, idx


def _estimate_palette(passes: list[_PassInputs], palette: np.ndarray, idx: np.ndarray,
                      prev_idx: np.ndarray | None, counts: ctx.ContextCounts):
    """(mix field, estimated bits, cached model rows or None) of coding ``idx`` in these passes.

    The vote weights are chosen first, on the model rows alone; then the context betas, on the
    mixed probabilities of the true colours (``counts`` is consumed).
    """
    cache = idx.size * len(palette) <= _CACHE_ENTRIES
    cached, true_p, nbrs, order = [], [], [], []
    own: list[list[np.ndarray]] = [[] for _ in range(ctx.ORDERS)]
    total: list[list[np.ndarray]] = [[] for _ in range(ctx.ORDERS)]
    for inp in passes:
        blocks = []
        for sl, rows in _model_blocks(inp, palette):
            truth = idx[inp.targets[sl]]
            true_p.append(rows[np.arange(rows.shape[0]), truth] / rows.sum(axis=1, dtype=np.float64))
            if cache:
                blocks.append((sl, rows))
        cached.append(blocks)
        nbr = _neighbour_colours(idx, inp.neighbours)
        nbrs.append(nbr if nbr is not None else np.full((4, inp.targets.size), -1, np.int32))
        order.append(inp.targets)
        keys = ctx.context_keys(idx, inp.neighbours)
        truth = idx[inp.targets]
        for o in range(ctx.ORDERS):
            if keys is None:  # no context: the counts leave the row as it is
                own[o].append(np.zeros(truth.size))
                total[o].append(np.zeros(truth.size))
            else:
                n, tot = counts.true_counts(o, keys[o], truth)
                own[o].append(n)
                total[o].append(tot)
        counts.add(keys, truth)
    order = np.concatenate(order)
    prev = None if prev_idx is None else prev_idx[order]
    nbr_all = np.concatenate(nbrs, axis=1)
    true_p = np.concatenate(true_p)
    mix, _ = pc.choose_mix(true_p, prev, idx[order], nbr_all)
    p_true = pc.mixed_true_p(true_p, prev, idx[order], nbr_all, mix)
    own_all = [np.concatenate(x) for x in own]
    total_all = [np.concatenate(x) for x in total]
    best = (np.inf, 0)
    for b1 in range(len(ctx.BETA_TABLE)):
        for b2 in range(len(ctx.BETA_TABLE)):
            beta = (ctx.BETA_TABLE[b1], ctx.BETA_TABLE[b2])
            p = ctx.blend_true(p_true, own_all, total_all, beta)
            cost = float(-np.log2(np.maximum(p, 2.0 ** -24)).sum())
            if cost < best[0]:
                best = (cost, ctx.mix_bits((b1, b2)))
    return mix | best[1], best[0], cached if cache else None


# ------------------------------------------------------------------------------------- public API
def encode_frame(frame: np.ndarray, pred: Prediction | None, previous: np.ndarray | None = None,
                 sent_palette: np.ndarray | None = None, use_palette: bool = True) -> CodedFrame:
    """Code ``frame`` ((H, W, C) uint8) in whichever mode measures cheapest.

    ``previous`` is the last decoded frame (for palette modes' previous-colour event) and
    ``sent_palette`` the palette last transmitted (a palette frame reusing it sends no palette).
    """
    h, w, c = frame.shape
    chw = np.ascontiguousarray(np.moveaxis(frame, -1, 0))
    flat = chw.reshape(c, h * w)
    ps = intra.passes(h, w)
    intra_params = _intra_params(flat, ps)
    order = np.concatenate([p.targets for p in ps])
    i_mean = np.concatenate([m for m, _ in intra_params], axis=1)
    i_scale = np.concatenate([s for _, s in intra_params], axis=1)
    i_shift, i_cost = _best_shift(flat[:, order], i_mean, i_scale)
    # (estimated bits, mode, shift, extra)
    candidates: list[tuple[float, int, int, object]] = [(i_cost, MODE_INTRA, i_shift, None)]
    if pred is not None:
        mean_q, scale_idx = _inter_params(chw, pred)
        shift, cost = _best_shift(chw, mean_q, scale_idx)
        candidates.append((cost, MODE_INTER, shift, (mean_q, scale_idx)))
    extracted = pc.extract_palette(frame) if use_palette else None
    if extracted is not None:
        palette, idx = extracted
        same = sent_palette is not None and np.array_equal(sent_palette, palette)
        palette_bits = 0 if same else 8 * (12 + len(encode_palette(palette, sent_palette)))
        prev_idx = pc.previous_indices(previous, palette)
        canvas = flat.astype(np.float32)
        passes = list(_intra_palette_passes(canvas, palette, idx, i_shift, h, w, decoding=False))
        counts = _pretrained_counts(intra.passes(h, w), previous, palette)
        mix, cost, cached = _estimate_palette(passes, palette, idx, prev_idx, counts.copy())
        candidates.append((cost + palette_bits, MODE_PALETTE_INTRA, i_shift,
                           (palette, idx, prev_idx, mix, passes, cached, counts)))
        if pred is not None:
            p_shift = next(s for _, m, s, _ in candidates if m == MODE_INTER)
            passes = _inter_palette_passes(pred, p_shift, h, w)
            counts = _pretrained_counts(inter_geometry(h, w), previous, palette)
            mix, cost, cached = _estimate_palette(passes, palette, idx, prev_idx, counts.copy())
            candidates.append((cost + palette_bits, MODE_PALETTE_INTER, p_shift,
                               (palette, idx, prev_idx, mix, passes, cached, counts)))
    elif use_palette and pred is not None and previous is not None:
        update = update_palette(frame, previous)
        if update is not None:
            palette, idx = update
            same = sent_palette is not None and np.array_equal(sent_palette, palette)
            palette_bits = 0 if same else 8 * (12 + len(encode_palette(palette, sent_palette)))
            p_shift = next(s for _, m, s, _ in candidates if m == MODE_INTER)
            passes = _inter_palette_passes(pred, p_shift, h, w, previous)
            prev_idx = np.full(h * w, len(palette), np.int32)
            mix, cost, cached = _estimate_palette(passes, palette, idx, prev_idx, ctx.ContextCounts())
            candidates.append((cost + palette_bits, MODE_PALETTE_UPDATE, p_shift,
                               (palette, idx, prev_idx, mix, passes, cached, ctx.ContextCounts())))
    _, mode, shift, extra = min(candidates, key=lambda t: t[0])
    if mode == MODE_INTER:
        return CodedFrame(mode, shift, _encode_inter(chw, *extra, shift))
    if mode == MODE_INTRA:
        return CodedFrame(mode, shift, _encode_intra(flat, ps, intra_params, shift))
    palette, idx, prev_idx, mix, passes, cached, counts = extra
    enc = entropy.FrameEncoder()
    _code_palette_passes(passes, palette, prev_idx, mix, idx, enc, counts, cached)
    return CodedFrame(mode, shift, enc.finish(), mix, palette)


def _decode_update(coded: CodedFrame, pred: Prediction, height: int, width: int, channels: int,
                   previous: np.ndarray, exact: bool, interlaced: bool) -> np.ndarray:
    """Palette-update frame: symbols over the palette plus keep; keep takes the previous colour."""
    palette = coded.palette
    if palette is None:
        raise FormatError("palette-update frame before any palette chunk")
    if palette.shape[1] != channels or len(palette) > MAX_UPDATE_COLOURS:
        raise FormatError(f"palette-update frame with a palette of {len(palette)} colours x "
                          f"{palette.shape[1]} channels (at most {MAX_UPDATE_COLOURS} x {channels})")
    if not pc.valid_mix(coded.mix):
        raise FormatError(f"palette mix field 0x{coded.mix:04x} out of range")
    n = height * width
    idx = np.zeros(n, np.int32)
    passes = _inter_palette_passes(pred, coded.scale_shift, height, width, previous, exact, interlaced)
    _code_palette_passes(passes, palette, np.full(n, len(palette), np.int32), coded.mix, idx,
                         entropy.FrameDecoder(coded.payload), ctx.ContextCounts())
    keep = idx == len(palette)
    out = palette[np.minimum(idx, len(palette) - 1)]
    out[keep] = previous.reshape(n, channels)[keep]
    return out.reshape(height, width, channels)


def decode_frame(coded: CodedFrame, pred: Prediction | None, height: int, width: int,
                 channels: int, previous: np.ndarray | None = None, legacy: bool = False,
                 exact: bool = True, interlaced: bool = True) -> np.ndarray:
    """Inverse of ``encode_frame``; returns (H, W, C) uint8. Palette modes need ``coded.palette``.
    ``legacy``: a frame of format version 1 or 2 (constriction's QuantizedLaplace, float palette rows);
    ``exact``: integer colour coupling (version 4; versions 1-3 couple in float32);
    ``interlaced``: palette inter/update in coarse-to-fine order (version 5; before, checkerboard)."""
    shape = (channels, height, width)
    try:
        if coded.mode in (MODE_INTER, MODE_PALETTE_INTER, MODE_PALETTE_UPDATE) and pred is None:
            raise FormatError("inter frame with no previous frame to predict from")
        if coded.mode == MODE_PALETTE_UPDATE:
            if legacy:
                raise FormatError("palette-update frame (mode 4) in a version 1-2 stream")
            return _decode_update(coded, pred, height, width, channels, previous, exact, interlaced)
        if coded.mode in (MODE_PALETTE_INTRA, MODE_PALETTE_INTER):
            if coded.palette is None:
                raise FormatError("palette frame before any palette chunk")
            if coded.palette.shape[1] != channels:
                raise FormatError(f"palette has {coded.palette.shape[1]} channels, stream has {channels}")
            if not pc.valid_mix(coded.mix):
                raise FormatError(f"palette mix field 0x{coded.mix:04x} out of range")
            prev_idx = pc.previous_indices(previous, coded.palette)
            idx = np.zeros(height * width, np.int32)
            if coded.mode == MODE_PALETTE_INTER:
                passes = _inter_palette_passes(pred, coded.scale_shift, height, width, exact=exact,
                                               interlaced=interlaced)
                geometry = inter_geometry(height, width, interlaced)
            else:
                canvas = np.zeros((channels, height * width), np.float32)
                passes = _intra_palette_passes(canvas, coded.palette, idx, coded.scale_shift,
                                               height, width, decoding=True)
                geometry = intra.passes(height, width)
            _code_palette_passes(passes, coded.palette, prev_idx, coded.mix, idx,
                                 entropy.FrameDecoder(coded.payload, legacy),
                                 _pretrained_counts(geometry, previous, coded.palette))
            return coded.palette[idx].reshape(height, width, channels)
        if coded.mode == MODE_INTER:
            chw = _decode_inter(coded.payload, pred, coded.scale_shift, shape, legacy, exact)
        elif coded.mode == MODE_INTRA:
            chw = _decode_intra(coded.payload, coded.scale_shift, shape, legacy)
        else:
            raise FormatError(f"unknown frame coding mode {coded.mode}")
    except FormatError:
        raise
    except Exception as exc:  # constriction rejects malformed payloads with assorted exceptions
        raise FormatError(f"frame payload could not be decoded ({exc})") from exc
    return np.ascontiguousarray(np.moveaxis(chw, 0, -1))
