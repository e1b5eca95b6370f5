"""The sequential transformer's forward pass for one sequence at a time, in numpy.

Serving asks for one user's state after each of their events: a single sequence of a few
to ``max_len`` items. Through torch, that call cost about 1.1 ms at 64 factors and two
layers, most of it the modules' Python around tiny matrix products; the same arithmetic
in numpy on float32 arrays takes a fraction of that. The pass also runs over the
sequence's real length (not the padded ``max_len``: with a causal mask a position only
reads earlier ones, so padding after the last item changes nothing), and the last block
computes the last position alone (the only one read).

The result equals :class:`~pulserec.models.seqnet.SequenceNet`'s hidden state in eval
mode up to float32 rounding (checked by the tests against the torch network).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import erf

if TYPE_CHECKING:
    from pulserec.models.seqnet import SequenceNet

_F32 = np.float32


@dataclass(frozen=True)
class _Block:
    """One pre-norm encoder layer's float32 weights, transposed for ``x @ w``."""

    norm1: tuple[np.ndarray, np.ndarray, float]
    qkv_w: np.ndarray  # (d, 3d)
    qkv_b: np.ndarray  # (3d,)
    out_w: np.ndarray  # (d, d)
    out_b: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray, float]
    ff1_w: np.ndarray  # (d, 4d)
    ff1_b: np.ndarray
    ff2_w: np.ndarray  # (4d, d)
    ff2_b: np.ndarray


def _arr(t: object) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=_F32)  # type: ignore[attr-defined]


def _norm(module: object) -> tuple[np.ndarray, np.ndarray, float]:
    return _arr(module.weight), _arr(module.bias), float(module.eps)  # type: ignore[attr-defined]


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    weight, bias, eps = norm
    inv_d = _F32(1.0 / x.shape[-1])  # np.add.reduce: ndarray.mean's wrapper costs more here
    centred = x - np.add.reduce(x, axis=-1, keepdims=True) * inv_d
    var = np.add.reduce(centred * centred, axis=-1, keepdims=True) * inv_d
    out: np.ndarray = centred / np.sqrt(var + _F32(eps)) * weight + bias
    return out


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU, as torch's ``activation="gelu"``."""
    out: np.ndarray = _F32(0.5) * x * (_F32(1.0) + erf(x * _F32(1 / np.sqrt(2.0))).astype(_F32))
    return out


class SequenceStates:
    """A fitted :class:`SequenceNet`'s hidden state after one item sequence, in numpy.

    Parameters
    ----------
    net : SequenceNet
        The network, in eval mode (dropout off); its weights are copied as float32.
    table : ndarray (n_items, d)
        The float32 item table the network reads its inputs from.
    """

    def __init__(self, net: SequenceNet, table: np.ndarray) -> None:
        self.table = table
        self.position = _arr(net.position.weight)
        self.input_norm = _norm(net.input_norm)
        self.output_norm = _norm(net.output_norm)
        blocks = []
        heads = None
        layers: list[Any] = list(net.blocks)
        for layer in layers:
            attn = layer.self_attn
            heads = int(attn.num_heads)
            blocks.append(
                _Block(
                    norm1=_norm(layer.norm1),
                    qkv_w=np.ascontiguousarray(_arr(attn.in_proj_weight).T),
                    qkv_b=_arr(attn.in_proj_bias),
                    out_w=np.ascontiguousarray(_arr(attn.out_proj.weight).T),
                    out_b=_arr(attn.out_proj.bias),
                    norm2=_norm(layer.norm2),
                    ff1_w=np.ascontiguousarray(_arr(layer.linear1.weight).T),
                    ff1_b=_arr(layer.linear1.bias),
                    ff2_w=np.ascontiguousarray(_arr(layer.linear2.weight).T),
                    ff2_b=_arr(layer.linear2.bias),
                )
            )
        self.blocks = blocks
        self.n_heads = heads or 1
        self.max_len = len(self.position)
        # the additive causal mask of the longest sequence; shorter ones read its corner
        self._mask = np.triu(np.full((self.max_len, self.max_len), -np.inf, _F32), k=1)

    def state(self, items: np.ndarray) -> np.ndarray:
        """The hidden state ``(d,)`` after ``items`` (table rows, oldest first; the last
        ``max_len`` are read). An empty sequence gives the state of one padding position."""
        items = np.asarray(items, dtype=np.int64)[-self.max_len :]
        if len(items):
            x = self.table[items] + self.position[: len(items)]
        else:  # padding reads a zero vector at position 0
            x = self.position[:1].copy()
        x = _layer_norm(x, self.input_norm)
        last = len(self.blocks) - 1
        for j, block in enumerate(self.blocks):
            x = self._block(x, block, only_last=j == last)
        out: np.ndarray = _layer_norm(x[-1], self.output_norm)
        return out

    def _block(self, x: np.ndarray, b: _Block, *, only_last: bool) -> np.ndarray:
        length, d = x.shape
        heads = self.n_heads
        width = d // heads
        h = _layer_norm(x, b.norm1)
        qkv = h @ b.qkv_w + b.qkv_b  # (L, 3d)
        q = qkv[-1:, :d] if only_last else qkv[:, :d]
        k, v = qkv[:, d : 2 * d], qkv[:, 2 * d :]
        rows = len(q)
        qh = q.reshape(rows, heads, width).transpose(1, 0, 2)  # (H, rows, w)
        kh = k.reshape(length, heads, width).transpose(1, 2, 0)  # (H, w, L)
        vh = v.reshape(length, heads, width).transpose(1, 0, 2)  # (H, L, w)
        logits = (qh @ kh) * _F32(1.0 / np.sqrt(width))
        if not only_last:  # the last position reads every earlier one: no mask
            logits += self._mask[:length, :length]
        logits -= logits.max(axis=-1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=-1, keepdims=True)
        attended = (weights @ vh).transpose(1, 0, 2).reshape(rows, d)
        x = (x[-1:] if only_last else x) + attended @ b.out_w + b.out_b
        ff = _gelu(_layer_norm(x, b.norm2) @ b.ff1_w + b.ff1_b) @ b.ff2_w + b.ff2_b
        out: np.ndarray = x + ff
        return out
