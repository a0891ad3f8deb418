"""zarr-python's own store conformance suite, `zarr.testing.store.StoreTests`,
on ZarrHamtStore over every backend, plain and encrypted.

On RocksDB and Kubo the suite's out-of-band helpers flush the HAMT around
each write and read, so values really go to the backend and come back from
it (not only from the HAMT's write buffer), through the asynchronous path.
"""

from __future__ import annotations

from asyncio import Future

import pytest
from zarr.core.buffer import cpu
from zarr.testing.store import StoreTests

import hamt_rs
from hamt_rs import HAMT, ZarrHamtStore

KEY = bytes(range(32))
HEADER = b"conformance"


async def _resolve(result):
    return await result if isinstance(result, Future) else result


class _Suite(StoreTests[ZarrHamtStore, cpu.Buffer]):
    store_cls = ZarrHamtStore
    buffer_cls = cpu.Buffer
    #: Flush around the out-of-band helpers, so data goes through the backend.
    flush = False
    encrypted = False

    @pytest.fixture
    def store_kwargs(self, request) -> dict:
        kwargs = {"hamt": HAMT(self.make_backend(request))}
        if self.encrypted:
            kwargs |= {"encryption_key": KEY, "header": HEADER}
        return kwargs

    def make_backend(self, request):
        raise NotImplementedError

    # The suite's out-of-band access: through the HAMT core, not the store's methods.
    async def set(self, store: ZarrHamtStore, key: str, value) -> None:
        await _resolve(store._core.set(key, value.to_bytes()))
        if self.flush:
            await store.hamt.flush()

    async def get(self, store: ZarrHamtStore, key: str):
        if self.flush:
            await store.hamt.flush()
        value = await _resolve(store._core.get(key))
        assert value is not None, key
        return self.buffer_cls.from_bytes(value)

    def test_store_repr(self, store: ZarrHamtStore) -> None:
        assert repr(store).startswith("ZarrHamtStore(root=")

    def test_store_supports_writes(self, store: ZarrHamtStore) -> None:
        assert store.supports_writes

    def test_store_supports_partial_writes(self, store: ZarrHamtStore) -> None:
        assert not store.supports_partial_writes

    def test_store_supports_listing(self, store: ZarrHamtStore) -> None:
        assert store.supports_listing


class TestMemory(_Suite):
    def make_backend(self, request):
        return hamt_rs.MemoryBackend()


class TestMemoryEncrypted(TestMemory):
    encrypted = True


class TestRocksDb(_Suite):
    flush = True

    def make_backend(self, request):
        return hamt_rs.RocksDbBackend(request.getfixturevalue("tmp_path") / "blocks")


class TestRocksDbEncrypted(TestRocksDb):
    encrypted = True


class TestKubo(_Suite):
    flush = True

    def make_backend(self, request):
        return request.getfixturevalue("kubo_backend")


class TestKuboEncrypted(TestKubo):
    encrypted = True
