//! Brickyard on an etcd store against sled, and failover between replicas.
//!
//! A real three-member etcd cluster (Debian's `etcd-server`) on loopback
//! ports, started by the benchmark. For sled and then for etcd, one fresh
//! server with the mock executor (node state in memory, so the store is the
//! only difference) is filled to 1,000 and then 5,000 volumes; at each size
//! 200 sequential creates are timed and 32 clients make 10 creates each.
//!
//! Then failover: two replicas on one etcd store (the durable mock, its
//! node state in a directory both share, since only the leader builds the
//! executor and a mock kept in memory would leave with a killed leader).
//! Each round SIGKILLs the leader and times from the kill to the first
//! create POSTed to the surviving replica that ends in a `303`; a new
//! replica then takes the killed one's place. Ten rounds with the default
//! lease (5 s) and ten with `BRICKYARD_LEADER_LEASE_SECONDS=2`.
//!
//! On etcd it also reads the members' `/metrics` around the sequential
//! creates: range and transaction requests and raft proposals per create,
//! and the mean WAL fsync.
//!
//! Run with `cargo bench --bench replicas`; `BRICKYARD_BENCH_QUICK=1` runs
//! a short form (200 and 500 volumes, 50 sequential creates, 32 clients
//! × 3, 3 kills).

// Benchmarks fail loudly by design: unwrapping is how they fail.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../tests/support/etcd_cluster.rs"]
mod etcd_cluster;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{clients, create_polling, fill, micros, percentile, sequential, Bench, Burst, CREATE};
use etcd_cluster::{unique_prefix, EtcdCluster};

const CLIENTS: usize = 32;
/// Concurrent clients that fill the store up to a measured size.
const FILLERS: usize = 16;
/// Creates timed on etcd with one queue poll each.
const ONE_POLL_CREATES: usize = 10;
/// How long a replica may take to answer `/ready` with 200.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long a failover may take before the benchmark gives up.
const FAILOVER_WITHIN: Duration = Duration::from_secs(60);
/// How often the surviving replica is asked for a create meanwhile.
const RETRY_EVERY: Duration = Duration::from_millis(20);

/// What a run measures: the full form or the quick one.
struct Plan {
    sizes: [usize; 2],
    sequential: usize,
    /// Creates each of the 32 clients makes.
    per_client: usize,
    kills: usize,
}

impl Plan {
    fn from_env() -> Plan {
        if std::env::var("BRICKYARD_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0") {
            Plan {
                sizes: [200, 500],
                sequential: 50,
                per_client: 3,
                kills: 3,
            }
        } else {
            Plan {
                sizes: [1000, 5000],
                sequential: 200,
                per_client: 10,
                kills: 10,
            }
        }
    }
}

/// One server's numbers at one volume count.
struct Point {
    volumes: usize,
    sequential: Vec<Duration>,
    burst: Burst,
    /// On etcd: what the members did per sequential create, polling every
    /// 0.2 ms and then polling once.
    etcd: Option<(EtcdCounters, EtcdCounters)>,
}

/// etcd's own counters, summed over the members (proposals: the first
/// member's count, which every member commits alike).
#[derive(Clone, Copy, Default)]
struct EtcdCounters {
    ranges: f64,
    txns: f64,
    proposals: f64,
    fsync_seconds: f64,
    fsyncs: f64,
}

impl EtcdCounters {
    /// The change from `before`, per create of `creates`.
    fn since(&self, before: &EtcdCounters, creates: usize) -> EtcdCounters {
        let n = creates as f64;
        EtcdCounters {
            ranges: (self.ranges - before.ranges) / n,
            txns: (self.txns - before.txns) / n,
            proposals: (self.proposals - before.proposals) / n,
            fsync_seconds: self.fsync_seconds - before.fsync_seconds,
            fsyncs: self.fsyncs - before.fsyncs,
        }
    }
}

/// Reads each member's `/metrics` (on its client port).
fn etcd_counters(cluster: &EtcdCluster) -> EtcdCounters {
    let client = patient_client();
    let mut c = EtcdCounters::default();
    for (i, member) in cluster.endpoints().split(',').enumerate() {
        let text = client
            .get(format!("http://{member}/metrics"))
            .send()
            .and_then(reqwest::blocking::Response::text)
            .expect("etcd metrics");
        for line in text.lines() {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if name.starts_with("grpc_server_handled_total{") {
                if name.contains("grpc_method=\"Range\"") {
                    c.ranges += value;
                } else if name.contains("grpc_method=\"Txn\"") {
                    c.txns += value;
                }
            } else if name == "etcd_server_proposals_committed_total" && i == 0 {
                c.proposals = value;
            } else if name == "etcd_disk_wal_fsync_duration_seconds_sum" {
                c.fsync_seconds += value;
            } else if name == "etcd_disk_wal_fsync_duration_seconds_count" {
                c.fsyncs += value;
            }
        }
    }
    c
}

