//! The reconciler's mending run (`POST /internal/state/reconcile`,
//! `brickyard db reconcile --apply`): the report's safe remedies, and only
//! those, as one journalled operation. An orphan thin pool is removed with
//! `brick_destroy` of the brick it was made for (its LV is gone, and the
//! executor removes a pool only when no thin LV uses it); a mounted
//! brick's fstab line is appended unless one is there. With `--force`, an
//! orphan thin LV named `brick_<hex>` goes the same way (`brick_destroy`:
//! unmounted, its fstab line and then its pool removed). Each mend is
//! idempotent, so a run interrupted by a crash goes forward. The answer
//! is a 303 to the report, which then lists what was left and why.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::executor::{brick_path, BrickSpec};
use crate::ids::is_route_id;
use crate::store::records::{BrickRecord, DeviceRecord, NodeRecord, QueueOutcome};
use crate::store::TreeName;
use crate::wire::drift::{Finding, Remedy};

use super::journal::JournalEntry;
use super::operation::{Change, Direction, Operation};
use super::reconcile::{named_ours, reconcile_report, Force};
use super::volumes::brick_spec;
use super::{Engine, OpError};

/// Where the mending run's answer points: the report, read afresh.
pub const REPORT_PATH: &str = "/internal/state/reconcile";

/// One safe mend on one node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "mend", rename_all = "kebab-case")]
pub enum Mend {
    /// `brick_destroy` of the brick an orphan pool `tp_<id>` was made for.
    RemoveThinPool { host: String, brick: BrickSpec },
    /// A settled brick's fstab line.
    AppendFstabLine { host: String, brick: BrickSpec },
    /// With `--force`: `brick_destroy` of an orphan thin LV `brick_<id>`
    /// (unmounted, its fstab line removed, its pool once unused).
    RemoveOrphanBrick { host: String, brick: BrickSpec },
}

/// Reads the nodes, then journals the mends the report names: the safe
/// ones, and with `force` the orphan bricks too.
pub async fn mend_drift(engine: &Arc<Engine>, force: Force) -> Result<String, OpError> {
    let report = reconcile_report(engine, force).await?;
    // Findings made while the store moved may be of operations, not drift.
    if report.store_changed {
        return Err(OpError::Conflict(
            "The store kept changing while the nodes were read; try again".into(),
        ));
    }
    let mut mends = Vec::new();
    for finding in &report.findings {
        let mend = match finding.remedy {
            Remedy::RemoveThinPool => orphan_pool(finding).map(|brick| Mend::RemoveThinPool {
                host: finding.node.clone(),
                brick,
            }),
            Remedy::AppendFstabLine => mounted_brick(engine, finding)?.map(|brick| Mend::AppendFstabLine {
                host: finding.node.clone(),
                brick,
            }),
            Remedy::RemoveOrphanBrick { ref pool } => {
                orphan_brick(finding, pool).map(|brick| Mend::RemoveOrphanBrick {
                    host: finding.node.clone(),
                    brick,
                })
            }
            Remedy::Leave { .. } => None,
        };
        mends.extend(mend);
    }
    engine
        .submit(JournalEntry::new(MendDrift { mends }), None, |_| Ok(()))
        .await
}

/// The brick an orphan pool `vg_<device>/tp_<id>` was made for.
fn orphan_pool(finding: &Finding) -> Option<BrickSpec> {
    let (vg, pool) = finding.object.split_once('/')?;
    let device = vg.strip_prefix("vg_")?;
    let id = pool.strip_prefix("tp_")?;
    lost_brick(device, id, pool)
}

/// The brick an orphan thin LV `vg_<device>/brick_<id>` in `pool` is.
fn orphan_brick(finding: &Finding, pool: &str) -> Option<BrickSpec> {
    let (vg, lv) = finding.object.split_once('/')?;
    let device = vg.strip_prefix("vg_")?;
    let id = lv.strip_prefix("brick_")?;
    if !named_ours(pool, "tp_") {
        return None;
    }
    lost_brick(device, id, pool)
}

/// A brick the store does not hold, as `brick_destroy` takes it down.
fn lost_brick(device: &str, id: &str, pool: &str) -> Option<BrickSpec> {
    // Names read from a node reach its shell (some unquoted, as Heketi
    // writes them) only when they are Brickyard's hex ids.
    if !is_route_id(device) || !is_route_id(id) {
        return None;
    }
    Some(BrickSpec {
        device_id: device.to_string(),
        brick_id: id.to_string(),
        thin_pool: pool.to_string(),
        lv: format!("brick_{id}"),
        size_kib: 0,
        tp_kib: 0,
        meta_kib: 0,
        gid: 0,
        arbiter: false,
        path: brick_path(device, id),
    })
}

