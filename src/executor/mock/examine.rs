//! What the simulated nodes report to the examiner, from their state:
//! the pool's volumes as `volume info --xml` reads, LVM's reports with
//! LVM's own strings (sizes in `k`, attribute flags), and the fstab lines
//! with whether their device is mounted.

use super::packed::Packed;
use super::state::{MockHost, MockNodes, MockVolume, EXTENT_KIB};
use crate::executor::commands::LvmReportKind;
use crate::executor::examine::{
    read_mount_status, Brick, Bricks, BricksMountStatus, LvRow, LvSection, LvmReport, LvmRows, PvRow, PvSection, VgRow,
    VgSection, VolInfo, Volume, VolumeOption, VolumeOptions, Volumes, XmlName,
};
use crate::executor::VolumeLayout;

/// A size as `--units k` prints it.
fn kib(size: u64) -> String {
    format!("{size}.00k")
}

impl MockVolume {
    /// Gluster's `<volume>`: counts, type numbers and names as GlusterFS 10
    /// prints them (checked on the testbed: `distCount` is the number of
    /// sets, a volume of several sets is `Distributed-…` with its type
    /// number plus 5), the arbiter the last brick of each set.
    fn detail(&self, name: &str) -> Volume {
        let count = self.bricks.len() as i64;
        let (set, replica, arbiter, disperse, redundancy, kind, kind_name) = match self.layout {
            VolumeLayout::Distribute => (1, 1, 0, 0, 0, 0, "Distribute"),
            VolumeLayout::Replicate { replica, arbiter } => {
                (replica as i64, replica as i64, i64::from(arbiter), 0, 0, 2, "Replicate")
            }
            VolumeLayout::Disperse { data, redundancy } => {
                let set = (data + redundancy) as i64;
                (set, 1, 0, set, redundancy as i64, 4, "Disperse")
            }
        };
        let sets = count / set.max(1);
        let distributed = kind != 0 && sets > 1;
        Volume {
            xml_name: XmlName::of("volume"),
            volume_name: name.to_string(),
            id: self.id.unpack(),
            status: if self.started { 1 } else { 0 },
            status_str: if self.started { "Started" } else { "Created" }.to_string(),
            brick_count: count,
            dist_count: sets,
            stripe_count: 1,
            replica_count: replica,
            arbiter_count: arbiter,
            disperse_count: disperse,
            redundancy_count: redundancy,
            kind: if distributed { kind + 5 } else { kind },
            kind_str: if distributed {
                format!("Distributed-{kind_name}")
            } else {
                kind_name.to_string()
            },
            transport: 0,
            bricks: Bricks {
                xml_name: XmlName::of("bricks"),
                brick_list: self
                    .bricks
                    .iter()
                    .enumerate()
                    .map(|(i, b)| Brick {
                        uuid: String::new(),
                        name: b.unpack(),
                        host_uuid: String::new(),
                        is_arbiter: i64::from(arbiter == 1 && (i as i64 + 1) % set == 0),
                    })
                    .collect(),
            },
            opt_count: self.options.iter().filter(|o| !o.trim().is_empty()).count() as i64,
            options: VolumeOptions {
                xml_name: XmlName::of("options"),
                option_list: self
                    .options
                    .iter()
                    .filter_map(|o| o.trim().split_once(' '))
                    .map(|(name, value)| VolumeOption {
                        name: name.to_string(),
                        value: value.trim().to_string(),
                    })
                    .collect(),
            },
        }
    }
}

impl MockNodes {
    /// The pool's volumes, as every node sees them.
    pub(super) fn examine_volumes(&self) -> VolInfo {
        VolInfo {
            xml_name: XmlName::of("volInfo"),
            volumes: Volumes {
                xml_name: XmlName::of("volumes"),
                count: self.volumes.len() as i64,
                volume_list: self
                    .volumes
                    .sorted()
                    .into_iter()
                    .map(|(name, v)| v.detail(&name))
                    .collect(),
            },
        }
    }

    /// LVM's report of `kind` on `host` (empty for a host never seen).
    pub(super) fn examine_lvm(&self, host: &str, kind: LvmReportKind) -> LvmRows {
        let empty = MockHost::default();
        let node = self.hosts.get(host).unwrap_or(&empty);
        match kind {
            LvmReportKind::Pvs => LvmRows::Pvs(LvmReport::from(PvSection { pv: pvs(node) })),
            LvmReportKind::Vgs => LvmRows::Vgs(LvmReport::from(VgSection { vg: vgs(node) })),
            LvmReportKind::Lvs => LvmRows::Lvs(LvmReport::from(LvSection { lv: lvs(node) })),
        }
    }

