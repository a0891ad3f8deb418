"""The map: a HAMT of ``str`` keys to ``bytes`` values, shaped like
py-hamt's :class:`py_hamt.HAMT`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, Self

from . import _native
from ._ready import resolved

__all__ = ["HAMT"]


class HAMT:
    """A HAMT of ``str`` keys to ``bytes`` values on a backend.

    ``HAMT(backend)`` is a new, empty, writable map. ``await HAMT.open(backend,
    root_cid)`` opens an existing one read-only (pass ``read_only=False`` to
    change it: changes then start a new root). Changes stay in memory until
    :meth:`flush`, which writes them and returns the root CID, the same one
    py-hamt 3.6.0 gives for the same keys and values.

    Every method is a coroutine, as in py-hamt. Calls that need no I/O
    complete without leaving the calling thread; :meth:`set_many` and
    :meth:`get_many` do a whole batch in one call.

    ``cache_bytes`` bounds the cache of decoded nodes (default 64 MiB).
    """

    __slots__ = ("_core",)

    def __init__(self, backend: Any, *, cache_bytes: int | None = None) -> None:
        self._core = _native.HamtCore.new(backend, cache_bytes)

    @classmethod
    def _wrap(cls, core: _native.HamtCore, frozen: bool = False) -> Self:
        # `frozen`: pickles made before the core kept the frozen state.
        hamt = cls.__new__(cls)
        hamt._core = core
        if frozen:
            core.freeze()
        return hamt

    @classmethod
    async def open(
        cls,
        backend: Any,
        root_cid: str,
        *,
        read_only: bool = True,
        cache_bytes: int | None = None,
    ) -> Self:
        """The HAMT whose root is ``root_cid`` on ``backend``.

        Raises :class:`~hamt_rs.InvalidCidError` for a string that is not a
        CID, :class:`~hamt_rs.MissingBlockError` if the backend does not hold
        the root, :class:`~hamt_rs.CorruptBlockError` if it is not a HAMT node.
        """
        return cls._wrap(
            await resolved(_native.HamtCore.open(backend, root_cid, not read_only, cache_bytes))
        )

    @classmethod
    async def build(
        cls,
        backend: Any,
        root_node_id: str | None = None,
        read_only: bool = False,
        *,
        cache_bytes: int | None = None,
    ) -> Self:
        """py-hamt's ``HAMT.build``: a new map, or the one at ``root_node_id``."""
        if root_node_id is None:
            if read_only:
                raise ValueError("a new, empty HAMT cannot be read-only: give root_node_id")
            return cls(backend, cache_bytes=cache_bytes)
        return await cls.open(
            backend, str(root_node_id), read_only=read_only, cache_bytes=cache_bytes
        )

    # ------------------------------------------------------------------ state

    @property
    def backend(self) -> Any:
        """The backend the HAMT lives on."""
        return self._core.backend

    @property
    def read_only(self) -> bool:
        """Whether writes are refused (opened from a root CID read-only, or
        after :meth:`make_read_only`)."""
        return self._core.refuses_writes

    @property
    def root_cid(self) -> str | None:
        """The root CID, or ``None`` while there are unflushed changes."""
        return self._core.root_cid

    @property
    def root_node_id(self) -> str | None:
        """py-hamt's name for :attr:`root_cid`."""
        return self._core.root_cid

    async def flush(self) -> str:
        """Writes every change to the backend; returns the root CID."""
        return await resolved(self._core.flush())

    async def make_read_only(self) -> str:
        """py-hamt's ``make_read_only``: flushes, then refuses writes until
        :meth:`enable_write`. Returns the root CID."""
        return await resolved(self._core.flush_and_freeze())

    async def enable_write(self) -> None:
        """Accepts writes again after :meth:`make_read_only`. A HAMT opened
        read-only from a root CID stays read-only: open it with
        ``read_only=False`` instead."""
        self._core.unfreeze()

    # ------------------------------------------------------------------ reads

    async def get(
        self,
        key: str,
        offset: int | None = None,
        length: int | None = None,
        suffix: int | None = None,
    ) -> bytes:
        """The value of ``key``, or the bytes ``offset``/``length``/``suffix``
        select (as py-hamt: clamped to the value's end). Raises
        :class:`KeyError` if there is no such key."""
        if offset is not None or length is not None or suffix is not None:
            _check_range(offset, length, suffix)
        value = await resolved(self._core.get(key, offset, length, suffix))
        if value is None:
            raise KeyError(key)
        return value

    async def get_many(self, keys: Iterable[str]) -> list[bytes | None]:
        """The values of ``keys``, in order, ``None`` where absent; read
        concurrently in one call."""
        return await resolved(self._core.get_many(list(keys)))

    async def contains(self, key: str) -> bool:
        """Whether ``key`` is present."""
        return await resolved(self._core.contains(key))

    async def keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Every key (starting with ``prefix``), sorted."""
        for key in await resolved(self._core.keys(prefix)):
            yield key

    async def len(self) -> int:
        """Number of keys (py-hamt's ``len``)."""
        return await resolved(self._core.len())

    # ----------------------------------------------------------------- writes

    async def set(self, key: str, value: bytes) -> None:
        """Sets ``key`` to ``value``."""
        await resolved(self._core.set(key, value))

    async def set_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Sets every ``(key, value)`` in one call (hashed in parallel); the
        same root as setting them one by one."""
        await resolved(self._core.set_many(list(items)))

    async def delete(self, key: str) -> None:
        """Removes ``key``; raises :class:`KeyError` if it is not there."""
        if not await resolved(self._core.delete(key)):
            raise KeyError(key)

    def __repr__(self) -> str:
        root = self._core.root_cid or "<unflushed>"
        return f"HAMT(root={root}, read_only={self.read_only}, backend={self._core.backend!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (HAMT._wrap, (self._core,))


def _check_range(offset: int | None, length: int | None, suffix: int | None) -> None:
    """py-hamt's rules for a byte range, as :class:`ValueError`."""
    if suffix is not None:
        if offset is not None or length is not None:
            raise ValueError("give either suffix, or offset and/or length, not both")
        if suffix < 0:
            raise ValueError(f"suffix must be >= 0, got {suffix}")
    if offset is not None and offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if length is not None and length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
