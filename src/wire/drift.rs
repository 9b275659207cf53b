//! The shapes of drift between the store and the nodes: the kinds the
//! nodes check (`GET /db/check?nodes=true`) finds, and the reconciler's
//! report (`GET /internal/state/reconcile`), which says for each finding
//! what `--apply` would do with it or why it leaves it to a person. Here
//! rather than in `ops` because the CLI reads the report too.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of disagreement a finding is.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    MissingLv,
    MissingThinPool,
    MissingMount,
    MissingFstabLine,
    OrphanLv,
    OrphanMount,
    OrphanFstabLine,
    MissingGlusterVolume,
    UnknownGlusterVolume,
    GlusterBricksDiffer,
    /// A device's volume group is not on its node (reconciler only).
    MissingVg,
    /// A device's volume group is not the size the store holds
    /// (reconciler only).
    VgSizeDiffers,
    /// A brick's file system is mounted but its directory (the brick
    /// path, `<mount>/brick`) is not in it.
    MissingBrickDir,
    /// A store node of a cluster that no other node of the cluster lists
    /// among its gluster peers.
    MissingPeer,
}

/// What the reconciler's `--apply` does with a finding.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "apply", rename_all = "kebab-case")]
pub enum Remedy {
    /// Removes an orphan thin pool that no thin LV uses.
    RemoveThinPool,
    /// Appends the brick's fstab line (the brick is mounted).
    AppendFstabLine,
    /// With `--force` only: removes an orphan thin LV named `brick_<hex>`
    /// (unmounted, its fstab line removed), and its pool once no thin LV
    /// uses it.
    RemoveOrphanBrick { pool: String },
    /// Leaves it to a person, for this reason.
    Leave { reason: LeftBecause },
}

/// Why a finding is left to a person.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LeftBecause {
    /// A thin LV, a mounted file system or a gluster volume may hold data.
    MayHoldData,
    /// Thin LVs still use the pool.
    PoolInUse,
    /// Not a thin pool (or, with `--force`, a thin brick LV in one) named
    /// as Brickyard names them.
    NotBrickyards,
    /// LVM no longer lists the LV (it went after the check).
    Gone,
    /// The node's LVM report could not be read, so the LV is not judged.
    NotRead,
    /// The brick's LV or pool is gone, and with it its data.
    BrickLost,
    /// The brick's file system is not mounted.
    NotMounted,
    /// An fstab line no brick explains may still be wanted.
    MayBeWanted,
    /// The store's volume is missing from gluster.
    VolumeLost,
    /// Gluster and the store list different bricks.
    BricksDiffer,
    /// The device's volume group is gone.
    DeviceLost,
    /// LVM's size and the store's differ.
    SizeDiffers,
    /// A gluster volume has a brick on the LV's file system.
    InGluster,
    /// The LV is mounted somewhere other than its brick mount point.
    MountedElsewhere,
    /// The brick's directory is gone from its mounted file system.
    BrickDirLost,
    /// The node is not in its cluster's trusted pool.
    NotInPool,
}

impl fmt::Display for LeftBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LeftBecause::MayHoldData => "it may hold data: never removed without --force",
            LeftBecause::PoolInUse => "thin LVs still use the pool",
            LeftBecause::NotBrickyards => "not a thin pool or thin brick LV named as Brickyard names them",
            LeftBecause::Gone => "LVM no longer lists it",
            LeftBecause::NotRead => "the node's LVM report could not be read",
            LeftBecause::BrickLost => "the brick's data is not where the store says: evict the brick or restore it",
            LeftBecause::NotMounted => "the brick is not mounted: mount it by hand, or evict the brick",
            LeftBecause::MayBeWanted => "no brick explains the line, but it may still be wanted",
            LeftBecause::VolumeLost => "gluster lacks the store's volume: its bricks may still hold its data",
            LeftBecause::BricksDiffer => "gluster and the store list different bricks: settle it in gluster",
            LeftBecause::DeviceLost => "the device's volume group is gone: delete or re-add the device",
            LeftBecause::SizeDiffers => "`device resync` takes LVM's size into the store",
            LeftBecause::InGluster => "a gluster volume has a brick on it",
            LeftBecause::MountedElsewhere => "it is mounted somewhere other than its brick mount point",
            LeftBecause::BrickDirLost => {
                "the brick's directory is gone from its file system, its data with it: evict the brick or restore it"
            }
            LeftBecause::NotInPool => {
                "the node is not in the trusted pool: probe it again (`gluster peer probe`) or remove the node"
            }
        })
    }
}

/// One drift and what the reconciler makes of it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: DriftKind,
    /// The node's manage host, or the cluster id for gluster findings.
    pub node: String,
    /// The object: `vg/lv`, a mount point, an fstab line, a volume name.
    pub object: String,
    /// What the store and the node say about it.
    pub evidence: String,
    #[serde(flatten)]
    pub remedy: Remedy,
}

/// A node whose state could not be read.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    pub node: String,
    pub error: String,
}

/// `GET /internal/state/reconcile`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Manage hosts of the nodes read.
    pub checked: Vec<String>,
    /// The store kept changing while the nodes were read: findings may be
    /// of operations starting or ending, not drift.
    #[serde(default)]
    pub store_changed: bool,
    pub unreachable: Vec<Unreachable>,
    pub findings: Vec<Finding>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_carries_its_remedy_beside_it() {
        let finding = Finding {
            kind: DriftKind::OrphanLv,
            node: "n1".into(),
            object: "vg_d/brick_1".into(),
            evidence: "no brick of the store uses it".into(),
            remedy: Remedy::Leave {
                reason: LeftBecause::MayHoldData,
            },
        };
        let json = serde_json::to_value(&finding).ok();
        assert_eq!(
            json,
            Some(serde_json::json!({
                "kind": "orphan-lv", "node": "n1", "object": "vg_d/brick_1",
                "evidence": "no brick of the store uses it",
                "apply": "leave", "reason": "may-hold-data",
            }))
        );
        assert_eq!(json.and_then(|j| serde_json::from_value(j).ok()), Some(finding));
    }

    #[test]
    fn a_forced_removal_names_the_pool_that_goes_with_it() {
        let remedy = Remedy::RemoveOrphanBrick { pool: "tp_ab".into() };
        let json = serde_json::to_value(&remedy).ok();
        assert_eq!(
            json,
            Some(serde_json::json!({"apply": "remove-orphan-brick", "pool": "tp_ab"}))
        );
        assert_eq!(json.and_then(|j| serde_json::from_value(j).ok()), Some(remedy));
        let kinds = [DriftKind::MissingBrickDir, DriftKind::MissingPeer].map(|k| serde_json::to_value(k).ok());
        assert_eq!(kinds, [Some("missing-brick-dir".into()), Some("missing-peer".into())]);
    }
}