    /// The fstab lines of `host`, each mounted when its device is: read
    /// from what `mount` and the fstab would print, as on a real node.
    pub(super) fn examine_mounts(&self, host: &str) -> BricksMountStatus {
        let Some(node) = self.hosts.get(host) else {
            return BricksMountStatus::default();
        };
        let mount: String = node
            .mounts
            .sorted()
            .into_iter()
            .map(|(target, source)| format!("{source} on {target} type xfs (rw)\n"))
            .collect();
        read_mount_status(&mount, &node.fstab.lines().join("\n"))
    }
}

fn pvs(node: &MockHost) -> Vec<PvRow> {
    node.pvs
        .iter()
        .map(|(path, pv)| {
            let vg = pv.vg.as_ref().and_then(|name| node.vgs.get(name));
            PvRow {
                pv_name: path.clone(),
                vg_name: pv.vg.clone().unwrap_or_default(),
                pv_fmt: "lvm2".into(),
                pv_attr: if vg.is_some() { "a--" } else { "---" }.into(),
                pv_size: kib(vg.map_or(0, |v| v.extents * v.extent_size)),
                pv_free: kib(vg.map_or(0, |v| (v.extents - v.allocated_extents) * v.extent_size)),
            }
        })
        .collect()
}

fn vgs(node: &MockHost) -> Vec<VgRow> {
    node.vgs
        .iter()
        .map(|(name, vg)| VgRow {
            vg_name: name.clone(),
            pv_count: "1".into(),
            lv_count: node.lvs.count_in(name).to_string(),
            snap_count: "0".into(),
            vg_attr: "wz--n-".into(),
            vg_size: kib(vg.extents * vg.extent_size),
            vg_free: kib((vg.extents - vg.allocated_extents) * vg.extent_size),
        })
        .collect()
}

fn lvs(node: &MockHost) -> Vec<LvRow> {
    node.lvs
        .sorted()
        .into_iter()
        .filter_map(|(key, lv)| {
            let (vg, name) = key.split_once('/')?;
            let (attr, size) = match &lv.pool {
                Some(_) => ("Vwi-aotz--", lv.size_kib),
                None => ("twi-aotz--", lv.extents * EXTENT_KIB),
            };
            Some(LvRow {
                lv_name: name.to_string(),
                vg_name: vg.to_string(),
                lv_attr: attr.into(),
                lv_size: kib(size),
                pool_lv: lv.pool.as_ref().map(Packed::unpack).unwrap_or_default(),
                data_percent: "0.00".into(),
                metadata_percent: if lv.pool.is_none() { "0.00" } else { "" }.into(),
                ..LvRow::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(layout: VolumeLayout, bricks: usize) -> MockVolume {
        MockVolume {
            id: "6b1e".into(),
            layout,
            bricks: (0..bricks).map(|i| Packed::new(&format!("h{i}:/b"))).collect(),
            options: vec!["performance.readdir-ahead on".into(), String::new()],
            started: true,
        }
    }

    #[test]
    fn volumes_read_as_glusterfs_10_prints_them() {
        let two_sets = volume(
            VolumeLayout::Replicate {
                replica: 3,
                arbiter: true,
            },
            6,
        )
        .detail("v");
        assert_eq!(
            (two_sets.kind, two_sets.kind_str.as_str(), two_sets.dist_count),
            (7, "Distributed-Replicate", 2)
        );
        let arbiters: Vec<i64> = two_sets.bricks.brick_list.iter().map(|b| b.is_arbiter).collect();
        assert_eq!(arbiters, [0, 0, 1, 0, 0, 1]);
        assert_eq!((two_sets.opt_count, two_sets.options.option_list.len()), (1, 1));
        let one_set = volume(VolumeLayout::Disperse { data: 2, redundancy: 1 }, 3).detail("v");
        assert_eq!(
            (
                one_set.kind,
                one_set.kind_str.as_str(),
                one_set.dist_count,
                one_set.disperse_count
            ),
            (4, "Disperse", 1, 3)
        );
        let plain = volume(VolumeLayout::Distribute, 2).detail("v");
        assert_eq!(
            (plain.kind, plain.kind_str.as_str(), plain.dist_count),
            (0, "Distribute", 2)
        );
    }
}