/// The server arguments and environment for the store: sled in `dir`, or
/// the etcd `url` (`etcd://members/prefix`) with this server's own files in
/// `local`.
fn server_args(dir: &Path, etcd: Option<(&str, &Path)>) -> (Vec<String>, Vec<(String, String)>) {
    let mut args = common::mock_server_args(dir);
    let mut env = vec![("HEKETI_MOCK_DEVICE_SIZE_GB".to_string(), "20000".to_string())];
    if let Some((url, local)) = etcd {
        args.extend(["--store".to_string(), url.to_string()]);
        env.extend([
            // As the README asks of etcd members that hold a store.
            ("BRICKYARD_ETCD_MAX_TXN_OPS".to_string(), "1024".to_string()),
            ("BRICKYARD_LOCAL_DIR".to_string(), local.to_string_lossy().into_owned()),
        ]);
    }
    (args, env)
}

fn start(dir: &Path, args: &[String], env: &[(String, String)]) -> Bench {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Bench::start(dir, &args, &env)
}

/// Create latency and 32-client throughput at each size, on one fresh
/// server; `cluster`: on etcd, else on sled.
fn run(plan: &Plan, cluster: Option<&EtcdCluster>) -> Vec<Point> {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = cluster.map(|c| c.url(&unique_prefix("bench-store")));
    let local = dir.path().join("local");
    let (args, mut env) = server_args(dir.path(), url.as_deref().map(|u| (u, local.as_path())));
    env.push(("BRICKYARD_MOCK_STATE".to_string(), "memory".to_string()));
    let b = start(dir.path(), &args, &env);
    if cluster.is_some() {
        wait_ready(&b, "leader\n");
    }
    b.three_nodes();
    let mut count = 0;
    let mut points = Vec::new();
    for target in plan.sizes {
        fill(&b, target.saturating_sub(count), FILLERS);
        count = count.max(target);
        let volumes = count;
        let before = cluster.map(etcd_counters);
        let times = sequential(&b, plan.sequential);
        let etcd = cluster.zip(before).map(|(c, before)| {
            let polled = etcd_counters(c).since(&before, plan.sequential);
            // The same with one poll a create (each takes well under
            // 200 ms): what the create itself reads, without the polls.
            let before = etcd_counters(c);
            for _ in 0..ONE_POLL_CREATES {
                create_polling(&b.client, &b.base, Duration::from_millis(200)).expect("no 429 sequentially");
            }
            (polled, etcd_counters(c).since(&before, ONE_POLL_CREATES))
        });
        count += if cluster.is_some() { ONE_POLL_CREATES } else { 0 };
        let burst = clients(&b.base, CLIENTS, plan.per_client);
        points.push(Point {
            volumes,
            sequential: times,
            burst,
            etcd,
        });
        count += plan.sequential + points.last().map_or(0, |p| p.burst.made);
    }
    b.stop();
    points
}

/// A client that gives up on a request after 10 s (a forward to a dead
/// leader must not hold a failover round).
fn patient_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// What `/ready` answers: status and body; `None` when nothing answers.
fn readiness(client: &reqwest::blocking::Client, base: &str) -> Option<(u16, String)> {
    let r = client.get(format!("{base}/ready")).send().ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().unwrap_or_default()))
}