/// The settled brick of the finding's node mounted at its object.
fn mounted_brick(engine: &Engine, finding: &Finding) -> Result<Option<BrickSpec>, OpError> {
    for node in engine.store.scan::<NodeRecord>()? {
        if node.manage_host() != finding.node {
            continue;
        }
        for device in engine.store.children(TreeName::NodeDevices, &node.id)? {
            if engine.store.get::<DeviceRecord>(&device)?.is_none() {
                continue;
            }
            for id in engine.store.children(TreeName::DeviceBricks, &device)? {
                let Some(brick) = engine.store.get::<BrickRecord>(&id)? else {
                    continue;
                };
                let spec = brick_spec(&brick, 0);
                if brick.pending.is_none() && !brick.path.is_empty() && spec.mount_point() == finding.object {
                    return Ok(Some(spec));
                }
            }
        }
    }
    Ok(None)
}

/// The safe mends, run in order on their nodes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MendDrift {
    pub mends: Vec<Mend>,
}

#[async_trait]
impl Operation for MendDrift {
    fn name(&self) -> &'static str {
        "mend-drift"
    }

    fn changes(&self) -> Vec<Change> {
        Vec::new()
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        for mend in &self.mends {
            match mend {
                Mend::RemoveThinPool { host, brick } => {
                    let _slot = engine.hosts.enter(host).await;
                    engine.executor.brick_destroy(host, brick).await?;
                }
                Mend::RemoveOrphanBrick { host, brick } => {
                    // A brick of that id in the store since is not an orphan.
                    if engine.store.get::<BrickRecord>(&brick.brick_id)?.is_none() {
                        let _slot = engine.hosts.enter(host).await;
                        engine.executor.brick_destroy(host, brick).await?;
                    }
                }
                Mend::AppendFstabLine { host, brick } => {
                    // A brick deleted since the report needs no line.
                    let settled = engine
                        .store
                        .get::<BrickRecord>(&brick.brick_id)?
                        .is_some_and(|b| b.pending.is_none());
                    if settled {
                        let _slot = engine.hosts.enter(host).await;
                        engine.executor.brick_fstab_append(host, brick).await?;
                    }
                }
            }
        }
        engine.commit(entry, QueueOutcome::SeeOther(REPORT_PATH.into()), |_| Ok(()))
    }

    /// Forward: every mend is idempotent.
    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Forward)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::drift::DriftKind;

    #[test]
    fn an_orphan_pool_names_the_brick_it_was_made_for() {
        let finding = |object: &str| Finding {
            kind: DriftKind::OrphanLv,
            node: "n1".into(),
            object: object.into(),
            evidence: String::new(),
            remedy: Remedy::RemoveThinPool,
        };
        let brick = orphan_pool(&finding("vg_d1/tp_ab12")).map(|b| (b.vg(), b.lv, b.thin_pool));
        assert_eq!(brick, Some(("vg_d1".into(), "brick_ab12".into(), "tp_ab12".into())));
        assert_eq!(orphan_pool(&finding("other/tp_ab12")), None);
        assert_eq!(orphan_pool(&finding("vg_d1/brick_ab12")), None);
    }

    #[test]
    fn an_orphan_brick_is_taken_down_with_its_own_pool() {
        let finding = |object: &str| Finding {
            kind: DriftKind::OrphanLv,
            node: "n1".into(),
            object: object.into(),
            evidence: String::new(),
            remedy: Remedy::RemoveOrphanBrick { pool: "tp_ef".into() },
        };
        let brick = orphan_brick(&finding("vg_d1/brick_ab12"), "tp_ef").map(|b| (b.lv, b.thin_pool, b.path));
        assert_eq!(
            brick,
            Some((
                "brick_ab12".into(),
                "tp_ef".into(),
                "/var/lib/heketi/mounts/vg_d1/brick_ab12/brick".into()
            ))
        );
        // Names that are not Brickyard's never reach a node's shell.
        for (object, pool) in [
            ("vg_d1/brick_ab12", "other"),
            ("vg_d1/brick_ab12", "tp_x;reboot"),
            ("vg_d1/brick_$(reboot)", "tp_ef"),
            ("vg_d 1/brick_ab12", "tp_ef"),
            ("vg_d1/data", "tp_ef"),
        ] {
            assert_eq!(orphan_brick(&finding(object), pool), None, "{object} in {pool}");
        }
        assert_eq!(orphan_pool(&finding("vg_d1/tp_a/b")), None);
    }
}
