"""Entropy-coding glue: discretized Laplace models over 0..255, coded as constriction codes them.

The words are constriction's queue coder's. A frame is coded by constriction itself, or (a
``FrameEncoder``/``FrameDecoder`` made ``compiled``: planar, RGB and palette frames) by the
compiled coder of ``range_encoder``/``range_decoder``, which writes and reads the same words for
the same models (tests/test_range_coder.py compares them) and takes rows as compiled kernels make
them: whole planes of Laplace rows never made, palette rows as their running sums.

The network side hands over float means and scales; this module snaps them onto fixed grids (means
to 1/16 of a level, scales to a 64-entry log-spaced table) so that what reaches constriction is a
function of small integers.

Format version 3 makes the coding tables themselves portable. Every probability that reaches
constriction is an integer (held exactly in float64) read from ``cdf_table()``, an integer
cumulative table of the 64 discretized Laplace distributions. The table is built on first use from
literal constants using IEEE-754 multiplication and rounding only (no exp/log, whose last bit
depends on the maths library), and its SHA-256 is checked against ``CDF_SHA256``: a machine that
built a different table refuses to code rather than write or read different bits. constriction's
``Categorical(perfect=False)`` turns those integers into its fixed-point model with basic float
operations in a fixed order (Rust does not reassociate or contract them), so the same integers
give the same words everywhere; the constriction version is recorded in every stream header.
Version 4 snaps the colour couplings to integers as well and computes the coupled means in integer
arithmetic (``coupled_mean_q``). Streams of versions 1 and 2 were coded with constriction's
``QuantizedLaplace``, whose tables use float exp/ln inside the library; a coder made with their
``FormatProfile`` (``integer_tables`` false) codes through that model unchanged.
"""

from __future__ import annotations

import functools
import hashlib

import constriction
import numpy as np

from .errors import TableMismatchError
from .profile import CURRENT, FormatProfile

#: Symbols are pixel values.
SYMBOL_MIN, SYMBOL_MAX = 0, 255
#: Means are snapped to multiples of 1/MEAN_STEPS.
MEAN_STEPS = 16
#: Laplace scales, log-spaced from 0.04 to 160 (exp(linspace(log 0.04, log 160, 64)), written out
#: so that no platform's exp is involved); index i is SCALE_TABLE[i].
SCALE_TABLE = np.array(
    [
        0.04000000000000001,
        0.04562843221497473,
        0.05204884565991356,
        0.05937268065152618,
        0.06772705836323759,
        0.07725698729116554,
        0.08812788019370275,
        0.1005284251916945,
        0.11467386086343469,
        0.1308097121809168,
        0.14921605213268288,
        0.17021236300305634,
        0.19416308168589064,
        0.22148392528388153,
        0.2526491067880528,
        0.2881995660813144,
        0.3287523591331595,
        0.37501136835550986,
        0.4277795200213572,
        0.487972720806223,
        0.5566357553515883,
        0.6349604207872797,
        0.7243062129771054,
        0.8262239235427725,
        0.9424825572440458,
        1.0751000369251495,
        1.2263782289789,
        1.3989428972721123,
        1.5957892790200223,
        1.8203340736787117,
        2.0764747472364475,
        2.3686571812596253,
        2.7019528408904465,
        3.0821468012157016,
        3.5158381598967967,
        4.010554578941809,
        4.574882943742569,
        5.218618407250047,
        5.952934406275701,
        6.790576600923537,
        7.74608410339583,
        8.836041836082243,
        10.07936839915898,
        11.4976444442696,
        13.1154872539309,
        14.960978028308768,
        17.066149295860328,
        19.46754090792003,
        22.206834267731903,
        25.331575802359584,
        28.896002234911442,
        32.96198198148538,
        37.60008901283558,
        42.890827819979584,
        48.926030745702285,
        55.810451935701145,
        63.66358557588108,
        72.62173997528328,
        82.8404034948933,
        94.4969433881973,
        107.79368439776674,
        122.96142054364668,
        140.26342105831975,
        159.99999999999994,
    ]
)
#: Log spacing of SCALE_TABLE (the integer models' log-scale unit; the decoder never computes with it).
LOG_STEP = float(np.log(SCALE_TABLE[1] / SCALE_TABLE[0]))
#: quantize_scale's rounding boundaries: the geometric midpoints sqrt(b_i b_i+1), written out.
SCALE_BOUNDS = np.array(
    [
        0.042721625537881745,
        0.04873301987421924,
        0.0555902823490457,
        0.06341243574936845,
        0.07233525065441243,
        0.08251360203095155,
        0.09412415742706684,
        0.1073684434238132,
        0.1224763435697702,
        0.13971008851278036,
        0.15936880758633792,
        0.18179372085336418,
        0.20737406172664408,
        0.23655383296595406,
        0.26983951331698713,
        0.3078088485576479,
        0.35112087953955134,
        0.400527381283318,
        0.45688591167818016,
        0.5211746962746193,
        0.5945096075281624,
        0.6781635332062494,
        0.7735884701392279,
        0.8824407268008436,
        1.0066096721641329,
        1.1482505298319765,
        1.3098217866561788,
        1.494127865153463,
        1.7043678003914915,
        1.9441907662387186,
        2.2177594147575785,
        2.529822128134704,
        2.8857954372384347,
        3.2918580373579314,
        3.755058032972652,
        4.283435273019722,
        4.8861609000553035,
        5.573696535490832,
        6.35797586391207,
        7.252611768273931,
        8.273132611255374,
        9.437251763954063,
        10.765175060180713,
        12.279951512894803,
        14.007873380232414,
        15.978932525147089,
        18.22734098978322,
        20.792124820288837,
        23.717801449196067,
        27.0551523928218,
        30.862104675542014,
        35.20473627998558,
        40.15842307493457,
        45.80914712837321,
        52.25498911431954,
        59.607830717424264,
        67.99529658429199,
        77.56296952833671,
        88.47691743789649,
        100.92657574762443,
        115.12803550474976,
        131.32779410179188,
        149.80703377789428,
    ]
)
#: exp(-1 / (16 b_i)): the Laplace(0, b_i) tail shrinks by this factor per 1/16 level.
_TAIL_RATIO = np.array(
    [
        0.20961138715109787,
        0.2541679598435299,
        0.3009548208037199,
        0.3490037195162071,
        0.3973961198407336,
        0.44530835002089375,
        0.4920393040273437,
        0.5370228130950702,
        0.5798278993774615,
        0.6201503880402552,
        0.6577990822365621,
        0.6926791532907998,
        0.7247747549057986,
        0.7541322550159593,
        0.7808449550251597,
        0.8050397564442333,
        0.826865937445098,
        0.8464860017074003,
        0.8640684393904833,
        0.8797821753035423,
        0.8937924549804582,
        0.9062579213757523,
        0.9173286526900307,
        0.9271449578350103,
        0.9358367551386081,
        0.9435233888172969,
        0.9503137646074881,
        0.9563067097869242,
        0.9615914832823084,
        0.9662483786824271,
        0.9703493770048475,
        0.9739588173531253,
        0.9771340625401761,
        0.9799261437249329,
        0.9823803734659865,
        0.9845369206483194,
        0.9864313437533557,
        0.988095081140614,
        0.9895558985737789,
        0.9908382953025775,
        0.9919638707223073,
        0.9929516540682699,
        0.993818399835378,
        0.9945788517000592,
        0.9952459777053398,
        0.9958311793832879,
        0.9963444773563034,
        0.996794675798194,
        0.9971895079607711,
        0.9975357647913276,
        0.9978394084874416,
        0.9981056726625822,
        0.9983391506318718,
        0.9985438731738284,
        0.9987233769818455,
        0.9988807648888657,
        0.9990187588300103,
        0.9991397464004544,
        0.9992458217689562,
        0.9993388216204903,
        0.999420356723622,
        0.9994918396488306,
        0.9995545091022016,
        0.9996094512840121,
    ]
)
#: Integer tables: C_i(k) = round(CDF_TOTAL * F_i(k / 16)), |k| <= CDF_HALF, F_i the Laplace(0, b_i)
#: CDF. CDF_HALF covers 16 (255 + 1/2), the farthest a bin edge can lie from a mean in 0..255.
CDF_TOTAL = 1 << 20
CDF_HALF = SYMBOL_MAX * MEAN_STEPS + MEAN_STEPS // 2
CDF_SHA256 = "61a3db250ab3f85b125b740d60b7c5ed7dac8b9a4c8224731e1f5d716fa9a29c"

