"""The PyTorch network behind :class:`~pulserec.models.sequential.SequentialTransformer`.

Kept in its own module so that importing the model registry does not import torch: only
fitting, loading or scoring a sequential model does.
"""

from __future__ import annotations

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
        self.dropout = nn.Dropout(dropout)
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
