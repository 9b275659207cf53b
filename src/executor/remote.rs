//! The executor for real storage nodes: Heketi's command batches from
//! `commands`, run through any `Transport` (SSH, Kubernetes exec), with
//! Heketi's rules for what counts as success.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::commands::CommandConfig;
use super::parse::{self, PvRow};
use super::transport::{CommandOutput, StatsSnapshot, Transport, TransportError};
use super::{
    BrickSpec, CloneReport, DeviceHandle, DeviceReport, DeviceSetupError, ExecError, Executor, GlusterVolumeInfo,
    GlusterVolumeSpec, HealEntry, NodeInventory,
};

/// Batch timeouts, in minutes, as Heketi sets them.
const DEVICE_MINUTES: u64 = 5;
const BRICK_MINUTES: u64 = 10;

/// Why a batch stopped: the command and what it left, or why it never ran.
#[derive(Debug, Clone)]
struct Failure {
    command: String,
    output: Result<CommandOutput, TransportError>,
}

impl Failure {
    /// The command ran but its output made no sense.
    fn unreadable(command: impl Into<String>, why: String) -> Failure {
        Failure {
            command: command.into(),
            output: Ok(CommandOutput {
                status: 1,
                stdout: String::new(),
                stderr: why,
            }),
        }
    }
    /// Heketi's error text: stderr, else the transport's error.
    fn text(&self) -> String {
        match &self.output {
            Ok(out) if !out.stderr.trim().is_empty() => out.stderr.trim().to_string(),
            Ok(out) if !out.stdout.trim().is_empty() => out.stdout.trim().to_string(),
            Ok(out) => format!("exit status {}", out.status),
            Err(e) => e.0.clone(),
        }
    }
    fn unreachable(&self) -> bool {
        self.output.is_err()
    }
    fn mentions(&self, needle: &str) -> bool {
        self.text().to_lowercase().contains(needle)
    }
    fn into_error(self, host: &str, operation: &'static str) -> ExecError {
        let shown: String = self.command.chars().take(300).collect();
        ExecError {
            unreachable: self.unreachable(),
            ..ExecError::new(host, operation, format!("{host}: \"{shown}\" failed: {}", self.text()))
        }
    }
}

pub struct RemoteExecutor {
    transport: Arc<dyn Transport>,
    commands: CommandConfig,
    debug_umount_failures: bool,
    /// Per node: fstab edits one at a time. `sed -i` replaces the file, so
    /// two at once (or one beside an append) lose each other's change;
    /// Heketi ran one batch per node at a time, Brickyard runs several.
    fstab_locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl RemoteExecutor {
    pub fn new(transport: Arc<dyn Transport>, commands: CommandConfig, debug_umount_failures: bool) -> RemoteExecutor {
        RemoteExecutor {
            transport,
            commands,
            debug_umount_failures,
            fstab_locks: Default::default(),
        }
    }

    fn fstab_lock(&self, host: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.fstab_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(host.to_string()).or_default().clone()
    }

    /// Brick creation appends with `awk`, brick removal rewrites with `sed -i`.
    fn edits_fstab(&self, command: &str) -> bool {
        (command.starts_with("awk ") || command.starts_with("sed -i")) && command.contains(&self.commands.fstab)
    }

    /// Heketi's `CLI_EXEC_TIMEOUT`: the gluster CLI timeout plus slack.
    fn cli_minutes(&self) -> u64 {
        (1 + (self.commands.gluster_cli_timeout + 1) / 60).max(10)
    }

    /// Runs commands in order, stopping at the first that fails.
    async fn batch(&self, host: &str, commands: &[String], minutes: u64) -> Result<Vec<CommandOutput>, Failure> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(minutes * 60);
        let mut outputs = Vec::with_capacity(commands.len());
        for command in commands {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let fstab = if self.edits_fstab(command) {
                Some(self.fstab_lock(host).lock_owned().await)
            } else {
                None
            };
            let started = std::time::Instant::now();
            let result = if left.is_zero() {
                Err(TransportError(format!("timed out after {minutes} minutes")))
            } else {
                self.transport.run(host, command, left).await
            };
            drop(fstab);
            let took_ms = started.elapsed().as_secs_f64() * 1000.0;
            match result {
                Ok(out) if out.success() => {
                    tracing::debug!(host, command = command.as_str(), took_ms, "command succeeded");
                    outputs.push(out)
                }
                other => {
                    let failure = Failure {
                        command: command.clone(),
                        output: other,
                    };
                    // Some failures are expected (udevadm, umount of a gone brick): callers judge.
                    tracing::debug!(host, command = command.as_str(), error = %failure.text(), "command failed");
                    return Err(failure);
                }
            }
        }
        Ok(outputs)
    }

