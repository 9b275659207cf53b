//! Device add, delete, state, tags and resync.

use std::sync::Arc;

use crate::executor::{DeviceHandle, DeviceReport, DeviceSetupError};
use crate::ids::new_id;
use crate::store::records::{BrickRecord, DeviceRecord, EntityState, NodeRecord, QueueOutcome, Space, Tags};
use crate::store::{Abort, TreeName, Tx};

use super::journal::{planned_handle, Action, JournalEntry};
use super::{queue, Engine, OpError};

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

/// A device with its bricks, as info responses need it.
#[derive(Debug, Clone)]
pub struct DeviceView {
    pub record: DeviceRecord,
    pub bricks: Vec<BrickRecord>,
}

pub(crate) fn name_key(node: &str, name: &str) -> String {
    format!("{node}/{name}")
}

fn handle_of(device: &DeviceRecord) -> DeviceHandle {
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

fn reserve_name(tx: &Tx<'_>, device: &DeviceRecord) -> Result<(), Abort<OpError>> {
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

impl Engine {
    pub fn device_info(&self, id: &str) -> Result<DeviceView, OpError> {
        let record = self.store.get::<DeviceRecord>(id)?.ok_or_else(OpError::id_not_found)?;
        // Bricks replaced while their node was away belong to no volume.
        let bricks = self
            .store
            .children(TreeName::DeviceBricks, id)?
            .iter()
            .filter_map(|b| self.store.get::<BrickRecord>(b).ok().flatten())
            .filter(|b| !b.retired)
            .collect();
        Ok(DeviceView { record, bricks })
    }

    fn device_and_node(&self, id: &str) -> Result<(DeviceRecord, NodeRecord), OpError> {
        let device = self.store.get::<DeviceRecord>(id)?.ok_or_else(OpError::id_not_found)?;
        let node = self
            .store
            .get::<NodeRecord>(&device.node)?
            .ok_or_else(OpError::id_not_found)?;
        Ok((device, node))
    }

    pub async fn add_device(self: &Arc<Self>, req: NewDevice) -> Result<String, OpError> {
        let node = self
            .store
            .get::<NodeRecord>(&req.node)?
            .ok_or_else(|| OpError::NotFound("Node id does not exist".into()))?;
        let device = DeviceRecord {
            id: new_id(),
            node: req.node.clone(),
            name: req.name,
            tags: req.tags,
            state: EntityState::Online,
            space: Space::default(),
            extent_size: DEFAULT_EXTENT_KIB,
            paths: vec![],
            pv_uuid: String::new(),
        };
        let entry = JournalEntry::new(Action::AddDevice {
            device: device.clone(),
            host: node.manage_host().to_string(),
            destroy: req.destroy_data,
        });
        let queue_id = self.submit(entry, None, |tx| reserve_name(tx, &device)).await?;
        Ok(queue_id)
    }

    /// Initialises the device, wiping it only when `destroy` is set and the
    /// wipe cannot hit a device Brickyard already manages.
    async fn set_up_device(&self, device: &DeviceRecord, host: &str, destroy: bool) -> Result<DeviceReport, OpError> {
        let path = &device.name;
        let failure = match self.executor.device_setup(host, path, &device.id, false).await {
            Ok(report) => return Ok(report),
            Err(e) => e,
        };
        let described = match &failure {
            DeviceSetupError::Unreachable(e) => {
                format!("Setup of device {path} failed (device not available, connection not ok): {e}")
            }
            DeviceSetupError::HasPhysicalVolume { pv_uuid, error } => {
                format!("Setup of device {path} failed (already contains Physical Volume {pv_uuid}): {error}")
            }
            DeviceSetupError::HasData(e) => {
                format!("Setup of device {path} failed (already initialized or contains data?): {e}")
            }
        };
        if !destroy {
            return Err(OpError::Internal(described));
        }
        match &failure {
            DeviceSetupError::Unreachable(_) => return Err(OpError::Internal(described)),
            DeviceSetupError::HasData(_) => {}
            DeviceSetupError::HasPhysicalVolume { pv_uuid, .. } => {
                let known = self.store.scan::<DeviceRecord>()?;
                if let Some(owner) = known.iter().find(|d| &d.pv_uuid == pv_uuid) {
                    return Err(OpError::Internal(format!("Device already in use (ID: {})", owner.id)));
                }
                if known.iter().any(|d| d.pv_uuid.is_empty()) {
                    return Err(OpError::Internal(format!(
                        "Can not destroy device, destroy may not be safe: a known device has no recorded PV UUID; {described}"
                    )));
                }
            }
        }
        self.executor
            .device_setup(host, path, &device.id, true)
            .await
            .map_err(|e| OpError::Internal(format!("Setup of device {path} failed: {e}")))
    }

    pub(crate) async fn add_device_execute(
        &self,
        entry: &JournalEntry,
        planned: &DeviceRecord,
        host: &str,
        destroy: bool,
    ) -> Result<(), OpError> {
        let report = self.set_up_device(planned, host, destroy).await?;
        let device = DeviceRecord {
            space: Space {
                total: report.total,
                free: report.free,
                used: report.used,
            },
            extent_size: report.extent_size,
            paths: report.paths,
            pv_uuid: report.pv_uuid,
            ..planned.clone()
        };
        let committed = self.commit(entry, QueueOutcome::NoContent, |tx| {
            if tx.get::<NodeRecord, OpError>(&device.node)?.is_none() {
                return Err(Abort::User(OpError::NotFound("Node id does not exist".into())));
            }
            tx.put(&device)?;
            tx.link(TreeName::NodeDevices, &device.node, &device.id)
        });
        if committed.is_err() {
            // Set up but not recorded: take it down again.
            if let Err(e) = self.executor.device_teardown(host, &planned_handle(planned)).await {
                tracing::error!(device = %planned.id, error = %e, "teardown after a failed commit failed");
            }
        }
        committed
    }

    pub async fn delete_device(self: &Arc<Self>, id: &str, forget: bool) -> Result<String, OpError> {
        let (device, node) = self.device_and_node(id)?;
        if device.state != EntityState::Failed {
            return Err(OpError::BadRequest(format!("device: {id} is not in failed state")));
        }
        if self.device_has_live_bricks(id)? {
            return Err(bricks_conflict(id));
        }
        let entry = JournalEntry::new(Action::DeleteDevice {
            device_id: id.to_string(),
            host: node.manage_host().to_string(),
            handle: handle_of(&device),
            forget,
        });
        let queue_id = self.submit(entry, None, |_| Ok(())).await?;
        Ok(queue_id)
    }

    pub(crate) async fn delete_device_execute(
        &self,
        entry: &JournalEntry,
        device_id: &str,
        host: &str,
        handle: &DeviceHandle,
        forget: bool,
    ) -> Result<(), OpError> {
        let Some(device) = self.store.get::<DeviceRecord>(device_id)? else {
            // Already gone (a recovered delete, or a forced one meanwhile).
            return self.commit(entry, QueueOutcome::NoContent, |_| Ok(()));
        };
        if forget {
            self.executor.device_forget(host, handle).await;
        } else {
            self.reap_retired_bricks(Some(&device.node)).await?;
            if self.store.has_children(TreeName::DeviceBricks, device_id)? {
                // Nothing was done yet: end the request rather than retry it.
                return self.commit(
                    entry,
                    QueueOutcome::Failed(format!(
                        "Device {device_id} still holds replaced bricks its node has not removed; \
                         delete it with forceforget if the node is gone for good"
                    )),
                    |_| Ok(()),
                );
            }
            self.executor
                .device_teardown(host, handle)
                .await
                .map_err(|e| OpError::Internal(e.to_string()))?;
        }
        // With forceforget, replaced bricks awaiting a dead node are forgotten too.
        let retired: Vec<BrickRecord> = self
            .store
            .children(TreeName::DeviceBricks, device_id)?
            .iter()
            .filter_map(|b| self.store.get::<BrickRecord>(b).ok().flatten())
            .filter(|b| b.retired)
            .collect();
        self.commit(entry, QueueOutcome::NoContent, |tx| {
            for b in &retired {
                if let Some(b) = tx.get::<BrickRecord, OpError>(&b.id)? {
                    super::volumes::drop_brick(tx, &b, true)?;
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

    pub async fn resync_device(self: &Arc<Self>, id: &str) -> Result<String, OpError> {
        let (device, node) = self.device_and_node(id)?;
        let busy = self
            .store
            .scan::<JournalEntry>()?
            .into_iter()
            .any(|e| matches!(&e.action, Action::DeleteDevice { device_id, .. } if device_id == id));
        if busy {
            return Err(OpError::Internal(
                "The target exists, contains other items, or is in use.".into(),
            ));
        }
        let entry = JournalEntry::new(Action::ResyncDevice {
            device_id: id.to_string(),
            host: node.manage_host().to_string(),
            handle: handle_of(&device),
        });
        let queue_id = self.submit(entry, None, |_| Ok(())).await?;
        Ok(queue_id)
    }

    /// Takes the device's size from LVM but keeps Brickyard's own account
    /// of what its bricks use, so `used + free == total` still holds.
    pub(crate) async fn resync_device_execute(
        &self,
        entry: &JournalEntry,
        device_id: &str,
        host: &str,
        handle: &DeviceHandle,
    ) -> Result<(), OpError> {
        let report = self
            .executor
            .device_info(host, handle)
            .await
            .map_err(|e| OpError::Internal(e.to_string()))?;
        self.commit(entry, QueueOutcome::NoContent, |tx| {
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

    /// Applies a device state change. Offline to failed with bricks on the
    /// device starts an evacuation; everything else is decided at once.
    pub async fn set_device_state(
        self: &Arc<Self>,
        id: &str,
        target: EntityState,
        heal_check: bool,
    ) -> Result<String, OpError> {
        self.store.get::<DeviceRecord>(id)?.ok_or_else(OpError::id_not_found)?;
        let permit = if target == EntityState::Failed {
            Some(self.throttle.acquire().await?)
        } else {
            None
        };
        // Decided on what the store holds after the (possibly long) wait.
        let device = self.store.get::<DeviceRecord>(id)?.ok_or_else(OpError::id_not_found)?;
        let seen = (
            device.state,
            self.store.children(TreeName::DeviceBricks, id)?.len() as u64,
        );
        if let (EntityState::Offline, EntityState::Failed, Some(permit)) = (device.state, target, permit) {
            if self.device_has_live_bricks(id)? {
                return self
                    .start_evacuation(None, vec![id.to_string()], heal_check, permit)
                    .await;
            }
        }
        let queue_id = self.store.transact(|tx| {
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
        self.flush().await?;
        Ok(queue_id)
    }
}

fn bricks_conflict(id: &str) -> OpError {
    OpError::Conflict(format!("Unable to delete device [{id}] because it contains bricks"))
}
