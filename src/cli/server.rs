//! `loglevel`, `server`, `db` and `brick` commands.

use clap::Subcommand;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::{CliError, Client, Global};

#[derive(Subcommand, Debug)]
pub enum LoglevelCommand {
    /// Get the server's log level
    Get,
    /// Set the server's log level
    Set { args: Vec<String> },
}

#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// Administrative mode of the server
    Mode {
        #[command(subcommand)]
        command: ModeCommand,
    },
    /// Pending operations
    Operations {
        #[command(subcommand)]
        command: OperationsCommand,
    },
    /// Server state
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// Examine the state of the storage
    Examine {
        #[command(subcommand)]
        command: ExamineCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ExamineCommand {
    /// Compare the database with gluster on every node
    Gluster,
}

#[derive(Subcommand, Debug)]
pub enum ModeCommand {
    Get,
    Set { args: Vec<String> },
}

#[derive(Subcommand, Debug)]
pub enum OperationsCommand {
    /// Operation counts, or one operation's details
    Info { args: Vec<String> },
    /// List pending operations
    List,
    /// Clean up stale and failed operations
    Cleanup { args: Vec<String> },
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Dump the database as JSON
    Dump,
    /// Check the database's consistency
    Check,
    /// Export a stopped server's store as Heketi's JSON (offline)
    Export(crate::dbtool::DbFileArgs),
    /// Import Heketi's JSON export into a store (offline)
    Import(crate::dbtool::ImportArgs),
    /// Copy a stopped store into another, sled or etcd (offline, Brickyard)
    Copy(crate::dbtool::CopyArgs),
    /// Compare the store with the nodes and list each drift (Brickyard)
    Reconcile {
        /// Mend what is safe (an unused orphan thin pool, a mounted
        /// brick's fstab line), then list what is left
        #[arg(long)]
        apply: bool,
        /// Also remove orphan thin LVs named as Brickyard names bricks,
        /// which may hold data (with their mounts, fstab lines and pools);
        /// without --apply, show what that would do
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum BrickCommand {
    /// Evict (replace) a brick
    Evict {
        args: Vec<String>,
        #[arg(long = "expert-option-disable-heal-check")]
        skip_heal: bool,
    },
}

#[derive(Deserialize, Default)]
struct Counts {
    total: u64,
    in_flight: u64,
    stale: u64,
    failed: u64,
    new: u64,
}

#[derive(Deserialize)]
struct PendingInfo {
    id: String,
    type_name: String,
    status: String,
    sub_status: String,
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    id: String,
    description: String,
}

#[derive(Deserialize)]
struct PendingList {
    #[serde(default)]
    pendingoperations: Vec<PendingInfo>,
}

fn status_word(status: &str) -> &str {
    if status.is_empty() {
        "New"
    } else {
        status
    }
}

fn one_arg(args: &[String], missing: &str) -> Result<String, CliError> {
    match args {
        [] => Err(missing.into()),
        [one] => Ok(one.clone()),
        _ => Err("too many arguments".into()),
    }
}

pub fn run_loglevel(client: &Client, command: LoglevelCommand) -> Result<String, CliError> {
    match command {
        LoglevelCommand::Get => {
            let info: serde_json::Value = client.get_json("/internal/logging")?;
            Ok(format!("{}\n", info["loglevel"]["glusterfs"].as_str().unwrap_or("")))
        }
        LoglevelCommand::Set { args } => {
            let level = one_arg(&args, "missing log-level argument")?;
            let body = serde_json::json!({"loglevel": {"glusterfs": level}});
            client.call(Method::POST, "/internal/logging", Some(&body), StatusCode::OK)?;
            Ok("Server log level updated\n".into())
        }
    }
}

pub fn run_server(client: &Client, command: ServerCommand) -> Result<String, CliError> {
    match command {
        ServerCommand::Mode {
            command: ModeCommand::Get,
        } => {
            let state: serde_json::Value = client.get_json("/admin")?;
            Ok(format!("{}\n", state["state"].as_str().unwrap_or("")))
        }
        ServerCommand::Mode {
            command: ModeCommand::Set { args },
        } => {
            let mode = one_arg(&args, "missing mode argument")?;
            let body = serde_json::json!({ "state": mode });
            client.call(Method::POST, "/admin", Some(&body), StatusCode::NO_CONTENT)?;
            Ok(String::new())
        }
        ServerCommand::Operations {
            command: OperationsCommand::Info { args },
        } => match args.first() {
            None => {
                let c: Counts = client.get_json("/operations")?;
                Ok(format!(
                    "Operation Counts:\n  Total: {}\n  In-Flight: {}\n  New: {}\n  Failed: {}\n  Stale: {}\n",
                    c.total, c.in_flight, c.new, c.failed, c.stale
                ))
            }
            Some(id) => {
                let op: PendingInfo = client.get_json(&format!("/operations/pending/{id}"))?;
                let mut out = format!(
                    "\nId: {}\nType: {}\nStatus: {} {}\nChanges:",
                    op.id,
                    op.type_name,
                    status_word(&op.status),
                    op.sub_status
                );
                for c in &op.changes {
                    out.push_str(&format!("\n    {}: {}", c.description, c.id));
                }
                out.push('\n');
                Ok(out)
            }
        },
        ServerCommand::State {
            command: StateCommand::Examine {
                command: ExamineCommand::Gluster,
            },
        } => Ok(client.get_text("/internal/state/examine/gluster")?),
        ServerCommand::Operations {
            command: OperationsCommand::List,
        } => {
            let list: PendingList = client.get_json("/operations/pending")?;
            Ok(list
                .pendingoperations
                .iter()
                .map(|op| {
                    format!(
                        "Id:{}  Type:{}  Status:{} {}\n",
                        op.id,
                        op.type_name,
                        status_word(&op.status),
                        op.sub_status
                    )
                })
                .collect())
        }
        ServerCommand::Operations {
            command: OperationsCommand::Cleanup { args },
        } => {
            let body = if args.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::json!({ "operations": args })
            };
            client.call(
                Method::POST,
                "/operations/pending/cleanup",
                Some(&body),
                StatusCode::NO_CONTENT,
            )?;
            eprintln!(
                "Note: Operation clean up is a batch operation.\n* The results of individual operation clean ups are not reported here.\n* Use 'heketi-cli server operations [list|info]' to view operations."
            );
            Ok(String::new())
        }
    }
}

pub fn run_db(client: &Client, global: &Global, command: DbCommand) -> Result<String, CliError> {
    match command {
        DbCommand::Dump => Ok(client.get_text("/db/dump")?),
        DbCommand::Check => Ok(client.get_text("/db/check")?),
        DbCommand::Export(args) => Ok(crate::dbtool::export(&args)?),
        DbCommand::Import(args) => Ok(crate::dbtool::import(&args)?),
        DbCommand::Copy(args) => Ok(crate::dbtool::copy(&args)?),
        DbCommand::Reconcile { apply, force } => super::reconcile::run(client, global, apply, force),
    }
}

pub fn run_brick(client: &Client, command: BrickCommand) -> Result<String, CliError> {
    let BrickCommand::Evict { args, skip_heal } = command;
    let id = match args.as_slice() {
        [] => return Err("Brick id missing".into()),
        [one] => one.clone(),
        _ => return Err("Too many arguments provided".into()),
    };
    if skip_heal {
        super::node::heal_check_warning();
    }
    let body = serde_json::json!({"healcheck": if skip_heal { "disable" } else { "" }});
    client.call(
        Method::POST,
        &format!("/bricks/to-evict/{id}"),
        Some(&body),
        StatusCode::NO_CONTENT,
    )?;
    Ok(format!("Brick {id} evicted\n"))
}
