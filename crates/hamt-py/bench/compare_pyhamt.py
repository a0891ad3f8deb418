"""hamt_rs against py-hamt 3.6.0, side by side in one run, same data.

Map (the workloads of benches/compare_pyhamt.py, W1 and W2):
  W1  N `set` of zarr-style keys (temp/c/i/j/k) with 64-byte values into an
      empty map on an in-memory store, then flush (py-hamt: make_read_only).
  W2  open a fresh read-only handle on the flushed root (cold node cache)
      and `get` every key, checking each value.
hamt_rs runs each both one call at a time (`await set` / `await get` in a
Python loop, as py-hamt code does) and batched (`set_many` / `get_many`).

xarray: write a dataset of many small chunks with `to_zarr` through the
zarr store, flush, then reopen from the root and load it all, checking it
(py-hamt: ZarrHAMTStore; hamt_rs: ZarrHamtStore; both in memory).

  python compare_pyhamt.py [N=100000] [REPEATS=3]

The floor is the same xarray workload on zarr-python's own MemoryStore (a
dict): what zarr, numcodecs and xarray cost with no store work at all.

Prints a Markdown table; hamt_rs times are the best of REPEATS (py-hamt
runs once: it takes minutes). Run through bench/run.sh, which builds a
release wheel first.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import numpy as np
import py_hamt
import xarray as xr
from py_hamt.store_httpx import InMemoryCAS

import hamt_rs


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../benches"))
from workload import chunk_key, chunk_value  # noqa: E402


# ------------------------------------------------------------------ map

async def py_hamt_map(keys, values) -> tuple[float, float, str]:
    cas = InMemoryCAS()
    start = time.perf_counter()
    hamt = await py_hamt.HAMT.build(cas=cas, values_are_bytes=True)
    for key, value in zip(keys, values):
        await hamt.set(key, value)
    await hamt.make_read_only()
    w1 = time.perf_counter() - start
    root = hamt.root_node_id
    start = time.perf_counter()
    reader = py_hamt.HAMT(cas=cas, root_node_id=root, read_only=True, values_are_bytes=True)
    for key, value in zip(keys, values):
        if await reader.get(key) != value:
            raise SystemExit(f"py-hamt: wrong value for {key}")
    w2 = time.perf_counter() - start
    return w1, w2, str(root)


async def hamt_rs_map(keys, values, batched: bool) -> tuple[float, float, str]:
    backend = hamt_rs.MemoryBackend()
    start = time.perf_counter()
    hamt = hamt_rs.HAMT(backend)
    if batched:
        await hamt.set_many(zip(keys, values))
    else:
        for key, value in zip(keys, values):
            await hamt.set(key, value)
    root = await hamt.flush()
    w1 = time.perf_counter() - start
    start = time.perf_counter()
    reader = await hamt_rs.HAMT.open(backend, root)
    if batched:
        if await reader.get_many(keys) != values:
            raise SystemExit("hamt_rs: wrong values")
    else:
        for key, value in zip(keys, values):
            if await reader.get(key) != value:
                raise SystemExit(f"hamt_rs: wrong value for {key}")
    w2 = time.perf_counter() - start
    return w1, w2, root


# --------------------------------------------------------------- xarray

def dataset() -> xr.Dataset:
    """365 days on a 2° grid, two float32 variables in 10×15×15 chunks
    (9 KB each): 2 × 37 × 6 × 12 = 5,328 chunks, NaNs included."""
    rng = np.random.default_rng(1)
    shape = (365, 90, 180)
    temp = rng.normal(285.0, 12.0, shape).astype("float32")
    temp[rng.random(shape) < 0.01] = np.nan
    precip = rng.gamma(0.6, 3.0, shape).astype("float32")
    return xr.Dataset(
        {"temp": (("time", "lat", "lon"), temp), "precip": (("time", "lat", "lon"), precip)},
        coords={"time": np.arange(365), "lat": np.linspace(-89, 89, 90),
                "lon": np.linspace(0, 358, 180)},
    )


ENCODING = {name: {"chunks": (10, 15, 15)} for name in ("temp", "precip")}


def xarray_round_trip(ds: xr.Dataset, make_store, flush, reopen) -> tuple[float, float, str]:
    start = time.perf_counter()
    store, handle = make_store()
    ds.to_zarr(store, mode="w", zarr_format=3, consolidated=False, encoding=ENCODING)
    root = flush(handle)
    write = time.perf_counter() - start
    start = time.perf_counter()
    back = xr.open_zarr(reopen(root), consolidated=False).load()
    read = time.perf_counter() - start
    xr.testing.assert_identical(ds, back)
    return write, read, str(root)


def py_hamt_xarray(ds):
    cas = InMemoryCAS()

    def make():
        hamt = asyncio.run(py_hamt.HAMT.build(cas=cas, values_are_bytes=True))
        return py_hamt.ZarrHAMTStore(hamt, read_only=False), hamt

    def flush(hamt):
        asyncio.run(hamt.make_read_only())
        return hamt.root_node_id

    def reopen(root):
        hamt = asyncio.run(py_hamt.HAMT.build(cas=cas, root_node_id=root, read_only=True,
                                              values_are_bytes=True))
        return py_hamt.ZarrHAMTStore(hamt, read_only=True)

    return xarray_round_trip(ds, make, flush, reopen)


def hamt_rs_xarray(ds):
    backend = hamt_rs.MemoryBackend()

    def make():
        hamt = hamt_rs.HAMT(backend)
        return hamt_rs.ZarrHamtStore(hamt), hamt

    def flush(hamt):
        return asyncio.run(hamt.flush())

    def reopen(root):
        return asyncio.run(hamt_rs.ZarrHamtStore.from_root(backend, root))

    return xarray_round_trip(ds, make, flush, reopen)


def zarr_memory_xarray(ds):
    """The floor: zarr-python's own MemoryStore (a dict), no HAMT at all."""
    import zarr.storage

    stores = {}

    def make():
        store = zarr.storage.MemoryStore()
        stores["last"] = store
        return store, store

    return xarray_round_trip(ds, make, lambda store: "-", lambda root: stores["last"])


