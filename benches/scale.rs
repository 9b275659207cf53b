//! Brickyard at scale with the mock executor: ten clusters of three nodes,
//! filled to 50,000 replica-3 volumes (5,000 per cluster, the
//! `max_volumes_per_cluster` limit raised to that). At 1,000, 5,000 and
//! 50,000 volumes: sequential create latency, resident memory at rest and store
//! size; at 1,000 the heketi-cli `topology info` fan-out (the CLI process,
//! one request per cluster, node and volume, as heketi-cli makes them); at
//! 50,000, `GET /volumes`, `GET /clusters/{id}`, start-up time (the first
//! start after the fill and a later one: process start to listening, and
//! to the end of a first create, which waits for a durable mock's state)
//! and the restarted server's resident memory after listing and reading
//! volumes.
//!
//! The growth of create latency is also measured side by side: a second
//! server of the same shape, filled to 1,000 volumes, takes turns with the
//! filled one, 20 creates each, so that the machine's drift over the
//! minutes of a fill (other work, its clock) weighs on both alike.
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

use common::{create_once, dir_size, fill, micros, percentile, sequential, Bench};

const PER_CLUSTER: usize = 5000;
const CLUSTERS: usize = 10;
const FILLERS: usize = 16;
const SAMPLES: usize = 200;
/// Creates per turn in the side-by-side measurement.
const TURN: usize = 20;
/// Room past 5,000 per cluster for the creates made after the fill (the
/// side-by-side ones and a first create after each start).
const ROOM: usize = 100;

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
    let args = common::mock_server_args_limited(dir.path(), (PER_CLUSTER + ROOM) as i64);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut env = vec![("HEKETI_MOCK_DEVICE_SIZE_GB", "20000")];
    if mode == "memory" {
        env.push(("BRICKYARD_MOCK_STATE", "memory"));
    }
    let b = Bench::start(dir.path(), &args, &env);
    let clusters = topology(&b, top);
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
    let side_by_side = alongside_a_small_one(&b, mode, top, &env);
    count += SAMPLES;
    let list = gets(&b, "/volumes", 50);
    let cluster = gets(&b, &format!("/clusters/{}", clusters[0]), 200);
    let cluster_volumes = b
        .get(&format!("/clusters/{}", clusters[0]))
        .json::<serde_json::Value>()
        .expect("cluster")["volumes"]
        .as_array()
        .map_or(0, Vec::len);
    b.stop();
    // The first start replays what sled wrote since it last opened (and a
    // durable mock folds its log); a later one does not.
    let durable = mode != "memory";
    let first_up = Started::now(dir.path(), &args, &env, durable);
    first_up.server.stop();
    let up = Started::now(dir.path(), &args, &env, durable);
    let again = up.server;
    if durable {
        // Each start made one.
        count += 2;
    }
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
    println!(
        "side by side with a server of {} volumes, {TURN} creates a turn: p50 {} against {} ({:.2}×), p99 {} against {} ({:.2}×)",
        side_by_side.small_volumes,
        micros(percentile(&side_by_side.big, 0.5)),
        micros(percentile(&side_by_side.small, 0.5)),
        percentile(&side_by_side.big, 0.5).as_secs_f64() / percentile(&side_by_side.small, 0.5).as_secs_f64(),
        micros(percentile(&side_by_side.big, 0.99)),
        micros(percentile(&side_by_side.small, 0.99)),
        percentile(&side_by_side.big, 0.99).as_secs_f64() / percentile(&side_by_side.small, 0.99).as_secs_f64(),
    );
    if let Some(t) = fan_out {
        println!("topology info (the CLI process, 1,000 volumes): median {}", micros(t));
    }
    println!(
        "at {count} volumes: GET /volumes p50 {} p99 {}; GET /clusters/{{id}} ({} volume ids) p50 {} p99 {}; \
         start-up to listening {} and to a first create's end {} (the first after the fill: {} and {}); \
         restarted, after the listings and {SAMPLES} volume reads: {:.1} MiB resident",
        micros(percentile(&list, 0.5)),
        micros(percentile(&list, 0.99)),
        cluster_volumes,
        micros(percentile(&cluster, 0.5)),
        micros(percentile(&cluster, 0.99)),
        micros(up.listening),
        up.created.map_or("-".into(), micros),
        micros(first_up.listening),
        first_up.created.map_or("-".into(), micros),
        own_rss
    );
}

/// Ten clusters of three nodes (fewer below 50,000 volumes); their ids.
fn topology(b: &Bench, top: usize) -> Vec<String> {
    (0..top.div_ceil(PER_CLUSTER).min(CLUSTERS))
        .map(|c| b.cluster_of_three(|i| (format!("c{c}n{i}"), format!("10.{c}.0.{i}"))))
        .collect()
}

/// A start, timed from the process's start to its listening line and,
/// with the durable mock, to the end of a first create (the mock in
/// memory starts with no nodes: a create would find no devices).
struct Started {
    server: Bench,
    listening: Duration,
    created: Option<Duration>,
}

impl Started {
    fn now(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)], durable: bool) -> Started {
        let start = Instant::now();
        let server = Bench::start(dir, args, env);
        let listening = start.elapsed();
        let created = durable.then(|| {
            create_once(&server.client, &server.base).expect("a first create");
            start.elapsed()
        });
        Started {
            server,
            listening,
            created,
        }
    }
}

/// Create times of the filled server and of a small one, taken in turns.
struct SideBySide {
    small_volumes: usize,
    big: Vec<Duration>,
    small: Vec<Duration>,
}

fn alongside_a_small_one(big: &Bench, mode: &str, top: usize, env: &[(&str, &str)]) -> SideBySide {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = common::mock_server_args_limited(dir.path(), (PER_CLUSTER + ROOM) as i64);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let small = Bench::start(dir.path(), &args, env);
    topology(&small, top);
    eprintln!("{mode}: a second server filled to 1000 volumes, to measure beside the first");
    fill(&small, 1000, FILLERS);
    let (mut big_times, mut small_times) = (Vec::new(), Vec::new());
    for _ in 0..SAMPLES / TURN {
        for _ in 0..TURN {
            small_times.push(create_once(&small.client, &small.base).expect("no 429 sequentially"));
        }
        for _ in 0..TURN {
            big_times.push(create_once(&big.client, &big.base).expect("no 429 sequentially"));
        }
    }
    small.stop();
    big_times.sort();
    small_times.sort();
    SideBySide {
        small_volumes: 1000 + SAMPLES / 2,
        big: big_times,
        small: small_times,
    }
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
