//! Interop with py-hamt 3.6.0 + zarr-python, both ways, plain and encrypted:
//! a dataset written by py-hamt's `ZarrHAMTStore` (or
//! `SimpleEncryptedZarrHAMTStore`) is exported as blocks, loaded here and
//! read with zarrs; a dataset written here is exported and read by
//! zarr-python through py-hamt (tests/py/interop.py). The same for py-hamt's
//! `ShardedZarrStore`, through CAR files: an xarray Dataset and zarr arrays
//! written by py-hamt read here with zarrs, and the same written here with
//! zarrs read there with xarray and zarr-python.
//!
//! Needs Python >= 3.12 (scripts/python-env.sh makes the venv). Without it
//! the tests fail when `CI` is set, and otherwise say so loudly and pass.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::Case;
use hamt::{BlockStore, Cid, HamtConfig};
use hamt_car::dag::{export_dag, import_car};
use hamt_store::{Block, MemoryStore};
use hamt_zarr::{ShardedConfig, ShardedZarrStore, ZarrHamtError, ZarrHamtStore};
use serde_json::{Value, json};
use zarrs::array::data_type;
use zarrs::group::GroupBuilder;
use zarrs_storage::{
    AsyncListableStorageTraits, AsyncReadableStorageTraits, StoreKey, StorePrefix,
};

const KEY: [u8; 32] = [0x5a; 32];
const HEADER: &str = "hamt-zarr-interop";

/// The arrays both sides write and check: four dtypes, 1-D to 4-D, gzip on
/// and off, ragged edge chunks, and regions left unwritten (fill values).
struct Cases {
    bytes: Case<u8>,
    shorts: Case<i16>,
    ints: Case<i32>,
    floats: Case<f32>,
}

fn cases() -> Cases {
    let mut shorts = Case::whole(
        "/g/i16_2d",
        &[37, 23],
        &[10, 8],
        data_type::int16(),
        -9999i16,
        false,
    );
    shorts.written = vec![0..25, 5..23];
    let mut floats = Case::whole(
        "/g/f32_3d",
        &[6, 10, 12],
        &[2, 4, 5],
        data_type::float32(),
        f32::NAN,
        true,
    );
    floats.written = vec![0..3, 2..9, 0..12];
    Cases {
        bytes: Case::whole("/g/u8_1d", &[100], &[30], data_type::uint8(), 7u8, true),
        shorts,
        ints: Case::whole(
            "/i32_4d",
            &[3, 4, 5, 6],
            &[2, 3, 2, 4],
            data_type::int32(),
            0i32,
            false,
        ),
        floats,
    }
}

impl Cases {
    fn spec(&self) -> Value {
        json!({
            "groups": ["g"],
            "root_members": ["g", "i32_4d"],
            "arrays": [self.bytes.spec(), self.shorts.spec(), self.ints.spec(), self.floats.spec()],
        })
    }

    async fn write(
        &self,
        store: &Arc<impl zarrs_storage::AsyncReadableWritableStorageTraits + 'static>,
    ) {
        for path in ["/", "/g"] {
            let group = GroupBuilder::new().build(store.clone(), path).unwrap();
            group.async_store_metadata().await.unwrap();
        }
        self.bytes.write(store).await;
        self.shorts.write(store).await;
        self.ints.write(store).await;
        self.floats.write(store).await;
    }

    async fn check(&self, store: &Arc<impl AsyncReadableStorageTraits + 'static>) {
        self.bytes.check(store).await;
        self.shorts.check(store).await;
        self.ints.check(store).await;
        self.floats.check(store).await;
    }
}

// ------------------------------------------------------------------ python

/// The venv python with py-hamt 3.6.0, or None (after saying so loudly) when
/// Python >= 3.12 is missing and this is not CI.
fn python() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python-env.sh");
    let out = Command::new("bash").arg(&script).output();
    let failure = match out {
        Ok(out) if out.status.success() => {
            return Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()));
        }
        Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
        Err(e) => e.to_string(),
    };
    let message = format!("py-hamt interop NOT TESTED: no Python >= 3.12 venv ({failure})");
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! {message}\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    None
}

