//! The mock's simulated storage nodes: physical volumes, volume groups,
//! thin pools and LVs, mounts, fstab lines, the trusted pool's gluster
//! volumes and the command lines each node ran, and what the nodes report
//! about them. This is the shape of `<store>.mock-nodes.json` and of
//! `brickyard mock-state`; changes go through `change.rs`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::packed::{Packed, PackedMap};
use super::tables::{Fstab, Lvs, Mounts};
use crate::executor::{
    BlockVolumeReport, DeviceReport, GlusterVolumeInfo, HealEntry, LvEntry, MountEntry, NodeInventory, VolumeLayout,
};

pub(super) const EXTENT_KIB: u64 = 4096;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockPv {
    pub uuid: String,
    /// The volume group on it, if any.
    pub vg: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockVg {
    pub pv: String,
    pub extent_size: u64,
    pub extents: u64,
    pub allocated_extents: u64,
}

impl MockVg {
    /// Sizes as LVM reports them, in KiB.
    pub(super) fn report(&self, pv_uuid: &str, path: &str) -> DeviceReport {
        DeviceReport {
            total: self.extents * self.extent_size,
            free: (self.extents - self.allocated_extents) * self.extent_size,
            used: self.allocated_extents * self.extent_size,
            extent_size: self.extent_size,
            pv_uuid: pv_uuid.to_string(),
            paths: vec![path.to_string()],
        }
    }
}

/// What one simulated storage node holds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockHost {
    /// Storage hostnames this node has peer-probed.
    pub peers: BTreeSet<String>,
    /// Physical volumes by device path.
    pub pvs: BTreeMap<String, MockPv>,
    /// Volume groups by name.
    pub vgs: BTreeMap<String, MockVg>,
    /// Logical volumes by `vg/lv`.
    #[serde(default)]
    pub lvs: Lvs,
    /// Mounted file systems: mount point → device node.
    #[serde(default)]
    pub mounts: Mounts,
    /// Lines of the node's fstab.
    #[serde(default)]
    pub fstab: Fstab,
    /// Mount points whose brick directory (`<mount>/brick`) was removed:
    /// every other brick mount has one, as `brick_create` makes it. Set
    /// only by hand (tests), so nothing the mock does changes it.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub lost_brick_dirs: BTreeSet<String>,
    /// The command lines run on this node, in order: the last
    /// `COMMANDS_KEPT` at least (older ones go in batches).
    #[serde(default)]
    pub commands: Vec<Packed>,
}

/// How many of a node's command lines the mock keeps: enough for any test
/// to read what a scenario ran, without a server that made 50,000 volumes
/// holding every line it ever ran.
pub const COMMANDS_KEPT: usize = 1000;

impl MockHost {
    /// Records `lines` as run; the oldest go once twice `COMMANDS_KEPT`
    /// are held, so trimming costs O(1) per line.
    pub(super) fn ran(&mut self, lines: Vec<String>) {
        self.commands.extend(lines.into_iter().map(Packed::from));
        if self.commands.len() > 2 * COMMANDS_KEPT {
            let old = self.commands.len() - COMMANDS_KEPT;
            self.commands.drain(..old);
        }
    }
}

/// A logical volume: a thin pool (holding extents) or a thin LV in one.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockLv {
    /// For a thin LV: its pool's name.
    pub pool: Option<Packed>,
    /// Extents a thin pool holds.
    pub extents: u64,
    pub size_kib: u64,
}

/// A gluster volume in the simulated trusted pool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MockVolume {
    pub id: Packed,
    pub layout: VolumeLayout,
    pub bricks: Vec<Packed>,
    pub options: Vec<String>,
    pub started: bool,
}

/// The whole simulated fleet, keyed by manage hostname.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockNodes {
    pub hosts: BTreeMap<String, MockHost>,
    /// Gluster volumes by name (the pool is shared by all nodes).
    #[serde(default)]
    pub volumes: PackedMap<MockVolume>,
    /// gluster-block's block volumes by `hosting volume/name` (gluster-block
    /// keeps them in the hosting volume, so they go with it).
    #[serde(default)]
    pub blocks: BTreeMap<String, MockBlock>,
}

/// A gluster-block block volume: a file in its hosting volume, exported
/// as an iSCSI LUN.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MockBlock {
    /// gluster-block's id (the IQN's suffix and the CHAP user name).
    pub gbid: String,
    pub size_gib: u64,
    /// Storage hostnames exporting it.
    pub hosts: Vec<String>,
    /// The CHAP password, with auth on.
    pub password: Option<String>,
    /// How its file was allocated (`full` or `no`).
    pub prealloc: String,
}

