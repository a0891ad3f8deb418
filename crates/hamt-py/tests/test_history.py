"""hamt_rs.Repository: versions of a RocksDB backend's datasets as commits,
and ZarrHamtStore.from_ref opening one as of a revision (zarr-python)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import hamt_rs
from hamt_rs import HAMT, ConflictError, Repository, ZarrHamtStore


async def write_version(backend, values: np.ndarray) -> str:
    """A one-array zarr dataset holding `values`; returns its root."""
    hamt = HAMT(backend)
    store = ZarrHamtStore(hamt)
    array = zarr.create_array(store, name="t", shape=values.shape, chunks=(2,), dtype=values.dtype, overwrite=True)
    array[:] = values
    return await hamt.flush()


async def test_commits_log_and_time_travel_through_zarr(rocksdb_backend) -> None:
    repo = Repository(rocksdb_backend)
    days = [np.arange(6, dtype="f4") * day for day in (1, 2, 3)]
    commits = []
    for day, values in enumerate(days, start=1):
        root = await write_version(rocksdb_backend, values)
        commits.append(repo.commit(root, f"day {day}", author="tester", time_ms=day * 86_400_000))

    log = repo.log("main")
    assert [c["message"] for c in log] == ["day 3", "day 2", "day 1"]
    assert [c["commit"] for c in log] == commits[::-1]
    assert log[0]["parents"] == [commits[1]] and log[2]["parents"] == []
    assert log[1]["time"] == "1970-01-03T00:00:00Z"
    assert repo.resolve("main~2") == commits[0]
    assert repo.resolve("main@{1970-01-02}") == commits[0]

    # Each revision reads as that version, through zarr-python.
    for revision, values in [("main", days[2]), ("main~1", days[1]), ("main@{172800}", days[1])]:
        store = await ZarrHamtStore.from_ref(rocksdb_backend, revision)
        assert store.read_only
        np.testing.assert_array_equal(zarr.open_array(store, path="t", mode="r")[:], values)

    repo.tag("first", "main~2")
    assert repo.refs() == {"refs/heads/main": commits[2], "refs/tags/first": commits[0]}
    with pytest.raises(ConflictError, match="exists"):
        repo.tag("first", "main")
    store = await ZarrHamtStore.from_ref(rocksdb_backend, "first")
    np.testing.assert_array_equal(zarr.open_array(store, path="t", mode="r")[:], days[0])


async def test_a_commit_on_a_stale_head_conflicts(rocksdb_backend) -> None:
    repo = Repository(rocksdb_backend)
    first = repo.commit(await write_version(rocksdb_backend, np.zeros(4, "f4")), "v1")
    # Two writers read v1; one commits first.
    mine = await write_version(rocksdb_backend, np.ones(4, "f4"))
    theirs = await write_version(rocksdb_backend, np.full(4, 2, "f4"))
    winner = repo.commit(theirs, "theirs", parent=first)
    with pytest.raises(ConflictError) as conflict:
        repo.commit(mine, "mine", parent=first)
    assert winner in str(conflict.value) and first in str(conflict.value)
    assert isinstance(conflict.value, hamt_rs.HamtError)
    assert repo.resolve("main") == winner


async def test_bad_revisions_are_value_errors(rocksdb_backend) -> None:
    repo = Repository(rocksdb_backend)
    with pytest.raises(ValueError, match="unknown revision"):
        repo.resolve("nope")
    repo.commit(await write_version(rocksdb_backend, np.zeros(2, "f4")), "only")
    with pytest.raises(ValueError, match="does not go back"):
        repo.checkout("main~5")
    with pytest.raises(ValueError, match="bad revision"):
        await ZarrHamtStore.from_ref(rocksdb_backend, "main@{yesterday}")
    with pytest.raises(hamt_rs.InvalidCidError):
        repo.commit("not-a-cid", "x")
