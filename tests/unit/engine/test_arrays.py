"""The engine's array helpers against plain numpy/scipy."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pulserec.engine.arrays import csr_block, extended


def test_csr_block_equals_scipy_indexing() -> None:
    rng = np.random.default_rng(0)
    dense = sp.random(60, 60, density=0.1, random_state=1, dtype=np.float32).toarray()
    dense[5] = 0  # an empty row
    matrix = sp.csr_matrix(dense)
    rows = [5, 0, 17, 59, 17]
    cols = np.r_[rng.integers(0, 60, 30), 0, 59]
    want = matrix[rows][:, cols].toarray()
    got = csr_block(matrix, rows, cols)
    assert got.dtype == np.float64 and np.array_equal(got, want)
    assert csr_block(matrix, [], cols).shape == (0, len(cols))


def test_member_and_in_sorted_agree_with_isin() -> None:
    from pulserec.engine.arrays import in_sorted, member

    rng = np.random.default_rng(0)
    for n_pool in (0, 1, 5, 300):
        items = rng.integers(0, 50, 200)
        pool = rng.integers(0, 50, n_pool)
        expected = np.isin(items, pool)
        assert member(items, pool).tolist() == expected.tolist()
        assert in_sorted(items, np.unique(pool)).tolist() == expected.tolist()
    assert member(np.zeros(0, np.int64), np.array([1])).tolist() == []


def test_extended_grows_by_doubling_and_fills_the_new_entries() -> None:
    values = np.array([1.0, 2.0, 3.0])
    assert extended(values, 3) is values  # long enough: the array itself
    grown = extended(values, 4, np.inf)
    assert grown.tolist() == [1.0, 2.0, 3.0, np.inf, np.inf, np.inf]  # twice the length
    assert extended(values, 10).tolist() == [1.0, 2.0, 3.0] + [0.0] * 7  # or as asked
    assert values.tolist() == [1.0, 2.0, 3.0]  # never changed in place
