//! The mock executor: a simulated set of storage nodes for tests and local
//! development.
//!
//! Its node state (`state`: peers, physical volumes, volume groups, logical
//! volumes, mounts, fstab lines, gluster volumes, and the command lines
//! Heketi would have run on each node) changes only through `change.rs`
//! (what each call does: `edits.rs`); a durable mock appends each call's
//! changes to a log beside the store (`log.rs`) before answering, so a
//! test can inspect what a crash left behind on the "nodes", also from
//! another process (`read_state`, `brickyard mock-state`). Faults are
//! injected by rules (`faults`: `fail`, `delay`, `stall`, `lose`), and a
//! node's glusterd is stopped by listing its host in the glusterd switch
//! file (`glusterd_switch_path`). This file is the `Executor` over them.
//!
//! Heal info reports every brick `Connected` with nothing to heal.

mod brick_names;
mod change;
mod edits;
mod examine;
mod faults;
mod loading;
mod log;
mod packed;
mod state;
mod tables;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use change::Edit;
pub use faults::FaultRuleError;
use loading::Gate;
pub use loading::LoadError;
use log::ChangeLog;
pub use log::{StateFileError, StateFiles};
pub use packed::{Packed, PackedMap};
use state::Refusal;
pub use state::{MockBlock, MockHost, MockLv, MockNodes, MockPv, MockVg, MockVolume};

use super::commands::{Command, CommandConfig, LvmReportKind};
use super::examine::{BricksMountStatus, LvmRows, VolInfo};
use super::{
    BlockVolumeCreated, BlockVolumeReport, BlockVolumeSpec, BrickSpec, CloneReport, DeviceHandle, DeviceReport,
    DeviceSetupError, ExecError, Executor, GlusterVolumeInfo, GlusterVolumeSpec, HealEntry, NodeInventory,
};
use faults::Faults;

const KIB_PER_GIB: u64 = 1024 * 1024;

/// The lines of commands, as recorded.
fn lines(commands: impl IntoIterator<Item = Command>) -> Vec<String> {
    commands.into_iter().map(String::from).collect()
}

