//! The executor for real storage nodes: Heketi's command batches from
//! `commands`, run through any `Transport` (SSH, Kubernetes exec), with
//! Heketi's rules for what counts as success.
//!
//! This file runs batches: in order, to the first failure, within the
//! batch's time, fstab edits one at a time per node. `failure` reads what
//! a failed command left; `devices` finds a device's PV on its node;
//! `operations` is the `Executor`, one method per operation; `block` runs
//! and reads gluster-block.

mod block;
mod devices;
mod examine;
mod failure;
mod operations;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use super::commands::{Command, CommandConfig, Touches};
use super::parse;
use super::transport::{CommandOutput, StatsSnapshot, Transport, TransportError};
use failure::Failure;
use parse::Said;

/// Batch timeouts, in minutes, as Heketi sets them.
const DEVICE_MINUTES: u64 = 5;
const BRICK_MINUTES: u64 = 10;

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
        let mut locks = self
            .fstab_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(host.to_string()).or_default().clone()
    }

    /// Heketi's `CLI_EXEC_TIMEOUT`: the gluster CLI timeout plus slack.
    fn cli_minutes(&self) -> u64 {
        (1 + (self.commands.gluster_cli_timeout + 1) / 60).max(10)
    }

    /// Runs commands in order, stopping at the first that fails.
    async fn batch(&self, host: &str, commands: &[Command], minutes: u64) -> Result<Vec<CommandOutput>, Failure> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(minutes * 60);
        let mut outputs = Vec::with_capacity(commands.len());
        for command in commands {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let fstab = if command.touches == Touches::Fstab {
                Some(self.fstab_lock(host).lock_owned().await)
            } else {
                None
            };
            let started = std::time::Instant::now();
            let result = if left.is_zero() {
                Err(TransportError::timed_out(format!("timed out after {minutes} minutes")))
            } else {
                self.transport.run(host, &command.line, left).await
            };
            drop(fstab);
            let took_ms = started.elapsed().as_secs_f64() * 1000.0;
            match result {
                Ok(out) if out.success() => {
                    tracing::debug!(host, command = command.line.as_str(), took_ms, "command succeeded");
                    outputs.push(out);
                }
                other => {
                    let failure = Failure::of(command, other);
                    // Some failures are expected (udevadm, umount of a gone brick): callers judge.
                    tracing::debug!(host, command = command.line.as_str(), error = %failure.text(), "command failed");
                    return Err(failure);
                }
            }
        }
        Ok(outputs)
    }

    async fn one(&self, host: &str, command: Command, minutes: u64) -> Result<CommandOutput, Failure> {
        let mut outputs = self.batch(host, std::slice::from_ref(&command), minutes).await?;
        Ok(outputs.pop().unwrap_or_default())
    }

    /// The volume as gluster reports it; `None` when gluster has no such volume.
    async fn volume(&self, host: &str, name: &str) -> Result<Option<parse::GlusterVolume>, Failure> {
        let command = self.commands.volume_info(name);
        match self.one(host, command.clone(), self.cli_minutes()).await {
            Ok(out) => match parse::volume_info(&out.stdout) {
                Ok(mut vols) => Ok(vols.pop()),
                Err(e) if e.gluster_says(Said::DoesNotExist) => Ok(None),
                Err(e) => Err(Failure::unreadable(command, e)),
            },
            Err(f) if f.says(Said::DoesNotExist) => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// A `--xml` gluster command: exit status and `opRet` both count.
    async fn gluster_xml(&self, host: &str, command: &Command) -> Result<(), Failure> {
        let out = self.one(host, command.clone(), self.cli_minutes()).await?;
        parse::cli_result(&out.stdout).map_err(|e| Failure::unreadable(command.clone(), e))
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.transport.stats().snapshot()
    }
}
