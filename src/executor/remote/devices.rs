//! Finding a device's PV on its node: the handle's UUID when it was never
//! recorded, the paths to try (the PV's by-uuid link first, as Heketi
//! does), and the sizes LVM reports for it.

use super::failure::Failure;
use super::{RemoteExecutor, DEVICE_MINUTES};
use crate::executor::parse::{self, PvRow};
use crate::executor::transport::TransportError;
use crate::executor::{DeviceHandle, DeviceReport};

impl RemoteExecutor {
    /// The handle's PV UUID, looked up by VG name when it was never recorded.
    pub(super) async fn upgrade_handle(&self, host: &str, device: &DeviceHandle) -> DeviceHandle {
        let mut handle = device.clone();
        if handle.pv_uuid.is_empty() {
            let command = self.commands.vgs_report(&device.device_id);
            match self
                .one(host, command, DEVICE_MINUTES)
                .await
                .map(|o| parse::pv_report(&o.stdout))
            {
                Ok(Ok(row)) => handle.pv_uuid = row.pv_uuid,
                Ok(Err(e)) => tracing::warn!(host, device = device.device_id, "no PV UUID: {e}"),
                Err(f) => tracing::warn!(host, device = device.device_id, "no PV UUID: {}", f.text()),
            }
        }
        handle
    }

    /// Paths to try for a device: the PV's by-uuid link first, as Heketi
    /// does, then the recorded paths for nodes without udev's links.
    fn candidate_paths(device: &DeviceHandle) -> Vec<String> {
        let mut paths = vec![device.primary_path()];
        for p in &device.paths {
            if !paths.contains(p) {
                paths.push(p.clone());
            }
        }
        paths.retain(|p| !p.is_empty());
        paths
    }

    /// PV row and device paths for `path`; udevadm may fail.
    pub(super) async fn device_handle(&self, host: &str, path: &str) -> Result<(PvRow, Vec<String>), Failure> {
        let out = self.one(host, self.commands.pvs_report(path), DEVICE_MINUTES).await?;
        let row = parse::pv_report(&out.stdout).map_err(|e| Failure::unreadable(self.commands.pvs_report(path), e))?;
        let links = self
            .one(host, self.commands.udev_symlinks(path), DEVICE_MINUTES)
            .await
            .map(|o| o.stdout)
            .unwrap_or_default();
        Ok((row, parse::device_paths(&links, path)))
    }

    pub(super) async fn device_sizes(&self, host: &str, device_id: &str, path: &str) -> Result<DeviceReport, Failure> {
        let (row, paths) = self.device_handle(host, path).await?;
        let command = self.commands.vgdisplay(device_id);
        let out = self.one(host, command.clone(), DEVICE_MINUTES).await?;
        let sizes = parse::vgdisplay(&out.stdout).map_err(|e| Failure::unreadable(command, e))?;
        Ok(DeviceReport {
            total: sizes.total,
            free: sizes.free,
            used: sizes.used,
            extent_size: sizes.extent_size,
            pv_uuid: row.pv_uuid,
            paths,
        })
    }

    /// Runs `attempt` on the first candidate path that works.
    pub(super) async fn on_device<T, F, Fut>(&self, device: &DeviceHandle, mut attempt: F) -> Result<T, Failure>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut last = None;
        for path in Self::candidate_paths(device) {
            match attempt(path).await {
                Ok(v) => return Ok(v),
                // Only a path that does not lead to the PV sends us to the next.
                Err(f) if !f.unreachable() && f.path_missing() => last = Some(f),
                Err(f) => return Err(f),
            }
        }
        Err(last.unwrap_or(Failure::untried(TransportError::unreachable(format!(
            "device {} has no path",
            device.device_id
        )))))
    }
}
