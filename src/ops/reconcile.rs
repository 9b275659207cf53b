//! The reconciler's report (`GET /internal/state/reconcile`): the nodes
//! check's findings (`check_nodes`) and each device's volume group against
//! the size the store holds, each with what `--apply` would do about it or
//! why it leaves it to a person. Two kinds are safe and unambiguous to
//! mend: an orphan thin pool no thin LV uses (what a rolled-back brick
//! leaves once its LV is gone) and a mounted brick's missing fstab line.
//! Anything that may hold data is left. The report changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt};

use crate::executor::commands::LvmReportKind;
use crate::executor::examine::{LvRow, LvmRows, VgRow};
use crate::executor::{brick_path, ExecError};
use crate::ids::is_route_id;
use crate::store::records::{DeviceRecord, NodeRecord};
use crate::store::TreeName;
use crate::wire::drift::{DriftKind, Finding, LeftBecause, ReconcileReport, Remedy, Unreachable};

use super::check_nodes::{check_nodes, Drift, NodesReport};
use super::{Engine, OpError};

/// How many nodes are read at once.
const NODES_AT_ONCE: usize = 8;

/// One node's LVM, as `vgs` and `lvs` report it.
struct Lvm {
    vgs: Vec<VgRow>,
    lvs: Vec<LvRow>,
}

/// Whether a mending run may remove what may hold data (`--force`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Force {
    /// Only the safe and unambiguous mends.
    No,
    /// Also an orphan thin LV named as Brickyard names bricks.
    OrphanBricks,
}

/// The nodes check, each device's volume group, and a remedy for each: what
/// a mending run with `force` would do.
pub async fn reconcile_report(engine: &Engine, force: Force) -> Result<ReconcileReport, OpError> {
    let mut nodes = check_nodes(engine).await?;
    let read: Vec<(String, Result<Lvm, ExecError>)> = stream::iter(nodes.checked.clone())
        .map(|host| async move {
            let lvm = read_lvm(engine, &host).await;
            (host, lvm)
        })
        .buffered(NODES_AT_ONCE)
        .collect()
        .await;
    let mut unreachable = std::mem::take(&mut nodes.unreachable);
    let mut lvm = BTreeMap::new();
    for (host, result) in read {
        match result {
            Ok(l) => {
                lvm.insert(host, l);
            }
            Err(e) => unreachable.push(Unreachable {
                node: host,
                error: e.to_string(),
            }),
        }
    }
    // A brick's mount point the node lacks: its fstab line is not mended.
    let unmounted: BTreeSet<(&str, &str)> = nodes
        .findings
        .iter()
        .filter(|d| d.kind == DriftKind::MissingMount)
        .map(|d| (d.node.as_str(), d.object.as_str()))
        .collect();
    let mut findings: Vec<Finding> = nodes
        .findings
        .iter()
        .map(|d| {
            let remedy = match remedy(d, &unmounted, lvm.get(&d.node)) {
                Remedy::Leave {
                    reason: LeftBecause::MayHoldData,
                } if force == Force::OrphanBricks && d.kind == DriftKind::OrphanLv => {
                    orphan_brick(d, lvm.get(&d.node), &nodes)
                }
                other => other,
            };
            Finding {
                kind: d.kind,
                node: d.node.clone(),
                object: d.object.clone(),
                evidence: d.evidence.clone(),
                remedy,
            }
        })
        .collect();
    findings.extend(volume_groups(engine, &lvm)?);
    findings.sort_by(|a, b| (a.kind, &a.node, &a.object).cmp(&(b.kind, &b.node, &b.object)));
    Ok(ReconcileReport {
        checked: nodes.checked,
        store_changed: nodes.store_changed,
        unreachable,
        findings,
    })
}

/// `vgs` and `lvs` of one node, through its node gate.
async fn read_lvm(engine: &Engine, host: &str) -> Result<Lvm, ExecError> {
    let _slot = engine.hosts.enter(host).await;
    let vgs = match engine.executor.examine_lvm(host, LvmReportKind::Vgs).await? {
        LvmRows::Vgs(report) => report.report.into_iter().flat_map(|s| s.vg).collect(),
        _ => return Err(wrong_rows(host)),
    };
    let lvs = match engine.executor.examine_lvm(host, LvmReportKind::Lvs).await? {
        LvmRows::Lvs(report) => report.report.into_iter().flat_map(|s| s.lv).collect(),
        _ => return Err(wrong_rows(host)),
    };
    Ok(Lvm { vgs, lvs })
}

