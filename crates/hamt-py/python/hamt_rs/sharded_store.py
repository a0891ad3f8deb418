"""py-hamt 3.6.0's ``ShardedZarrStore`` in Rust: a zarr-python v3 store on
the sharded layout, where a root manifest holds, per zarr array, shards of
chunk CIDs in C order, so a chunk is found by arithmetic and one shard read.
The same writes give the same root CID as py-hamt's, and a dataset written
by either opens on the other."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Self

from . import _native
from ._ready import resolved
from .zarr_store import _CoreStore

__all__ = ["DEFAULT_CHUNKS_PER_SHARD", "ShardedZarrStore", "convert_hamt_to_sharded"]

#: py-hamt's default chunks per shard (its converter's default).
DEFAULT_CHUNKS_PER_SHARD: int = _native.DEFAULT_CHUNKS_PER_SHARD


class ShardedZarrStore(_CoreStore):
    """A zarr v3 store on py-hamt's sharded layout, shaped like py-hamt's
    ``ShardedZarrStore``::

        store = await hamt_rs.ShardedZarrStore.open(backend, read_only=False, chunks_per_shard=6250)
        ds.to_zarr(store, mode="w", zarr_format=3, group="0")  # v2 wants a group
        root = await store.flush()
        store = await hamt_rs.ShardedZarrStore.open(backend, read_only=True, root_cid=root)
        xr.open_zarr(store, group="0")

    Reads of a store whose arrays all sit in one group are redirected into
    it, as py-hamt's are, so ``xr.open_zarr(store)`` works too. A
    ``sharded_zarr_v1`` root opens read-only; :meth:`migrate_v1_to_v2`
    rewrites it (open it with ``read_only=False`` first).
    """

    def __init__(self, core: _native.HamtCore, *, read_only: bool) -> None:
        super().__init__(read_only=read_only)
        if core.layout != "sharded":
            raise ValueError("the root is a HAMT, not a sharded store: use ZarrHamtStore")
        self._base = core
        self._core = core.with_read_only(read_only)

    @classmethod
    async def open(
        cls,
        backend: Any,
        read_only: bool,
        root_cid: str | None = None,
        *,
        chunks_per_shard: int | None = None,
        cache_bytes: int | None = None,
    ) -> Self:
        """py-hamt's ``ShardedZarrStore.open``: the store at ``root_cid``, or
        (writable, no root) a new v2 store with ``chunks_per_shard``."""
        if root_cid is None:
            if read_only:
                raise ValueError("root_cid must be provided for a read-only store.")
            if not isinstance(chunks_per_shard, int) or chunks_per_shard <= 0:
                raise ValueError("chunks_per_shard must be a positive integer.")
            core = _native.HamtCore.new_sharded(backend, chunks_per_shard, cache_bytes)
        else:
            core = await resolved(
                _native.HamtCore.open(backend, str(root_cid), not read_only, cache_bytes)
            )
        store = cls(core, read_only=read_only)
        await store._open()
        return store

    @classmethod
    async def from_root(cls, backend: Any, root_cid: str, *, cache_bytes: int | None = None) -> Self:
        """A read-only store over the sharded dataset whose manifest is ``root_cid``."""
        return await cls.open(backend, True, root_cid, cache_bytes=cache_bytes)

    async def flush(self) -> str:
        """Writes changed shards, then the manifest; returns the root CID."""
        return await resolved(self._base.flush())

    @property
    def root_cid(self) -> str | None:
        """The root CID, or ``None`` while there are unflushed changes."""
        return self._base.root_cid

    def with_read_only(self, read_only: bool = False) -> Self:
        """The same store as a view with this read-only flag; for a store
        opened read-only, ``read_only=False`` gives a writable fork of it
        (made in memory, without I/O), whose writes this store does not see."""
        base = self._base
        if not read_only and base.read_only:
            base = base.fork_writable()
        return type(self)(base, read_only=read_only)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShardedZarrStore):
            return False
        root = self._base.root_cid
        return self._base.same_as(other._base) or (root is not None and root == other._base.root_cid)

    def __repr__(self) -> str:
        return f"ShardedZarrStore(root={self._base.root_cid or '<unflushed>'}, read_only={self.read_only})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_sharded, (self._base, self.read_only))

    # ------------------------------------------------------ bulk and ETL

    async def set_pointer(self, key: str, pointer: str) -> None:
        """Points ``key`` at the existing block ``pointer`` (a CID), moving no data."""
        self._check_writable()
        await resolved(self._core.set_pointer(key, str(pointer)))

    async def graft_store(
        self,
        store_to_graft_cid: str,
        chunk_offset: Sequence[int],
        *,
        source_array_path: str | None = None,
        target_array_path: str | None = None,
    ) -> None:
        """Links every chunk of another sharded store in at ``chunk_offset``
        (chunk coordinates); as py-hamt, a chunk that does not fit stops it
        with a ``ValueError``."""
        self._check_writable()
        await resolved(
            self._core.graft(
                str(store_to_graft_cid), list(chunk_offset), source_array_path, target_array_path
            )
        )

    async def resize_store(self, new_shape: Sequence[int], *, array_path: str | None = None) -> None:
        """Resizes an array's shard index (default: the first array)."""
        self._check_writable()
        await resolved(self._core.resize(list(new_shape), array_path))

    async def resize_variable(self, variable_name: str, new_shape: Sequence[int]) -> None:
        """Sets the shape in ``variable_name``'s ``zarr.json`` and resizes its index."""
        self._check_writable()
        await resolved(self._core.resize_variable(variable_name, list(new_shape)))

    async def migrate_v1_to_v2(self, primary_array_path: str) -> str:
        """Rewrites a ``sharded_zarr_v1`` root as v2 under ``primary_array_path``; the new root."""
        self._check_writable()
        return await resolved(self._core.migrate_v1_to_v2(primary_array_path))


async def convert_hamt_to_sharded(
    backend: Any, hamt_root_cid: str, chunks_per_shard: int = DEFAULT_CHUNKS_PER_SHARD
) -> str:
    """py-hamt's ``convert_hamt_to_sharded``: the HAMT dataset at
    ``hamt_root_cid`` rewritten as a sharded store by copying CIDs only;
    returns the sharded root. Chunk keys outside their arrays' grids are
    dropped, as py-hamt drops them (with a ``UserWarning`` naming them)."""
    root, dropped = await resolved(
        _native.convert_hamt_to_sharded(backend, str(hamt_root_cid), chunks_per_shard)
    )
    if dropped:
        shown = ", ".join(repr(k) for k in dropped[:5])
        warnings.warn(
            f"convert_hamt_to_sharded dropped {len(dropped)} chunk keys outside their "
            f"arrays' grids, as py-hamt does: {shown}{', ...' if len(dropped) > 5 else ''}",
            stacklevel=2,
        )
    return root


def _restore_sharded(core: _native.HamtCore, read_only: bool) -> ShardedZarrStore:
    return ShardedZarrStore(core, read_only=read_only)
