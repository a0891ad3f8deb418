"""hamt_rs.ShardedZarrStore: py-hamt 3.6.0's sharded layout from Python.

zarr-python's store conformance suite on every backend; xarray round trips;
interop with py-hamt's own ShardedZarrStore both ways through CAR files
(the same root CID for the same dataset, each side reading the other's bit
for bit) and through the IPFS node; py-hamt's converter, grafts, resizes and
v1 migration giving py-hamt's roots; and the errors py-hamt raises.
"""

from __future__ import annotations

import asyncio
import json
import warnings

import numpy as np
import py_hamt
import pytest
import xarray as xr
import zarr
from multiformats import CID
from py_hamt.hamt_to_sharded_converter import convert_hamt_to_sharded as py_convert
from py_hamt.sharded_zarr_store import SHARDED_ZARR_V2
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.testing.store import StoreTests

import hamt_rs
from hamt_rs import HAMT, ShardedZarrStore, ZarrHamtStore

from conftest import make_kubo_backend
from datasets import ENCODING, assert_exactly_equal, climate
from pyhamt_cas import (
    MemoryCAS, backend_to_cas, cas_to_backend, kubo_cas, read_car, write_car,
)

#: Small shards, so every variable of the climate dataset spans several,
#: with a partial last one.
PER_SHARD = 7

proto = default_buffer_prototype()


# ------------------------------------------------------------- writers

async def write_here(backend, ds: xr.Dataset, per_shard: int = PER_SHARD, **to_zarr) -> str:
    store = await ShardedZarrStore.open(backend, False, chunks_per_shard=per_shard)
    ds.to_zarr(store, mode="w", zarr_format=3, group="0", encoding=ENCODING,
               **({"consolidated": False} | to_zarr))
    return await store.flush()


async def read_here(backend, root: str, **open_zarr) -> xr.Dataset:
    store = await ShardedZarrStore.from_root(backend, root)
    assert store.read_only
    return xr.open_zarr(store, **({"group": "0", "consolidated": False} | open_zarr)).load()


async def open_py_hamt(cas, read_only: bool, root: str | None = None, per_shard: int = PER_SHARD):
    if root is None:
        return await py_hamt.ShardedZarrStore.open(
            cas=cas, read_only=False, chunks_per_shard=per_shard, manifest_version=SHARDED_ZARR_V2)
    return await py_hamt.ShardedZarrStore.open(cas=cas, read_only=read_only, root_cid=root)


async def write_with_py_hamt(cas, ds: xr.Dataset, per_shard: int = PER_SHARD, **to_zarr) -> str:
    store = await open_py_hamt(cas, False, per_shard=per_shard)
    ds.to_zarr(store, mode="w", zarr_format=3, group="0", encoding=ENCODING,
               **({"consolidated": False} | to_zarr))
    return str(await store.flush())


async def read_with_py_hamt(cas, root: str) -> xr.Dataset:
    store = await open_py_hamt(cas, True, root)
    return xr.open_zarr(store, group="0", consolidated=False).load()


# -------------------------------------------------- zarr's store suite