fn wrong_rows(host: &str) -> ExecError {
    ExecError::new(host, "examine_lvm", "rows of another report than the one asked for")
}

fn leave(reason: LeftBecause) -> Remedy {
    Remedy::Leave { reason }
}

/// What `--apply` does with one of the nodes check's findings.
fn remedy(drift: &Drift, unmounted: &BTreeSet<(&str, &str)>, lvm: Option<&Lvm>) -> Remedy {
    match drift.kind {
        DriftKind::OrphanLv => match lvm {
            Some(lvm) => orphan_lv(&drift.object, &lvm.lvs),
            None => leave(LeftBecause::NotRead),
        },
        DriftKind::MissingFstabLine if unmounted.contains(&(drift.node.as_str(), drift.object.as_str())) => {
            leave(LeftBecause::NotMounted)
        }
        DriftKind::MissingFstabLine => Remedy::AppendFstabLine,
        DriftKind::MissingLv | DriftKind::MissingThinPool => leave(LeftBecause::BrickLost),
        DriftKind::MissingMount => leave(LeftBecause::NotMounted),
        DriftKind::OrphanMount | DriftKind::UnknownGlusterVolume => leave(LeftBecause::MayHoldData),
        DriftKind::OrphanFstabLine => leave(LeftBecause::MayBeWanted),
        DriftKind::MissingGlusterVolume => leave(LeftBecause::VolumeLost),
        DriftKind::GlusterBricksDiffer => leave(LeftBecause::BricksDiffer),
        DriftKind::MissingVg => leave(LeftBecause::DeviceLost),
        DriftKind::VgSizeDiffers => leave(LeftBecause::SizeDiffers),
        // Recreating the directory would not bring its data back, and
        // gluster refuses a brick root without its volume id for a reason.
        DriftKind::MissingBrickDir => leave(LeftBecause::BrickDirLost),
        // A node may have been detached on purpose, or joined another pool.
        DriftKind::MissingPeer => leave(LeftBecause::NotInPool),
    }
}

/// A name Brickyard gives: `<prefix><hex id>`.
pub(super) fn named_ours(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(is_route_id)
}

/// With `--force`, an orphan thin LV that may hold data: removed only when
/// it is unambiguously a brick Brickyard made and lost track of (a thin LV
/// `brick_<hex>` in a pool `tp_<hex>`, in a `vg_<device>` of the store),
/// mounted nowhere but at its brick mount point, and no gluster volume has
/// a brick on it.
fn orphan_brick(drift: &Drift, lvm: Option<&Lvm>, nodes: &NodesReport) -> Remedy {
    let Some(lvm) = lvm else {
        return leave(LeftBecause::NotRead);
    };
    let Some((vg, name)) = drift.object.split_once('/') else {
        return leave(LeftBecause::NotBrickyards);
    };
    let Some(row) = lvm.lvs.iter().find(|r| r.vg_name == vg && r.lv_name == name) else {
        return leave(LeftBecause::Gone);
    };
    // lv_attr's first letter is the LV's type: `V` a thin LV.
    let thin = row.lv_attr.starts_with('V');
    let (Some(id), Some(device)) = (name.strip_prefix("brick_"), vg.strip_prefix("vg_")) else {
        return leave(LeftBecause::NotBrickyards);
    };
    if !thin || !is_route_id(id) || !is_route_id(device) || !named_ours(&row.pool_lv, "tp_") {
        return leave(LeftBecause::NotBrickyards);
    }
    let mount = brick_mount(device, id);
    let source = format!("/dev/mapper/{vg}-{name}");
    let mounted_at: Vec<&str> = nodes
        .inventories
        .get(&drift.node)
        .map(|i| i.mounts.iter())
        .into_iter()
        .flatten()
        .filter(|m| m.source == source)
        .map(|m| m.target.as_str())
        .collect();
    if mounted_at.iter().any(|t| *t != mount) {
        return leave(LeftBecause::MountedElsewhere);
    }
    // Any host: a brick path names its node only by the storage host.
    let inside = format!("{mount}/");
    let used = nodes
        .gluster_bricks
        .iter()
        .filter_map(|b| b.split_once(':').map(|(_, path)| path))
        .any(|path| path == mount || path.starts_with(&inside));
    if used {
        return leave(LeftBecause::InGluster);
    }
    Remedy::RemoveOrphanBrick {
        pool: row.pool_lv.clone(),
    }
}