/// Runs tests/py/interop.py with `args`, failing the test with its output if it fails.
fn run_py(python: &Path, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/interop.py");
    let out = Command::new(python)
        .arg("-W")
        .arg("ignore")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "interop.py {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hamt-zarr-{}-{name}", std::process::id()))
}

fn encryption_args() -> Vec<String> {
    vec![hex::encode(KEY), HEADER.to_owned()]
}

// ------------------------------------------------------------------ blocks

fn export(blocks: &MemoryStore) -> Value {
    let rt = tokio::runtime::Handle::current();
    let map: serde_json::Map<String, Value> = blocks
        .cids()
        .into_iter()
        .map(|cid| {
            let data = tokio::task::block_in_place(|| rt.block_on(blocks.get(&cid))).unwrap();
            (cid.to_string(), Value::String(hex::encode(data)))
        })
        .collect();
    Value::Object(map)
}

async fn import(dump: &Value) -> (Arc<MemoryStore>, Cid) {
    let blocks = Arc::new(MemoryStore::new());
    for (cid, data) in dump["blocks"].as_object().unwrap() {
        let cid = Cid::try_from(cid.as_str()).unwrap();
        let block =
            Block::verified(cid, hex::decode(data.as_str().unwrap()).unwrap().into()).unwrap();
        blocks.put_block(block).await.unwrap();
    }
    let root = Cid::try_from(dump["root"].as_str().unwrap()).unwrap();
    (blocks, root)
}

/// Has Python write the cases (encrypted when `args` holds a key and header)
/// and returns its blocks and root.
async fn written_by_python(
    python: &Path,
    cases: &Cases,
    name: &str,
    args: &[String],
) -> (Arc<MemoryStore>, Cid) {
    let spec = temp_file(&format!("{name}-spec.json"));
    let out = temp_file(&format!("{name}-out.json"));
    std::fs::write(&spec, cases.spec().to_string()).unwrap();
    let mut command = vec!["write", spec.to_str().unwrap(), out.to_str().unwrap()];
    command.extend(args.iter().map(String::as_str));
    run_py(python, &command);
    let dump: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(spec);
    let _ = std::fs::remove_file(out);
    import(&dump).await
}

/// Has Python read and check the cases from `blocks` at `root`.
fn read_by_python(
    python: &Path,
    cases: &Cases,
    blocks: &MemoryStore,
    root: Cid,
    name: &str,
    args: &[String],
) {
    let mut dump = cases.spec();
    dump["root"] = Value::String(root.to_string());
    dump["blocks"] = export(blocks);
    let input = temp_file(&format!("{name}-in.json"));
    std::fs::write(&input, dump.to_string()).unwrap();
    let mut command = vec!["read", input.to_str().unwrap()];
    command.extend(args.iter().map(String::as_str));
    let stdout = run_py(python, &command);
    let _ = std::fs::remove_file(input);
    assert!(stdout.contains("ok"), "{stdout}");
}

// ----------------------------------------------------------------- sharded

/// The sharded interop's data: an xarray Dataset's variables in group "0"
/// (named dimensions, every chunk written), and zarr arrays in group "g"
/// with regions left unwritten (absent chunks: null shard entries).
struct ShardedCases {
    temp: Case<f32>,
    elevation: Case<i16>,
    bytes: Case<u8>,
    ints: Case<i32>,
}

/// Small shards, so every array spans several with a partial last one.
const INTEROP_CHUNKS_PER_SHARD: u64 = 5;

