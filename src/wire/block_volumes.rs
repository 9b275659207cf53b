//! Block volume shapes: the API's `BlockVolumeInfoResponse` and the `Info`
//! Heketi keeps in its database (the response plus `clusters` and `auth`).

use serde::{Deserialize, Serialize};

use super::nullable;
use crate::store::records::BlockVolumeRecord;

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// `POST /blockvolumes` (Heketi's `BlockVolumeCreateRequest`).
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct BlockVolumeCreateRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub size: i64,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub hacount: i64,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_false")]
    pub auth: bool,
}

/// `POST /blockvolumes/{id}/expand`: the new total size, in GiB.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct BlockVolumeExpandRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub new_size: i64,
}

/// The iSCSI target, always with all five keys.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct BlockTarget {
    #[serde(default, deserialize_with = "nullable")]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub iqn: String,
    #[serde(default)]
    pub lun: i64,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
}

/// `GET /blockvolumes/{id}` and the 303 target of create and expand.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct BlockVolumeInfoResponse {
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hacount: i64,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub blockvolume: BlockTarget,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub blockhostingvolume: String,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub usablesize: u64,
}

/// A block volume's `Info` in `heketi db export`, in Go's field order.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct BlockVolumeDbInfo {
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub clusters: Vec<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hacount: i64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub auth: bool,
    pub id: String,
    #[serde(default)]
    pub blockvolume: BlockTarget,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub blockhostingvolume: String,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub usablesize: u64,
}

fn target(b: &BlockVolumeRecord) -> BlockTarget {
    BlockTarget {
        hosts: b.hosts.clone(),
        iqn: b.iqn.clone(),
        lun: b.lun,
        username: b.username.clone(),
        password: b.password.clone(),
    }
}

impl From<&BlockVolumeRecord> for BlockVolumeInfoResponse {
    fn from(b: &BlockVolumeRecord) -> Self {
        BlockVolumeInfoResponse {
            size: b.size_gib,
            name: b.name.clone(),
            hacount: b.hacount,
            id: b.id.clone(),
            blockvolume: target(b),
            cluster: b.cluster.clone(),
            blockhostingvolume: b.hosting_volume.clone(),
            // Heketi reports the size when no usable size was recorded.
            usablesize: if b.usable_size_gib == 0 {
                b.size_gib
            } else {
                b.usable_size_gib
            },
        }
    }
}

impl From<&BlockVolumeRecord> for BlockVolumeDbInfo {
    fn from(b: &BlockVolumeRecord) -> Self {
        BlockVolumeDbInfo {
            size: b.size_gib,
            clusters: b.requested_clusters.clone(),
            name: b.name.clone(),
            hacount: b.hacount,
            auth: b.auth,
            id: b.id.clone(),
            blockvolume: target(b),
            cluster: b.cluster.clone(),
            blockhostingvolume: b.hosting_volume.clone(),
            usablesize: b.usable_size_gib,
        }
    }
}

impl BlockVolumeDbInfo {
    /// The record, with the pending marker Heketi stored beside the info.
    pub fn to_record(&self, pending: &str) -> BlockVolumeRecord {
        BlockVolumeRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            cluster: self.cluster.clone(),
            hosting_volume: self.blockhostingvolume.clone(),
            size_gib: self.size,
            usable_size_gib: self.usablesize,
            hacount: self.hacount,
            auth: self.auth,
            requested_clusters: self.clusters.clone(),
            hosts: self.blockvolume.hosts.clone(),
            iqn: self.blockvolume.iqn.clone(),
            lun: self.blockvolume.lun,
            username: self.blockvolume.username.clone(),
            password: self.blockvolume.password.clone(),
            pending: Some(pending.to_string()).filter(|p| !p.is_empty()),
            expanding: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_drops_auth_and_clusters_and_reports_size_when_usable_is_unset() {
        let info: BlockVolumeDbInfo = serde_json::from_str(
            r#"{"size":5,"clusters":["c1"],"name":"b","hacount":3,"auth":true,"id":"i",
                "blockvolume":{"hosts":["h1"],"iqn":"q","lun":0,"username":"u","password":"p"},
                "cluster":"c1","blockhostingvolume":"v"}"#,
        )
        .unwrap();
        let record = info.to_record("");
        assert_eq!(
            serde_json::to_string(&BlockVolumeInfoResponse::from(&record)).unwrap(),
            r#"{"size":5,"name":"b","hacount":3,"id":"i","blockvolume":{"hosts":["h1"],"iqn":"q","lun":0,"username":"u","password":"p"},"cluster":"c1","blockhostingvolume":"v","usablesize":5}"#
        );
        assert_eq!(
            serde_json::to_string(&BlockVolumeDbInfo::from(&record)).unwrap(),
            r#"{"size":5,"clusters":["c1"],"name":"b","hacount":3,"auth":true,"id":"i","blockvolume":{"hosts":["h1"],"iqn":"q","lun":0,"username":"u","password":"p"},"cluster":"c1","blockhostingvolume":"v"}"#,
            "the database keeps what it was given"
        );
    }
}
