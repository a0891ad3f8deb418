"""A zarr-python v3 store over the HAMT: py-hamt's ``ZarrHAMTStore`` (and,
with an encryption key, its ``SimpleEncryptedZarrHAMTStore``), in Rust."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any, Self

import zarr.abc.store
from zarr.abc.store import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    SuffixByteRequest,
)
from zarr.core.buffer import Buffer, BufferPrototype

from . import _native
from ._ready import resolved
from .errors import ReadOnlyError
from .hamt import HAMT

__all__ = ["ZarrHamtStore"]


class _CoreStore(zarr.abc.store.Store):
    """The zarr-python store methods over a native core (``self._core``):
    shared by :class:`ZarrHamtStore` and
    :class:`~hamt_rs.ShardedZarrStore`, whose cores differ only in layout."""

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_partial_writes: bool = False
    supports_listing: bool = True

    _core: _native.HamtCore

    def _check_writable(self) -> None:
        # What the native view says: this store is read-only, or the HAMT
        # is (opened so, or frozen by make_read_only(), also after this
        # store was made).
        if self._core.refuses_writes:
            raise ReadOnlyError(
                "store was opened in read-only mode and does not support writing"
            )

    # ------------------------------------------------------------------ reads

    async def get(
        self,
        key: str,
        prototype: BufferPrototype,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        if byte_range is None:
            value = await resolved(self._core.get(key))
        else:
            value = await resolved(self._core.get(key, *_range_args(key, byte_range)))
        if value is None:
            return None
        return prototype.buffer.from_bytes(value)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        requests = [(key, *_range_args(key, byte_range)) for key, byte_range in key_ranges]
        values = await resolved(self._core.get_ranges(requests))
        from_bytes = prototype.buffer.from_bytes
        return [None if v is None else from_bytes(v) for v in values]

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncIterator[tuple[str, Buffer | None]]:
        requests = list(requests)
        values = await resolved(
            self._core.get_ranges(
                [(key, *_range_args(key, byte_range)) for key, _, byte_range in requests]
            )
        )
        for (key, prototype, _), value in zip(requests, values, strict=True):
            yield key, None if value is None else prototype.buffer.from_bytes(value)

    async def exists(self, key: str) -> bool:
        return await resolved(self._core.contains(key))

    async def getsize(self, key: str) -> int:
        size = await resolved(self._core.size(key))
        if size is None:
            raise FileNotFoundError(key)
        return size

    async def getsize_prefix(self, prefix: str) -> int:
        return await resolved(self._core.size_prefix(prefix))

    async def is_empty(self, prefix: str) -> bool:
        if prefix != "" and not prefix.endswith("/"):
            prefix += "/"
        keys = await self._keys(prefix)
        return not keys

    async def _keys(self, prefix: str) -> list[str]:
        return await resolved(self._core.keys(prefix))

    async def list(self) -> AsyncIterator[str]:
        for key in await self._keys(""):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in await self._keys(prefix):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        for name in await resolved(self._core.list_dir(prefix)):
            yield name

    # ----------------------------------------------------------------- writes

    async def set(self, key: str, value: Buffer) -> None:
        if not isinstance(value, Buffer):
            raise TypeError(f"Store.set(): expected a zarr Buffer, got {type(value).__name__}")
        await resolved(self._core.set(key, value.to_bytes()))

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        if not await self.exists(key):
            await self.set(key, value)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        await resolved(self._core.set_many([(key, value.to_bytes()) for key, value in values]))

    async def set_partial_values(
        self, key_start_values: Iterable[tuple[str, int, bytes | bytearray | memoryview]]
    ) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not support partial writes")

    async def delete(self, key: str) -> None:
        await resolved(self._core.delete(key))

    async def delete_dir(self, prefix: str) -> None:
        if prefix != "" and not prefix.endswith("/"):
            prefix += "/"
        await resolved(self._core.delete_prefix(prefix))

    async def clear(self) -> None:
        await resolved(self._core.clear())


class ZarrHamtStore(_CoreStore):
    """A zarr v3 store whose keys and values live in a :class:`~hamt_rs.HAMT`.

    Keys are stored verbatim (``"temp/c/0/0/0"``), values as raw blocks,
    exactly as py-hamt 3.6.0's ``ZarrHAMTStore`` does, so the same dataset
    gives the same root CID, and a dataset written by either opens on the
    other.

    With ``encryption_key`` (32 bytes) every value, metadata included, is
    encrypted as py-hamt's ``SimpleEncryptedZarrHAMTStore(hamt, read_only,
    encryption_key, header)`` does: XChaCha20-Poly1305 with ``header`` as
    associated data. A wrong key or header raises
    :class:`~hamt_rs.DecryptionError` naming the key.

    Write, then read back from the root CID::

        hamt = hamt_rs.HAMT(backend)
        ds.to_zarr(hamt_rs.ZarrHamtStore(hamt), mode="w", zarr_format=3)
        root = await hamt.flush()
        store = await hamt_rs.ZarrHamtStore.from_root(backend, root)
        xr.open_zarr(store)

    ``read_only=True`` refuses writes (:class:`~hamt_rs.ReadOnlyError`, a
    ``PermissionError`` and the ``ValueError`` zarr-python expects); a store
    over a HAMT opened from a root CID must be read-only. Absent keys read
    as ``None``, as the zarr ``Store`` ABC says.
    """

    hamt: HAMT
    """The HAMT holding the data: ``await store.hamt.flush()`` gives the root CID."""

    def __init__(
        self,
        hamt: HAMT,
        *,
        read_only: bool = False,
        encryption_key: bytes | None = None,
        header: bytes = b"",
    ) -> None:
        super().__init__(read_only=read_only)
        if not isinstance(hamt, HAMT):
            raise TypeError(f"expected a hamt_rs.HAMT, got {type(hamt).__name__}")
        core = hamt._core
        if not read_only and core.read_only:
            raise ValueError(
                "this HAMT was opened read-only from a root CID: pass read_only=True, "
                "or open it with HAMT.open(backend, root_cid, read_only=False) to write"
            )
        if encryption_key is not None:
            core = core.with_encryption(bytes(encryption_key), bytes(header))
        # The native view refuses every write through this store when it is
        # read-only, or when the HAMT is (opened so, or frozen).
        self.hamt = hamt
        self._core = core.with_read_only(read_only)
        self._encryption = None if encryption_key is None else (bytes(encryption_key), bytes(header))

    @classmethod
    async def from_root(
        cls,
        backend: Any,
        root_cid: str,
        *,
        encryption_key: bytes | None = None,
        header: bytes = b"",
        cache_bytes: int | None = None,
    ) -> Self:
        """A read-only store over the dataset whose HAMT root is ``root_cid``."""
        hamt = await HAMT.open(backend, root_cid, read_only=True, cache_bytes=cache_bytes)
        return cls(hamt, read_only=True, encryption_key=encryption_key, header=header)

    @classmethod
    async def from_ref(
        cls,
        backend: Any,
        revision: str,
        *,
        encryption_key: bytes | None = None,
        header: bytes = b"",
        cache_bytes: int | None = None,
    ) -> Self:
        """A read-only store over the dataset a revision of ``backend``'s
        history names (a :class:`~hamt_rs.RocksDbBackend`): a branch, a tag
        or a commit CID, then ``~N`` (N commits back) or ``@{TIME}`` (the
        newest commit at or before TIME: Unix seconds, ``YYYY-MM-DD`` or
        ``YYYY-MM-DDTHH:MM:SSZ``, UTC)::

            store = await ZarrHamtStore.from_ref(backend, "main@{2026-12-01}")
            xr.open_zarr(store)
        """
        if not _native.HAS_ROCKSDB or not isinstance(backend, _native.RocksDbBackend):
            raise ValueError(
                f"from_ref needs a RocksDbBackend (where branches and tags live), got {type(backend).__name__}"
            )
        # Off the event loop: resolving reads the disk.
        root = await asyncio.to_thread(_native.Repository(backend).checkout, revision)
        return await cls.from_root(
            backend, root, encryption_key=encryption_key, header=header, cache_bytes=cache_bytes
        )

    async def flush(self) -> str:
        """Writes every change to the backend; returns the root CID."""
        return await self.hamt.flush()

    @property
    def root_cid(self) -> str | None:
        """The root CID, or ``None`` while there are unflushed changes."""
        return self._core.root_cid

    def with_read_only(self, read_only: bool = False) -> Self:
        """The same HAMT as a new (not yet open) store with this read-only flag."""
        key, header = self._encryption or (None, b"")
        return type(self)(self.hamt, read_only=read_only, encryption_key=key, header=header)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ZarrHamtStore):
            return False
        if self._core.same_as(other._core):
            return True
        # Different handles on the same flushed data are the same dataset.
        root = self._core.root_cid
        return (
            root is not None
            and root == other._core.root_cid
            and self._core.backend == other._core.backend
            and self._encryption == other._encryption
        )

    def __repr__(self) -> str:
        root = self._core.root_cid or "<unflushed>"
        kind = "encrypted, " if self._encryption else ""
        return f"ZarrHamtStore(root={root}, {kind}read_only={self.read_only})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles the store to reopen its flushed root elsewhere. The pickle
        holds the encryption key (and the backend's credentials) in clear:
        treat it as a secret (see the package README)."""
        key, header = self._encryption or (None, b"")
        return (_restore_store, (type(self), self.hamt, self.read_only, key, header))