/// Waits (bounded) until `/ready` answers 200 with `expected`.
fn wait_ready(b: &Bench, expected: &str) {
    let client = patient_client();
    let deadline = Instant::now() + READY_WITHIN;
    for _ in 0..3000 {
        let answer = readiness(&client, &b.base);
        if answer
            .as_ref()
            .is_some_and(|(status, body)| *status == 200 && body == expected)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready as {expected:?} within {READY_WITHIN:?}: {answer:?}",
            b.base
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{} not ready after 3000 asks", b.base);
}

/// One create through `base`, POST to `303`; false for any other outcome
/// (a `503` while nobody leads, a forward that failed, a refused
/// connection).
fn create_through(client: &reqwest::blocking::Client, base: &str) -> bool {
    let Ok(accepted) = client.post(format!("{base}/volumes")).body(CREATE).send() else {
        return false;
    };
    if accepted.status().as_u16() != 202 {
        return false;
    }
    let Some(location) = accepted
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_string)
    else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..30_000 {
        let Ok(r) = client.get(format!("{base}{location}")).send() else {
            return false;
        };
        if r.headers().get("x-pending").is_none() {
            return r.status().as_u16() == 303;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// A replica of the failover runs, in its own directory.
struct Replica {
    _dir: tempfile::TempDir,
    bench: Bench,
}

/// Failover rounds on a fresh store: `kills` times, SIGKILL the leader and
/// time until a create through the other replica completes. `lease`: the
/// leader's lease in seconds, `None` for the default.
fn failover(cluster: &EtcdCluster, kills: usize, lease: Option<&str>) -> Vec<Duration> {
    let url = cluster.url(&unique_prefix("bench-failover"));
    // The mock's node state (durable), shared by every replica.
    let local = tempfile::tempdir().expect("tempdir");
    let replica = || {
        let dir = tempfile::tempdir().expect("tempdir");
        let (args, mut env) = server_args(dir.path(), Some((&url, local.path())));
        if let Some(seconds) = lease {
            env.push(("BRICKYARD_LEADER_LEASE_SECONDS".to_string(), seconds.to_string()));
        }
        let bench = start(dir.path(), &args, &env);
        Replica { _dir: dir, bench }
    };
    let mut replicas = vec![replica()];
    wait_ready(&replicas[0].bench, "leader\n");
    replicas.push(replica());
    let follower_of = |base: &str| format!("follower of {base}\n");
    wait_ready(&replicas[1].bench, &follower_of(&replicas[0].bench.base));
    // Everything through the follower, as a Service over both sends it.
    replicas[1].bench.three_nodes();
    let client = patient_client();
    assert!(create_through(&client, &replicas[1].bench.base), "a first create");

    // The leader is always `replicas[0]`, the follower `replicas[1]`.
    let mut times = Vec::with_capacity(kills);
    for round in 0..kills {
        let killed = replicas.remove(0);
        let started = Instant::now();
        killed.bench.stop();
        let base = replicas[0].bench.base.clone();
        let mut done = None;
        for _ in 0..FAILOVER_WITHIN.as_millis() / RETRY_EVERY.as_millis() {
            if create_through(&client, &base) {
                done = Some(started.elapsed());
                break;
            }
            if started.elapsed() > FAILOVER_WITHIN {
                break;
            }
            std::thread::sleep(RETRY_EVERY);
        }
        let took = done.unwrap_or_else(|| panic!("round {round}: no create through {base} within {FAILOVER_WITHIN:?}"));
        println!("  round {}: {:.2} s", round + 1, took.as_secs_f64());
        times.push(took);
        // The survivor leads now; a new replica takes the killed one's place.
        let fresh = replica();
        wait_ready(&fresh.bench, &follower_of(&base));
        replicas.push(fresh);
    }
    for r in replicas {
        r.bench.stop();
    }
    times.sort();
    times
}

/// The middle of `sorted`, or the mean of the two middles.
fn median(sorted: &[Duration]) -> Duration {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let plan = Plan::from_env();
    println!(
        "etcd store against sled: mock executor (node state in memory), 3 nodes, replica-3 1 GiB volumes, loopback; load average at start {}",
        loadavg()
    );
    let cluster = EtcdCluster::start(3);
    let sled = run(&plan, None);
    let etcd = run(&plan, Some(&cluster));
    println!();
    println!("| store | volumes | create p50 | create p99 | sequential creates/s | {CLIENTS} clients |");
    println!("|---|---|---|---|---|---|");
    for (kind, points) in [("sled", &sled), ("etcd (3 members)", &etcd)] {
        for p in points {
            let mean = p.sequential.iter().sum::<Duration>() / p.sequential.len() as u32;
            println!(
                "| {kind} | {} | {} | {} | {:.0} | {:.0} creates/s{} |",
                p.volumes,
                micros(percentile(&p.sequential, 0.5)),
                micros(percentile(&p.sequential, 0.99)),
                1.0 / mean.as_secs_f64(),
                p.burst.creates_per_sec(),
                if p.burst.busy > 0 {
                    format!(" ({} `429`)", p.burst.busy)
                } else {
                    String::new()
                }
            );
        }
    }
    println!();
    for (s, e) in sled.iter().zip(&etcd) {
        println!(
            "at {} volumes: etcd/sled create p50 {:.2}×, 32-client throughput {:.2}×",
            s.volumes,
            percentile(&e.sequential, 0.5).as_secs_f64() / percentile(&s.sequential, 0.5).as_secs_f64(),
            e.burst.creates_per_sec() / s.burst.creates_per_sec()
        );
    }

    for p in &etcd {
        if let Some((c, once)) = &p.etcd {
            println!(
                "etcd per sequential create at {} volumes: {:.1} range + {:.1} txn requests ({:.1} + {:.1} with a single queue poll), {:.1} raft proposals; WAL fsync mean {}",
                p.volumes,
                c.ranges,
                c.txns,
                once.ranges,
                once.txns,
                c.proposals,
                micros(Duration::from_secs_f64(c.fsync_seconds / c.fsyncs.max(1.0)))
            );
        }
    }
    println!();
    println!(
        "Failover: two replicas, the leader SIGKILLed, time to the first create through the other that ends in a 303"
    );
    let mut rows = Vec::new();
    for (name, lease) in [("5 s (default)", None), ("2 s", Some("2"))] {
        println!("lease {name}:");
        rows.push((name, failover(&cluster, plan.kills, lease)));
    }
    println!();
    println!("| leader lease | kills | median | worst | best |");
    println!("|---|---|---|---|---|");
    for (name, times) in &rows {
        println!(
            "| {name} | {} | {:.2} s | {:.2} s | {:.2} s |",
            times.len(),
            median(times).as_secs_f64(),
            times.last().unwrap().as_secs_f64(),
            times[0].as_secs_f64()
        );
    }
    println!();
    println!("load average at the end: {}", loadavg());
}
