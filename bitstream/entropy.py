"""Entropy-coding glue: discretized Laplace models over 0..255 coded with constriction.

The network side hands over float means and scales; this module snaps them onto fixed grids (means
to 1/16 of a level, scales to a 64-entry log-spaced table) so that what reaches constriction is a
function of small integers. Snapping is what keeps encoder and decoder in step when their float
inputs are identical; the stream's per-frame reconstruction CRC catches any remaining disagreement.
"""

from __future__ import annotations

import functools

import constriction
import numpy as np

#: Symbols are pixel values.
SYMBOL_MIN, SYMBOL_MAX = 0, 255
#: Means are snapped to multiples of 1/MEAN_STEPS.
MEAN_STEPS = 16
#: Laplace scales, log-spaced; index i is SCALE_TABLE[i].
SCALE_TABLE = np.exp(np.linspace(np.log(0.04), np.log(160.0), 64))
_LOG_SCALE_TABLE = np.log(SCALE_TABLE)
_LOG_STEP = _LOG_SCALE_TABLE[1] - _LOG_SCALE_TABLE[0]

_MODEL = constriction.stream.model.QuantizedLaplace(SYMBOL_MIN, SYMBOL_MAX)
#: Palette indices: per-pixel probability rows given at coding time. perfect=False is the fast,
#: platform-independent construction (every index keeps a nonzero probability).
_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
#: Signed side information (palette residuals): zero-mean Laplace over -255..255.
_SIGNED = constriction.stream.model.QuantizedLaplace(-255, 255)


def quantize_mean(mean: np.ndarray) -> np.ndarray:
    """Means as integers in units of 1/MEAN_STEPS, clamped to the symbol range."""
    q = np.rint(np.asarray(mean, dtype=np.float64) * MEAN_STEPS)
    return np.clip(q, SYMBOL_MIN * MEAN_STEPS, SYMBOL_MAX * MEAN_STEPS).astype(np.int32)


def quantize_scale(scale: np.ndarray) -> np.ndarray:
    """Index into SCALE_TABLE nearest (in log space) to ``scale``."""
    s = np.maximum(np.asarray(scale, dtype=np.float64), 1e-12)
    idx = np.rint((np.log(s) - _LOG_SCALE_TABLE[0]) / _LOG_STEP)
    return np.clip(idx, 0, len(SCALE_TABLE) - 1).astype(np.int32)


