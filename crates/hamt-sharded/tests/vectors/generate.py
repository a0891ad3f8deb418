"""Golden vectors of py-hamt 3.6.0's sharded layout (ShardedZarrStore),
replayed byte for byte by crates/hamt-sharded/tests/vectors.rs.

  python generate.py OUT_DIR [RPC_URL GATEWAY_URL]

Every vector records the calls made on py-hamt's store, the root of every
flush, what the final store reads, and the blocks py-hamt wrote. Blocks
are addressed as py-hamt's KuboCAS addresses them (CIDv1, blake3, the
codec asked for); with an IPFS node's URLs the "large_value" vector runs
through a real KuboCAS, so a value over 1 MiB becomes Kubo's UnixFS file.
(The IPFS test node: ../shared/ipfs-node, or `cargo xtask ci`'s.)

Schema of a vector ({"name", "description", "steps", "final": {...}, "blocks"}):
  steps: {"store": S, "op": "new", "chunks_per_shard": N}
         {"store": S, "op": "new_v1", "array_shape": [...], "chunk_shape": [...],
          "chunks_per_shard": N}                       (py-hamt only: v1 is read-only here)
         {"store": S, "op": "put_root", "root": CID}   (a root py-hamt wrote by hand)
         {"store": S, "op": "open", "root": CID, "read_only": bool}
         {"store": S, "op": "set", "key": K, "value": HEX | {"pattern": SEED, "len": N}}
         {"store": S, "op": "set_pointer", "key": K, "cid": CID}
         {"store": S, "op": "delete", "key": K}
         {"store": S, "op": "delete_dir", "prefix": P}
         {"store": S, "op": "graft", "source_root": CID, "offset": [...],
          "source_array": P | null, "target_array": P | null}
         {"store": S, "op": "resize", "shape": [...], "array": P | null}
         {"store": S, "op": "resize_variable", "name": N, "shape": [...]}
         {"store": S, "op": "migrate", "primary_array_path": P, "root": CID}
         {"store": S, "op": "flush", "root": CID}
         {"store": S, "op": "reads", "reads": {KEY: CID | null}}  (what S reads now)
         {"op": "hamt", "entries": {KEY: HEX}, "root": CID}  (a HAMT py-hamt built)
         {"op": "convert", "hamt_root": CID, "chunks_per_shard": N, "root": CID}
         any step may carry "error": true (py-hamt raised; nothing may change)
  final: {"store": S, "root": CID, "reads": {KEY: CID | null}, "keys": [...]}
  (a read is the raw blake3 CID of the value's bytes, whatever its link)
  blocks: {CID: HEX} (blocks over 64 KiB: {CID: null}, their bytes follow
          from the values that made them; empty for a vector made through a
          real KuboCAS, whose roots alone are compared)
"""

from __future__ import annotations

import asyncio
import json
import sys
import warnings
from pathlib import Path

import dag_cbor
from multiformats import CID, multihash
from py_hamt import HAMT, ShardedZarrStore
from py_hamt.hamt_to_sharded_converter import convert_hamt_to_sharded
from py_hamt.sharded_zarr_store import SHARDED_ZARR_V2
from py_hamt.store_httpx import KuboCAS
from zarr.core.buffer import default_buffer_prototype

warnings.simplefilter("ignore")  # v1's deprecation warning

BIG = 64 * 1024

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "scripts"))
from pyhamt_blocks import MemoryCAS  # noqa: E402  (the project's shared py-hamt CAS)


def pattern(seed: int, length: int) -> bytes:
    """Deterministic bytes (xorshift64), the same as the Rust replayer's."""
    x = (seed * 0x9E3779B97F4A7C15 | 1) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while len(out) < length:
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        out += x.to_bytes(8, "little")
    return bytes(out[:length])


def meta(shape, chunks, extra=None) -> bytes:
    """A zarr v3 array's zarr.json, as zarr-python writes one (indent 2)."""
    doc = {
        "shape": list(shape),
        "data_type": "float32",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0.0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": extra or {},
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": [],
    }
    return json.dumps(doc, indent=2).encode()


GROUP = json.dumps(
    {"attributes": {}, "zarr_format": 3, "consolidated_metadata": None, "node_type": "group"},
    indent=2,
).encode()


