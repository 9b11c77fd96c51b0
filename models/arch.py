"""The learned predictors' architectures, each described once.

An ``Arch`` lists a network's convolutions (``ConvSpec``: name, activation kind, input sources, sizes)
and its forward graph, written once against a small interface (``Ops``): ``conv(name, x)`` (a
convolution and its activation), ``cell(name, x, state)`` (one ConvLSTM step) and the array
operations ``cat``, ``upsample_nearest`` and ``max_pool2``; slicing, ``reshape``, ``shape`` and
``swapaxes`` are the methods that torch tensors and numpy arrays share. Three nets are built from the
same ``Arch``: the float net of ``learned.py`` (torch convs, ReLU, ``ConvLSTMCell``) and the integer
nets of ``integer.py`` (requantized integer convs, fixed-point ConvLSTM), one on torch tensors and one
on numpy arrays (``integer_numpy.py``, no torch). The post-training quantizer (``training/ptq.py``)
reads the sources to fold each input's scale into the weights. This module does not import torch.

Names are state-dict prefixes of the float net (``"cell.conv"`` is the gate convolution of the
ConvLSTM cell ``"cell"``) and layer names of the integer weights files, so they are part of the
shipped files' format. Sources: ``"step"`` (one step's STEP_CH planes), ``"step2"``/``"step5"`` (that
many steps stacked), ``"h<N>"`` (N hidden planes of a ConvLSTM) or the name of an earlier ReLU layer.
Kinds: ``"relu"``, ``"lstm"`` (gates i, f, o hardsigmoid and candidate g hardtanh) and ``"out"`` (the
head, no activation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .base import HISTORY

#: Planes per time step fed to the networks (frame, difference, valid flag).
STEP_CH = 7
#: Raw output planes: 3 mean corrections, 3 log-scales, 3 couplings.
OUT_CH = 9

KINDS = ("relu", "lstm", "out")


@dataclass(frozen=True)
class ConvSpec:
    """One convolution: ``out`` channels (for ``"lstm"``: the hidden size, the conv has 4 x as many)."""

    name: str
    kind: str
    sources: tuple[str, ...]
    out: int
    kernel: int | tuple[int, ...] = 1
    stride: int = 1
    padding: int | tuple[int, ...] = 0
    dims: int = 2

    @property
    def out_channels(self) -> int:
        return 4 * self.out if self.kind == "lstm" else self.out

    @property
    def module(self) -> str:
        """The float net's module holding the conv's parameters (the cell, for a ConvLSTM)."""
        return self.name.removesuffix(".conv") if self.kind == "lstm" else self.name

    def geometry(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(stride, padding), one entry per spatial dimension, as torch reports them."""

        def per_dim(v: int | tuple[int, ...]) -> tuple[int, ...]:
            return tuple(v) if isinstance(v, tuple) else (v,) * self.dims

        return per_dim(self.stride), per_dim(self.padding)


def source_channels(source: str, channels: dict[str, int]) -> int:
    """Channels of one input source (``channels``: output channels of the layers so far)."""
    if source.startswith("step"):
        return STEP_CH * int(source[4:] or 1)
    if source.startswith("h") and source[1:].isdigit():
        return int(source[1:])
    return channels[source]


#: A torch tensor or a numpy array (the forward graphs use only what both offer).
Array = Any


class Ops(Protocol):
    """What a forward graph calls: the float and the integer nets each implement it."""

    def conv(self, name: str, x: Array) -> Array: ...

    def cell(self, name: str, x: Array, state: Any) -> tuple[Array, Any]: ...

    def cat(self, xs: list[Array], dim: int) -> Array:
        """Concatenation along ``dim``."""
        ...

    def upsample_nearest(self, x: Array, size: tuple[int, int]) -> Array:
        """(B, C, h, w) -> (B, C, H, W) nearest-neighbour upsampling (torch's ``"nearest"``:
        source index ``floor(i * h / H)``)."""
        ...

    def max_pool2(self, x: Array) -> Array:
        """2x2 max pooling, stride 2, a partial last row/column pooled alone (``ceil_mode``)."""
        ...


@dataclass(frozen=True)
class Arch:
    """A network: its convolutions in creation order and its forward graph.

    ``forward(ops, x)`` maps (B, T, STEP_CH, H, W) step planes to (B, OUT_CH, H, W) raw outputs.
    """

    name: str
    convs: tuple[ConvSpec, ...]
    forward: Callable[[Ops, Array], Array]
    #: Rows (and columns) of input either side of a pixel that its outputs can depend on, the
    #: head's included: a bound worked out from the graph, which ``tiling`` relies on (a tile's
    #: outputs farther than this from its cut edges are the whole frame's).
    reach: int

    def in_channels(self) -> dict[str, int]:
        """Input channels of every conv (for an ``"lstm"`` conv: its input plus its hidden state)."""
        channels: dict[str, int] = {}
        inputs = {}
        for spec in self.convs:
            inputs[spec.name] = sum(source_channels(s, channels) for s in spec.sources)
            channels[spec.name] = spec.out_channels
        return inputs


# --------------------------------------------------------------------------------------------------
# The four architectures
# --------------------------------------------------------------------------------------------------


def _conv2d(ops: Ops, x: Array) -> Array:
    """One Conv2D over the stacked window (5 steps x 7 planes), then a small 1x1 head."""
    b, t, c, h, w = x.shape
    y = ops.conv("conv", x.reshape(b, t * c, h, w))
    y = ops.conv("mid", y)
    return ops.conv("out", y)


def _conv3d_hybrid(ops: Ops, x: Array) -> Array:
    """Last frame plus a Conv3D correction over the five frames (time collapsed by valid convs)."""
    y = ops.conv("c1", x.swapaxes(1, 2))  # (B, C, T, H, W), T 5 -> 3
    y = ops.conv("c2", y)[:, :, 0]  # T 3 -> 1
    y = ops.conv("mid", ops.cat([y, x[:, -1]], dim=1))
    return ops.conv("out", y)


