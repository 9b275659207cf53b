//! Taking over a Heketi database: the JSON of `heketi db export` becomes a
//! Brickyard store with the same ids, names, sizes and LVM names, written
//! in one transaction and then checked with the consistency rules.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::check::{check_store, CheckReport};
use super::devices::name_key;
use super::journal::{Action, JournalEntry, JournalStatus};
use super::ledger::pool_key;
use super::volumes::{volume_name_key, CloneVolume, CreateVolume, DeleteVolume, ExpandVolume};
use super::OpError;
use crate::store::migrations::v2_attributes::GENERATION_ID;
use crate::store::records::{
    BlockInfoRecord, BlockVolumeRecord, BrickRecord, BrickRole, ClusterRecord, DeviceRecord, DurabilityKind,
    DurabilityRecord, EntityState, NodeRecord, SnapshotRecord, Space, VolumeRecord,
};
use crate::store::{Abort, Store, StoreError, TreeName, Tx, TxFailure};
use crate::wire::heketi_db::{HeketiDb, PendingOperationEntry, VolumeEntry};

/// What an import did, for the operator.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub imported: BTreeMap<&'static str, usize>,
    /// Values the import had to correct, one line each.
    pub fixed: Vec<String>,
    /// Entries left out, one line each.
    pub refused: Vec<String>,
    pub check: Option<CheckReport>,
}

fn state(text: &str, what: &str, report: &mut Vec<String>) -> EntityState {
    match text {
        "" | "online" => EntityState::Online,
        "offline" => EntityState::Offline,
        "failed" => EntityState::Failed,
        other => {
            report.push(format!("{what}: unknown state {other:?} read as online"));
            EntityState::Online
        }
    }
}

/// Heketi's importer re-derives durability from its type, applying defaults.
fn durability(v: &VolumeEntry, fixed: &mut Vec<String>) -> Result<DurabilityRecord, ImportError> {
    let d = &v.info.durability;
    let kind = DurabilityKind::parse(&d.kind)
        .ok_or_else(|| ImportError::Refused(format!("volume {}: unknown durability type {:?}", v.info.id, d.kind)))?;
    let mut out = DurabilityRecord {
        kind,
        replica: d.replicate.replica,
        data: d.disperse.data,
        redundancy: d.disperse.redundancy,
    };
    match kind {
        DurabilityKind::Replicate => {
            if out.replica == 0 {
                out.replica = 2;
                fixed.push(format!("volume {}: replica 0 set to Heketi's default 2", v.info.id));
            }
        }
        DurabilityKind::Disperse => {
            if out.data == 0 || out.redundancy == 0 {
                (out.data, out.redundancy) = (4, 2);
                fixed.push(format!("volume {}: disperse 0 set to Heketi's default 4+2", v.info.id));
            }
        }
        DurabilityKind::None => {}
    }
    Ok(out)
}

/// Refuses what the store's indexes cannot hold, before anything is
/// written or cleared: a hostname on two nodes, a device name twice on a node.
fn check_unique_names(db: &HeketiDb) -> Result<(), ImportError> {
    for (role, pick) in [
        (
            "manage",
            (|n: &crate::wire::heketi_db::NodeEntry| n.info.hostnames.manage.clone()) as fn(&_) -> Vec<String>,
        ),
        ("storage", |n| n.info.hostnames.storage.clone()),
    ] {
        let mut seen: HashMap<String, &str> = HashMap::new();
        for n in db.nodeentries.values() {
            for host in pick(n) {
                if let Some(other) = seen.insert(host.clone(), &n.info.id) {
                    return Err(ImportError::Refused(format!(
                        "{role} hostname {host} belongs to nodes {other} and {}; fix the export first",
                        n.info.id
                    )));
                }
            }
        }
    }
    let mut names: HashMap<String, &str> = HashMap::new();
    for d in db.deviceentries.values() {
        if let Some(other) = names.insert(name_key(&d.node_id, &d.info.name), &d.info.id) {
            return Err(ImportError::Refused(format!(
                "device {} appears twice on node {} (devices {other} and {}); fix the export first",
                d.info.name, d.node_id, d.info.id
            )));
        }
    }
    Ok(())
}

