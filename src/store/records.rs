//! Typed records as they are kept in the store. They are Brickyard's own
//! shapes; the Heketi wire types in `wire/` are views built from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Record, TreeName};

/// Node and device state, as Heketi names it on the wire.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EntityState {
    #[default]
    Online,
    Offline,
    Failed,
}

impl EntityState {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityState::Online => "online",
            EntityState::Offline => "offline",
            EntityState::Failed => "failed",
        }
    }
}

pub type Tags = BTreeMap<String, String>;

/// Records that carry user tags (nodes and devices).
pub trait Tagged: Record {
    fn tags_mut(&mut self) -> &mut Tags;
}

impl Tagged for NodeRecord {
    fn tags_mut(&mut self) -> &mut Tags {
        &mut self.tags
    }
}

impl Tagged for DeviceRecord {
    fn tags_mut(&mut self) -> &mut Tags {
        &mut self.tags
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ClusterRecord {
    pub id: String,
    pub block: bool,
    pub file: bool,
}

impl Record for ClusterRecord {
    const TREE: TreeName = TreeName::Clusters;
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NodeRecord {
    pub id: String,
    pub cluster: String,
    pub zone: i64,
    pub manage: Vec<String>,
    pub storage: Vec<String>,
    #[serde(default)]
    pub tags: Tags,
    pub state: EntityState,
}

impl NodeRecord {
    /// The host commands run on (Heketi uses only the first entry).
    pub fn manage_host(&self) -> &str {
        self.manage.first().map(String::as_str).unwrap_or_default()
    }
    /// The address gluster knows the node by.
    pub fn storage_host(&self) -> &str {
        self.storage.first().map(String::as_str).unwrap_or_default()
    }
}

impl Record for NodeRecord {
    const TREE: TreeName = TreeName::Nodes;
    fn id(&self) -> &str {
        &self.id
    }
}

/// Space in KiB. The invariant `total == free + used` always holds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Space {
    pub total: u64,
    pub free: u64,
    pub used: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeviceRecord {
    pub id: String,
    pub node: String,
    pub name: String,
    #[serde(default)]
    pub tags: Tags,
    pub state: EntityState,
    pub space: Space,
    /// LVM extent size in KiB.
    pub extent_size: u64,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub pv_uuid: String,
}

impl Record for DeviceRecord {
    const TREE: TreeName = TreeName::Devices;
    fn id(&self) -> &str {
        &self.id
    }
}

/// What `GET /queue/{id}` reports for an accepted request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum QueueOutcome {
    Pending,
    /// 303 to this server-relative path.
    SeeOther(String),
    /// 204.
    NoContent,
    /// 500 with this text.
    Failed(String),
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QueueRecord {
    pub id: String,
    /// Unix seconds when the request was accepted.
    pub accepted_at: u64,
    /// Unix seconds when the outcome became final.
    #[serde(default)]
    pub finished_at: Option<u64>,
    pub outcome: QueueOutcome,
    /// Which start of the server accepted it (`Engine::incarnation`); none
    /// in entries written before starts were counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<u64>,
}

impl Record for QueueRecord {
    const TREE: TreeName = TreeName::Queue;
    fn id(&self) -> &str {
        &self.id
    }
}

/// One brick: a thin LV in a thin pool on a device, mounted and given to gluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BrickRecord {
    pub id: String,
    pub path: String,
    pub device: String,
    pub node: String,
    pub volume: String,
    /// Thin LV virtual size, KiB.
    pub size: u64,
    /// Thin pool data size, KiB.
    pub tp_size: u64,
    /// Thin pool metadata size, KiB.
    pub pool_metadata_size: u64,
    pub lvm_thin_pool: String,
    pub lvm_lv: String,
    /// Data or arbiter brick; stored as Heketi's number.
    pub sub_type: BrickRole,
    /// KiB this brick holds on its device's account: its pool's size, or 0
    /// for a snapshot clone sharing another brick's pool. A device's `used`
    /// is the sum of its bricks' charges.
    #[serde(default)]
    pub charged: u64,
    /// The journal entry creating or removing this brick, if any.
    #[serde(default, deserialize_with = "empty_is_none", skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// Replaced in its volume while its node was unreachable: no longer
    /// part of the volume, still holding its space until it is destroyed on
    /// its node (when the node answers again) or forgotten with its device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
}

impl Record for BrickRecord {
    const TREE: TreeName = TreeName::Bricks;
    fn id(&self) -> &str {
        &self.id
    }
}

/// What a brick holds, stored as Heketi's `SubType` number.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(try_from = "u8", into = "u8")]
pub enum BrickRole {
    /// Heketi's 0: written by versions before arbiter support.
    Unknown,
    Data,
    Arbiter,
}

impl BrickRole {
    pub fn number(self) -> u8 {
        match self {
            BrickRole::Unknown => 0,
            BrickRole::Data => 1,
            BrickRole::Arbiter => 2,
        }
    }
}

impl From<BrickRole> for u8 {
    fn from(role: BrickRole) -> u8 {
        role.number()
    }
}

/// A brick sub-type number Heketi never wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown brick sub-type {0}")]
pub struct UnknownBrickRole(pub u8);

impl TryFrom<u8> for BrickRole {
    type Error = UnknownBrickRole;
    fn try_from(n: u8) -> Result<BrickRole, UnknownBrickRole> {
        match n {
            0 => Ok(BrickRole::Unknown),
            1 => Ok(BrickRole::Data),
            2 => Ok(BrickRole::Arbiter),
            other => Err(UnknownBrickRole(other)),
        }
    }
}

impl BrickRecord {
    /// Its thin pool's name; records imported from old Heketi databases
    /// may leave it empty, meaning Heketi's default.
    pub fn thin_pool(&self) -> String {
        if self.lvm_thin_pool.is_empty() {
            format!("tp_{}", self.id)
        } else {
            self.lvm_thin_pool.clone()
        }
    }

    /// Its LV's name, with the same default rule.
    pub fn lv_name(&self) -> String {
        if self.lvm_lv.is_empty() {
            format!("brick_{}", self.id)
        } else {
            self.lvm_lv.clone()
        }
    }
}

/// How a volume keeps its data.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityKind {
    /// Distribute only; records of early versions may hold `""` for it.
    #[default]
    #[serde(alias = "")]
    None,
    Replicate,
    Disperse,
}

impl DurabilityKind {
    /// Heketi's name, as responses carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            DurabilityKind::None => "none",
            DurabilityKind::Replicate => "replicate",
            DurabilityKind::Disperse => "disperse",
        }
    }

    /// Heketi's names; `None` for any other text.
    pub fn parse(text: &str) -> Option<DurabilityKind> {
        match text {
            "none" => Some(DurabilityKind::None),
            "replicate" => Some(DurabilityKind::Replicate),
            "disperse" => Some(DurabilityKind::Disperse),
            _ => None,
        }
    }
}

