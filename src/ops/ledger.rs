//! The space ledger: every brick carries its charge (its thin pool's size,
//! or 0 for a clone brick sharing another's pool), and a device's `used` is
//! the sum of its bricks' charges. Bricks are only ever added and removed
//! through here, inside the caller's transaction, so `used + free == total`
//! holds for every operation (checked by `GET /db/check`).

use crate::store::records::{BrickRecord, DeviceRecord, EntityState};
use crate::store::{Abort, TreeName, Tx};

use super::OpError;

/// Where a new brick joins: its volume at once, or (a replacement brick)
/// only when gluster has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    Volume,
    DeviceOnly,
}

/// Records a brick, links it and takes its charge from its device,
/// re-checking the device (a device gone, not online or too full sends the
/// caller back to planning with `OpError::Retry`). Clone bricks (charge 0)
/// may sit on devices of any state.
pub fn add_brick(tx: &Tx<'_>, brick: &BrickRecord, join: Join) -> Result<(), Abort<OpError>> {
    let mut device = tx
        .get::<DeviceRecord, OpError>(&brick.device)?
        .ok_or(Abort::User(OpError::Retry))?;
    if brick.charged > 0 && (device.state != EntityState::Online || device.space.free <= brick.charged) {
        return Err(Abort::User(OpError::Retry));
    }
    device.space.free -= brick.charged;
    device.space.used += brick.charged;
    tx.put(&device)?;
    tx.put(brick)?;
    tx.link(TreeName::DeviceBricks, &brick.device, &brick.id)?;
    if join == Join::Volume {
        tx.link(TreeName::VolumeBricks, &brick.volume, &brick.id)?;
    }
    let key = pool_key(brick);
    let members = tx.index_get::<OpError>(TreeName::PoolBricks, &key)?.unwrap_or_default();
    let mut ids: Vec<&str> = members.split(',').filter(|m| !m.is_empty() && *m != brick.id).collect();
    ids.push(&brick.id);
    tx.index_put(TreeName::PoolBricks, &key, &ids.join(","))
}

/// `add_brick` for each brick, joining its volume.
pub fn add_bricks(tx: &Tx<'_>, bricks: &[BrickRecord]) -> Result<(), Abort<OpError>> {
    bricks.iter().try_for_each(|b| add_brick(tx, b, Join::Volume))
}

/// Removes a brick and settles its space: credited back when its pool went
/// away (`reclaimed`), else handed to a brick still sharing the pool (a
/// clone's), which then carries the charge.
pub fn drop_brick(tx: &Tx<'_>, brick: &BrickRecord, reclaimed: bool) -> Result<(), Abort<OpError>> {
    tx.unlink(TreeName::DeviceBricks, &brick.device, &brick.id)?;
    tx.unlink(TreeName::VolumeBricks, &brick.volume, &brick.id)?;
    tx.remove::<BrickRecord, OpError>(&brick.id)?;
    let key = pool_key(brick);
    let members = tx.index_get::<OpError>(TreeName::PoolBricks, &key)?.unwrap_or_default();
    let rest: Vec<&str> = members.split(',').filter(|m| !m.is_empty() && *m != brick.id).collect();
    if rest.is_empty() {
        tx.index_remove(TreeName::PoolBricks, &key)?;
    } else {
        tx.index_put(TreeName::PoolBricks, &key, &rest.join(","))?;
    }
    if brick.charged == 0 {
        return Ok(());
    }
    let heir = if reclaimed { None } else { pool_sharer(tx, brick)? };
    match heir {
        Some(mut sharer) => {
            sharer.charged += brick.charged;
            tx.put(&sharer)
        }
        None => {
            if let Some(mut device) = tx.get::<DeviceRecord, OpError>(&brick.device)? {
                device.space.free += brick.charged;
                device.space.used = device.space.used.saturating_sub(brick.charged);
                tx.put(&device)?;
            }
            Ok(())
        }
    }
}

/// Drops the stored bricks of `ids` whose pools are gone with them (an
/// undone create or expansion); ids already gone are skipped.
pub fn drop_bricks(tx: &Tx<'_>, ids: &[String]) -> Result<(), Abort<OpError>> {
    for id in ids {
        if let Some(b) = tx.get::<BrickRecord, OpError>(id)? {
            drop_brick(tx, &b, true)?;
        }
    }
    Ok(())
}

