//! The store consistency check behind `GET /db/check`, also run by the
//! crash tests: every reference points to an existing entity that points
//! back, every device's space adds up, and pending markers belong to
//! journal entries.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::store::records::{BlockVolumeRecord, BrickRecord, ClusterRecord, DeviceRecord, NodeRecord, VolumeRecord};
use crate::store::{Store, TreeName};

use super::block_volumes::{CreateBlockVolume, DeleteBlockVolume, ExpandBlockVolume};
use super::evict::EvictBrick;
use super::journal::{Action, JournalEntry, JournalStatus};
use super::volumes::{CloneVolume, CreateVolume, DeleteVolume, ExpandVolume};
use super::{Engine, OpError};

#[derive(Serialize, Debug, Default, Clone, PartialEq)]
pub struct Bucket {
    pub total: usize,
    pub pending: usize,
    pub ok: usize,
    pub notok: usize,
    pub inconsistencies: Vec<String>,
}

impl Bucket {
    fn judge(&mut self, pending: bool, problems: Vec<String>) {
        self.total += 1;
        if pending {
            self.pending += 1;
        }
        if problems.is_empty() {
            self.ok += 1;
        } else {
            self.notok += 1;
            self.inconsistencies.extend(problems);
        }
    }
}

/// Heketi's report shape.
#[derive(Serialize, Debug, Default, Clone, PartialEq)]
pub struct CheckReport {
    pub clusters: Bucket,
    pub volumes: Bucket,
    pub bricks: Bucket,
    pub nodes: Bucket,
    pub devices: Bucket,
    pub blockvolumes: Bucket,
    pub dbattributes: Bucket,
    pub pendingoperations: Bucket,
    pub totalinconsistencies: usize,
    /// With `?nodes=true`: the store against the nodes (Brickyard's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<super::check_nodes::NodesReport>,
}

pub fn check(engine: &Engine) -> Result<CheckReport, OpError> {
    check_store(&engine.store)
}

/// The store check, then the store against the nodes; each drift
/// counts as an inconsistency.
pub async fn check_with_nodes(engine: &Engine) -> Result<CheckReport, OpError> {
    let mut report = check(engine)?;
    let nodes = crate::ops::check_nodes::check_nodes(engine).await?;
    report.totalinconsistencies += nodes.findings.len();
    report.drift = Some(nodes);
    Ok(report)
}

