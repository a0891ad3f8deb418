"""py-hamt 3.6.0's KuboCAS side of the Kubo throughput comparison (see
compare_kubo.sh): raw blocks of ~200 B and ~64 KiB, put then got back, with
1 and 32 requests in flight, on the daemon at IPFS_API_URL / IPFS_GATEWAY_URL.
The same counts, sizes and block shapes as the Rust side
(`crates/hamt-kubo/tests/daemon.rs`, test `throughput`), with a fresh salt so
neither side finds the other's blocks already stored.

Prints one line per case, then one JSON line of the rates.
"""

import asyncio
import json
import os
import sys
import time

from py_hamt import KuboCAS


async def case(api: str, gateway: str, concurrency: int, size: int) -> dict:
    count = 2000 if size < 1024 else 300
    salt = f"py-{time.time_ns()}-{os.getpid()}"
    blocks = [f"{salt}-{i}-{'x' * size}".encode() for i in range(count)]
    async with KuboCAS(
        rpc_base_url=api, gateway_base_url=gateway, concurrency=concurrency
    ) as cas:
        start = time.perf_counter()
        cids = await asyncio.gather(*(cas.save(b, codec="raw") for b in blocks))
        put = time.perf_counter() - start
        start = time.perf_counter()
        got = await asyncio.gather(*(cas.load(c) for c in cids))
        get = time.perf_counter() - start
    if [bytes(g) for g in got] != blocks:
        raise SystemExit("KuboCAS returned different bytes")
    print(
        f"concurrency {concurrency:>2}, {count} blocks of ~{size} B: "
        f"put {count / put:>7.0f}/s ({put:.2f}s), get {count / get:>7.0f}/s ({get:.2f}s)",
        file=sys.stderr,
    )
    return {"concurrency": concurrency, "size": size, "count": count,
            "put_per_s": count / put, "get_per_s": count / get}


async def main() -> None:
    api, gateway = os.environ["IPFS_API_URL"], os.environ["IPFS_GATEWAY_URL"]
    results = []
    for concurrency in (1, 32):
        for size in (200, 64 * 1024):
            results.append(await case(api, gateway, concurrency, size))
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
