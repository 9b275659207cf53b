//! The examiner (`GET /internal/state/examine/gluster`): Heketi's report of
//! the store beside what every node of every cluster says: gluster's
//! volumes, LVM's `pvs`/`vgs`/`lvs` reports, and its fstab lines with their
//! mount state. Nodes are read in parallel, each through its node gate, so
//! a node answers at most `node_concurrency` of its queries at once. The
//! only comparison made is Heketi's (each node's gluster volume names
//! against the cluster's volumes in the store); `GET /db/check?nodes=true`
//! judges the rest. Nothing is changed.

use std::future::Future;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::executor::commands::LvmReportKind;
use crate::executor::examine::{BricksMountStatus, LvmRows, LvsReport, PvsReport, VgsReport, VolInfo};
use crate::wire::heketi_db::HeketiDb;

use super::{dump, Engine, OpError};

/// How many nodes are read at once.
const NODES_AT_ONCE: usize = 8;

/// Heketi's examination response; its node data keep Go's field names.
#[derive(Serialize, Debug)]
pub struct Examination {
    pub heketidb: HeketiDb,
    pub report: Vec<String>,
    /// `null` when the store has no cluster, as Go writes a nil slice.
    pub clusters: Option<Vec<ClusterData>>,
}

#[derive(Serialize, Debug)]
pub struct ClusterData {
    #[serde(rename = "ClusterHeketiID")]
    pub cluster_id: String,
    #[serde(rename = "NodesData")]
    pub nodes: Option<Vec<NodeData>>,
}

/// What one node reported; a part it could not report is `null`.
#[derive(Serialize, Debug, Default)]
pub struct NodeData {
    #[serde(rename = "NodeHeketiID")]
    pub node_id: String,
    #[serde(rename = "VolumeInfo")]
    pub volumes: Option<VolInfo>,
    #[serde(rename = "LVMPVInfo")]
    pub pvs: Option<PvsReport>,
    #[serde(rename = "LVMVGInfo")]
    pub vgs: Option<VgsReport>,
    #[serde(rename = "LVMLVInfo")]
    pub lvs: Option<LvsReport>,
    #[serde(rename = "BricksMountStatus")]
    pub mounts: Option<BricksMountStatus>,
    /// `<hosting volume>/<block volume>` as gluster-block on this node lists
    /// them, for every block-hosting volume of the store (of any cluster,
    /// as Heketi asks); `null` when it lists none.
    #[serde(rename = "BlockVolumeNames")]
    pub block_volume_names: Option<Vec<String>>,
}

/// A node to read: its cluster's position, its id and manage host.
struct Target {
    cluster: usize,
    node_id: String,
    host: String,
}

/// Reads every node and compares, in Heketi's order of report lines.
pub async fn examine_gluster(engine: &Engine) -> Result<Examination, OpError> {
    let mut report = vec![format!(
        "OnDemand Examiner invoked while {} ops are in flight",
        engine.throttle.in_use()
    )];
    let heketidb = dump::export_live(engine).await?;
    let clusters: Vec<&str> = heketidb.clusterentries.keys().map(String::as_str).collect();
    let targets: Vec<Target> = heketidb
        .clusterentries
        .values()
        .enumerate()
        .flat_map(|(cluster, entry)| entry.info.nodes.iter().map(move |id| (cluster, id)))
        .map(|(cluster, id)| Target {
            cluster,
            node_id: id.clone(),
            host: heketidb
                .nodeentries
                .get(id)
                .and_then(|n| n.info.hostnames.manage.first().cloned())
                .unwrap_or_default(),
        })
        .collect();
    // Heketi asks every node about every block-hosting volume it stores.
    let hosting: Vec<(&str, &str)> = heketidb
        .volumeentries
        .values()
        .filter(|v| v.info.block)
        .map(|v| (v.info.id.as_str(), v.info.name.as_str()))
        .collect();
    let hosting = &hosting;
    let examined: Vec<(usize, NodeData, Vec<String>)> = stream::iter(targets)
        .map(|target| async move {
            let (mut data, mut errors) = examine_node(engine, &target).await;
            let (names, failed) = block_volume_names(engine, &target.host, hosting).await;
            data.block_volume_names = names;
            errors.extend(failed);
            (target.cluster, data, errors)
        })
        .buffered(NODES_AT_ONCE)
        .collect()
        .await;
    let mut per_cluster: Vec<(Vec<NodeData>, Vec<String>)> = clusters.iter().map(|_| Default::default()).collect();
    for (cluster, data, errors) in examined {
        per_cluster[cluster].0.push(data);
        per_cluster[cluster].1.extend(errors);
    }
    let mut out = Vec::with_capacity(clusters.len());
    for (id, (nodes, errors)) in clusters.iter().zip(per_cluster) {
        report.extend(errors);
        if nodes.is_empty() {
            report.push(format!("not able to fetch any data from cluster {id}"));
        }
        report.extend(compare_volumes(&heketidb, id, &nodes));
        out.push(ClusterData {
            cluster_id: id.to_string(),
            nodes: (!nodes.is_empty()).then_some(nodes),
        });
    }
    Ok(Examination {
        report,
        clusters: (!out.is_empty()).then_some(out),
        heketidb,
    })
}