/// The key of a block volume in `MockNodes::blocks`.
pub(super) fn block_key(hosting_volume: &str, name: &str) -> String {
    format!("{hosting_volume}/{name}")
}

/// A device setup refused: the device still carries a PV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Can't initialize physical volume \"{path}\" of volume group \"{vg}\" without -ff")]
pub struct PvInUse {
    pub path: String,
    pub vg: String,
    pub pv_uuid: String,
}

/// Why a simulated node refused a call: the message its tools would print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Volume group \"{0}\" not found")]
    NoVg(String),
    #[error("Volume group \"{0}\" still contains logical volumes")]
    VgInUse(String),
    #[error("Insufficient free space: {needed} extents needed, but only {free} available")]
    NoSpace { needed: u64, free: u64 },
    #[error("volume create: {0}: failed: Volume {0} already exists")]
    VolumeExists(String),
    #[error("volume add-brick: failed: Volume {0} does not exist")]
    NoVolumeToExpand(String),
    #[error("volume replace-brick: failed: Volume {0} does not exist")]
    NoVolumeToReplaceIn(String),
    #[error("volume replace-brick: failed: brick: {old} does not exist in volume: {volume}")]
    NoBrickToReplace { volume: String, old: String },
    #[error("snapshot create: failed: Volume ({0}) does not exist")]
    NoVolumeToClone(String),
    #[error("snapshot clone: failed: Volume ({0}) already exists")]
    CloneExists(String),
    #[error("snapshot create: failed: Brick {brick} of volume {volume} is not a mounted thin LV")]
    BrickNotThin { brick: String, volume: String },
    #[error("Volume {0} does not exist")]
    NoVolume(String),
    #[error("Volume {0} is not of type replicate/disperse")]
    NotReplicated(String),
    /// gluster-block's words for a hosting volume gluster does not have.
    #[error("Volume {0} does not exist")]
    NoHostingVolume(String),
    #[error("BLOCK with name: '{0}' already EXIST")]
    BlockExists(String),
    #[error("block {volume}/{name} doesn't exist")]
    NoBlock { volume: String, name: String },
    #[error("new size {new} GiB is smaller than the block's {old} GiB: shrinking is not supported")]
    BlockShrink { new: u64, old: u64 },
}

/// `(vg, lv)` of a `/dev/mapper/<vg>-<lv>` device (names here hold no `-`).
pub(super) fn mapper_name(device: &str) -> Option<(String, String)> {
    let (vg, lv) = device.strip_prefix("/dev/mapper/")?.split_once('-')?;
    Some((vg.to_string(), lv.to_string()))
}

/// An LVM-style PV UUID (6-4-4-4-4-4-6 characters), derived from the device id.
pub(super) fn pv_uuid_for(device_id: &str) -> String {
    let chars: Vec<char> = device_id.chars().chain(std::iter::repeat('0')).take(32).collect();
    let mut out = String::new();
    let mut pos = 0;
    for (i, len) in [6, 4, 4, 4, 4, 4, 6].iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.extend(&chars[pos..pos + len]);
        pos += len;
    }
    out
}

impl MockNodes {
    /// A device's sizes, from its volume group.
    pub(super) fn device_report(&self, host: &str, vg_name: &str) -> Result<DeviceReport, Refusal> {
        let node = self.hosts.get(host);
        let vg = node
            .and_then(|n| n.vgs.get(vg_name))
            .ok_or_else(|| Refusal::NoVg(vg_name.to_string()))?;
        let uuid = node
            .and_then(|n| n.pvs.get(&vg.pv))
            .map(|pv| pv.uuid.clone())
            .unwrap_or_default();
        Ok(vg.report(&uuid, &vg.pv))
    }

    pub(super) fn volume_info(&self, name: &str) -> Option<GlusterVolumeInfo> {
        self.volumes.get(name).map(MockVolume::info)
    }

    /// Every gluster volume of the pool, by name.
    pub(super) fn gluster_volumes(&self) -> Vec<(String, GlusterVolumeInfo)> {
        self.volumes
            .sorted()
            .into_iter()
            .map(|(name, v)| (name, v.info()))
            .collect()
    }

