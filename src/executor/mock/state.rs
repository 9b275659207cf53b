//! The mock's simulated storage nodes: physical volumes, volume groups,
//! thin pools and LVs, mounts, fstab lines, the trusted pool's gluster
//! volumes and the command lines each node ran; what each operation does to
//! them; and their persistence to `<store>.mock-nodes.json`, which tests
//! read to see what a crash left on the "nodes".

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::executor::{
    BrickSpec, CloneReport, DeviceReport, GlusterVolumeInfo, GlusterVolumeSpec, HealEntry, LvEntry, MountEntry,
    NodeInventory, VolumeLayout,
};

const EXTENT_KIB: u64 = 4096;

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
    pub lvs: BTreeMap<String, MockLv>,
    /// Mounted file systems: mount point → device node.
    #[serde(default)]
    pub mounts: BTreeMap<String, String>,
    /// Lines of the node's fstab.
    #[serde(default)]
    pub fstab: Vec<String>,
    /// Every command line run on this node, in order.
    #[serde(default)]
    pub commands: Vec<String>,
}

/// A logical volume: a thin pool (holding extents) or a thin LV in one.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockLv {
    /// For a thin LV: its pool's name.
    pub pool: Option<String>,
    /// Extents a thin pool holds.
    pub extents: u64,
    pub size_kib: u64,
}

/// A gluster volume in the simulated trusted pool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MockVolume {
    pub id: String,
    pub layout: VolumeLayout,
    pub bricks: Vec<String>,
    pub options: Vec<String>,
    pub started: bool,
}

/// The whole simulated fleet, keyed by manage hostname.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockNodes {
    pub hosts: BTreeMap<String, MockHost>,
    /// Gluster volumes by name (the pool is shared by all nodes).
    #[serde(default)]
    pub volumes: BTreeMap<String, MockVolume>,
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
}

/// `(vg, lv)` of a `/dev/mapper/<vg>-<lv>` device (names here hold no `-`).
fn mapper_name(device: &str) -> Option<(String, String)> {
    let (vg, lv) = device.strip_prefix("/dev/mapper/")?.split_once('-')?;
    Some((vg.to_string(), lv.to_string()))
}