class _Suite(StoreTests[ShardedZarrStore, cpu.Buffer]):
    """zarr-python's store conformance suite. A sharded store keeps a
    chunk only in its array's shard index, so the suite's listing tests,
    which write chunk keys under a ``zarr.json`` that is not array metadata,
    are run with real array metadata instead (py-hamt refuses those chunks
    too: see test_chunks_need_their_arrays_metadata)."""

    store_cls = ShardedZarrStore
    buffer_cls = cpu.Buffer
    flush = False
    #: The suite's tests that write "c/0" (a chunk of a root array with no
    #: metadata) or "foo/c/0.0" (not integer coordinates): refused here,
    #: as py-hamt refuses or drops them (conftest.py marks them).
    layout_refuses = {
        "test_get": ("-c/0", "foo/c/0.0"),
        "test_getsize": ("-c/0", "foo/c/0.0"),
        "test_set": ("-c/0", "foo/c/0.0"),
        "test_get_partial_values": ("key_ranges2", "key_ranges3"),
        "test_get_not_open": None,
        "test_get_raises": None,
        "test_getsize_prefix": None,
        "test_set_not_open": None,
        "test_set_many": None,
    }

    def make_backend(self, request):
        raise NotImplementedError

    @pytest.fixture
    async def store_kwargs(self, request) -> dict:
        backend = self.make_backend(request)
        empty = await ShardedZarrStore.open(backend, False, chunks_per_shard=PER_SHARD)
        return {"backend": backend, "root_cid": await empty.flush()}

    @pytest.fixture
    def open_kwargs(self, store_kwargs: dict) -> dict:
        return {**store_kwargs, "read_only": False}

    @pytest.fixture
    async def store_not_open(self, store_kwargs: dict) -> ShardedZarrStore:
        opened = await ShardedZarrStore.open(**store_kwargs, read_only=False)
        return ShardedZarrStore(opened._base, read_only=False)

    async def set(self, store: ShardedZarrStore, key: str, value) -> None:
        await store.set(key, value)
        if self.flush:
            await store.flush()

    async def get(self, store: ShardedZarrStore, key: str):
        if self.flush:
            await store.flush()
        value = await store.get(key, proto)
        assert value is not None, key
        return value

    def test_store_repr(self, store: ShardedZarrStore) -> None:
        assert repr(store).startswith("ShardedZarrStore(root=")

    def test_store_eq(self, store: ShardedZarrStore, store_kwargs: dict) -> None:
        assert store == store
        other = asyncio.run(ShardedZarrStore.open(**store_kwargs, read_only=False))
        assert store == other  # the same flushed root on the same backend

    def test_store_supports_writes(self, store: ShardedZarrStore) -> None:
        assert store.supports_writes

    def test_store_supports_partial_writes(self, store: ShardedZarrStore) -> None:
        assert not store.supports_partial_writes

    def test_store_supports_listing(self, store: ShardedZarrStore) -> None:
        assert store.supports_listing

    @staticmethod
    def array_meta(shape: int, chunk: int) -> cpu.Buffer:
        meta = ('{"zarr_format": 3, "node_type": "array", "shape": [%d], '
                '"chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [%d]}}}')
        return cpu.Buffer.from_bytes((meta % (shape, chunk)).encode())

    async def test_delete_dir(self, store: ShardedZarrStore) -> None:
        await store.set("zarr.json", self.buffer_cls.from_bytes(b"root"))
        await store.set("foo-bar/zarr.json", self.buffer_cls.from_bytes(b"root"))
        await store.set("foo/zarr.json", self.array_meta(4, 2))
        await store.set("foo/c/0", self.buffer_cls.from_bytes(b"chunk"))
        await store.delete_dir("foo")
        assert await store.exists("zarr.json")
        assert await store.exists("foo-bar/zarr.json")
        assert not await store.exists("foo/zarr.json")
        assert not await store.exists("foo/c/0")

    async def test_list(self, store: ShardedZarrStore) -> None:
        assert [k async for k in store.list()] == []
        data = self.buffer_cls.from_bytes(b"")
        written = {"foo/zarr.json": self.array_meta(10, 1),
                   **{f"foo/c/{i}": data for i in range(10)}}
        await store._set_many(written.items())
        # py-hamt's layout adds the root group a new array's parents lack.
        assert sorted([k async for k in store.list()]) == sorted([*written, "zarr.json"])

    async def test_list_empty_path(self, store: ShardedZarrStore) -> None:
        data = self.buffer_cls.from_bytes(b"")
        await store.set("foo/bar/zarr.json", self.array_meta(2, 1))
        await store.set("foo/baz/zarr.json", self.array_meta(2, 1))
        await store._set_many([("foo/bar/c/1", data), ("foo/baz/c/0", data)])
        expected = ["foo/bar/c/1", "foo/bar/zarr.json", "foo/baz/c/0", "foo/baz/zarr.json",
                    "foo/zarr.json", "zarr.json"]  # with the parent groups py-hamt adds
        assert sorted([k async for k in store.list()]) == expected
        assert sorted([k async for k in store.list_prefix("")]) == expected
        assert sorted([k async for k in store.list_prefix("foo/bar/")]) == expected[:2]

    async def test_list_dir(self, store: ShardedZarrStore) -> None:
        assert [k async for k in store.list_dir("")] == []
        assert [k async for k in store.list_dir("foo")] == []
        await store.set("foo/zarr.json", self.array_meta(2, 1))
        await store.set("foo/c/1", self.buffer_cls.from_bytes(b"\x01"))
        assert sorted([k async for k in store.list_dir("foo")]) == ["c", "zarr.json"]
        assert sorted([k async for k in store.list_dir("foo/")]) == ["c", "zarr.json"]


class TestMemory(_Suite):
    def make_backend(self, request):
        return hamt_rs.MemoryBackend()


class TestRocksDb(_Suite):
    flush = True

    def make_backend(self, request):
        return hamt_rs.RocksDbBackend(request.getfixturevalue("tmp_path") / "blocks")


class TestKubo(_Suite):
    flush = True

    def make_backend(self, request):
        return request.getfixturevalue("kubo_backend")


# ------------------------------------------------------- xarray round trips

