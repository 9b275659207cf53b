//! Heketi's exact JSON request and response shapes, and its validation
//! rules and message format. Responses are views built from store records.

pub mod block_volumes;
pub mod drift;
pub mod heketi_db;
pub mod qsh;
pub mod validate;
pub mod volumes;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::store::records::{BrickRecord, Tags};
use crate::store::views::{ClusterView, DeviceView, NodeView};

/// Go leaves a field at its zero value for an explicit `null`; so do we.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_empty_map(m: &Tags) -> bool {
    m.is_empty()
}

// ---- clusters ----------------------------------------------------------

#[derive(Deserialize, Debug, Default)]
pub struct ClusterFlagsRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub block: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub file: bool,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct ClusterInfoResponse {
    pub id: String,
    pub nodes: Vec<String>,
    pub volumes: Vec<String>,
    pub block: bool,
    pub file: bool,
    pub blockvolumes: Vec<String>,
}

/// `ClusterInfoResponse` as the server writes it: the volume list comes
/// already written as JSON (a 5,000-volume cluster's is kept between
/// changes), the rest is borrowed from the view.
#[derive(Serialize, Debug)]
pub struct ClusterInfoBody<'a> {
    pub id: &'a str,
    pub nodes: &'a [String],
    pub volumes: &'a serde_json::value::RawValue,
    pub block: bool,
    pub file: bool,
    pub blockvolumes: &'a [String],
}

impl<'a> ClusterInfoBody<'a> {
    /// Fails only if the view's volume list is not a JSON value.
    pub fn of(v: &'a ClusterView) -> Result<Self, serde_json::Error> {
        Ok(ClusterInfoBody {
            id: &v.record.id,
            nodes: &v.nodes,
            volumes: serde_json::from_slice(&v.volumes)?,
            block: v.record.block,
            file: v.record.file,
            blockvolumes: &v.block_volumes,
        })
    }
}

#[derive(Serialize, Deserialize, Debug)]
pub struct ClusterListResponse {
    pub clusters: Vec<String>,
}

// ---- nodes -------------------------------------------------------------

#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct HostAddresses {
    #[serde(default, deserialize_with = "nullable")]
    pub manage: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub storage: Vec<String>,
}

#[derive(Deserialize, Debug, Default)]
pub struct NodeAddRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub zone: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub hostnames: HostAddresses,
    #[serde(default, deserialize_with = "nullable")]
    pub cluster: String,
    #[serde(default, deserialize_with = "nullable")]
    pub tags: Tags,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct NodeInfoResponse {
    pub zone: i64,
    pub hostnames: HostAddresses,
    pub cluster: String,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub tags: Tags,
    pub id: String,
    pub state: String,
    pub devices: Vec<DeviceInfoResponse>,
}

impl From<NodeView> for NodeInfoResponse {
    fn from(v: NodeView) -> Self {
        let r = v.record;
        NodeInfoResponse {
            zone: r.zone,
            hostnames: HostAddresses {
                manage: r.manage,
                storage: r.storage,
            },
            cluster: r.cluster,
            tags: r.tags,
            id: r.id,
            state: r.state.as_str().to_string(),
            devices: v.devices.into_iter().map(DeviceInfoResponse::from).collect(),
        }
    }
}

// ---- devices -----------------------------------------------------------

#[derive(Deserialize, Debug, Default)]
pub struct DeviceAddRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub node: String,
    #[serde(default, deserialize_with = "nullable")]
    pub destroydata: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub tags: Tags,
}

#[derive(Deserialize, Debug, Default)]
pub struct DeviceDeleteOptions {
    #[serde(default, deserialize_with = "nullable")]
    pub forceforget: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Default)]
