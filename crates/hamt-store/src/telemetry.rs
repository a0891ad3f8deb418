//! Counters and histograms of what reads cost, under the names py-hamt
//! 3.6.0 gives its OpenTelemetry instruments (`py_hamt.cas.load.requests`,
//! `py_hamt.hamt.lookup.depth`, ...), so dashboards built for one serve the
//! other. Every crate of the workspace records into the one set here.
//!
//! Recording is off until [`enable`] (one relaxed load per call site when
//! off, so the in-memory hot paths pay nothing measurable). When on, the
//! values are process-wide atomics: [`snapshot`] reads them (the CLI prints
//! a summary from it), and with the `otel` feature
//! [`install_opentelemetry`] also records each value into OpenTelemetry
//! instruments of the same name, unit and description.
//!
//! ```
//! use hamt_store::telemetry::{self, NODE_LOADS};
//! telemetry::enable();
//! NODE_LOADS.add(1, true);
//! let seen = telemetry::snapshot();
//! assert!(seen.counter("py_hamt.hamt.node_load.requests") >= 1);
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns recording on, for the whole process.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether recording is on.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// What a metric counts, as py-hamt names and describes it.
#[derive(Debug)]
pub struct Descriptor {
    /// The instrument name, e.g. `py_hamt.cas.load.requests`.
    pub name: &'static str,
    /// The UCUM unit: `1`, `By` or `s`.
    pub unit: &'static str,
    /// py-hamt's description.
    pub description: &'static str,
    /// The boolean attribute the values are split by, if any (e.g.
    /// `py_hamt.cache_hit`).
    pub attribute: Option<&'static str>,
}

/// A monotonic counter, optionally split by one boolean attribute.
#[derive(Debug)]
pub struct Counter {
    /// Its name, unit and description.
    pub descriptor: Descriptor,
    values: [AtomicU64; 2],
}

impl Counter {
    /// Adds `n`, with the attribute (if the counter has one) set to `flag`.
    #[inline]
    pub fn add(&'static self, n: u64, flag: bool) {
        if !enabled() {
            return;
        }
        self.values[usize::from(flag)].fetch_add(n, Ordering::Relaxed);
        #[cfg(feature = "otel")]
        otel::add(self, n, flag);
    }

    /// The total, and the part with the attribute `true`.
    pub fn get(&self) -> (u64, u64) {
        let off = self.values[0].load(Ordering::Relaxed);
        let on = self.values[1].load(Ordering::Relaxed);
        (off + on, on)
    }
}