class Recorder:
    """Runs calls on py-hamt's stores and records them as vector steps."""

    def __init__(self, cas) -> None:
        self.cas = cas
        self.stores: dict[str, ShardedZarrStore] = {}
        self.steps: list[dict] = []
        self.proto = default_buffer_prototype()

    async def run(self, store: str, op: str, **args) -> object:
        step = {"store": store, "op": op, **{k: v for k, v in args.items() if k != "data"}}
        self.steps.append(step)
        s = self.stores.get(store)
        try:
            if op == "new":
                self.stores[store] = await ShardedZarrStore.open(
                    cas=self.cas, read_only=False, chunks_per_shard=args["chunks_per_shard"],
                    manifest_version=SHARDED_ZARR_V2,
                )
            elif op == "new_v1":
                self.stores[store] = await ShardedZarrStore.open(
                    cas=self.cas, read_only=False, array_shape=tuple(args["array_shape"]),
                    chunk_shape=tuple(args["chunk_shape"]), chunks_per_shard=args["chunks_per_shard"],
                )
            elif op == "open":
                self.stores[store] = await ShardedZarrStore.open(
                    cas=self.cas, read_only=args["read_only"], root_cid=args["root"],
                )
            elif op == "set":
                value = args["data"]
                step["value"] = (
                    value.hex() if "pattern" not in args else {"pattern": args["pattern"], "len": len(value)}
                )
                step.pop("pattern", None)
                await s.set(args["key"], self.proto.buffer.from_bytes(value))
            elif op == "set_pointer":
                await s.set_pointer(args["key"], args["cid"])
            elif op == "delete":
                await s.delete(args["key"])
            elif op == "delete_dir":
                await s.delete_dir(args["prefix"])
            elif op == "graft":
                await s.graft_store(
                    args["source_root"], tuple(args["offset"]),
                    source_array_path=args["source_array"], target_array_path=args["target_array"],
                )
            elif op == "resize":
                await s.resize_store(tuple(args["shape"]), array_path=args["array"])
            elif op == "resize_variable":
                await s.resize_variable(args["name"], tuple(args["shape"]))
            elif op == "migrate":
                root = await s.migrate_v1_to_v2(args["primary_array_path"])
                step["root"] = str(root)
                return root
            elif op == "flush":
                root = await s.flush()
                step["root"] = str(root)
                return root
            else:
                raise ValueError(op)
        except (ValueError, IndexError, KeyError, RuntimeError, PermissionError) as e:
            step["error"] = True
            step["py_error"] = f"{type(e).__name__}: {e}"[:200]
        return None

    async def read_values(self, store: str, keys: list[str]) -> dict:
        """What `store` reads for `keys`: the raw blake3 CID of each value's bytes."""
        s = self.stores[store]
        reads = {}
        for key in keys:
            value = await s.get(key, self.proto)
            reads[key] = None if value is None else str(
                CID("base32", 1, "raw", multihash.digest(value.to_bytes(), "blake3", size=32))
            )
        return reads

    async def reads(self, store: str, keys: list[str]) -> None:
        self.steps.append({"store": store, "op": "reads", "reads": await self.read_values(store, keys)})

    async def final(self, store: str, probe_keys: list[str]) -> dict:
        s = self.stores[store]
        root = await s.flush()
        keys = sorted([k async for k in s.list()])
        reads = await self.read_values(store, sorted(set(probe_keys) | set(keys)))
        return {"store": store, "root": str(root), "keys": keys, "reads": reads}


def blocks_of(cas) -> dict:
    if not isinstance(cas, MemoryCAS):
        return {}
    return {str(cid): (data.hex() if len(data) <= BIG else None) for cid, data in cas.blocks.items()}


