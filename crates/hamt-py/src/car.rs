//! CAR v1 files for Python (`hamt_rs.export_car`, `hamt_rs.import_car`): a
//! dataset of either layout out of a backend as one file, or into one, as
//! `ipfs dag export` / `ipfs dag import` move it between IPFS nodes.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use hamt_car::dag::{check_complete, export_dag, import_car as import_dag};
use pyo3::prelude::*;

use crate::backend::{parse_cid, store_of};
use crate::errors::Error;
use crate::ready::ready_or_await;

/// Writes `root` and every block it reaches to the CAR file `path` (through
/// `path.partial`, synced and renamed when complete, so neither a failed
/// export nor a crash leaves a CAR that looks whole); returns `(blocks, bytes)`.
#[pyfunction]
pub(crate) fn export_car<'py>(
    py: Python<'py>,
    backend: &Bound<'py, PyAny>,
    root: &str,
    path: PathBuf,
) -> PyResult<Bound<'py, PyAny>> {
    let root = parse_cid(root)?;
    let store = store_of(backend)?;
    ready_or_await(py, true, async move {
        let partial = hamt_car::partial_path(&path);
        let io = |op: &str, source| Error::Io {
            op: format!("{op} {}", partial.display()),
            source,
        };
        let also = hamt_zarr::links_inside_files(store.clone(), root)
            .await
            .map_err(|source| Error::Dataset {
                op: format!("read the index of {root}, which cannot be exported without it"),
                source,
                read_only: None,
            })?;
        let file = File::create(&partial).map_err(|e| io("create", e))?;
        let written = export_dag(store.as_ref(), root, &also, BufWriter::new(file)).await;
        let result = match written {
            Ok((out, sent)) => hamt_car::publish(out, &partial, &path)
                .map_err(|e| io("sync to disk and rename", e))
                .map(|()| (sent.blocks, sent.bytes)),
            Err(source) => Err(Error::Car {
                op: format!("export {root} to {}", path.display()),
                source: Box::new(source),
            }),
        };
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    })
}

/// Reads the CAR file `path` into the backend, every block verified against
/// its CID and every root's DAG checked complete; returns `(roots, blocks,
/// bytes)`.
#[pyfunction]
pub(crate) fn import_car<'py>(
    py: Python<'py>,
    backend: &Bound<'py, PyAny>,
    path: PathBuf,
) -> PyResult<Bound<'py, PyAny>> {
    let store = store_of(backend)?;
    ready_or_await(py, true, async move {
        let file = File::open(&path).map_err(|source| Error::Io {
            op: format!("open {}", path.display()),
            source,
        })?;
        let car_error = |source| Error::Car {
            op: format!("import {}", path.display()),
            source: Box::new(source),
        };
        let (roots, received) = import_dag(store.as_ref(), BufReader::new(file))
            .await
            .map_err(car_error)?;
        // A sharded store's index may hold links its blocks' links do not show.
        for &root in &roots {
            let also = hamt_zarr::links_inside_files(store.clone(), root)
                .await
                .map_err(|source| Error::Dataset {
                    op: format!("read the index of {root} from {}", path.display()),
                    source,
                    read_only: None,
                })?;
            if !also.is_empty() {
                check_complete(store.as_ref(), root, &also)
                    .await
                    .map_err(car_error)?;
            }
        }
        let roots: Vec<String> = roots.iter().map(ToString::to_string).collect();
        Ok((roots, received.blocks, received.bytes))
    })
}
