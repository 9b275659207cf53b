//! Retired bricks: bricks replaced in their volume while their node did
//! not answer. They hold their space until their node answers again and
//! they can be destroyed there (node set online, a cleanup, the background
//! cleaner, a device delete), or until their device is forgotten.

use crate::store::records::{BrickRecord, VolumeRecord};
use crate::store::TreeName;

use super::evict::node_record;
use super::volumes::brick_spec;
use super::{ledger, Engine, OpError};

/// A device's bricks that belong to volumes (retired ones aside).
pub(crate) fn live_bricks(engine: &Engine, device: &str) -> Result<Vec<BrickRecord>, OpError> {
    let mut out = Vec::new();
    for id in engine.store.children(TreeName::DeviceBricks, device)? {
        if let Some(b) = engine.store.get::<BrickRecord>(&id)? {
            if !b.retired {
                out.push(b);
            }
        }
    }
    Ok(out)
}

/// Whether a device still holds bricks of volumes (retired ones aside).
pub(crate) fn device_has_live_bricks(engine: &Engine, device: &str) -> Result<bool, OpError> {
    Ok(!live_bricks(engine, device)?.is_empty())
}

/// Destroys bricks retired while their node was unreachable, on nodes
/// that answer again (all nodes, or one). Returns how many went.
pub async fn reap_retired_bricks(engine: &Engine, node: Option<&str>) -> Result<usize, OpError> {
    let mut reaped = 0;
    let mut unreachable = std::collections::HashSet::new();
    let mut retired = Vec::new();
    engine.store.visit_records(&mut |brick: BrickRecord| {
        if brick.retired && node.is_none_or(|n| n == brick.node) {
            retired.push(brick);
        }
    })?;
    for brick in retired {
        let host = node_record(engine, &brick.node)?.manage_host().to_string();
        if unreachable.contains(&host) {
            continue;
        }
        let gid = engine
            .store
            .get::<VolumeRecord>(&brick.volume)?
            .map(|v| v.gid)
            .unwrap_or(0);
        match engine.executor.brick_destroy(&host, &brick_spec(&brick, gid)).await {
            Ok(reclaimed) => {
                engine
                    .store
                    .transact(|tx| match tx.get::<BrickRecord, OpError>(&brick.id)? {
                        Some(b) if b.retired => ledger::drop_brick(tx, &b, reclaimed),
                        _ => Ok(()),
                    })?;
                tracing::info!(brick = %brick.id, host = %host, "replaced brick removed from its node");
                reaped += 1;
            }
            Err(e) => {
                tracing::info!(brick = %brick.id, host = %host, error = %e, "replaced brick still awaits its node");
                if e.unreachable {
                    unreachable.insert(host);
                }
            }
        }
    }
    if reaped > 0 {
        engine.flush().await?;
    }
    Ok(reaped)
}