/// Another brick in the same thin pool, if any (a clone's).
fn pool_sharer(tx: &Tx<'_>, brick: &BrickRecord) -> Result<Option<BrickRecord>, Abort<OpError>> {
    let Some(members) = tx.index_get::<OpError>(TreeName::PoolBricks, &pool_key(brick))? else {
        return Ok(None);
    };
    for id in members.split(',').filter(|id| !id.is_empty() && *id != brick.id) {
        if let Some(b) = tx.get::<BrickRecord, OpError>(id)? {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// The `idx_pool_bricks` key of a brick's thin pool.
pub fn pool_key(brick: &BrickRecord) -> String {
    format!("{}/{}", brick.device, brick.thin_pool())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::VolumeLimits;
    use crate::ops::volumes::{new_bricks, placement_request};
    use crate::placement::{place_in_cluster, ClusterSlot, DeviceSlot};
    use crate::store::records::{DurabilityKind, DurabilityRecord, Space, VolumeRecord};
    use crate::store::{Store, TxFailure};

    const GIB: u64 = 1024 * 1024;

    fn device(i: usize, free_gib: u64) -> DeviceRecord {
        DeviceRecord {
            id: format!("{i:032x}"),
            node: format!("node{i}"),
            name: "/dev/sdb".into(),
            tags: Default::default(),
            state: EntityState::Online,
            space: Space {
                total: free_gib * GIB,
                free: free_gib * GIB,
                used: 0,
            },
            extent_size: 4096,
            paths: vec![],
            pv_uuid: String::new(),
        }
    }

    fn store_with(devices: &[DeviceRecord]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        store
            .transact(|tx| devices.iter().try_for_each(|d| tx.put::<_, OpError>(d)))
            .unwrap();
        (dir, store)
    }

    /// What placement sees of the store's devices now.
    fn slot(store: &Store) -> ClusterSlot {
        let devices: Vec<DeviceSlot> = store
            .scan::<DeviceRecord>()
            .unwrap()
            .into_iter()
            .map(|d| DeviceSlot {
                node: d.node.clone(),
                zone: 1,
                free: d.space.free,
                extent_kib: d.extent_size,
                tags: d.tags.clone(),
                id: d.id,
            })
            .collect();
        ClusterSlot {
            id: "c".into(),
            block: false,
            file: true,
            node_count: devices.len(),
            devices,
            nodes_down: 0,
        }
    }

    fn volume(size_gib: u64) -> VolumeRecord {
        VolumeRecord {
            id: crate::ids::new_id(),
            name: "v".into(),
            cluster: "c".into(),
            size_gib,
            durability: DurabilityRecord {
                kind: DurabilityKind::Replicate,
                replica: 2,
                data: 0,
                redundancy: 0,
            },
            gid: 0,
            options: vec![],
            block: false,
            snapshot: Default::default(),
            blockinfo: Default::default(),
            brick_order: vec![],
            requested_clusters: vec![],
            pending: None,
        }
    }

    fn assert_accounted(store: &Store) {
        for d in store.scan::<DeviceRecord>().unwrap() {
            let charged: u64 = store
                .children(TreeName::DeviceBricks, &d.id)
                .unwrap()
                .iter()
                .map(|b| store.get::<BrickRecord>(b).unwrap().unwrap().charged)
                .sum();
            assert_eq!(d.space.used, charged, "device {}", d.id);
            assert_eq!(d.space.used + d.space.free, d.space.total, "device {}", d.id);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Real placements recorded through the ledger, then every brick
        /// dropped through it: each device is whole again, and the account
        /// held at every step.
        #[test]
        fn dropping_every_brick_restores_every_device(
            frees in prop::collection::vec(5u64..400, 2..6),
            sizes in prop::collection::vec(1u64..120, 1..8),
        ) {
            let devices: Vec<DeviceRecord> = frees.iter().enumerate().map(|(i, f)| device(i, *f)).collect();
            let (_dir, store) = store_with(&devices);
            let mut added = Vec::new();
            for size in sizes {
                let v = volume(size);
                let request = placement_request(&v, size, 0, &VolumeLimits::default()).unwrap();
                let Ok(plan) = place_in_cluster(&slot(&store), &request, &mut crate::ids::new_id) else {
                    continue;
                };
                let bricks = new_bricks(&v, &plan);
                match store.transact(|tx| add_bricks(tx, &bricks)) {
                    Ok(()) => added.extend(bricks.iter().map(|b| b.id.clone())),
                    // The ledger refuses what the device cannot hold.
                    Err(TxFailure::User(OpError::Retry)) => {}
                    Err(e) => panic!("{e}"),
                }
                assert_accounted(&store);
            }
            store.transact(|tx| drop_bricks(tx, &added)).unwrap();
            for (before, after) in devices.iter().zip(store.scan::<DeviceRecord>().unwrap()) {
                prop_assert_eq!(&before.space, &after.space);
            }
            prop_assert!(store.index_keys(TreeName::PoolBricks).unwrap().is_empty());
        }
    }

    /// A clone's brick shares its source brick's pool: the pool's space
    /// passes to it when the source brick goes first, and returns to the
    /// device with the last brick in the pool.
    #[test]
    fn a_shared_pool_is_charged_to_whichever_brick_remains() {
        let (_dir, store) = store_with(&[device(0, 100)]);
        let v = volume(10);
        let request = placement_request(&v, 10, 0, &VolumeLimits::default()).unwrap();
        let single = ClusterSlot {
            node_count: 2,
            devices: vec![slot(&store).devices[0].clone(), {
                let mut other = slot(&store).devices[0].clone();
                other.node = "elsewhere".into();
                other.id = format!("{:032x}", 99);
                other
            }],
            ..slot(&store)
        };
        let plan = place_in_cluster(&single, &request, &mut crate::ids::new_id).unwrap();
        let source = new_bricks(&v, &plan)
            .into_iter()
            .find(|b| b.device == device(0, 100).id)
            .unwrap();
        let clone = BrickRecord {
            id: crate::ids::new_id(),
            volume: "clone".into(),
            charged: 0,
            lvm_thin_pool: source.thin_pool(),
            ..source.clone()
        };
        store
            .transact(|tx| {
                add_brick(tx, &source, Join::Volume)?;
                add_brick(tx, &clone, Join::Volume)
            })
            .unwrap();
        assert_accounted(&store);
        // The source goes, its pool stays (gluster's clone still uses it).
        store.transact(|tx| drop_brick(tx, &source, false)).unwrap();
        assert_accounted(&store);
        let heir = store.get::<BrickRecord>(&clone.id).unwrap().unwrap();
        assert_eq!(heir.charged, source.charged);
        store.transact(|tx| drop_brick(tx, &heir, true)).unwrap();
        let d = store.get::<DeviceRecord>(&device(0, 100).id).unwrap().unwrap();
        assert_eq!((d.space.used, d.space.free), (0, d.space.total));
    }
}
