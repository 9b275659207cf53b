//! Device resync: the device's size read again from LVM; its free space
//! follows, while what its bricks use stays Brickyard's own account.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::executor::DeviceHandle;
use crate::store::records::{DeviceRecord, QueueOutcome};
use crate::store::Abort;

use super::{device_and_node, handle_of, DeleteDevice};
use crate::ops::journal::{Action, JournalEntry};
use crate::ops::operation::{Change, ChangeKind, Direction, Operation};
use crate::ops::{Engine, OpError};

pub async fn resync_device(engine: &Arc<Engine>, id: &str) -> Result<String, OpError> {
    let (device, node) = device_and_node(engine, id)?;
    let busy = engine
        .store
        .scan::<JournalEntry>()?
        .into_iter()
        .any(|e| matches!(&e.action, Action::DeleteDevice(DeleteDevice { device_id, .. }) if device_id == id));
    if busy {
        return Err(OpError::Internal(
            "The target exists, contains other items, or is in use.".into(),
        ));
    }
    let entry = JournalEntry::new(ResyncDevice {
        device_id: id.to_string(),
        host: node.manage_host().to_string(),
        handle: handle_of(&device),
    });
    let queue_id = engine.submit(entry, None, |_| Ok(())).await?;
    Ok(queue_id)
}

/// Takes the device's size from LVM but keeps Brickyard's own account
/// of what its bricks use, so `used + free == total` still holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ResyncDevice {
    pub device_id: String,
    pub host: String,
    pub handle: DeviceHandle,
}

#[async_trait]
impl Operation for ResyncDevice {
    fn name(&self) -> &'static str {
        "resync-device"
    }

    fn changes(&self) -> Vec<Change> {
        vec![Change::new(&self.device_id, ChangeKind::ResyncDevice)]
    }

    /// Takes the device's size from LVM but keeps Brickyard's own account
    /// of what its bricks use, so `used + free == total` still holds.
    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let (device_id, host, handle) = (self.device_id.as_str(), self.host.as_str(), &self.handle);
        let report = engine.executor.device_info(host, handle).await?;
        engine.commit(entry, QueueOutcome::NoContent, |tx| {
            let mut device = tx
                .get::<DeviceRecord, OpError>(device_id)?
                .ok_or(Abort::User(OpError::id_not_found()))?;
            if report.total < device.space.used {
                return Err(Abort::User(OpError::Internal(format!(
                    "Device {device_id} reports {} KiB in total, less than the {} KiB its bricks use",
                    report.total, device.space.used
                ))));
            }
            if report.used != device.space.used {
                tracing::info!(
                    device = device_id,
                    lvm_used = report.used,
                    recorded_used = device.space.used,
                    "LVM's used space differs from the bricks' account; keeping the bricks' account"
                );
            }
            device.space.total = report.total;
            device.space.free = report.total - device.space.used;
            device.extent_size = report.extent_size;
            tx.put(&device)
        })
    }

    /// Back: nothing was changed before the commit.
    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Back)
    }
}
