"""An interpolated Kneser-Ney n-gram model: the baseline a character-level RNN must beat.

Chen & Goodman (1999), interpolated Kneser-Ney with one discount per order. For order k and
a token ``w`` after the context ``h`` (the previous k - 1 tokens)::

    P_k(w | h) = max(c_k(h w) - D_k, 0) / c_k(h .)  +  D_k * N_k(h .) / c_k(h .) * P_{k-1}(w | h')

where ``h'`` drops the oldest token of ``h``, ``c_k(h .)`` sums ``c_k(h w)`` over ``w``, and
``N_k(h .)`` counts the ``w`` with ``c_k(h w) > 0``. The highest order counts occurrences;
every lower order counts continuations (how many distinct tokens precede the k-gram), which
is what makes it Kneser-Ney. ``P_0`` is uniform over the vocabulary, ``D_k = n1 / (n1 + 2 n2)``
from the numbers of k-grams seen once and twice (Ney et al. 1994; at least 0.1, so that no
token is ever impossible), and a context never seen passes its lower order's probability
through unchanged.

N-grams are integer codes in base V (one digit per token), counted with ``np.unique`` and
looked up with ``np.searchsorted``, so a 5-gram model of 5 MB of text fits in a few seconds.
"""

from __future__ import annotations

import numpy as np


class KneserNey:
    def __init__(self, order: int, vocab_size: int) -> None:
        if order < 1:
            raise ValueError(f"order: expected a positive integer, got {order}")
        if vocab_size ** order >= 2**62:
            raise ValueError(f"order {order} with {vocab_size} tokens: codes overflow 64 bits")
        self.order, self.V = order, vocab_size
        self.levels: list[dict[str, np.ndarray | float]] = []

    def _codes(self, ids: np.ndarray, k: int) -> np.ndarray:
        """Codes of every k-gram of ``ids`` (``len(ids) - k + 1`` of them), oldest token most significant."""
        codes = np.zeros(len(ids) - k + 1, dtype=np.int64)
        for j in range(k):
            codes = codes * self.V + ids[j : len(ids) - k + 1 + j]
        return codes

    def fit(self, ids: np.ndarray) -> KneserNey:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) < self.order or ids.min() < 0 or ids.max() >= self.V:
            raise ValueError(f"fit: expected at least {self.order} ids in [0, {self.V}), got {len(ids)}")
        self.levels = []
        for k in range(1, self.order + 1):
            if k == self.order:  # occurrences
                grams, counts = np.unique(self._codes(ids, k), return_counts=True)
            else:  # continuations: distinct (k+1)-grams, oldest token dropped
                longer = np.unique(self._codes(ids, k + 1))
                grams, counts = np.unique(longer % self.V**k, return_counts=True)
            n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
            discount = max(n1 / (n1 + 2 * n2) if n1 + 2 * n2 > 0 else 0.5, 0.1)  # >= 0.1: nothing impossible
            contexts, starts = np.unique(grams // self.V, return_index=True)  # grams are sorted by context
            totals = np.add.reduceat(counts, starts)
            types = np.diff(np.append(starts, len(grams)))
            self.levels.append({"grams": grams, "counts": counts.astype(np.float64), "discount": float(discount),
                                "contexts": contexts, "totals": totals.astype(np.float64),
                                "types": types.astype(np.float64)})
        return self

    @staticmethod
    def _lookup(keys: np.ndarray, table: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``values`` at each key's row of the sorted ``table``, 0 where the key is absent."""
        where = np.minimum(np.searchsorted(table, keys), len(table) - 1)
        return np.where(table[where] == keys, values[where], 0.0)

    def probabilities(self, history: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``P(candidates[i] | history[i])``; ``history`` ``(N, order - 1)`` with -1 for no token."""
        n = len(candidates)
        p = np.full(n, 1.0 / self.V)
        for k, level in enumerate(self.levels, start=1):
            context = np.zeros(n, dtype=np.int64)
            known = np.ones(n, dtype=bool)
            for j in range(k - 1):  # the k - 1 most recent tokens of the history, oldest first
                token = history[:, history.shape[1] - (k - 1) + j]
                known &= token >= 0
                context = context * self.V + np.maximum(token, 0)
            total = self._lookup(context, level["contexts"], level["totals"])
            types = self._lookup(context, level["contexts"], level["types"])
            count = self._lookup(context * self.V + candidates, level["grams"], level["counts"])
            D = level["discount"]
            seen = known & (total > 0)
            safe = np.where(seen, total, 1.0)
            mixed = np.maximum(count - D, 0.0) / safe + D * types / safe * p
            p = np.where(seen, mixed, p)
        return p

    def log_probs(self, ids: np.ndarray) -> np.ndarray:
        """Natural-log probability of every token of ``ids`` given the ones before it in ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        width = self.order - 1
        padded = np.concatenate([np.full(width, -1, dtype=np.int64), ids])
        history = np.stack([padded[j : j + len(ids)] for j in range(width)], axis=1) if width else \
            np.zeros((len(ids), 0), dtype=np.int64)
        return np.log(self.probabilities(history, ids))
