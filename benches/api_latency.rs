//! Latency of GET /clusters/{id} and GET /nodes/{id} with 1,000 nodes in the
//! store, and the server's resident memory. Run with `cargo bench --bench
//! api_latency`; it starts the release binary on a loopback port.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;

const NODES: usize = 1000;
const SAMPLES: usize = 5000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn wait_done(client: &Client, base: &str, location: &str) -> reqwest::blocking::Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = client.get(format!("{base}{location}")).send().expect("poll");
        if r.headers().get("x-pending").is_none() {
            return r;
        }
        assert!(Instant::now() < deadline, "operation did not finish");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn measure(client: &Client, urls: &[String]) -> Vec<Duration> {
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let url = &urls[i % urls.len()];
        let start = Instant::now();
        let resp = client.get(url).send().expect("get");
        assert!(resp.status().is_success());
        let _ = resp.bytes().expect("body");
        times.push(start.elapsed());
    }
    times.sort();
    times
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.path().join("store"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let line = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .next()
        .expect("listening line")
        .expect("utf8");
    let base = format!("http://{}", line.trim_start_matches("Listening on "));
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let cluster: serde_json::Value = client
        .post(format!("{base}/clusters"))
        .body(r#"{"file":true,"block":true}"#)
        .send()
        .and_then(|r| r.json())
        .expect("cluster");
    let cluster = cluster["id"].as_str().expect("id").to_string();
    let fill = Instant::now();
    let mut nodes = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let body = serde_json::json!({
            "zone": i % 3 + 1,
            "hostnames": {"manage": [format!("node{i}.example.com")], "storage": [format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)]},
            "cluster": cluster,
        });
        let accepted = client
            .post(format!("{base}/nodes"))
            .body(body.to_string())
            .send()
            .expect("node add");
        let location = accepted.headers()["location"].to_str().expect("location").to_string();
        let done = wait_done(&client, &base, &location);
        let node = done.headers()["location"]
            .to_str()
            .expect("node location")
            .trim_start_matches("/nodes/")
            .to_string();
        let device = serde_json::json!({"node": node, "name": "/dev/sdb"});
        let accepted = client
            .post(format!("{base}/devices"))
            .body(device.to_string())
            .send()
            .expect("device add");
        let location = accepted.headers()["location"].to_str().expect("location").to_string();
        wait_done(&client, &base, &location);
        nodes.push(node);
    }
    let fill = fill.elapsed();

    let cluster_urls = vec![format!("{base}/clusters/{cluster}")];
    let node_urls: Vec<String> = nodes.iter().map(|n| format!("{base}/nodes/{n}")).collect();
    // Warm up connections and caches.
    measure(&client, &node_urls[..10]);
    let clusters = measure(&client, &cluster_urls);
    let node_times = measure(&client, &node_urls);
    let rss = rss_kib(child.id());

    println!(
        "Brickyard API latency, {NODES} nodes (1 device each), {SAMPLES} sequential requests per route, keep-alive"
    );
    println!("| route | p50 | p99 |");
    println!("|---|---|---|");
    for (route, t) in [("GET /clusters/{id}", &clusters), ("GET /nodes/{id}", &node_times)] {
        println!(
            "| {route} | {:.0} µs | {:.0} µs |",
            percentile(t, 0.50).as_secs_f64() * 1e6,
            percentile(t, 0.99).as_secs_f64() * 1e6
        );
    }
    println!("server resident memory: {:.1} MiB", rss as f64 / 1024.0);
    println!(
        "filling {NODES} nodes + devices through the API took {:.1} s",
        fill.as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
}
