//! The telemetry set with the `otel` feature (its own test binary: it
//! enables telemetry, which is process-wide).
#![cfg(feature = "otel")]

use hamt_store::telemetry;

/// With the `otel` feature, values also go to OpenTelemetry instruments
/// (here the global meter, a no-op without an SDK), and still to ours.
#[test]
fn opentelemetry_instruments_take_the_values_too() {
    let meter = opentelemetry::global::meter("hamt-test");
    telemetry::install_opentelemetry(&meter);
    telemetry::install_opentelemetry(&meter); // a second install is ignored
    assert!(telemetry::enabled());
    let (before, _) = telemetry::ZARR_GETS.get();
    telemetry::ZARR_GETS.add(2, true);
    telemetry::CAS_LOAD_BYTES.add(10, false);
    telemetry::ZARR_GET_DURATION.record_duration(std::time::Duration::from_micros(5));
    telemetry::SHARD_ENTRIES.record(6250);
    assert_eq!(telemetry::ZARR_GETS.get().0, before + 2);
    let seen = telemetry::snapshot();
    assert!(seen.counter_true("py_hamt.zarr.get.requests") >= 2);
    assert_eq!(
        seen.histogram("py_hamt.sharded_store.shard_entries").2,
        6250
    );
}
