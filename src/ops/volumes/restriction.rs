//! Block restriction: locks or unlocks a block-hosting volume, decided
//! at once (not journalled), answered like an async request that is
//! already final.

use crate::store::records::{QueueOutcome, VolumeRecord};
use crate::store::Abort;

use super::visible_volume;
use crate::ops::{queue, Engine, OpError};

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
        v.blockinfo.restriction = restriction.to_string();
        tx.put(&v)?;
        queue::finished(tx, QueueOutcome::SeeOther(format!("/volumes/{id}")))
    })?;
    engine.flush().await?;
    Ok(queue_id)
}
