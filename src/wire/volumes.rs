//! Volume request and response shapes (Heketi's `VolumeCreateRequest`,
//! `VolumeInfoResponse` and friends).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use super::{nullable, BrickInfo};
use crate::store::records::{DurabilityRecord, VolumeRecord};

#[derive(Deserialize, Serialize, Debug, Default, Clone, PartialEq)]
pub struct ReplicaDurability {
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub replica: i64,
}

#[derive(Deserialize, Serialize, Debug, Default, Clone, PartialEq)]
pub struct DisperseDurability {
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub data: i64,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub redundancy: i64,
}

#[derive(Deserialize, Serialize, Debug, Default, Clone, PartialEq)]
pub struct Durability {
    #[serde(
        rename = "type",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub replicate: ReplicaDurability,
    #[serde(default, deserialize_with = "nullable")]
    pub disperse: DisperseDurability,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Go prints a float32 in its shortest form and whole numbers without `.0`.
fn go_float<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f32(*v)
    }
}

#[derive(Deserialize, Serialize, Debug, Default, Clone, Copy, PartialEq)]
pub struct Snapshot {
    #[serde(default, deserialize_with = "nullable")]
    pub enable: bool,
    #[serde(default, deserialize_with = "nullable", serialize_with = "go_float")]
    pub factor: f32,
}

/// Serialized as Heketi's Go client sends it (empty lists left out).
#[derive(Deserialize, Serialize, Debug, Default)]
pub struct VolumeCreateRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub size: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub durability: Durability,
    #[serde(default, deserialize_with = "nullable")]
    pub gid: i64,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub glustervolumeoptions: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub block: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub snapshot: Snapshot,
}

#[derive(Deserialize, Serialize, Debug, Default)]
pub struct VolumeExpandRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub expand_size: i64,
}

#[derive(Deserialize, Serialize, Debug, Default)]
pub struct VolumeCloneRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

#[derive(Deserialize, Debug, Default)]
pub struct BlockRestrictionRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub restriction: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct GlusterMount {
    pub hosts: Vec<String>,
    pub device: String,
    pub options: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Mount {
    pub glusterfs: GlusterMount,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
pub struct BlockInfo {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub freesize: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reservedsize: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blockvolume: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub restriction: String,
}

fn is_false(v: &bool) -> bool {
    !*v
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct VolumeInfoResponse {
    pub size: u64,
    pub name: String,
    pub durability: Durability,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gid: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub glustervolumeoptions: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub block: bool,
    pub snapshot: Snapshot,
    pub id: String,
    pub cluster: String,
    pub mount: Mount,
    pub blockinfo: BlockInfo,
    pub bricks: Vec<BrickInfo>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct VolumeListResponse {
    pub volumes: Vec<String>,
}

/// A JSON list of ids, written id by id as the store visits them: a
/// listing of 50,000 volumes makes no string per id.
pub struct IdListWriter {
    body: Vec<u8>,
    empty: bool,
    close: &'static [u8],
}

impl IdListWriter {
    /// `VolumeListResponse`'s JSON.
    pub fn volume_list() -> Self {
        IdListWriter::between(b"{\"volumes\":[", b"]}")
    }

    /// A bare JSON array.
    pub fn array() -> Self {
        IdListWriter::between(b"[", b"]")
    }

    fn between(open: &[u8], close: &'static [u8]) -> Self {
        let mut body = Vec::with_capacity(4096);
        body.extend_from_slice(open);
        IdListWriter {
            body,
            empty: true,
            close,
        }
    }

    pub fn push(&mut self, id: &str) {
        if !self.empty {
            self.body.push(b',');
        }
        self.empty = false;
        // Only quotes, backslashes and control characters are escaped in
        // JSON. A test that branches the same way for every byte of an id
        // (a hex id's digits and letters alternate at random, so testing
        // for either mispredicts) and one copy: half the time of escaping
        // a 50,000-volume listing byte by byte.
        if id.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.body.push(b'"');
            self.body.extend_from_slice(id.as_bytes());
            self.body.push(b'"');
        } else {
            // A string serialises into a Vec without failing.
            let _ = serde_json::to_writer(&mut self.body, id);
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.body.extend_from_slice(self.close);
        self.body
    }
}

impl From<&DurabilityRecord> for Durability {
    fn from(d: &DurabilityRecord) -> Self {
        Durability {
            kind: d.kind.as_str().to_string(),
            replicate: ReplicaDurability { replica: d.replica },
            disperse: DisperseDurability {
                data: d.data,
                redundancy: d.redundancy,
            },
        }
    }
}

/// Builds the info response from a volume, its bricks and its cluster's
/// storage hostnames (in cluster node order).
pub fn volume_info(v: &VolumeRecord, bricks: Vec<BrickInfo>, hosts: Vec<String>) -> VolumeInfoResponse {
    let first = hosts.first().cloned().unwrap_or_default();
    let backups = hosts.iter().skip(1).cloned().collect::<Vec<_>>().join(",");
    VolumeInfoResponse {
        size: v.size_gib,
        name: v.name.clone(),
        durability: Durability::from(&v.durability),
        gid: v.gid,
        glustervolumeoptions: v.options.clone(),
        block: v.block,
        snapshot: Snapshot {
            enable: v.snapshot.enable,
            factor: v.snapshot.factor,
        },
        id: v.id.clone(),
        cluster: v.cluster.clone(),
        mount: Mount {
            glusterfs: GlusterMount {
                device: format!("{first}:{}", v.name),
                options: BTreeMap::from([("backup-volfile-servers".to_string(), backups)]),
                hosts,
            },
        },
        blockinfo: BlockInfo {
            freesize: v.blockinfo.free_gib,
            reservedsize: v.blockinfo.reserved_gib,
            blockvolume: v.blockinfo.block_volumes.clone(),
            restriction: v.blockinfo.restriction.clone(),
        },
        bricks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_print_as_go_does() {
        let s = |f: f32| {
            serde_json::to_string(&Snapshot {
                enable: true,
                factor: f,
            })
            .unwrap()
        };
        assert_eq!(s(1.0), r#"{"enable":true,"factor":1}"#);
        assert_eq!(s(1.5), r#"{"enable":true,"factor":1.5}"#);
        assert_eq!(s(1.2), r#"{"enable":true,"factor":1.2}"#);
    }

    #[test]
    fn durability_echo_omits_zeroes() {
        let d: Durability = serde_json::from_str(r#"{"type":"replicate"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"type":"replicate","replicate":{},"disperse":{}}"#
        );
        let none = Durability::default();
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"replicate":{},"disperse":{}}"#
        );
    }

    #[test]
    fn the_list_writer_writes_what_the_list_serialises_to() {
        for ids in [vec![], vec!["a1"], vec!["a1", "b2", "c\"3\\", "d\u{e9}\n\u{1}"]] {
            let (mut out, mut array) = (IdListWriter::volume_list(), IdListWriter::array());
            for id in &ids {
                out.push(id);
                array.push(id);
            }
            let listed = VolumeListResponse {
                volumes: ids.iter().map(ToString::to_string).collect(),
            };
            assert_eq!(
                String::from_utf8(out.finish()).unwrap(),
                serde_json::to_string(&listed).unwrap()
            );
            assert_eq!(
                String::from_utf8(array.finish()).unwrap(),
                serde_json::to_string(&listed.volumes).unwrap()
            );
        }
    }
}
