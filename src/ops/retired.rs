//! Retired bricks: bricks replaced in their volume while their node did
//! not answer. They hold their space until their node answers again and
//! they can be destroyed there (node set online, a cleanup, the background
//! cleaner, a device delete), or until their device is forgotten.

use crate::store::records::{BrickRecord, VolumeRecord};
use crate::store::{Abort, TreeName, Tx};

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

/// How many times a brick was retired, ever (in `meta`).
const RETIRED_KEY: &str = crate::store::BRICKS_RETIRED_KEY;
/// `RETIRED_KEY` as it stood when a walk of every brick last left no
/// retired brick behind (in `meta`). While the two agree no brick is
/// retired, and the background cleaner skips its walk: 150,000 bricks at
/// 50,000 volumes, whose pages then stayed resident in sled's cache well
/// past its capacity (about 30 MiB), as sled accounts for pages read in
/// batches per shard.
const CLEARED_KEY: &str = crate::store::BRICKS_CLEARED_AT_KEY;

/// Counts a retirement, in the transaction that retires the brick. An
/// unreadable count starts again, and forgets when the bricks were last
/// clear, so the next walk happens.
pub(crate) fn count_retirement(tx: &Tx<'_>) -> Result<(), Abort<OpError>> {
    let count = tx.index_get::<OpError>(TreeName::Meta, RETIRED_KEY)?;
    let next = match count.as_deref().map(str::parse::<u64>) {
        None => 1,
        Some(Ok(n)) => n.saturating_add(1),
        Some(Err(_)) => {
            tx.index_remove::<OpError>(TreeName::Meta, CLEARED_KEY)?;
            1
        }
    };
    tx.index_put(TreeName::Meta, RETIRED_KEY, &next.to_string())
}

/// Whether no brick can be retired: the count of retirements (absent:
/// none) is where a walk last found them all gone.
fn none_retired(count: Option<&str>, cleared_at: Option<&str>) -> bool {
    let count = count.map_or(Some(0), |c| c.parse::<u64>().ok());
    let cleared_at = cleared_at.and_then(|c| c.parse::<u64>().ok());
    count.is_some() && count == cleared_at
}

/// The background cleaner's pass over retired bricks: none while no
/// brick was retired since a walk last left none behind.
pub async fn reap_retired_bricks_if_any(engine: &Engine) -> Result<usize, OpError> {
    let count = engine.store.index_get(TreeName::Meta, RETIRED_KEY)?;
    let cleared_at = engine.store.index_get(TreeName::Meta, CLEARED_KEY)?;
    if none_retired(count.as_deref(), cleared_at.as_deref()) {
        return Ok(0);
    }
    reap_retired_bricks(engine, None).await
}

/// Destroys bricks retired while their node was unreachable, on nodes
/// that answer again (all nodes, or one). Returns how many went.
pub async fn reap_retired_bricks(engine: &Engine, node: Option<&str>) -> Result<usize, OpError> {
    // Read before the walk: a brick retired during it moves the count on,
    // and the next walk finds it.
    let count = engine.store.index_get(TreeName::Meta, RETIRED_KEY)?;
    let mut reaped = 0;
    let mut unreachable = std::collections::HashSet::new();
    let mut retired = Vec::new();
    engine.store.visit_records(&mut |brick: BrickRecord| {
        if brick.retired && node.is_none_or(|n| n == brick.node) {
            retired.push(brick);
        }
    })?;
    let found = retired.len();
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
    if node.is_none() && reaped == found {
        let at = count.unwrap_or_else(|| "0".to_string());
        engine
            .store
            .transact(|tx| tx.index_put::<OpError>(TreeName::Meta, CLEARED_KEY, &at))?;
    }
    if reaped > 0 {
        engine.flush().await?;
    }
    Ok(reaped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::mock::MockExecutor;
    use crate::store::records::BrickRole;
    use crate::store::Store;

    fn engine() -> (tempfile::TempDir, std::sync::Arc<Engine>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let executor = std::sync::Arc::new(MockExecutor::in_memory(1, &[]).unwrap());
        (dir, Engine::new(store, executor, Default::default()))
    }

    fn cleared_at(engine: &Engine) -> Option<String> {
        engine.store.index_get(TreeName::Meta, CLEARED_KEY).unwrap()
    }

    fn retired_brick(id: &str) -> BrickRecord {
        BrickRecord {
            id: id.into(),
            path: format!("/var/lib/heketi/mounts/vg_x/brick_{id}/brick"),
            device: "d".into(),
            node: "a node the store does not hold".into(),
            volume: "v".into(),
            size: 1024,
            tp_size: 1024,
            pool_metadata_size: 8,
            lvm_thin_pool: format!("tp_{id}"),
            lvm_lv: format!("brick_{id}"),
            sub_type: BrickRole::Data,
            charged: 1024,
            pending: None,
            retired: true,
        }
    }

    #[test]
    fn bricks_are_clear_only_where_a_walk_left_the_count() {
        assert!(none_retired(None, Some("0")), "never retired, walked once");
        assert!(none_retired(Some("3"), Some("3")));
        assert!(!none_retired(None, None), "never walked: an older store may hold some");
        assert!(!none_retired(Some("4"), Some("3")), "retired since the walk");
        assert!(!none_retired(Some("x"), Some("0")), "an unreadable count walks");
        assert!(!none_retired(Some("3"), Some("y")));
    }

    #[tokio::test]
    async fn the_background_pass_walks_only_after_a_retirement() {
        let (_dir, engine) = engine();
        assert_eq!(reap_retired_bricks_if_any(&engine).await, Ok(0));
        assert_eq!(
            cleared_at(&engine).as_deref(),
            Some("0"),
            "the first pass walks and finds none"
        );

        // A retired brick no retirement counted is not looked for: the
        // pass skips the walk (a walk would fail on its unknown node).
        let brick = retired_brick("b1");
        engine.store.transact(|tx| tx.put::<_, OpError>(&brick)).unwrap();
        assert_eq!(reap_retired_bricks_if_any(&engine).await, Ok(0));
        assert!(engine.store.get::<BrickRecord>("b1").unwrap().is_some());
        assert_eq!(cleared_at(&engine).as_deref(), Some("0"));

        // Counted, it is: the walk meets it.
        engine.store.transact(count_retirement).unwrap();
        assert!(reap_retired_bricks_if_any(&engine).await.is_err());
        engine
            .store
            .transact(|tx| tx.remove::<BrickRecord, OpError>("b1"))
            .unwrap();
        assert_eq!(reap_retired_bricks_if_any(&engine).await, Ok(0));
        assert_eq!(
            cleared_at(&engine).as_deref(),
            Some("1"),
            "clear again at the new count"
        );
    }

    #[test]
    fn an_unreadable_count_starts_again_and_forgets_the_last_walk() {
        let (_dir, engine) = engine();
        engine
            .store
            .transact(|tx| {
                tx.index_put::<OpError>(TreeName::Meta, RETIRED_KEY, "garbled")?;
                tx.index_put::<OpError>(TreeName::Meta, CLEARED_KEY, "1")
            })
            .unwrap();
        engine.store.transact(count_retirement).unwrap();
        let count = engine.store.index_get(TreeName::Meta, RETIRED_KEY).unwrap();
        assert_eq!(count.as_deref(), Some("1"));
        assert_eq!(cleared_at(&engine), None);
    }
}
