//! `hamt`: import, export, inspect, diff, verify and move py-hamt-compatible
//! HAMTs (typically zarr v3 datasets) between the embedded RocksDB store, an
//! IPFS (Kubo) daemon and CAR files. See this crate's README for the
//! reference; exit codes are in [`error::Exit`].

mod backend;
mod cli;
mod commands;
mod error;
mod output;
mod prefetch;
mod walk;

use std::process::ExitCode;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let cli = cli::Cli::parse_checked();
    let started = std::time::Instant::now();
    let summary = output::Summary::start(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hamt: cannot start the async runtime: {e}");
            return error::Exit::Error.into();
        }
    };
    let exit = match runtime.block_on(commands::run(cli)) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("hamt: {e}");
            e.exit()
        }
    };
    summary.finish(started.elapsed());
    exit.into()
}