_MODEL = constriction.stream.model.QuantizedLaplace(SYMBOL_MIN, SYMBOL_MAX)
#: Palette indices: per-pixel probability rows given at coding time. perfect=False is the fast,
#: platform-independent construction (every index keeps a nonzero probability).
_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
#: Signed side information (palette residuals): zero-mean Laplace over -255..255.
_SIGNED = constriction.stream.model.QuantizedLaplace(-255, 255)


#: The range of a mean in 1/MEAN_STEPS: the symbol range's.
MEAN_Q_MIN, MEAN_Q_MAX = SYMBOL_MIN * MEAN_STEPS, SYMBOL_MAX * MEAN_STEPS


def quantize_mean(mean: np.ndarray) -> np.ndarray:
    """Means as integers in units of 1/MEAN_STEPS, clamped to the symbol range."""
    q = np.rint(np.asarray(mean, dtype=np.float64) * MEAN_STEPS)
    return np.clip(q, MEAN_Q_MIN, MEAN_Q_MAX).astype(np.int32)


#: Colour coupling coefficients (G<-R, B<-R, B<-G) are snapped to multiples of 1/COUPLING_ONE,
#: with |coefficient| <= COUPLING_MAX / COUPLING_ONE (= 2) (format version 4).
COUPLING_SHIFT = 8
COUPLING_ONE = 1 << COUPLING_SHIFT
COUPLING_MAX = 512


def quantize_coupling(coupling: np.ndarray) -> np.ndarray:
    """Coupling coefficients as int32 multiples of 1/COUPLING_ONE, clamped to +-COUPLING_MAX."""
    q = np.rint(np.asarray(coupling, dtype=np.float64) * COUPLING_ONE)
    return np.clip(q, -COUPLING_MAX, COUPLING_MAX).astype(np.int32)


