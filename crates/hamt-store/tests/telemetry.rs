//! The telemetry set: py-hamt's instrument names, off until enabled.
//! (Its own test binary: enabling is process-wide.)

use hamt_store::telemetry::{self, COUNTERS, HISTOGRAMS, LOOKUP_DEPTH, NODE_LOADS};

#[test]
fn records_nothing_until_enabled_then_everything() {
    NODE_LOADS.add(5, false);
    LOOKUP_DEPTH.record(3);
    assert_eq!(NODE_LOADS.get(), (0, 0));
    assert_eq!(LOOKUP_DEPTH.get(), (0, 0, 0));

    telemetry::enable();
    assert!(telemetry::enabled());
    NODE_LOADS.add(5, false);
    NODE_LOADS.add(2, true);
    LOOKUP_DEPTH.record(3);
    LOOKUP_DEPTH.record(1);
    let seen = telemetry::snapshot();
    assert_eq!(seen.counter("py_hamt.hamt.node_load.requests"), 7);
    assert_eq!(seen.counter_true("py_hamt.hamt.node_load.requests"), 2);
    assert_eq!(seen.histogram("py_hamt.hamt.lookup.depth"), (2, 4, 3));
    assert_eq!(seen.counter("no.such.name"), 0);
    telemetry::CAS_LOAD_DURATION.record_duration(std::time::Duration::from_millis(2));
    let (count, sum, max) = telemetry::snapshot().histogram("py_hamt.cas.load.duration");
    assert_eq!(
        (count, sum, max),
        (1, 2_000_000, 2_000_000),
        "durations in nanoseconds"
    );
}

/// The names, units and descriptions py-hamt 3.6.0 gives its instruments
/// (`py_hamt/instrumentation.py`), so one dashboard serves both.
#[test]
fn names_and_units_are_py_hamts() {
    let expected = [
        ("py_hamt.cas.load.requests", "1"),
        ("py_hamt.cas.load.response_bytes", "By"),
        ("py_hamt.cas.load.retries", "1"),
        ("py_hamt.hamt.lookup.requests", "1"),
        ("py_hamt.hamt.node_load.requests", "1"),
        ("py_hamt.hamt.node_load.bytes", "By"),
        ("py_hamt.zarr.get.requests", "1"),
        ("py_hamt.sharded_store.shard_load.requests", "1"),
        ("py_hamt.cas.load.duration", "s"),
        ("py_hamt.hamt.lookup.duration", "s"),
        ("py_hamt.hamt.lookup.depth", "1"),
        ("py_hamt.hamt.node_load.duration", "s"),
        ("py_hamt.zarr.get.duration", "s"),
        ("py_hamt.sharded_store.shard_load.duration", "s"),
        ("py_hamt.sharded_store.shard_entries", "1"),
    ];
    let ours: Vec<(&str, &str)> = COUNTERS
        .iter()
        .map(|c| (c.descriptor.name, c.descriptor.unit))
        .chain(
            HISTOGRAMS
                .iter()
                .map(|h| (h.descriptor.name, h.descriptor.unit)),
        )
        .collect();
    assert_eq!(ours, expected);
    assert!(
        COUNTERS
            .iter()
            .map(|c| c.descriptor.description)
            .chain(HISTOGRAMS.iter().map(|h| h.descriptor.description))
            .all(|d| d.ends_with('.') && d.len() > 10)
    );
}