def _range_args(key: str, byte_range: ByteRequest | None) -> tuple[int | None, int | None, int | None]:
    """``(offset, length, suffix)`` for the native core, checked."""
    if byte_range is None:
        return (None, None, None)
    if isinstance(byte_range, RangeByteRequest):
        if byte_range.start < 0 or byte_range.end < byte_range.start:
            raise ValueError(
                f"{key!r}: invalid byte range [{byte_range.start}, {byte_range.end}): "
                "need 0 <= start <= end"
            )
        return (byte_range.start, byte_range.end - byte_range.start, None)
    if isinstance(byte_range, OffsetByteRequest):
        if byte_range.offset < 0:
            raise ValueError(f"{key!r}: negative byte offset {byte_range.offset}")
        return (byte_range.offset, None, None)
    if isinstance(byte_range, SuffixByteRequest):
        if byte_range.suffix < 0:
            raise ValueError(f"{key!r}: negative suffix length {byte_range.suffix}")
        return (None, None, byte_range.suffix)
    raise TypeError(f"Unexpected byte_range, got {byte_range}.")


def _restore_store(
    cls: type[ZarrHamtStore],
    hamt: HAMT,
    read_only: bool,
    key: bytes | None,
    header: bytes,
) -> ZarrHamtStore:
    return cls(hamt, read_only=read_only, encryption_key=key, header=header)
