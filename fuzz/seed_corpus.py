#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/corpus/<target>/.

Run from anywhere: `python3 fuzz/seed_corpus.py` (or `cargo xtask fuzz --seed`).
Deterministic: the same vectors give the same files (named by SHA-1 of their
contents, as libFuzzer names its own). Sources:

* node_decode, node_roundtrip: DAG-CBOR node blocks from the py-hamt golden
  vectors (crates/hamt/tests/vectors/*.json and, when present,
  ../shared/interop/pyhamt-vectors/*.json), a spread of sizes up to 10 KB,
  plus hand-built canonical nodes (empty, children at the edges, sha2-256 and
  CIDv0 links, unicode and empty keys, full buckets).
* cid_decode: the binary CIDs of vector blocks (node and raw codecs) plus
  CIDv0, sha2-256, identity-hash and 64-byte-digest CIDs.
* unixfs_decode: dag-pb UnixFS nodes as Kubo builds them (file roots with
  blocksizes, leaves with inline data, empty names), packed blocksizes,
  a directory, bare UnixFS Data messages.
* sharded_decode: the manifests and shards of the sharded layout's golden
  vectors (crates/hamt-sharded/tests/vectors/*.json), each after a byte
  giving the entry count a shard of it must have (its own, or one off).
* hamt_ops, hostile_dag: deterministic pseudo-random byte strings
  (arbitrary's format is opaque; libFuzzer grows them into operation
  sequences and small DAGs quickly).

Keep it small: a few dozen files per target, well under 1 MB in all.
"""

import base64
import glob
import hashlib
import json
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VECTOR_GLOBS = [
    os.path.join(ROOT, "crates/hamt/tests/vectors/*.json"),
    os.path.join(ROOT, "../shared/interop/pyhamt-vectors/*.json"),
]


def cid_bytes(text):
    assert text[0] == "b", text
    body = text[1:].upper()
    body += "=" * (-len(body) % 8)
    return base64.b32decode(body)


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def head(major, n):
    m = major << 5
    if n < 24:
        return bytes([m | n])
    if n < 0x100:
        return bytes([m | 24, n])
    if n < 0x10000:
        return bytes([m | 25]) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes([m | 26]) + n.to_bytes(4, "big")
    return bytes([m | 27]) + n.to_bytes(8, "big")


def cid_v1(codec, hash_code, digest):
    return varint(1) + varint(codec) + varint(hash_code) + varint(len(digest)) + digest


def blake3_like(data):
    # Not blake3 (no blake3 in the standard library): any 32-byte digest makes a valid CID.
    return hashlib.sha256(b"blake3-stand-in" + data).digest()


def link(cid):
    payload = b"\x00" + cid
    return head(6, 42) + head(2, len(payload)) + payload


def canonical(keys):
    return sorted(keys, key=lambda k: (len(k.encode()), k.encode()))


def node(slots):
    """slots: {index: ("child", cid) | ("bucket", {key: cid})}"""
    out = bytearray(b"\x99\x01\x00")
    for i in range(256):
        slot = slots.get(i)
        if slot is None:
            out += b"\xa0"
        elif slot[0] == "child":
            out += b"\x81" + link(slot[1])
        else:
            bucket = slot[1]
            out += head(5, len(bucket))
            for k in canonical(bucket):
                kb = k.encode()
                out += head(3, len(kb)) + kb + link(bucket[k])
    return bytes(out)


def car(roots, blocks, version=1):
    """A CAR v1 file: varint-prefixed header {roots, version}, then sections."""
    header = head(5, 2) + head(3, 5) + b"roots" + head(4, len(roots))
    for root in roots:
        header += link(root)
    header += head(3, 7) + b"version" + head(0, version)
    out = varint(len(header)) + header
    for cid, data in blocks:
        out += varint(len(cid) + len(data)) + cid + data
    return out


def pb_bytes(field, data):
    return varint((field << 3) | 2) + varint(len(data)) + data


def pb_uint(field, n):
    return varint(field << 3) + varint(n)


def unixfs(kind, data=None, filesize=None, blocksizes=(), packed=False):
    out = pb_uint(1, kind)
    if data is not None:
        out += pb_bytes(2, data)
    if filesize is not None:
        out += pb_uint(3, filesize)
    if packed and blocksizes:
        out += pb_bytes(4, b"".join(varint(b) for b in blocksizes))
    else:
        for b in blocksizes:
            out += pb_uint(4, b)
    return out


def pb_node(links, data=None):
    out = bytearray()
    for cid, name, tsize in links:
        body = pb_bytes(1, cid)
        if name is not None:
            body += pb_bytes(2, name.encode())
        if tsize is not None:
            body += pb_uint(3, tsize)
        out += pb_bytes(2, body)
    if data is not None:
        out += pb_bytes(1, data)
    return bytes(out)


def vector_blocks():
    nodes, cids = {}, {}
    for pattern in VECTOR_GLOBS:
        for path in sorted(glob.glob(pattern)):
            with open(path) as f:
                blocks = json.load(f)["blocks"]
            for cid, hexdata in sorted(blocks.items()):
                raw = cid_bytes(cid)
                cids.setdefault(cid[:7], []).append(raw)
                if cid.startswith("bafyr"):
                    nodes[raw] = bytes.fromhex(hexdata)
    return nodes, cids


def sharded_seeds():
    """Count byte + DAG-CBOR block for each manifest and shard of the
    sharded vectors (shards with their count, and one more: a wrong length)."""
    seeds = []
    for path in sorted(glob.glob(os.path.join(ROOT, "crates/hamt-sharded/tests/vectors/*.json"))):
        with open(path) as f:
            blocks = json.load(f)["blocks"]
        for cid, hexdata in sorted(blocks.items()):
            if not cid.startswith("bafyr") or hexdata is None:
                continue
            data = bytes.fromhex(hexdata)
            major, count = data[0] >> 5, data[0] & 0x1F
            if major == 4 and count < 24:  # a shard of under 24 entries
                seeds += [bytes([count]) + data, bytes([count + 1]) + data]
            elif major == 5 and len(data) <= 10_000:  # a manifest
                seeds.append(b"\x00" + data)
    return spread(seeds, 40)


def spread(items, count):
    if len(items) <= count:
        return list(items)
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def write(target, inputs):
    folder = os.path.join(HERE, "corpus", target)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for data in inputs:
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    total = sum(len(d) for d in set(inputs))
    print(f"{target}: {len(set(inputs))} files, {total} bytes")


def main():
    nodes, vector_cids = vector_blocks()
    raw_leaf = cid_v1(0x55, 0x1E, blake3_like(b"value"))
    node_cid = cid_v1(0x71, 0x1E, blake3_like(b"node"))
    sha_node = cid_v1(0x71, 0x12, hashlib.sha256(b"node").digest())
    v0 = b"\x12\x20" + hashlib.sha256(b"v0").digest()
    identity = cid_v1(0x55, 0x00, b"inline")
    wide = cid_v1(0x55, 0x13, bytes(range(64)))

    by_size = sorted((b for b in nodes.values() if len(b) <= 10_000), key=len)
    made = [
        node({}),
        node({0: ("child", node_cid), 255: ("child", sha_node)}),
        node({7: ("bucket", {"temp/c/0/0": raw_leaf})}),
        node({1: ("bucket", {"": raw_leaf, "a": v0, "é": identity, "aa": wide})}),
        node({128: ("bucket", {"x" * 23: raw_leaf, "y" * 24: raw_leaf, "z" * 300: raw_leaf})}),
        node({i: ("child", node_cid) for i in range(0, 256, 3)}),
        node({i: ("bucket", {f"k{i}": raw_leaf}) for i in range(256)}),
        node({63: ("bucket", {"ü/zarr.json": v0}), 64: ("child", v0)}),
    ]
    node_seeds = spread(by_size, 28) + made
    write("node_decode", node_seeds)
    write("node_roundtrip", node_seeds)

    cid_seeds = [raw_leaf, node_cid, sha_node, v0, identity, wide,
                 cid_v1(0x70, 0x1E, blake3_like(b"pb")), cid_v1(0x70, 0x12, hashlib.sha256(b"pb").digest())]
    for prefix in sorted(vector_cids):
        cid_seeds += spread(sorted(vector_cids[prefix]), 6)
    cid_seeds.append(raw_leaf + b"\x00")  # a trailing byte
    write("cid_decode", cid_seeds)

    leaf_a = cid_v1(0x55, 0x1E, blake3_like(b"leaf a"))
    leaf_b = cid_v1(0x55, 0x12, hashlib.sha256(b"leaf b").digest())
    inner = cid_v1(0x70, 0x1E, blake3_like(b"inner"))
    mib = 1 << 20
    unixfs_seeds = [
        pb_node([(leaf_a, "", mib), (leaf_b, "", 10)],
                unixfs(2, filesize=mib + 10, blocksizes=[mib, 10])),
        pb_node([(inner, "", 174 * mib + 2000), (leaf_a, "", mib)],
                unixfs(2, filesize=175 * mib, blocksizes=[174 * mib, mib])),
        pb_node([], unixfs(2, data=b"hello inline file", filesize=17)),
        pb_node([(leaf_a, "", 5)], unixfs(2, data=b"head", filesize=9, blocksizes=[5])),
        pb_node([(leaf_a, None, None), (v0, "x", 3)],
                unixfs(2, filesize=mib + 3, blocksizes=[mib, 3], packed=True)),
        pb_node([(leaf_a, "file.txt", 100)], unixfs(1)),
        pb_node([], unixfs(0, data=b"raw")),
        pb_node([], None),
        pb_node([(leaf_a, "", 0)], None),
        unixfs(2, data=b"data", filesize=4),
        unixfs(2, filesize=3, blocksizes=[1, 2], packed=True),
        unixfs(5, data=b"\x00\x01", filesize=0) + pb_uint(6, 256),
    ]
    write("unixfs_decode", unixfs_seeds)

    small = sorted(nodes.items(), key=lambda item: len(item[1]))[:3]
    value = b"a zarr chunk"
    value_cid = cid_v1(0x55, 0x1E, blake3_like(value))
    whole = car([small[0][0]], [(cid, data) for cid, data in small] + [(value_cid, value)])
    car_seeds = [
        whole,
        whole[: len(whole) - 5],  # truncated inside the last section
        car([], []),
        car([value_cid, sha_node], [(value_cid, value), (v0, b"v0 block")]),
        car([value_cid], [(value_cid, value)], version=2),
        car([value_cid], []) + varint(9 << 20),  # a section over the limit
        car([value_cid], [(b"\x07\x07", b"")]),  # a section without a CID
    ]
    write("car_decode", car_seeds)

    rng = random.Random(9)
    write("encrypted_value", [bytes(rng.randrange(256) for _ in range(n))
                              for n in (40, 64, 100, 200, 400, 1000)])

    write("sharded_decode", sharded_seeds())

    rng = random.Random(8)
    write("hamt_ops", [bytes(rng.randrange(256) for _ in range(n))
                       for n in (8, 16, 32, 48, 64, 96, 128, 160, 200, 256, 320, 400, 512, 768, 1024)])
    write("hostile_dag", [bytes(rng.randrange(256) for _ in range(n))
                          for n in (16, 32, 64, 128, 256, 512, 1024, 2048)])


if __name__ == "__main__":
    main()
