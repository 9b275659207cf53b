//! What each executor call does to the simulated nodes, as changes
//! (`change.rs`) to their state: devices, bricks, gluster volumes, clones,
//! gluster-block's block volumes.
//! A call that fails part way keeps what it did before it failed, as a
//! node would.

use super::change::Edit;
use super::packed::Packed;
use super::state::{
    block_key, mapper_name, pv_uuid_for, MockBlock, MockLv, MockPv, MockVg, MockVolume, PvInUse, Refusal, EXTENT_KIB,
};
use crate::executor::{
    block_iqn, BlockAuth, BlockVolumeCreated, BlockVolumeSpec, BrickSpec, CloneReport, GlusterVolumeSpec,
};

impl Edit<'_> {
    /// pvcreate + vgcreate (after a wipe when `destroy`); a device that
    /// still carries a PV is refused.
    pub(super) fn setup_device(
        &mut self,
        host: &str,
        path: &str,
        device_id: &str,
        destroy: bool,
        size_kib: u64,
    ) -> Result<(MockVg, String), PvInUse> {
        let vg_name = format!("vg_{device_id}");
        let existing = self.host(host).pvs.get(path).cloned();
        if let Some(pv) = existing {
            if !destroy {
                return Err(PvInUse {
                    path: path.to_string(),
                    vg: pv.vg.unwrap_or_default(),
                    pv_uuid: pv.uuid,
                });
            }
            self.pv(host, path, None);
            if let Some(vg) = pv.vg {
                self.vg(host, &vg, None);
            }
        }
        let uuid = pv_uuid_for(device_id);
        let vg = MockVg {
            pv: path.to_string(),
            extent_size: EXTENT_KIB,
            extents: size_kib / EXTENT_KIB,
            allocated_extents: 0,
        };
        self.pv(
            host,
            path,
            Some(MockPv {
                uuid: uuid.clone(),
                vg: Some(vg_name.clone()),
            }),
        );
        self.vg(host, &vg_name, Some(vg.clone()));
        Ok((vg, uuid))
    }

    /// Removes an empty volume group and its PV; a node or group already
    /// gone counts as removed.
    pub(super) fn teardown_device(&mut self, host: &str, vg_name: &str) -> Result<(), Refusal> {
        let Some(vg) = self.nodes().hosts.get(host).and_then(|n| n.vgs.get(vg_name)) else {
            return Ok(());
        };
        if vg.allocated_extents > 0 {
            return Err(Refusal::VgInUse(vg_name.to_string()));
        }
        let pv = vg.pv.clone();
        self.vg(host, vg_name, None);
        self.pv(host, &pv, None);
        Ok(())
    }

    /// Removes a volume group and its PV, whatever they hold.
    pub(super) fn forget_device(&mut self, host: &str, vg_name: &str) {
        let Some(pv) = self
            .nodes()
            .hosts
            .get(host)
            .and_then(|n| n.vgs.get(vg_name))
            .map(|vg| vg.pv.clone())
        else {
            return;
        };
        self.vg(host, vg_name, None);
        self.pv(host, &pv, None);
    }

    /// Thin pool, thin LV, mount and fstab line of a brick. A create
    /// interrupted after lvcreate is finished (mount and fstab line) without
    /// running anything again.
    pub(super) fn create_brick(
        &mut self,
        host: &str,
        brick: &BrickSpec,
        fstab_line: &str,
        lines: Vec<String>,
    ) -> Result<(), Refusal> {
        let vg_name = brick.vg();
        let lv_key = format!("{vg_name}/{}", brick.lv);
        let device = format!("/dev/mapper/{vg_name}-brick_{}", brick.brick_id);
        let node = self.host(host);
        if node.lvs.contains_key(&lv_key) {
            let mounted = node.mounts.contains_key(&brick.mount_point());
            let listed = node.fstab.contains(fstab_line);
            if !mounted {
                self.mount(host, &brick.mount_point(), Some(device));
            }
            if !listed {
                self.fstab(host, fstab_line, true);
            }
            return Ok(());
        }
        self.ran(host, lines);
        let Some(vg) = self.host(host).vgs.get(&vg_name) else {
            return Err(Refusal::NoVg(vg_name));
        };
        let needed = (brick.tp_kib + brick.meta_kib).div_ceil(vg.extent_size);
        let free = vg.extents - vg.allocated_extents;
        if needed > free {
            return Err(Refusal::NoSpace { needed, free });
        }
        let vg = MockVg {
            allocated_extents: vg.allocated_extents + needed,
            ..vg.clone()
        };
        self.vg(host, &vg_name, Some(vg));
        let pool = MockLv {
            pool: None,
            extents: needed,
            size_kib: brick.tp_kib,
        };
        self.lv(host, &format!("{vg_name}/{}", brick.thin_pool), Some(pool));
        let thin = MockLv {
            pool: Some(Packed::new(&brick.thin_pool)),
            extents: 0,
            size_kib: brick.size_kib,
        };
        self.lv(host, &lv_key, Some(thin));
        self.mount(host, &brick.mount_point(), Some(device));
        self.fstab(host, fstab_line, true);
        Ok(())
    }

    /// Unmounts and removes a brick, and its pool when no other LV uses
    /// it; says whether the pool's space went back to the volume group.
    /// A brick's fstab line, appended unless a line mounts there already.
    pub(super) fn append_fstab_line(&mut self, host: &str, mount: &str, line: &str, lines: Vec<String>) {
        let listed = self.host(host).fstab.mounts_at(mount);
        if !listed {
            self.fstab(host, line, true);
        }
        self.ran(host, lines);
    }

    pub(super) fn destroy_brick(&mut self, host: &str, brick: &BrickSpec, lines: Vec<String>) -> bool {
        self.ran(host, lines);
        let vg_name = brick.vg();
        let lv_key = format!("{vg_name}/{}", brick.lv);
        let pool_key = format!("{vg_name}/{}", brick.thin_pool);
        let marker = format!("brick_{}", brick.brick_id);
        let node = self.host(host);
        let mounted = node.mounts.contains_key(&brick.mount_point());
        let mut listed = node.fstab.containing(&marker);
        listed.dedup();
        let has_lv = node.lvs.contains_key(&lv_key);
        if mounted {
            self.mount(host, &brick.mount_point(), None);
        }
        for line in listed {
            self.fstab(host, &line, false);
        }
        if has_lv {
            self.lv(host, &lv_key, None);
        }
        let node = self.host(host);
        if node.lvs.pool_in_use(&vg_name, &brick.thin_pool) {
            return false;
        }
        let Some(pool) = node.lvs.get(&pool_key) else {
            return true;
        };
        let vg = node.vgs.get(&vg_name).map(|vg| MockVg {
            allocated_extents: vg.allocated_extents.saturating_sub(pool.extents),
            ..vg.clone()
        });
        self.lv(host, &pool_key, None);
        if let Some(vg) = vg {
            self.vg(host, &vg_name, Some(vg));
        }
        true
    }

    /// Creates and starts a gluster volume; one with the same bricks counts
    /// as created (and runs nothing).
    pub(super) fn create_volume(
        &mut self,
        host: &str,
        volume: &GlusterVolumeSpec,
        lines: Vec<String>,
    ) -> Result<(), Refusal> {
        if let Some(existing) = self.nodes().volumes.get(&volume.name) {
            let same = existing.bricks.len() == volume.bricks.len()
                && existing
                    .bricks
                    .iter()
                    .zip(&volume.bricks)
                    .all(|(have, want)| have.is(want));
            return if same {
                Ok(())
            } else {
                Err(Refusal::VolumeExists(volume.name.clone()))
            };
        }
        self.ran(host, lines);
        let made = MockVolume {
            id: Packed::new(&uuid::Uuid::new_v4().to_string()),
            layout: volume.layout,
            bricks: volume.bricks.iter().map(|b| Packed::new(b)).collect(),
            options: volume.options.iter().filter(|o| !o.is_empty()).cloned().collect(),
            started: true,
        };
        self.volume(&volume.name, Some(made));
        Ok(())
    }

    /// Adds the bricks the volume does not have yet.
    pub(super) fn expand_volume(
        &mut self,
        host: &str,
        volume: &GlusterVolumeSpec,
        lines: Vec<String>,
    ) -> Result<(), Refusal> {
        let Some(existing) = self.nodes().volumes.get(&volume.name) else {
            return Err(Refusal::NoVolumeToExpand(volume.name.clone()));
        };
        let mut grown = existing.clone();
        let new: Vec<Packed> = volume
            .bricks
            .iter()
            .map(|b| Packed::new(b))
            .filter(|b| !existing.bricks.contains(b))
            .collect();
        grown.bricks.extend(new);
        self.volume(&volume.name, Some(grown));
        self.ran(host, lines);
        Ok(())
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
        let Some(v) = self.nodes().volumes.get(volume) else {
            return Err(Refusal::NoVolumeToReplaceIn(volume.to_string()));
        };
        let mut replaced = v.clone();
        let Some(slot) = replaced.bricks.iter_mut().find(|b| b.is(old)) else {
            return Err(Refusal::NoBrickToReplace {
                volume: volume.to_string(),
                old: old.to_string(),
            });
        };
        *slot = Packed::new(new);
        self.volume(volume, Some(replaced));
        self.ran(host, vec![line]);
        Ok(())
    }

    /// Removes a gluster volume (its bricks stay, as gluster leaves them)
    /// and the block volumes whose files it held.
    pub(super) fn destroy_volume(&mut self, host: &str, name: &str, lines: Vec<String>) {
        self.ran(host, lines);
        if self.nodes().volumes.contains_key(name) {
            self.volume(name, None);
        }
        let prefix = block_key(name, "");
        let held: Vec<String> = self
            .nodes()
            .blocks
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for key in held {
            self.block(&key, None);
        }
    }

    /// `gluster-block create`: a block volume on a hosting volume gluster has.
    pub(super) fn create_block(
        &mut self,
        host: &str,
        spec: &BlockVolumeSpec,
        prealloc: &str,
        line: String,
    ) -> Result<BlockVolumeCreated, Refusal> {
        self.ran(host, vec![line]);
        if !self.nodes().volumes.contains_key(&spec.hosting_volume) {
            return Err(Refusal::NoHostingVolume(spec.hosting_volume.clone()));
        }
        let key = block_key(&spec.hosting_volume, &spec.name);
        if self.nodes().blocks.contains_key(&key) {
            return Err(Refusal::BlockExists(spec.name.clone()));
        }
        let gbid = uuid::Uuid::new_v4().to_string();
        let password = (spec.auth == BlockAuth::Enable).then(|| uuid::Uuid::new_v4().to_string());
        let made = MockBlock {
            gbid: gbid.clone(),
            size_gib: spec.size_gib,
            hosts: spec.hosts.clone(),
            password: password.clone(),
            prealloc: prealloc.to_string(),
        };
        self.block(&key, Some(made));
        Ok(BlockVolumeCreated {
            iqn: block_iqn(&gbid),
            username: if password.is_some() { gbid } else { String::new() },
            password: password.unwrap_or_default(),
            portals: spec.hosts.iter().map(|h| format!("{h}:3260")).collect(),
        })
    }

    /// `gluster-block delete`; a block volume that is not there is refused
    /// with gluster-block's words.
    pub(super) fn delete_block(&mut self, host: &str, volume: &str, name: &str, line: String) -> Result<(), Refusal> {
        self.ran(host, vec![line]);
        let key = block_key(volume, name);
        if !self.nodes().blocks.contains_key(&key) {
            return Err(Refusal::NoBlock {
                volume: volume.to_string(),
                name: name.to_string(),
            });
        }
        self.block(&key, None);
        Ok(())
    }

    /// `gluster-block modify … size`: grows the block volume's file.
    pub(super) fn resize_block(
        &mut self,
        host: &str,
        volume: &str,
        name: &str,
        size_gib: u64,
        line: String,
    ) -> Result<(), Refusal> {
        self.ran(host, vec![line]);
        let key = block_key(volume, name);
        let Some(block) = self.nodes().blocks.get(&key) else {
            return Err(Refusal::NoBlock {
                volume: volume.to_string(),
                name: name.to_string(),
            });
        };
        if size_gib < block.size_gib {
            return Err(Refusal::BlockShrink {
                new: size_gib,
                old: block.size_gib,
            });
        }
        let grown = MockBlock {
            size_gib,
            ..block.clone()
        };
        self.block(&key, Some(grown));
        Ok(())
    }

    /// A snapshot of `source` cloned as `clone`, in one step.
    pub(super) fn clone_volume(
        &mut self,
        host: &str,
        source: &str,
        clone: &str,
        lines: Vec<String>,
    ) -> Result<CloneReport, Refusal> {
        let Some(src) = self.nodes().volumes.get(source).cloned() else {
            return Err(Refusal::NoVolumeToClone(source.to_string()));
        };
        if self.nodes().volumes.contains_key(clone) {
            return Err(Refusal::CloneExists(clone.to_string()));
        }
        let gluster_id = uuid::Uuid::new_v4().simple().to_string();
        let mut bricks = Vec::new();
        for (i, b) in src.bricks.iter().map(Packed::unpack).enumerate() {
            let (shost, path) = b.split_once(':').unwrap_or(("", &b));
            // As glusterd does: a thin snapshot of the LV mounted under the
            // source brick (a clone's own brick for a clone of a clone),
            // in the same thin pool, mounted under /run/gluster/snaps.
            let source_mount = path.strip_suffix("/brick").unwrap_or(path);
            let lv_name = format!("{gluster_id}_{i}");
            let mount = format!("/run/gluster/snaps/{gluster_id}/brick{}", i + 1);
            let origin = self.nodes().hosts.iter().find_map(|(name, node)| {
                let device = node.mounts.get(source_mount)?;
                let (vg, lv) = mapper_name(&device)?;
                let pool = node.lvs.get(&format!("{vg}/{lv}"))?.pool?;
                Some((name.clone(), vg, pool))
            });
            let Some((node, vg, pool)) = origin else {
                return Err(Refusal::BrickNotThin {
                    brick: b.clone(),
                    volume: source.to_string(),
                });
            };
            let snapshot = MockLv {
                pool: Some(pool),
                extents: 0,
                size_kib: 0,
            };
            self.lv(&node, &format!("{vg}/{lv_name}"), Some(snapshot));
            self.mount(&node, &mount, Some(format!("/dev/mapper/{vg}-{lv_name}")));
            bricks.push(format!("{shost}:{mount}/brick"));
        }
        self.ran(host, lines);
        let made = MockVolume {
            id: Packed::new(&gluster_id),
            layout: src.layout,
            bricks: bricks.iter().map(|b| Packed::new(b)).collect(),
            options: src.options,
            started: true,
        };
        self.volume(clone, Some(made));
        Ok(CloneReport { gluster_id, bricks })
    }
}