# ----------------------------------------------------------------- main

def best(runs):
    return tuple(min(r[i] for r in runs) for i in range(2)) + (runs[0][2],)


def main(n: int, repeats: int) -> None:
    keys = [chunk_key(i) for i in range(n)]
    values = [chunk_value(i) for i in range(n)]
    print(f"N={n}, hamt_rs best of {repeats}; py-hamt {py_hamt.__name__} 3.6.0 once", flush=True)

    py = asyncio.run(py_hamt_map(keys, values))
    print(f"py-hamt map: W1 {py[0]:.2f} s, W2 {py[1]:.2f} s", flush=True)
    one = best([asyncio.run(hamt_rs_map(keys, values, batched=False)) for _ in range(repeats)])
    many = best([asyncio.run(hamt_rs_map(keys, values, batched=True)) for _ in range(repeats)])
    roots_equal = "no (py-hamt's InMemoryCAS links by bare hashes, not CIDs)"

    ds = dataset()
    pyx = py_hamt_xarray(ds)
    print(f"py-hamt xarray: write {pyx[0]:.2f} s, read {pyx[1]:.2f} s", flush=True)
    rsx = best([hamt_rs_xarray(ds) for _ in range(repeats)])
    floor = best([zarr_memory_xarray(ds) for _ in range(repeats)])

    def row(name, ours, theirs):
        return f"| {name} | {theirs:.3f} s | {ours:.3f} s | {theirs / ours:.1f}× |"

    print()
    print("| workload | py-hamt 3.6.0 | hamt_rs | × py-hamt |")
    print("| --- | ---: | ---: | ---: |")
    print(row(f"W1: {n:,} `set` + flush, one call each", one[0], py[0]))
    print(row(f"W1: {n:,} keys, `set_many` + flush", many[0], py[0]))
    print(row(f"W2: {n:,} `get`, one call each", one[1], py[1]))
    print(row(f"W2: {n:,} keys, `get_many`", many[1], py[1]))
    print(row("xarray write (`to_zarr` + flush), 5,328 chunks", rsx[0], pyx[0]))
    print(row("xarray full read (`open_zarr` + `load`)", rsx[1], pyx[1]))
    print(row("xarray write + read", rsx[0] + rsx[1], pyx[0] + pyx[1]))
    print(f"| floor: the same xarray write + read on zarr's MemoryStore (a dict) | "
          f"{floor[0]:.3f} + {floor[1]:.3f} s | | py-hamt at most "
          f"{(pyx[0] + pyx[1]) / (floor[0] + floor[1]):.1f}× slower than any store can go |")
    print(f"| store time above that floor (write + read) | "
          f"{pyx[0] + pyx[1] - floor[0] - floor[1]:.3f} s | "
          f"{rsx[0] + rsx[1] - floor[0] - floor[1]:.3f} s | "
          f"{(pyx[0] + pyx[1] - floor[0] - floor[1]) / max(rsx[0] + rsx[1] - floor[0] - floor[1], 1e-3):.1f}× |")
    print()
    print(f"hamt_rs roots: one-by-one {one[2]}, batched {many[2]} (equal: {one[2] == many[2]}); "
          f"py-hamt same root: {roots_equal}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 3)
