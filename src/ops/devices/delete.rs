//! Device delete: only a failed device without live bricks; bricks retired
//! while their node was away are removed first (or, with `forceforget`,
//! forgotten), then the volume group is torn down (or forgotten) and the
//! device goes with its name. Every step is idempotent: recovery finishes it.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::executor::DeviceHandle;
use crate::store::records::{BrickRecord, DeviceRecord, EntityState, QueueOutcome};
use crate::store::{Abort, TreeName};

use super::{bricks_conflict, device_and_node, handle_of, release_name};
use crate::ops::journal::JournalEntry;
use crate::ops::operation::{Change, ChangeKind, Direction, Operation};
use crate::ops::retired::{device_has_live_bricks, reap_retired_bricks};
use crate::ops::{ledger, Engine, OpError};

pub async fn delete_device(engine: &Arc<Engine>, id: &str, forget: bool) -> Result<String, OpError> {
    let (device, node) = device_and_node(engine, id)?;
    if device.state != EntityState::Failed {
        return Err(OpError::BadRequest(format!("device: {id} is not in failed state")));
    }
    if device_has_live_bricks(engine, id)? {
        return Err(bricks_conflict(id));
    }
    let entry = JournalEntry::new(DeleteDevice {
        device_id: id.to_string(),
        host: node.manage_host().to_string(),
        handle: handle_of(&device),
        forget,
    });
    let queue_id = engine.submit(entry, None, |_| Ok(())).await?;
    Ok(queue_id)
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeleteDevice {
    pub device_id: String,
    pub host: String,
    pub handle: DeviceHandle,
    pub forget: bool,
}

#[async_trait]
impl Operation for DeleteDevice {
    fn name(&self) -> &'static str {
        "delete-device"
    }

    fn changes(&self) -> Vec<Change> {
        vec![Change::new(&self.device_id, ChangeKind::DeleteDevice)]
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let (device_id, host, handle, forget) =
            (self.device_id.as_str(), self.host.as_str(), &self.handle, self.forget);
        let Some(device) = engine.store.get::<DeviceRecord>(device_id)? else {
            // Already gone (a recovered delete, or a forced one meanwhile).
            return engine.commit(entry, QueueOutcome::NoContent, |_| Ok(()));
        };
        if forget {
            engine.executor.device_forget(host, handle).await;
        } else {
            reap_retired_bricks(engine, Some(&device.node)).await?;
            if engine.store.has_children(TreeName::DeviceBricks, device_id)? {
                // Nothing was done yet: end the request rather than retry it.
                return engine.commit(
                    entry,
                    QueueOutcome::Failed(format!(
                        "Device {device_id} still holds replaced bricks its node has not removed; \
                         delete it with forceforget if the node is gone for good"
                    )),
                    |_| Ok(()),
                );
            }
            engine.executor.device_teardown(host, handle).await?;
        }
        // With forceforget, replaced bricks awaiting a dead node are forgotten too.
        let retired: Vec<BrickRecord> = engine
            .store
            .children(TreeName::DeviceBricks, device_id)?
            .iter()
            .filter_map(|b| engine.store.get::<BrickRecord>(b).ok().flatten())
            .filter(|b| b.retired)
            .collect();
        engine.commit(entry, QueueOutcome::NoContent, |tx| {
            for b in &retired {
                if let Some(b) = tx.get::<BrickRecord, OpError>(&b.id)? {
                    ledger::drop_brick(tx, &b, true)?;
                }
            }
            let Some(device) = tx.get::<DeviceRecord, OpError>(device_id)? else {
                return Ok(());
            };
            if device.state != EntityState::Failed {
                return Err(Abort::User(OpError::BadRequest(format!(
                    "device: {device_id} is not in failed state"
                ))));
            }
            if tx.has_children(TreeName::DeviceBricks, device_id)? {
                return Err(Abort::User(bricks_conflict(device_id)));
            }
            tx.unlink(TreeName::NodeDevices, &device.node, device_id)?;
            release_name(tx, &device)?;
            tx.remove::<DeviceRecord, OpError>(device_id)
        })
    }

    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Forward)
    }
}