fn sharded_cases() -> ShardedCases {
    let mut bytes = Case::whole("/g/u8_1d", &[100], &[30], data_type::uint8(), 7u8, true);
    bytes.written = std::iter::once(10..70).collect(); // one dimension
    let mut ints = Case::whole(
        "/g/i32_4d",
        &[3, 4, 5, 6],
        &[2, 3, 2, 4],
        data_type::int32(),
        0i32,
        false,
    );
    ints.written = vec![0..2, 0..4, 0..5, 0..6];
    ShardedCases {
        temp: Case::whole(
            "/0/temp",
            &[6, 10, 12],
            &[2, 4, 5],
            data_type::float32(),
            f32::NAN,
            true,
        )
        .with_dimension_names(),
        elevation: Case::whole(
            "/0/elevation",
            &[37, 23],
            &[10, 8],
            data_type::int16(),
            -9999i16,
            false,
        )
        .with_dimension_names(),
        bytes,
        ints,
    }
}

impl ShardedCases {
    fn spec(&self) -> Value {
        json!({
            "chunks_per_shard": INTEROP_CHUNKS_PER_SHARD,
            "xarray": [self.temp.spec(), self.elevation.spec()],
            "arrays": [self.bytes.spec(), self.ints.spec()],
        })
    }

    async fn write(
        &self,
        store: &Arc<impl zarrs_storage::AsyncReadableWritableStorageTraits + 'static>,
    ) {
        for path in ["/", "/0", "/g"] {
            let group = GroupBuilder::new().build(store.clone(), path).unwrap();
            group.async_store_metadata().await.unwrap();
        }
        self.temp.write(store).await;
        self.elevation.write(store).await;
        self.bytes.write(store).await;
        self.ints.write(store).await;
    }

