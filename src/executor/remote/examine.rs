//! What the examiner asks of a real node: gluster's volume info, LVM's
//! reports, and `mount` beside the fstab, read as Heketi's executor reads
//! them. Failures carry Heketi's words in front of the node's.

use super::failure::Failure;
use super::RemoteExecutor;
use crate::executor::commands::{Command, LvmReportKind};
use crate::executor::examine::{self, BricksMountStatus, LvmRows, VolInfo};
use crate::executor::parse::ParseError;
use crate::executor::ExecError;

/// Heketi's time limit for the `mount` and fstab reads, in minutes (its
/// five seconds, rounded up to the batch granularity here).
const MOUNT_MINUTES: u64 = 1;

/// Heketi's words for what failed, then the node's.
fn failed(host: &str, operation: &'static str, heketi: &str, failure: Failure) -> ExecError {
    let e = failure.into_error(host, operation);
    ExecError {
        message: format!("{heketi}: {}", e.message),
        ..e
    }
}

impl RemoteExecutor {
    /// Runs `command` and reads its output with `read`.
    async fn read_with<T>(
        &self,
        host: &str,
        operation: &'static str,
        words: (&str, &str),
        command: Command,
        minutes: u64,
        read: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<T, ExecError> {
        let (run_failed, unreadable) = words;
        let out = self
            .one(host, command.clone(), minutes)
            .await
            .map_err(|f| failed(host, operation, run_failed, f))?;
        read(&out.stdout).map_err(|e| failed(host, operation, unreadable, Failure::unreadable(command, e)))
    }

    pub(super) async fn volumes_report(&self, host: &str) -> Result<VolInfo, ExecError> {
        let words = ("Unable to get volume info", "Unable to unmarshal volume info");
        let command = self.commands.volume_info_all();
        self.read_with(
            host,
            "examine_volumes",
            words,
            command,
            self.cli_minutes(),
            examine::read_vol_info,
        )
        .await
    }

    pub(super) async fn lvm_rows(&self, host: &str, kind: LvmReportKind) -> Result<LvmRows, ExecError> {
        let words = match kind {
            LvmReportKind::Pvs => ("Unable to get data for LVM PVs", "Unable to determine LVM PVs"),
            LvmReportKind::Vgs => ("Unable to get data for LVM VGs", "Unable to determine LVM VGs"),
            LvmReportKind::Lvs => ("Unable to get data for LVM LVs", "Unable to determine LVM LVs"),
        };
        let command = self.commands.lvm_report(kind);
        self.read_with(host, "examine_lvm", words, command, self.cli_minutes(), |out| {
            LvmRows::read(kind, out)
        })
        .await
    }

    pub(super) async fn mount_status(&self, host: &str) -> Result<BricksMountStatus, ExecError> {
        let words = "Unable to get mount status for bricks";
        let run = |command: Command| async move {
            self.one(host, command, MOUNT_MINUTES)
                .await
                .map_err(|f| failed(host, "examine_mounts", words, f))
        };
        let mounts = run(self.commands.mounts()).await?;
        let fstab = run(self.commands.fstab_read()).await?;
        Ok(examine::read_mount_status(&mounts.stdout, &fstab.stdout))
    }
}