    async fn one(&self, host: &str, command: String, minutes: u64) -> Result<CommandOutput, Failure> {
        let mut outputs = self.batch(host, std::slice::from_ref(&command), minutes).await?;
        Ok(outputs.pop().unwrap_or_default())
    }

    /// The handle's PV UUID, looked up by VG name when it was never recorded.
    async fn upgrade_handle(&self, host: &str, device: &DeviceHandle) -> DeviceHandle {
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
    async fn device_handle(&self, host: &str, path: &str) -> Result<(PvRow, Vec<String>), Failure> {
        let out = self.one(host, self.commands.pvs_report(path), DEVICE_MINUTES).await?;
        let row = parse::pv_report(&out.stdout).map_err(|e| Failure::unreadable(self.commands.pvs_report(path), e))?;
        let links = self
            .one(host, self.commands.udev_symlinks(path), DEVICE_MINUTES)
            .await
            .map(|o| o.stdout)
            .unwrap_or_default();
        Ok((row, parse::device_paths(&links, path)))
    }

    async fn device_sizes(&self, host: &str, device_id: &str, path: &str) -> Result<DeviceReport, Failure> {
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

    /// Runs `commands` on the first candidate path that works.
    async fn on_device<T, F, Fut>(&self, device: &DeviceHandle, mut attempt: F) -> Result<T, Failure>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut last = None;
        for path in Self::candidate_paths(device) {
            match attempt(path).await {
                Ok(v) => return Ok(v),
                // Only a path that does not lead to the PV sends us to the next.
                Err(f) if !f.unreachable() && Self::path_missing(&f) => last = Some(f),
                Err(f) => return Err(f),
            }
        }
        Err(last.unwrap_or(Failure {
            command: String::new(),
            output: Err(TransportError(format!("device {} has no path", device.device_id))),
        }))
    }

    fn path_missing(f: &Failure) -> bool {
        [
            "not found",
            "no pv",
            "no device found",
            "failed to find",
            "no such file",
            "couldn't find",
        ]
        .iter()
        .any(|needle| f.mentions(needle))
    }

    async fn volume(&self, host: &str, name: &str) -> Result<Option<parse::GlusterVolume>, Failure> {
        let command = self.commands.volume_info(name);
        match self.one(host, command.clone(), self.cli_minutes()).await {
            Ok(out) => match parse::volume_info(&out.stdout) {
                Ok(mut vols) => Ok(vols.pop()),
                Err(e) if e.contains("does not exist") => Ok(None),
                Err(e) => Err(Failure::unreadable(command, e)),
            },
            Err(f) if f.mentions("does not exist") => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// A `--xml` gluster command: exit status and `opRet` both count.
    async fn gluster_xml(&self, host: &str, command: &str) -> Result<(), Failure> {
        let out = self.one(host, command.to_string(), self.cli_minutes()).await?;
        parse::cli_result(&out.stdout).map_err(|e| Failure::unreadable(command.to_string(), e))
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.transport.stats().snapshot()
    }
}

#[async_trait]
impl Executor for RemoteExecutor {
    async fn glusterd_check(&self, host: &str) -> Result<(), ExecError> {
        let command = self.commands.glusterd_check().remove(0);
        self.one(host, command, 10)
            .await
            .map(|_| ())
            .map_err(|f| f.into_error(host, "glusterd_check"))
    }

    async fn peer_probe(&self, exec_host: &str, storage_host: &str) -> Result<(), ExecError> {
        self.batch(exec_host, &self.commands.peer_probe(storage_host), self.cli_minutes())
            .await
            .map(|_| ())
            .map_err(|f| f.into_error(exec_host, "peer_probe"))
    }

    async fn peer_detach(&self, exec_host: &str, storage_host: &str) -> Result<(), ExecError> {
        self.batch(exec_host, &self.commands.peer_detach(storage_host), self.cli_minutes())
            .await
            .map(|_| ())
            .map_err(|f| f.into_error(exec_host, "peer_detach"))
    }

    async fn device_setup(
        &self,
        host: &str,
        path: &str,
        device_id: &str,
        destroy: bool,
    ) -> Result<DeviceReport, DeviceSetupError> {
        let setup = self.commands.device_setup(path, device_id, destroy);
        if let Err(failure) = self.batch(host, &setup, DEVICE_MINUTES).await {
            let error = failure.clone().into_error(host, "device_setup");
            if failure.unreachable() {
                return Err(DeviceSetupError::Unreachable(error));
            }
            return Err(match self.device_handle(host, path).await {
                Ok((row, _)) => DeviceSetupError::HasPhysicalVolume {
                    pv_uuid: row.pv_uuid,
                    error,
                },
                Err(f) if f.unreachable() => DeviceSetupError::Unreachable(error),
                Err(_) => DeviceSetupError::HasData(error),
            });
        }
        match self.device_sizes(host, device_id, path).await {
            Ok(report) => Ok(report),
            Err(failure) => {
                let handle = DeviceHandle {
                    device_id: device_id.to_string(),
                    pv_uuid: String::new(),
                    paths: vec![path.to_string()],
                };
                if let Err(e) = self.device_teardown(host, &handle).await {
                    tracing::warn!(host, path, "cleanup after a failed device setup failed: {e}");
                }
                let error = failure.clone().into_error(host, "device_setup");
                Err(if failure.unreachable() {
                    DeviceSetupError::Unreachable(error)
                } else {
                    DeviceSetupError::HasData(error)
                })
            }
        }
    }

    async fn device_info(&self, host: &str, device: &DeviceHandle) -> Result<DeviceReport, ExecError> {
        let handle = self.upgrade_handle(host, device).await;
        self.on_device(&handle, |path| async move {
            self.device_sizes(host, &device.device_id, &path).await
        })
        .await
        .map_err(|f| f.into_error(host, "device_info"))
    }

    async fn device_teardown(&self, host: &str, device: &DeviceHandle) -> Result<(), ExecError> {
        let handle = self.upgrade_handle(host, device).await;
        let vg = self.commands.vgremove(&device.device_id);
        if let Err(f) = self.one(host, vg, DEVICE_MINUTES).await {
            // A volume group already gone is what teardown wants.
            if f.unreachable() || !f.mentions("not found") {
                return Err(f.into_error(host, "device_teardown"));
            }
        }
        let removed = self
            .on_device(&handle, |path| async move {
                self.one(host, self.commands.pvremove(&path), DEVICE_MINUTES)
                    .await
                    .map(|_| ())
            })
            .await;
        if let Err(f) = removed {
            // Every path says the PV is gone: that is what teardown wants.
            if f.unreachable() || !Self::path_missing(&f) {
                return Err(f.into_error(host, "device_teardown"));
            }
        }
        if let Err(f) = self
            .one(host, self.commands.device_dir_remove(&device.device_id), DEVICE_MINUTES)
            .await
        {
            if !f.mentions("no such file or directory") {
                tracing::warn!(host, "{}", f.text());
            }
        }
        Ok(())
    }

    async fn device_forget(&self, host: &str, device: &DeviceHandle) {
        let handle = self.upgrade_handle(host, device).await;
        let _ = self
            .one(host, self.commands.device_dir_remove(&device.device_id), DEVICE_MINUTES)
            .await;
        let _ = self
            .one(host, self.commands.vgremove(&device.device_id), DEVICE_MINUTES)
            .await;
        let _ = self
            .one(host, self.commands.pvremove(&handle.primary_path()), DEVICE_MINUTES)
            .await;
    }

    async fn brick_create(&self, host: &str, brick: &BrickSpec) -> Result<(), ExecError> {
        let commands = self.commands.brick_create(brick);
        match self.batch(host, &commands, BRICK_MINUTES).await {
            Ok(_) => Ok(()),
            Err(failure) => {
                // Heketi cleans up at once; with the mount point, not the brick path.
                if let Err(e) = self.brick_destroy(host, brick).await {
                    tracing::warn!(host, brick = brick.brick_id, "cleanup of a failed brick failed: {e}");
                }
                Err(failure.into_error(host, "brick_create"))
            }
        }
    }

    async fn brick_destroy(&self, host: &str, brick: &BrickSpec) -> Result<bool, ExecError> {
        let mnt = brick.mount_point();
        let steps = self.commands.brick_destroy_steps(brick);
        let mut umount_error = None;
        if let Err(f) = self.one(host, steps.umount.clone(), DEVICE_MINUTES).await {
            if f.unreachable() {
                return Err(f.into_error(host, "brick_destroy"));
            }
            let still_mounted = match self.one(host, "mount".into(), DEVICE_MINUTES).await {
                Ok(out) => out.stdout.split_whitespace().any(|w| w == mnt),
                Err(_) => true,
            };
            if still_mounted {
                if self.debug_umount_failures {
                    if let Ok(out) = self.one(host, self.commands.lsof(&mnt), DEVICE_MINUTES).await {
                        tracing::warn!(host, mount = mnt, "files still open: {}", out.stdout);
                    }
                }
                umount_error = Some(f);
            }
        }
        // fstab first: a crash must never leave a line pointing at a removed LV.
        if let Some(fstab) = &steps.fstab {
            if let Err(f) = self.one(host, fstab.clone(), DEVICE_MINUTES).await {
                return Err(f.into_error(host, "brick_destroy"));
            }
        }
        if let Some(f) = umount_error {
            return Err(f.into_error(host, "brick_destroy"));
        }
        if let Err(f) = self.one(host, steps.lv_remove.clone(), DEVICE_MINUTES).await {
            if f.unreachable() || !(f.mentions("not found") || f.mentions("failed to find")) {
                return Err(f.into_error(host, "brick_destroy"));
            }
        }
        let count = match self.one(host, steps.thin_count.clone(), DEVICE_MINUTES).await {
            Ok(out) => parse::thin_count(&out.stdout).map_err(|e| {
                ExecError::new(
                    host,
                    "brick_destroy",
                    format!(
                        "Unable to determine number of logical volumes in thin pool {}: {e}",
                        brick.thin_pool
                    ),
                )
            })?,
            Err(f) if !f.unreachable() && (f.mentions("not found") || f.mentions("failed to find")) => 0,
            Err(f) => {
                return Err(ExecError::new(
                    host,
                    "brick_destroy",
                    format!(
                        "Unable to determine number of logical volumes in thin pool {}: {}",
                        brick.thin_pool,
                        f.text()
                    ),
                ))
            }
        };
        let mut reclaimed = false;
        if count == 0 {
            match self.one(host, steps.pool_remove.clone(), DEVICE_MINUTES).await {
                Ok(_) => reclaimed = true,
                Err(f) if !f.unreachable() && (f.mentions("not found") || f.mentions("failed to find")) => {
                    reclaimed = true
                }
                Err(f) => tracing::warn!(host, pool = brick.thin_pool, "thin pool kept: {}", f.text()),
            }
        }
        if let Err(f) = self.one(host, steps.rmdir.clone(), DEVICE_MINUTES).await {
            if !f.mentions("no such file or directory") {
                tracing::warn!(host, mount = mnt, "{}", f.text());
            }
        }
        Ok(reclaimed)
    }

    async fn volume_create(&self, host: &str, volume: &GlusterVolumeSpec) -> Result<(), ExecError> {
        let commands = self.commands.volume_create(volume);
        let Err(failure) = self.batch(host, &commands, self.cli_minutes()).await else {
            return Ok(());
        };
        // A retried create finds its own volume: finish it instead of failing.
        let retried = failure.command == commands[0] && failure.mentions("already exists");
        if !retried {
            return Err(failure.into_error(host, "volume_create"));
        }
        match self.volume(host, &volume.name).await {
            Ok(Some(existing)) if existing.bricks == volume.bricks => {}
            _ => return Err(failure.into_error(host, "volume_create")),
        }
        let rest: Vec<String> = commands
            .into_iter()
            .filter(|c| c.contains(" volume set ") || c.contains(" volume start "))
            .collect();
        match self.batch(host, &rest, self.cli_minutes()).await {
            Err(f) if !f.mentions("already started") => Err(f.into_error(host, "volume_create")),
            _ => Ok(()),
        }
    }

    async fn volume_expand(&self, host: &str, volume: &GlusterVolumeSpec) -> Result<(), ExecError> {
        let present = self
            .volume(host, &volume.name)
            .await
            .map_err(|f| f.into_error(host, "volume_expand"))?
            .map(|v| v.bricks)
            .unwrap_or_default();
        let spec = GlusterVolumeSpec {
            bricks: volume.bricks.iter().filter(|b| !present.contains(b)).cloned().collect(),
            ..volume.clone()
        };
        if spec.bricks.is_empty() {
            return Ok(());
        }
        let (add, rebalance) = self.commands.volume_expand_steps(&spec);
        self.batch(host, &add, self.cli_minutes())
            .await
            .map_err(|f| f.into_error(host, "volume_expand"))?;
        if let Some(rebalance) = rebalance {
            if let Err(f) = self.one(host, rebalance, self.cli_minutes()).await {
                tracing::warn!(
                    host,
                    volume = volume.name,
                    "rebalance failed, run it manually: {}",
                    f.text()
                );
            }
        }
        Ok(())
    }

    async fn volume_destroy(&self, host: &str, name: &str) -> Result<(), ExecError> {
        let commands = self.commands.volume_destroy(name);
        if let Err(f) = self.one(host, commands[0].clone(), self.cli_minutes()).await {
            if f.unreachable() {
                return Err(f.into_error(host, "volume_destroy"));
            }
            tracing::info!(host, volume = name, "volume stop: {}", f.text());
        }
        match self.one(host, commands[1].clone(), self.cli_minutes()).await {
            Err(f) if !(f.mentions("does not exist")) => Err(f.into_error(host, "volume_destroy")),
            _ => Ok(()),
        }
    }

    async fn volume_info(&self, host: &str, name: &str) -> Result<Option<GlusterVolumeInfo>, ExecError> {
        self.volume(host, name)
            .await
            .map(|v| {
                v.map(|v| GlusterVolumeInfo {
                    id: v.id.replace('-', ""),
                    bricks: v.bricks,
                })
            })
            .map_err(|f| f.into_error(host, "volume_info"))
    }

    async fn gluster_volumes(&self, host: &str) -> Result<Vec<(String, GlusterVolumeInfo)>, ExecError> {
        let command = self.commands.volume_info_all();
        let out = self
            .one(host, command.clone(), self.cli_minutes())
            .await
            .map_err(|f| f.into_error(host, "volume_info"))?;
        let volumes = parse::volume_info(&out.stdout)
            .map_err(|e| Failure::unreadable(command, e).into_error(host, "volume_info"))?;
        Ok(volumes
            .into_iter()
            .map(|v| {
                let info = GlusterVolumeInfo {
                    id: v.id.replace('-', ""),
                    bricks: v.bricks,
                };
                (v.name, info)
            })
            .collect())
    }

    async fn node_inventory(&self, host: &str) -> Result<NodeInventory, ExecError> {
        let [lvs, mounts, fstab] = self.commands.inventory();
        let run = |command: String| async move {
            self.one(host, command, DEVICE_MINUTES)
                .await
                .map_err(|f| f.into_error(host, "node_inventory"))
        };
        let lv_out = run(lvs.clone()).await?;
        let lvs = parse::lv_report(&lv_out.stdout)
            .map_err(|e| Failure::unreadable(lvs, e).into_error(host, "node_inventory"))?;
        let mounts = parse::brick_mounts(&run(mounts).await?.stdout);
        // A node without an fstab has no brick lines in it.
        let fstab = match self.one(host, fstab, DEVICE_MINUTES).await {
            Ok(out) => parse::brick_fstab_lines(&out.stdout),
            Err(f) if !f.unreachable() && f.mentions("No such file") => Vec::new(),
            Err(f) => return Err(f.into_error(host, "node_inventory")),
        };
        Ok(NodeInventory { lvs, mounts, fstab })
    }

    async fn snapshot_destroy(&self, host: &str, snapshot: &str) -> Result<(), ExecError> {
        let [deactivate, delete] = self.commands.snapshot_destroy(snapshot);
        // Deactivating an inactive snapshot fails; only the delete decides.
        if let Err(f) = self.one(host, deactivate, self.cli_minutes()).await {
            if f.unreachable() {
                return Err(f.into_error(host, "snapshot_destroy"));
            }
        }
        match self.one(host, delete, self.cli_minutes()).await {
            Err(f) if !f.mentions("does not exist") => Err(f.into_error(host, "snapshot_destroy")),
            _ => Ok(()),
        }
    }

    async fn heal_info(&self, host: &str, name: &str) -> Result<Vec<HealEntry>, ExecError> {
        let command = self.commands.heal_info(name);
        let out = self
            .one(host, command.clone(), self.cli_minutes())
            .await
            .map_err(|f| f.into_error(host, "heal_info"))?;
        parse::heal_info(&out.stdout).map_err(|e| Failure::unreadable(command, e).into_error(host, "heal_info"))
    }

    async fn heal_start(&self, host: &str, name: &str) -> Result<(), ExecError> {
        self.one(host, self.commands.heal_start(name), self.cli_minutes())
            .await
            .map(|_| ())
            .map_err(|f| f.into_error(host, "heal_start"))
    }

    async fn brick_replace(&self, host: &str, volume: &str, old: &str, new: &str) -> Result<(), ExecError> {
        let command = self.commands.brick_replace(volume, old, new);
        self.one(host, command, self.cli_minutes())
            .await
            .map(|_| ())
            .map_err(|f| f.into_error(host, "brick_replace"))
    }

    async fn volume_clone(
        &self,
        host: &str,
        source: &str,
        clone: &str,
        snapshot: &str,
    ) -> Result<CloneReport, ExecError> {
        let [create, activate, make_clone, start, deactivate, delete] =
            self.commands.volume_clone(source, clone, snapshot);
        let err = |f: Failure| f.into_error(host, "volume_clone");
        self.gluster_xml(host, &create).await.map_err(err)?;
        let cloned = async {
            self.gluster_xml(host, &activate).await?;
            self.gluster_xml(host, &make_clone).await?;
            // A clone that will not start is left for the caller's undo,
            // which records its bricks first: gluster's own delete of a
            // clone leaves the clone's LVs and mounts behind.
            self.gluster_xml(host, &start).await
        }
        .await;
        let _ = self.gluster_xml(host, &deactivate).await;
        let _ = self.gluster_xml(host, &delete).await;
        cloned.map_err(err)?;
        let info = self
            .volume(host, clone)
            .await
            .map_err(err)?
            .ok_or_else(|| ExecError::new(host, "volume_clone", format!("clone {clone} vanished after start")))?;
        Ok(CloneReport {
            gluster_id: info.id.replace('-', ""),
            bricks: info.bricks,
        })
    }

    fn transport_stats(&self) -> Option<StatsSnapshot> {
        Some(self.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::transport::TransportStats;
    use std::sync::Mutex;

    /// Answers commands by the first rule whose text the command contains;
    /// anything else succeeds silently. Records every command.
    #[derive(Default)]
    struct Scripted {
        rules: Vec<(&'static str, Result<CommandOutput, TransportError>)>,
        seen: Mutex<Vec<String>>,
        stats: TransportStats,
    }

    fn out(status: u32, stdout: &str, stderr: &str) -> Result<CommandOutput, TransportError> {
        Ok(CommandOutput {
            status,
            stdout: stdout.into(),
            stderr: stderr.into(),
        })
    }

    #[async_trait]
    impl Transport for Scripted {
        async fn run(&self, _host: &str, command: &str, _t: Duration) -> Result<CommandOutput, TransportError> {
            self.seen.lock().unwrap().push(command.to_string());
            self.rules
                .iter()
                .find(|(needle, _)| command.contains(needle))
                .map(|(_, r)| r.clone())
                .unwrap_or_else(|| out(0, "", ""))
        }
        fn stats(&self) -> &TransportStats {
            &self.stats
        }
    }

    fn executor(rules: Vec<(&'static str, Result<CommandOutput, TransportError>)>) -> (RemoteExecutor, Arc<Scripted>) {
        let transport = Arc::new(Scripted {
            rules,
            ..Default::default()
        });
        (
            RemoteExecutor::new(transport.clone(), CommandConfig::default(), false),
            transport,
        )
    }

    fn brick() -> BrickSpec {
        BrickSpec {
            device_id: "d1".into(),
            brick_id: "b1".into(),
            thin_pool: "tp_b1".into(),
            lv: "brick_b1".into(),
            size_kib: 1024,
            tp_kib: 1024,
            meta_kib: 8192,
            gid: 0,
            arbiter: false,
            path: crate::executor::brick_path("d1", "b1"),
        }
    }

    const PVS: &str = r#"{"report":[{"pv":[{"pv_name":"/dev/sdb","pv_uuid":"U-1","vg_name":"vg_d1"}]}]}"#;
    const VGDISPLAY: &str = "vg_d1:r/w:772:-1:0:0:0:-1:0:1:1:8253440:4096:100:10:90:x";

    #[tokio::test]
    async fn device_setup_reads_sizes_and_paths() {
        let (ex, t) = executor(vec![
            ("pvs -o", out(0, PVS, "")),
            ("udevadm", out(0, "disk/by-id/wwn-1 disk/by-id/lvm-pv-uuid-U-1", "")),
            ("vgdisplay", out(0, VGDISPLAY, "")),
        ]);
        let report = ex.device_setup("n1", "/dev/sdb", "d1", false).await.unwrap();
        assert_eq!((report.total, report.used, report.free), (409_600, 40_960, 368_640));
        assert_eq!(report.pv_uuid, "U-1");
        assert_eq!(report.paths, ["/dev/disk/by-id/wwn-1", "/dev/sdb"]);
        assert!(t.seen.lock().unwrap()[0].contains("pvcreate"));
    }

    #[tokio::test]
    async fn device_setup_failures_are_classified() {
        let (ex, _) = executor(vec![
            ("pvcreate", out(5, "", "Can't open /dev/sdb exclusively.")),
            ("pvs -o", out(0, PVS, "")),
        ]);
        match ex.device_setup("n1", "/dev/sdb", "d1", false).await {
            Err(DeviceSetupError::HasPhysicalVolume { pv_uuid, error }) => {
                assert_eq!(pv_uuid, "U-1");
                assert!(error.message.contains("n1") && error.message.contains("pvcreate"));
                assert!(error.message.ends_with("Can't open /dev/sdb exclusively."));
            }
            other => panic!("unexpected {other:?}"),
        }
        let (ex, _) = executor(vec![
            ("pvcreate", out(5, "", "wrong fs type")),
            ("pvs -o", out(5, "", "Failed to find")),
        ]);
        assert!(matches!(
            ex.device_setup("n1", "/dev/sdb", "d1", false).await,
            Err(DeviceSetupError::HasData(_))
        ));
        let (ex, _) = executor(vec![("pvcreate", Err(TransportError("connection refused".into())))]);
        assert!(matches!(
            ex.device_setup("n1", "/dev/sdb", "d1", false).await,
            Err(DeviceSetupError::Unreachable(_))
        ));
    }

    #[tokio::test]
    async fn a_failed_brick_create_stops_and_cleans_up_with_the_mount_point() {
        let (ex, t) = executor(vec![
            ("mkfs.xfs", out(1, "", "mkfs failed")),
            ("thin_count", out(0, "  0\n", "")),
        ]);
        let err = ex.brick_create("n1", &brick()).await.unwrap_err();
        assert!(err.message.contains("mkfs failed"), "{err}");
        let seen = t.seen.lock().unwrap().clone();
        let mkfs = seen.iter().position(|c| c.starts_with("mkfs.xfs")).unwrap();
        assert!(
            !seen[..=mkfs].iter().any(|c| c.starts_with("mount ")),
            "batch went on after the failure"
        );
        assert_eq!(seen[mkfs + 1], format!("umount {}", brick().mount_point()));
        assert!(seen.iter().any(|c| c.ends_with("-f vg_d1/tp_b1")));
    }

    #[tokio::test]
    async fn brick_destroy_reclaims_only_an_empty_pool() {
        let (ex, t) = executor(vec![("thin_count", out(0, "  1\n", ""))]);
        assert!(!ex.brick_destroy("n1", &brick()).await.unwrap());
        assert!(!t
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.ends_with("vg_d1/tp_b1") && c.contains("lvremove")));
        let (ex, _) = executor(vec![
            (
                "thin_count",
                out(5, "", "Failed to find logical volume \"vg_d1/tp_b1\""),
            ),
            (
                "lvremove",
                out(5, "", "Failed to find logical volume \"vg_d1/brick_b1\""),
            ),
        ]);
        assert!(
            ex.brick_destroy("n1", &brick()).await.unwrap(),
            "a brick already gone is removed"
        );
    }

    #[tokio::test]
    async fn brick_destroy_of_an_unmounted_brick_goes_on_but_a_busy_one_stops() {
        let (ex, _) = executor(vec![
            ("umount", out(32, "", "not mounted")),
            ("mount", out(0, "/dev/sda1 on / type xfs (rw)\n", "")),
            ("thin_count", out(0, "0", "")),
        ]);
        assert!(ex.brick_destroy("n1", &brick()).await.unwrap());
        let mnt = brick().mount_point();
        let mounts: &'static str = Box::leak(format!("/dev/loop1 on {mnt} type xfs (rw)\n").into_boxed_str());
        let (ex, t) = executor(vec![
            ("umount", out(32, "", "target is busy")),
            ("mount", out(0, mounts, "")),
        ]);
        let err = ex.brick_destroy("n1", &brick()).await.unwrap_err();
        assert!(err.message.contains("target is busy"));
        let seen = t.seen.lock().unwrap().clone();
        assert!(
            seen.iter().any(|c| c.starts_with("sed -i.save")),
            "fstab line removed first"
        );
        assert!(!seen.iter().any(|c| c.contains("lvremove")), "LVs kept while mounted");
    }

    /// Records how many fstab edits overlap on one node.
    #[derive(Default)]
    struct Overlap {
        inside: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
        stats: TransportStats,
    }

    #[async_trait]
    impl Transport for Overlap {
        async fn run(&self, _host: &str, command: &str, _t: Duration) -> Result<CommandOutput, TransportError> {
            use std::sync::atomic::Ordering::SeqCst;
            if command.starts_with("sed -i") || command.starts_with("awk ") {
                let now = self.inside.fetch_add(1, SeqCst) + 1;
                self.most.fetch_max(now, SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.inside.fetch_sub(1, SeqCst);
            }
            let stdout = if command.contains("thin_count") { "0" } else { "" };
            out(0, stdout, "")
        }
        fn stats(&self) -> &TransportStats {
            &self.stats
        }
    }

    #[tokio::test]
    async fn fstab_edits_on_one_node_never_overlap() {
        let transport = Arc::new(Overlap::default());
        let ex = RemoteExecutor::new(transport.clone(), CommandConfig::default(), false);
        let bricks: Vec<BrickSpec> = (0..4)
            .map(|i| BrickSpec {
                brick_id: format!("b{i}"),
                lv: format!("brick_b{i}"),
                thin_pool: format!("tp_b{i}"),
                path: crate::executor::brick_path("d1", &format!("b{i}")),
                ..brick()
            })
            .collect();
        let creates = bricks.iter().map(|b| ex.brick_create("n1", b));
        for r in futures::future::join_all(creates).await {
            r.unwrap();
        }
        let destroys = bricks.iter().map(|b| ex.brick_destroy("n1", b));
        for r in futures::future::join_all(destroys).await {
            r.unwrap();
        }
        assert_eq!(transport.most.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn volume_destroy_accepts_a_missing_volume() {
        let (ex, _) = executor(vec![
            (
                "volume stop",
                out(1, "", "volume stop: v: failed: Volume v does not exist"),
            ),
            (
                "volume delete",
                out(1, "", "volume delete: v: failed: Volume v does not exist"),
            ),
        ]);
        ex.volume_destroy("n1", "v").await.unwrap();
        let (ex, _) = executor(vec![(
            "volume delete",
            out(1, "", "Another transaction is in progress"),
        )]);
        assert!(ex
            .volume_destroy("n1", "v")
            .await
            .unwrap_err()
            .message
            .contains("Another transaction"));
    }

    #[tokio::test]
    async fn volume_expand_skips_bricks_already_added() {
        let info: &'static str = "<cliOutput><opRet>0</opRet><opErrstr/><volInfo><volumes><volume><name>v</name><id>i</id><bricks><brick><name>h1:/b/1</name></brick></bricks></volume></volumes></volInfo></cliOutput>";
        let (ex, t) = executor(vec![("volume info", out(0, info, ""))]);
        let spec = GlusterVolumeSpec {
            name: "v".into(),
            layout: super::super::VolumeLayout::Distribute,
            bricks: vec!["h1:/b/1".into(), "h2:/b/2".into()],
            options: vec![],
        };
        ex.volume_expand("n1", &spec).await.unwrap();
        let seen = t.seen.lock().unwrap().clone();
        let add: Vec<&String> = seen.iter().filter(|c| c.contains("add-brick")).collect();
        assert_eq!(add.len(), 1);
        assert!(add[0].ends_with("add-brick v h2:/b/2 "), "{}", add[0]);
        assert!(seen.last().unwrap().contains("rebalance v start"));
    }
}