    async fn check(&self, store: &Arc<impl AsyncReadableStorageTraits + 'static>) {
        self.temp.check(store).await;
        self.elevation.check(store).await;
        self.bytes.check(store).await;
        self.ints.check(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_dataset_written_by_py_hamt_reads_with_zarrs_through_a_car() {
    let Some(python) = python() else { return };
    let cases = sharded_cases();
    let spec = temp_file("sharded-py-spec.json");
    let car = temp_file("sharded-py.car");
    std::fs::write(&spec, cases.spec().to_string()).unwrap();
    let stdout = run_py(
        &python,
        &[
            "sharded-write",
            spec.to_str().unwrap(),
            car.to_str().unwrap(),
        ],
    );
    let root = Cid::try_from(stdout.trim()).unwrap();
    let blocks = Arc::new(MemoryStore::new());
    let (roots, transfer) = import_car(&*blocks, File::open(&car).unwrap())
        .await
        .unwrap();
    let _ = std::fs::remove_file(spec);
    let _ = std::fs::remove_file(car);
    assert_eq!(roots, [root]);
    assert_eq!(transfer.blocks, blocks.len() as u64);
    let store = Arc::new(
        ShardedZarrStore::open(blocks.clone(), root, ShardedConfig::default())
            .await
            .unwrap(),
    );
    cases.check(&store).await;
    // xarray named the dimensions; the unwritten regions are absent chunks.
    let meta = store
        .get(&StoreKey::new("0/temp/zarr.json").unwrap())
        .await
        .unwrap()
        .unwrap();
    let meta: Value = serde_json::from_slice(&meta).unwrap();
    assert_eq!(
        meta["dimension_names"],
        json!(["temp_d0", "temp_d1", "temp_d2"])
    );
    let chunks = store
        .list_prefix(&StorePrefix::new("g/u8_1d/c/").unwrap())
        .await
        .unwrap();
    assert_eq!(chunks.len(), 3, "chunks 0..3 of 4 hold data: {chunks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_dataset_written_with_zarrs_reads_in_py_hamt_through_a_car() {
    let Some(python) = python() else { return };
    let cases = sharded_cases();
    let blocks = Arc::new(MemoryStore::new());
    let store =
        Arc::new(ShardedZarrStore::create(blocks.clone(), INTEROP_CHUNKS_PER_SHARD).unwrap());
    cases.write(&store).await;
    let root = store.flush().await.unwrap();
    let spec = temp_file("sharded-rs-spec.json");
    let car = temp_file("sharded-rs.car");
    std::fs::write(&spec, cases.spec().to_string()).unwrap();
    let (file, sent) = export_dag(&*blocks, root, &[], File::create(&car).unwrap())
        .await
        .unwrap();
    drop(file);
    assert!(sent.blocks > 0);
    let stdout = run_py(
        &python,
        &[
            "sharded-read",
            car.to_str().unwrap(),
            spec.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_file(spec);
    let _ = std::fs::remove_file(car);
    assert!(stdout.contains("ok"), "{stdout}");
}

// ------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_written_by_py_hamt_reads_with_zarrs() {
    let Some(python) = python() else { return };
    let cases = cases();
    let (blocks, root) = written_by_python(&python, &cases, "py-plain", &[]).await;
    let store = Arc::new(
        ZarrHamtStore::open(blocks, root, HamtConfig::default())
            .await
            .unwrap(),
    );
    cases.check(&store).await;

    // Keys are stored verbatim, as zarr-python named them.
    let top = store.list_dir(&StorePrefix::root()).await.unwrap();
    let keys: Vec<_> = top.keys().iter().map(StoreKey::as_str).collect();
    let prefixes: Vec<_> = top.prefixes().iter().map(StorePrefix::as_str).collect();
    assert_eq!(keys, ["zarr.json"]);
    assert_eq!(prefixes, ["g/", "i32_4d/"]);
    let meta = store
        .get(&StoreKey::new("g/u8_1d/zarr.json").unwrap())
        .await
        .unwrap()
        .unwrap();
    let meta: Value = serde_json::from_slice(&meta).unwrap();
    assert_eq!(meta["node_type"], "array");
    assert!(
        store
            .list()
            .await
            .unwrap()
            .iter()
            .any(|k| k.as_str() == "g/u8_1d/c/3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_written_with_zarrs_reads_in_py_hamt() {
    let Some(python) = python() else { return };
    let cases = cases();
    let blocks = Arc::new(MemoryStore::new());
    let store = Arc::new(ZarrHamtStore::create(blocks.clone(), HamtConfig::default()));
    cases.write(&store).await;
    let root = store.flush().await.unwrap();
    read_by_python(&python, &cases, &blocks, root, "rs-plain", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_dataset_written_by_py_hamt_decrypts_here() {
    let Some(python) = python() else { return };
    let cases = cases();
    let (blocks, root) = written_by_python(&python, &cases, "py-enc", &encryption_args()).await;
    let store = ZarrHamtStore::open(blocks.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    let store = Arc::new(store.encrypted(KEY, HEADER));
    cases.check(&store).await;

    // Metadata is encrypted too: plain reads see ciphertext, a wrong key or
    // header fails with a typed error.
    let plain = ZarrHamtStore::open(blocks.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    let raw = plain
        .get(&StoreKey::new("zarr.json").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        serde_json::from_slice::<Value>(&raw).is_err(),
        "metadata should be ciphertext"
    );
    let wrong_key = ZarrHamtStore::open(blocks.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    let wrong_key = wrong_key.encrypted([1; 32], HEADER);
    assert_decrypt_error(wrong_key.get_value("zarr.json").await);
    let wrong_header = ZarrHamtStore::open(blocks, root, HamtConfig::default())
        .await
        .unwrap();
    let wrong_header = wrong_header.encrypted(KEY, "other header");
    assert_decrypt_error(wrong_header.get_value("g/u8_1d/c/0").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_dataset_written_with_zarrs_decrypts_in_py_hamt() {
    let Some(python) = python() else { return };
    let cases = cases();
    let blocks = Arc::new(MemoryStore::new());
    let store = ZarrHamtStore::create(blocks.clone(), HamtConfig::default()).encrypted(KEY, HEADER);
    let store = Arc::new(store);
    cases.write(&store).await;
    let root = store.flush().await.unwrap();
    read_by_python(&python, &cases, &blocks, root, "rs-enc", &encryption_args());
}

fn assert_decrypt_error(result: Result<Option<hamt_store::Bytes>, ZarrHamtError>) {
    match result {
        Err(ZarrHamtError::Decrypt { .. }) => {}
        other => panic!("expected a decrypt error, got {other:?}"),
    }
}
