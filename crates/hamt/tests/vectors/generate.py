"""Writes golden vectors with py-hamt 3.6.0 itself, in the schema of
../shared/interop/pyhamt-vectors/README.md, for shapes the shared set does not
reach: deep trees (bucket sizes 1 and 2), folds on delete at every depth,
intermediate flushes, overwrites and non-ASCII keys.

Run: python generate.py   (with py-hamt 3.6.0 installed: scripts/python-env.sh)
"""

import asyncio
import json
import random
from pathlib import Path

import dag_cbor
import py_hamt
from multiformats import CID, multihash
from py_hamt import HAMT
from py_hamt.store_httpx import ContentAddressedStore

OUT = Path(__file__).parent


class OfflineKuboCAS(ContentAddressedStore):
    """What KuboCAS(hasher="blake3") returns for blocks of at most 1 MiB."""

    def __init__(self):
        self.blocks: dict[CID, bytes] = {}

    async def save(self, data: bytes, codec) -> CID:
        cid = CID("base32", 1, codec, multihash.digest(data, "blake3", size=32))
        self.blocks[cid] = bytes(data)
        return cid

    async def load(self, id, offset=None, length=None, suffix=None) -> bytes:
        data = self.blocks[id]
        if offset is not None:
            end = None if length is None else offset + length
            return data[offset:end]
        if suffix is not None:
            return data[-suffix:] if suffix else b""
        return data


def reachable(cas: OfflineKuboCAS, root: CID) -> set[CID]:
    seen, stack = set(), [root]
    while stack:
        cid = stack.pop()
        if cid in seen:
            continue
        seen.add(cid)
        for slot in dag_cbor.decode(cas.blocks[cid]):
            if isinstance(slot, list):
                stack.append(slot[0])
            else:
                seen.update(slot.values())
    return seen


def depth_stats(cas, root):
    nodes, max_depth, stack = 0, 0, [(root, 0)]
    while stack:
        cid, d = stack.pop()
        nodes += 1
        max_depth = max(max_depth, d)
        for slot in dag_cbor.decode(cas.blocks[cid]):
            if isinstance(slot, list):
                stack.append((slot[0], d + 1))
    return nodes, max_depth


async def make(name, description, bucket, ops):
    cas = OfflineKuboCAS()
    hamt = await HAMT.build(cas=cas, values_are_bytes=True, max_bucket_size=bucket)
    model: dict[str, bytes] = {}
    recorded = []
    for op in ops:
        if op[0] == "set":
            _, key, value = op
            await hamt.set(key, value)
            model[key] = value
            recorded.append({"op": "set", "key": key, "value": value.hex()})
        elif op[0] == "delete":
            await hamt.delete(op[1])
            del model[op[1]]
            recorded.append({"op": "delete", "key": op[1]})
        else:
            await hamt.make_read_only()
            recorded.append({"op": "flush", "root_cid": str(hamt.root_node_id)})
            await hamt.enable_write()
    await hamt.make_read_only()
    root = hamt.root_node_id
    entries = {k: str(await hamt.get_pointer(k)) for k in model}
    for k, v in model.items():
        assert await hamt.get(k) == v
    # The shape must not depend on history: a fresh build of the survivors agrees.
    fresh_cas = OfflineKuboCAS()
    fresh = await HAMT.build(cas=fresh_cas, values_are_bytes=True, max_bucket_size=bucket)
    for k in sorted(model):
        await fresh.set(k, model[k])
    await fresh.make_read_only()
    assert fresh.root_node_id == root, name
    nodes, max_depth = depth_stats(cas, root)
    reach = reachable(cas, root)
    vector = {
        "name": name,
        "description": description,
        "py_hamt_version": "3.6.0",
        "params": {
            "max_bucket_size": bucket,
            "values_are_bytes": True,
            "hash_fn": "blake3, 32-byte digest of the UTF-8 key",
            "cas": "OfflineKuboCAS (generate.py): CIDv1, blake3-256, dag-cbor nodes, raw values",
        },
        "operations": recorded,
        "root_cid": str(root),
        "entries": entries,
        "reachable": sorted(str(c) for c in reach),
        "blocks": {str(c): b.hex() for c, b in cas.blocks.items() if c in reach},
        "stats": {
            "node_count": nodes,
            "max_depth": max_depth,
            "key_count": len(model),
            "block_count": len(reach),
            "equals_fresh_build_of_survivors": True,
        },
    }
    (OUT / f"{name}.json").write_text(json.dumps(vector, indent=1, ensure_ascii=False) + "\n")
    print(name, "root", root, "nodes", nodes, "depth", max_depth, "keys", len(model))


def value(rng, n=8):
    return bytes(rng.randrange(256) for _ in range(n))


async def main():
    assert py_hamt.__name__ == "py_hamt"
    rng = random.Random(20261126)

    keys = [f"temp/c/{i}/{j}" for i in range(12) for j in range(15)]
    ops = [("set", k, value(rng)) for k in keys]
    ops.append(("flush",))
    order = keys[:]
    rng.shuffle(order)
    for i, k in enumerate(order[:150]):
        ops.append(("delete", k))
        if i % 50 == 49:
            ops.append(("flush",))
    await make("bucket1_deep_deletes", "max_bucket_size 1: 180 keys, a flush, then 150 deletes with flushes; folds at every depth", 1, ops)

    keys = [f"precip/c/{i}/0/{j}" for i in range(20) for j in range(20)]
    ops = [("set", k, value(rng)) for k in keys]
    order = keys[:]
    rng.shuffle(order)
    ops += [("delete", k) for k in order[:320]]
    ops.append(("flush",))
    ops += [("set", k, value(rng)) for k in order[:60]]
    ops += [("set", k, value(rng)) for k in order[300:340]]
    await make("bucket2_churn", "max_bucket_size 2: 400 inserts, 320 deletes, a flush, 100 re-inserts and overwrites", 2, ops)

    keys = ["zarr.json", "é", "ü/zarr.json", "日本/c/0", "a", "bb", "aaa", "Ω" * 3, "x" * 200, "🌍/c/1/2"]
    ops = [("set", k, value(rng, 4)) for k in keys]
    ops += [("set", "a", b"same"), ("set", "bb", b"same"), ("set", "a", b"other")]
    ops += [("delete", "é"), ("flush",), ("set", "é", b"")]
    await make("unicode_and_overwrites", "non-ASCII and long keys, equal values sharing a block, overwrites, an empty value", 4, ops)

    keys = [f"t2m/c/{d}/{y}/{x}" for d in range(40) for y in range(6) for x in range(6)]
    rng.shuffle(keys)
    ops = [("set", k, value(rng, 4)) for k in keys]
    ops += [("delete", k) for k in keys[:1000]]
    await make("bucket3_1440_then_1000_deletes", "max_bucket_size 3: 1,440 keys in shuffled order, then 1,000 deletes", 3, ops)

    keys = [f"sst/c/{i}" for i in range(700)]
    ops = [("set", k, value(rng, 2)) for k in keys]
    ops += [("delete", k) for k in keys[::7]]
    await make("bucket1_600_deep", "max_bucket_size 1: 700 keys, every seventh deleted; a deep final tree", 1, ops)


asyncio.run(main())
