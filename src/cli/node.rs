//! `node` and `device` commands, and the tag helpers they share.

use clap::{ArgAction, Subcommand};
use reqwest::{Method, StatusCode};

use super::{json_out, CliError, Client, Global};
use crate::store::records::Tags;
use crate::wire::{ClusterInfoResponse, ClusterListResponse, DeviceInfoResponse, NodeInfoResponse};

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Add new node to be managed by Heketi
    Add {
        #[arg(long, default_value_t = 0)]
        zone: i64,
        #[arg(long, default_value = "")]
        cluster: String,
        #[arg(long = "management-host-name", default_value = "")]
        management_host_name: String,
        #[arg(long = "storage-host-name", default_value = "")]
        storage_host_name: String,
    },
    /// Retrieves information about the node
    Info { args: Vec<String> },
    /// List all nodes in cluster
    List,
    /// Allows node to go online
    Enable { args: Vec<String> },
    /// Disallow usage of a node by placing it offline
    Disable { args: Vec<String> },
    /// Removes a node and all its associated devices from Heketi
    Remove { args: Vec<String> },
    /// Deletes a node from Heketi management
    Delete { args: Vec<String> },
    /// Set tags on a node
    Settags {
        args: Vec<String>,
        #[arg(short = 'e', long)]
        exact: bool,
    },
    /// Remove tags from a node
    #[command(alias = "deltags", alias = "removetags")]
    Rmtags {
        args: Vec<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Add new device to node to be managed by Heketi
    Add {
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        node: String,
        #[arg(long = "destroy-existing-data", action = ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
        destroy: bool,
    },
    /// Retrieves information about the device
    Info { args: Vec<String> },
    /// Allows device to go online
    Enable { args: Vec<String> },
    /// Disallow usage of a device by placing it offline
    Disable { args: Vec<String> },
    /// Removes a device from Heketi management
    Remove {
        args: Vec<String>,
        #[arg(long = "expert-option-disable-heal-check")]
        skip_heal: bool,
    },
    /// Deletes a device from Heketi node
    Delete {
        args: Vec<String>,
        #[arg(long = "force-forget")]
        force_forget: bool,
    },
    /// Resync storage information about the device with operating system
    Resync {
        args: Vec<String>,
        #[arg(long)]
        cluster: bool,
    },
    /// Set tags on a device
    Settags {
        args: Vec<String>,
        #[arg(short = 'e', long)]
        exact: bool,
    },
    /// Remove tags from a device
    #[command(alias = "deltags", alias = "removetags")]
    Rmtags {
        args: Vec<String>,
        #[arg(long)]
        all: bool,
    },
}

/// heketi-cli shows `failed` as `removed`.
pub fn state_word(state: &str) -> &str {
    if state == "failed" {
        "removed"
    } else {
        state
    }
}

fn first(args: &[String], missing: &str) -> Result<String, CliError> {
    args.first().cloned().ok_or_else(|| missing.into())
}

fn print_node(out: &mut String, n: &NodeInfoResponse) {
    out.push_str(&format!(
        "Node Id: {}\nState: {}\nCluster Id: {}\nZone: {}\nManagement Hostname: {}\nStorage Hostname: {}\n",
        n.id,
        state_word(&n.state),
        n.cluster,
        n.zone,
        n.hostnames.manage.first().map(String::as_str).unwrap_or(""),
        n.hostnames.storage.first().map(String::as_str).unwrap_or("")
    ));
    tag_lines(out, &n.tags);
}

const GIB: u64 = 1024 * 1024;

fn set_state(client: &Client, kind: &str, id: &str, state: &str, healcheck: &str) -> Result<(), CliError> {
    let body = serde_json::json!({"state": state, "healcheck": healcheck});
    client.call(
        Method::POST,
        &format!("/{kind}/{id}/state"),
        Some(&body),
        StatusCode::NO_CONTENT,
    )?;
    Ok(())
}

/// `node|device enable|disable|remove`: `<Noun> <id> is now <word>`.
fn change_state(client: &Client, kind: &str, args: &[String], missing: &str, state: &str) -> Result<String, CliError> {
    let id = first(args, missing)?;
    set_state(client, kind, &id, state, "")?;
    let noun = if kind == "nodes" { "Node" } else { "Device" };
    Ok(format!("{noun} {id} is now {}\n", state_word(state)))
}

/// The tags a node or device shows: `Tags:` then `  key: value` lines.
fn tag_lines(out: &mut String, tags: &Tags) {
    if !tags.is_empty() {
        out.push_str("Tags:\n");
        for (k, v) in tags {
            out.push_str(&format!("  {k}: {v}\n"));
        }
    }
}

