"""The one protocol of native calls: a result now, or a future of it.

A native call returns its result directly when it finished without I/O (a
write into the buffer, a read from memory or the node cache), or an asyncio
Future when it had to wait for I/O, so a call that needs no I/O costs no
thread hop and no event-loop wake-up. Every caller awaits
``resolved(call)``, whatever the call returns.
"""

from __future__ import annotations

from asyncio import Future
from typing import Any

__all__ = ["resolved"]


async def resolved(result: Any) -> Any:
    """``result`` itself, or what it resolves to if it is a Future."""
    if isinstance(result, Future):
        return await result
    return result