/// A distribution: count, sum and maximum of the values recorded (seconds
/// are kept in nanoseconds, counts as they are).
#[derive(Debug)]
pub struct Histogram {
    /// Its name, unit and description.
    pub descriptor: Descriptor,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Histogram {
    /// Records a count (a depth, a number of entries).
    #[inline]
    pub fn record(&'static self, value: u64) {
        if !enabled() {
            return;
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
        self.max.fetch_max(value, Ordering::Relaxed);
        #[cfg(feature = "otel")]
        otel::record(self, value);
    }

    /// Records a duration (for histograms in seconds).
    #[inline]
    pub fn record_duration(&'static self, elapsed: Duration) {
        self.record(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Values recorded, their sum and their maximum (durations in nanoseconds).
    pub fn get(&self) -> (u64, u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.sum.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        )
    }
}

/// A [`Counter`] (a literal: statics need constant values, and a
/// `const fn` would show as never run).
macro_rules! counter {
    ($name:expr, $unit:expr, $description:expr, $attribute:expr $(,)?) => {
        Counter {
            descriptor: Descriptor {
                name: $name,
                unit: $unit,
                description: $description,
                attribute: $attribute,
            },
            values: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    };
}

/// A [`Histogram`], as [`counter!`].
macro_rules! histogram {
    ($name:expr, $unit:expr, $description:expr $(,)?) => {
        Histogram {
            descriptor: Descriptor {
                name: $name,
                unit: $unit,
                description: $description,
                attribute: None,
            },
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    };
}

/// `py_hamt.cas.load.requests`: block reads from a remote store (one per
/// read, however many retries it took).
pub static CAS_LOADS: Counter = counter!(
    "py_hamt.cas.load.requests",
    "1",
    "Number of content-addressed store load requests.",
    Some("py_hamt.cas.ok"),
);
/// `py_hamt.cas.load.response_bytes`.
pub static CAS_LOAD_BYTES: Counter = counter!(
    "py_hamt.cas.load.response_bytes",
    "By",
    "Bytes returned by content-addressed store load requests.",
    None,
);
/// `py_hamt.cas.load.retries`: attempts after the first.
pub static CAS_LOAD_RETRIES: Counter = counter!(
    "py_hamt.cas.load.retries",
    "1",
    "Retry attempts used by content-addressed store load requests.",
    None,
);
/// `py_hamt.cas.load.duration`, retries and waits included.
pub static CAS_LOAD_DURATION: Histogram = histogram!(
    "py_hamt.cas.load.duration",
    "s",
    "Content-addressed store load latency.",
);
/// `py_hamt.hamt.lookup.requests`: keys looked up (split by found).
pub static LOOKUPS: Counter = counter!(
    "py_hamt.hamt.lookup.requests",
    "1",
    "HAMT key lookup requests.",
    Some("py_hamt.hamt.lookup.found"),
);
/// `py_hamt.hamt.lookup.duration` (single lookups only: a batch's keys share their time).
pub static LOOKUP_DURATION: Histogram = histogram!(
    "py_hamt.hamt.lookup.duration",
    "s",
    "HAMT key lookup latency.",
);
/// `py_hamt.hamt.lookup.depth`: nodes visited per key.
pub static LOOKUP_DEPTH: Histogram = histogram!(
    "py_hamt.hamt.lookup.depth",
    "1",
    "HAMT traversal depth per key lookup.",
);
/// `py_hamt.hamt.node_load.requests` (split by `py_hamt.cache_hit`).
pub static NODE_LOADS: Counter = counter!(
    "py_hamt.hamt.node_load.requests",
    "1",
    "HAMT node load requests.",
    Some("py_hamt.cache_hit"),
);
/// `py_hamt.hamt.node_load.bytes`: bytes of nodes read from the store.
pub static NODE_LOAD_BYTES: Counter = counter!(
    "py_hamt.hamt.node_load.bytes",
    "By",
    "Bytes returned by HAMT node loads.",
    None,
);
/// `py_hamt.hamt.node_load.duration`: loads that missed the cache.
pub static NODE_LOAD_DURATION: Histogram = histogram!(
    "py_hamt.hamt.node_load.duration",
    "s",
    "HAMT node load latency.",
);
/// `py_hamt.zarr.get.requests` (split by `py_hamt.zarr.hit`: the key exists).
pub static ZARR_GETS: Counter = counter!(
    "py_hamt.zarr.get.requests",
    "1",
    "Zarr store get requests.",
    Some("py_hamt.zarr.hit"),
);
/// `py_hamt.zarr.get.duration`.
pub static ZARR_GET_DURATION: Histogram =
    histogram!("py_hamt.zarr.get.duration", "s", "Zarr store get latency.");
/// `py_hamt.sharded_store.shard_load.requests` (split by `py_hamt.cache_hit`).
pub static SHARD_LOADS: Counter = counter!(
    "py_hamt.sharded_store.shard_load.requests",
    "1",
    "Sharded Zarr shard load requests.",
    Some("py_hamt.cache_hit"),
);
/// `py_hamt.sharded_store.shard_load.duration`: loads that missed the cache.
pub static SHARD_LOAD_DURATION: Histogram = histogram!(
    "py_hamt.sharded_store.shard_load.duration",
    "s",
    "Sharded Zarr shard load latency.",
);
/// `py_hamt.sharded_store.shard_entries`: entries per shard loaded.
pub static SHARD_ENTRIES: Histogram = histogram!(
    "py_hamt.sharded_store.shard_entries",
    "1",
    "Number of entries loaded per shard.",
);

/// Every counter, in a fixed order.
pub static COUNTERS: [&Counter; 8] = [
    &CAS_LOADS,
    &CAS_LOAD_BYTES,
    &CAS_LOAD_RETRIES,
    &LOOKUPS,
    &NODE_LOADS,
    &NODE_LOAD_BYTES,
    &ZARR_GETS,
    &SHARD_LOADS,
];

/// Every histogram, in a fixed order.
pub static HISTOGRAMS: [&Histogram; 7] = [
    &CAS_LOAD_DURATION,
    &LOOKUP_DURATION,
    &LOOKUP_DEPTH,
    &NODE_LOAD_DURATION,
    &ZARR_GET_DURATION,
    &SHARD_LOAD_DURATION,
    &SHARD_ENTRIES,
];

/// The values at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// `(name, total, part with the attribute true)` per counter.
    pub counters: Vec<(&'static str, u64, u64)>,
    /// `(name, count, sum, max)` per histogram (durations in nanoseconds).
    pub histograms: Vec<(&'static str, u64, u64, u64)>,
}

impl Snapshot {
    /// A counter's total (0 for an unknown name).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|c| c.0 == name)
            .map_or(0, |c| c.1)
    }

    /// A counter's part with its attribute `true` (cache hits, keys found).
    pub fn counter_true(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|c| c.0 == name)
            .map_or(0, |c| c.2)
    }

    /// A histogram's `(count, sum, max)` (zeros for an unknown name).
    pub fn histogram(&self, name: &str) -> (u64, u64, u64) {
        self.histograms
            .iter()
            .find(|h| h.0 == name)
            .map_or((0, 0, 0), |h| (h.1, h.2, h.3))
    }
}

/// Every value now.
pub fn snapshot() -> Snapshot {
    let counters = COUNTERS
        .iter()
        .map(|c| {
            let (total, on) = c.get();
            (c.descriptor.name, total, on)
        })
        .collect();
    let histograms = HISTOGRAMS
        .iter()
        .map(|h| {
            let (count, sum, max) = h.get();
            (h.descriptor.name, count, sum, max)
        })
        .collect();
    Snapshot {
        counters,
        histograms,
    }
}

/// Starts recording into OpenTelemetry instruments made by `meter` too
/// (named, united and described as py-hamt's), and turns recording on.
/// Only the first call installs.
#[cfg(feature = "otel")]
pub fn install_opentelemetry(meter: &opentelemetry::metrics::Meter) {
    otel::install(meter);
    enable();
}

#[cfg(feature = "otel")]
mod otel {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    use opentelemetry::KeyValue;
    use opentelemetry::metrics::{Counter as OtelCounter, Histogram as OtelHistogram, Meter};

    use super::{COUNTERS, Counter, HISTOGRAMS, Histogram};

    struct Instruments {
        counters: HashMap<&'static str, OtelCounter<u64>>,
        histograms: HashMap<&'static str, OtelHistogram<f64>>,
    }

    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

    pub(super) fn install(meter: &Meter) {
        INSTRUMENTS.get_or_init(|| Instruments {
            counters: COUNTERS
                .iter()
                .map(|c| {
                    let d = &c.descriptor;
                    let built = meter
                        .u64_counter(d.name)
                        .with_unit(d.unit)
                        .with_description(d.description)
                        .build();
                    (d.name, built)
                })
                .collect(),
            histograms: HISTOGRAMS
                .iter()
                .map(|h| {
                    let d = &h.descriptor;
                    let built = meter
                        .f64_histogram(d.name)
                        .with_unit(d.unit)
                        .with_description(d.description)
                        .build();
                    (d.name, built)
                })
                .collect(),
        });
    }

    pub(super) fn add(counter: &Counter, n: u64, flag: bool) {
        let Some(instruments) = INSTRUMENTS.get() else {
            return;
        };
        if let Some(otel) = instruments.counters.get(counter.descriptor.name) {
            match counter.descriptor.attribute {
                Some(key) => otel.add(n, &[KeyValue::new(key, flag)]),
                None => otel.add(n, &[]),
            }
        }
    }

    #[allow(clippy::cast_precision_loss)] // nanoseconds and counts far below 2^53
    pub(super) fn record(histogram: &Histogram, value: u64) {
        let Some(instruments) = INSTRUMENTS.get() else {
            return;
        };
        if let Some(otel) = instruments.histograms.get(histogram.descriptor.name) {
            let value = if histogram.descriptor.unit == "s" {
                value as f64 / 1e9
            } else {
                value as f64
            };
            otel.record(value, &[]);
        }
    }
}