async def several_arrays(rec: Recorder):
    """A group "0" with a 3-D, a 2-D and two 1-D arrays; partial last
    shards, absent chunks, metadata over every level."""
    await rec.run("a", "new", chunks_per_shard=4)
    await rec.run("a", "set", key="zarr.json", data=GROUP)
    await rec.run("a", "set", key="0/zarr.json", data=GROUP)
    await rec.run("a", "set", key="0/temp/zarr.json", data=meta((10, 6, 4), (3, 2, 4)))
    await rec.run("a", "set", key="0/precip/zarr.json", data=meta((7, 5), (2, 2)))
    await rec.run("a", "set", key="0/lat/zarr.json", data=meta((6,), (6,)))
    await rec.run("a", "set", key="0/time/zarr.json", data=meta((10,), (4,)))
    for i in range(4):
        for j in range(3):
            if (i + j) % 3 != 1:
                await rec.run("a", "set", key=f"0/temp/c/{i}/{j}/0", data=bytes([i, j]) * 9)
    for i in range(4):
        for j in range(3):
            if i != j:
                await rec.run("a", "set", key=f"0/precip/c/{i}/{j}", data=bytes([7, i, j]) * 4)
    await rec.run("a", "set", key="0/lat/c/0", data=b"latitudes")
    await rec.run("a", "set", key="0/time/c/2", data=b"time-2")
    await rec.run("a", "flush")
    # Overwrite, then set again to the same value (no change), and reopen writable.
    await rec.run("a", "set", key="0/temp/c/0/0/0", data=b"new value")
    await rec.run("a", "set", key="0/precip/c/0/1", data=bytes([7, 0, 1]) * 4)
    root = await rec.run("a", "flush")
    await rec.run("b", "open", root=str(root), read_only=False)
    await rec.run("b", "set", key="0/time/c/1", data=b"time-1")
    # Errors: out of the grid, an array with no metadata.
    await rec.run("b", "set", key="0/temp/c/9/0/0", data=b"x")
    await rec.run("b", "set", key="0/nothing/c/0", data=b"x")
    await rec.run("b", "flush")
    return "b", ["0/temp/c/1/1/0", "0/temp/c/3/2/0", "0/precip/c/3/3", "0/nothing/c/0", "0/temp/c/9/0/0"]


async def shard_sizes(rec: Recorder):
    """One chunk per shard, and one shard for everything (6,250 chunks)."""
    for name, cps in (("one", 1), ("big", 6250)):
        await rec.run(name, "new", chunks_per_shard=cps)
        await rec.run(name, "set", key="zarr.json", data=GROUP)
        await rec.run(name, "set", key="g/a/zarr.json", data=meta((50, 40), (5, 5)))
        for i in range(10):
            await rec.run(name, "set", key=f"g/a/c/{i}/{(i * 3) % 8}", data=bytes([i]) * 16)
        await rec.run(name, "flush")
    return "big", ["g/a/c/9/3", "g/a/c/0/1"]


async def graft(rec: Recorder):
    """Two pieces written apart, grafted into one array at chunk offsets."""
    roots = []
    for n, piece in enumerate(("p0", "p1")):
        await rec.run(piece, "new", chunks_per_shard=3)
        await rec.run(piece, "set", key="zarr.json", data=GROUP)
        await rec.run(piece, "set", key="0/temp/zarr.json", data=meta((4, 4), (2, 2)))
        for i in range(2):
            for j in range(2):
                await rec.run(piece, "set", key=f"0/temp/c/{i}/{j}", data=bytes([n, i, j]) * 5)
        roots.append(await rec.run(piece, "flush"))
    await rec.run("all", "new", chunks_per_shard=3)
    await rec.run("all", "set", key="zarr.json", data=GROUP)
    await rec.run("all", "set", key="0/temp/zarr.json", data=meta((8, 4), (2, 2)))
    await rec.run("all", "graft", source_root=str(roots[0]), offset=[0, 0], source_array=None, target_array=None)
    await rec.run("all", "graft", source_root=str(roots[1]), offset=[2, 0], source_array="0/temp", target_array="0/temp")
    await rec.run("all", "graft", source_root=str(roots[1]), offset=[3, 1], source_array=None, target_array=None)
    await rec.run("all", "flush")
    return "all", ["0/temp/c/3/1", "0/temp/c/0/0"]


async def resize(rec: Recorder):
    """Growth along time (the fast path), then a resize that moves chunks,
    then resize_variable (zarr.json rewritten with indent=2)."""
    await rec.run("r", "new", chunks_per_shard=4)
    await rec.run("r", "set", key="zarr.json", data=GROUP)
    await rec.run("r", "set", key="0/temp/zarr.json", data=meta((4, 6), (2, 2)))
    for i in range(2):
        for j in range(3):
            await rec.run("r", "set", key=f"0/temp/c/{i}/{j}", data=bytes([i * 3 + j]) * 6)
    await rec.run("r", "flush")
    await rec.run("r", "resize", shape=[10, 6], array=None)
    await rec.run("r", "set", key="0/temp/c/4/2", data=b"grown")
    await rec.run("r", "flush")
    await rec.run("r", "resize", shape=[10, 3], array="0/temp")
    await rec.run("r", "flush")
    await rec.run("r", "resize_variable", name="0/temp", shape=[12, 8])
    await rec.run("r", "flush")
    return "r", ["0/temp/c/1/1", "0/temp/c/1/2", "0/temp/c/4/2"]