/// The durability object as the client sent it (Heketi echoes it), with
/// its type checked.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct DurabilityRecord {
    #[serde(rename = "type")]
    pub kind: DurabilityKind,
    pub replica: i64,
    pub data: i64,
    pub redundancy: i64,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Default)]
pub struct SnapshotRecord {
    pub enable: bool,
    pub factor: f32,
}

/// Block-hosting bookkeeping (GiB).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct BlockInfoRecord {
    pub free_gib: i64,
    pub reserved_gib: i64,
    /// `""`, `locked` or `locked-by-update`.
    pub restriction: String,
    /// Block volumes hosted here, as Heketi keeps them in the volume: the
    /// volume cannot be deleted while any remain.
    #[serde(default)]
    pub block_volumes: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VolumeRecord {
    pub id: String,
    pub name: String,
    pub cluster: String,
    pub size_gib: u64,
    pub durability: DurabilityRecord,
    pub gid: i64,
    /// `key value` strings as composed at create time (empty entries kept).
    pub options: Vec<String>,
    pub block: bool,
    pub snapshot: SnapshotRecord,
    pub blockinfo: BlockInfoRecord,
    /// Brick ids in gluster order (set by set, position by position).
    pub brick_order: Vec<String>,
    /// The `clusters` the create asked for (empty: any), kept for Heketi's
    /// export; records written before it read as empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requested_clusters: Vec<String>,
    /// The journal entry creating, deleting or cloning this volume, if any.
    #[serde(default, deserialize_with = "empty_is_none", skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

impl Record for VolumeRecord {
    const TREE: TreeName = TreeName::Volumes;
    fn id(&self) -> &str {
        &self.id
    }
}

/// A gluster-block volume: an iSCSI LUN backed by a file on a
/// block-hosting volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct BlockVolumeRecord {
    pub id: String,
    pub name: String,
    pub cluster: String,
    pub hosting_volume: String,
    pub size_gib: u64,
    pub usable_size_gib: u64,
    pub hacount: i64,
    /// CHAP on; only Heketi's database shows it, never a response.
    pub auth: bool,
    /// The `clusters` the create asked for, kept for Heketi's export.
    #[serde(default)]
    pub requested_clusters: Vec<String>,
    /// Storage hostnames serving the target.
    pub hosts: Vec<String>,
    pub iqn: String,
    pub lun: i64,
    pub username: String,
    pub password: String,
    /// The journal entry creating or deleting it, if any: it is hidden.
    #[serde(default, deserialize_with = "empty_is_none", skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// The journal entry growing it, if any. Heketi marks nothing, so an
    /// expanding block volume stays visible; this keeps a delete or a
    /// second expansion off it meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expanding: Option<String>,
}

impl Record for BlockVolumeRecord {
    const TREE: TreeName = TreeName::BlockVolumes;
    fn id(&self) -> &str {
        &self.id
    }
}

/// Reads `""` (how records written before `Option` said "none") as `None`.
fn empty_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text.filter(|t| !t.is_empty()))
}
