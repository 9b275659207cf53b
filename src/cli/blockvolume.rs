//! `blockvolume` commands. The server side of block volumes has its own
//! work item; these print whatever the server answers, as heketi-cli does.

use clap::Subcommand;
use reqwest::{Method, StatusCode};

use super::{json_out, CliError, Client, Global};
use crate::wire::block_volumes::BlockVolumeInfoResponse as BlockVolumeInfo;

#[derive(Subcommand, Debug)]
pub enum BlockVolumeCommand {
    /// Create a GlusterFS block volume
    Create {
        #[arg(long, default_value_t = 0)]
        size: i64,
        #[arg(long, default_value_t = 0)]
        ha: i64,
        #[arg(long)]
        auth: bool,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        clusters: String,
    },
    /// Retrieves information about the block volume
    Info { args: Vec<String> },
    /// Lists the block volumes managed by Heketi
    List,
    /// Deletes the block volume
    Delete { args: Vec<String> },
    /// Expand a block volume
    Expand {
        args: Vec<String>,
        #[arg(long = "new-size", default_value_t = 0)]
        new_size: i64,
        #[arg(long, default_value = "")]
        blockvolume: String,
    },
}

/// Heketi's `BlockVolumeInfoResponse.String()`.
fn describe(b: &BlockVolumeInfo) -> String {
    format!(
        "Name: {}\nSize: {}\nUsableSize: {}\nVolume Id: {}\nCluster Id: {}\nHosts: [{}]\nIQN: {}\nLUN: {}\nHacount: {}\nUsername: {}\nPassword: {}\nBlock Hosting Volume: {}\n",
        b.name,
        b.size,
        b.usablesize,
        b.id,
        b.cluster,
        b.blockvolume.hosts.join(" "),
        b.blockvolume.iqn,
        b.blockvolume.lun,
        b.hacount,
        b.blockvolume.username,
        b.blockvolume.password,
        b.blockhostingvolume
    )
}

fn show(global: &Global, b: &BlockVolumeInfo) -> Result<String, CliError> {
    if global.json {
        json_out(b)
    } else {
        Ok(describe(b))
    }
}

fn first(args: &[String]) -> Result<String, CliError> {
    args.first().cloned().ok_or_else(|| "Volume id missing".into())
}

pub fn run(client: &Client, global: &Global, command: BlockVolumeCommand) -> Result<String, CliError> {
    match command {
        BlockVolumeCommand::Create {
            size,
            ha,
            auth,
            name,
            clusters,
        } => {
            if size == 0 {
                return Err("Missing volume size".into());
            }
            let mut body = serde_json::json!({"size": size, "name": name});
            if !clusters.is_empty() {
                body["clusters"] = serde_json::json!(clusters.split(',').collect::<Vec<_>>());
            }
            if ha != 0 {
                body["hacount"] = serde_json::json!(ha);
            }
            if auth {
                body["auth"] = serde_json::json!(true);
            }
            let b: BlockVolumeInfo = client
                .call(Method::POST, "/blockvolumes", Some(&body), StatusCode::OK)?
                .json()
                .map_err(|e| CliError(e.to_string()))?;
            show(global, &b)
        }
        BlockVolumeCommand::Info { args } => {
            let id = first(&args)?;
            let b: BlockVolumeInfo = client.get_json(&format!("/blockvolumes/{id}"))?;
            show(global, &b)
        }
        BlockVolumeCommand::List => {
            let list: serde_json::Value = client.get_json("/blockvolumes")?;
            if global.json {
                return json_out(&list);
            }
            let mut out = String::new();
            for id in list["blockvolumes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
            {
                let b: BlockVolumeInfo = client.get_json(&format!("/blockvolumes/{id}"))?;
                out.push_str(&format!("Id:{id:<35} Cluster:{:<35} Name:{}\n", b.cluster, b.name));
            }
            Ok(out)
        }
        BlockVolumeCommand::Delete { args } => {
            let id = first(&args)?;
            client.call::<()>(
                Method::DELETE,
                &format!("/blockvolumes/{id}"),
                None,
                StatusCode::NO_CONTENT,
            )?;
            Ok(format!("Volume {id} deleted\n"))
        }
        BlockVolumeCommand::Expand {
            args,
            new_size,
            blockvolume,
        } => {
            if new_size == 0 {
                return Err("Missing new size of block volume".into());
            }
            let id = if blockvolume.is_empty() {
                first(&args)?
            } else {
                blockvolume
            };
            let body = serde_json::json!({ "new_size": new_size });
            let b: BlockVolumeInfo = client
                .call(
                    Method::POST,
                    &format!("/blockvolumes/{id}/expand"),
                    Some(&body),
                    StatusCode::OK,
                )?
                .json()
                .map_err(|e| CliError(e.to_string()))?;
            show(global, &b)
        }
    }
}