async def deletes(rec: Recorder):
    """Deleting chunks, metadata, a whole array, then everything."""
    await rec.run("d", "new", chunks_per_shard=2)
    await rec.run("d", "set", key="zarr.json", data=GROUP)
    await rec.run("d", "set", key="0/a/zarr.json", data=meta((4,), (1,)))
    await rec.run("d", "set", key="0/b/zarr.json", data=meta((4,), (2,)))
    for i in range(4):
        await rec.run("d", "set", key=f"0/a/c/{i}", data=bytes([i]) * 3)
    for i in range(2):
        await rec.run("d", "set", key=f"0/b/c/{i}", data=bytes([9, i]))
    await rec.run("d", "flush")
    await rec.run("d", "delete", key="0/a/c/1")
    await rec.run("d", "delete", key="0/a/c/0")
    await rec.run("d", "delete", key="0/a/c/3")
    await rec.run("d", "flush")
    await rec.run("d", "delete", key="0/b/c/0")
    await rec.run("d", "delete_dir", prefix="0/b")
    await rec.run("d", "delete", key="0/zarr.json")
    await rec.run("d", "flush")
    await rec.run("e", "new", chunks_per_shard=2)
    await rec.run("e", "set", key="zarr.json", data=GROUP)
    await rec.run("e", "set", key="0/a/zarr.json", data=meta((2,), (1,)))
    await rec.run("e", "set", key="0/a/c/0", data=b"gone")
    await rec.run("e", "delete_dir", prefix="")
    await rec.run("e", "set", key="zarr.json", data=GROUP)
    await rec.run("e", "flush")
    return "d", ["0/a/c/1", "0/a/c/2", "0/b/c/1", "0/b/zarr.json"]


async def v1_and_migration(rec: Recorder):
    """A v1 root (one index, coordinate arrays in the metadata map), read
    here and migrated to v2; and a legacy v1 root without
    primary_array_path, whose primary is inferred."""
    await rec.run("v", "new_v1", array_shape=[6, 4], chunk_shape=[3, 2], chunks_per_shard=3)
    await rec.run("v", "set", key="zarr.json", data=GROUP)
    await rec.run("v", "set", key="temp/zarr.json", data=meta((6, 4), (3, 2)))
    await rec.run("v", "set", key="lat/zarr.json", data=meta((6,), (6,)))
    await rec.run("v", "set", key="lat/c/0", data=b"coordinate chunk")
    for i in range(2):
        for j in range(2):
            await rec.run("v", "set", key=f"temp/c/{i}/{j}", data=bytes([i, j, 1]) * 3)
    root = await rec.run("v", "flush")
    # The same root with primary_array_path removed: a legacy root.
    raw = await rec.cas.load(root)
    legacy = dag_cbor.decode(raw)
    del legacy["chunks"]["primary_array_path"]
    legacy_root = await rec.cas.save(dag_cbor.encode(legacy), codec="dag-cbor")
    rec.steps.append({"store": "l", "op": "put_root", "root": str(legacy_root)})
    await rec.run("l", "open", root=str(legacy_root), read_only=True)
    await rec.reads("l", ["temp/c/0/1", "lat/c/0", "c/0/0", "temp/zarr.json", "lat/zarr.json"])
    await rec.run("r", "open", root=str(root), read_only=True)
    await rec.reads("r", ["temp/c/1/0", "lat/c/0", "temp/c/0/0"])
    await rec.run("m", "open", root=str(root), read_only=False)
    await rec.run("m", "migrate", primary_array_path="0/temp")
    await rec.run("m", "set", key="0/temp/c/1/1", data=b"after migration")
    await rec.run("m", "flush")
    return "m", ["0/temp/c/0/1", "0/lat/c/0", "lat/c/0", "0/temp/c/1/1"]


