"""The py-hamt-shaped map, hamt_rs.HAMT, on every backend."""

from __future__ import annotations

import asyncio
import pickle

import pytest

import hamt_rs
from hamt_rs import HAMT


async def test_set_get_delete_flush_reopen(backend) -> None:
    hamt = HAMT(backend)
    for i in range(300):
        await hamt.set(f"temp/c/{i}/0", bytes([i % 256]) * (i + 1))
    await hamt.delete("temp/c/7/0")
    assert await hamt.len() == 299
    assert hamt.root_cid is None
    root = await hamt.flush()
    assert hamt.root_cid == root == hamt.root_node_id
    assert root.startswith("bafyr")

    reader = await HAMT.open(backend, root)
    assert reader.read_only
    assert await reader.len() == 299
    assert await reader.get("temp/c/9/0") == bytes([9]) * 10
    with pytest.raises(KeyError, match="temp/c/7/0"):
        await reader.get("temp/c/7/0")
    keys = [k async for k in reader.keys()]
    assert keys == sorted(f"temp/c/{i}/0" for i in range(300) if i != 7)
    assert [k async for k in reader.keys("temp/c/1")] == sorted(
        k for k in keys if k.startswith("temp/c/1")
    )


async def test_byte_ranges_like_py_hamt(memory_backend) -> None:
    hamt = HAMT(memory_backend)
    await hamt.set("k", b"0123456789")
    assert await hamt.get("k", offset=2, length=3) == b"234"
    assert await hamt.get("k", offset=7) == b"789"
    assert await hamt.get("k", suffix=2) == b"89"
    assert await hamt.get("k", offset=8, length=10) == b"89"  # clamped
    assert await hamt.get("k", suffix=50) == b"0123456789"
    assert await hamt.get("k", offset=20) == b""
    with pytest.raises(ValueError, match="offset must be >= 0"):
        await hamt.get("k", offset=-1)
    with pytest.raises(ValueError, match="either suffix"):
        await hamt.get("k", offset=1, suffix=1)


async def test_batches_match_one_by_one(backend) -> None:
    items = [(f"a/{i}", f"value {i}".encode()) for i in range(2000)]
    one = HAMT(backend)
    for key, value in items:
        await one.set(key, value)
    many = HAMT(backend)
    await many.set_many(items)
    assert await one.flush() == await many.flush()
    reader = await HAMT.open(backend, await many.flush())
    got = await reader.get_many([k for k, _ in items] + ["missing"])
    assert got == [v for _, v in items] + [None]


async def test_large_values_and_empty_values(backend) -> None:
    hamt = HAMT(backend)
    big = bytes(range(256)) * 5000  # 1.28 MB: stored as a UnixFS file, as py-hamt's KuboCAS
    await hamt.set("big", big)
    await hamt.set("empty", b"")
    root = await hamt.flush()
    reader = await HAMT.open(backend, root)
    assert await reader.get("big") == big
    assert await reader.get("big", offset=1_048_570, length=20) == big[1_048_570:1_048_590]
    assert await reader.get("empty") == b""


async def test_concurrent_reads_run_concurrently(backend) -> None:
    hamt = HAMT(backend)
    await hamt.set_many((f"k{i}", str(i).encode()) for i in range(500))
    reader = await HAMT.open(backend, await hamt.flush(), cache_bytes=1 << 20)
    values = await asyncio.gather(*(reader.get(f"k{i}") for i in range(500)))
    assert values == [str(i).encode() for i in range(500)]


async def test_read_only_refuses_writes(memory_backend) -> None:
    hamt = HAMT(memory_backend)
    await hamt.set("a", b"1")
    root = await hamt.make_read_only()
    assert hamt.read_only
    with pytest.raises(hamt_rs.ReadOnlyError):
        await hamt.set("b", b"2")
    await hamt.enable_write()
    await hamt.set("b", b"2")

    reader = await HAMT.open(memory_backend, root)
    for write in (reader.set("b", b"2"), reader.delete("a"), reader.set_many([("c", b"3")])):
        with pytest.raises(PermissionError, match="read-only"):
            await write
    with pytest.raises(hamt_rs.ReadOnlyError):
        await reader.enable_write()

    writer = await HAMT.open(memory_backend, root, read_only=False)
    await writer.set("b", b"2")
    assert await writer.flush() == await hamt.flush()


async def test_delete_absent_key_raises_key_error(memory_backend) -> None:
    hamt = HAMT(memory_backend)
    with pytest.raises(KeyError, match="nope"):
        await hamt.delete("nope")


async def test_build_like_py_hamt(memory_backend) -> None:
    hamt = await HAMT.build(memory_backend)
    await hamt.set("x", b"y")
    root = await hamt.make_read_only()
    again = await HAMT.build(memory_backend, root_node_id=root, read_only=True)
    assert await again.get("x") == b"y"
    with pytest.raises(ValueError, match="cannot be read-only"):
        await HAMT.build(memory_backend, read_only=True)


async def test_pickling_keeps_the_same_hamt_in_process(memory_backend) -> None:
    hamt = HAMT(memory_backend)
    await hamt.set("a", b"1")
    copy = pickle.loads(pickle.dumps(hamt))
    await copy.set("b", b"2")  # the same live HAMT
    assert await hamt.get("b") == b"2"
    assert pickle.loads(pickle.dumps(memory_backend)) == memory_backend


async def test_rocksdb_named_roots(tmp_path) -> None:
    backend = hamt_rs.RocksDbBackend(tmp_path / "db")
    hamt = HAMT(backend)
    await hamt.set("a", b"1")
    root = await hamt.flush()
    backend.set_root("latest", root)
    assert backend.root("latest") == root
    assert backend.roots() == {"latest": root}
    assert backend.root("missing") is None
    assert backend.remove_root("latest") == root
    assert backend.roots() == {}
    with pytest.raises(hamt_rs.InvalidCidError):
        backend.set_root("bad", "not-a-cid")


async def test_rocksdb_reopens_from_disk_in_a_new_process(tmp_path) -> None:
    """Data and roots survive closing the directory: a new process reads them."""
    import subprocess
    import sys

    path = tmp_path / "db"
    backend = hamt_rs.RocksDbBackend(path)
    hamt = HAMT(backend)
    await hamt.set_many((f"k{i}", bytes([i])) for i in range(100))
    backend.set_root("main", await hamt.flush())
    del hamt, backend
    script = (
        "import asyncio, hamt_rs\n"
        f"b = hamt_rs.RocksDbBackend({str(path)!r}, read_only=True)\n"
        "async def main():\n"
        "    h = await hamt_rs.HAMT.open(b, b.root('main'))\n"
        "    print(await h.len(), (await h.get('k42'))[0])\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["100", "42"]


def test_backend_reprs_hide_secrets() -> None:
    backend = hamt_rs.KuboBackend(
        "http://127.0.0.1:1",
        ["http://127.0.0.1:2"],
        headers={"Authorization": "Bearer s3cret"},
        bearer_token="t0ken",
    )
    assert "s3cret" not in repr(backend) and "t0ken" not in repr(backend)
    assert backend.writable
    assert not hamt_rs.KuboBackend(gateways=["http://127.0.0.1:2"]).writable