@pytest.mark.parametrize("per_shard", [1, PER_SHARD, 6250])
async def test_xarray_round_trip(backend, per_shard: int) -> None:
    ds = climate()
    root = await write_here(backend, ds, per_shard)
    assert_exactly_equal(ds, await read_here(backend, root))
    # A store whose arrays all sit in one group reads at the root too, as
    # py-hamt's does: the arrays are the group's, the attributes the root's.
    at_root = ds.copy()
    at_root.attrs = {}
    assert_exactly_equal(at_root, await read_here(backend, root, group=None))


async def test_partial_reads_and_appends(memory_backend) -> None:
    ds = climate()
    store = await ShardedZarrStore.open(memory_backend, False, chunks_per_shard=PER_SHARD)
    ds.isel(time=slice(0, 20)).to_zarr(store, mode="w", zarr_format=3, group="0",
                                       consolidated=False, encoding=ENCODING)
    ds.isel(time=slice(20, None)).to_zarr(store, append_dim="time", group="0", consolidated=False)
    root = await store.flush()
    back = xr.open_zarr(await ShardedZarrStore.from_root(memory_backend, root), group="0",
                        consolidated=False)
    region = {"lat": slice(3, 11), "lon": slice(5, 29)}
    assert_exactly_equal(ds.isel(region), back.isel(region).load())


# ------------------------------------------ interop with py-hamt's store

@pytest.mark.parametrize("consolidated", [False, None], ids=["plain", "consolidated"])
async def test_same_root_as_py_hamt_for_the_same_dataset(consolidated) -> None:
    ds = climate()
    cas = MemoryCAS()
    theirs = await write_with_py_hamt(cas, ds, consolidated=consolidated)
    backend = hamt_rs.MemoryBackend()
    ours = await write_here(backend, ds, consolidated=consolidated)
    assert ours == theirs
    assert set(backend.cids()) == {str(c) for c in cas.blocks}


async def test_py_hamt_writes_a_car_we_read(tmp_path) -> None:
    ds = climate()
    cas = MemoryCAS()
    root = await write_with_py_hamt(cas, ds)
    car = tmp_path / "py-hamt.car"
    write_car(car, [CID.decode(root)], cas.blocks)
    backend = hamt_rs.MemoryBackend()
    transfer = await hamt_rs.import_car(backend, car)
    assert transfer.roots == [root]
    assert transfer.blocks == len(cas.blocks)
    assert_exactly_equal(ds, await read_here(backend, root))


async def test_we_write_a_car_py_hamt_reads_and_rebuilds(tmp_path) -> None:
    ds = climate()
    backend = hamt_rs.MemoryBackend()
    root = await write_here(backend, ds)
    car = tmp_path / "hamt-rs.car"
    transfer = await hamt_rs.export_car(backend, root, car)
    assert not (tmp_path / "hamt-rs.car.partial").exists()
    roots, blocks = read_car(car)
    assert [r.encode("base32") for r in roots] == [root]
    # What the root reaches (zarr's mode="w" also left blocks it reaches no more).
    assert len(blocks) == transfer.blocks < len(backend.cids())
    cas = MemoryCAS()
    cas.blocks.update(blocks)
    assert_exactly_equal(ds, await read_with_py_hamt(cas, root))
    # py-hamt writing the same dataset afresh makes the same root.
    assert await write_with_py_hamt(MemoryCAS(), ds) == root


async def test_a_truncated_or_tampered_car_is_refused(tmp_path) -> None:
    backend = hamt_rs.MemoryBackend()
    root = await write_here(backend, climate(n_time=5))
    car = tmp_path / "d.car"
    await hamt_rs.export_car(backend, root, car)
    data = car.read_bytes()
    cut = tmp_path / "cut.car"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(hamt_rs.CorruptBlockError, match="truncated"):
        await hamt_rs.import_car(hamt_rs.MemoryBackend(), cut)
    tampered = tmp_path / "tampered.car"
    tampered.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(hamt_rs.CorruptBlockError, match="fails verification"):
        await hamt_rs.import_car(hamt_rs.MemoryBackend(), tampered)
    with pytest.raises(FileNotFoundError):
        await hamt_rs.import_car(hamt_rs.MemoryBackend(), tmp_path / "absent.car")
    # Exporting a root whose blocks are gone names the missing block.
    with pytest.raises(hamt_rs.MissingBlockError, match="cannot be exported"):
        await hamt_rs.export_car(hamt_rs.MemoryBackend(), root, tmp_path / "x.car")
    assert not (tmp_path / "x.car").exists() and not (tmp_path / "x.car.partial").exists()