/// Where Brickyard mounts the brick `id` of `device`.
fn brick_mount(device: &str, id: &str) -> String {
    let path = brick_path(device, id);
    path.strip_suffix("/brick").unwrap_or(&path).to_string()
}

/// An orphan `vg/lv`: only a thin pool named as Brickyard names them
/// (`tp_<brick id>`) that no thin LV uses is removed; a thin LV, or any
/// other LV, may hold data.
fn orphan_lv(object: &str, lvs: &[LvRow]) -> Remedy {
    let Some((vg, name)) = object.split_once('/') else {
        return leave(LeftBecause::NotBrickyards);
    };
    let Some(row) = lvs.iter().find(|r| r.vg_name == vg && r.lv_name == name) else {
        return leave(LeftBecause::Gone);
    };
    // lv_attr's first letter is the LV's type: `t` a thin pool.
    if !row.lv_attr.starts_with('t') {
        return leave(LeftBecause::MayHoldData);
    }
    if !named_ours(name, "tp_") {
        return leave(LeftBecause::NotBrickyards);
    }
    if lvs.iter().any(|r| r.vg_name == vg && r.pool_lv == name) {
        return leave(LeftBecause::PoolInUse);
    }
    Remedy::RemoveThinPool
}

/// Each device of a node read against its volume group: there, and the
/// size the store holds (LVM's total, as device add and resync take it).
fn volume_groups(engine: &Engine, lvm: &BTreeMap<String, Lvm>) -> Result<Vec<Finding>, OpError> {
    let mut findings = Vec::new();
    for node in engine.store.scan::<NodeRecord>()? {
        let host = node.manage_host();
        let Some(lvm) = lvm.get(host) else { continue };
        for id in engine.store.children(TreeName::NodeDevices, &node.id)? {
            let Some(device) = engine.store.get::<DeviceRecord>(&id)? else {
                continue;
            };
            let vg = format!("vg_{}", device.id);
            let stored = device.space.total;
            let what = format!("device {} ({})", device.id, device.name);
            let (kind, evidence) = match lvm.vgs.iter().find(|r| r.vg_name == vg) {
                None => (
                    DriftKind::MissingVg,
                    format!("{what} in the store; LVM lists no such group"),
                ),
                Some(row) => match row.size_kib() {
                    Some(kib) if kib == stored => continue,
                    Some(kib) => (
                        DriftKind::VgSizeDiffers,
                        format!("{what}: LVM {kib} KiB, the store {stored} KiB"),
                    ),
                    None => (
                        DriftKind::VgSizeDiffers,
                        format!(
                            "{what}: LVM's size {:?} unreadable, the store {stored} KiB",
                            row.vg_size
                        ),
                    ),
                },
            };
            let reason = match kind {
                DriftKind::MissingVg => LeftBecause::DeviceLost,
                _ => LeftBecause::SizeDiffers,
            };
            findings.push(Finding {
                kind,
                node: host.to_string(),
                object: vg,
                evidence,
                remedy: leave(reason),
            });
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(vg: &str, lv: &str, attr: &str, pool: &str) -> LvRow {
        LvRow {
            vg_name: vg.into(),
            lv_name: lv.into(),
            lv_attr: attr.into(),
            pool_lv: pool.into(),
            ..LvRow::default()
        }
    }

    #[test]
    fn only_an_unused_brickyard_thin_pool_is_removed() {
        let lvs = [
            row("vg_d", "tp_ab12", "twi-aotz--", ""),
            row("vg_d", "tp_cd34", "twi-aotz--", ""),
            row("vg_d", "brick_cd34", "Vwi-aotz--", "tp_cd34"),
            row("vg_d", "tp_other", "twi-aotz--", ""),
            row("vg_d", "tp_ef56", "-wi-a-----", ""),
        ];
        assert_eq!(orphan_lv("vg_d/tp_ab12", &lvs), Remedy::RemoveThinPool);
        assert_eq!(orphan_lv("vg_d/tp_cd34", &lvs), leave(LeftBecause::PoolInUse));
        assert_eq!(orphan_lv("vg_d/brick_cd34", &lvs), leave(LeftBecause::MayHoldData));
        assert_eq!(orphan_lv("vg_d/tp_other", &lvs), leave(LeftBecause::NotBrickyards));
        // A plain LV named like a pool holds data.
        assert_eq!(orphan_lv("vg_d/tp_ef56", &lvs), leave(LeftBecause::MayHoldData));
        // The same pool name in another group says nothing of this one.
        assert_eq!(orphan_lv("vg_e/tp_ab12", &lvs), leave(LeftBecause::Gone));
    }

    #[test]
    fn force_removes_only_an_unused_brickyard_brick() {
        let id = "ab12";
        let lvs = Lvm {
            vgs: Vec::new(),
            lvs: vec![
                row("vg_d", "tp_ab12", "twi-aotz--", ""),
                row("vg_d", "brick_ab12", "Vwi-aotz--", "tp_ab12"),
                row("vg_d", "brick_cd34", "Vwi-aotz--", "tp_cd34"),
                row("vg_d", "brick_ef56", "Vwi-aotz--", "tp_ef56"),
                row("vg_d", "data", "Vwi-aotz--", "tp_ab12"),
                row("vg_d", "brick_0a", "Vwi-aotz--", "pool"),
                row("vg_d", "brick_0b", "-wi-a-----", ""),
            ],
        };
        let mount = |lv: &str| format!("/var/lib/heketi/mounts/vg_d/{lv}");
        let mut nodes = NodesReport::default();
        let mounts = vec![
            crate::executor::MountEntry {
                source: format!("/dev/mapper/vg_d-brick_{id}"),
                target: mount("brick_ab12"),
            },
            crate::executor::MountEntry {
                source: "/dev/mapper/vg_d-brick_cd34".into(),
                target: "/mnt/elsewhere".into(),
            },
        ];
        let inventory = crate::executor::NodeInventory {
            mounts,
            ..Default::default()
        };
        nodes.inventories.insert("n1".into(), inventory);
        nodes
            .gluster_bricks
            .insert(format!("10.0.0.1:{}/brick", mount("brick_ef56")));
        let drift = |object: &str| Drift {
            kind: DriftKind::OrphanLv,
            node: "n1".into(),
            object: object.into(),
            evidence: String::new(),
        };
        let judge = |object: &str| orphan_brick(&drift(object), Some(&lvs), &nodes);
        assert_eq!(
            judge("vg_d/brick_ab12"),
            Remedy::RemoveOrphanBrick { pool: "tp_ab12".into() }
        );
        assert_eq!(judge("vg_d/brick_cd34"), leave(LeftBecause::MountedElsewhere));
        assert_eq!(judge("vg_d/brick_ef56"), leave(LeftBecause::InGluster));
        assert_eq!(judge("vg_d/data"), leave(LeftBecause::NotBrickyards));
        assert_eq!(judge("vg_d/brick_0a"), leave(LeftBecause::NotBrickyards));
        assert_eq!(judge("vg_d/brick_0b"), leave(LeftBecause::NotBrickyards));
        assert_eq!(judge("vg_d/brick_99"), leave(LeftBecause::Gone));
        assert_eq!(
            orphan_brick(&drift("vg_d/brick_ab12"), None, &nodes),
            leave(LeftBecause::NotRead)
        );
    }

    #[test]
    fn a_missing_fstab_line_is_mended_only_for_a_mounted_brick() {
        let drift = |kind, object: &str| Drift {
            kind,
            node: "n1".into(),
            object: object.into(),
            evidence: "brick b".into(),
        };
        let unmounted = BTreeSet::from([("n1", "/m/unmounted")]);
        assert_eq!(
            remedy(&drift(DriftKind::MissingFstabLine, "/m/mounted"), &unmounted, None),
            Remedy::AppendFstabLine
        );
        assert_eq!(
            remedy(&drift(DriftKind::MissingFstabLine, "/m/unmounted"), &unmounted, None),
            leave(LeftBecause::NotMounted)
        );
        // Without the node's LVM report an orphan LV is not judged.
        assert_eq!(
            remedy(&drift(DriftKind::OrphanLv, "vg_d/tp_ab12"), &unmounted, None),
            leave(LeftBecause::NotRead)
        );
    }
}