fn action(op: &PendingOperationEntry) -> Result<Action, ImportError> {
    let of = |change: u8| -> Vec<String> {
        op.actions
            .iter()
            .filter(|a| a.change == change)
            .map(|a| a.id.clone())
            .collect()
    };
    let one = |change: u8| -> Result<String, ImportError> {
        of(change)
            .into_iter()
            .next()
            .ok_or_else(|| ImportError::Refused(format!("pending operation {} lacks its change {change}", op.id)))
    };
    Ok(match op.kind {
        1 => CreateVolume {
            volume_id: one(2)?,
            bricks: of(1),
        }
        .into(),
        2 => DeleteVolume {
            volume_id: one(4)?,
            bricks: of(3),
        }
        .into(),
        3 => {
            let delta = op
                .actions
                .iter()
                .find(|a| a.change == 5)
                .and_then(|a| a.delta.as_ref())
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| ImportError::Refused(format!("pending expand {} has no expand size", op.id)))?;
            ExpandVolume {
                volume_id: one(5)?,
                bricks: of(1),
                delta_gib: delta as u64,
            }
            .into()
        }
        7 => CloneVolume {
            source_id: one(9)?,
            clone_id: one(11)?,
            bricks: of(1),
        }
        .into(),
        other => {
            return Err(ImportError::Refused(format!(
                "pending operation {} has type {other}, which Brickyard does not run",
                op.id
            )))
        }
    })
}

/// Brickyard's records for the export, with what had to be fixed or left out.
struct Plan {
    clusters: Vec<ClusterRecord>,
    nodes: Vec<NodeRecord>,
    devices: Vec<DeviceRecord>,
    bricks: Vec<BrickRecord>,
    volumes: Vec<VolumeRecord>,
    block_volumes: Vec<BlockVolumeRecord>,
    journal: Vec<JournalEntry>,
    attributes: BTreeMap<String, String>,
    report: ImportReport,
}