pub struct StorageSize {
    pub total: u64,
    pub free: u64,
    pub used: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BrickInfo {
    pub id: String,
    pub path: String,
    pub device: String,
    pub node: String,
    pub volume: String,
    pub size: u64,
}

impl From<BrickRecord> for BrickInfo {
    fn from(b: BrickRecord) -> Self {
        BrickInfo {
            id: b.id,
            path: b.path,
            device: b.device,
            node: b.node,
            volume: b.volume,
            size: b.size,
        }
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct DeviceInfoResponse {
    pub name: String,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub tags: Tags,
    pub storage: StorageSize,
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pv_uuid: String,
    pub state: String,
    pub bricks: Vec<BrickInfo>,
}

impl From<DeviceView> for DeviceInfoResponse {
    fn from(v: DeviceView) -> Self {
        let r = v.record;
        DeviceInfoResponse {
            name: r.name,
            tags: r.tags,
            storage: StorageSize {
                total: r.space.total,
                free: r.space.free,
                used: r.space.used,
            },
            id: r.id,
            paths: r.paths,
            pv_uuid: r.pv_uuid,
            state: r.state.as_str().to_string(),
            bricks: v.bricks.into_iter().map(BrickInfo::from).collect(),
        }
    }
}

// ---- state and tags ----------------------------------------------------

#[derive(Deserialize, Debug, Default)]
pub struct StateRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub state: String,
    #[serde(default, deserialize_with = "nullable")]
    pub healcheck: String,
}

/// `POST /bricks/to-evict/{id}`'s optional body.
#[derive(Deserialize, Debug, Default)]
pub struct BrickEvictRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub healcheck: String,
}

#[derive(Deserialize, Debug, Default)]
pub struct TagsChangeRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub change_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub tags: Tags,
}

// ---- admin, logging, operations ----------------------------------------

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct AdminState {
    #[serde(default, deserialize_with = "nullable")]
    pub state: String,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct LogLevelInfo {
    #[serde(default, deserialize_with = "nullable")]
    pub loglevel: BTreeMap<String, String>,
}

#[derive(Serialize, Debug)]
pub struct OperationsInfo {
    pub total: usize,
    pub in_flight: usize,
    pub stale: usize,
    pub failed: usize,
    pub new: usize,
}

#[derive(Serialize, Debug)]
pub struct PendingOperationInfo {
    pub id: String,
    pub type_name: String,
    pub status: String,
    pub sub_status: String,
}

#[derive(Serialize, Debug)]
pub struct PendingOperationList {
    pub pendingoperations: Vec<PendingOperationInfo>,
}

#[derive(Serialize, Debug)]
pub struct PendingChange {
    pub id: String,
    pub description: String,
}

#[derive(Serialize, Debug)]
pub struct PendingOperationDetails {
    pub id: String,
    pub type_name: String,
    pub status: String,
    pub sub_status: String,
    pub changes: Vec<PendingChange>,
}

#[derive(Deserialize, Debug, Default)]
pub struct OperationsCleanupRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub operations: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::ClusterRecord;

    #[test]
    fn a_cluster_body_writes_what_the_response_serialises_to() {
        let view = ClusterView {
            record: ClusterRecord {
                id: "c1".into(),
                block: false,
                file: true,
            },
            nodes: vec!["n1".into(), "n2".into()],
            volumes: bytes::Bytes::from_static(br#"["v1","v2"]"#),
            block_volumes: vec!["b1".into()],
        };
        let response = ClusterInfoResponse {
            id: "c1".into(),
            nodes: vec!["n1".into(), "n2".into()],
            volumes: vec!["v1".into(), "v2".into()],
            block: false,
            file: true,
            blockvolumes: vec!["b1".into()],
        };
        assert_eq!(
            serde_json::to_string(&ClusterInfoBody::of(&view).unwrap()).unwrap(),
            serde_json::to_string(&response).unwrap()
        );
        let broken = ClusterView {
            volumes: bytes::Bytes::from_static(b"[\"v1\""),
            ..view
        };
        assert!(ClusterInfoBody::of(&broken).is_err());
    }
}
