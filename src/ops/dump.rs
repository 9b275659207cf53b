//! Heketi's database export (`db export`, `GET /db/dump`) built from the
//! store, read as one consistent snapshot.

use std::collections::BTreeMap;

use super::journal::{JournalEntry, JournalStatus};
use crate::store::migrations::v2_attributes::GENERATION_ID;
use crate::store::records::{BlockVolumeRecord, BrickRecord, ClusterRecord, DeviceRecord, NodeRecord, VolumeRecord};
use crate::store::{Store, StoreError, TreeName};
use crate::wire::block_volumes::BlockVolumeDbInfo;
use crate::wire::heketi_db::{
    BlockVolumeEntry, BrickEntry, ClusterEntry, ClusterInfo, DbAttributeEntry, DeviceEntry, DeviceInfo, HeketiDb,
    NodeEntry, NodeInfo, PendingAction, PendingOperationEntry, PendingRef, VolumeEntry, VolumeInfo,
};
use crate::wire::volumes::volume_info;
use crate::wire::{BrickInfo, HostAddresses, StorageSize};

/// Heketi's persisted numbers for an operation type and its changes.
fn heketi_operation(entry: &JournalEntry) -> Option<PendingOperationEntry> {
    let op = entry.action.op();
    let kind = op.heketi_type()?.code();
    let actions = op
        .changes()
        .into_iter()
        .filter_map(|c| {
            Some(PendingAction {
                change: c.kind.heketi_code()?,
                id: c.id,
                delta: c.delta.map(Into::into),
            })
        })
        .collect();
    Some(PendingOperationEntry {
        id: entry.id.clone(),
        timestamp: entry.timestamp as i64,
        kind,
        actions,
        status: match entry.status {
            JournalStatus::New => String::new(),
            JournalStatus::Stale => "stale".into(),
            JournalStatus::Failed => "failed".into(),
        },
    })
}

fn brick_entry(b: &BrickRecord) -> BrickEntry {
    BrickEntry {
        info: BrickInfo::from(b.clone()),
        tp_size: b.tp_size,
        pool_metadata_size: b.pool_metadata_size,
        pending: PendingRef {
            id: b.pending.clone().unwrap_or_default(),
        },
        lvm_thin_pool: b.lvm_thin_pool.clone(),
        lvm_lv: b.lvm_lv.clone(),
        sub_type: b.sub_type.number(),
    }
}