/// One node's reports, its queries in parallel through its node gate, and
/// Heketi's report line for each that failed.
async fn examine_node(engine: &Engine, target: &Target) -> (NodeData, Vec<String>) {
    let host = target.host.as_str();
    let executor = &engine.executor;
    let (volumes, pvs, vgs, lvs, mounts) = tokio::join!(
        gated(engine, host, executor.examine_volumes(host)),
        gated(engine, host, executor.examine_lvm(host, LvmReportKind::Pvs)),
        gated(engine, host, executor.examine_lvm(host, LvmReportKind::Vgs)),
        gated(engine, host, executor.examine_lvm(host, LvmReportKind::Lvs)),
        gated(engine, host, executor.examine_mounts(host)),
    );
    let mut data = NodeData {
        node_id: target.node_id.clone(),
        ..NodeData::default()
    };
    let mut errors = Vec::new();
    match volumes {
        Ok(v) => data.volumes = Some(v),
        Err(_) => errors.push(format!("could not fetch data from node {host}")),
    }
    for (rows, what) in [(pvs, "pvs"), (vgs, "vgs"), (lvs, "lvs")] {
        match rows {
            Ok(LvmRows::Pvs(r)) => data.pvs = Some(r),
            Ok(LvmRows::Vgs(r)) => data.vgs = Some(r),
            Ok(LvmRows::Lvs(r)) => data.lvs = Some(r),
            Err(e) => errors.push(format!("could not fetch LVM {what} data from node {host} : {e}")),
        }
    }
    match mounts {
        Ok(m) => data.mounts = Some(m),
        Err(e) => errors.push(format!("could not fetch brick mount status from node {host} : {e}")),
    }
    (data, errors)
}

/// `<hosting volume>/<block volume>` of each hosting volume (`(id, name)`)
/// as the node lists them (`None` for none, as Go writes a nil slice), and
/// Heketi's report line for each list that failed.
async fn block_volume_names(
    engine: &Engine,
    host: &str,
    hosting: &[(&str, &str)],
) -> (Option<Vec<String>>, Vec<String>) {
    let mut names = Vec::new();
    let mut errors = Vec::new();
    for (id, name) in hosting {
        match gated(engine, host, engine.executor.block_volume_names(host, name)).await {
            Ok(blocks) => names.extend(blocks.into_iter().map(|b| format!("{name}/{b}"))),
            Err(e) => errors.push(format!(
                "could not fetch block volume list for block hosting volume {id} : {e}"
            )),
        }
    }
    ((!names.is_empty()).then_some(names), errors)
}

/// Runs a query once a slot on its node is free.
async fn gated<T>(engine: &Engine, host: &str, query: impl Future<Output = T>) -> T {
    let _slot = engine.hosts.enter(host).await;
    query.await
}

/// Heketi's one comparison: each node's sorted gluster volume names against
/// the sorted names of the cluster's volumes in the store (pending ones too).
fn compare_volumes(db: &HeketiDb, cluster: &str, nodes: &[NodeData]) -> Vec<String> {
    let mut stored: Vec<&str> = db
        .clusterentries
        .get(cluster)
        .map(|c| c.info.volumes.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|id| db.volumeentries.get(id))
        .map(|v| v.info.name.as_str())
        .collect();
    stored.sort_unstable();
    let mut out = Vec::new();
    for node in nodes {
        let Some(volumes) = &node.volumes else {
            out.push(format!(
                "heketi volume list could not be compared with volume list of node {} due to missing info",
                node.node_id
            ));
            continue;
        };
        let mut seen: Vec<&str> = volumes.names().collect();
        seen.sort_unstable();
        if seen != stored {
            out.push(format!(
                "heketi volume list does not match with volume list of node {}",
                node.node_id
            ));
        }
    }
    if out.is_empty() {
        out.push("heketi volume list matches with volume list of all nodes".into());
    }
    out
}
