//! The executor: what Brickyard asks of storage nodes. Transports (mock now;
//! SSH and Kubernetes exec later) implement one trait; command lines will live
//! in `commands/`, apart from the transports.

pub mod mock;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A failed call on a storage node. The message is what reaches the user.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{message}")]
pub struct ExecError {
    pub host: String,
    pub operation: &'static str,
    pub message: String,
}

impl ExecError {
    pub fn new(host: &str, operation: &'static str, message: impl Into<String>) -> ExecError {
        ExecError {
            host: host.to_string(),
            operation,
            message: message.into(),
        }
    }
}

/// Why a device could not be initialised; decides whether a wipe is safe.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum DeviceSetupError {
    /// The node could not even be asked about the device.
    #[error("{0}")]
    Unreachable(ExecError),
    /// The device already carries an LVM physical volume.
    #[error("{error}")]
    HasPhysicalVolume { pv_uuid: String, error: ExecError },
    /// The device holds something else (a filesystem, a partition table).
    #[error("{0}")]
    HasData(ExecError),
}

/// How to find a device's LVM objects on its node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceHandle {
    /// The device id, which names the volume group `vg_<id>`.
    pub device_id: String,
    pub pv_uuid: String,
    pub paths: Vec<String>,
}

impl DeviceHandle {
    pub fn vg_name(&self) -> String {
        format!("vg_{}", self.device_id)
    }
    /// The path operations use: the PV's by-uuid link when known, else the first path.
    pub fn primary_path(&self) -> String {
        if !self.pv_uuid.is_empty() {
            format!("/dev/disk/by-id/lvm-pv-uuid-{}", self.pv_uuid)
        } else {
            self.paths.first().cloned().unwrap_or_default()
        }
    }
}

/// Sizes and identity of an initialised device, all sizes in KiB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceReport {
    pub total: u64,
    pub free: u64,
    pub used: u64,
    pub extent_size: u64,
    pub pv_uuid: String,
    pub paths: Vec<String>,
}

#[async_trait]
pub trait Executor: Send + Sync {
    /// Is glusterd running on `host`?
    async fn glusterd_check(&self, host: &str) -> Result<(), ExecError>;
    /// From `exec_host`, add `storage_host` to the trusted pool.
    async fn peer_probe(&self, exec_host: &str, storage_host: &str) -> Result<(), ExecError>;
    /// From `exec_host`, drop `storage_host` from the pool. Failures are only logged.
    async fn peer_detach(&self, exec_host: &str, storage_host: &str) -> Result<(), ExecError>;
    /// pvcreate + vgcreate `vg_<device_id>` on `path`, wiping first when `destroy`.
    async fn device_setup(
        &self,
        host: &str,
        path: &str,
        device_id: &str,
        destroy: bool,
    ) -> Result<DeviceReport, DeviceSetupError>;
    /// Re-reads a device's sizes from LVM.
    async fn device_info(
        &self,
        host: &str,
        device: &DeviceHandle,
    ) -> Result<DeviceReport, ExecError>;
    /// vgremove + pvremove. A device already gone counts as removed.
    async fn device_teardown(&self, host: &str, device: &DeviceHandle) -> Result<(), ExecError>;
    /// Best-effort teardown that never fails.
    async fn device_forget(&self, host: &str, device: &DeviceHandle);
}