def coupled_mean_q(
    mean_q: np.ndarray, coupling_q: np.ndarray | None, channel: int, values: np.ndarray
) -> np.ndarray:
    """Snapped mean of ``channel`` given the values of the channels before it (format version 4).

    Integer arithmetic only (int32, every intermediate below 2^23), so every machine gets the same
    means. ``mean_q`` (C, ...) are quantize_mean's means in 1/16, ``coupling_q`` (3, ...) the
    quantize_coupling coefficients k, ``values`` (>= channel, ...) the pixel values; all broadcast.
    With r = 16 R - mean_R (the R residual in 1/16):

        mean_G' = clamp(floor((256 mean_G + k_0 r + 128) / 256), 0, 4080)
        mean_B' = clamp(floor((256 mean_B + k_1 r + k_2 g + 128) / 256), 0, 4080),  g = 16 G - mean_G'

    i.e. mean + coefficient x residual rounded half up to 1/16. R and alpha are not coupled.
    """
    m = np.asarray(mean_q[channel], np.int32)
    if coupling_q is None or channel not in (1, 2):
        return m
    k = np.asarray(coupling_q, np.int32)
    r16 = np.asarray(values[0], np.int32) * MEAN_STEPS - np.asarray(mean_q[0], np.int32)
    g = np.clip(
        (np.asarray(mean_q[1], np.int32) * COUPLING_ONE + k[0] * r16 + COUPLING_ONE // 2) >> COUPLING_SHIFT,
        0,
        MEAN_Q_MAX,
    )
    if channel == 1:
        return g
    g16 = np.asarray(values[1], np.int32) * MEAN_STEPS - g
    b = (m * COUPLING_ONE + k[1] * r16 + k[2] * g16 + COUPLING_ONE // 2) >> COUPLING_SHIFT
    return np.clip(b, 0, MEAN_Q_MAX)


def quantize_scale(scale: np.ndarray) -> np.ndarray:
    """Index into SCALE_TABLE nearest (in log space) to ``scale``: a comparison against the literal
    boundaries, so it is exact on every machine (``np.searchsorted(SCALE_BOUNDS, scale)``, NaN
    last). Large arrays go in blocks, so that the float64 copy and int64 temporaries stay small (a
    whole frame's would take 16 bytes a value beside the int32 result)."""
    a = np.asarray(scale)
    if a.size <= _QUANTIZE_BLOCK:
        return _scale_index(np.asarray(a, dtype=np.float64))
    out = np.empty(a.shape, np.int32)
    flat, dest = a.reshape(-1), out.reshape(-1)
    for start in range(0, flat.size, _QUANTIZE_BLOCK):
        dest[start : start + _QUANTIZE_BLOCK] = _scale_index(
            np.asarray(flat[start : start + _QUANTIZE_BLOCK], dtype=np.float64)
        )
    return out


#: ``_scale_index`` splits each octave into 2^_BUCKET_BITS buckets by the float's top bits.
_BUCKET_BITS = 4
_BUCKET_SHIFT = 52 - _BUCKET_BITS


@functools.lru_cache(maxsize=1)
def _scale_buckets() -> tuple[int, np.ndarray, np.ndarray]:
    """(first bucket, bounds below each bucket's lower edge, SCALE_BOUNDS and +inf) for
    ``_scale_index``. The bounds are 1.14 apart and a bucket spans at most 1.0625, so no bucket
    holds two of them."""
    first = int(SCALE_BOUNDS[:1].view(np.int64)[0] >> _BUCKET_SHIFT)
    last = int(SCALE_BOUNDS[-1:].view(np.int64)[0] >> _BUCKET_SHIFT) + 1  # wholly above the bounds
    edges = (np.arange(first, last + 1, dtype=np.int64) << _BUCKET_SHIFT).view(np.float64)
    below = np.searchsorted(SCALE_BOUNDS, edges).astype(np.intp)
    return first, below, np.append(SCALE_BOUNDS, np.inf)


def _scale_index(x: np.ndarray) -> np.ndarray:
    """``np.searchsorted(SCALE_BOUNDS, x)`` as int32 for float64 ``x``, from each value's bucket
    (its exponent and top mantissa bits: the bounds below the bucket) and one comparison with the
    next bound; 5x as fast as the search, whose per-value binary search mispredicts (38 ns a
    value). Values below the buckets (negative, zero) fall in the first, above them (inf, NaN)
    in the last; a NaN with its sign bit set is sent last as numpy sorts it."""
    first, below, bounds = _scale_buckets()
    flat = x.reshape(-1)  # a 0-d array's arithmetic gives scalars
    bucket = (flat.view(np.int64) >> _BUCKET_SHIFT) - first
    np.clip(bucket, 0, below.size - 1, out=bucket)
    start = below[bucket]
    out = (start + (bounds[start] < flat)).astype(np.int32)
    nan = np.isnan(flat)
    if nan.any():
        out[nan] = SCALE_BOUNDS.size
    return out.reshape(x.shape)


_QUANTIZE_BLOCK = 1 << 16


@functools.lru_cache(maxsize=1)
def cdf_table() -> np.ndarray:
    """int64 (64, 2 CDF_HALF + 1) cumulative counts; column CDF_HALF + k holds C_i(k).

    r^k comes from a running product (each step one correctly rounded multiplication, the same
    sequence on every machine; flushing subnormals to zero changes nothing, they round to 0 counts),
    and C_i(-k) = floor(CDF_TOTAL / 2 * r^k + 1/2), C_i(k) = CDF_TOTAL - C_i(-k).
    """
    ratios = np.broadcast_to(_TAIL_RATIO[:, None], (len(SCALE_TABLE), CDF_HALF))
    with np.errstate(under="ignore"):
        tails = np.multiply.accumulate(ratios, axis=1)
    low = np.floor(tails * (CDF_TOTAL / 2) + 0.5).astype(np.int64)  # C(-1) .. C(-CDF_HALF)
    centre = np.full((len(SCALE_TABLE), 1), CDF_TOTAL // 2, np.int64)
    table = np.ascontiguousarray(np.concatenate([low[:, ::-1], centre, CDF_TOTAL - low], axis=1))
    digest = hashlib.sha256(np.ascontiguousarray(table, "<i8").data).hexdigest()  # no copy: 4 MB
    if digest != CDF_SHA256:
        raise TableMismatchError(
            f"coding tables built on this machine have SHA-256 {digest}, expected {CDF_SHA256}"
        )
    table.setflags(write=False)
    return table


#: Largest |16 v - mean_q| for a value v and a mean in the symbol range (also for the signed
#: residuals, whose mean is 0): the interior bins' offsets.
BIN_SPAN = SYMBOL_MAX * MEAN_STEPS


@functools.lru_cache(maxsize=1)
def bin_table() -> np.ndarray:
    """int32 (64, 2 BIN_SPAN + 1): the frequency C(j + 8) - C(j - 8) + 1 of a value 16 v - mean_q = j
    sixteenths from the mean, column BIN_SPAN + j (interior values; the end values add their tails).
    int32 (frequencies are at most 2^20 + 1) halves the table, which the row gathers hit at random."""
    c = cdf_table()
    half = MEAN_STEPS // 2
    first = CDF_HALF - BIN_SPAN  # column of j = -BIN_SPAN; the columns j + half and j - half as slices
    width = 2 * BIN_SPAN + 1
    out = (c[:, first + half : first + half + width] - c[:, first - half : first - half + width] + 1).astype(
        np.int32
    )
    out.setflags(write=False)
    return out


def _cdf_at(scale_idx: np.ndarray, offset16: np.ndarray) -> np.ndarray:
    table = cdf_table()
    return table.ravel().take(scale_idx * table.shape[1] + CDF_HALF + offset16)


def value_counts(
    values: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray, lo: int = SYMBOL_MIN, hi: int = SYMBOL_MAX
) -> np.ndarray:
    """Integer frequency (int64) of each value under the discretized Laplace(mean_q/16, b_i) on
    lo..hi: the table counts between its bin edges, lo and hi taking the tails beyond them, plus 1
    so nothing is impossible. The frequencies of all values lo..hi sum to CDF_TOTAL + hi - lo + 1.
    Arrays of ints broadcast together; ``count_rows`` is the fast form for a row of values."""
    v16 = np.asarray(values, np.int64) * MEAN_STEPS - mean_q
    half = MEAN_STEPS // 2
    upper = np.where(values >= hi, CDF_TOTAL, _cdf_at(scale_idx, np.clip(v16 + half, -CDF_HALF, CDF_HALF)))
    lower = np.where(values <= lo, 0, _cdf_at(scale_idx, np.clip(v16 - half, -CDF_HALF, CDF_HALF)))
    return upper - lower + 1


def count_rows(
    values: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray, lo: int = SYMBOL_MIN, hi: int = SYMBOL_MAX
) -> np.ndarray:
    """``value_counts`` of the (K,) ``values`` (each in lo..hi) at N pixels: (N, K) int64.

    ``mean_q`` is (N, 1) or (N, K) (per value, for coupled means), ``scale_idx`` (N, 1). One table
    gather per entry; only the columns of lo and hi read their tails separately.
    """
    values = np.asarray(values, np.int64)
    bins = bin_table()
    # int32 positions (the table has fewer than 2^31 entries): less memory traffic than int64
    base = (scale_idx * bins.shape[1] + BIN_SPAN - mean_q).astype(np.int32)
    out = bins.ravel().take(base + (values * MEAN_STEPS).astype(np.int32)).astype(np.int64)
    half = MEAN_STEPS // 2
    for col in np.flatnonzero(values == lo):
        m = mean_q[:, col if mean_q.shape[1] > 1 else 0]
        out[:, col] = _cdf_at(scale_idx[:, 0], lo * MEAN_STEPS + half - m) + 1
    for col in np.flatnonzero(values == hi):
        m = mean_q[:, col if mean_q.shape[1] > 1 else 0]
        out[:, col] = CDF_TOTAL - _cdf_at(scale_idx[:, 0], hi * MEAN_STEPS - half - m) + 1
    return out


def table_rows(
    mean_q: np.ndarray, scale_idx: np.ndarray, lo: int = SYMBOL_MIN, hi: int = SYMBOL_MAX
) -> np.ndarray:
    """(N, hi - lo + 1) float64 rows of ``value_counts`` for every value: exact integers, built by
    the compiled ``table_kernel`` (``table_rows_reference``'s, bit for bit)."""
    from . import table_kernel  # numba: loaded on first use

    return table_kernel.table_rows(mean_q, scale_idx, lo, hi)


def table_rows_reference(
    mean_q: np.ndarray, scale_idx: np.ndarray, lo: int = SYMBOL_MIN, hi: int = SYMBOL_MAX
) -> np.ndarray:
    """``table_rows`` in numpy (for testing the kernel)."""
    return count_rows(
        np.arange(lo, hi + 1),
        np.asarray(mean_q, np.int64).reshape(-1, 1),
        np.asarray(scale_idx, np.int64).reshape(-1, 1),
        lo,
        hi,
    ).astype(np.float64)


def table_bits(symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> np.ndarray:
    """Code length in bits of each symbol under the integer tables (what version 3 spends)."""
    counts = value_counts(
        np.asarray(symbols, np.int64), np.asarray(mean_q, np.int64), np.asarray(scale_idx, np.int64)
    )
    return np.log2(CDF_TOTAL + SYMBOL_MAX - SYMBOL_MIN + 1) - np.log2(counts)


def _params(mean_q: np.ndarray, scale_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    means = mean_q.ravel().astype(np.float64) / MEAN_STEPS
    scales = SCALE_TABLE[scale_idx.ravel()]
    return means, scales


#: Symbols per constriction call when coding through the integer tables (bounds the rows' memory).
TABLE_BLOCK = 8192
#: The smallest probability the cost estimates give a symbol: constriction's 24-bit precision never
#: codes one in fewer than about 2**-24 (a floor for log2 of probabilities that may underflow).
MIN_PROBABILITY = 2.0**-24
_SIGNED_MIN, _SIGNED_MAX = -255, 255


class FrameEncoder:
    """Collects one frame's symbols in decoding order and returns its compressed words.

    Codes by ``profile``'s rules: through the integer tables, or, without ``integer_tables``
    (format versions 1-2), under constriction's QuantizedLaplace.
    """

    def __init__(self, profile: FormatProfile = CURRENT, compiled: bool = False) -> None:
        """``compiled``: code with ``range_encoder`` (constriction's words, written by compiled
        kernels that take whole planes: ``ranges``) instead of constriction."""
        self.profile = profile
        self._quantized_laplace = not profile.integer_tables
        #: The compiled encoder where ``compiled`` (else None).
        self.ranges = None
        if compiled and not self._quantized_laplace:
            from . import range_encoder  # numba: loaded on first use

            self.ranges = range_encoder.RangeEncoder()
        else:
            self._coder = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> None:
        """Encode a batch of pixel values under snapped Laplace parameters (all arrays same size)."""
        sym = np.ascontiguousarray(symbols.ravel(), dtype=np.int32)
        if self._quantized_laplace:
            means, scales = _params(mean_q, scale_idx)
            self._coder.encode(sym, _MODEL, means, scales)
            return
        if self.ranges is not None:
            self.ranges.encode_values(sym, mean_q, scale_idx)
            return
        m, s = mean_q.ravel(), scale_idx.ravel()
        for start in range(0, sym.size, TABLE_BLOCK):
            sl = slice(start, start + TABLE_BLOCK)
            self._coder.encode(sym[sl], _CATEGORICAL, table_rows(m[sl], s[sl]))

    def encode_categorical(self, symbols: np.ndarray, probabilities: np.ndarray) -> None:
        """Encode indices under per-symbol probability rows ((N, K) float64, rows need not sum to 1).

        With K = 1 the index is certain and nothing is coded (constriction needs K >= 2).
        """
        if probabilities.shape[1] == 1:
            return
        if self.ranges is not None:
            self.ranges.encode_rows(symbols, probabilities)
            return
        self._coder.encode(
            np.ascontiguousarray(symbols.ravel(), dtype=np.int32),
            _CATEGORICAL,
            np.ascontiguousarray(probabilities, dtype=np.float64),
        )

    def encode_sums(self, symbols: np.ndarray, sums: np.ndarray) -> None:
        """``encode_categorical`` of rows given as their running sums ((N, K) float64, each row's
        entries summed left to right from 0.0; K >= 2): the same words, no row summed or scanned.
        Only with the compiled coder (``compiled=True``): constriction takes the rows themselves."""
        if self.ranges is None:
            raise ValueError("running sums need the compiled range encoder (FrameEncoder(compiled=True))")
        self.ranges.encode_sums(symbols, sums)

    def encode_signed(self, values: np.ndarray, scale: float) -> None:
        """Encode integers in -255..255 under a zero-mean Laplace of the given scale (snapped to
        the nearest SCALE_TABLE entry with integer tables)."""
        v = np.ascontiguousarray(np.asarray(values).ravel(), dtype=np.int32)
        if not v.size:
            return
        if self._quantized_laplace:
            self._coder.encode(v, _SIGNED, np.zeros(v.size), np.full(v.size, float(scale)))
        elif self.ranges is not None:
            self.ranges.encode_fixed(v - _SIGNED_MIN, _signed_row_at(int(quantize_scale(np.float64(scale)))))
        else:
            self._coder.encode(v - _SIGNED_MIN, _signed_model(scale))

    def encode_fixed(self, symbols: np.ndarray, row: np.ndarray) -> None:
        """Encode indices all under one probability row (K >= 2 float64 entries): the words of
        ``encode_categorical`` with that row repeated, from one model (not one per symbol)."""
        sym = np.ascontiguousarray(np.asarray(symbols).ravel(), dtype=np.int32)
        if not sym.size:
            return
        if self.ranges is not None:
            self.ranges.encode_fixed(sym, row)
        else:
            self._coder.encode(sym, fixed_model(row))

    def finish(self) -> bytes:
        """The compressed frame as little-endian 32-bit words."""
        if self.ranges is not None:
            return self.ranges.words().astype("<u4").tobytes()
        return self._coder.get_compressed().astype("<u4").tobytes()


def _signed_rows(count: int, scale: float) -> np.ndarray:
    idx = np.full(count, quantize_scale(np.float64(scale)), np.int64)
    return table_rows(np.zeros(count, np.int64), idx, _SIGNED_MIN, _SIGNED_MAX)


def _signed_model(scale: float) -> constriction.stream.model.Categorical:
    """The one model of every value ``encode_signed`` codes at ``scale``: the same row as
    ``_signed_rows``'s, fixed once (constriction quantizes it as it does each row of the
    parametrized ``_CATEGORICAL``, so the words are the same) instead of a row per value."""
    return _signed_model_at(int(quantize_scale(np.float64(scale))))


def fixed_model(row: np.ndarray) -> constriction.stream.model.Categorical:
    """The model of every symbol coded under ``row`` (``encode_fixed``), made once a call (a
    PLTE's two: some microseconds); the Laplace rows it is given are computed once
    (``unsigned_row_at``)."""
    return constriction.stream.model.Categorical(np.ascontiguousarray(row, np.float64), perfect=False)


@functools.cache
def unsigned_row_at(scale_idx: int) -> np.ndarray:
    """The zero-mean Laplace table's row over 0..255 at scale index ``scale_idx`` (a pixel value's
    row with mean 0; the mass below 0 on 0), read-only."""
    row = table_rows(np.zeros(1, np.int64), np.full(1, scale_idx, np.int64))[0]
    row.setflags(write=False)
    return row


@functools.cache
def _signed_model_at(scale_idx: int) -> constriction.stream.model.Categorical:
    return constriction.stream.model.Categorical(_signed_row_at(scale_idx), perfect=False)


@functools.cache
def _signed_row_at(scale_idx: int) -> np.ndarray:
    """The row of every value ``encode_signed`` codes at scale index ``scale_idx`` (read-only)."""
    row = table_rows(np.zeros(1, np.int64), np.full(1, scale_idx, np.int64), _SIGNED_MIN, _SIGNED_MAX)[0]
    row.setflags(write=False)
    return row


class FrameDecoder:
    """Mirror of FrameEncoder over one frame's compressed words."""

    def __init__(self, payload: bytes, profile: FormatProfile = CURRENT, compiled: bool = False) -> None:
        """``compiled``: decode with ``range_decoder`` (the same symbols as constriction), whose
        state compiled kernels can advance themselves (``ranges``): the planar frames' whole
        planes; palette frames, whose rows of hundreds of colours it reads as running sums
        (``decode_sums``)."""
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        self.profile = profile
        self._quantized_laplace = not profile.integer_tables
        #: The decoder's words and state where ``compiled`` (else None), for kernels that decode
        #: in place.
        self.ranges = None
        if compiled and not self._quantized_laplace:  # every row a Categorical(perfect=False) row
            from . import range_decoder  # numba: loaded on first use

            self.ranges = range_decoder.RangeDecoder(words)
        else:
            self._coder = constriction.stream.queue.RangeDecoder(words)

    def decode(self, mean_q: np.ndarray, scale_idx: np.ndarray) -> np.ndarray:
        """Decode as many pixel values as there are parameters; returns uint8 of the same shape."""
        if self._quantized_laplace:
            means, scales = _params(mean_q, scale_idx)
            out = self._coder.decode(_MODEL, means, scales)
        elif self.ranges is not None:
            out = self.ranges.decode_values(mean_q, scale_idx)
        else:
            m, s = mean_q.ravel(), scale_idx.ravel()
            out = np.concatenate(
                [
                    self.decode_categorical(table_rows(m[i : i + TABLE_BLOCK], s[i : i + TABLE_BLOCK]))
                    for i in range(0, m.size, TABLE_BLOCK)
                ]
                or [np.zeros(0, np.int32)]
            )
        return out.astype(np.uint8).reshape(mean_q.shape)

    def decode_signed(self, count: int, scale: float) -> np.ndarray:
        """Mirror of ``FrameEncoder.encode_signed``."""
        if count == 0:
            return np.zeros(0, np.int32)
        if self._quantized_laplace:
            return self._coder.decode(_SIGNED, np.zeros(count), np.full(count, float(scale))).astype(np.int32)
        if self.ranges is None:
            return self._coder.decode(_signed_model(scale), count).astype(np.int32) + _SIGNED_MIN
        row = _signed_row_at(int(quantize_scale(np.float64(scale))))
        return self.ranges.decode_fixed(row, count) + _SIGNED_MIN

    def decode_fixed(self, row: np.ndarray, count: int) -> np.ndarray:
        """Mirror of ``FrameEncoder.encode_fixed``: ``count`` indices under one row; int32."""
        if count == 0:
            return np.zeros(0, np.int32)
        if self.ranges is not None:
            return self.ranges.decode_fixed(row, count)
        return self._coder.decode(fixed_model(row), count).astype(np.int32)

    def decode_sums(self, sums: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        """Mirror of ``FrameEncoder.encode_sums`` (the compiled decoder only); int32 (N,).
        ``hints``: likely symbols per row, tried first (``RangeDecoder.decode_sums``)."""
        if self.ranges is None:
            raise ValueError("running sums need the compiled range decoder (FrameDecoder(compiled=True))")
        return self.ranges.decode_sums(sums, hints)

    def decode_categorical(self, probabilities: np.ndarray) -> np.ndarray:
        """Decode one index per probability row; returns int32 (N,)."""
        if probabilities.shape[1] == 1:
            return np.zeros(probabilities.shape[0], np.int32)
        if self.ranges is None:
            out = self._coder.decode(_CATEGORICAL, np.ascontiguousarray(probabilities, dtype=np.float64))
            return out.astype(np.int32)
        return self.ranges.decode_rows(probabilities)


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
    return -np.log2(np.maximum(p, MIN_PROBABILITY))


@functools.lru_cache(maxsize=1)
def interior_bits_table() -> np.ndarray:
    """bits[i, d]: cost of a symbol d/16 levels from the mean under SCALE_TABLE[i], tails ignored."""
    d = np.arange(SYMBOL_MAX * MEAN_STEPS + 1, dtype=np.float64) / MEAN_STEPS
    b = SCALE_TABLE[:, None]
    p = _laplace_cdf(d + 0.5, 0.0, b) - _laplace_cdf(d - 0.5, 0.0, b)
    return (-np.log2(np.maximum(p, MIN_PROBABILITY))).astype(np.float32)


def bits_by_shift(
    symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray, shifts: np.ndarray
) -> np.ndarray:
    """Approximate total code length for each scale shift, from one histogram of the data.

    Symbols at 0 and 255 are costed as interior symbols (a slight overestimate); this is for the
    encoder's choice of shift, not for exact accounting (see ``laplace_bits``).
    """
    return bits_from_histogram(shift_histogram(symbols, mean_q, scale_idx), shifts)


#: Symbols per block in ``shift_histogram`` (its temporaries are a few times this many integers).
HIST_BLOCK = 1 << 18


def shift_histogram(
    symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray, hist: np.ndarray | None = None
) -> np.ndarray:
    """``bits_by_shift``'s histogram of (scale index, distance from the mean in 1/16), int64
    (64 * 4081,), counted in blocks of HIST_BLOCK symbols and added to ``hist`` when given (counts:
    the same whatever the blocks and their order). Counted in place by ``np.add.at``: a bincount
    as long as the histogram (261,184 counts), made and added for every pass though most passes
    hold a few hundred symbols, took 0.1 s of a 96x96 clip's encoding."""
    width = SYMBOL_MAX * MEAN_STEPS + 1
    size = len(SCALE_TABLE) * width
    if hist is None:
        hist = np.zeros(size, np.int64)
    sym, mean, scale = np.ravel(symbols), np.ravel(mean_q), np.ravel(scale_idx)
    for start in range(0, sym.size, HIST_BLOCK):
        sl = slice(start, start + HIST_BLOCK)
        dist = np.abs(np.asarray(sym[sl], np.int32) * MEAN_STEPS - mean[sl])
        np.add.at(hist, np.asarray(scale[sl], np.int64) * width + dist, 1)
    return hist


def bits_from_histogram(hist: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """``bits_by_shift`` from ``shift_histogram``'s counts."""
    n_scales = len(SCALE_TABLE)
    width = SYMBOL_MAX * MEAN_STEPS + 1
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


#: The most low bits of a deeper sample that one row of ``low_bits_rows`` holds: a top value's bin
#: is MEAN_STEPS = 16 table steps wide, one step a part at 4 bits.
LOW_BITS_MAX = 4


def low_bits_rows(
    coarse: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray, extra_bits: int
) -> np.ndarray:
    """(N, 2^extra_bits) float64 rows (exact integers) for the low ``extra_bits`` (1..4) of
    samples deeper than 8 bits, whose top 8 bits ``coarse`` (0..255) were coded under
    Laplace(mean_q / 16, b_i) in units of those 8 bits: the table counts between the edges of
    the 2^extra_bits equal parts of the coarse value's bin (16 / 2^extra_bits table steps each),
    the outer parts of the end values 0 and 255 taking the tails, plus 1 (FORMAT.md, "Deeper
    samples")."""
    if not 1 <= extra_bits <= LOW_BITS_MAX:
        raise ValueError(f"extra_bits {extra_bits} outside 1..4")
    parts = 1 << extra_bits
    step = MEAN_STEPS // parts
    coarse = np.asarray(coarse, np.int64).reshape(-1, 1)
    start = coarse * MEAN_STEPS - MEAN_STEPS // 2 - np.asarray(mean_q, np.int64).reshape(-1, 1)
    edges = np.clip(start + step * np.arange(parts + 1), -CDF_HALF, CDF_HALF)
    cdf = _cdf_at(np.asarray(scale_idx, np.int64).reshape(-1, 1), edges)
    cdf[:, 0] = np.where(coarse[:, 0] == SYMBOL_MIN, 0, cdf[:, 0])
    cdf[:, -1] = np.where(coarse[:, 0] == SYMBOL_MAX, CDF_TOTAL, cdf[:, -1])
    return (np.diff(cdf, axis=1) + 1).astype(np.float64)


#: Half-widths of the windows ``windowed`` coding uses, narrowest first.
WINDOW_RADII = (3, 7, 15, 31, 63)
#: Per scale index, the smallest radius R with R >= 6 b + 1 (the Laplace's mass beyond 6 b is
#: e^-6), or 0 where none is wide enough: those values are coded with the whole row.
WINDOW_OF_SCALE = np.array(
    [next((r for r in WINDOW_RADII if r >= 6 * b + 1), 0) for b in SCALE_TABLE.tolist()], np.int64
)
#: The sum of a whole row of ``value_counts`` over 0..255.
FULL_MASS = CDF_TOTAL + SYMBOL_MAX - SYMBOL_MIN + 1


def window_rows(mean_q: np.ndarray, scale_idx: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(first value of each window, (N, 2 radius + 2) float64 rows): the values lo..lo + 2 radius
    around the rounded mean (the window moved inside 0..255), then an escape symbol holding the
    mass of every other value; built by the compiled ``table_kernel`` (``window_rows_reference``'s
    integers)."""
    from . import table_kernel  # numba: loaded on first use

    return table_kernel.window_rows(mean_q, scale_idx, radius)


def window_rows_reference(
    mean_q: np.ndarray, scale_idx: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """``window_rows`` in numpy: the integer frequencies ``value_counts`` gives, from one gather of
    the table at the window's 2 radius + 2 bin edges (the end values taking their tails)."""
    width = 2 * radius + 1
    centre = (mean_q + MEAN_STEPS // 2) >> 4
    lo = np.minimum(np.maximum(centre - radius, SYMBOL_MIN), SYMBOL_MAX - 2 * radius)
    first_edge = lo * MEAN_STEPS - MEAN_STEPS // 2 - mean_q
    edges = first_edge[:, None] + MEAN_STEPS * np.arange(width + 1)
    cdf = _cdf_at(scale_idx[:, None], np.minimum(np.maximum(edges, -CDF_HALF), CDF_HALF))
    cdf[:, 0] = np.where(lo == SYMBOL_MIN, 0, cdf[:, 0])
    cdf[:, -1] = np.where(lo + 2 * radius == SYMBOL_MAX, CDF_TOTAL, cdf[:, -1])
    rows = np.empty((lo.size, width + 1), np.float64)
    rows[:, :width] = np.diff(cdf, axis=1) + 1
    rows[:, width] = FULL_MASS - rows[:, :width].sum(axis=1)
    return lo, rows


def _windows(scale_idx: np.ndarray) -> dict[int, np.ndarray]:
    """Sample positions per window radius (0: whole rows), in increasing radius, then position."""
    radius = WINDOW_OF_SCALE[scale_idx]
    if not radius.size:
        return {}
    key = np.where(radius == 0, 1 << 10, radius)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    return {int(radius[order[i]]): order[i:j] for i, j in zip(starts, ends, strict=True)}


def escape_rows(mean_q: np.ndarray, scale_idx: np.ndarray, lo: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Rows over 0..255 for values that escaped their window: the Laplace row with the window's
    values (lo .. lo + width - 1; width 0: no window) set to 0, so an escaped value costs what
    the whole row gives it. Built by the compiled ``table_kernel`` (``escape_rows_reference``'s)."""
    from . import table_kernel  # numba: loaded on first use

    return table_kernel.escape_rows(mean_q, scale_idx, lo, width)


def escape_rows_reference(
    mean_q: np.ndarray, scale_idx: np.ndarray, lo: np.ndarray, width: np.ndarray
) -> np.ndarray:
    """``escape_rows`` in numpy (for testing the kernel)."""
    rows = table_rows_reference(mean_q, scale_idx)
    v = np.arange(SYMBOL_MIN, SYMBOL_MAX + 1)
    inside = (v >= lo[:, None]) & (v < (lo + width)[:, None])
    rows[inside] = 0.0
    return rows


def single_window(
    mean_q: np.ndarray, scale_idx: np.ndarray, radius: int = -1
) -> tuple[int, np.ndarray, np.ndarray]:
    """(radius, first value of each window, rows) of a batch coded in one window (``single`` in
    ``encode_windowed``): the widest that any of its samples needs, or radius 0 and whole rows
    over 0..255 where one needs them; ``radius`` >= 0 imposes one. One compiled call
    (``table_kernel``) instead of a choice in numpy and a call per window: a raster plane is coded
    in about 150 such batches of a few hundred samples, where the calls' overhead was most of the
    time (``single_window_reference``'s integers)."""
    from . import table_kernel  # numba: loaded on first use

    return table_kernel.single_window(mean_q, scale_idx, radius)


def single_window_reference(
    mean_q: np.ndarray, scale_idx: np.ndarray, radius: int = -1
) -> tuple[int, np.ndarray, np.ndarray]:
    """``single_window`` in numpy (for testing the kernel)."""
    if radius < 0:
        radius = _widest(np.asarray(scale_idx, np.int64))
    if radius == 0:
        return 0, np.full(np.size(mean_q), SYMBOL_MIN, np.int64), table_rows_reference(mean_q, scale_idx)
    lo, rows = window_rows_reference(np.asarray(mean_q, np.int64), np.asarray(scale_idx, np.int64), radius)
    return radius, lo, rows


def _widest(scale_idx: np.ndarray) -> int:
    """The radius of a batch coded in one window: the widest its samples need, 0 (whole rows)
    where one needs whole rows or there are none."""
    radius = WINDOW_OF_SCALE[scale_idx]
    return 0 if not radius.size or np.any(radius == 0) else int(radius.max())


def encode_windowed(
    enc: FrameEncoder, symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray, single: bool = False
) -> None:
    """Code values 0..255 under the integer Laplace rows, narrowed to a window around the mean
    where the scale allows (FORMAT.md, "Windowed rows"): the same model as ``FrameEncoder.encode``
    at a fraction of its cost in rows. ``single``: one window for the whole batch (``single_window``)."""
    symbols = np.asarray(symbols, np.int64).ravel()
    mean_q = np.asarray(mean_q, np.int64).ravel()
    scale_idx = np.asarray(scale_idx, np.int64).ravel()
    if single:
        _encode_single(enc, symbols, mean_q, scale_idx)
        return
    lo_all = np.zeros(symbols.size, np.int64)
    width_all = np.zeros(symbols.size, np.int64)
    escaped = []
    for radius, where in _windows(scale_idx).items():
        if radius == 0:
            escaped.append(where)
            continue
        for start in range(0, where.size, TABLE_BLOCK):
            sel = where[start : start + TABLE_BLOCK]
            lo, rows = window_rows(mean_q[sel], scale_idx[sel], radius)
            offset = symbols[sel] - lo
            outside = (offset < 0) | (offset > 2 * radius)
            enc.encode_categorical(np.where(outside, 2 * radius + 1, offset), rows)
            lo_all[sel], width_all[sel] = lo, 2 * radius + 1
            escaped.append(sel[outside])
    rest = np.sort(np.concatenate(escaped)) if escaped else np.zeros(0, np.int64)
    for start in range(0, rest.size, TABLE_BLOCK):
        sel = rest[start : start + TABLE_BLOCK]
        enc.encode_categorical(
            symbols[sel], escape_rows(mean_q[sel], scale_idx[sel], lo_all[sel], width_all[sel])
        )


def _encode_single(enc: FrameEncoder, symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> None:
    """``encode_windowed`` of one batch in one window (``single_window``): the window's symbols in
    order, then the escaped values in order."""
    n = symbols.size
    radius = -1 if n <= TABLE_BLOCK else _widest(scale_idx)  # a long batch: chosen on all of it
    escaped, escaped_lo = [], []
    for start in range(0, n, TABLE_BLOCK):
        sl = slice(start, start + TABLE_BLOCK)
        radius, lo, rows = single_window(mean_q[sl], scale_idx[sl], radius)
        if radius == 0:
            enc.encode_categorical(symbols[sl], rows)
            continue
        offset = symbols[sl] - lo
        outside = (offset < 0) | (offset > 2 * radius)
        enc.encode_categorical(np.where(outside, 2 * radius + 1, offset), rows)
        escaped.append(start + np.flatnonzero(outside))
        escaped_lo.append(lo[outside])
    _code_escapes(
        escaped,
        escaped_lo,
        radius,
        mean_q,
        scale_idx,
        lambda sel, rows: enc.encode_categorical(symbols[sel], rows),
    )


def _code_escapes(escaped, escaped_lo, radius, mean_q, scale_idx, code) -> None:
    """Hand ``code(positions, rows)`` the escape rows of a single-window batch's escaped values, in
    blocks of TABLE_BLOCK, in order."""
    if not escaped or not sum(e.size for e in escaped):
        return
    rest, rest_lo = np.concatenate(escaped), np.concatenate(escaped_lo)
    width = np.full(rest.size, 2 * radius + 1, np.int64)
    for start in range(0, rest.size, TABLE_BLOCK):
        sl = slice(start, start + TABLE_BLOCK)
        sel = rest[sl]
        code(sel, escape_rows(mean_q[sel], scale_idx[sel], rest_lo[sl], width[sl]))


def decode_windowed(
    dec: FrameDecoder, mean_q: np.ndarray, scale_idx: np.ndarray, single: bool = False
) -> np.ndarray:
    """Mirror of ``encode_windowed``: the values (int64) in the order of the parameters."""
    mean_q = np.asarray(mean_q, np.int64).ravel()
    scale_idx = np.asarray(scale_idx, np.int64).ravel()
    if single:
        return _decode_single(dec, mean_q, scale_idx)
    out = np.zeros(mean_q.size, np.int64)
    lo_all = np.zeros(mean_q.size, np.int64)
    width_all = np.zeros(mean_q.size, np.int64)
    escaped = []
    for radius, where in _windows(scale_idx).items():
        if radius == 0:
            escaped.append(where)
            continue
        for start in range(0, where.size, TABLE_BLOCK):
            sel = where[start : start + TABLE_BLOCK]
            lo, rows = window_rows(mean_q[sel], scale_idx[sel], radius)
            offset = dec.decode_categorical(rows).astype(np.int64)
            out[sel] = lo + offset
            lo_all[sel], width_all[sel] = lo, 2 * radius + 1
            escaped.append(sel[offset == 2 * radius + 1])
    rest = np.sort(np.concatenate(escaped)) if escaped else np.zeros(0, np.int64)
    for start in range(0, rest.size, TABLE_BLOCK):
        sel = rest[start : start + TABLE_BLOCK]
        out[sel] = dec.decode_categorical(
            escape_rows(mean_q[sel], scale_idx[sel], lo_all[sel], width_all[sel])
        )
    return out


def _decode_single(dec: FrameDecoder, mean_q: np.ndarray, scale_idx: np.ndarray) -> np.ndarray:
    """Mirror of ``_encode_single``."""
    n = mean_q.size
    if n <= TABLE_BLOCK:
        radius, lo, rows = single_window(mean_q, scale_idx)
        return decode_single_rows(dec, radius, lo, rows, mean_q, scale_idx)
    out = np.empty(n, np.int64)
    radius = _widest(scale_idx)
    escaped, escaped_lo = [], []
    for start in range(0, n, TABLE_BLOCK):
        sl = slice(start, start + TABLE_BLOCK)
        radius, lo, rows = single_window(mean_q[sl], scale_idx[sl], radius)
        symbols = dec.decode_categorical(rows)
        if radius == 0:
            out[sl] = symbols
            continue
        out[sl] = lo + symbols
        hit = np.flatnonzero(symbols == 2 * radius + 1)
        escaped.append(start + hit)
        escaped_lo.append(lo[hit])

    def put(sel: np.ndarray, rows: np.ndarray) -> None:
        out[sel] = dec.decode_categorical(rows)

    _code_escapes(escaped, escaped_lo, radius, mean_q, scale_idx, put)
    return out


def decode_single_rows(
    dec: FrameDecoder,
    radius: int,
    lo: np.ndarray,
    rows: np.ndarray,
    mean_q: np.ndarray,
    scale_idx: np.ndarray,
) -> np.ndarray:
    """The values (int64) of a single-window batch of at most TABLE_BLOCK samples, from its
    ``single_window`` (radius, lo, rows) and parameters: the window's symbols, then the escaped
    values under their ``escape_rows``."""
    symbols = dec.decode_categorical(rows)
    if radius == 0:
        return symbols.astype(np.int64)
    out = lo + symbols
    hit = np.flatnonzero(symbols == 2 * radius + 1)
    if hit.size:
        width = np.full(hit.size, 2 * radius + 1, np.int64)
        out[hit] = dec.decode_categorical(escape_rows(mean_q[hit], scale_idx[hit], lo[hit], width))
    return out