fn set_tags(client: &Client, kind: &str, args: &[String], exact: bool) -> Result<String, CliError> {
    let id = first(args, "id required")?;
    if args.len() < 2 {
        return Err("at least one tag:value pair expected".into());
    }
    let mut tags = Tags::new();
    for t in &args[1..] {
        let (k, v) = t
            .split_once(':')
            .ok_or_else(|| CliError(format!("expected colon (:) between tag name and value, got: {t}")))?;
        tags.insert(k.to_string(), v.to_string());
    }
    let change = if exact { "set" } else { "update" };
    let body = serde_json::json!({"tags": tags, "change_type": change});
    client.call(Method::POST, &format!("/{kind}/{id}/tags"), Some(&body), StatusCode::OK)?;
    Ok(String::new())
}

fn rm_tags(client: &Client, kind: &str, args: &[String], all: bool) -> Result<String, CliError> {
    let id = first(args, "id required")?;
    if args.len() < 2 && !all {
        return Err("at least one tag expected".into());
    }
    if args.len() >= 2 && all {
        return Err("--all may not be combined with named tags".into());
    }
    let body = if all {
        serde_json::json!({"tags": {}, "change_type": "set"})
    } else {
        let tags: Tags = args[1..].iter().map(|k| (k.clone(), String::new())).collect();
        serde_json::json!({"tags": tags, "change_type": "delete"})
    };
    client.call(Method::POST, &format!("/{kind}/{id}/tags"), Some(&body), StatusCode::OK)?;
    Ok(String::new())
}

