//! gluster-block on real nodes: its commands run with Heketi's ten-minute
//! limit, its JSON read with Heketi's rules. gluster-block explains a
//! failure in its JSON (`RESULT: FAIL`, `errMsg`) and exits non-zero, so a
//! failed run is read too, not only reported.

use super::failure::{Failure, Outcome};
use super::RemoteExecutor;
use crate::executor::commands::Command;
use crate::executor::parse::{self, BlockAnswerError};
use crate::executor::transport::CommandOutput;
use crate::executor::{BlockVolumeCreated, BlockVolumeReport, BlockVolumeSpec, ExecError};

/// Heketi's limit for each gluster-block command, in minutes.
const BLOCK_MINUTES: u64 = 10;

/// A gluster-block run that reached the node: what it printed, and the
/// failure when it exited non-zero.
struct BlockRun {
    out: CommandOutput,
    failure: Option<Failure>,
}

impl BlockRun {
    /// stdout, else stderr (create, modify, info).
    fn stdout_first(&self) -> &str {
        if self.out.stdout.trim().is_empty() {
            &self.out.stderr
        } else {
            &self.out.stdout
        }
    }

    /// stderr, else stdout (delete).
    fn stderr_first(&self) -> &str {
        if self.out.stderr.trim().is_empty() {
            &self.out.stdout
        } else {
            &self.out.stderr
        }
    }

    /// What was read of the answer (info, list), unless it failed or the
    /// command exited non-zero anyway: then why, as text.
    fn settled<T>(&self, read: Result<T, BlockAnswerError>) -> Result<T, String> {
        match (read, &self.failure) {
            (Err(e), _) => Err(e.to_string()),
            (Ok(_), Some(f)) => Err(f.text()),
            (Ok(value), None) => Ok(value),
        }
    }
}

impl RemoteExecutor {
    /// Runs a gluster-block command; only a run that never reached the
    /// node (or never finished) is an error here.
    async fn block_run(&self, host: &str, command: Command, operation: &'static str) -> Result<BlockRun, ExecError> {
        match self.one(host, command, BLOCK_MINUTES).await {
            Ok(out) => Ok(BlockRun { out, failure: None }),
            Err(failure) => match &failure.outcome {
                Outcome::Ran(out) => Ok(BlockRun {
                    out: out.clone(),
                    failure: Some(failure),
                }),
                Outcome::Unreadable(_) | Outcome::NotRun(_) => Err(failure.into_error(host, operation)),
            },
        }
    }

    pub(super) async fn gluster_block_create(
        &self,
        host: &str,
        spec: &BlockVolumeSpec,
    ) -> Result<BlockVolumeCreated, ExecError> {
        let run = self
            .block_run(host, self.commands.block_create(spec), "block_create")
            .await?;
        let fail = |message: String| ExecError::new(host, "block_create", message);
        match parse::block_create(run.stdout_first()) {
            Err(BlockAnswerError::Failed(why)) => Err(fail(format!("Failed to create block volume: {why}"))),
            Err(e) => Err(fail(e.to_string())),
            Ok(_) if run.failure.is_some() => Err(fail(format!(
                "Failed to create block volume: {}",
                run.failure.as_ref().map(Failure::text).unwrap_or_default()
            ))),
            Ok(created) => Ok(created),
        }
    }

    pub(super) async fn gluster_block_delete(
        &self,
        host: &str,
        hosting_volume: &str,
        name: &str,
    ) -> Result<(), ExecError> {
        let command = self.commands.block_delete(hosting_volume, name);
        let run = self.block_run(host, command, "block_delete").await?;
        let exit_error = |run: BlockRun| match run.failure {
            Some(f) => Err(f.into_error(host, "block_delete")),
            None => Ok(()),
        };
        if run.stderr_first().trim().is_empty() {
            return exit_error(run);
        }
        match parse::block_result("delete", run.stderr_first()) {
            Ok(()) => exit_error(run),
            Err(BlockAnswerError::Failed(why)) if parse::block_absent(&why, hosting_volume, name) => {
                tracing::warn!(host, block = name, "{why}: assuming already deleted");
                Ok(())
            }
            Err(BlockAnswerError::Failed(why)) => Err(ExecError::new(host, "block_delete", why)),
            Err(e) if run.failure.is_none() => Err(ExecError::new(
                host,
                "block_delete",
                format!("Unable to parse output from block volume delete: {e}"),
            )),
            Err(_) => exit_error(run),
        }
    }

    pub(super) async fn gluster_block_expand(
        &self,
        host: &str,
        hosting_volume: &str,
        name: &str,
        size_gib: u64,
    ) -> Result<(), ExecError> {
        let command = self.commands.block_modify_size(hosting_volume, name, size_gib);
        let run = self.block_run(host, command, "block_expand").await?;
        let fail = |message: String| ExecError::new(host, "block_expand", message);
        match parse::block_result("expand", run.stdout_first()) {
            Err(BlockAnswerError::Failed(why)) if why.is_empty() => Err(fail(
                "Failed to expand block volume (see logs for details, and retry the operation)".into(),
            )),
            Err(BlockAnswerError::Failed(why)) => Err(fail(format!(
                "Failed to expand block volume: {why} (see logs for details, and retry the operation)"
            ))),
            Err(e) => Err(fail(e.to_string())),
            Ok(()) => match run.failure {
                Some(f) => Err(fail(format!("Failed to expand block volume: {}", f.text()))),
                None => Ok(()),
            },
        }
    }

    pub(super) async fn gluster_block_info(
        &self,
        host: &str,
        hosting_volume: &str,
        name: &str,
    ) -> Result<Option<BlockVolumeReport>, ExecError> {
        let command = self.commands.block_info(hosting_volume, name);
        let run = self.block_run(host, command, "block_info").await?;
        let fail = |why: String| {
            ExecError::new(
                host,
                "block_info",
                format!("unable to get info of blockvolume {name} on block hosting volume {hosting_volume} : {why}"),
            )
        };
        match parse::block_info(run.stdout_first()) {
            Err(BlockAnswerError::Failed(why)) if parse::block_absent(&why, hosting_volume, name) => Ok(None),
            read => run.settled(read).map(Some).map_err(fail),
        }
    }

    /// `gluster-block list`, read as Heketi's `ListBlockVolumes` reads it.
    pub(super) async fn gluster_block_list(&self, host: &str, hosting_volume: &str) -> Result<Vec<String>, ExecError> {
        let command = self.commands.block_list(hosting_volume);
        let run = self.block_run(host, command, "block_list").await?;
        let fail = |why: String| {
            ExecError::new(
                host,
                "block_list",
                format!("Unable to list blockvolumes on block hosting volume {hosting_volume} : {why}"),
            )
        };
        run.settled(parse::block_list(run.stdout_first())).map_err(fail)
    }
}