def _convlstm_hybrid(ops: Ops, x: Array) -> Array:
    """Last frame plus a ConvLSTM over the five frames (at half resolution) and a Conv2D head;
    full-resolution detail from the last two steps stacked."""
    b, t, c, h, w = x.shape
    e = ops.conv("enc", x.reshape(b * t, c, h, w))
    e = e.reshape(b, t, *e.shape[1:])
    state = None
    for k in range(t):
        hk, state = ops.cell("cell", e[:, k], state)
    del e, state  # each activation is let go once read: the last convs, at full size, are the peak
    up = ops.upsample_nearest(hk, (h, w))
    del hk
    both = ops.cat([ops.conv("full", x[:, -2:].reshape(b, 2 * c, h, w)), up], dim=1)
    del up
    y = ops.conv("mid", both)
    del both
    return ops.conv("out", y)


def _convlstm_unet(ops: Ops, x: Array) -> Array:
    """ConvLSTM encoder-decoder: pool to 1/2 and 1/4 resolution, ConvLSTMs there, upsample back,
    concatenate with the last frame's full-resolution features and mix by a 1x1 conv."""
    b, t, c, h, w = x.shape
    e = ops.conv("enc1", x.reshape(b * t, c, h, w))
    e = ops.max_pool2(e)
    e = e.reshape(b, t, *e.shape[1:])
    s1 = s2 = None
    for k in range(t):
        h1, s1 = ops.cell("cell1", e[:, k], s1)
        h2, s2 = ops.cell("cell2", ops.max_pool2(h1), s2)
    del e, s1, s2  # each activation is let go once read, as in ``_convlstm_hybrid``
    d1 = ops.conv("dec2", ops.cat([ops.upsample_nearest(h2, tuple(h1.shape[-2:])), h1], dim=1))
    del h1, h2
    both = ops.cat(
        [ops.conv("full", x[:, -2:].reshape(b, 2 * c, h, w)), ops.upsample_nearest(d1, (h, w))], dim=1
    )
    del d1
    y = ops.conv("mix", both)
    del both
    return ops.conv("out", y)


def conv2d(width: int = 32, kernel: int = 5) -> Arch:
    return Arch(
        "conv2d",
        (
            ConvSpec("conv", "relu", (f"step{HISTORY}",), width, kernel, padding=kernel // 2),
            ConvSpec("mid", "relu", ("conv",), width),
            ConvSpec("out", "out", ("mid",), OUT_CH),
        ),
        _conv2d,
        reach=max(kernel // 2, 3),  # the conv's half width; the head's gradient box: 1 + 2
    )


def conv3d_hybrid(width: int = 16) -> Arch:
    return Arch(
        "conv3d-hybrid",
        (
            ConvSpec("c1", "relu", ("step",), width, (3, 3, 3), padding=(0, 1, 1), dims=3),
            ConvSpec("c2", "relu", ("c1",), width, (3, 3, 3), padding=(0, 1, 1), dims=3),
            ConvSpec("mid", "relu", ("c2", "step"), width, 3, padding=1),
            ConvSpec("out", "out", ("mid",), OUT_CH),
        ),
        _conv3d_hybrid,
        reach=3,  # c1, c2 and mid: 1 each; the head's gradient box: 1 + 2
    )


def convlstm_hybrid(enc: int = 16, hidden: int = 16, width: int = 24) -> Arch:
    return Arch(
        "convlstm-hybrid",
        (
            ConvSpec("enc", "relu", ("step",), enc, 3, stride=2, padding=1),
            ConvSpec("cell.conv", "lstm", ("enc", f"h{hidden}"), hidden, 3, padding=1),
            ConvSpec("full", "relu", ("step2",), width, 3, padding=1),
            ConvSpec("mid", "relu", ("full", f"h{hidden}"), width, 3, padding=1),
            ConvSpec("out", "out", ("mid",), OUT_CH),
        ),
        _convlstm_hybrid,
        # enc (stride 2) then 5 cell steps of 3x3 at half resolution: rows 2j - 11 .. 2j + 11 for
        # the half-resolution row j that full rows 2j, 2j + 1 read; mid 1 more
        reach=13,
    )


def convlstm_unet(c1: int = 16, h1: int = 16, h2: int = 24, width: int = 24) -> Arch:
    return Arch(
        "convlstm-unet",
        (
            ConvSpec("enc1", "relu", ("step",), c1, 3, padding=1),
            ConvSpec("cell1.conv", "lstm", ("enc1", f"h{h1}"), h1, 3, padding=1),  # 1/2 resolution
            ConvSpec("cell2.conv", "lstm", (f"h{h1}", f"h{h2}"), h2, 3, padding=1),  # 1/4 resolution
            ConvSpec("dec2", "relu", (f"h{h2}", f"h{h1}"), h1, 3, padding=1),
            ConvSpec("full", "relu", ("step2",), width, 3, padding=1),
            ConvSpec("mix", "relu", ("full", "dec2"), width),
            ConvSpec("out", "out", ("mix",), OUT_CH),
        ),
        _convlstm_unet,
        # enc1 and a pooling, 5 cell1 steps at 1/2 and 5 cell2 steps at 1/4 resolution, dec2 at
        # 1/2 and the upsamplings: at most 36 rows, bounded here by 40
        reach=40,
    )


#: Registry name of the float model -> its architecture (the ``-int`` models share it).
ARCHS: dict[str, Arch] = {a.name: a for a in (conv2d(), conv3d_hybrid(), convlstm_hybrid(), convlstm_unet())}
