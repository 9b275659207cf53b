//! Shared by the benchmarks: start the release binary on loopback and talk
//! to it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};

pub struct Bench {
    pub child: Child,
    pub base: String,
    pub client: Client,
}

pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .expect("client")
}

impl Bench {
    /// Starts `brickyard serve` with `args` and `env`; returns once it
    /// listens (within 30 s). The server dies with the thread that started
    /// it (`PR_SET_PDEATHSIG`); its log goes to `brickyard.log` in `dir`.
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Bench {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("brickyard.log"))
            .expect("server log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_brickyard"));
        // SAFETY: prctl in the child before exec; no allocation.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "error")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the listening line, then drains whatever else comes.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server's listening line within 30 s");
        let addr = line
            .trim_start_matches("Listening on ")
            .replace("[::]", "127.0.0.1")
            .replace("0.0.0.0", "127.0.0.1");
        Bench {
            child,
            base: format!("http://{addr}"),
            client: client(),
        }
    }

    pub fn post(&self, path: &str, body: &str) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .body(body.to_string())
            .send()
            .expect("post")
    }

    pub fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).send().expect("get")
    }

    pub fn finish(&self, client: &Client, accepted: Response) -> Response {
        wait_final(client, &self.base, accepted)
    }

    /// A cluster of 3 nodes in 3 zones with one device each; returns its id.
    pub fn three_nodes(&self) -> String {
        self.cluster_of_three(|i| (format!("node{i}"), format!("10.0.0.{i}")))
    }

    /// A cluster of 3 nodes in 3 zones with one device each, node `i`
    /// named by `names(i)` (manage, storage); returns its id.
    pub fn cluster_of_three(&self, names: impl Fn(usize) -> (String, String)) -> String {
        let cluster: serde_json::Value = self
            .post("/clusters", r#"{"file":true,"block":true}"#)
            .json()
            .expect("cluster");
        let cluster = cluster["id"].as_str().expect("id").to_string();
        for i in 1..=3 {
            let (manage, storage) = names(i);
            self.node_with_device(&cluster, i, &manage, &storage);
        }
        cluster
    }

    /// Adds a node with one device, `/dev/sdb`; returns the node id.
    pub fn node_with_device(&self, cluster: &str, zone: usize, manage: &str, storage: &str) -> String {
        let body = serde_json::json!({"zone": zone, "hostnames": {"manage": [manage], "storage": [storage]}, "cluster": cluster});
        let done = self.finish(&self.client, self.post("/nodes", &body.to_string()));
        let node = done.headers()["location"]
            .to_str()
            .expect("node")
            .trim_start_matches("/nodes/")
            .to_string();
        let device = serde_json::json!({"node": node, "name": "/dev/sdb"});
        self.finish(&self.client, self.post("/devices", &device.to_string()));
        node
    }

    pub fn rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
            })
            .unwrap_or(0.0)
            / 1024.0
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls an accepted request tightly (bounded) until it is final.
pub fn wait_final(client: &Client, base: &str, accepted: Response) -> Response {
    wait_final_every(client, base, accepted, Duration::from_micros(200))
}

/// Polls an accepted request every `interval` (bounded) until it is final.
pub fn wait_final_every(client: &Client, base: &str, accepted: Response, interval: Duration) -> Response {
    let location = accepted.headers()["location"].to_str().expect("location").to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = client.get(format!("{base}{location}")).send().expect("poll");
        if r.headers().get("x-pending").is_none() {
            return r;
        }
        assert!(Instant::now() < deadline, "operation did not finish");
        std::thread::sleep(interval);
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

pub fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

pub fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Writes a heketi.json into `dir` for the mock executor with no volume
/// limit; returns the `serve` arguments that use it, on an ephemeral port.
pub fn mock_server_args(dir: &Path) -> Vec<String> {
    mock_server_args_limited(dir, -1)
}

/// `mock_server_args` with `max_volumes_per_cluster` (-1: no limit).
pub fn mock_server_args_limited(dir: &Path, max_volumes_per_cluster: i64) -> Vec<String> {
    let config = dir.join("heketi.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"port":"0","glusterfs":{{"executor":"mock","db":"store","max_volumes_per_cluster":{max_volumes_per_cluster}}}}}"#
        ),
    )
    .expect("config");
    let config = config.to_str().expect("path").to_string();
    ["--config", &config, "--disable-auth", "--listen", "127.0.0.1:0"]
        .map(String::from)
        .to_vec()
}

/// The volume the create benchmarks make.
pub const CREATE: &str = r#"{"size":1,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

/// One create, POST to 303, polling every 0.2 ms; `Err` for a 429.
pub fn create_once(client: &Client, base: &str) -> Result<Duration, ()> {
    create_polling(client, base, Duration::from_micros(200))
}

/// One create, polling every `interval`; `Err` for a 429.
pub fn create_polling(client: &Client, base: &str, interval: Duration) -> Result<Duration, ()> {
    let start = Instant::now();
    let accepted = client
        .post(format!("{base}/volumes"))
        .body(CREATE)
        .send()
        .expect("post");
    if accepted.status().as_u16() == 429 {
        return Err(());
    }
    assert_eq!(accepted.status().as_u16(), 202, "{:?}", accepted.text());
    let done = wait_final_every(client, base, accepted, interval);
    assert_eq!(done.status().as_u16(), 303);
    Ok(start.elapsed())
}

/// `n` sequential creates, their times sorted.
pub fn sequential(b: &Bench, n: usize) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| create_once(&b.client, &b.base).expect("no 429 sequentially"))
        .collect();
    times.sort();
    times
}

/// Creates `n` volumes with `fillers` concurrent clients.
pub fn fill(b: &Bench, n: usize, fillers: usize) {
    let left = Arc::new(AtomicUsize::new(n));
    let handles: Vec<_> = (0..fillers)
        .map(|_| {
            let (base, left) = (b.base.clone(), left.clone());
            std::thread::spawn(move || {
                let client = client();
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| l.checked_sub(1))
                    .is_ok()
                {
                    create_polling(&client, &base, Duration::from_millis(1)).expect("no 429 while filling");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("filler");
    }
}

/// What a burst of concurrent clients did.
pub struct Burst {
    pub made: usize,
    pub elapsed: Duration,
    /// `429` answers.
    pub busy: usize,
}

impl Burst {
    pub fn creates_per_sec(&self) -> f64 {
        self.made as f64 / self.elapsed.as_secs_f64()
    }
}

/// `clients` concurrent clients making `per_client` volumes each (polling
/// every 2 ms, backing off 5 ms after a 429).
pub fn clients(base: &str, clients: usize, per_client: usize) -> Burst {
    let busy = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let base = base.to_string();
            let (busy, done) = (busy.clone(), done.clone());
            std::thread::spawn(move || {
                let client = client();
                let mut made = 0;
                let deadline = Instant::now() + Duration::from_secs(120);
                while made < per_client && Instant::now() < deadline {
                    // Pollers back off a little, as real clients do (heketi-cli waits 400 ms).
                    if create_polling(&client, &base, Duration::from_millis(2)).is_ok() {
                        made += 1;
                    } else {
                        busy.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                done.fetch_add(made, Ordering::Relaxed);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    Burst {
        made: done.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        busy: busy.load(Ordering::Relaxed),
    }
}
