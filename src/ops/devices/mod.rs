//! Devices: the read side, state changes and tags (decided at once), the
//! device-name registrations; `add`, `delete` and `resync` are journalled
//! operations.

mod add;
mod delete;
mod resync;

use std::sync::Arc;

use crate::executor::DeviceHandle;
use crate::store::records::{BrickRecord, DeviceRecord, EntityState, NodeRecord, QueueOutcome, Tags};
use crate::store::{Abort, TreeName, Tx};

use super::{queue, Engine, OpError};
use crate::store::views::DeviceView;

pub use add::{add_device, AddDevice};
pub use delete::{delete_device, DeleteDevice};
pub use resync::{resync_device, ResyncDevice};

/// Heketi's extent size until LVM reports the real one.
const DEFAULT_EXTENT_KIB: u64 = 4096;

/// A validated device-add request.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub node: String,
    pub name: String,
    pub destroy_data: bool,
    pub tags: Tags,
}

pub(crate) fn name_key(node: &str, name: &str) -> String {
    format!("{node}/{name}")
}

pub(crate) fn handle_of(device: &DeviceRecord) -> DeviceHandle {
    DeviceHandle {
        device_id: device.id.clone(),
        pv_uuid: device.pv_uuid.clone(),
        paths: if device.paths.is_empty() {
            vec![device.name.clone()]
        } else {
            device.paths.clone()
        },
    }
}

pub(crate) fn reserve_name(tx: &Tx<'_>, device: &DeviceRecord) -> Result<(), Abort<OpError>> {
    let key = name_key(&device.node, &device.name);
    if let Some(owner) = tx.index_get::<OpError>(TreeName::DeviceNames, &key)? {
        if owner != device.id {
            return Err(Abort::User(OpError::Conflict(format!(
                "Device {} already used by device with id {owner} on node {}",
                device.name, device.node
            ))));
        }
    }
    tx.index_put(TreeName::DeviceNames, &key, &device.id)
}

pub(crate) fn release_name(tx: &Tx<'_>, device: &DeviceRecord) -> Result<(), Abort<OpError>> {
    let key = name_key(&device.node, &device.name);
    if tx.index_get::<OpError>(TreeName::DeviceNames, &key)?.as_deref() == Some(device.id.as_str()) {
        tx.index_remove(TreeName::DeviceNames, &key)?;
    }
    Ok(())
}

pub fn device_info(engine: &Engine, id: &str) -> Result<DeviceView, OpError> {
    let record = engine
        .store
        .get::<DeviceRecord>(id)?
        .ok_or_else(OpError::id_not_found)?;
    // Bricks replaced while their node was away belong to no volume.
    let bricks = engine
        .store
        .children(TreeName::DeviceBricks, id)?
        .iter()
        .filter_map(|b| engine.store.get::<BrickRecord>(b).ok().flatten())
        .filter(|b| !b.retired)
        .collect();
    Ok(DeviceView { record, bricks })
}

pub(crate) fn device_and_node(engine: &Engine, id: &str) -> Result<(DeviceRecord, NodeRecord), OpError> {
    let device = engine
        .store
        .get::<DeviceRecord>(id)?
        .ok_or_else(OpError::id_not_found)?;
    let node = engine
        .store
        .get::<NodeRecord>(&device.node)?
        .ok_or_else(OpError::id_not_found)?;
    Ok((device, node))
}

/// Applies a device state change. Offline to failed with bricks on the
/// device starts an evacuation; everything else is decided at once.
pub async fn set_device_state(
    engine: &Arc<Engine>,
    id: &str,
    target: EntityState,
    heal_check: bool,
) -> Result<String, OpError> {
    engine
        .store
        .get::<DeviceRecord>(id)?
        .ok_or_else(OpError::id_not_found)?;
    let permit = if target == EntityState::Failed {
        Some(engine.throttle.acquire().await?)
    } else {
        None
    };
    // Decided on what the store holds after the (possibly long) wait.
    let device = engine
        .store
        .get::<DeviceRecord>(id)?
        .ok_or_else(OpError::id_not_found)?;
    let seen = (
        device.state,
        engine.store.children(TreeName::DeviceBricks, id)?.len() as u64,
    );
    if let (EntityState::Offline, EntityState::Failed, Some(permit)) = (device.state, target, permit) {
        if crate::ops::retired::device_has_live_bricks(engine, id)? {
            return crate::ops::evacuate::start_evacuation(engine, None, vec![id.to_string()], heal_check, permit)
                .await;
        }
    }
    let queue_id = engine.store.transact(|tx| {
        let mut device = tx
            .get::<DeviceRecord, OpError>(id)?
            .ok_or(Abort::User(OpError::id_not_found()))?;
        if (device.state, tx.child_count::<OpError>(TreeName::DeviceBricks, id)?) != seen {
            return Err(Abort::User(OpError::Conflict(format!(
                "device {id} changed while its state was being set; retry"
            ))));
        }
        let outcome = match (device.state, target) {
            (from, to) if from == to => QueueOutcome::NoContent,
            (EntityState::Online, EntityState::Failed) => QueueOutcome::Failed(format!(
                "Device must be offline before remove operation is performed, device:{id}"
            )),
            (EntityState::Failed, EntityState::Online) => {
                QueueOutcome::Failed("Cannot move a failed/removed device to online state".into())
            }
            (_, to) => {
                device.state = to;
                tx.put(&device)?;
                QueueOutcome::NoContent
            }
        };
        queue::finished(tx, outcome)
    })?;
    engine.flush().await?;
    Ok(queue_id)
}

pub(crate) fn bricks_conflict(id: &str) -> OpError {
    OpError::Conflict(format!("Unable to delete device [{id}] because it contains bricks"))
}
