"""Scoring with :class:`~pulserec.models.sequential.SequentialTransformer`: its forward passes.

:class:`SequentialScoring` holds what the model does once its weights are fixed (after
:meth:`~pulserec.models.base.Recommender.fit` or
:meth:`~pulserec.models.base.Recommender.load`): the float64 scoring network and item table
built from the saved arrays, scores of known users, of history rows (fold-in) and of item
sequences (:meth:`~SequentialScoring.score_sequences`), text-only vectors of items outside
the model's item space, and serving mode: a float32 copy of the network and table, and a
user's state apart from any items' scores (:meth:`~SequentialScoring.serving_table`,
:meth:`~SequentialScoring.sequence_states`, the latter through
:class:`~pulserec.models.seqserve.SequenceStates`). The orders in which each kind of input is
read are in :mod:`pulserec.models.sequential`.

A mixin of ``SequentialTransformer``: the attributes annotated on the class are its
hyperparameters and learned arrays, the names under ``TYPE_CHECKING`` its own methods and
:class:`~pulserec.models.base.Recommender`'s. The model's class (the one saved artifacts
name) stays ``pulserec.models.sequential.SequentialTransformer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from pulserec.models.seqdata import pad_last
from pulserec.models.seqtrain import _SCORE_CHUNK, _last_states

if TYPE_CHECKING:
    import torch

    from pulserec.models.seqnet import SequenceNet


class SequentialScoring:
    """The scoring half of :class:`~pulserec.models.sequential.SequentialTransformer`."""

    name: ClassVar[str]
    max_len: int
    n_factors: int
    device: str
    n_items_: int
    item_popularity_: np.ndarray
    weights_: np.ndarray
    sequences_: np.ndarray
    item_text_: np.ndarray
    id_mask_: np.ndarray

    if TYPE_CHECKING:

        def _check_fitted(self) -> None: ...

        def _build_net(self, text_dim: int) -> SequenceNet: ...

    # -- scoring ---------------------------------------------------------------------------
    def _prepare_scoring(self) -> None:
        """Build the float64 scoring network and item table from the saved arrays."""
        import torch

        from pulserec.models.seqnet import unflatten_state

        net = self._build_net(self.item_text_.shape[1])
        unflatten_state(net, self.weights_)
        net = net.to(device=torch.device(self.device), dtype=torch.float64).eval()
        net.requires_grad_(False)
        with torch.no_grad():
            text = (
                torch.from_numpy(self.item_text_).to(net.item_id.weight)
                if self.item_text_.shape[1]
                else None
            )
            id_scale = torch.from_numpy(self.id_mask_.astype(np.float64)).to(net.item_id.weight)
            self._table = net.item_table(id_scale, text)
        self._table32: np.ndarray | None = None  # built on the first fast scoring
        self._fast: tuple[Any, Any] | None = None  # float32 network and table, likewise
        self._numpy_states: Any = None  # the one-sequence forward pass in numpy, likewise
        self._net = net

    @property
    def repeat_bias_(self) -> float:
        """The learned logit offset of items already in the user's history."""
        self._check_fitted()
        return float(self._net.repeat_bias.detach())

    def _forward(
        self,
        sequences: np.ndarray,
        seen: sp.csr_matrix | Sequence[np.ndarray],
        extra: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Scores ``(n, n_items)`` after right-padded ``sequences`` ``(n, max_len)``.

        ``seen`` marks, per row, the items the repeat bias applies to: a sparse matrix, or
        one array of item indices per row. ``extra`` holds item vectors ``(m, d)`` scored
        after the model's items, as columns ``n_items ...``.
        """
        import torch

        net, table = self._net, self._table
        n_extra = 0 if extra is None else int(extra.shape[0])
        out = np.empty((len(sequences), self.n_items_ + n_extra), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(sequences), _SCORE_CHUNK):
                stop = min(start + _SCORE_CHUNK, len(sequences))
                state = _last_states(net, table, sequences[start:stop])
                scores = state @ table.T
                if isinstance(seen, sp.spmatrix | sp.sparray):
                    marks = (seen[start:stop].toarray() != 0).astype(np.float64)
                else:
                    marks = np.zeros((stop - start, self.n_items_))
                    for row, items_seen in enumerate(seen[start:stop]):
                        marks[row, items_seen] = 1.0
                scores = scores + net.repeat_bias * torch.from_numpy(marks).to(table.device)
                out[start:stop, : self.n_items_] = scores.cpu().numpy()
                if extra is not None:
                    out[start:stop, self.n_items_ :] = (state @ extra.T).cpu().numpy()
        return out

    def _fast_parts(self) -> tuple[Any, Any]:
        """The float32 network and item table of serving mode, built on first use."""
        import copy

        import torch

        if self._fast is None:
            # one float32 table, shared by the network's input lookup and the output product
            self._table32 = np.ascontiguousarray(self._table.cpu().numpy(), dtype=np.float32)
            self._fast = (copy.deepcopy(self._net).float(), torch.from_numpy(self._table32))
        return self._fast

    def _forward_fast(
        self, sequences: np.ndarray, seen: Sequence[np.ndarray], extra: torch.Tensor | None
    ) -> np.ndarray:
        """:meth:`_forward` in float32 (see ``fast``)."""
        state32 = self._states_fast(sequences)
        assert self._table32 is not None
        out = state32 @ self._table32.T
        bias = np.float32(self.repeat_bias_)
        for row, items_seen in enumerate(seen):
            out[row, np.unique(items_seen)] += bias
        if extra is not None:
            extra32 = extra.detach().cpu().numpy().astype(np.float32)
            out = np.concatenate([out, state32 @ extra32.T], axis=1)
        return out

    def _states_fast(self, sequences: np.ndarray) -> np.ndarray:
        import torch

        net, table = self._fast_parts()
        with torch.no_grad():
            state = _last_states(net, table, sequences)
        return state.cpu().numpy().astype(np.float32)  # type: ignore[no-any-return]

    # -- serving by parts: a user's state once, then any items' scores -------------------
    def serving_table(self) -> np.ndarray:
        """The float32 item vectors ``(n_items, d)``: an item's score after a sequence is
        the sequence's state (:meth:`sequence_states`) times its vector, plus
        :attr:`repeat_bias_` for items of the sequence."""
        self._check_fitted()
        self._fast_parts()
        assert self._table32 is not None
        return self._table32

    def sequence_states(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """The float32 hidden state ``(n, d)`` after each item sequence (oldest first;
        indices outside the model's item space are skipped), in serving mode."""
        from pulserec.models.seqserve import SequenceStates

        self._check_fitted()
        if self._numpy_states is None:
            net, _ = self._fast_parts()
            assert self._table32 is not None
            self._numpy_states = SequenceStates(net, self._table32)
        out = np.empty((len(sequences), self.n_factors), dtype=np.float32)
        for row, seq in enumerate(sequences):
            arr = np.asarray(list(seq), dtype=np.int64)
            out[row] = self._numpy_states.state(arr[(arr >= 0) & (arr < self.n_items_)])
        return out

    def text_item_vectors(self, text: np.ndarray) -> np.ndarray | None:
        """Float32 item vectors ``(m, d)`` of items outside the model's item space from
        their raw text embeddings (the text part alone); None without a text part."""
        self._check_fitted()
        vectors = self._text_vectors(text)
        if vectors is None:
            return None
        return vectors.detach().cpu().numpy().astype(np.float32)  # type: ignore[no-any-return]

    def _text_vectors(self, text: np.ndarray) -> torch.Tensor | None:
        """The text part of item vectors for raw text embeddings ``(m, text_dim)``.

        None when the model has no text part.
        """
        import torch

        net = self._net
        if net.text_proj is None:
            return None
        text = np.asarray(text, dtype=np.float64)
        if text.ndim != 2 or text.shape[1] != self.item_text_.shape[1]:
            raise ValueError(
                f"{self.name}: extra_item_text must have shape (m, {self.item_text_.shape[1]}), "
                f"got {text.shape}"
            )
        norms = np.linalg.norm(text, axis=1, keepdims=True)
        text = text / np.where(norms > 0, norms, 1.0)
        with torch.no_grad():
            out: torch.Tensor = net.text_proj(torch.from_numpy(text).to(net.item_id.weight))
        return out

    def _score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        sequences = self.sequences_[user_idx].astype(np.int64)
        return self._forward(sequences, sp.csr_matrix(user_items))

    def _score_fold_in(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        rows = sp.csr_matrix(user_items)
        sequences = []
        for r in range(rows.shape[0]):
            lo, hi = rows.indptr[r], rows.indptr[r + 1]
            items, values = rows.indices[lo:hi], rows.data[lo:hi]
            positive = values > 0
            items, values = items[positive], values[positive]
            # No order in a row: ascending value (recency weights end with the newest),
            # ties by item index.
            sequences.append(items[np.lexsort((items, values))].astype(np.int64))
        out = self._forward(pad_last(sequences, self.max_len), _positive(rows))
        empty = np.array([len(s) == 0 for s in sequences])
        if empty.any():
            # Only dislikes in the row: nothing to read a sequence from.
            out[empty] = self.item_popularity_
        return out

    def score_sequences(
        self,
        sequences: Sequence[Sequence[int]],
        extra_item_text: np.ndarray | None = None,
        *,
        fast: bool = False,
    ) -> np.ndarray:
        """Scores of all items after each item sequence: float32 ``(n, n_items [+ m])``.

        Parameters
        ----------
        sequences : list of list of int
            Item indices in the order the user met them, oldest first (the real-time
            engine's recent items). Only the last ``max_len`` are read; indices outside
            the model's item space (items added after training) are skipped. The repeat
            bias applies to the items of the sequence.
        extra_item_text : ndarray, optional
            Text embeddings ``(m, text_dim)`` of items outside the model's item space (items
            added after training). They are scored by their text part alone, as the model
            scores its own items without interactions, and returned as the last ``m``
            columns. A model without a text part ranks them below every known item.
        fast : bool
            Serving mode: a float32 copy of the network and the item table (the product with
            a large table is 4x faster, the attention about 1.4x; scores agree to about 1e-5)
            and repeats marked without a dense matrix. Scores then depend slightly on float
            rounding, where the default float64 path is exact to float32 output.

        Returns
        -------
        ndarray
            One row per sequence; an empty sequence gets the item popularity, like an
            unknown user in :meth:`~pulserec.models.base.Recommender.score` (0 for the
            extra items).
        """
        self._check_fitted()
        cleaned = []
        for seq in sequences:
            arr = np.asarray(list(seq), dtype=np.int64)
            cleaned.append(arr[(arr >= 0) & (arr < self.n_items_)])
        padded = pad_last(cleaned, self.max_len)
        m = 0 if extra_item_text is None else len(extra_item_text)
        extra = self._text_vectors(extra_item_text) if extra_item_text is not None and m else None
        if fast:
            out = self._forward_fast(padded, cleaned, extra)
        else:
            out = self._forward(padded, cleaned, extra)
        if m and extra is None:
            out = np.concatenate([out, np.repeat(out.min(axis=1, keepdims=True), m, axis=1)], 1)
        empty = np.array([len(s) == 0 for s in cleaned], dtype=bool)
        if empty.any():
            out[empty, : self.n_items_] = self.item_popularity_
            out[empty, self.n_items_ :] = 0.0
        return out


def _positive(rows: sp.csr_matrix) -> sp.csr_matrix:
    """The positive entries of ``rows``, as ones."""
    out = sp.csr_matrix(rows, dtype=np.float32, copy=True)
    out.data = (out.data > 0).astype(np.float32)
    out.eliminate_zeros()
    return out
