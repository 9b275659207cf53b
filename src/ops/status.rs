//! What the operations layer reports about itself and the topology, for
//! `/operations` and `/metrics`: both read it here, so they count the same
//! way (Heketi's: operations of the kinds it journals, "in flight" as the
//! throttle counts them). Also what the executor reports about itself:
//! transport counters, the mock's node state. And what the node health
//! monitor found.

use crate::executor::mock::{LoadError, MockNodes};
use crate::executor::transport::StatsSnapshot;
use crate::store::records::{ClusterRecord, DeviceRecord, NodeRecord};
use crate::store::TreeName;

use super::block_volumes::visible_block_volumes;
pub use super::health::{Health, NodeHealth};
use super::journal::{JournalEntry, JournalStatus};
use super::operation::HeketiType;
use super::volumes::visible_volume_counts;
use super::{Engine, OpError};

/// A journal entry of a kind Heketi reports as a pending operation.
pub struct PendingOperation {
    pub entry: JournalEntry,
    pub heketi_type: HeketiType,
}

/// Journal entries of the kinds Heketi reports, in id order.
pub fn pending_operations(engine: &Engine) -> Result<Vec<PendingOperation>, OpError> {
    Ok(engine
        .store
        .scan::<JournalEntry>()?
        .into_iter()
        .filter_map(|entry| {
            let heketi_type = entry.action.op().heketi_type()?;
            Some(PendingOperation { entry, heketi_type })
        })
        .collect())
}

/// The numbers of `GET /operations` and the operation gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationCounts {
    pub total: usize,
    pub in_flight: usize,
    pub new: usize,
    pub stale: usize,
    pub failed: usize,
}

pub fn operation_counts(engine: &Engine) -> Result<OperationCounts, OpError> {
    let all = pending_operations(engine)?;
    let count = |s: JournalStatus| all.iter().filter(|p| p.entry.status == s).count();
    Ok(OperationCounts {
        total: all.len(),
        in_flight: engine.throttle.in_use(),
        new: count(JournalStatus::New),
        stale: count(JournalStatus::Stale),
        failed: count(JournalStatus::Failed),
    })
}

/// One device as the metrics label and measure it.
pub struct DeviceSummary {
    pub record: DeviceRecord,
    pub bricks: usize,
}

pub struct NodeSummary {
    pub record: NodeRecord,
    pub devices: Vec<DeviceSummary>,
}

pub struct ClusterSummary {
    pub id: String,
    pub volumes: usize,
    pub block_volumes: usize,
    pub nodes: Vec<NodeSummary>,
}

/// Every cluster with what clients see of it, for the topology gauges.
pub fn topology(engine: &Engine) -> Result<Vec<ClusterSummary>, OpError> {
    let store = &engine.store;
    let volumes = visible_volume_counts(engine)?;
    let mut out = Vec::new();
    for cluster in store.scan::<ClusterRecord>()? {
        let mut nodes = Vec::new();
        for node_id in store.children(TreeName::ClusterNodes, &cluster.id)? {
            let Some(record) = store.get::<NodeRecord>(&node_id)? else {
                continue;
            };
            let mut devices = Vec::new();
            for device_id in store.children(TreeName::NodeDevices, &node_id)? {
                let Some(device) = store.get::<DeviceRecord>(&device_id)? else {
                    continue;
                };
                devices.push(DeviceSummary {
                    bricks: store.children(TreeName::DeviceBricks, &device_id)?.len(),
                    record: device,
                });
            }
            nodes.push(NodeSummary { record, devices });
        }
        out.push(ClusterSummary {
            volumes: volumes.get(&cluster.id).copied().unwrap_or_default(),
            block_volumes: visible_block_volumes(engine, &cluster.id)?.len(),
            id: cluster.id,
            nodes,
        });
    }
    Ok(out)
}

/// Disk syncs the store has made (commits share them).
pub fn store_syncs(engine: &Engine) -> u64 {
    engine.store.syncs()
}

/// What the executor's transport has done, if it keeps count.
pub fn transport_stats(engine: &Engine) -> Option<StatsSnapshot> {
    engine.executor.transport_stats()
}

/// The mock executor's node state (`GET /internal/mock/state`); `None`
/// when the nodes are real, an error when the mock could not load it.
pub fn mock_nodes(engine: &Engine) -> Option<Result<MockNodes, LoadError>> {
    engine.executor.mock_nodes()
}

/// What the node health monitor last found of each monitored node, in
/// node id order; empty while it is off or before its first round.
pub fn node_health(engine: &Engine) -> Vec<NodeHealth> {
    engine.health.snapshot()
}