async def test_a_converted_hamt_reads_identically_with_py_hamts_root() -> None:
    ds = climate()
    backend = hamt_rs.MemoryBackend()
    hamt = HAMT(backend)
    ds.to_zarr(ZarrHamtStore(hamt), mode="w", zarr_format=3, group="0", consolidated=False,
               encoding=ENCODING)
    hamt_root = await hamt.flush()
    before = set(backend.cids())
    cas = MemoryCAS()
    backend_to_cas(backend, cas)
    sharded = await hamt_rs.convert_hamt_to_sharded(backend, hamt_root, PER_SHARD)
    assert_exactly_equal(ds, await read_here(backend, sharded))
    assert str(await py_convert(cas, hamt_root, PER_SHARD)) == sharded
    # CIDs were copied, not data: the new blocks are the manifest, the
    # shards and the group metadata py-hamt's layout adds; no chunk.
    new = {CID.decode(c) for c in set(backend.cids()) - before}
    assert any(c.codec.name == "dag-cbor" for c in new)
    for cid in new:
        if cid.codec.name == "raw":
            assert json.loads(backend.get_block(str(cid)))["node_type"] == "group"


async def test_graft_of_batches_matches_py_hamt() -> None:
    """The ERA5 producers' workflow: batches along time written apart, then
    grafted by chunk offset into one store sized for the whole series."""
    ds = climate(n_time=40)
    batches = [ds.isel(time=slice(0, 20)), ds.isel(time=slice(20, 40))]
    # Each batch's time is encoded against one epoch, in chunks of 10 like
    # the variables along time, so every batch is whole chunks at offset 2.
    encoding = ENCODING | {"time": {"units": "days since 2000-01-01", "chunks": (10,)}}

    async def build(open_store, flush, cas_or_backend) -> str:
        roots = []
        for batch in batches:
            store = await open_store(cas_or_backend, None)
            batch.to_zarr(store, mode="w", zarr_format=3, group="0", consolidated=False,
                          encoding=encoding)
            roots.append(str(await flush(store)))
        store = await open_store(cas_or_backend, roots[0])
        for name, shape, offset in [("temp", (40, 19, 30), (2, 0, 0)),
                                    ("precip", (40, 19, 30), (2, 0, 0)),
                                    ("stations", (40,), (2,)), ("time", (40,), (2,))]:
            await store.resize_variable(f"0/{name}", shape)
            await store.graft_store(roots[1], offset, source_array_path=f"0/{name}",
                                    target_array_path=f"0/{name}")
        return str(await flush(store))

    async def ours_open(backend, root):
        if root is None:
            return await ShardedZarrStore.open(backend, False, chunks_per_shard=PER_SHARD)
        return await ShardedZarrStore.open(backend, False, root)

    async def theirs_open(cas, root):
        return await open_py_hamt(cas, False, root)

    async def flush(store):
        return await store.flush()

    backend = hamt_rs.MemoryBackend()
    ours = await build(ours_open, flush, backend)
    cas = MemoryCAS()
    theirs = await build(theirs_open, flush, cas)
    assert ours == theirs
    # The second half of every series came in by graft: the whole reads back.
    assert_exactly_equal(ds, await read_here(backend, ours))


async def test_v1_roots_read_and_migrate_as_py_hamt() -> None:
    cas = MemoryCAS()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v1 = await py_hamt.ShardedZarrStore.open(cas=cas, read_only=False, array_shape=(6, 4),
                                                 chunk_shape=(3, 2), chunks_per_shard=3)
        group = b'{"zarr_format": 3, "node_type": "group"}'
        meta = (b'{"zarr_format": 3, "node_type": "array", "shape": [6, 4], "chunk_grid": '
                b'{"name": "regular", "configuration": {"chunk_shape": [3, 2]}}}')
        await v1.set("zarr.json", proto.buffer.from_bytes(group))
        await v1.set("temp/zarr.json", proto.buffer.from_bytes(meta))
        for i in range(2):
            for j in range(2):
                await v1.set(f"temp/c/{i}/{j}", proto.buffer.from_bytes(bytes([i, j]) * 4))
        root = str(await v1.flush())
        migrating = await open_py_hamt(cas, False, root)
        theirs = str(await migrating.migrate_v1_to_v2("0/temp"))

    backend = hamt_rs.MemoryBackend()
    cas_to_backend(cas, backend)
    reader = await ShardedZarrStore.from_root(backend, root)
    assert (await reader.get("temp/c/1/0", proto)).to_bytes() == bytes([1, 0]) * 4
    writer = await ShardedZarrStore.open(backend, False, root)
    with pytest.raises(hamt_rs.ReadOnlyError):
        await writer.set("temp/c/0/0", proto.buffer.from_bytes(b"x"))
    assert await writer.migrate_v1_to_v2("0/temp") == theirs
    migrated = await ShardedZarrStore.from_root(backend, theirs)
    assert (await migrated.get("0/temp/c/1/1", proto)).to_bytes() == bytes([1, 1]) * 4