fn plan(db: &HeketiDb) -> Result<Plan, ImportError> {
    let mut report = ImportReport::default();
    let mut fixed = Vec::new();
    // Heketi's upgrade steps (§5.4) that a database without their flag never ran.
    let flagged = |key: &str| db.dbattributeentries.get(key).is_some_and(|a| a.value == "yes");
    let cluster_flags_upgraded = flagged("DB_CLUSTER_HAS_FILE_BLOCK_FLAG");
    let clusters: Vec<ClusterRecord> = db
        .clusterentries
        .values()
        .map(|c| {
            if !cluster_flags_upgraded && !c.info.block && !c.info.file {
                fixed.push(format!(
                    "cluster {}: no file/block flags recorded, both set as Heketi's upgrade does",
                    c.info.id
                ));
                return ClusterRecord {
                    id: c.info.id.clone(),
                    block: true,
                    file: true,
                };
            }
            ClusterRecord {
                id: c.info.id.clone(),
                block: c.info.block,
                file: c.info.file,
            }
        })
        .collect();
    check_unique_names(db)?;
    // Bricks of old databases may lack their volume: take it from the volume's list.
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for v in db.volumeentries.values() {
        for b in &v.bricks {
            owner.insert(b, &v.info.id);
        }
    }
    let nodes: Vec<NodeRecord> = db
        .nodeentries
        .values()
        .map(|n| NodeRecord {
            id: n.info.id.clone(),
            cluster: n.info.cluster.clone(),
            zone: n.info.zone,
            manage: n.info.hostnames.manage.clone(),
            storage: n.info.hostnames.storage.clone(),
            tags: n.info.tags.clone(),
            state: state(&n.state, &format!("node {}", n.info.id), &mut fixed),
        })
        .collect();
    let devices: Vec<DeviceRecord> = db
        .deviceentries
        .values()
        .map(|d| DeviceRecord {
            id: d.info.id.clone(),
            node: d.node_id.clone(),
            name: d.info.name.clone(),
            tags: d.info.tags.clone(),
            state: state(&d.state, &format!("device {}", d.info.id), &mut fixed),
            space: Space {
                total: d.info.storage.total,
                free: d.info.storage.free,
                used: d.info.storage.used,
            },
            // Heketi databases from before extent sizes were stored used 4 MiB.
            extent_size: if d.extent_size == 0 { 4096 } else { d.extent_size },
            paths: d.info.paths.clone(),
            pv_uuid: d.info.pv_uuid.clone(),
        })
        .collect();
    // A pool is charged once: to the first brick in it (by id); snapshot
    // clones sharing it hold no space of their own.
    let mut charged_pools: HashMap<String, String> = HashMap::new();
    let mut bricks = Vec::new();
    for b in db.brickentries.values() {
        let mut record = BrickRecord {
            id: b.info.id.clone(),
            path: b.info.path.clone(),
            device: b.info.device.clone(),
            node: b.info.node.clone(),
            volume: if b.info.volume.is_empty() {
                let found = owner.get(b.info.id.as_str()).copied().unwrap_or_default();
                fixed.push(format!("brick {}: no volume recorded, set to {found}", b.info.id));
                found.to_string()
            } else {
                b.info.volume.clone()
            },
            size: b.info.size,
            tp_size: b.tp_size,
            pool_metadata_size: b.pool_metadata_size,
            lvm_thin_pool: b.lvm_thin_pool.clone(),
            lvm_lv: b.lvm_lv.clone(),
            sub_type: BrickRole::try_from(b.sub_type)
                .map_err(|e| ImportError::Refused(format!("brick {}: {e}", b.info.id)))?,
            charged: 0,
            pending: Some(b.pending.id.clone()).filter(|p| !p.is_empty()),
            retired: false,
        };
        if record.sub_type == BrickRole::Unknown {
            record.sub_type = BrickRole::Data;
            fixed.push(format!(
                "brick {}: no sub-type recorded, taken as a normal brick",
                record.id
            ));
        }
        if charged_pools.insert(pool_key(&record), record.id.clone()).is_none() {
            record.charged = b.tp_size + b.pool_metadata_size;
        }
        bricks.push(record);
    }
    let mut volumes: Vec<VolumeRecord> = Vec::new();
    for v in db.volumeentries.values() {
        let i = &v.info;
        volumes.push(VolumeRecord {
            id: i.id.clone(),
            name: i.name.clone(),
            cluster: i.cluster.clone(),
            size_gib: i.size,
            durability: durability(v, &mut fixed)?,
            gid: i.gid,
            options: v.gluster_volume_options.clone(),
            block: i.block,
            snapshot: SnapshotRecord {
                enable: i.snapshot.enable,
                factor: if i.snapshot.factor == 0.0 {
                    1.0
                } else {
                    i.snapshot.factor
                },
            },
            blockinfo: BlockInfoRecord {
                free_gib: i.blockinfo.freesize,
                reserved_gib: i.blockinfo.reservedsize,
                restriction: i.blockinfo.restriction.clone(),
                block_volumes: i.blockinfo.blockvolume.clone(),
            },
            // Heketi keeps no brick order; its sorted list is what it has.
            brick_order: v.bricks.clone(),
            requested_clusters: i.clusters.clone(),
            pending: Some(v.pending.id.clone()).filter(|p| !p.is_empty()),
        });
    }
    let mut block_volumes: Vec<BlockVolumeRecord> = db
        .blockvolumeentries
        .values()
        .map(|b| b.info.to_record(&b.pending.id))
        .collect();
    let mut journal = Vec::new();
    let mut dropped_ops = Vec::new();
    for op in db.pendingoperations.values() {
        match action(op) {
            Ok(action) => {
                if let Action::CloneVolume(CloneVolume { bricks: new, .. }) = &action {
                    // Heketi's pending clone bricks still carry their source
                    // brick's path and LV: undoing them must not touch those.
                    for b in bricks.iter_mut().filter(|b| new.contains(&b.id)) {
                        b.path.clear();
                        b.lvm_lv.clear();
                    }
                }
                journal.push(JournalEntry {
                    id: op.id.clone(),
                    queue_id: String::new(),
                    timestamp: op.timestamp.max(0) as u64,
                    action,
                    // The server that ran it is gone: cleanup finishes or undoes it.
                    status: JournalStatus::Stale,
                });
            }
            Err(e) => {
                report.refused.push(e.to_string());
                dropped_ops.push(op.id.clone());
            }
        }
    }
    // Markers of operations left out would point nowhere and pin their space.
    for b in bricks
        .iter_mut()
        .filter(|b| b.pending.as_ref().is_some_and(|p| dropped_ops.contains(p)))
    {
        fixed.push(format!("brick {}: marker of a left-out operation cleared", b.id));
        b.pending = None;
    }
    for v in volumes
        .iter_mut()
        .filter(|v| v.pending.as_ref().is_some_and(|p| dropped_ops.contains(p)))
    {
        fixed.push(format!("volume {}: marker of a left-out operation cleared", v.id));
        v.pending = None;
    }
    for b in block_volumes
        .iter_mut()
        .filter(|b| b.pending.as_ref().is_some_and(|p| dropped_ops.contains(p)))
    {
        fixed.push(format!("block volume {}: marker of a left-out operation cleared", b.id));
        b.pending = None;
    }
    let mut attributes: BTreeMap<String, String> = db
        .dbattributeentries
        .values()
        .map(|a| (a.key.clone(), a.value.clone()))
        .collect();
    attributes.insert(GENERATION_ID.into(), uuid::Uuid::new_v4().simple().to_string());
    for (key, value) in crate::store::migrations::v2_attributes::FLAGS {
        attributes.entry(key.into()).or_insert_with(|| value.into());
    }
    report.fixed.extend(fixed);
    for (name, count) in [
        ("clusters", clusters.len()),
        ("nodes", nodes.len()),
        ("devices", devices.len()),
        ("bricks", bricks.len()),
        ("volumes", volumes.len()),
        ("block volumes", block_volumes.len()),
        ("pending operations", journal.len()),
    ] {
        report.imported.insert(name, count);
    }
    Ok(Plan {
        clusters,
        nodes,
        devices,
        bricks,
        volumes,
        block_volumes,
        journal,
        attributes,
        report,
    })
}