/// Heketi's consistency rules over a whole store (also used offline).
pub fn check_store(s: &Store) -> Result<CheckReport, OpError> {
    {
        let clusters: HashMap<String, ClusterRecord> = s
            .scan::<ClusterRecord>()?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let nodes: HashMap<String, NodeRecord> =
            s.scan::<NodeRecord>()?.into_iter().map(|n| (n.id.clone(), n)).collect();
        let devices: HashMap<String, DeviceRecord> = s
            .scan::<DeviceRecord>()?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
        let bricks: HashMap<String, BrickRecord> = s
            .scan::<BrickRecord>()?
            .into_iter()
            .map(|b| (b.id.clone(), b))
            .collect();
        let volumes: HashMap<String, VolumeRecord> = s
            .scan::<VolumeRecord>()?
            .into_iter()
            .map(|v| (v.id.clone(), v))
            .collect();
        let block_volumes: HashMap<String, BlockVolumeRecord> = s
            .scan::<BlockVolumeRecord>()?
            .into_iter()
            .map(|b| (b.id.clone(), b))
            .collect();
        let journal: HashMap<String, JournalEntry> = s
            .scan::<JournalEntry>()?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        let mut report = CheckReport::default();

        for c in sorted(&clusters) {
            let mut p = Vec::new();
            for n in s.children(TreeName::ClusterNodes, &c.id)? {
                match nodes.get(&n) {
                    Some(node) if node.cluster == c.id => {}
                    _ => p.push(format!("Cluster {} lists node {n}, which does not point back", c.id)),
                }
            }
            for v in s.children(TreeName::ClusterVolumes, &c.id)? {
                match volumes.get(&v) {
                    Some(vol) if vol.cluster == c.id => {}
                    _ => p.push(format!("Cluster {} lists volume {v}, which does not point back", c.id)),
                }
            }
            for b in s.children(TreeName::ClusterBlockVolumes, &c.id)? {
                match block_volumes.get(&b) {
                    Some(block) if block.cluster == c.id => {}
                    _ => p.push(format!(
                        "Cluster {} lists block volume {b}, which does not point back",
                        c.id
                    )),
                }
            }
            report.clusters.judge(false, p);
        }

        for n in sorted(&nodes) {
            let mut p = Vec::new();
            if !clusters.contains_key(&n.cluster) || !s.children(TreeName::ClusterNodes, &n.cluster)?.contains(&n.id) {
                p.push(format!("Node {} is not listed by its cluster {}", n.id, n.cluster));
            }
            for (index, hosts) in [(TreeName::ManageHosts, &n.manage), (TreeName::StorageHosts, &n.storage)] {
                for h in hosts {
                    if s.index_get(index, h)?.as_deref() != Some(n.id.as_str()) {
                        p.push(format!("Node {} hostname {h} is not registered to it", n.id));
                    }
                }
            }
            for d in s.children(TreeName::NodeDevices, &n.id)? {
                match devices.get(&d) {
                    Some(dev) if dev.node == n.id => {}
                    _ => p.push(format!("Node {} lists device {d}, which does not point back", n.id)),
                }
            }
            report.nodes.judge(false, p);
        }

        for d in sorted(&devices) {
            let mut p = Vec::new();
            if !nodes.contains_key(&d.node) || !s.children(TreeName::NodeDevices, &d.node)?.contains(&d.id) {
                p.push(format!("Device {} is not listed by its node {}", d.id, d.node));
            }
            if d.space.free + d.space.used != d.space.total {
                p.push(format!(
                    "Device {} free {} + used {} != total {}",
                    d.id, d.space.free, d.space.used, d.space.total
                ));
            }
            let mut charged = 0;
            for b in s.children(TreeName::DeviceBricks, &d.id)? {
                match bricks.get(&b) {
                    Some(brick) if brick.device == d.id => charged += brick.charged,
                    _ => p.push(format!("Device {} lists brick {b}, which does not point back", d.id)),
                }
            }
            if charged != d.space.used {
                p.push(format!(
                    "Device {} used {} != {} held by its bricks",
                    d.id, d.space.used, charged
                ));
            }
            report.devices.judge(false, p);
        }

        for b in sorted(&bricks) {
            let mut p = Vec::new();
            if !devices.contains_key(&b.device) || !s.children(TreeName::DeviceBricks, &b.device)?.contains(&b.id) {
                p.push(format!("Brick {} is not listed by its device {}", b.id, b.device));
            }
            if !nodes.contains_key(&b.node) {
                p.push(format!("Brick {} node {} does not exist", b.id, b.node));
            }
            // A replacement brick joins its volume only once gluster has
            // it; a retired brick has left its volume for good.
            let joining = b.pending.as_ref().and_then(|p| journal.get(p)).is_some_and(
                |e| matches!(&e.action, Action::EvictBrick(EvictBrick { new_brick: Some(n), .. }) if *n == b.id),
            );
            let listed = s.children(TreeName::VolumeBricks, &b.volume)?.contains(&b.id);
            if b.retired || joining {
                if listed {
                    p.push(format!(
                        "Brick {} is listed by volume {} before joining it",
                        b.id, b.volume
                    ));
                }
            } else if !volumes.contains_key(&b.volume) || !listed {
                p.push(format!("Brick {} is not listed by its volume {}", b.id, b.volume));
            }
            if let Some(missing) = b.pending.as_ref().filter(|p| !journal.contains_key(*p)) {
                p.push(format!(
                    "Brick {} is marked pending by missing operation {}",
                    b.id, missing
                ));
            }
            report.bricks.judge(b.pending.is_some(), p);
        }

        for v in sorted(&volumes) {
            let mut p = Vec::new();
            if !clusters.contains_key(&v.cluster) || !s.children(TreeName::ClusterVolumes, &v.cluster)?.contains(&v.id)
            {
                p.push(format!("Volume {} is not listed by its cluster {}", v.id, v.cluster));
            }
            if let Some(missing) = v.pending.as_ref().filter(|p| !journal.contains_key(*p)) {
                p.push(format!(
                    "Volume {} is marked pending by missing operation {}",
                    v.id, missing
                ));
            }
            let visible = s.index_get(TreeName::VisibleVolumes, &v.id)?.is_some();
            // A clone's source stays listed while it is being cloned.
            let cloning = v.pending.as_ref().and_then(|p| journal.get(p)).is_some_and(
                |e| matches!(&e.action, Action::CloneVolume(CloneVolume { source_id, .. }) if source_id == &v.id),
            );
            if visible != (v.pending.is_none() || cloning) {
                p.push(format!("Volume {} visibility does not match its pending marker", v.id));
            }
            for b in &v.brick_order {
                if !bricks.contains_key(b) {
                    p.push(format!("Volume {} brick {b} does not exist", v.id));
                }
            }
            for b in &v.blockinfo.block_volumes {
                match block_volumes.get(b) {
                    Some(block) if block.hosting_volume == v.id => {}
                    _ => p.push(format!(
                        "Volume {} lists block volume {b}, which does not point back",
                        v.id
                    )),
                }
            }
            report.volumes.judge(v.pending.is_some(), p);
        }

        for b in sorted(&block_volumes) {
            let mut p = Vec::new();
            if !clusters.contains_key(&b.cluster)
                || !s.children(TreeName::ClusterBlockVolumes, &b.cluster)?.contains(&b.id)
            {
                p.push(format!(
                    "Block volume {} is not listed by its cluster {}",
                    b.id, b.cluster
                ));
            }
            match volumes.get(&b.hosting_volume) {
                Some(v) if v.block && v.blockinfo.block_volumes.contains(&b.id) => {}
                Some(v) if !v.block => p.push(format!(
                    "Block volume {} is hosted by volume {}, which is not block-hosting",
                    b.id, v.id
                )),
                _ => p.push(format!(
                    "Block volume {} is not listed by its hosting volume {}",
                    b.id, b.hosting_volume
                )),
            }
            if let Some(missing) = b.pending.as_ref().filter(|p| !journal.contains_key(*p)) {
                p.push(format!(
                    "Block volume {} is marked pending by missing operation {}",
                    b.id, missing
                ));
            }
            if let Some(missing) = b.expanding.as_ref().filter(|p| !journal.contains_key(*p)) {
                p.push(format!(
                    "Block volume {} is marked expanding by missing operation {}",
                    b.id, missing
                ));
            }
            report.blockvolumes.judge(b.pending.is_some(), p);
        }

        for e in sorted(&journal) {
            let mut p = Vec::new();
            let volume = match &e.action {
                Action::CreateVolume(CreateVolume { volume_id, .. })
                | Action::DeleteVolume(DeleteVolume { volume_id, .. })
                | Action::ExpandVolume(ExpandVolume { volume_id, .. })
                | Action::EvictBrick(EvictBrick { volume_id, .. }) => Some(volume_id),
                Action::CloneVolume(CloneVolume { clone_id, .. }) => Some(clone_id),
                _ => None,
            };
            if let Some(v) = volume {
                if !volumes.contains_key(v) {
                    p.push(format!("Operation {} refers to missing volume {v}", e.id));
                }
            }
            let block = match &e.action {
                Action::CreateBlockVolume(CreateBlockVolume { block_volume_id, .. })
                | Action::DeleteBlockVolume(DeleteBlockVolume { block_volume_id })
                | Action::ExpandBlockVolume(ExpandBlockVolume { block_volume_id, .. }) => Some(block_volume_id),
                _ => None,
            };
            if let Some(b) = block.filter(|b| !block_volumes.contains_key(*b)) {
                p.push(format!("Operation {} refers to missing block volume {b}", e.id));
            }
            report.pendingoperations.judge(e.status != JournalStatus::Failed, p);
        }

        report.totalinconsistencies = [
            &report.clusters,
            &report.volumes,
            &report.bricks,
            &report.nodes,
            &report.devices,
            &report.blockvolumes,
            &report.pendingoperations,
        ]
        .iter()
        .map(|b| b.inconsistencies.len())
        .sum();
        Ok(report)
    }
}

fn sorted<T>(map: &HashMap<String, T>) -> Vec<&T> {
    let ordered: BTreeMap<&String, &T> = map.iter().collect();
    ordered.into_values().collect()
}

#[cfg(test)]
mod tests;
