//! Device add: its name reserved on its node; the device set up (a
//! physical volume and a volume group), wiped only when that is safe;
//! the device appears with LVM's sizes at commit. Recovery takes it back.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::executor::{DeviceHandle, DeviceReport, DeviceSetupError};
use crate::ids::new_id;
use crate::store::records::{DeviceRecord, EntityState, NodeRecord, QueueOutcome, Space};
use crate::store::{Abort, TreeName, Tx};

use super::{release_name, reserve_name, NewDevice, DEFAULT_EXTENT_KIB};
use crate::ops::journal::JournalEntry;
use crate::ops::operation::{Change, ChangeKind, Direction, Operation};
use crate::ops::{Engine, OpError};

/// How to find a device that may have been set up under its planned id.
fn planned_handle(device: &DeviceRecord) -> DeviceHandle {
    DeviceHandle {
        device_id: device.id.clone(),
        pv_uuid: String::new(),
        paths: vec![device.name.clone()],
    }
}

pub async fn add_device(engine: &Arc<Engine>, req: NewDevice) -> Result<String, OpError> {
    let node = engine
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
    let entry = JournalEntry::new(AddDevice {
        device: device.clone(),
        host: node.manage_host().to_string(),
        destroy: req.destroy_data,
    });
    let queue_id = engine.submit(entry, None, |tx| reserve_name(tx, &device)).await?;
    Ok(queue_id)
}

/// Initialises the device, wiping it only when `destroy` is set and the
/// wipe cannot hit a device Brickyard already manages.
pub(crate) async fn set_up_device(
    engine: &Engine,
    device: &DeviceRecord,
    host: &str,
    destroy: bool,
) -> Result<DeviceReport, OpError> {
    let path = &device.name;
    let failure = match engine.executor.device_setup(host, path, &device.id, false).await {
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
            let known = engine.store.scan::<DeviceRecord>()?;
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
    engine
        .executor
        .device_setup(host, path, &device.id, true)
        .await
        .map_err(|e| OpError::Internal(format!("Setup of device {path} failed: {e}")))
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AddDevice {
    pub device: DeviceRecord,
    pub host: String,
    pub destroy: bool,
}

#[async_trait]
impl Operation for AddDevice {
    fn name(&self) -> &'static str {
        "add-device"
    }

    fn changes(&self) -> Vec<Change> {
        vec![Change::new(&self.device.id, ChangeKind::AddDevice)]
    }

    async fn execute(&self, engine: &Engine, entry: &JournalEntry) -> Result<(), OpError> {
        let (planned, host, destroy) = (&self.device, self.host.as_str(), self.destroy);
        let report = set_up_device(engine, planned, host, destroy).await?;
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
        let committed = engine.commit(entry, QueueOutcome::NoContent, |tx| {
            if tx.get::<NodeRecord, OpError>(&device.node)?.is_none() {
                return Err(Abort::User(OpError::NotFound("Node id does not exist".into())));
            }
            tx.put(&device)?;
            tx.link(TreeName::NodeDevices, &device.node, &device.id)
        });
        if committed.is_err() {
            // Set up but not recorded: take it down again.
            if let Err(e) = engine.executor.device_teardown(host, &planned_handle(planned)).await {
                tracing::error!(device = %planned.id, error = %e, "teardown after a failed commit failed");
            }
        }
        committed
    }

    async fn direction(&self, _engine: &Engine) -> Result<Direction, OpError> {
        Ok(Direction::Back)
    }

    async fn undo(&self, engine: &Engine) -> Result<(), OpError> {
        Ok(engine
            .executor
            .device_teardown(&self.host, &planned_handle(&self.device))
            .await?)
    }

    fn release(&self, tx: &Tx<'_>, _entry: &JournalEntry) -> Result<(), Abort<OpError>> {
        release_name(tx, &self.device)
    }
}
