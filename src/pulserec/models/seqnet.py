"""The PyTorch network behind :class:`~pulserec.models.sequential.SequentialTransformer`.

Kept in its own module so that importing the model registry does not import torch: only
fitting, loading or scoring a sequential model does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class SequenceNet(nn.Module):
    """Causal self-attention over an item sequence, scoring every item as the next one.

    Sequences are right-padded with ``-1``. With a causal mask a real position only attends
    to earlier positions, which are all real, so no padding mask is needed (and no row of
    the attention is ever fully masked, which would give NaN).

    Parameters
    ----------
    n_items : int
        Size of the item space; item ``n_items`` is the padding row.
    text_dim : int
        Width of the item text embeddings; 0 when the model has no text.
    n_factors, n_layers, n_heads, max_len, dropout
        As in :class:`~pulserec.models.sequential.SequentialTransformer`.
    """

    def __init__(
        self,
        n_items: int,
        text_dim: int,
        n_factors: int,
        n_layers: int,
        n_heads: int,
        max_len: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.item_id = nn.Embedding(n_items, n_factors)
        self.text_proj = nn.Linear(text_dim, n_factors, bias=False) if text_dim > 0 else None
        self.position = nn.Embedding(max_len, n_factors)
        self.input_norm = nn.LayerNorm(n_factors)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                n_factors,
                n_heads,
                dim_feedforward=4 * n_factors,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(n_layers)
        )
        for block in self.blocks:
            # the attention's own dropout stays torch's (inside the attention kernel)
            for name in ("dropout", "dropout1", "dropout2"):
                setattr(block, name, FastDropout(dropout))
        self.dropout = FastDropout(dropout)
        self.output_norm = nn.LayerNorm(n_factors)
        # A logit offset for items already in the user's history, learned from the data:
        # strongly negative where users never repeat an item, positive where they do.
        self.repeat_bias = nn.Parameter(torch.zeros(()))
        self._masks: dict[tuple[int, torch.dtype, torch.device], torch.Tensor] = {}
        # Small initial item vectors keep the tied output logits near zero at the start.
        nn.init.normal_(self.item_id.weight, std=0.02)
        nn.init.normal_(self.position.weight, std=0.02)

    def item_table(
        self, id_scale: torch.Tensor, text: torch.Tensor | None, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Item vectors ``(n_items, d)``: the ID part times ``id_scale`` plus the text part;
        only those of ``rows`` (in that order) when given."""
        if rows is None:
            table = self.item_id.weight * id_scale[:, None]
        else:
            table = self.item_id(rows) * id_scale[rows, None]
        if self.text_proj is not None and text is not None:
            table = table + self.text_proj(text if rows is None else text[rows])
        return table

    def _causal_mask(self, length: int, like: torch.Tensor) -> torch.Tensor:
        """The additive causal mask of ``length`` positions, built once per shape."""
        key = (length, like.dtype, like.device)
        mask = self._masks.get(key)
        if mask is None:
            mask = nn.Transformer.generate_square_subsequent_mask(
                length, device=like.device, dtype=like.dtype
            )
            self._masks[key] = mask
        return mask

    def hidden(self, items: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Hidden state after each position of right-padded ``items`` ``(B, L)``: ``(B, L, d)``.

        Position ``j`` only depends on ``items[:, : j + 1]``.
        """
        length = items.shape[1]
        # Padding reads item 0 and is zeroed: no copy of the whole table per call, which
        # on a large catalog cost more than the attention itself.
        real = items >= 0
        x = table[items.clamp(min=0)] * real[..., None].to(table.dtype)
        x = self.dropout(self.input_norm(x + self.position.weight[:length]))
        mask = self._causal_mask(length, x)
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=True)
        out: torch.Tensor = self.output_norm(x)
        return out


class FastDropout(nn.Module):
    """Dropout whose masks come from numpy's generator on CPU tensors.

    Torch's CPU Bernoulli sampling was the costliest elementwise operation of a training step
    (about 15 ms per 3200 x 256 activations against 2 ms here). The drop probability is
    rounded to a multiple of 1/65536 and kept elements are scaled by the inverse of the exact
    keep probability, so the expectation is unchanged. The generator is seeded from torch's
    on first use, so a seeded fit stays reproducible. Other devices use torch's dropout.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self._threshold = round(p * 65536)
        self._rng: np.random.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self._threshold == 0:
            return x
        if x.device.type != "cpu":
            return nn.functional.dropout(x, self.p, True)
        if self._rng is None:
            self._rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        raw = np.frombuffer(self._rng.bytes(2 * x.numel()), dtype=np.uint16)
        keep = torch.from_numpy(raw.reshape(x.shape) >= self._threshold)
        return x * keep.to(x.dtype).mul_(65536 / (65536 - self._threshold))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _SoftmaxLoss(torch.autograd.Function):
    """See :func:`softmax_loss`: the loss and its gradients in one chunked pass."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        vectors: torch.Tensor,
        repeat_bias: torch.Tensor,
        offset: torch.Tensor | None,
        target: torch.Tensor,
        seen_pos: torch.Tensor,
        seen_col: torch.Tensor,
        chunk: int,
    ) -> torch.Tensor:
        n, width = hidden.shape[0], vectors.shape[0]
        step = max(1, chunk // max(width, 1))
        starts = np.arange(0, n + step, step)
        bounds = np.searchsorted(seen_pos.numpy(), np.minimum(starts, n)).tolist()
        buffer = torch.empty(min(step, n) * width, dtype=hidden.dtype)
        grad_hidden = torch.empty_like(hidden)
        grad_vectors = torch.zeros_like(vectors)
        grad_bias = torch.zeros((), dtype=torch.float64)
        total = torch.zeros((), dtype=torch.float64)
        for k, a in enumerate(starts[:-1].tolist()):
            b = min(a + step, n)
            logits = buffer[: (b - a) * width].view(b - a, width)
            if offset is None:
                torch.mm(hidden[a:b], vectors.T, out=logits)
            else:
                torch.addmm(offset, hidden[a:b], vectors.T, out=logits)
            lo, hi = bounds[k], bounds[k + 1]
            where = (seen_pos[lo:hi] - a, seen_col[lo:hi])
            if hi > lo:
                logits.index_put_(where, repeat_bias.expand(hi - lo), accumulate=True)
            rows = torch.arange(b - a)
            picked = logits[rows, target[a:b]]
            top = logits.amax(dim=1, keepdim=True)
            logits.sub_(top).exp_()
            norm = logits.sum(dim=1, keepdim=True)
            logits.div_(norm)  # the softmax, then its gradient in place
            total += (top[:, 0] + norm[:, 0].log() - picked).sum()
            logits[rows, target[a:b]] -= 1.0
            if hi > lo:
                grad_bias += logits[where].sum()
            torch.mm(logits, vectors, out=grad_hidden[a:b])
            grad_vectors.addmm_(logits.T, hidden[a:b])
        ctx.save_for_backward(grad_hidden, grad_vectors, grad_bias.to(repeat_bias.dtype))
        ctx.n = n
        return (total / max(n, 1)).to(hidden.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_hidden, grad_vectors, grad_bias = ctx.saved_tensors
        scale = grad / max(ctx.n, 1)
        return (grad_hidden * scale, grad_vectors * scale, (grad_bias * scale).reshape(()),
                None, None, None, None, None)  # fmt: skip


def softmax_loss(
    hidden: torch.Tensor,
    vectors: torch.Tensor,
    repeat_bias: torch.Tensor,
    offset: torch.Tensor | None,
    target: torch.Tensor,
    seen_pos: torch.Tensor,
    seen_col: torch.Tensor,
    chunk: int = 2**18,
) -> torch.Tensor:
    """Mean softmax cross-entropy of ``hidden @ vectors.T + offset`` (+ the repeat bias).

    Parameters
    ----------
    hidden : Tensor (n, d)
        One row per position.
    vectors : Tensor (m, d)
        The candidates' vectors: every item (full softmax) or a step's sample.
    repeat_bias : Tensor ()
        Added to the logit at each ``(seen_pos, seen_col)``.
    offset : Tensor (m,) or None
        Added to every row's logits (the sampled softmax's ``-log Q``).
    target : Tensor (n,) of int64
        Each row's target column.
    seen_pos, seen_col : Tensor of int64
        The repeat-bias entries, each once, ``seen_pos`` ascending.
    chunk : int
        Logits per chunk of rows.

    The logits are built a chunk of rows at a time, small enough to stay in cache, and the
    gradients (softmax minus target, times the inputs) are taken there at once: no tensor as
    large as all the logits is ever allocated. On the CPU box that measured it, every such
    tensor above 32 MiB cost its size in fresh pages per step (the allocator hands them back
    to the system), and one step's sampled logits are about 45 MB. Loss and gradients are
    those of ``cross_entropy`` on the full logits up to float rounding. On other devices
    the plain computation over all logits at once.
    """
    if hidden.device.type != "cpu":
        return dense_softmax_loss(hidden, vectors, repeat_bias, offset, target, seen_pos, seen_col)
    loss: torch.Tensor = _SoftmaxLoss.apply(  # type: ignore[no-untyped-call]
        hidden, vectors, repeat_bias, offset, target, seen_pos, seen_col, chunk
    )
    return loss


def dense_softmax_loss(
    hidden: torch.Tensor,
    vectors: torch.Tensor,
    repeat_bias: torch.Tensor,
    offset: torch.Tensor | None,
    target: torch.Tensor,
    seen_pos: torch.Tensor,
    seen_col: torch.Tensor,
) -> torch.Tensor:
    """:func:`softmax_loss` over all logits at once, by autograd (any device)."""
    logits = hidden @ vectors.T if offset is None else torch.addmm(offset, hidden, vectors.T)
    if len(seen_pos):
        where = (seen_pos, seen_col)
        logits = logits.index_put(where, repeat_bias.expand(len(seen_pos)), accumulate=True)
    return nn.functional.cross_entropy(logits, target)


def flatten_state(net: nn.Module) -> np.ndarray:
    """All parameters of ``net`` as one float32 vector, in ``state_dict`` order."""
    parts = [t.detach().to("cpu", torch.float32).reshape(-1) for t in net.state_dict().values()]
    return torch.cat(parts).numpy().copy()


def unflatten_state(net: nn.Module, flat: np.ndarray) -> None:
    """Load a vector written by :func:`flatten_state` into a network of the same shape."""
    state = net.state_dict()
    expected = sum(t.numel() for t in state.values())
    if flat.size != expected:
        raise ValueError(
            f"weights_: {flat.size} values, the network built from these hyperparameters "
            f"has {expected}; the artifact was saved with other settings"
        )
    values = torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32))
    out, start = {}, 0
    for key, tensor in state.items():
        out[key] = values[start : start + tensor.numel()].reshape(tensor.shape).clone()
        start += tensor.numel()
    net.load_state_dict(out)