# ----------------------------------------------------- through the IPFS node


async def test_through_kubo_both_ways() -> None:
    ds = climate(n_time=12)
    backend = make_kubo_backend(retries=1, retry_delay=0.05, timeout=30)
    async with kubo_cas() as cas:
        theirs = await write_with_py_hamt(cas, ds)
        assert_exactly_equal(ds, await read_here(backend, theirs))
        ours = await write_here(backend, ds)
        assert_exactly_equal(ds, await read_with_py_hamt(cas, ours))
    # The same root as py-hamt's in memory. (Through Kubo, py-hamt's root
    # zarr.json depends on a race: zarr-python writes the root group while
    # py-hamt's own parent-group insertion waits on the node, and either
    # may land first. This side writes the same blocks either way.)
    assert ours == await write_with_py_hamt(MemoryCAS(), ds)


async def test_values_over_a_mebibyte_are_kubos_unixfs_files() -> None:
    """A chunk over 1 MiB: py-hamt's KuboCAS stores it as a UnixFS file,
    and this side builds the same file (same root) and reads py-hamt's."""
    ds = xr.Dataset({"img": (("y", "x"), np.arange(800 * 700, dtype="float32").reshape(800, 700))})
    encoding = {"img": {"chunks": (800, 700), "compressors": None}}  # one 2.1 MiB chunk
    # zarr-python's keys, written one by one (metadata first) on both sides,
    # so the order is the same (see test_through_kubo_both_ways).
    written = zarr.storage.MemoryStore()
    ds.to_zarr(written, mode="w", zarr_format=3, group="0", consolidated=False, encoding=encoding)
    items = sorted(written._store_dict.items(), key=lambda kv: ("/c/" in kv[0], kv[0].count("/"), kv[0]))
    assert any(len(v.to_bytes()) > 1 << 20 for _, v in items)
    backend = make_kubo_backend(retries=1, retry_delay=0.05, timeout=30)
    async with kubo_cas() as cas:
        store = await open_py_hamt(cas, False, per_shard=4)
        for key, value in items:
            await store.set(key, value)
        theirs = str(await store.flush())
    ours_store = await ShardedZarrStore.open(backend, False, chunks_per_shard=4)
    for key, value in items:
        await ours_store.set(key, value)
    assert await ours_store.flush() == theirs
    back = xr.open_zarr(await ShardedZarrStore.from_root(backend, theirs), group="0",
                        consolidated=False).load()
    assert np.array_equal(back["img"].values, ds["img"].values)


# ----------------------------------------------------- errors as py-hamt's

async def test_chunks_need_their_arrays_metadata(memory_backend) -> None:
    store = await ShardedZarrStore.open(memory_backend, False, chunks_per_shard=4)
    with pytest.raises(ValueError, match="write its zarr.json first"):
        await store.set("temp/c/0", proto.buffer.from_bytes(b"x"))
    theirs = await open_py_hamt(MemoryCAS(), False, per_shard=4)
    with pytest.raises(Exception):
        await theirs.set("temp/c/0", proto.buffer.from_bytes(b"x"))


async def test_an_array_at_the_top_after_a_root_group_needs_a_group(memory_backend) -> None:
    ds = climate(n_time=3)
    store = await ShardedZarrStore.open(memory_backend, False, chunks_per_shard=4)
    with pytest.raises(ValueError, match="explicit Zarr group"):
        ds.to_zarr(store, mode="w", zarr_format=3, consolidated=False)
    theirs = await open_py_hamt(MemoryCAS(), False, per_shard=4)
    with pytest.raises(ValueError, match="explicit Zarr group"):
        ds.to_zarr(theirs, mode="w", zarr_format=3, consolidated=False)


async def test_opening_a_hamt_root_as_sharded_is_refused(memory_backend) -> None:
    hamt = HAMT(memory_backend)
    await hamt.set("zarr.json", b"{}")
    root = await hamt.flush()
    with pytest.raises(ValueError, match="not a sharded store"):
        await ShardedZarrStore.from_root(memory_backend, root)
    with pytest.raises(ValueError, match="root_cid must be provided"):
        await ShardedZarrStore.open(memory_backend, True)
    with pytest.raises(ValueError, match="positive integer"):
        await ShardedZarrStore.open(memory_backend, False, chunks_per_shard=0)