def _params(mean_q: np.ndarray, scale_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    means = mean_q.ravel().astype(np.float64) / MEAN_STEPS
    scales = SCALE_TABLE[scale_idx.ravel()]
    return means, scales


class FrameEncoder:
    """Collects one frame's symbols in decoding order and returns its compressed words."""

    def __init__(self) -> None:
        self._coder = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> None:
        """Encode a batch of pixel values under snapped Laplace parameters (all arrays same size)."""
        means, scales = _params(mean_q, scale_idx)
        self._coder.encode(np.ascontiguousarray(symbols.ravel(), dtype=np.int32), _MODEL, means, scales)

    def encode_categorical(self, symbols: np.ndarray, probabilities: np.ndarray) -> None:
        """Encode indices under per-symbol probability rows ((N, K) float64, rows need not sum to 1).

        With K = 1 the index is certain and nothing is coded (constriction needs K >= 2).
        """
        if probabilities.shape[1] == 1:
            return
        self._coder.encode(np.ascontiguousarray(symbols.ravel(), dtype=np.int32), _CATEGORICAL,
                           np.ascontiguousarray(probabilities, dtype=np.float64))

    def encode_signed(self, values: np.ndarray, scale: float) -> None:
        """Encode integers in -255..255 under a zero-mean Laplace of the given scale."""
        v = np.ascontiguousarray(np.asarray(values).ravel(), dtype=np.int32)
        if v.size:
            self._coder.encode(v, _SIGNED, np.zeros(v.size), np.full(v.size, float(scale)))

    def finish(self) -> bytes:
        """The compressed frame as little-endian 32-bit words."""
        return self._coder.get_compressed().astype("<u4").tobytes()


class FrameDecoder:
    """Mirror of FrameEncoder over one frame's compressed words."""

    def __init__(self, payload: bytes) -> None:
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        self._coder = constriction.stream.queue.RangeDecoder(words)

    def decode(self, mean_q: np.ndarray, scale_idx: np.ndarray) -> np.ndarray:
        """Decode as many pixel values as there are parameters; returns uint8 of the same shape."""
        means, scales = _params(mean_q, scale_idx)
        out = self._coder.decode(_MODEL, means, scales)
        return out.astype(np.uint8).reshape(mean_q.shape)

    def decode_signed(self, count: int, scale: float) -> np.ndarray:
        """Mirror of ``FrameEncoder.encode_signed``."""
        if count == 0:
            return np.zeros(0, np.int32)
        return self._coder.decode(_SIGNED, np.zeros(count), np.full(count, float(scale))).astype(np.int32)

    def decode_categorical(self, probabilities: np.ndarray) -> np.ndarray:
        """Decode one index per probability row; returns int32 (N,)."""
        if probabilities.shape[1] == 1:
            return np.zeros(probabilities.shape[0], np.int32)
        out = self._coder.decode(_CATEGORICAL, np.ascontiguousarray(probabilities, dtype=np.float64))
        return out.astype(np.int32)


def laplace_bits(symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> np.ndarray:
    """Ideal code length in bits of each symbol (no coder overhead), for encoder decisions and tests.

    Uses the same clipped-tail discretization as the coder: the mass below 0.5 goes to symbol 0 and
    the mass above 254.5 to symbol 255.
    """
    x = np.asarray(symbols, dtype=np.float64)
    mu = np.asarray(mean_q, dtype=np.float64) / MEAN_STEPS
    b = SCALE_TABLE[scale_idx]
    upper = np.where(x >= SYMBOL_MAX, np.inf, x + 0.5)
    lower = np.where(x <= SYMBOL_MIN, -np.inf, x - 0.5)
    p = _laplace_cdf(upper, mu, b) - _laplace_cdf(lower, mu, b)
    # The coder never gives a symbol less than about 2**-24; mirror that floor.
    return -np.log2(np.maximum(p, 2.0 ** -24))


@functools.lru_cache(maxsize=1)
def interior_bits_table() -> np.ndarray:
    """bits[i, d]: cost of a symbol d/16 levels from the mean under SCALE_TABLE[i], tails ignored."""
    d = np.arange(SYMBOL_MAX * MEAN_STEPS + 1, dtype=np.float64) / MEAN_STEPS
    b = SCALE_TABLE[:, None]
    p = _laplace_cdf(d + 0.5, 0.0, b) - _laplace_cdf(d - 0.5, 0.0, b)
    return (-np.log2(np.maximum(p, 2.0 ** -24))).astype(np.float32)


def bits_by_shift(symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray,
                  shifts: np.ndarray) -> np.ndarray:
    """Approximate total code length for each scale shift, from one histogram of the data.

    Symbols at 0 and 255 are costed as interior symbols (a slight overestimate); this is for the
    encoder's choice of shift, not for exact accounting (see ``laplace_bits``).
    """
    n_scales = len(SCALE_TABLE)
    dist = np.abs(np.asarray(symbols, np.int32).ravel() * MEAN_STEPS - mean_q.ravel())
    width = SYMBOL_MAX * MEAN_STEPS + 1
    hist = np.bincount(scale_idx.ravel() * width + dist, minlength=n_scales * width)
    hist = hist.reshape(n_scales, width)
    used = np.flatnonzero(hist.any(axis=1))
    table = interior_bits_table()
    cols = np.flatnonzero(hist[used].any(axis=0))
    h = hist[np.ix_(used, cols)].astype(np.float64)
    # cost[i, j]: bits of the symbols coded with scale index used[i] if coded with index j instead.
    cost = h @ table[:, cols].T.astype(np.float64)
    rows = np.clip(used[None, :] + np.asarray(shifts)[:, None], 0, n_scales - 1)
    return cost[np.arange(len(used))[None, :], rows].sum(axis=1)


def _laplace_cdf(x: np.ndarray, mu: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        z = (x - mu) / b
        left = 0.5 * np.exp(np.minimum(z, 0.0))
        right = 1.0 - 0.5 * np.exp(-np.maximum(z, 0.0))
        return np.where(z < 0, left, right)
