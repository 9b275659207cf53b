//! A heketi-cli compatible command line: the same commands, flags,
//! environment variables, text and `--json` output, and exit status 255 with
//! `Error: <server text>` on failure. It talks to any Heketi-compatible
//! server.

mod blockvolume;
mod cluster;
mod node;
mod reconcile;
mod server;
mod storage;
mod topology;
mod volume;

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use crate::client::Client;

/// What a failed command prints after `Error: `.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl From<String> for CliError {
    fn from(s: String) -> Self {
        CliError(s)
    }
}

impl From<&str> for CliError {
    fn from(s: &str) -> Self {
        CliError(s.to_string())
    }
}

impl From<crate::dbtool::ToolError> for CliError {
    fn from(e: crate::dbtool::ToolError) -> Self {
        CliError(e.0)
    }
}

impl From<crate::client::ClientError> for CliError {
    fn from(e: crate::client::ClientError) -> Self {
        CliError(e.to_string())
    }
}

/// heketi-cli's global options.
#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// Heketi server (env HEKETI_CLI_SERVER, default http://localhost:8080).
    #[arg(short = 's', long, global = true, default_value = "")]
    pub server: String,
    /// Heketi user (env HEKETI_CLI_USER).
    #[arg(long, global = true, default_value = "")]
    pub user: String,
    /// Secret key for the user (env HEKETI_CLI_KEY).
    #[arg(long, global = true, default_value = "")]
    pub secret: String,
    /// Print responses as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// With HTTPS, do not verify server certificates (insecure).
    #[arg(short = 'I', long = "insecure-tls", global = true)]
    pub insecure_tls: bool,
    /// With HTTPS, a PEM certificate to trust (repeatable).
    #[arg(short = 'C', long = "tls-cert", global = true)]
    pub tls_cert: Vec<String>,
}

impl Global {
    /// Flags win over the environment, as in heketi-cli.
    fn resolved(&self) -> Global {
        let env = |name: &str| std::env::var(name).unwrap_or_default();
        let mut g = self.clone();
        if g.server.is_empty() {
            g.server = env("HEKETI_CLI_SERVER");
            if g.server.is_empty() {
                g.server = "http://localhost:8080".into();
            }
        }
        if g.secret.is_empty() {
            g.secret = env("HEKETI_CLI_KEY");
        }
        if g.user.is_empty() {
            g.user = env("HEKETI_CLI_USER");
        }
        g
    }

    fn client(&self) -> Result<Client, CliError> {
        Ok(Client::new(
            &self.server,
            &self.user,
            &self.secret,
            self.insecure_tls,
            &self.tls_cert,
        )?)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Heketi cluster management
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Heketi node management
    Node {
        #[command(subcommand)]
        command: node::NodeCommand,
    },
    /// Heketi device management
    Device {
        #[command(subcommand)]
        command: node::DeviceCommand,
    },
    /// Heketi volume management
    Volume {
        #[command(subcommand)]
        command: volume::VolumeCommand,
    },
    /// Heketi block volume management
    Blockvolume {
        #[command(subcommand)]
        command: blockvolume::BlockVolumeCommand,
    },
    /// Heketi Topology Management
    Topology {
        #[command(subcommand)]
        command: topology::TopologyCommand,
    },
    /// Heketi server log level
    Loglevel {
        #[command(subcommand)]
        command: server::LoglevelCommand,
    },
    /// Heketi server administration
    Server {
        #[command(subcommand)]
        command: server::ServerCommand,
    },
    /// Heketi database
    Db {
        #[command(subcommand)]
        command: server::DbCommand,
    },
    /// Heketi brick management
    Brick {
        #[command(subcommand)]
        command: server::BrickCommand,
    },
    /// Setup OpenShift/Kubernetes persistent storage for Heketi
    #[command(
        name = "setup-openshift-heketi-storage",
        visible_aliases = ["setup-heketi-db-storage", "setup-kubernetes-heketi-storage"]
    )]
    SetupStorage(storage::SetupStorageArgs),
}

/// heketi-cli's `topology load --json=FILE` reuses the name of the global
/// `--json` switch for a file; clap cannot have both, so the command line
/// is rewritten to `--topology-file` for that one command.
pub fn rewrite_args(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let load_at = words.windows(2).position(|w| w[0] == "topology" && w[1] == "load");
    let Some(at) = load_at else { return args };
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            if i <= at + 1 {
                return arg;
            }
            let text = arg.to_string_lossy();
            if text == "--json" {
                "--topology-file".into()
            } else if let Some(value) = text.strip_prefix("--json=") {
                format!("--topology-file={value}").into()
            } else {
                arg
            }
        })
        .collect()
}

/// Go's `json.Marshal`: compact, no trailing newline.
pub(crate) fn json_out<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    serde_json::to_string(value).map_err(|e| CliError(e.to_string()))
}

/// Runs one command and writes what heketi-cli would.
pub fn run(global: &Global, command: Command) -> ExitCode {
    let global = global.resolved();
    // Offline tools work on a store, not a server.
    let command = match command {
        Command::Db {
            command: server::DbCommand::Export(args),
        } => return finish(crate::dbtool::export(&args).map_err(CliError::from)),
        Command::Db {
            command: server::DbCommand::Import(args),
        } => return finish(crate::dbtool::import(&args).map_err(CliError::from)),
        Command::Db {
            command: server::DbCommand::Copy(args),
        } => return finish(crate::dbtool::copy(&args).map_err(CliError::from)),
        other => other,
    };
    let result = global.client().and_then(|client| match command {
        Command::Cluster { command } => cluster::run(&client, &global, command),
        Command::Node { command } => node::run_node(&client, &global, command),
        Command::Device { command } => node::run_device(&client, &global, command),
        Command::Volume { command } => volume::run(&client, &global, command),
        Command::Topology { command } => topology::run(&client, &global, command),
        Command::Blockvolume { command } => blockvolume::run(&client, &global, command),
        Command::Loglevel { command } => server::run_loglevel(&client, command),
        Command::Server { command } => server::run_server(&client, command),
        Command::Db { command } => server::run_db(&client, &global, command),
        Command::Brick { command } => server::run_brick(&client, command),
        Command::SetupStorage(args) => storage::run(&client, &args),
    });
    finish(result)
}

/// Prints a command's output, or heketi-cli's `Error:` line and status 255.
fn finish(result: Result<String, CliError>) -> ExitCode {
    match result {
        Ok(out) => {
            let mut stdout = std::io::stdout();
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(255)
        }
    }
}

/// `heketi db export`: the server binary's offline tool.
pub fn heketi_db_export(args: &crate::dbtool::DbFileArgs) -> ExitCode {
    finish(crate::dbtool::export(args).map_err(CliError::from))
}

/// `heketi db import`.
pub fn heketi_db_import(args: &crate::dbtool::ImportArgs) -> ExitCode {
    finish(crate::dbtool::import(args).map_err(CliError::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&str]) -> Vec<String> {
        rewrite_args(args.iter().map(Into::into).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn only_topology_load_gets_its_json_renamed() {
        assert_eq!(
            words(&["heketi-cli", "topology", "load", "--json=t.json"]),
            ["heketi-cli", "topology", "load", "--topology-file=t.json"]
        );
        assert_eq!(
            words(&["heketi-cli", "-s", "x", "topology", "load", "--json", "t.json"]),
            ["heketi-cli", "-s", "x", "topology", "load", "--topology-file", "t.json"]
        );
        assert_eq!(
            words(&["heketi-cli", "volume", "list", "--json"]),
            ["heketi-cli", "volume", "list", "--json"]
        );
    }
}
