//! Volume operations with the mock executor (node state in memory):
//! sequential create latency, throughput under 32 clients, reads with 5,000
//! volumes, how create latency changes from 1,000 to 5,000 volumes, memory,
//! store size and start-up time. Run with `cargo bench --bench volumes`.

// Tests and benchmarks fail loudly by design: unwrapping is how they fail.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{clients, create_once, dir_size, micros, percentile, sequential, Bench};

const TOTAL: usize = 5000;
const CLIENTS: usize = 32;

fn gets(b: &Bench, paths: &[String], n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        let r = b.get(&paths[i % paths.len()]);
        assert!(r.status().is_success());
        let _ = r.bytes();
        times.push(start.elapsed());
    }
    times.sort();
    times
}

fn row(name: &str, t: &[Duration]) {
    println!(
        "| {name} | {} | {} |",
        micros(percentile(t, 0.5)),
        micros(percentile(t, 0.99))
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = common::mock_server_args(dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = [
        ("BRICKYARD_MOCK_STATE", "memory"),
        ("HEKETI_MOCK_DEVICE_SIZE_GB", "20000"),
    ];
    let b = Bench::start(dir.path(), &args, &env);
    b.three_nodes();

    println!("Brickyard volume benchmark: mock executor, 3 nodes, replica-3 1 GiB volumes, loopback, every commit flushed to disk");
    println!();
    println!("| measurement | p50 | p99 |");
    println!("|---|---|---|");
    let first = sequential(&b, 200);
    row("sequential create, empty store (POST → 303)", &first);

    // Concurrent clients.
    let burst = clients(&b.base, CLIENTS, 25);
    let (made, elapsed) = (burst.made, burst.elapsed);
    let throughput = burst.creates_per_sec();

    // Fill to 1,000, measure, fill to 5,000, measure.
    let mut count = 200 + made;
    while count < 1000 {
        create_once(&b.client, &b.base).expect("fill");
        count += 1;
    }
    let at_1000 = sequential(&b, 200);
    count += 200;
    row("sequential create at 1,000 volumes", &at_1000);
    while count < TOTAL - 200 {
        create_once(&b.client, &b.base).expect("fill");
        count += 1;
    }
    let at_5000 = sequential(&b, 200);
    count += 200;
    row("sequential create at 5,000 volumes", &at_5000);

    let list: serde_json::Value = b.get("/volumes").json().expect("list");
    let ids: Vec<String> = list["volumes"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| format!("/volumes/{}", v.as_str().unwrap_or_default()))
        .collect();
    assert_eq!(ids.len(), count);
    row(
        &format!("GET /volumes ({count} ids)"),
        &gets(&b, &["/volumes".to_string()], 300),
    );
    row("GET /volumes/{id}", &gets(&b, &ids, 3000));
    let rss = b.rss_mib();
    // The online backup holds the store's consistent-read lock for its scan:
    // its time bounds how long commits wait while a backup (or a Secret
    // backup) is taken. Measured after the memory reading, which its 20 MiB
    // answers would inflate.
    let backups = gets(&b, &["/backup/db".to_string()], 10);
    row(&format!("GET /backup/db ({count} volumes)"), &backups);
    let backup = b.get("/backup/db").bytes().expect("backup body");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &backup).expect("gzip");
    let gz = gz.finish().expect("gzip");
    b.stop();
    let store = dir_size(&dir.path().join("store"));

    let start = Instant::now();
    let again = Bench::start(dir.path(), &args, &env);
    let up = start.elapsed();
    assert!(again.get("/hello").status().is_success());
    again.stop();

    println!();
    println!("throughput with {CLIENTS} concurrent clients: {throughput:.0} creates/s ({made} volumes in {:.2} s), 429 answers: {}", elapsed.as_secs_f64(), burst.busy);
    println!(
        "create p50 at 1,000 → 5,000 volumes: {} → {} ({:.2}×)",
        micros(percentile(&at_1000, 0.5)),
        micros(percentile(&at_5000, 0.5)),
        percentile(&at_5000, 0.5).as_secs_f64() / percentile(&at_1000, 0.5).as_secs_f64()
    );
    println!(
        "resident memory at {count} volumes: {rss:.1} MiB; store on disk: {:.1} MiB",
        store as f64 / 1048576.0
    );
    println!(
        "start-up with {count} volumes (process start to listening): {}",
        micros(up)
    );
    println!(
        "backup at {count} volumes: {:.1} MiB, {:.2} MiB gzipped (a Secret holds 1 MiB)",
        backup.len() as f64 / 1048576.0,
        gz.len() as f64 / 1048576.0
    );
}