async def consolidated(rec: Recorder):
    """The root zarr.json of a store whose arrays all sit in groups loses its
    consolidated metadata (json.dumps re-encoding); a top-level array right
    after the root group is refused (an explicit group is required)."""
    await rec.run("c", "new", chunks_per_shard=5)
    await rec.run("c", "set", key="0/temp/zarr.json", data=meta((4,), (2,), {"units": "K", "é": 1.5e-7}))
    root_meta = json.dumps({
        "attributes": {"title": "consolidated"},
        "zarr_format": 3,
        "consolidated_metadata": {"kind": "inline", "must_understand": False, "metadata": {}},
        "node_type": "group",
    }, indent=2).encode()
    await rec.run("c", "set", key="zarr.json", data=root_meta)
    await rec.run("c", "set", key="0/temp/c/1", data=b"chunk")
    await rec.run("c", "flush")
    await rec.run("t", "new", chunks_per_shard=5)
    await rec.run("t", "set", key="zarr.json", data=GROUP)
    await rec.run("t", "set", key="temp/zarr.json", data=meta((4,), (2,)))
    await rec.run("t", "flush")
    return "c", ["zarr.json", "temp/zarr.json", "0/temp/c/1"]


async def conversion(rec: Recorder):
    """A HAMT of a zarr dataset (v3 and classic v2 chunk keys) converted to
    the sharded layout by CID copies (py-hamt's convert_hamt_to_sharded)."""
    hamt = await HAMT.build(cas=rec.cas, values_are_bytes=True)
    entries = {
        "zarr.json": GROUP,
        "0/zarr.json": GROUP,
        "0/temp/zarr.json": meta((6, 4), (2, 2)),
        "0/old/.zarray": json.dumps({"shape": [4], "chunks": [2], "zarr_format": 2}).encode(),
        "0/old/.zattrs": b"{}",
    }
    for i in range(3):
        for j in range(2):
            entries[f"0/temp/c/{i}/{j}"] = bytes([i, j]) * 7
    entries["0/old/0"] = b"classic slash"
    entries["0/old/1"] = b"classic slash 1"
    for key, value in entries.items():
        await hamt.set(key, value)
    await hamt.make_read_only()
    hamt_root = str(hamt.root_node_id)
    rec.steps.append({"op": "hamt", "entries": {k: v.hex() for k, v in entries.items()}, "root": hamt_root})
    root = await convert_hamt_to_sharded(rec.cas, hamt_root, 4)
    rec.steps.append({"op": "convert", "hamt_root": hamt_root, "chunks_per_shard": 4, "root": str(root)})
    await rec.run("x", "open", root=str(root), read_only=True)
    return "x", ["0/old/c/0", "0/temp/c/2/1", "0/old/0"]


async def large_value(rec: Recorder):
    """A chunk over 1 MiB: KuboCAS stores it as a UnixFS file."""
    await rec.run("big", "new", chunks_per_shard=4)
    await rec.run("big", "set", key="zarr.json", data=GROUP)
    await rec.run("big", "set", key="0/img/zarr.json", data=meta((4,), (1,)))
    await rec.run("big", "set", key="0/img/c/1", data=pattern(7, 3 * (1 << 20) + 123), pattern=7)
    await rec.run("big", "set", key="0/img/c/2", data=b"small")
    await rec.run("big", "flush")
    return "big", ["0/img/c/1", "0/img/c/2"]


VECTORS = [several_arrays, shard_sizes, graft, resize, deletes, v1_and_migration, consolidated, conversion]


async def write(out: Path, make, cas) -> None:
    rec = Recorder(cas)
    final_store, probes = await make(rec)
    final = await rec.final(final_store, probes)
    vector = {
        "name": make.__name__,
        "description": make.__doc__.strip(),
        "steps": rec.steps,
        "final": final,
        "blocks": blocks_of(cas),
    }
    path = out / f"{make.__name__}.json"
    path.write_text(json.dumps(vector, indent=1, sort_keys=False) + "\n")
    print(f"{path}: {len(rec.steps)} steps, root {final['root']}")


async def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for make in VECTORS:
        await write(out, make, MemoryCAS())
    if len(sys.argv) >= 4:
        async with KuboCAS(rpc_base_url=sys.argv[2], gateway_base_url=sys.argv[3]) as kubo:
            await write(out, large_value, kubo)


if __name__ == "__main__":
    asyncio.run(main())
