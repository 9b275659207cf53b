//! Block restriction: locks or unlocks a block-hosting volume, decided
//! at once (not journalled), answered like an async request that is
//! already final. `locked-by-update` (set by Heketi's upgrade of old
//! databases) is left as Heketi leaves it: taking the hosting volume's
//! reserve from its free size first.

use crate::store::records::{QueueOutcome, VolumeRecord};
use crate::store::Abort;

use super::visible_volume;
use crate::ops::{queue, Engine, OpError};

/// The restriction Heketi's database upgrade set.
const LOCKED_BY_UPDATE: &str = "locked-by-update";

/// Locks or unlocks a block-hosting volume; answers like an async
/// request whose outcome is already final.
pub async fn set_block_restriction(engine: &Engine, id: &str, restriction: &str) -> Result<String, OpError> {
    let volume = visible_volume(engine, id)?;
    let _permit = engine.throttle.acquire().await?;
    if !volume.block {
        return Err(OpError::Internal(
            "Failed to set block restriction: Block restrictions can only be set on block hosting volumes".into(),
        ));
    }
    let queue_id = engine.store.transact(|tx| {
        let mut v = tx
            .get::<VolumeRecord, OpError>(id)?
            .ok_or(Abort::User(OpError::id_not_found()))?;
        if v.pending.is_some() {
            return Err(Abort::User(OpError::id_not_found()));
        }
        // A volume locked by Heketi's upgrade never had its reserve taken
        // from its free size: leaving that lock takes it now, if it fits.
        if v.blockinfo.restriction == LOCKED_BY_UPDATE
            && v.blockinfo.restriction != restriction
            && v.blockinfo.reserved_gib <= 0
        {
            let reserve = v.size_gib as i64 - (v.size_gib * 98 / 100) as i64;
            if v.blockinfo.free_gib < reserve {
                return Err(Abort::User(OpError::Internal(format!(
                    "Failed to set block restriction: Can not unlock volume. {reserve}GiB free space is required, but found {}GiB",
                    v.blockinfo.free_gib
                ))));
            }
            if restriction.is_empty() {
                v.blockinfo.free_gib -= reserve;
                v.blockinfo.reserved_gib += reserve;
            }
        }
        v.blockinfo.restriction = restriction.to_string();
        tx.put(&v)?;
        queue::finished(tx, QueueOutcome::SeeOther(format!("/volumes/{id}")))
    })?;
    engine.flush().await?;
    Ok(queue_id)
}
