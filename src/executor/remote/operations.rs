//! The `Executor` for real nodes, one method per operation: Heketi's
//! batches from `commands`, and its rules for what counts as done (a
//! volume group, LV or volume already gone, a volume already created by an
//! earlier try).

use async_trait::async_trait;

use super::failure::{Failure, Outcome};
use super::{RemoteExecutor, BRICK_MINUTES, DEVICE_MINUTES};
use crate::executor::commands::{Command, LvmReportKind, Touches};
use crate::executor::examine::{BricksMountStatus, LvmRows, VolInfo};
use crate::executor::parse::{self, Said};
use crate::executor::transport::StatsSnapshot;
use crate::executor::{
    BlockVolumeCreated, BlockVolumeReport, BlockVolumeSpec, BrickSpec, CloneReport, DeviceHandle, DeviceReport,
    DeviceSetupError, ExecError, Executor, GlusterVolumeInfo, GlusterVolumeSpec, HealEntry, NodeInventory,
};

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
            let error = failure.into_error(host, "device_setup");
            if error.unreachable {
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
                let error = failure.into_error(host, "device_setup");
                Err(if error.unreachable {
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
            if f.unreachable() || !f.says(Said::NotFound) {
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
            if f.unreachable() || !f.path_missing() {
                return Err(f.into_error(host, "device_teardown"));
            }
        }
        if let Err(f) = self
            .one(host, self.commands.device_dir_remove(&device.device_id), DEVICE_MINUTES)
            .await
        {
            if !f.says(Said::NoSuchFileOrDirectory) {
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

    async fn brick_fstab_append(&self, host: &str, brick: &BrickSpec) -> Result<(), ExecError> {
        let fail = |f: Failure| f.into_error(host, "brick_fstab_append");
        let mnt = brick.mount_point();
        let fstab = self
            .one(host, self.commands.fstab_read(), DEVICE_MINUTES)
            .await
            .map_err(fail)?;
        if fstab
            .stdout
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(mnt.as_str()))
        {
            return Ok(());
        }
        self.one(host, self.commands.fstab_append(brick), DEVICE_MINUTES)
            .await
            .map(|_| ())
            .map_err(fail)
    }

    async fn brick_destroy(&self, host: &str, brick: &BrickSpec) -> Result<bool, ExecError> {
        let mnt = brick.mount_point();
        let steps = self.commands.brick_destroy_steps(brick);
        let mut umount_error = None;
        if let Err(f) = self.one(host, steps.umount.clone(), DEVICE_MINUTES).await {
            if f.unreachable() {
                return Err(f.into_error(host, "brick_destroy"));
            }
            let still_mounted = match self.one(host, self.commands.mounts(), DEVICE_MINUTES).await {
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
            if f.unreachable() || !f.lv_gone() {
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
            Err(f) if !f.unreachable() && f.lv_gone() => 0,
            Err(f) => {
                return Err(ExecError {
                    timed_out: f.timed_out(),
                    ..ExecError::new(
                        host,
                        "brick_destroy",
                        format!(
                            "Unable to determine number of logical volumes in thin pool {}: {}",
                            brick.thin_pool,
                            f.text()
                        ),
                    )
                })
            }
        };
        let mut reclaimed = false;
        if count == 0 {
            match self.one(host, steps.pool_remove.clone(), DEVICE_MINUTES).await {
                Ok(_) => reclaimed = true,
                Err(f) if !f.unreachable() && f.lv_gone() => reclaimed = true,
                Err(f) => tracing::warn!(host, pool = brick.thin_pool, "thin pool kept: {}", f.text()),
            }
        }
        if let Err(f) = self.one(host, steps.rmdir.clone(), DEVICE_MINUTES).await {
            if !f.says(Said::NoSuchFileOrDirectory) {
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
        let retried = failure
            .command
            .as_ref()
            .is_some_and(|c| c.touches == Touches::VolumeCreate)
            && failure.says(Said::AlreadyExists);
        if !retried {
            return Err(failure.into_error(host, "volume_create"));
        }
        match self.volume(host, &volume.name).await {
            Ok(Some(existing)) if existing.bricks == volume.bricks => {}
            _ => return Err(failure.into_error(host, "volume_create")),
        }
        let rest: Vec<Command> = commands
            .into_iter()
            .filter(|c| matches!(c.touches, Touches::VolumeOption | Touches::VolumeStart))
            .collect();
        match self.batch(host, &rest, self.cli_minutes()).await {
            Err(f) if !f.says(Said::AlreadyStarted) => Err(f.into_error(host, "volume_create")),
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
            Err(f) if !f.says(Said::DoesNotExist) => Err(f.into_error(host, "volume_destroy")),
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
        let [lvs, mounts, fstab, dirs] = self.commands.inventory();
        let run = |command: Command| async move {
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
            Err(f) if !f.unreachable() && f.says(Said::NoSuchFileOrDirectory) => Vec::new(),
            Err(f) => return Err(f.into_error(host, "node_inventory")),
        };
        // `find` lists all it could: a root not made yet, or an entry gone
        // while it looked (a brick being deleted), only leaves names out.
        let brick_dirs = match self.one(host, dirs, DEVICE_MINUTES).await {
            Ok(out) => parse::brick_dirs(&out.stdout),
            Err(Failure {
                outcome: Outcome::Ran(out),
                ..
            }) if only_gone_entries(&out.stderr) => parse::brick_dirs(&out.stdout),
            Err(f) => return Err(f.into_error(host, "node_inventory")),
        };
        Ok(NodeInventory {
            lvs,
            mounts,
            fstab,
            brick_dirs,
        })
    }

    async fn peer_hostnames(&self, host: &str) -> Result<Vec<String>, ExecError> {
        let command = self.commands.peer_status();
        let out = self
            .one(host, command.clone(), self.cli_minutes())
            .await
            .map_err(|f| f.into_error(host, "peer_status"))?;
        parse::peer_hostnames(&out.stdout).map_err(|e| Failure::unreadable(command, e).into_error(host, "peer_status"))
    }

    async fn examine_volumes(&self, host: &str) -> Result<VolInfo, ExecError> {
        self.volumes_report(host).await
    }

    async fn examine_lvm(&self, host: &str, kind: LvmReportKind) -> Result<LvmRows, ExecError> {
        self.lvm_rows(host, kind).await
    }

    async fn examine_mounts(&self, host: &str) -> Result<BricksMountStatus, ExecError> {
        self.mount_status(host).await
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
            Err(f) if !f.says(Said::DoesNotExist) => Err(f.into_error(host, "snapshot_destroy")),
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

    async fn block_volume_create(&self, host: &str, spec: &BlockVolumeSpec) -> Result<BlockVolumeCreated, ExecError> {
        self.gluster_block_create(host, spec).await
    }

    async fn block_volume_delete(&self, host: &str, hosting_volume: &str, name: &str) -> Result<(), ExecError> {
        self.gluster_block_delete(host, hosting_volume, name).await
    }

    async fn block_volume_expand(
        &self,
        host: &str,
        hosting_volume: &str,
        name: &str,
        size_gib: u64,
    ) -> Result<(), ExecError> {
        self.gluster_block_expand(host, hosting_volume, name, size_gib).await
    }

    async fn block_volume_info(
        &self,
        host: &str,
        hosting_volume: &str,
        name: &str,
    ) -> Result<Option<BlockVolumeReport>, ExecError> {
        self.gluster_block_info(host, hosting_volume, name).await
    }

    async fn block_volume_names(&self, host: &str, hosting_volume: &str) -> Result<Vec<String>, ExecError> {
        self.gluster_block_list(host, hosting_volume).await
    }

    fn transport_stats(&self) -> Option<StatsSnapshot> {
        Some(self.stats())
    }
}

/// `find` complained only of entries that are not there (any other
/// complaint, such as one it could not read, may hide a directory).
fn only_gone_entries(stderr: &str) -> bool {
    let mut lines = stderr.lines().filter(|l| !l.trim().is_empty()).peekable();
    lines.peek().is_some() && lines.all(|l| Said::NoSuchFileOrDirectory.in_text(l))
}
