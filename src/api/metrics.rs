//! `/metrics`: Heketi's gauges, computed at scrape time.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, Gauge, GaugeVec, Opts, Registry, TextEncoder};

use super::AppState;
use crate::ops::{status, Engine};

const DEVICE_LABELS: [&str; 6] = ["cluster", "hostname", "storage_hostname", "id", "device", "pv_uuid"];

fn gauge(registry: &Registry, name: &str, help: &str) -> Result<Gauge, prometheus::Error> {
    let g = Gauge::new(name, help)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec, prometheus::Error> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn collect_topology(engine: &Engine, registry: &Registry) -> Result<(), Box<dyn std::error::Error>> {
    let clusters = status::topology(engine)?;
    gauge(registry, "heketi_cluster_count", "Number of clusters")?.set(clusters.len() as f64);
    let volumes = gauge_vec(
        registry,
        "heketi_volumes_count",
        "Number of volumes on cluster",
        &["cluster"],
    )?;
    let block_volumes = gauge_vec(
        registry,
        "heketi_block_volumes_count",
        "Number of block volumes on cluster",
        &["cluster"],
    )?;
    let nodes = gauge_vec(
        registry,
        "heketi_nodes_count",
        "Number of nodes on cluster",
        &["cluster"],
    )?;
    let device_count = gauge_vec(
        registry,
        "heketi_device_count",
        "Number of devices on host",
        &["cluster", "hostname", "storage_hostname"],
    )?;
    let per_device = [
        ("heketi_device_size", "Total size of the device"),
        ("heketi_device_free", "Amount of Free space available on the device"),
        ("heketi_device_used", "Amount of space used on the device"),
        ("heketi_device_size_bytes", "Total size of the device in bytes"),
        (
            "heketi_device_free_bytes",
            "Amount of Free space available on the device in bytes",
        ),
        (
            "heketi_device_used_bytes",
            "Amount of space used on the device in bytes",
        ),
        ("heketi_device_brick_count", "Number of bricks on device"),
    ]
    .iter()
    .map(|(n, h)| gauge_vec(registry, n, h, &DEVICE_LABELS))
    .collect::<Result<Vec<_>, _>>()?;

    for cluster in &clusters {
        let c = cluster.id.as_str();
        volumes.with_label_values(&[c]).set(cluster.volumes as f64);
        block_volumes.with_label_values(&[c]).set(cluster.block_volumes as f64);
        nodes.with_label_values(&[c]).set(cluster.nodes.len() as f64);
        for node in &cluster.nodes {
            let (manage, storage) = (node.record.manage_host(), node.record.storage_host());
            device_count
                .with_label_values(&[c, manage, storage])
                .set(node.devices.len() as f64);
            for device in &node.devices {
                let d = &device.record;
                let labels = [c, manage, storage, &d.id, &d.name, &d.pv_uuid];
                let values = [
                    d.space.total as f64,
                    d.space.free as f64,
                    d.space.used as f64,
                    d.space.total as f64 * 1024.0,
                    d.space.free as f64 * 1024.0,
                    d.space.used as f64 * 1024.0,
                    device.bricks as f64,
                ];
                for (g, v) in per_device.iter().zip(values) {
                    g.with_label_values(&labels).set(v);
                }
            }
        }
    }
    Ok(())
}

fn collect_operations(engine: &Engine, registry: &Registry) -> Result<(), Box<dyn std::error::Error>> {
    let counts = status::operation_counts(engine)?;
    gauge(registry, "heketi_operations_total_count", "Total Number of Operations")?.set(counts.total as f64);
    gauge(registry, "heketi_operations_new_count", "Number of New Operations")?.set(counts.new as f64);
    gauge(registry, "heketi_operations_stale_count", "Number of Stale Operations")?.set(counts.stale as f64);
    gauge(
        registry,
        "heketi_operations_failed_count",
        "Number of Failed Operations",
    )?
    .set(counts.failed as f64);
    gauge(
        registry,
        "heketi_operations_inFlight_count",
        "Number of in flight Operations",
    )?
    .set(counts.in_flight as f64);
    Ok(())
}

/// A counter whose value is known at scrape time.
fn counter(registry: &Registry, name: &str, help: &str, value: f64) -> Result<(), prometheus::Error> {
    let c = prometheus::Counter::new(name, help)?;
    c.inc_by(value);
    registry.register(Box::new(c))
}

/// Brickyard's own: what the remote executor's transport has done.
fn collect_transport(engine: &Engine, registry: &Registry) -> Result<(), Box<dyn std::error::Error>> {
    let Some(stats) = status::transport_stats(engine) else {
        return Ok(());
    };
    counter(
        registry,
        "brickyard_executor_connections_opened_total",
        "Connections the executor opened to storage nodes",
        stats.connections_opened as f64,
    )?;
    counter(
        registry,
        "brickyard_executor_commands_total",
        "Commands run on storage nodes",
        stats.commands as f64,
    )?;
    counter(
        registry,
        "brickyard_executor_command_seconds_total",
        "Time spent running commands on storage nodes",
        stats.command_seconds,
    )?;
    Ok(())
}

/// Brickyard's own: the store's disk syncs, which commits share.
fn collect_store(engine: &Engine, registry: &Registry) -> Result<(), prometheus::Error> {
    counter(
        registry,
        "brickyard_store_syncs_total",
        "Disk syncs of the store; concurrent commits share one",
        status::store_syncs(engine) as f64,
    )
}

/// Brickyard's own: what the node health monitor last found of each
/// online node's glusterd (1 up, 0 down).
fn collect_health(engine: &Engine, registry: &Registry) -> Result<(), prometheus::Error> {
    let nodes = status::node_health(engine);
    if nodes.is_empty() {
        return Ok(());
    }
    let up = gauge_vec(
        registry,
        "brickyard_node_up",
        "Whether the node health monitor found glusterd running on the node",
        &["node", "hostname"],
    )?;
    for n in nodes {
        up.with_label_values(&[n.node.as_str(), n.hostname.as_str()])
            .set(if n.health == status::Health::Up { 1.0 } else { 0.0 });
    }
    Ok(())
}

/// Renders the exposition text (also used by benchmarks and tests).
pub fn render(engine: &Engine) -> String {
    let registry = Registry::new();
    let up = collect_topology(engine, &registry).is_ok();
    let registry = if up {
        let _ = collect_operations(engine, &registry);
        let _ = collect_transport(engine, &registry);
        let _ = collect_store(engine, &registry);
        let _ = collect_health(engine, &registry);
        registry
    } else {
        // Heketi emits only heketi_up when the topology cannot be read.
        Registry::new()
    };
    if let Ok(g) = gauge(&registry, "heketi_up", "Is heketi running?") {
        g.set(if up { 1.0 } else { 0.0 });
    }
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut resp = (StatusCode::OK, render(&app.engine)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