/// heketi-cli's warning before skipping the heal check, then its pause.
pub fn heal_check_warning() {
    let text = "Skipping the heal check may be dangerous and increase the risk of data loss.\n \
                Press CTRL-C within 10 seconds to cancel this action.\n";
    print!("{text}");
    let secs = std::env::var("BRICKYARD_CLI_HEAL_WARNING_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    std::thread::sleep(std::time::Duration::from_secs(secs));
}

pub fn run_node(client: &Client, global: &Global, command: NodeCommand) -> Result<String, CliError> {
    match command {
        NodeCommand::Add {
            zone,
            cluster,
            management_host_name,
            storage_host_name,
        } => {
            if zone == 0 {
                return Err("Missing zone".into());
            }
            if management_host_name.is_empty() {
                return Err("Missing management hostname".into());
            }
            if storage_host_name.is_empty() {
                return Err("Missing storage hostname".into());
            }
            if cluster.is_empty() {
                return Err("Missing cluster id".into());
            }
            let body = serde_json::json!({"zone": zone, "hostnames": {"manage": [management_host_name], "storage": [storage_host_name]}, "cluster": cluster});
            let node: NodeInfoResponse = client
                .call(Method::POST, "/nodes", Some(&body), StatusCode::OK)?
                .json()
                .map_err(|e| CliError(e.to_string()))?;
            if global.json {
                return json_out(&node);
            }
            let mut out = String::from("Node information:\n");
            print_node(&mut out, &node);
            Ok(out)
        }
        NodeCommand::Info { args } => {
            let id = first(&args, "Node id missing")?;
            let node: NodeInfoResponse = client.get_json(&format!("/nodes/{id}"))?;
            if global.json {
                return json_out(&node);
            }
            let mut out = String::new();
            print_node(&mut out, &node);
            out.push_str("Devices:\n");
            for d in &node.devices {
                out.push_str(&format!(
                    "Id:{:<35}Name:{:<20}State:{:<10}Size (GiB):{:<8}Used (GiB):{:<8}Free (GiB):{:<8}Bricks:{:<8}\n",
                    d.id,
                    d.name,
                    state_word(&d.state),
                    d.storage.total / GIB,
                    d.storage.used / GIB,
                    d.storage.free / GIB,
                    d.bricks.len()
                ));
            }
            Ok(out)
        }
        NodeCommand::List => {
            let list: ClusterListResponse = client.get_json("/clusters")?;
            let mut out = String::new();
            for c in &list.clusters {
                let cluster: ClusterInfoResponse = client.get_json(&format!("/clusters/{c}"))?;
                for n in &cluster.nodes {
                    out.push_str(&format!("Id:{n}\tCluster:{c}\n"));
                }
            }
            Ok(out)
        }
        NodeCommand::Enable { args } => change_state(client, "nodes", &args, "Node id missing", "online"),
        NodeCommand::Disable { args } => change_state(client, "nodes", &args, "Node id missing", "offline"),
        NodeCommand::Remove { args } => change_state(client, "nodes", &args, "Node id missing", "failed"),
        NodeCommand::Delete { args } => {
            let id = first(&args, "Node id missing")?;
            client.call::<()>(Method::DELETE, &format!("/nodes/{id}"), None, StatusCode::NO_CONTENT)?;
            Ok(format!("Node {id} deleted\n"))
        }
        NodeCommand::Settags { args, exact } => set_tags(client, "nodes", &args, exact),
        NodeCommand::Rmtags { args, all } => rm_tags(client, "nodes", &args, all),
    }
}

pub fn run_device(client: &Client, global: &Global, command: DeviceCommand) -> Result<String, CliError> {
    match command {
        DeviceCommand::Add { name, node, destroy } => {
            if name.is_empty() {
                return Err("Missing device name".into());
            }
            if node.is_empty() {
                return Err("Missing node id".into());
            }
            let body = if destroy {
                serde_json::json!({"name": name, "node": node, "destroydata": true})
            } else {
                serde_json::json!({"name": name, "node": node})
            };
            client.call(Method::POST, "/devices", Some(&body), StatusCode::NO_CONTENT)?;
            Ok("Device added successfully\n".into())
        }
        DeviceCommand::Info { args } => {
            let id = first(&args, "Device id missing")?;
            let d: DeviceInfoResponse = client.get_json(&format!("/devices/{id}"))?;
            if global.json {
                return json_out(&d);
            }
            let mut out = format!(
                "Device Id: {}\nState: {}\nSize (GiB): {}\nUsed (GiB): {}\nFree (GiB): {}\n",
                d.id,
                state_word(&d.state),
                d.storage.total / GIB,
                d.storage.used / GIB,
                d.storage.free / GIB
            );
            out.push_str(&format!("Create Path: {}\n", d.name));
            out.push_str(&format!("Physical Volume UUID: {}\n", d.pv_uuid));
            out.push_str(&format!("Known Paths: {}\n", d.paths.join(" ")));
            tag_lines(&mut out, &d.tags);
            out.push_str("Bricks:\n");
            for b in &d.bricks {
                out.push_str(&format!(
                    "Id:{:<35}Size (GiB):{:<8}Path: {}\n",
                    b.id,
                    b.size / GIB,
                    b.path
                ));
            }
            Ok(out)
        }
        // heketi-cli spells this one in lower case.
        DeviceCommand::Enable { args } => change_state(client, "devices", &args, "device id missing", "online"),
        DeviceCommand::Disable { args } => change_state(client, "devices", &args, "device id missing", "offline"),
        DeviceCommand::Remove { args, skip_heal } => {
            let id = first(&args, "Device id missing")?;
            if skip_heal {
                heal_check_warning();
            }
            set_state(client, "devices", &id, "failed", if skip_heal { "disable" } else { "" })?;
            Ok(format!("Device {id} is now removed\n"))
        }
        DeviceCommand::Delete { args, force_forget } => {
            let id = first(&args, "Device id missing")?;
            let body = serde_json::json!({"forceforget": force_forget});
            client.call(
                Method::DELETE,
                &format!("/devices/{id}"),
                Some(&body),
                StatusCode::NO_CONTENT,
            )?;
            Ok(format!("Device {id} deleted\n"))
        }
        DeviceCommand::Resync { args, cluster } => {
            let id = first(&args, "object/cluster id missing")?;
            if !cluster {
                client.call::<()>(
                    Method::GET,
                    &format!("/devices/{id}/resync"),
                    None,
                    StatusCode::NO_CONTENT,
                )?;
                return Ok(format!("Device {id} updated\n"));
            }
            let mut out = String::from("Cluster-wide resync operation requested. Using object_id as cluster_id.\n");
            let list: ClusterListResponse = client.get_json("/clusters")?;
            if list.clusters.contains(&id) {
                let c: ClusterInfoResponse = client.get_json(&format!("/clusters/{id}"))?;
                for n in &c.nodes {
                    let node: NodeInfoResponse = client.get_json(&format!("/nodes/{n}"))?;
                    for d in &node.devices {
                        out.push_str(&format!("Now resyncing device {}..\n", d.id));
                        // heketi-cli reports every device as updated, whatever happened.
                        let _ = client.call::<()>(
                            Method::GET,
                            &format!("/devices/{}/resync", d.id),
                            None,
                            StatusCode::NO_CONTENT,
                        );
                        out.push_str(&format!(
                            "Device {} (node {}) in cluster {} updated\n",
                            d.id, node.id, id
                        ));
                    }
                }
            }
            Ok(out)
        }
        DeviceCommand::Settags { args, exact } => set_tags(client, "devices", &args, exact),
        DeviceCommand::Rmtags { args, all } => rm_tags(client, "devices", &args, all),
    }
}
