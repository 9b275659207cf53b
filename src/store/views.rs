//! Read models: a record with the records it lists, as the info responses
//! need them. The operations layer builds them; `wire` turns them into
//! Heketi's shapes.

use super::records::{BrickRecord, ClusterRecord, DeviceRecord, NodeRecord, VolumeRecord};

/// A cluster with its member ids, as info responses need it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    pub record: ClusterRecord,
    pub nodes: Vec<String>,
    /// The volume ids clients may see, as a JSON array: kept written
    /// between changes (`Store::rendered`).
    pub volumes: bytes::Bytes,
    pub block_volumes: Vec<String>,
}

/// A device with its bricks, as info responses need it.
#[derive(Debug, Clone)]
pub struct DeviceView {
    pub record: DeviceRecord,
    pub bricks: Vec<BrickRecord>,
}

/// A node with its devices (and their bricks), as info responses need it.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub record: NodeRecord,
    pub devices: Vec<DeviceView>,
}

/// A volume with its bricks and mount hosts, as info responses need it.
#[derive(Debug, Clone)]
pub struct VolumeView {
    pub record: VolumeRecord,
    pub bricks: Vec<BrickRecord>,
    pub hosts: Vec<String>,
}
