//! Latency of GET /clusters/{id} and GET /nodes/{id} with 1,000 nodes in the
//! store, and the server's resident memory. Run with `cargo bench --bench
//! api_latency`; it starts the release binary on a loopback port.

// Tests and benchmarks fail loudly by design: unwrapping is how they fail.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{micros, percentile, Bench};

const NODES: usize = 1000;
const SAMPLES: usize = 5000;

fn measure(b: &Bench, paths: &[String]) -> Vec<Duration> {
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let start = Instant::now();
        let resp = b.get(&paths[i % paths.len()]);
        assert!(resp.status().is_success());
        let _ = resp.bytes().expect("body");
        times.push(start.elapsed());
    }
    times.sort();
    times
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let b = Bench::start(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--store", store.to_str().expect("path")],
        &[("BRICKYARD_MOCK_STATE", "memory")],
    );
    let cluster: serde_json::Value = b
        .post("/clusters", r#"{"file":true,"block":true}"#)
        .json()
        .expect("cluster");
    let cluster = cluster["id"].as_str().expect("id").to_string();
    let fill = Instant::now();
    let mut nodes = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let storage = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
        nodes.push(b.node_with_device(&cluster, i % 3 + 1, &format!("node{i}.example.com"), &storage));
    }
    let fill = fill.elapsed();

    let cluster_paths = vec![format!("/clusters/{cluster}")];
    let node_paths: Vec<String> = nodes.iter().map(|n| format!("/nodes/{n}")).collect();
    measure(&b, &node_paths[..10]);
    let clusters = measure(&b, &cluster_paths);
    let node_times = measure(&b, &node_paths);
    let rss = b.rss_mib();

    println!(
        "Brickyard API latency, {NODES} nodes (1 device each), {SAMPLES} sequential requests per route, keep-alive"
    );
    println!("| route | p50 | p99 |");
    println!("|---|---|---|");
    for (route, t) in [("GET /clusters/{id}", &clusters), ("GET /nodes/{id}", &node_times)] {
        println!(
            "| {route} | {} | {} |",
            micros(percentile(t, 0.50)),
            micros(percentile(t, 0.99))
        );
    }
    println!("server resident memory: {rss:.1} MiB");
    println!(
        "filling {NODES} nodes + devices through the API took {:.1} s",
        fill.as_secs_f64()
    );
    b.stop();
}
