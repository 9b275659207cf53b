//! The Kubernetes transport's cost per command: sequential round trips and
//! throughput through kube-rs (pod lookup + exec over WebSocket) against
//! the API-server stand-in on loopback, next to spawning the same
//! `bash -c true` directly, which both include. Run with
//! `cargo bench --bench kube_exec`.

// Tests and benchmarks fail loudly by design: unwrapping is how they fail.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../tests/support/kube_standin.rs"]
mod kube_standin;

use std::sync::Arc;
use std::time::{Duration, Instant};

use brickyard::executor::kube::{KubeSettings, KubeTransport};
use brickyard::executor::transport::Transport;
use common::{micros, percentile};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_standin::{local_runner, KubeStandin, StandinPod};

const SEQUENTIAL: usize = 500;
const CLIENTS: usize = 8;
const PER_CLIENT: usize = 100;

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{what:<52} p50 {:>9}  p99 {:>9}",
        micros(percentile(&times, 0.50)),
        micros(percentile(&times, 0.99))
    );
}

#[tokio::main]
async fn main() {
    let pods = vec![
        StandinPod::glusterfs("glusterfs-a", "glusterfs", "node1"),
        StandinPod::glusterfs("glusterfs-b", "glusterfs", "node2"),
        StandinPod::glusterfs("glusterfs-c", "glusterfs", "node3"),
    ];
    let standin = KubeStandin::start(pods, "bench-token", local_runner());
    let kubeconfig = Kubeconfig::from_yaml(&standin.kubeconfig("glusterfs")).expect("kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("client");
    let transport = Arc::new(KubeTransport::new(
        client,
        KubeSettings::new("glusterfs".into(), false, true, 0),
    ));
    let limit = Duration::from_secs(60);
    for _ in 0..20 {
        transport.run("node1", "true", limit).await.expect("warm-up");
    }

    let mut spawned = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        let status = tokio::process::Command::new("timeout")
            .args(["1m", "bash", "-c", "true"])
            .status()
            .await
            .expect("spawn");
        assert!(status.success());
        spawned.push(started.elapsed());
    }
    report("spawn `timeout 1m bash -c true` directly", spawned);

    let mut exec = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL {
        let node = ["node1", "node2", "node3"][i % 3];
        let started = Instant::now();
        let out = transport.run(node, "true", limit).await.expect("exec");
        assert_eq!(out.status, 0);
        exec.push(started.elapsed());
    }
    report("same through the Kubernetes transport (sequential)", exec);

    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let transport = transport.clone();
            tokio::spawn(async move {
                for i in 0..PER_CLIENT {
                    let node = ["node1", "node2", "node3"][(c + i) % 3];
                    transport.run(node, "true", limit).await.expect("exec");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let total = CLIENTS * PER_CLIENT;
    println!(
        "{CLIENTS} concurrent callers: {total} commands in {:.2} s, {:.0} commands/s",
        started.elapsed().as_secs_f64(),
        total as f64 / started.elapsed().as_secs_f64()
    );
    let stats = transport.stats().snapshot();
    println!(
        "exec sessions opened: {}, commands: {}",
        stats.connections_opened, stats.commands
    );
}