/// The whole store in Heketi's export format.
pub fn export(store: &Store) -> Result<HeketiDb, StoreError> {
    store.consistent_read(|| {
        let mut db = HeketiDb::default();
        for c in store.scan::<ClusterRecord>()? {
            let info = ClusterInfo {
                nodes: store.children(TreeName::ClusterNodes, &c.id)?,
                volumes: store.children(TreeName::ClusterVolumes, &c.id)?,
                blockvolumes: store.children(TreeName::ClusterBlockVolumes, &c.id)?,
                id: c.id.clone(),
                block: c.block,
                file: c.file,
            };
            db.clusterentries.insert(c.id, ClusterEntry { info });
        }
        for n in store.scan::<NodeRecord>()? {
            let entry = NodeEntry {
                state: n.state.as_str().to_string(),
                devices: store.children(TreeName::NodeDevices, &n.id)?,
                info: NodeInfo {
                    zone: n.zone,
                    hostnames: HostAddresses {
                        manage: n.manage,
                        storage: n.storage,
                    },
                    cluster: n.cluster,
                    tags: n.tags,
                    id: n.id.clone(),
                },
            };
            db.nodeentries.insert(n.id, entry);
        }
        // Bricks replaced while their node was away are out of their volume
        // and, as in Heketi, out of the database; their space stays used.
        let retired: std::collections::HashSet<String> = store
            .scan::<BrickRecord>()?
            .into_iter()
            .filter(|b| b.retired)
            .map(|b| b.id)
            .collect();
        for d in store.scan::<DeviceRecord>()? {
            let entry = DeviceEntry {
                state: d.state.as_str().to_string(),
                bricks: store
                    .children(TreeName::DeviceBricks, &d.id)?
                    .into_iter()
                    .filter(|b| !retired.contains(b))
                    .collect(),
                node_id: d.node,
                extent_size: d.extent_size,
                info: DeviceInfo {
                    name: d.name,
                    tags: d.tags,
                    storage: StorageSize {
                        total: d.space.total,
                        free: d.space.free,
                        used: d.space.used,
                    },
                    id: d.id.clone(),
                    paths: d.paths,
                    pv_uuid: d.pv_uuid,
                },
            };
            db.deviceentries.insert(d.id, entry);
        }
        for b in store.scan::<BrickRecord>()?.into_iter().filter(|b| !b.retired) {
            db.brickentries.insert(b.id.clone(), brick_entry(&b));
        }
        let mut hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in store.scan::<VolumeRecord>()? {
            if !hosts.contains_key(&v.cluster) {
                let storage = store
                    .children(TreeName::ClusterNodes, &v.cluster)?
                    .iter()
                    .filter_map(|n| db.nodeentries.get(n))
                    .filter_map(|n| n.info.hostnames.storage.first().cloned())
                    .collect();
                hosts.insert(v.cluster.clone(), storage);
            }
            let answer = volume_info(&v, Vec::new(), hosts[&v.cluster].clone());
            let mut bricks = store.children(TreeName::VolumeBricks, &v.id)?;
            bricks.sort();
            let entry = VolumeEntry {
                info: VolumeInfo {
                    size: answer.size,
                    clusters: v.requested_clusters.clone(),
                    name: answer.name,
                    durability: answer.durability,
                    gid: answer.gid,
                    block: answer.block,
                    snapshot: answer.snapshot,
                    id: answer.id,
                    cluster: answer.cluster,
                    mount: answer.mount,
                    blockinfo: answer.blockinfo,
                },
                bricks,
                gluster_volume_options: v.options.clone(),
                pending: PendingRef {
                    id: v.pending.clone().unwrap_or_default(),
                },
            };
            db.volumeentries.insert(v.id, entry);
        }
        for b in store.scan::<BlockVolumeRecord>()? {
            let entry = BlockVolumeEntry {
                info: BlockVolumeDbInfo::from(&b),
                pending: PendingRef {
                    id: b.pending.clone().unwrap_or_default(),
                },
            };
            db.blockvolumeentries.insert(b.id, entry);
        }
        for (key, value) in store.attributes()? {
            db.dbattributeentries
                .insert(key.clone(), DbAttributeEntry { key, value });
        }
        if !db.dbattributeentries.contains_key(GENERATION_ID) {
            return Err(StoreError::Open("the store has no DB generation id".into()));
        }
        for entry in store.scan::<JournalEntry>()? {
            if let Some(op) = heketi_operation(&entry) {
                db.pendingoperations.insert(op.id.clone(), op);
            }
        }
        Ok(db)
    })
}

/// Heketi's export document of the live store, read off the async runtime.
pub async fn export_live(engine: &super::Engine) -> Result<HeketiDb, super::OpError> {
    let store = engine.store.clone();
    tokio::task::spawn_blocking(move || export(&store))
        .await
        .map_err(|e| super::OpError::Internal(format!("dump failed: {e}")))?
        .map_err(super::OpError::from)
}

/// A consistent copy of the whole live store in Brickyard's own format.
pub async fn backup_live(engine: &super::Engine) -> Result<crate::store::backup::Backup, super::OpError> {
    let store = engine.store.clone();
    tokio::task::spawn_blocking(move || store.backup())
        .await
        .map_err(|e| super::OpError::Internal(format!("backup failed: {e}")))?
        .map_err(super::OpError::from)
}
