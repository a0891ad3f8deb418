"""Sharded reads side by side in one run (see compare_sharded.sh): one xarray
dataset written, then read back cold (a fresh store opened from the root),
on three stores, all through zarr-python + xarray:

  hamt_rs sharded   hamt_rs.ShardedZarrStore (this project, py-hamt's sharded layout)
  hamt_rs HAMT      hamt_rs.ZarrHamtStore (this project, the HAMT layout)
  py-hamt sharded   py_hamt.ShardedZarrStore 3.6.0

Reads: the time series at one grid point (`t2m[:, y, x]`: one chunk per
time step, each in its own shard, since a time step's chunks fill a shard),
and the whole array. Backends: memory (hamt_rs.MemoryBackend / an in-memory
py-hamt CAS) and the IPFS node at IPFS_API_URL / IPFS_GATEWAY_URL (KuboBackend
/ KuboCAS). Runs are interleaved, REPEATS of each; prints one line per
measurement and a JSON summary of the medians.

  python compare_sharded.py BACKEND T REPEATS      (BACKEND: memory | ipfs)
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import py_hamt
import xarray as xr
from py_hamt.sharded_zarr_store import SHARDED_ZARR_V2

import hamt_rs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from pyhamt_blocks import MemoryCAS  # noqa: E402

LAT, LON = 180, 360
CHUNK = (1, 18, 36)  # 10 x 10 chunks per time step
PER_SHARD = 100  # one time step's chunks per shard
POINT = (97, 211)  # (lat, lon) index of the time series


def dataset(n_time: int) -> xr.Dataset:
    rng = np.random.default_rng(1)
    t2m = rng.normal(280.0, 10.0, (n_time, LAT, LON)).astype("float32")
    return xr.Dataset(
        {"t2m": (("time", "lat", "lon"), t2m)},
        coords={"time": np.arange(n_time), "lat": np.linspace(-89.5, 89.5, LAT),
                "lon": np.linspace(0.5, 359.5, LON)},
    )


ENCODING = {"t2m": {"chunks": CHUNK, "compressors": None}}


def to_zarr(ds: xr.Dataset, store) -> None:
    ds.to_zarr(store, mode="w", zarr_format=3, group="0", consolidated=False, encoding=ENCODING)


def open_zarr(store) -> xr.Dataset:
    return xr.open_zarr(store, group="0", consolidated=False)


class Side:
    """One store kind: how it writes a dataset and opens a root for reading."""

    def __init__(self, name: str, backend, write, open_root) -> None:
        self.name, self.backend, self.write, self.open_root = name, backend, write, open_root


def sides(kind: str, kubo_cas) -> list[Side]:
    if kind == "memory":
        ours = hamt_rs.MemoryBackend()
        theirs = MemoryCAS()
    else:
        ours = hamt_rs.KuboBackend(os.environ["IPFS_API_URL"], [os.environ["IPFS_GATEWAY_URL"]])
        theirs = kubo_cas

    async def write_sharded(ds):
        store = await hamt_rs.ShardedZarrStore.open(ours, False, chunks_per_shard=PER_SHARD)
        to_zarr(ds, store)
        return await store.flush()

    async def open_sharded(root):
        return await hamt_rs.ShardedZarrStore.from_root(ours, root)

    async def write_hamt(ds):
        hamt = hamt_rs.HAMT(ours)
        to_zarr(ds, hamt_rs.ZarrHamtStore(hamt))
        return await hamt.flush()

    async def open_hamt(root):
        return await hamt_rs.ZarrHamtStore.from_root(ours, root)

    async def write_py(ds):
        store = await py_hamt.ShardedZarrStore.open(
            cas=theirs, read_only=False, chunks_per_shard=PER_SHARD, manifest_version=SHARDED_ZARR_V2)
        to_zarr(ds, store)
        return str(await store.flush())

    async def open_py(root):
        return await py_hamt.ShardedZarrStore.open(cas=theirs, read_only=True, root_cid=root)

    return [
        Side("hamt_rs sharded", ours, write_sharded, open_sharded),
        Side("hamt_rs HAMT", ours, write_hamt, open_hamt),
        Side("py-hamt sharded", theirs, write_py, open_py),
    ]


async def timed(coro_fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = await coro_fn()
    return time.perf_counter() - start, result


async def main(kind: str, n_time: int, repeats: int) -> None:
    ds = dataset(n_time)
    want_series = ds.t2m.values[:, POINT[0], POINT[1]]
    results: dict[str, dict[str, list[float]]] = {}
    kubo_cas = None
    if kind == "ipfs":
        kubo_cas = py_hamt.KuboCAS(rpc_base_url=os.environ["IPFS_API_URL"],
                                   gateway_base_url=os.environ["IPFS_GATEWAY_URL"],
                                   headers={"Accept": "application/vnd.ipld.raw"})
    all_sides = sides(kind, kubo_cas)
    roots = {}
    for side in all_sides:
        seconds, roots[side.name] = await timed(lambda: side.write(ds))
        results.setdefault(side.name, {}).setdefault("write", []).append(seconds)
        print(f"{kind} {side.name:<16} write       {seconds:8.3f} s", file=sys.stderr)
    if kind == "memory":
        # (Through a node py-hamt's root zarr.json depends on a race between
        # zarr-python's write of it and py-hamt's own: see the interop tests.)
        assert roots["hamt_rs sharded"] == roots["py-hamt sharded"], roots

    for _ in range(repeats):
        for side in all_sides:  # interleaved: each side once per round
            async def series():
                store = await side.open_root(roots[side.name])
                return open_zarr(store).t2m[:, POINT[0], POINT[1]].values

            async def whole():
                store = await side.open_root(roots[side.name])
                return open_zarr(store).t2m.values

            seconds, got = await timed(series)
            assert np.array_equal(got, want_series), side.name
            results[side.name].setdefault("series", []).append(seconds)
            print(f"{kind} {side.name:<16} series      {seconds:8.3f} s", file=sys.stderr)
            seconds, got = await timed(whole)
            assert np.array_equal(got, ds.t2m.values), side.name
            results[side.name].setdefault("whole", []).append(seconds)
            print(f"{kind} {side.name:<16} whole array {seconds:8.3f} s", file=sys.stderr)
    if kubo_cas is not None:
        await kubo_cas.aclose()
    medians = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    chunks = n_time * (LAT // CHUNK[1]) * (LON // CHUNK[2])
    print(json.dumps({"backend": kind, "time_steps": n_time, "chunks": chunks,
                      "chunk_bytes": CHUNK[1] * CHUNK[2] * 4, "chunks_per_shard": PER_SHARD,
                      "repeats": repeats, "medians_s": medians}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