    /// What `gluster-block info` reports of a block volume, if there is one.
    pub(super) fn block_report(&self, hosting_volume: &str, name: &str) -> Option<BlockVolumeReport> {
        let block = self.blocks.get(&block_key(hosting_volume, name))?;
        Some(BlockVolumeReport {
            name: name.to_string(),
            hosting_volume: hosting_volume.to_string(),
            gbid: block.gbid.clone(),
            size_gib: block.size_gib,
            ha: block.hosts.len() as u64,
            password: block.password.clone().unwrap_or_default(),
            exported_on: block.hosts.clone(),
            usable_size_gib: None,
        })
    }

    /// The block volumes on a hosting volume, as `gluster-block list` names them.
    pub(super) fn block_names(&self, hosting_volume: &str) -> Result<Vec<String>, Refusal> {
        if !self.volumes.contains_key(hosting_volume) {
            return Err(Refusal::NoHostingVolume(hosting_volume.to_string()));
        }
        let prefix = block_key(hosting_volume, "");
        Ok(self
            .blocks
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(str::to_string)
            .collect())
    }

    /// Every brick `Connected` with nothing to heal.
    pub(super) fn heal_info(&self, name: &str) -> Result<Vec<HealEntry>, Refusal> {
        let volume = self
            .volumes
            .get(name)
            .ok_or_else(|| Refusal::NoVolume(name.to_string()))?;
        if matches!(volume.layout, VolumeLayout::Distribute) {
            return Err(Refusal::NotReplicated(name.to_string()));
        }
        Ok(volume
            .bricks
            .iter()
            .map(|b| HealEntry {
                brick: b.unpack(),
                status: "Connected".into(),
                entries: "0".into(),
            })
            .collect())
    }

    /// The node's LVs, mounts and fstab lines, as `Executor::node_inventory` reports them.
    pub(super) fn inventory(&self, host: &str) -> NodeInventory {
        let Some(node) = self.hosts.get(host) else {
            return NodeInventory::default();
        };
        let lvs = node
            .lvs
            .sorted()
            .into_iter()
            .filter_map(|(key, lv)| {
                let (vg, name) = key.split_once('/')?;
                Some(LvEntry {
                    vg: vg.to_string(),
                    lv: name.to_string(),
                    pool: lv.pool.as_ref().map(Packed::unpack),
                    origin: None,
                })
            })
            .collect();
        let mounts: Vec<MountEntry> = node
            .mounts
            .sorted()
            .into_iter()
            .map(|(target, source)| MountEntry { source, target })
            .collect();
        let root = crate::executor::BRICK_MOUNT_ROOTS[0];
        let brick_dirs = mounts
            .iter()
            .map(|m| &m.target)
            .filter(|m| m.starts_with(root) && !node.lost_brick_dirs.contains(*m))
            .map(|m| format!("{m}/brick"))
            .collect();
        NodeInventory {
            lvs,
            mounts,
            fstab: node.fstab.lines(),
            brick_dirs,
        }
    }

    /// The names the other nodes of the pool are known by, from `host`: the
    /// storage hostnames any node probed, and the manage hostname of each
    /// node that probed (the mock knows it by no other name). The pool is
    /// one for all nodes, as its volumes are.
    pub(super) fn peer_hostnames(&self, host: &str) -> Vec<String> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for (name, node) in &self.hosts {
            names.extend(node.peers.iter().cloned());
            if !node.peers.is_empty() {
                names.insert(name.clone());
            }
        }
        names.remove(host);
        names.into_iter().collect()
    }
}

impl MockVolume {
    fn info(&self) -> GlusterVolumeInfo {
        GlusterVolumeInfo {
            id: self.id.unpack().replace('-', ""),
            bricks: self.bricks.iter().map(Packed::unpack).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_uuids_look_like_lvm_ones() {
        assert_eq!(
            pv_uuid_for("0123456789abcdef0123456789abcdef"),
            "012345-6789-abcd-ef01-2345-6789-abcdef"
        );
    }

    #[test]
    fn a_node_keeps_its_latest_command_lines() {
        let mut host = MockHost::default();
        for i in 0..5 * COMMANDS_KEPT {
            host.ran(vec![format!("cmd {i}")]);
            assert!(host.commands.len() <= 2 * COMMANDS_KEPT);
            assert!(host.commands.len() >= COMMANDS_KEPT.min(i + 1));
        }
        assert_eq!(host.commands.last().map(Packed::unpack).as_deref(), Some("cmd 4999"));
        let first: usize = host.commands[0].unpack().trim_start_matches("cmd ").parse().unwrap();
        assert_eq!(
            first + host.commands.len(),
            5 * COMMANDS_KEPT,
            "the latest, in order, no gap"
        );
    }
}
