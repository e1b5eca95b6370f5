import numpy as np
import pandas as pd
import pytest

from pulserec.evaluation import splits as S
from pulserec.events.base import DataFormatError


def frame(rows: list[tuple[str, str, float]], types: list[str] | None = None) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    df["type"] = types or ["rate"] * len(rows)
    return df


def events_for(sizes: dict[str, int]) -> pd.DataFrame:
    rows = [(u, f"{u}-i{j}", float(j)) for u, n in sizes.items() for j in range(n)]
    return frame(rows)


def test_random811_sizes_follow_recbole_rounding() -> None:
    sizes = {"a": 1, "b": 2, "c": 3, "d": 9, "e": 10, "f": 25}
    split = S.random811(events_for(sizes), seed=7)
    expected = {  # user: (train, valid, test)
        "a": (1, 0, 0),
        "b": (1, 0, 1),
        "c": (1, 1, 1),
        "d": (7, 1, 1),
        "e": (8, 1, 1),
        "f": (21, 2, 2),
    }
    for user, (n_train, n_valid, n_test) in expected.items():
        assert (split.train["user_id"] == user).sum() == n_train, user
        assert (split.valid["user_id"] == user).sum() == n_valid, user
        assert (split.test["user_id"] == user).sum() == n_test, user


def test_random811_is_deterministic_disjoint_and_complete() -> None:
    ev = events_for({"a": 30, "b": 17})
    s1, s2 = S.random811(ev, seed=3), S.random811(ev, seed=3)
    s3 = S.random811(ev, seed=4)
    assert s1.test.equals(s2.test)
    assert not s1.test.equals(s3.test)
    pairs = [set(zip(p.user_id, p.item_id, strict=True)) for p in (s1.train, s1.valid, s1.test)]
    assert not (pairs[0] & pairs[1]) and not (pairs[0] & pairs[2]) and not (pairs[1] & pairs[2])
    assert len(pairs[0] | pairs[1] | pairs[2]) == 47


def test_loo_takes_last_two_by_time_and_keeps_short_users_in_train() -> None:
    ev = frame(
        [("a", "x", 5), ("a", "y", 1), ("a", "z", 3), ("a", "w", 9), ("b", "x", 1), ("b", "y", 2)]
    )
    split = S.leave_one_out(ev)
    assert split.test.to_dict("records") == [{"user_id": "a", "item_id": "w", "timestamp": 9.0}]
    assert split.valid["item_id"].tolist() == ["x"]
    assert sorted(split.train["item_id"][split.train.user_id == "a"]) == ["y", "z"]
    assert (split.train["user_id"] == "b").sum() == 2


def test_loo_breaks_timestamp_ties_by_file_order() -> None:
    ev = frame([("a", "p", 1), ("a", "q", 1), ("a", "r", 1)])
    split = S.leave_one_out(ev)
    assert split.test["item_id"].tolist() == ["r"]
    assert split.valid["item_id"].tolist() == ["q"]


def test_negative_events_and_repeats_are_not_interactions() -> None:
    ev = frame(
        [("a", "x", 1), ("a", "x", 2), ("a", "y", 3), ("a", "z", 4)],
        types=["click", "click", "dislike", "impression"],
    )
    pos = S.positive_interactions(ev)
    assert pos[["item_id", "timestamp"]].values.tolist() == [["x", 1.0]]


def test_split_round_trip_and_matrices(tmp_path) -> None:  # type: ignore[no-untyped-def]
    split = S.random811(events_for({"a": 12, "b": 11}), seed=1)
    S.write_split(split, tmp_path)
    back = S.read_split(tmp_path)
    for name in ("train", "valid", "test"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(split, name), check_dtype=False)
    data = S.to_split_data(back)
    assert data.train.matrix.shape == data.test.matrix.shape == (2, 23)
    assert data.train.nnz + data.valid.nnz + data.test.nnz == 23
    overlap = data.train.matrix.multiply(data.test.matrix)
    assert overlap.nnz == 0
    assert np.all(data.train.matrix.data == 1.0)


def test_read_split_names_the_bad_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("train", "valid", "test"):
        (tmp_path / f"{name}.csv").write_text("user_id,item_id,timestamp\nu,i,1\n")
    (tmp_path / "valid.csv").write_text("user_id,item_id,timestamp\nu,i,1\nu,j,soon\n")
    with pytest.raises(DataFormatError, match=r"valid.csv, line 3, field 'timestamp'"):
        S.read_split(tmp_path)


def test_unknown_protocol_is_named() -> None:
    with pytest.raises(ValueError, match="protocol: unknown 'kfold'"):
        S.make_split(events_for({"a": 3}), "kfold")
