"""Bad input gives a clear Python exception, naming the key or CID: never a
crash, never a hang."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import pytest
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.abc.store import RangeByteRequest

import hamt_rs
from hamt_rs import HAMT, ZarrHamtStore

# A well-formed CID of a block no test ever stores (blake3 dag-cbor).
ABSENT = "bafyr4iclqbbyqnpj2vbkqxsfdbxgpu7tioriytopsm43xgmu5u4lzwgj4a"


async def flushed(backend, items) -> str:
    hamt = HAMT(backend)
    await hamt.set_many(items)
    return await hamt.flush()


async def test_wrong_root_cid(backend) -> None:
    with pytest.raises(hamt_rs.MissingBlockError, match=ABSENT):
        await HAMT.open(backend, ABSENT)
    with pytest.raises(hamt_rs.MissingBlockError, match=ABSENT):
        await ZarrHamtStore.from_root(backend, ABSENT)


async def test_not_a_cid(memory_backend) -> None:
    for text in ["", "hello", "bafy-not-base32!", "Qm" + "x" * 44]:
        with pytest.raises(hamt_rs.InvalidCidError, match="is not a CID") as info:
            await HAMT.open(memory_backend, text)
        assert isinstance(info.value, ValueError)


async def test_root_that_is_not_a_node(memory_backend) -> None:
    await flushed(memory_backend, [("k", b"a value, not a node")])
    value_cid = next(c for c in memory_backend.cids() if c.startswith("bafkr"))
    with pytest.raises(hamt_rs.CorruptBlockError, match=value_cid):
        await HAMT.open(memory_backend, value_cid)


async def test_corrupted_value_block(memory_backend) -> None:
    root = await flushed(memory_backend, [("temp/c/0", b"chunk bytes")])
    value_cid = next(c for c in memory_backend.cids() if c.startswith("bafkr"))
    memory_backend._put_unverified(value_cid, b"tampered bytes")
    reader = await HAMT.open(memory_backend, root)
    with pytest.raises(hamt_rs.CorruptBlockError, match=value_cid) as info:
        await reader.get("temp/c/0")
    assert "temp/c/0" in str(info.value)
    store = ZarrHamtStore(reader, read_only=True)
    with pytest.raises(hamt_rs.CorruptBlockError):
        await store.get("temp/c/0", default_buffer_prototype())


async def test_corrupted_root_node(memory_backend) -> None:
    root = await flushed(memory_backend, [("a", b"1")])
    memory_backend._put_unverified(root, b"\xa0")
    with pytest.raises(hamt_rs.CorruptBlockError, match=root):
        await HAMT.open(memory_backend, root)


async def test_put_block_checks_the_hash(memory_backend) -> None:
    await flushed(memory_backend, [("a", b"1")])
    cid = memory_backend.cids()[0]
    with pytest.raises(hamt_rs.CorruptBlockError, match=cid):
        memory_backend.put_block(cid, b"not the bytes of that block")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_dead_kubo_url_fails_fast() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    backend = hamt_rs.KuboBackend(url, [url], retries=2, retry_delay=0.01, timeout=5)
    hamt = HAMT(backend)
    await hamt.set("a", b"1")  # buffered: needs no daemon yet
    start = time.monotonic()
    with pytest.raises(hamt_rs.BackendError) as info:
        await hamt.flush()
    assert isinstance(info.value, OSError)
    with pytest.raises(hamt_rs.BackendError, match=ABSENT):
        await HAMT.open(backend, ABSENT)
    assert time.monotonic() - start < 20
    # The failed flush changed nothing: the data is still there to retry.
    assert await hamt.get("a") == b"1"


async def test_wrong_encryption_key(memory_backend) -> None:
    hamt = HAMT(memory_backend)
    store = ZarrHamtStore(hamt, encryption_key=bytes(range(32)), header=b"h")
    await store.set("temp/zarr.json", cpu.Buffer.from_bytes(b"{}"))
    root = await hamt.flush()
    wrong = await ZarrHamtStore.from_root(memory_backend, root, encryption_key=bytes(32), header=b"h")
    with pytest.raises(hamt_rs.DecryptionError, match="temp/zarr.json") as info:
        await wrong.get("temp/zarr.json", default_buffer_prototype())
    assert isinstance(info.value, ValueError)
    # Reading it unencrypted gives the stored (encrypted) bytes, not an error.
    plain = await ZarrHamtStore.from_root(memory_backend, root)
    raw = await plain.get("temp/zarr.json", default_buffer_prototype())
    assert len(raw.to_bytes()) == 2 + 40


def test_bad_encryption_key_length(memory_backend) -> None:
    with pytest.raises(ValueError, match="32 bytes, got 5"):
        ZarrHamtStore(HAMT(memory_backend), encryption_key=b"short")


def _every_write(store: ZarrHamtStore) -> list:
    """One call of each way a zarr store writes (coroutines, to await)."""
    return [
        store.set("b", cpu.Buffer.from_bytes(b"2")),
        store.delete("a"),
        store.delete_dir(""),
        store.clear(),
        store._set_many([("b", cpu.Buffer.from_bytes(b"2"))]),
    ]


async def test_read_only_store(memory_backend) -> None:
    hamt = HAMT(memory_backend)
    await hamt.set("a", b"1")
    root = await hamt.flush()
    store = await ZarrHamtStore.from_root(memory_backend, root)
    for write in _every_write(store):
        with pytest.raises(hamt_rs.ReadOnlyError, match="read-only mode") as info:
            await write
        assert isinstance(info.value, PermissionError) and isinstance(info.value, ValueError)
    # A read-only HAMT cannot back a writable store.
    reader = await HAMT.open(memory_backend, root)
    with pytest.raises(ValueError, match="opened read-only"):
        ZarrHamtStore(reader)
    # Even bypassing the store's own check, the HAMT refuses.
    with pytest.raises(hamt_rs.ReadOnlyError, match='set "b"'):
        await reader.set("b", b"2")


async def test_a_frozen_hamt_refuses_writes_through_its_stores(memory_backend) -> None:
    hamt = HAMT(memory_backend)
    before = ZarrHamtStore(hamt)
    await before.set("a", cpu.Buffer.from_bytes(b"1"))
    root = await hamt.make_read_only()
    after = ZarrHamtStore(hamt)
    for store in (before, after):
        for write in _every_write(store):
            with pytest.raises(hamt_rs.ReadOnlyError):
                await write
    assert await hamt.flush() == root
    await hamt.enable_write()
    await after.set("b", cpu.Buffer.from_bytes(b"2"))
    assert await hamt.flush() != root


async def test_bad_arguments(memory_backend) -> None:
    store = ZarrHamtStore(HAMT(memory_backend))
    await store.set("k", cpu.Buffer.from_bytes(b"0123"))
    with pytest.raises(ValueError, match="invalid byte range"):
        await store.get("k", default_buffer_prototype(), RangeByteRequest(3, 1))
    with pytest.raises(TypeError, match="Unexpected byte_range"):
        await store.get("k", default_buffer_prototype(), (0, 2))
    with pytest.raises(TypeError, match="zarr Buffer"):
        await store.set("k", b"bytes, not a Buffer")
    with pytest.raises(TypeError):
        await store.hamt.set("k", "a str, not bytes")
    with pytest.raises(TypeError, match="MemoryBackend, RocksDbBackend or KuboBackend"):
        HAMT("not a backend")
    with pytest.raises(TypeError, match="hamt_rs.HAMT"):
        ZarrHamtStore("not a hamt")
    with pytest.raises(FileNotFoundError, match="absent"):
        await store.getsize("absent")
    assert await store.get("absent", default_buffer_prototype()) is None


def test_rocksdb_directory_locked_by_another_handle(tmp_path) -> None:
    first = hamt_rs.RocksDbBackend(tmp_path / "db")
    with pytest.raises(hamt_rs.BackendError, match="open RocksDB at"):
        hamt_rs.RocksDbBackend(tmp_path / "db")
    assert first.roots() == {}


def test_memory_backend_cannot_leave_its_process(memory_backend) -> None:
    import pickle

    data = pickle.dumps(ZarrHamtStore(HAMT(memory_backend)))
    out = subprocess.run(
        [sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
        input=data, capture_output=True,
    )
    assert out.returncode != 0
    assert b"cannot be unpickled outside the process" in out.stderr


async def test_unflushed_changes_cannot_leave_the_process(tmp_path) -> None:
    import pickle

    backend = hamt_rs.RocksDbBackend(tmp_path / "db")
    hamt = HAMT(backend)
    await hamt.set("a", b"1")
    data = pickle.dumps(hamt)
    del backend, hamt
    await asyncio.sleep(0)
    script = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    out = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True)
    assert out.returncode != 0
    assert b"unflushed changes" in out.stderr
