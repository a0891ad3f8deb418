"""xarray round trips through ZarrHamtStore on every backend, plain and
encrypted: written here, reopened from the root CID, compared exactly."""

from __future__ import annotations

import asyncio

import pytest
import xarray as xr

import hamt_rs
from hamt_rs import HAMT, ZarrHamtStore

from datasets import ENCODING, assert_exactly_equal, climate

KEY = bytes(range(100, 132))


def write(backend, ds: xr.Dataset, **encryption) -> str:
    hamt = HAMT(backend)
    ds.to_zarr(ZarrHamtStore(hamt, **encryption), mode="w", zarr_format=3,
               consolidated=False, encoding=ENCODING)
    return asyncio.run(hamt.flush())


def read(backend, root: str, **encryption) -> xr.Dataset:
    store = asyncio.run(ZarrHamtStore.from_root(backend, root, **encryption))
    assert store.read_only
    return xr.open_zarr(store, consolidated=False).load()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_round_trip(backend, encrypted: bool) -> None:
    ds = climate()
    encryption = {"encryption_key": KEY, "header": b"climate"} if encrypted else {}
    root = write(backend, ds, **encryption)
    assert_exactly_equal(ds, read(backend, root, **encryption))


def test_same_data_same_root(memory_backend, rocksdb_backend) -> None:
    ds = climate()
    assert write(memory_backend, ds) == write(rocksdb_backend, ds) == write(memory_backend, ds)


def test_partial_reads_and_appends(memory_backend) -> None:
    ds = climate()
    hamt = HAMT(memory_backend)
    store = ZarrHamtStore(hamt)
    ds.isel(time=slice(0, 20)).to_zarr(store, mode="w", zarr_format=3, consolidated=False,
                                       encoding=ENCODING)
    ds.isel(time=slice(20, None)).to_zarr(store, append_dim="time", consolidated=False)
    root = asyncio.run(hamt.flush())
    back = xr.open_zarr(asyncio.run(ZarrHamtStore.from_root(memory_backend, root)),
                        consolidated=False)
    assert_exactly_equal(ds.isel(lat=slice(3, 11), lon=slice(5, 29)),
                         back.isel(lat=slice(3, 11), lon=slice(5, 29)).load())


def test_wrong_key_fails_clearly(memory_backend) -> None:
    root = write(memory_backend, climate(), encryption_key=KEY, header=b"climate")
    with pytest.raises(hamt_rs.DecryptionError, match="zarr.json"):
        read(memory_backend, root, encryption_key=bytes(32), header=b"climate")
    with pytest.raises(hamt_rs.DecryptionError):
        read(memory_backend, root, encryption_key=KEY, header=b"other header")
