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
