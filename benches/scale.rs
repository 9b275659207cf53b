//! Brickyard at scale with the mock executor: ten clusters of three nodes,
//! filled to 50,000 replica-3 volumes (5,000 per cluster, the
//! `max_volumes_per_cluster` limit raised to that). At 1,000, 5,000 and
//! 50,000 volumes: sequential create latency, resident memory at rest and store
//! size; at 1,000 the heketi-cli `topology info` fan-out (the CLI process,
//! one request per cluster, node and volume, as heketi-cli makes them); at
//! 50,000, `GET /volumes`, `GET /clusters/{id}`, start-up time (the first
//! start after the fill and a later one) and the restarted server's
//! resident memory after listing and reading volumes.
//!
//! `cargo bench --bench scale` runs it with the mock's node state in
//! memory and then with the durable mock; `BRICKYARD_BENCH_MOCK=memory`
//! or `durable` runs one; `BRICKYARD_BENCH_VOLUMES` lowers the top size
//! (a multiple of 5,000 is filled cluster by cluster).

// Benchmarks fail loudly by design: unwrapping is how they fail.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{dir_size, fill, micros, percentile, sequential, Bench};

const PER_CLUSTER: usize = 5000;
const CLUSTERS: usize = 10;
const FILLERS: usize = 16;
const SAMPLES: usize = 200;

fn gets(b: &Bench, path: &str, n: usize) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            let r = b.get(path);
            assert!(r.status().is_success());
            let _ = r.bytes();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

/// heketi-cli's `topology info`, as a process: median of 5 runs.
fn topology_info(b: &Bench) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_brickyard"))
                .args(["--server", &b.base, "topology", "info"])
                .output()
                .expect("brickyard topology info");
            assert!(out.status.success(), "{out:?}");
            start.elapsed()
        })
        .collect();
    times.sort();
    times[2]
}

/// Memory is read from a server at rest: it returns freed heap pages
/// after a second without requests (`memory::scavenge`), as Go's runtime
/// does for Heketi, so the reading is its resting size, not a burst's peak.
fn idle_for_the_scavenger() {
    std::thread::sleep(Duration::from_millis(2500));
}

struct Point {
    volumes: usize,
    create: Vec<Duration>,
    rss_mib: f64,
    store_mib: f64,
}

fn run(mode: &str, top: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = common::mock_server_args_limited(dir.path(), PER_CLUSTER as i64);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut env = vec![("HEKETI_MOCK_DEVICE_SIZE_GB", "20000")];
    if mode == "memory" {
        env.push(("BRICKYARD_MOCK_STATE", "memory"));
    }
    let b = Bench::start(dir.path(), &args, &env);
    let mut clusters = Vec::new();
    for c in 0..top.div_ceil(PER_CLUSTER).min(CLUSTERS) {
        clusters.push(b.cluster_of_three(|i| (format!("c{c}n{i}"), format!("10.{c}.0.{i}"))));
    }
    let store = dir.path().join("store");
    let mut points = Vec::new();
    let mut count = 0;
    let mut fan_out = None;
    let mut targets = vec![1000, 5000, top];
    targets.retain(|t| *t <= top);
    targets.dedup();
    for target in targets {
        // The last SAMPLES creates up to `target` are the measured ones.
        eprintln!("{mode}: filling to {target} volumes");
        fill(&b, target - SAMPLES - count, FILLERS);
        let before = sequential(&b, SAMPLES);
        count = target;
        if target == 1000 {
            fan_out = Some(topology_info(&b));
        }
        idle_for_the_scavenger();
        points.push(Point {
            volumes: target,
            create: before,
            rss_mib: b.rss_mib(),
            store_mib: dir_size(&store) as f64 / 1048576.0,
        });
    }
    let list = gets(&b, "/volumes", 50);
    let cluster = gets(&b, &format!("/clusters/{}", clusters[0]), 200);
    b.stop();
    // The first start replays what sled wrote since it last opened; a
    // later one does not.
    let start = Instant::now();
    let again = Bench::start(dir.path(), &args, &env);
    let first_up = start.elapsed();
    again.stop();
    let start = Instant::now();
    let again = Bench::start(dir.path(), &args, &env);
    let up = start.elapsed();
    let listed: serde_json::Value = again.get("/volumes").json().expect("list");
    assert_eq!(listed["volumes"].as_array().expect("ids").len(), count);
    // Brickyard's own memory: the restarted server after the listings and
    // SAMPLES volume reads. With the mock in memory, no node state is held
    // (a restart empties it), as with Heketi's mock.
    let _ = gets(&again, "/volumes", 5);
    let _ = gets(&again, &format!("/clusters/{}", clusters[0]), 5);
    for id in listed["volumes"].as_array().expect("ids").iter().take(SAMPLES) {
        let _ = gets(&again, &format!("/volumes/{}", id.as_str().expect("id")), 1);
    }
    idle_for_the_scavenger();
    let own_rss = again.rss_mib();
    again.stop();

    println!();
    println!("### mock node state: {mode}");
    println!();
    println!("| volumes | create p50 | create p99 | resident memory | store on disk |");
    println!("|---|---|---|---|---|");
    for p in &points {
        println!(
            "| {} | {} | {} | {:.1} MiB | {:.1} MiB |",
            p.volumes,
            micros(percentile(&p.create, 0.5)),
            micros(percentile(&p.create, 0.99)),
            p.rss_mib,
            p.store_mib
        );
    }
    let (first, last) = (&points[0].create, &points[points.len() - 1].create);
    println!();
    println!(
        "create latency {} → {} volumes: p50 {:.2}×, p99 {:.2}×",
        points[0].volumes,
        points[points.len() - 1].volumes,
        percentile(last, 0.5).as_secs_f64() / percentile(first, 0.5).as_secs_f64(),
        percentile(last, 0.99).as_secs_f64() / percentile(first, 0.99).as_secs_f64()
    );
    if let Some(t) = fan_out {
        println!("topology info (the CLI process, 1,000 volumes): median {}", micros(t));
    }
    println!(
        "at {count} volumes: GET /volumes p50 {} p99 {}; GET /clusters/{{id}} ({} volume ids) p50 {} p99 {}; \
         start-up {} (the first after the fill {}); restarted, after the listings and {SAMPLES} volume reads: {:.1} MiB resident",
        micros(percentile(&list, 0.5)),
        micros(percentile(&list, 0.99)),
        count.min(PER_CLUSTER),
        micros(percentile(&cluster, 0.5)),
        micros(percentile(&cluster, 0.99)),
        micros(up),
        micros(first_up),
        own_rss
    );
}

fn main() {
    let top = std::env::var("BRICKYARD_BENCH_VOLUMES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(PER_CLUSTER * CLUSTERS)
        .clamp(1000, PER_CLUSTER * CLUSTERS);
    let modes: Vec<String> = match std::env::var("BRICKYARD_BENCH_MOCK") {
        Ok(m) => vec![m],
        Err(_) => vec!["memory".into(), "durable".into()],
    };
    println!("Brickyard at scale: mock executor, 3 nodes per cluster, replica-3 1 GiB volumes, loopback, auth off, every commit flushed");
    for mode in modes {
        run(&mode, top);
    }
}
