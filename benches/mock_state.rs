//! The mock executor's node state kept durable (snapshot and change log
//! beside the store) against kept in memory: the same sequential creates
//! and 32-client bursts at 1,000 and 5,000 volumes, on one fresh server of
//! each kind. Run with `cargo bench --bench mock_state`.

// Tests and benchmarks fail loudly by design: unwrapping is how they fail.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{clients, create_once, micros, percentile, sequential, Bench};

const CLIENTS: usize = 32;
const SEQUENTIAL: usize = 200;
const PER_CLIENT: usize = 10;

/// One server's numbers at one volume count.
struct Point {
    volumes: usize,
    sequential: Vec<Duration>,
    creates_per_sec: f64,
    /// Change-log bytes a sequential create appended (durable mock, no
    /// compaction meanwhile).
    log_bytes_per_create: Option<u64>,
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn run(durable: bool) -> Vec<Point> {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = common::mock_server_args(dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut env = vec![("HEKETI_MOCK_DEVICE_SIZE_GB", "20000")];
    if !durable {
        env.push(("BRICKYARD_MOCK_STATE", "memory"));
    }
    let b = Bench::start(dir.path(), &args, &env);
    b.three_nodes();
    let log = dir.path().join("store.mock-nodes.log");
    let mut count = 0;
    let mut points = Vec::new();
    for target in [1000, 5000] {
        while count < target {
            create_once(&b.client, &b.base).expect("fill");
            count += 1;
        }
        let before = file_len(&log);
        let times = sequential(&b, SEQUENTIAL);
        let after = file_len(&log);
        let burst = clients(&b.base, CLIENTS, PER_CLIENT);
        assert_eq!(burst.busy, 0, "no 429 with {CLIENTS} clients");
        points.push(Point {
            volumes: target,
            sequential: times,
            creates_per_sec: burst.creates_per_sec(),
            log_bytes_per_create: (durable && after > before).then(|| (after - before) / SEQUENTIAL as u64),
        });
        count += SEQUENTIAL + burst.made;
    }
    if durable {
        let snapshot = file_len(&dir.path().join("store.mock-nodes.json"));
        println!(
            "durable mock files at {count} volumes: snapshot {:.1} MiB, log {:.1} MiB",
            snapshot as f64 / 1048576.0,
            file_len(&log) as f64 / 1048576.0
        );
    }
    b.stop();
    points
}

fn main() {
    println!("Mock node state: durable (snapshot + change log) against in memory; 3 nodes, replica-3 1 GiB volumes, loopback");
    let memory = run(false);
    let durable = run(true);
    println!();
    println!("| mock | volumes | create p50 | create p99 | {CLIENTS} clients |");
    println!("|---|---|---|---|---|");
    for (kind, points) in [("in memory", &memory), ("durable", &durable)] {
        for p in points.iter() {
            println!(
                "| {kind} | {} | {} | {} | {:.0} creates/s |",
                p.volumes,
                micros(percentile(&p.sequential, 0.5)),
                micros(percentile(&p.sequential, 0.99)),
                p.creates_per_sec
            );
        }
    }
    println!();
    for (m, d) in memory.iter().zip(&durable) {
        println!(
            "at {} volumes: durable/in-memory create p50 {:.2}×, throughput {:.2}×; log bytes per create: {}",
            m.volumes,
            percentile(&d.sequential, 0.5).as_secs_f64() / percentile(&m.sequential, 0.5).as_secs_f64(),
            d.creates_per_sec / m.creates_per_sec,
            d.log_bytes_per_create
                .map_or("n/a (compacted meanwhile)".to_string(), |n| n.to_string())
        );
    }
}