/// An LVM-style PV UUID (6-4-4-4-4-4-6 characters), derived from the device id.
fn pv_uuid_for(device_id: &str) -> String {
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
    /// Reads a state file written by a mock executor.
    pub fn load(path: &Path) -> std::io::Result<MockNodes> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MockNodes::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the state to `path` through a temporary file, so a reader
    /// never sees half of it.
    pub(super) fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }

    /// The node `host`, made on first use.
    pub(super) fn host(&mut self, host: &str) -> &mut MockHost {
        self.hosts.entry(host.to_string()).or_default()
    }

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

    /// Removes an empty volume group and its PV; a node or group already
    /// gone counts as removed.
    pub(super) fn teardown_device(&mut self, host: &str, vg_name: &str) -> Result<(), Refusal> {
        let Some(node) = self.hosts.get_mut(host) else {
            return Ok(());
        };
        if let Some(vg) = node.vgs.get(vg_name) {
            if vg.allocated_extents > 0 {
                return Err(Refusal::VgInUse(vg_name.to_string()));
            }
            let pv = vg.pv.clone();
            node.vgs.remove(vg_name);
            node.pvs.remove(&pv);
        }
        Ok(())
    }

    /// Removes a volume group and its PV, whatever they hold.
    pub(super) fn forget_device(&mut self, host: &str, vg_name: &str) {
        if let Some(node) = self.hosts.get_mut(host) {
            if let Some(vg) = node.vgs.remove(vg_name) {
                node.pvs.remove(&vg.pv);
            }
        }
    }

    /// Creates and starts a gluster volume; one with the same bricks counts
    /// as created (and runs nothing).
    pub(super) fn create_volume(
        &mut self,
        host: &str,
        volume: &GlusterVolumeSpec,
        lines: Vec<String>,
    ) -> Result<(), Refusal> {
        if let Some(existing) = self.volumes.get(&volume.name) {
            return if existing.bricks == volume.bricks {
                Ok(())
            } else {
                Err(Refusal::VolumeExists(volume.name.clone()))
            };
        }
        self.host(host).commands.extend(lines);
        self.volumes.insert(
            volume.name.clone(),
            MockVolume {
                id: uuid::Uuid::new_v4().to_string(),
                layout: volume.layout,
                bricks: volume.bricks.clone(),
                options: volume.options.iter().filter(|o| !o.is_empty()).cloned().collect(),
                started: true,
            },
        );
        Ok(())
    }

    /// Adds the bricks the volume does not have yet.
    pub(super) fn expand_volume(
        &mut self,
        host: &str,
        volume: &GlusterVolumeSpec,
        lines: Vec<String>,
    ) -> Result<(), Refusal> {
        let Some(existing) = self.volumes.get_mut(&volume.name) else {
            return Err(Refusal::NoVolumeToExpand(volume.name.clone()));
        };
        let new: Vec<String> = volume
            .bricks
            .iter()
            .filter(|b| !existing.bricks.contains(b))
            .cloned()
            .collect();
        existing.bricks.extend(new);
        self.host(host).commands.extend(lines);
        Ok(())
    }

    pub(super) fn volume_info(&self, name: &str) -> Option<GlusterVolumeInfo> {
        self.volumes.get(name).map(MockVolume::info)
    }

    /// Every gluster volume of the pool, by name.
    pub(super) fn gluster_volumes(&self) -> Vec<(String, GlusterVolumeInfo)> {
        self.volumes.iter().map(|(name, v)| (name.clone(), v.info())).collect()
    }

    /// Swaps brick `old` of `volume` for `new`.
    pub(super) fn replace_brick(
        &mut self,
        host: &str,
        volume: &str,
        old: &str,
        new: &str,
        line: String,
    ) -> Result<(), Refusal> {
        let Some(v) = self.volumes.get_mut(volume) else {
            return Err(Refusal::NoVolumeToReplaceIn(volume.to_string()));
        };
        let Some(slot) = v.bricks.iter_mut().find(|b| b.as_str() == old) else {
            return Err(Refusal::NoBrickToReplace {
                volume: volume.to_string(),
                old: old.to_string(),
            });
        };
        *slot = new.to_string();
        self.host(host).commands.push(line);
        Ok(())
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
                brick: b.clone(),
                status: "Connected".into(),
                entries: "0".into(),
            })
            .collect())
    }

    /// A snapshot of `source` cloned as `clone`, in one step.
    pub(super) fn clone_volume(
        &mut self,
        host: &str,
        source: &str,
        clone: &str,
        lines: Vec<String>,
    ) -> Result<CloneReport, Refusal> {
        let Some(src) = self.volumes.get(source).cloned() else {
            return Err(Refusal::NoVolumeToClone(source.to_string()));
        };
        if self.volumes.contains_key(clone) {
            return Err(Refusal::CloneExists(clone.to_string()));
        }
        let gluster_id = uuid::Uuid::new_v4().simple().to_string();
        let mut bricks = Vec::new();
        for (i, b) in src.bricks.iter().enumerate() {
            let (shost, path) = b.split_once(':').unwrap_or(("", b));
            // As glusterd does: a thin snapshot of the LV mounted under the
            // source brick (a clone's own brick for a clone of a clone),
            // in the same thin pool, mounted under /run/gluster/snaps.
            let source_mount = path.strip_suffix("/brick").unwrap_or(path);
            let lv_name = format!("{gluster_id}_{i}");
            let mount = format!("/run/gluster/snaps/{gluster_id}/brick{}", i + 1);
            let origin = self.hosts.values_mut().find_map(|node| {
                let device = node.mounts.get(source_mount)?;
                let (vg, lv) = mapper_name(device)?;
                let pool = node.lvs.get(&format!("{vg}/{lv}"))?.pool.clone()?;
                Some((node, vg, pool))
            });
            let Some((node, vg, pool)) = origin else {
                return Err(Refusal::BrickNotThin {
                    brick: b.clone(),
                    volume: source.to_string(),
                });
            };
            node.lvs.insert(
                format!("{vg}/{lv_name}"),
                MockLv {
                    pool: Some(pool),
                    extents: 0,
                    size_kib: 0,
                },
            );
            node.mounts.insert(mount.clone(), format!("/dev/mapper/{vg}-{lv_name}"));
            bricks.push(format!("{shost}:{mount}/brick"));
        }
        self.host(host).commands.extend(lines);
        self.volumes.insert(
            clone.to_string(),
            MockVolume {
                id: gluster_id.clone(),
                layout: src.layout,
                bricks: bricks.clone(),
                options: src.options,
                started: true,
            },
        );
        Ok(CloneReport { gluster_id, bricks })
    }

    /// The node's LVs, mounts and fstab lines, as `Executor::node_inventory` reports them.
    pub(super) fn inventory(&self, host: &str) -> NodeInventory {
        let Some(node) = self.hosts.get(host) else {
            return NodeInventory::default();
        };
        let lvs = node
            .lvs
            .iter()
            .filter_map(|(key, lv)| {
                let (vg, name) = key.split_once('/')?;
                Some(LvEntry {
                    vg: vg.to_string(),
                    lv: name.to_string(),
                    pool: lv.pool.clone(),
                    origin: None,
                })
            })
            .collect();
        let mounts = node
            .mounts
            .iter()
            .map(|(target, source)| MountEntry {
                source: source.clone(),
                target: target.clone(),
            })
            .collect();
        NodeInventory {
            lvs,
            mounts,
            fstab: node.fstab.clone(),
        }
    }
}