fn write(tx: &Tx<'_>, p: &Plan) -> Result<(), Abort<ImportError>> {
    for c in &p.clusters {
        tx.put(c)?;
    }
    for n in &p.nodes {
        tx.put(n)?;
        tx.link(TreeName::ClusterNodes, &n.cluster, &n.id)?;
        for (index, hosts) in [(TreeName::ManageHosts, &n.manage), (TreeName::StorageHosts, &n.storage)] {
            for host in hosts {
                if let Some(owner) = tx.index_get::<ImportError>(index, host)? {
                    return Err(Abort::User(ImportError::Refused(format!(
                        "hostname {host} belongs to nodes {owner} and {}",
                        n.id
                    ))));
                }
                tx.index_put(index, host, &n.id)?;
            }
        }
    }
    for d in &p.devices {
        tx.put(d)?;
        tx.link(TreeName::NodeDevices, &d.node, &d.id)?;
        tx.index_put(TreeName::DeviceNames, &name_key(&d.node, &d.name), &d.id)?;
    }
    // A clone's source stays listed while the clone is pending, as in Heketi.
    let clone_sources: Vec<&str> = p
        .journal
        .iter()
        .filter_map(|j| match &j.action {
            Action::CloneVolume(CloneVolume { source_id, .. }) => Some(source_id.as_str()),
            _ => None,
        })
        .collect();
    for v in &p.volumes {
        tx.put(v)?;
        tx.link(TreeName::ClusterVolumes, &v.cluster, &v.id)?;
        tx.index_put(TreeName::VolumeNames, &volume_name_key(&v.cluster, &v.name), &v.id)?;
        if v.pending.is_none() || clone_sources.contains(&v.id.as_str()) {
            tx.index_put(TreeName::VisibleVolumes, &v.id, &v.cluster)?;
        }
    }
    let mut pools: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for b in &p.bricks {
        tx.put(b)?;
        tx.link(TreeName::DeviceBricks, &b.device, &b.id)?;
        tx.link(TreeName::VolumeBricks, &b.volume, &b.id)?;
        pools.entry(pool_key(b)).or_default().push(&b.id);
    }
    for (key, members) in pools {
        tx.index_put(TreeName::PoolBricks, &key, &members.join(","))?;
    }
    for b in &p.block_volumes {
        tx.put(b)?;
        tx.link(TreeName::ClusterBlockVolumes, &b.cluster, &b.id)?;
    }
    for j in &p.journal {
        tx.put(j)?;
    }
    for (key, value) in &p.attributes {
        tx.index_put(TreeName::Attributes, key, value)?;
    }
    Ok(())
}

/// Why an import was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The document cannot be imported as it is; the text says why.
    #[error("{0}")]
    Refused(String),
    #[error(
        "the store {path} is not empty ({occupied} clusters, nodes and volumes); use --force to replace its contents"
    )]
    NotEmpty { path: String, occupied: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("import failed, nothing was written: {0}")]
    Unwritten(#[source] Box<ImportError>),
    #[error(transparent)]
    Check(#[from] OpError),
}

impl From<TxFailure<ImportError>> for ImportError {
    fn from(e: TxFailure<ImportError>) -> Self {
        ImportError::Unwritten(Box::new(match e {
            TxFailure::User(e) => e,
            TxFailure::Store(e) => ImportError::Store(e),
        }))
    }
}

/// Imports `db` into `store`; a store holding anything is refused unless
/// `force`, which empties it first.
pub fn import(store: &Store, db: &HeketiDb, force: bool) -> Result<ImportReport, ImportError> {
    let occupied = store.occupied();
    if occupied > 0 && !force {
        return Err(ImportError::NotEmpty {
            path: store.location().to_string(),
            occupied,
        });
    }
    let mut plan = plan(db)?;
    if occupied > 0 {
        store.clear_records()?;
    }
    store.transact_in_parts(|tx| write(tx, &plan))?;
    store.flush_blocking()?;
    plan.report.check = Some(check_store(store)?);
    Ok(plan.report)
}
