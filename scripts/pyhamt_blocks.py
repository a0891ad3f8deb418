"""py-hamt's blocks outside py-hamt, shared by every Python script of the
project's tests and benchmarks: an in-memory ContentAddressedStore that
addresses blocks as py-hamt's KuboCAS does, and CAR v1 files written and
read in plain Python (dag_cbor + multiformats), so py-hamt's blocks reach
this project through a CAR file and back, checked by a reader that is not
the project's.

Import it with ``sys.path.insert(0, <repo>/scripts)``.
"""

from __future__ import annotations

import io
from pathlib import Path

import dag_cbor
from multiformats import CID, multihash, varint
from py_hamt.store_httpx import ContentAddressedStore


class MemoryCAS(ContentAddressedStore):
    """Blocks in a dict, addressed as ``KuboCAS(hasher="blake3")`` addresses
    values of at most 1 MiB (CIDv1, blake3, the codec asked for): py-hamt's
    own InMemoryCAS uses bare hashes, not CIDs."""

    def __init__(self, blocks: dict[CID, bytes] | None = None) -> None:
        self.blocks: dict[CID, bytes] = dict(blocks or {})

    async def save(self, data: bytes, codec) -> CID:
        assert len(data) <= 1 << 20, "MemoryCAS holds no UnixFS files"
        cid = CID("base32", 1, codec, multihash.digest(data, "blake3", size=32))
        self.blocks[cid] = bytes(data)
        return cid

    async def load(self, id, offset=None, length=None, suffix=None) -> bytes:
        if isinstance(id, str):
            id = CID.decode(id)
        data = self.blocks[id]
        if offset is not None:
            return data[offset:] if length is None else data[offset : offset + length]
        if suffix is not None:
            return data[len(data) - suffix :] if suffix else b""
        return data


def write_car(path: Path, roots: list[CID], blocks: dict[CID, bytes]) -> None:
    """A CAR v1 of ``blocks`` (in their order) naming ``roots``."""
    header = dag_cbor.encode({"roots": list(roots), "version": 1})
    with open(path, "wb") as out:
        out.write(varint.encode(len(header)) + header)
        for cid, data in blocks.items():
            raw = bytes(cid)
            out.write(varint.encode(len(raw) + len(data)) + raw + data)


def read_car(path: Path) -> tuple[list[CID], dict[CID, bytes]]:
    """The roots and blocks of a CAR v1 of CIDv1 blocks, each block checked
    against its CID."""
    data = Path(path).read_bytes()
    stream = io.BytesIO(data)
    length, _, _ = varint.decode_raw(stream)
    header = dag_cbor.decode(stream.read(length))
    assert header["version"] == 1, header
    blocks: dict[CID, bytes] = {}
    while stream.tell() < len(data):
        length, _, _ = varint.decode_raw(stream)
        section = stream.read(length)
        assert len(section) == length, "truncated section"
        # A CIDv1: version, codec, multihash code and digest length (varints), digest.
        view = io.BytesIO(section)
        for _ in range(3):
            varint.decode_raw(view)
        digest_len, _, _ = varint.decode_raw(view)
        cid_len = view.tell() + digest_len
        cid = CID.decode(section[:cid_len])
        block = section[cid_len:]
        assert multihash.digest(block, "blake3", size=32) == cid.digest, f"{cid} fails verification"
        blocks[cid] = block
    return list(header["roots"]), blocks
