//! gluster-block's side of the executor: what a block volume request
//! carries and what gluster-block answers, in the executor's own types.

use serde::{Deserialize, Serialize};

/// CHAP on the iSCSI target, as gluster-block's `auth` argument says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockAuth {
    Enable,
    Disable,
}

impl BlockAuth {
    pub fn from_enabled(enabled: bool) -> BlockAuth {
        if enabled {
            BlockAuth::Enable
        } else {
            BlockAuth::Disable
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            BlockAuth::Enable => "enable",
            BlockAuth::Disable => "disable",
        }
    }
}

/// A block volume to create: a file on the hosting volume exported as an
/// iSCSI LUN from `hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockVolumeSpec {
    /// The gluster name of the block-hosting volume.
    pub hosting_volume: String,
    pub name: String,
    /// Storage hostnames that export the target (gluster-block's portals).
    pub hosts: Vec<String>,
    pub auth: BlockAuth,
    pub size_gib: u64,
}

impl BlockVolumeSpec {
    /// gluster-block's `ha`: one portal per host.
    pub fn ha(&self) -> usize {
        self.hosts.len()
    }
}

/// What `gluster-block create` reports of a new block volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockVolumeCreated {
    pub iqn: String,
    /// CHAP user name; empty without auth.
    pub username: String,
    /// CHAP password; empty without auth.
    pub password: String,
    /// `host:port` of each portal.
    pub portals: Vec<String>,
}

/// What `gluster-block info` reports of a block volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockVolumeReport {
    pub name: String,
    pub hosting_volume: String,
    /// gluster-block's own id; the IQN and CHAP user name derive from it.
    pub gbid: String,
    pub size_gib: u64,
    pub ha: u64,
    pub password: String,
    pub exported_on: Vec<String>,
    /// The smallest size a host failed to resize to, when a resize failed
    /// on some hosts (Heketi's "usable size"); `None` when none failed.
    pub usable_size_gib: Option<u64>,
}

/// The IQN gluster-block gives a block volume of this id.
pub fn block_iqn(gbid: &str) -> String {
    format!("iqn.2016-12.org.gluster-block:{gbid}")
}