impl MockVolume {
    fn info(&self) -> GlusterVolumeInfo {
        GlusterVolumeInfo {
            id: self.id.replace('-', ""),
            bricks: self.bricks.clone(),
        }
    }
}

impl MockHost {
    /// pvcreate + vgcreate (after a wipe when `destroy`); a device that
    /// still carries a PV is refused.
    pub(super) fn setup_device(
        &mut self,
        path: &str,
        device_id: &str,
        destroy: bool,
        size_kib: u64,
    ) -> Result<(MockVg, String), PvInUse> {
        let vg_name = format!("vg_{device_id}");
        if destroy {
            if let Some(pv) = self.pvs.remove(path) {
                if let Some(vg) = pv.vg {
                    self.vgs.remove(&vg);
                }
            }
        }
        if let Some(pv) = self.pvs.get(path) {
            return Err(PvInUse {
                path: path.to_string(),
                vg: pv.vg.clone().unwrap_or_default(),
                pv_uuid: pv.uuid.clone(),
            });
        }
        let uuid = pv_uuid_for(device_id);
        let vg = MockVg {
            pv: path.to_string(),
            extent_size: EXTENT_KIB,
            extents: size_kib / EXTENT_KIB,
            allocated_extents: 0,
        };
        self.pvs.insert(
            path.to_string(),
            MockPv {
                uuid: uuid.clone(),
                vg: Some(vg_name.clone()),
            },
        );
        self.vgs.insert(vg_name, vg.clone());
        Ok((vg, uuid))
    }

    /// Thin pool, thin LV, mount and fstab line of a brick. A create
    /// interrupted after lvcreate is finished (mount and fstab line) without
    /// running anything again.
    pub(super) fn create_brick(
        &mut self,
        brick: &BrickSpec,
        fstab_line: &str,
        lines: Vec<String>,
    ) -> Result<(), Refusal> {
        let lv_key = format!("{}/{}", brick.vg(), brick.lv);
        if self.lvs.contains_key(&lv_key) {
            let device = format!("/dev/mapper/{}-brick_{}", brick.vg(), brick.brick_id);
            self.mounts.entry(brick.mount_point()).or_insert(device);
            if !self.fstab.iter().any(|l| l == fstab_line) {
                self.fstab.push(fstab_line.to_string());
            }
            return Ok(());
        }
        self.commands.extend(lines);
        let vg_name = brick.vg();
        let Some(vg) = self.vgs.get_mut(&vg_name) else {
            return Err(Refusal::NoVg(vg_name));
        };
        let needed = (brick.tp_kib + brick.meta_kib).div_ceil(vg.extent_size);
        let free = vg.extents - vg.allocated_extents;
        if needed > free {
            return Err(Refusal::NoSpace { needed, free });
        }
        vg.allocated_extents += needed;
        self.lvs.insert(
            format!("{}/{}", vg_name, brick.thin_pool),
            MockLv {
                pool: None,
                extents: needed,
                size_kib: brick.tp_kib,
            },
        );
        self.lvs.insert(
            lv_key,
            MockLv {
                pool: Some(brick.thin_pool.clone()),
                extents: 0,
                size_kib: brick.size_kib,
            },
        );
        self.mounts.insert(
            brick.mount_point(),
            format!("/dev/mapper/{}-brick_{}", vg_name, brick.brick_id),
        );
        self.fstab.push(fstab_line.to_string());
        Ok(())
    }

    /// Unmounts and removes a brick, and its pool when no other LV uses
    /// it; says whether the pool's space went back to the volume group.
    pub(super) fn destroy_brick(&mut self, brick: &BrickSpec) -> bool {
        self.mounts.remove(&brick.mount_point());
        let marker = format!("brick_{}", brick.brick_id);
        self.fstab.retain(|l| !l.contains(&marker));
        let vg_name = brick.vg();
        self.lvs.remove(&format!("{}/{}", vg_name, brick.lv));
        let pool_key = format!("{}/{}", vg_name, brick.thin_pool);
        let users = self
            .lvs
            .iter()
            .filter(|(k, lv)| {
                k.starts_with(&format!("{vg_name}/")) && lv.pool.as_deref() == Some(brick.thin_pool.as_str())
            })
            .count();
        if users > 0 {
            return false;
        }
        if let Some(pool) = self.lvs.remove(&pool_key) {
            if let Some(vg) = self.vgs.get_mut(&vg_name) {
                vg.allocated_extents = vg.allocated_extents.saturating_sub(pool.extents);
            }
        }
        true
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
}
