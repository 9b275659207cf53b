//! The JSON of `heketi db export` and `GET /db/dump`: every bucket of
//! Heketi's database, keyed by id, in Heketi's field order. Maps are
//! `BTreeMap`s so keys come out sorted, as Go writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::block_volumes::BlockVolumeDbInfo;
use super::volumes::{BlockInfo, Durability, Mount, Snapshot};
use super::{nullable, BrickInfo, HostAddresses, StorageSize};
use crate::store::records::Tags;

fn is_empty_map(t: &Tags) -> bool {
    t.is_empty()
}

#[derive(Serialize, Deserialize, Debug, Default, PartialEq)]
pub struct HeketiDb {
    pub clusterentries: BTreeMap<String, ClusterEntry>,
    pub volumeentries: BTreeMap<String, VolumeEntry>,
    pub brickentries: BTreeMap<String, BrickEntry>,
    pub nodeentries: BTreeMap<String, NodeEntry>,
    pub deviceentries: BTreeMap<String, DeviceEntry>,
    pub blockvolumeentries: BTreeMap<String, BlockVolumeEntry>,
    pub dbattributeentries: BTreeMap<String, DbAttributeEntry>,
    #[serde(default, deserialize_with = "nullable")]
    pub pendingoperations: BTreeMap<String, PendingOperationEntry>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct ClusterEntry {
    #[serde(rename = "Info")]
    pub info: ClusterInfo,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct ClusterInfo {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub nodes: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub block: bool,
    #[serde(default)]
    pub file: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub blockvolumes: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct NodeEntry {
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "Info")]
    pub info: NodeInfo,
    #[serde(rename = "Devices", default, deserialize_with = "nullable")]
    pub devices: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct NodeInfo {
    pub zone: i64,
    pub hostnames: HostAddresses,
    pub cluster: String,
    #[serde(default, skip_serializing_if = "is_empty_map", deserialize_with = "nullable")]
    pub tags: Tags,
    pub id: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct DeviceEntry {
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "Info")]
    pub info: DeviceInfo,
    #[serde(rename = "Bricks", default, deserialize_with = "nullable")]
    pub bricks: Vec<String>,
    #[serde(rename = "NodeId")]
    pub node_id: String,
    #[serde(rename = "ExtentSize", default)]
    pub extent_size: u64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct DeviceInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "is_empty_map", deserialize_with = "nullable")]
    pub tags: Tags,
    pub storage: StorageSize,
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pv_uuid: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
pub struct PendingRef {
    #[serde(rename = "Id", default)]
    pub id: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct BrickEntry {
    #[serde(rename = "Info")]
    pub info: BrickInfo,
    #[serde(rename = "TpSize", default)]
    pub tp_size: u64,
    #[serde(rename = "PoolMetadataSize", default)]
    pub pool_metadata_size: u64,
    #[serde(rename = "Pending", default)]
    pub pending: PendingRef,
    #[serde(rename = "LvmThinPool", default)]
    pub lvm_thin_pool: String,
    #[serde(rename = "LvmLv", default)]
    pub lvm_lv: String,
    #[serde(rename = "SubType", default)]
    pub sub_type: u8,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct BlockVolumeEntry {
    #[serde(rename = "Info")]
    pub info: BlockVolumeDbInfo,
    #[serde(rename = "Pending", default)]
    pub pending: PendingRef,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct VolumeEntry {
    #[serde(rename = "Info")]
    pub info: VolumeInfo,
    #[serde(rename = "Bricks", default, deserialize_with = "nullable")]
    pub bricks: Vec<String>,
    #[serde(rename = "GlusterVolumeOptions", default, deserialize_with = "nullable")]
    pub gluster_volume_options: Vec<String>,
    #[serde(rename = "Pending", default)]
    pub pending: PendingRef,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// A volume's `Info` as stored: the API's answer without bricks and options.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct VolumeInfo {
    pub size: u64,
    /// The clusters the create asked for; Heketi omits an empty list.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub clusters: Vec<String>,
    pub name: String,
    pub durability: Durability,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gid: i64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub block: bool,
    pub snapshot: Snapshot,
    pub id: String,
    pub cluster: String,
    pub mount: Mount,
    #[serde(default)]
    pub blockinfo: BlockInfo,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct DbAttributeEntry {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct PendingAction {
    #[serde(rename = "Change")]
    pub change: u8,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Delta")]
    pub delta: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct PendingOperationEntry {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Timestamp")]
    pub timestamp: i64,
    #[serde(rename = "Type")]
    pub kind: u8,
    #[serde(rename = "Actions", default, deserialize_with = "nullable")]
    pub actions: Vec<PendingAction>,
    #[serde(rename = "Status")]
    pub status: String,
}

/// Heketi's writer: four-space indentation and a final newline.
pub fn to_heketi_json(db: &HeketiDb) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    let mut writer =
        serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"    "));
    db.serialize(&mut writer)?;
    out.push(b'\n');
    Ok(String::from_utf8_lossy(&out).into_owned())
}