/// Why a mock executor could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("cannot start the thread that loads the mock node state: {0}")]
    Loader(#[source] std::io::Error),
    #[error("{0}")]
    Fault(#[from] FaultRuleError),
}

/// Why a change to the node state did not go through.
#[derive(Debug, thiserror::Error)]
pub enum StateWriteError {
    #[error(transparent)]
    NotLoaded(#[from] LoadError),
    #[error("mock state write failed: {0}")]
    Write(#[source] StateFileError),
}

/// The node state, and the log a durable mock keeps it in.
struct Nodes {
    state: MockNodes,
    log: Option<ChangeLog>,
}

pub struct MockExecutor {
    commands: CommandConfig,
    device_size_kib: u64,
    faults: Faults,
    /// Filled by a durable mock's loader before `loaded` opens.
    nodes: Arc<Mutex<Nodes>>,
    loaded: Gate,
    /// Hosts listed in this file (one a line) have glusterd stopped: their
    /// glusterd check fails until the line goes, as after `systemctl stop
    /// glusterd`. Read at each check, so tests switch it while serving.
    glusterd_switch: Option<PathBuf>,
}

/// Where a durable mock logs the calls its fault rules fire on: beside its
/// state file (`<store>.mock-nodes.json` → `<store>.mock-nodes.faults`).
pub fn fired_log_path(state_path: &std::path::Path) -> PathBuf {
    state_path.with_extension("faults")
}

/// A durable mock's glusterd switch file: beside its state file
/// (`<store>.mock-nodes.json` → `<store>.mock-nodes.glusterd-stopped`).
pub fn glusterd_switch_path(state_path: &std::path::Path) -> PathBuf {
    state_path.with_extension("glusterd-stopped")
}

impl MockExecutor {
    /// A mock whose node state lives in memory only.
    pub fn in_memory(device_size_gb: u64, faults: &[String]) -> Result<MockExecutor, MockError> {
        MockExecutor::build(device_size_gb, faults, None, Gate::opened())
    }

    /// A mock that keeps its node state in `state_path` and the log beside
    /// it (`log.rs`), reloading both at start: on a thread of its own
    /// (`loading.rs`), which calls wait for.
    pub fn durable(device_size_gb: u64, faults: &[String], state_path: PathBuf) -> Result<MockExecutor, MockError> {
        let (opener, gate) = Gate::closed();
        let mock = MockExecutor::build(device_size_gb, faults, Some(fired_log_path(&state_path)), gate)?
            .with_glusterd_switch(glusterd_switch_path(&state_path));
        let (nodes, files) = (mock.nodes.clone(), StateFiles::beside(&state_path));
        let load = move || {
            let started = std::time::Instant::now();
            let outcome = ChangeLog::open(files).map(|(state, log)| {
                *nodes.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Nodes { state, log: Some(log) };
            });
            match &outcome {
                Ok(()) => tracing::info!(elapsed = ?started.elapsed(), "mock node state loaded"),
                Err(e) => tracing::error!("mock node state: {e}; every executor call fails until a restart"),
            }
            opener.open(outcome);
        };
        std::thread::Builder::new()
            .name("mock-state-load".into())
            .spawn(load)
            .map_err(MockError::Loader)?;
        Ok(mock)
    }

    fn build(
        device_size_gb: u64,
        faults: &[String],
        fired_log: Option<PathBuf>,
        loaded: Gate,
    ) -> Result<MockExecutor, MockError> {
        let nodes = Nodes {
            state: MockNodes::default(),
            log: None,
        };
        Ok(MockExecutor {
            commands: CommandConfig::default(),
            device_size_kib: device_size_gb * KIB_PER_GIB,
            faults: Faults::parse(faults)?.logging_to(fired_log),
            nodes: Arc::new(Mutex::new(nodes)),
            loaded,
            glusterd_switch: None,
        })
    }

    /// Reads which hosts have glusterd stopped from `path` (see the field).
    pub fn with_glusterd_switch(mut self, path: PathBuf) -> MockExecutor {
        self.glusterd_switch = Some(path);
        self
    }

    /// Whether the switch file lists `host`; no file means none is stopped.
    fn glusterd_stopped(&self, host: &str) -> bool {
        let Some(path) = &self.glusterd_switch else {
            return false;
        };
        match std::fs::read_to_string(path) {
            Ok(text) => text.lines().any(|l| l.trim() == host),
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read the mock's glusterd switch");
                }
                false
            }
        }
    }

    /// Uses these settings for the command lines it records.
    pub fn with_commands(mut self, commands: CommandConfig) -> MockExecutor {
        self.commands = commands;
        self
    }

    /// A copy of the simulated node state, once it is loaded.
    pub fn nodes(&self) -> Result<MockNodes, LoadError> {
        Ok(self.lock()?.state.clone())
    }

    /// The node state, waited for (blocking) if the loader has not
    /// finished; async callers `enter` first, which waits without blocking.
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Nodes>, LoadError> {
        self.loaded.wait_blocking()?;
        // A panic while holding the lock leaves plain data behind; keep going.
        Ok(self.nodes.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// `lock`, for a call of `operation` on `host`.
    fn state_for(&self, host: &str, operation: &'static str) -> Result<std::sync::MutexGuard<'_, Nodes>, ExecError> {
        self.lock().map_err(|e| ExecError::new(host, operation, e.to_string()))
    }

    /// The start of a call that changes nothing: the loaded state, then the
    /// fault rules.
    async fn enter(&self, operation: &'static str, host: &str) -> Result<(), ExecError> {
        self.await_state(host, operation).await?;
        self.faults.enter(operation, host).await
    }

    /// The start of a call that changes node state (`Faults::enter_change`).
    async fn enter_change(&self, operation: &'static str, host: &str) -> Result<faults::Aftermath, ExecError> {
        self.await_state(host, operation).await?;
        self.faults.enter_change(operation, host).await
    }

    async fn await_state(&self, host: &str, operation: &'static str) -> Result<(), ExecError> {
        self.loaded
            .wait()
            .await
            .map_err(|e| ExecError::new(host, operation, e.to_string()))
    }

    /// Applies `change` to the node state and, for a durable mock, appends
    /// what it changed to the log before returning.
    fn mutate<T>(&self, change: impl FnOnce(&mut Edit<'_>) -> T) -> Result<T, StateWriteError> {
        let mut nodes = self.lock()?;
        let Nodes { state, log } = &mut *nodes;
        let mut edit = Edit::new(state, log.is_some());
        let result = change(&mut edit);
        let changes = edit.into_changes();
        if let Some(log) = log {
            log.append(&changes, state).map_err(StateWriteError::Write)?;
        }
        Ok(result)
    }

    /// `mutate` for a call of `operation` on `host`: a refusal and a failed
    /// write both fail the call, with the node's words.
    fn apply<T>(
        &self,
        host: &str,
        operation: &'static str,
        change: impl FnOnce(&mut Edit<'_>) -> Result<T, Refusal>,
    ) -> Result<T, ExecError> {
        let fail = |e: &dyn std::error::Error| ExecError::new(host, operation, e.to_string());
        self.mutate(change).map_err(|e| fail(&e))?.map_err(|e| fail(&e))
    }

    /// Records command lines on `host` as run.
    fn record(&self, host: &str, operation: &'static str, lines: Vec<String>) -> Result<(), ExecError> {
        self.apply(host, operation, |n| {
            n.ran(host, lines);
            Ok(())
        })
    }
}

impl Drop for MockExecutor {
    /// A mock that is gone has finished with its files: a loader still
    /// running would otherwise write them beside the next mock's.
    fn drop(&mut self) {
        let _ = self.loaded.wait_blocking();
    }
}

/// The node state a durable mock left at `state_path` (and its log), read
/// without changing any file: for tools and tests, also while it runs.
pub fn read_state(state_path: &Path) -> Result<MockNodes, StateFileError> {
    log::read_only(&StateFiles::beside(state_path))
}

#[async_trait]
impl Executor for MockExecutor {
    async fn glusterd_check(&self, host: &str) -> Result<(), ExecError> {
        self.enter("glusterd_check", host).await?;
        if self.glusterd_stopped(host) {
            // What `systemctl status glusterd` says of a stopped unit.
            return Err(ExecError::new(host, "glusterd_check", "Active: inactive (dead)"));
        }
        Ok(())
    }

    async fn peer_probe(&self, exec_host: &str, storage_host: &str) -> Result<(), ExecError> {
        self.enter("peer_probe", exec_host).await?;
        let lines = lines(self.commands.peer_probe(storage_host));
        self.apply(exec_host, "peer_probe", |n| {
            n.ran(exec_host, lines);
            n.peer(exec_host, storage_host, true);
            Ok(())
        })
    }

    async fn peer_detach(&self, exec_host: &str, storage_host: &str) -> Result<(), ExecError> {
        self.enter("peer_detach", exec_host).await?;
        let lines = lines(self.commands.peer_detach(storage_host));
        self.apply(exec_host, "peer_detach", |n| {
            n.ran(exec_host, lines);
            n.peer(exec_host, storage_host, false);
            Ok(())
        })
    }

    async fn device_setup(
        &self,
        host: &str,
        path: &str,
        device_id: &str,
        destroy: bool,
    ) -> Result<DeviceReport, DeviceSetupError> {
        self.await_state(host, "device_setup")
            .await
            .map_err(DeviceSetupError::Unreachable)?;
        self.faults
            .enter("device_setup", host)
            .await
            .map_err(DeviceSetupError::HasData)?;
        let lines = lines(self.commands.device_setup(path, device_id, destroy));
        let outcome = self
            .mutate(|n| {
                n.ran(host, lines);
                n.setup_device(host, path, device_id, destroy, self.device_size_kib)
            })
            .map_err(|e| DeviceSetupError::Unreachable(ExecError::new(host, "device_setup", e.to_string())))?;
        match outcome {
            Ok((vg, uuid)) => Ok(vg.report(&uuid, path)),
            Err(in_use) => Err(DeviceSetupError::HasPhysicalVolume {
                error: ExecError::new(host, "device_setup", in_use.to_string()),
                pv_uuid: in_use.pv_uuid,
            }),
        }
    }

    async fn device_info(&self, host: &str, device: &DeviceHandle) -> Result<DeviceReport, ExecError> {
        self.enter("device_info", host).await?;
        self.state_for(host, "device_info")?
            .state
            .device_report(host, &device.vg_name())
            .map_err(|e| ExecError::new(host, "device_info", e.to_string()))
    }

    async fn device_teardown(&self, host: &str, device: &DeviceHandle) -> Result<(), ExecError> {
        self.enter("device_teardown", host).await?;
        self.apply(host, "device_teardown", |n| n.teardown_device(host, &device.vg_name()))
    }

    async fn device_forget(&self, host: &str, device: &DeviceHandle) {
        if self.enter("device_forget", host).await.is_err() {
            return;
        }
        let _ = self.mutate(|n| n.forget_device(host, &device.vg_name()));
    }

    async fn brick_create(&self, host: &str, brick: &BrickSpec) -> Result<(), ExecError> {
        let lost = self.enter_change("brick_create", host).await?;
        let lines = lines(self.commands.brick_create(brick));
        let fstab_line = self.commands.fstab_line(brick);
        let result = self.apply(host, "brick_create", |n| {
            n.create_brick(host, brick, &fstab_line, lines)
        });
        lost.settle(host, "brick_create", result).await
    }

    async fn brick_destroy(&self, host: &str, brick: &BrickSpec) -> Result<bool, ExecError> {
        let lost = self.enter_change("brick_destroy", host).await?;
        let lines = lines(self.commands.brick_destroy(brick));
        let result = self.apply(host, "brick_destroy", |n| Ok(n.destroy_brick(host, brick, lines)));
        lost.settle(host, "brick_destroy", result).await
    }

    async fn brick_fstab_append(&self, host: &str, brick: &BrickSpec) -> Result<(), ExecError> {
        let lost = self.enter_change("brick_fstab_append", host).await?;
        let line = self.commands.fstab_line(brick);
        let lines = lines(vec![self.commands.fstab_append(brick)]);
        let result = self.apply(host, "brick_fstab_append", |n| {
            n.append_fstab_line(host, &brick.mount_point(), &line, lines);
            Ok(())
        });
        lost.settle(host, "brick_fstab_append", result).await
    }

    async fn volume_create(&self, host: &str, volume: &GlusterVolumeSpec) -> Result<(), ExecError> {
        let lost = self.enter_change("volume_create", host).await?;
        let lines = lines(self.commands.volume_create(volume));
        let result = self.apply(host, "volume_create", |n| n.create_volume(host, volume, lines));
        lost.settle(host, "volume_create", result).await
    }

    async fn volume_expand(&self, host: &str, volume: &GlusterVolumeSpec) -> Result<(), ExecError> {
        let lost = self.enter_change("volume_expand", host).await?;
        let lines = lines(self.commands.volume_expand(volume));
        let result = self.apply(host, "volume_expand", |n| n.expand_volume(host, volume, lines));
        lost.settle(host, "volume_expand", result).await
    }

    async fn volume_destroy(&self, host: &str, name: &str) -> Result<(), ExecError> {
        let lost = self.enter_change("volume_destroy", host).await?;
        let lines = lines(self.commands.volume_destroy(name));
        let result = self.apply(host, "volume_destroy", |n| {
            n.destroy_volume(host, name, lines);
            Ok(())
        });
        lost.settle(host, "volume_destroy", result).await
    }

    async fn volume_info(&self, host: &str, name: &str) -> Result<Option<GlusterVolumeInfo>, ExecError> {
        self.enter("volume_info", host).await?;
        Ok(self.state_for(host, "volume_info")?.state.volume_info(name))
    }

    async fn gluster_volumes(&self, host: &str) -> Result<Vec<(String, GlusterVolumeInfo)>, ExecError> {
        self.enter("volume_info", host).await?;
        Ok(self.state_for(host, "volume_info")?.state.gluster_volumes())
    }

    async fn node_inventory(&self, host: &str) -> Result<NodeInventory, ExecError> {
        self.enter("node_inventory", host).await?;
        Ok(self.state_for(host, "node_inventory")?.state.inventory(host))
    }

    async fn peer_hostnames(&self, host: &str) -> Result<Vec<String>, ExecError> {
        self.enter("peer_hostnames", host).await?;
        Ok(self.state_for(host, "peer_hostnames")?.state.peer_hostnames(host))
    }

    async fn examine_volumes(&self, host: &str) -> Result<VolInfo, ExecError> {
        self.enter("examine_volumes", host).await?;
        Ok(self.state_for(host, "examine_volumes")?.state.examine_volumes())
    }

    async fn examine_lvm(&self, host: &str, kind: LvmReportKind) -> Result<LvmRows, ExecError> {
        self.enter("examine_lvm", host).await?;
        Ok(self.state_for(host, "examine_lvm")?.state.examine_lvm(host, kind))
    }

    async fn examine_mounts(&self, host: &str) -> Result<BricksMountStatus, ExecError> {
        self.enter("examine_mounts", host).await?;
        Ok(self.state_for(host, "examine_mounts")?.state.examine_mounts(host))
    }

    async fn heal_info(&self, host: &str, name: &str) -> Result<Vec<HealEntry>, ExecError> {
        self.enter("heal_info", host).await?;
        self.state_for(host, "heal_info")?
            .state
            .heal_info(name)
            .map_err(|e| ExecError::new(host, "heal_info", e.to_string()))
    }

    async fn heal_start(&self, host: &str, name: &str) -> Result<(), ExecError> {
        self.enter("heal_start", host).await?;
        let line = String::from(self.commands.heal_start(name));
        self.record(host, "heal_start", vec![line])
    }

    async fn brick_replace(&self, host: &str, volume: &str, old: &str, new: &str) -> Result<(), ExecError> {
        let lost = self.enter_change("brick_replace", host).await?;
        let line = String::from(self.commands.brick_replace(volume, old, new));
        let result = self.apply(host, "brick_replace", |n| n.replace_brick(host, volume, old, new, line));
        lost.settle(host, "brick_replace", result).await
    }

    async fn volume_clone(
        &self,
        host: &str,
        source: &str,
        clone: &str,
        snapshot: &str,
    ) -> Result<CloneReport, ExecError> {
        let lost = self.enter_change("volume_clone", host).await?;
        let lines = lines(self.commands.volume_clone(source, clone, snapshot));
        let result = self.apply(host, "volume_clone", |n| n.clone_volume(host, source, clone, lines));
        lost.settle(host, "volume_clone", result).await
    }

    async fn snapshot_destroy(&self, host: &str, snapshot: &str) -> Result<(), ExecError> {
        // Clones are made in one step here, so no snapshot is ever left.
        let lost = self.enter_change("snapshot_destroy", host).await?;
        let lines = lines(self.commands.snapshot_destroy(snapshot));
        let result = self.record(host, "snapshot_destroy", lines);
        lost.settle(host, "snapshot_destroy", result).await
    }

    async fn block_volume_create(&self, host: &str, spec: &BlockVolumeSpec) -> Result<BlockVolumeCreated, ExecError> {
        let lost = self.enter_change("block_create", host).await?;
        let line = String::from(self.commands.block_create(spec));
        let prealloc = self.commands.block_prealloc.clone();
        let result = self
            .mutate(|n| n.create_block(host, spec, &prealloc, line))
            .map_err(|e| ExecError::new(host, "block_create", e.to_string()))?
            .map_err(|refusal| {
                ExecError::new(
                    host,
                    "block_create",
                    format!("Failed to create block volume: {refusal}"),
                )
            });
        lost.settle(host, "block_create", result).await
    }

    async fn block_volume_delete(&self, host: &str, hosting_volume: &str, name: &str) -> Result<(), ExecError> {
        let lost = self.enter_change("block_delete", host).await?;
        let line = String::from(self.commands.block_delete(hosting_volume, name));
        let result = self
            .mutate(|n| n.delete_block(host, hosting_volume, name, line))
            .map_err(|e| ExecError::new(host, "block_delete", e.to_string()))
            .map(|deleted| {
                // Heketi's rule: a block volume already gone counts as deleted.
                if let Err(gone) = deleted {
                    tracing::warn!(host, block = name, "{gone}: assuming already deleted");
                }
            });
        lost.settle(host, "block_delete", result).await
    }

    async fn block_volume_expand(
        &self,
        host: &str,
        hosting_volume: &str,
        name: &str,
        size_gib: u64,
    ) -> Result<(), ExecError> {
        let lost = self.enter_change("block_expand", host).await?;
        let line = String::from(self.commands.block_modify_size(hosting_volume, name, size_gib));
        let result = self
            .mutate(|n| n.resize_block(host, hosting_volume, name, size_gib, line))
            .map_err(|e| ExecError::new(host, "block_expand", e.to_string()))?
            .map_err(|refusal| {
                ExecError::new(
                    host,
                    "block_expand",
                    format!("Failed to expand block volume: {refusal} (see logs for details, and retry the operation)"),
                )
            });
        lost.settle(host, "block_expand", result).await
    }

    async fn block_volume_info(
        &self,
        host: &str,
        hosting_volume: &str,
        name: &str,
    ) -> Result<Option<BlockVolumeReport>, ExecError> {
        self.enter("block_info", host).await?;
        Ok(self
            .state_for(host, "block_info")?
            .state
            .block_report(hosting_volume, name))
    }

    async fn block_volume_names(&self, host: &str, hosting_volume: &str) -> Result<Vec<String>, ExecError> {
        self.enter("block_list", host).await?;
        self.state_for(host, "block_list")?
            .state
            .block_names(hosting_volume)
            .map_err(|e| ExecError::new(host, "block_list", e.to_string()))
    }

    fn mock_nodes(&self) -> Option<Result<MockNodes, LoadError>> {
        Some(self.nodes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(id: &str) -> DeviceHandle {
        DeviceHandle {
            device_id: id.into(),
            pv_uuid: String::new(),
            paths: vec!["/dev/sdb".into()],
        }
    }

    #[tokio::test]
    async fn device_setup_reports_heketi_sizes_and_refuses_a_second_pv() {
        let mock = MockExecutor::in_memory(500, &[]).unwrap();
        let report = mock.device_setup("n1", "/dev/sdb", "d1", false).await.unwrap();
        assert_eq!((report.total, report.free, report.used), (524_288_000, 524_288_000, 0));
        assert_eq!(report.extent_size, 4096);
        let again = mock.device_setup("n1", "/dev/sdb", "d2", false).await.unwrap_err();
        assert!(matches!(again, DeviceSetupError::HasPhysicalVolume { .. }));
        // A wipe makes room.
        mock.device_setup("n1", "/dev/sdb", "d2", true).await.unwrap();
        assert!(mock.nodes().unwrap().hosts["n1"].vgs.contains_key("vg_d2"));
        assert!(!mock.nodes().unwrap().hosts["n1"].vgs.contains_key("vg_d1"));
    }

    #[tokio::test]
    async fn teardown_is_idempotent() {
        let mock = MockExecutor::in_memory(1, &[]).unwrap();
        mock.device_setup("n1", "/dev/sdb", "d1", false).await.unwrap();
        mock.device_teardown("n1", &handle("d1")).await.unwrap();
        mock.device_teardown("n1", &handle("d1")).await.unwrap();
        assert!(mock.nodes().unwrap().hosts["n1"].pvs.is_empty());
    }

    #[tokio::test]
    async fn faults_hit_the_nth_matching_call() {
        let rules = vec![
            "peer_probe:2:fail:boom".to_string(),
            "glusterd_check@bad:*:fail".to_string(),
        ];
        let mock = MockExecutor::in_memory(1, &rules).unwrap();
        mock.peer_probe("a", "x").await.unwrap();
        assert_eq!(mock.peer_probe("a", "y").await.unwrap_err().message, "boom");
        mock.peer_probe("a", "z").await.unwrap();
        mock.glusterd_check("good").await.unwrap();
        assert!(mock.glusterd_check("bad").await.is_err());
        assert!(mock.glusterd_check("bad").await.is_err());
    }

    #[tokio::test]
    async fn a_host_in_the_glusterd_switch_file_fails_its_check_until_it_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("store.mock-nodes.json");
        let switch = glusterd_switch_path(&state);
        assert_eq!(switch, dir.path().join("store.mock-nodes.glusterd-stopped"));
        let mock = MockExecutor::durable(1, &[], state).unwrap();
        mock.glusterd_check("n1").await.unwrap();
        std::fs::write(&switch, "n2\nn1\n").unwrap();
        let stopped = mock.glusterd_check("n1").await.unwrap_err();
        assert_eq!(
            (stopped.host.as_str(), stopped.message.as_str()),
            ("n1", "Active: inactive (dead)")
        );
        assert!(!stopped.unreachable, "the node answers; its glusterd does not run");
        std::fs::write(&switch, "n2\n").unwrap();
        mock.glusterd_check("n1").await.unwrap();
        assert!(mock.glusterd_check("n2").await.is_err());
        // Other calls are not affected: the node itself is there.
        mock.peer_probe("n2", "10.0.0.1").await.unwrap();
    }

    #[tokio::test]
    async fn a_state_that_cannot_be_read_fails_every_call_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.mock-nodes.json");
        std::fs::write(&path, "{\"hosts\": [").unwrap();
        // The mock is made at once; its calls carry the loader's error.
        let mock = MockExecutor::durable(1, &[], path.clone()).unwrap();
        let probe = mock.peer_probe("n1", "10.0.0.2").await.unwrap_err();
        assert_eq!(probe.host, "n1");
        assert!(
            probe.message.contains("could not be loaded") && probe.message.contains("store.mock-nodes.json"),
            "{}",
            probe.message
        );
        let info = mock.volume_info("n1", "vol").await.unwrap_err();
        assert_eq!(info.message, probe.message);
        let setup = mock.device_setup("n1", "/dev/sdb", "d1", false).await.unwrap_err();
        assert!(matches!(setup, DeviceSetupError::Unreachable(_)), "{setup:?}");
        let Some(Err(LoadError::Failed(e))) = mock.mock_nodes() else {
            panic!("the state's error, not a state");
        };
        assert!(matches!(*e, StateFileError::Snapshot { .. }), "{e}");
        // Nothing was written over the file that could not be read.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"hosts\": [");
    }

    #[tokio::test]
    async fn a_call_made_while_the_state_loads_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mock.json");
        {
            let mock = MockExecutor::durable(1, &[], path.clone()).unwrap();
            mock.peer_probe("n1", "10.0.0.2").await.unwrap();
        }
        // Straight after the constructor: the first call sees the loaded
        // state, whichever finishes first.
        let reader = MockExecutor::durable(1, &[], path.clone()).unwrap();
        assert_eq!(reader.peer_hostnames("n1").await.unwrap(), vec!["10.0.0.2".to_string()]);
        drop(reader);
        let writer = MockExecutor::durable(1, &[], path.clone()).unwrap();
        writer.peer_probe("n1", "10.0.0.3").await.unwrap();
        drop(writer);
        assert_eq!(read_state(&path).unwrap().hosts["n1"].peers.len(), 2);
    }

    #[tokio::test]
    async fn durable_state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mock.json");
        {
            let mock = MockExecutor::durable(1, &[], path.clone()).unwrap();
            mock.peer_probe("n1", "10.0.0.2").await.unwrap();
        }
        let again = MockExecutor::durable(1, &[], path.clone()).unwrap();
        assert!(again.nodes().unwrap().hosts["n1"].peers.contains("10.0.0.2"));
        assert_eq!(read_state(&path).unwrap(), again.nodes().unwrap());
    }

    #[tokio::test]
    async fn an_injected_failure_that_says_timed_out_is_a_timeout() {
        let rules = vec![
            "brick_replace:1:fail:Error : Request timed out".to_string(),
            "brick_replace:2:fail:boom".to_string(),
        ];
        let mock = MockExecutor::in_memory(1, &rules).unwrap();
        let slow = mock.brick_replace("n1", "v", "a:/1", "b:/2").await.unwrap_err();
        assert!(slow.timed_out && !slow.unreachable);
        let failed = mock.brick_replace("n1", "v", "a:/1", "b:/2").await.unwrap_err();
        assert!(!failed.timed_out && !failed.unreachable);
    }
}
