//! `cluster create|setflags|delete|info|list`

use clap::{ArgAction, Subcommand};
use reqwest::{Method, StatusCode};

use super::{json_out, CliError, Client, Global};
use crate::wire::{ClusterInfoResponse, ClusterListResponse};

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Create a cluster
    Create {
        /// Allow block volumes on the cluster.
        #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
        block: bool,
        /// Allow file volumes on the cluster.
        #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
        file: bool,
    },
    /// Set flags on a cluster
    Setflags {
        id: Option<String>,
        #[arg(long, default_value = "")]
        block: String,
        #[arg(long, default_value = "")]
        file: String,
    },
    /// Delete the cluster
    Delete { id: Option<String> },
    /// Retrieves information about cluster
    Info { id: Option<String> },
    /// Lists the clusters managed by Heketi
    List,
}

fn missing() -> CliError {
    "Cluster id missing".into()
}

/// Go's `strconv.ParseBool`, with its error text.
fn parse_bool(v: &str) -> Result<bool, CliError> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!("strconv.ParseBool: parsing {other:?}: invalid syntax").into()),
    }
}

pub fn run(client: &Client, global: &Global, command: ClusterCommand) -> Result<String, CliError> {
    match command {
        ClusterCommand::Create { block, file } => {
            let body = serde_json::json!({"file": file, "block": block});
            let cluster: ClusterInfoResponse = client
                .call(Method::POST, "/clusters", Some(&body), StatusCode::CREATED)?
                .json()
                .map_err(|e| CliError(e.to_string()))?;
            if global.json {
                json_out(&cluster)
            } else {
                Ok(format!("Cluster id: {}\n", cluster.id))
            }
        }
        ClusterCommand::Setflags { id, block, file } => {
            let id = id.ok_or_else(missing)?;
            if block.is_empty() && file.is_empty() {
                return Err("At least one of --file or --block must be specified.".into());
            }
            let info: ClusterInfoResponse = client.get_json(&format!("/clusters/{id}"))?;
            let file = if file.is_empty() { info.file } else { parse_bool(&file)? };
            let block = if block.is_empty() {
                info.block
            } else {
                parse_bool(&block)?
            };
            let body = serde_json::json!({"file": file, "block": block});
            client.call(
                Method::POST,
                &format!("/clusters/{id}/flags"),
                Some(&body),
                StatusCode::OK,
            )?;
            Ok(String::new())
        }
        ClusterCommand::Delete { id } => {
            let id = id.ok_or_else(missing)?;
            client.call::<()>(Method::DELETE, &format!("/clusters/{id}"), None, StatusCode::OK)?;
            Ok(format!("Cluster {id} deleted\n"))
        }
        ClusterCommand::Info { id } => {
            let id = id.ok_or_else(missing)?;
            let info: ClusterInfoResponse = client.get_json(&format!("/clusters/{id}"))?;
            if global.json {
                return json_out(&info);
            }
            Ok(format!(
                "Cluster id: {}\nNodes:\n{}\nVolumes:\n{}\nBlock: {}\n\nFile: {}\n",
                info.id,
                info.nodes.join("\n"),
                info.volumes.join("\n"),
                info.block,
                info.file
            ))
        }
        ClusterCommand::List => {
            let list: ClusterListResponse = client.get_json("/clusters")?;
            if global.json {
                return json_out(&list);
            }
            let mut out = String::from("Clusters:\n");
            for id in &list.clusters {
                let c: ClusterInfoResponse = client.get_json(&format!("/clusters/{id}"))?;
                let mut usage = String::new();
                if c.file {
                    usage.push_str("[file]");
                }
                if c.block {
                    usage.push_str("[block]");
                }
                if usage.is_empty() {
                    usage.push_str("[]");
                }
                out.push_str(&format!("Id:{id} {usage}\n"));
            }
            Ok(out)
        }
    }
}
