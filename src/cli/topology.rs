//! `topology load` and `topology info`.

use std::collections::BTreeMap;
use std::fmt::Write;

use clap::Subcommand;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::node::state_word;
use super::{json_out, CliError, Client, Global};
use crate::store::records::Tags;
use crate::wire::volumes::VolumeInfoResponse;
use crate::wire::{ClusterInfoResponse, ClusterListResponse, HostAddresses, NodeInfoResponse};

#[derive(Subcommand, Debug)]
pub enum TopologyCommand {
    /// Add devices to Heketi from a configuration file
    Load {
        /// The topology file (heketi-cli's `--json=FILE`, see `cli::rewrite_args`).
        #[arg(short = 'j', long = "topology-file", default_value = "")]
        file: String,
        /// Refuse storage hostnames that are not IP addresses.
        #[arg(long)]
        strict: bool,
        /// Show what would be created without changing anything.
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
    /// Retrieves information about the current Topology
    Info,
}

/// A device in a topology file: a path, or an object.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
enum FileDevice {
    Name(String),
    Full {
        name: String,
        #[serde(default)]
        destroydata: bool,
        #[serde(default)]
        tags: Tags,
    },
}

impl FileDevice {
    fn name(&self) -> &str {
        match self {
            FileDevice::Name(n) | FileDevice::Full { name: n, .. } => n,
        }
    }
}

#[derive(Deserialize, Debug, Default, Clone)]
struct FileNodeSpec {
    #[serde(default)]
    zone: i64,
    #[serde(default)]
    hostnames: HostAddresses,
    #[serde(default)]
    tags: Tags,
}

#[derive(Deserialize, Debug, Clone)]
struct FileNode {
    node: FileNodeSpec,
    #[serde(default)]
    devices: Vec<FileDevice>,
}

#[derive(Deserialize, Debug, Clone)]
struct FileCluster {
    #[serde(default)]
    nodes: Vec<FileNode>,
    block: Option<bool>,
    file: Option<bool>,
}

#[derive(Deserialize, Debug, Clone)]
struct TopologyFile {
    #[serde(default)]
    clusters: Vec<FileCluster>,
}

/// Heketi's `TopologyInfoResponse` as heketi-cli prints it with `--json`.
#[derive(Serialize, Debug)]
pub struct TopologyInfo {
    pub clusters: Vec<ClusterTopology>,
}

#[derive(Serialize, Debug)]
pub struct ClusterTopology {
    pub volumes: Vec<VolumeInfoResponse>,
    pub nodes: Vec<NodeInfoResponse>,
    pub id: String,
    pub block: bool,
    pub file: bool,
}

/// Requests `topology info` has in flight at once: the same requests
/// heketi-cli makes, several at a time instead of one by one.
const FAN_OUT: usize = 8;

/// A volume's or a node's answer, from the one stream of requests
/// `topology info` makes for them.
enum Part {
    Volume(Box<VolumeInfoResponse>),
    Node(Box<NodeInfoResponse>),
}

/// What Heketi's client assembles: every cluster, its volumes and nodes.
/// The requests for every cluster's volumes and nodes go as one stream, so
/// `FAN_OUT` of them stay in flight until the last, instead of draining
/// at the end of each cluster.
pub fn topology_info(client: &Client) -> Result<TopologyInfo, CliError> {
    let list: ClusterListResponse = client.get_json("/clusters")?;
    let paths: Vec<String> = list.clusters.iter().map(|id| format!("/clusters/{id}")).collect();
    let infos: Vec<ClusterInfoResponse> = client.get_json_many(&paths, FAN_OUT)?;
    let (mut paths, mut is_node) = (Vec::new(), Vec::new());
    for c in &infos {
        paths.extend(c.volumes.iter().map(|v| format!("/volumes/{v}")));
        paths.extend(c.nodes.iter().map(|n| format!("/nodes/{n}")));
        is_node.extend(c.volumes.iter().map(|_| false).chain(c.nodes.iter().map(|_| true)));
    }
    let mut parts = client
        .get_many(&paths, FAN_OUT, |i, body| {
            Ok(if is_node[i] {
                Part::Node(serde_json::from_slice(body)?)
            } else {
                Part::Volume(serde_json::from_slice(body)?)
            })
        })?
        .into_iter();
    let mut clusters = Vec::with_capacity(infos.len());
    for c in infos {
        let (mut volumes, mut nodes) = (Vec::new(), Vec::new());
        for part in parts.by_ref().take(c.volumes.len() + c.nodes.len()) {
            match part {
                Part::Volume(info) if info.cluster == c.id => volumes.push(*info),
                Part::Volume(_) => {}
                Part::Node(info) => nodes.push(*info),
            }
        }
        clusters.push(ClusterTopology {
            volumes,
            nodes,
            id: c.id,
            block: c.block,
            file: c.file,
        });
    }
    Ok(TopologyInfo { clusters })
}

const GIB: u64 = 1024 * 1024;

/// ` key:value` pairs after `label`, then a newline; nothing without tags.
fn tag_line(out: &mut String, label: &str, tags: &Tags) {
    if tags.is_empty() {
        return;
    }
    out.push_str(label);
    for (k, v) in tags {
        let _ = write!(out, " {k}:{v}");
    }
    out.push('\n');
}

/// heketi-cli's topology template, rendered (its trim markers applied).
pub fn render_topology(t: &TopologyInfo) -> String {
    let mut out = String::new();
    for c in &t.clusters {
        let _ = write!(
            out,
            "\nCluster Id: {}\n\n    File:  {}\n    Block: {}\n\n    Volumes:\n",
            c.id, c.file, c.block
        );
        for v in &c.volumes {
            let options = super::volume::mount_options(v);
            let _ = write!(
                out,
                "\n\tName: {}\n\tSize: {}\n\tId: {}\n\tCluster Id: {}\n\tMount: {}\n\tMount Options: {options}\n\tDurability Type: {}",
                v.name, v.size, v.id, v.cluster, v.mount.glusterfs.device, v.durability.kind
            );
            match v.durability.kind.as_str() {
                "replicate" => {
                    let _ = write!(out, "\n\tReplica: {}", v.durability.replicate.replica);
                }
                "disperse" => {
                    let _ = write!(
                        out,
                        "\n\tDisperse Data: {}\n\tDisperse Redundancy: {}",
                        v.durability.disperse.data, v.durability.disperse.redundancy
                    );
                }
                _ => {}
            }
            if v.snapshot.enable {
                let _ = write!(
                    out,
                    "\n\tSnapshot: Enabled\n\tSnapshot Factor: {:.2}\n",
                    v.snapshot.factor
                );
            } else {
                out.push_str("\n\tSnapshot: Disabled\n");
            }
            out.push_str("\n\t\tBricks:");
            for b in &v.bricks {
                let _ = write!(
                    out,
                    "\n\t\t\tId: {}\n\t\t\tPath: {}\n\t\t\tSize (GiB): {}\n\t\t\tNode: {}\n\t\t\tDevice: {}\n",
                    b.id,
                    b.path,
                    b.size / GIB,
                    b.node,
                    b.device
                );
            }
            out.push('\n');
        }
        out.push_str("\n\n    Nodes:\n");
        for n in &c.nodes {
            let _ = write!(
                out,
                "\n\tNode Id: {}\n\tState: {}\n\tCluster Id: {}\n\tZone: {}\n\tManagement Hostnames: {}\n\tStorage Hostnames: {}",
                n.id,
                state_word(&n.state),
                n.cluster,
                n.zone,
                n.hostnames.manage.join(", "),
                n.hostnames.storage.join(", ")
            );
            tag_line(&mut out, "\n\tTags:", &n.tags);
            out.push_str("\n\tDevices:");
            for d in &n.devices {
                let _ = write!(
                    out,
                    "\n\t\tId:{:<35}State:{:<10}Size (GiB):{:<8}Used (GiB):{:<8}Free (GiB):{:<8}",
                    d.id,
                    state_word(&d.state),
                    d.storage.total / GIB,
                    d.storage.used / GIB,
                    d.storage.free / GIB
                );
                tag_line(&mut out, "\n\t\t\tTags:", &d.tags);
                if d.paths.is_empty() {
                    let _ = write!(out, "\n\t\t\tKnown Paths: {}\n", d.name);
                } else {
                    out.push_str("\n\t\t\tKnown Paths:");
                    for p in &d.paths {
                        let _ = write!(out, " {p}");
                    }
                    out.push('\n');
                }
                out.push_str("\n\t\t\tBricks:");
                for b in &d.bricks {
                    let _ = write!(
                        out,
                        "\n\t\t\t\tId:{:<35}Size (GiB):{:<8}Path: {}",
                        b.id,
                        b.size / GIB,
                        b.path
                    );
                }
            }
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

/// Reads and checks a topology file before anything reaches the server.
fn read_file(path: &str, strict: bool) -> Result<TopologyFile, CliError> {
    let text = std::fs::read_to_string(path).map_err(|_| CliError::from("Unable to open config file"))?;
    let topology: TopologyFile = serde_json::from_str(&text).map_err(|e| {
        CliError(format!(
            "Unable to parse config file: {path}: line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (ci, cluster) in topology.clusters.iter().enumerate() {
        for (ni, node) in cluster.nodes.iter().enumerate() {
            let at = format!("{path}: clusters[{ci}].nodes[{ni}]");
            let spec = &node.node;
            if spec.zone < 1 {
                return Err(CliError(format!("{at}.node.zone: missing or not a positive number")));
            }
            let Some(manage) = spec.hostnames.manage.first() else {
                return Err(CliError(format!("{at}.node.hostnames.manage: missing")));
            };
            let Some(storage) = spec.hostnames.storage.first() else {
                return Err(CliError(format!("{at}.node.hostnames.storage: missing")));
            };
            for (role, host) in [("manage", manage), ("storage", storage)] {
                if let Some(first) = seen.insert(format!("{role}/{host}"), at.clone()) {
                    return Err(CliError(format!(
                        "{at}.node.hostnames.{role}: hostname {host} is already used at {first}"
                    )));
                }
            }
            if storage.parse::<std::net::IpAddr>().is_err() {
                let warning = format!(
                    "{at}.node.hostnames.storage: {storage} is not an IP address; the Kubernetes provisioner needs IP addresses"
                );
                if strict {
                    return Err(CliError(warning));
                }
                eprintln!("Warning: {warning}");
            }
            let mut names = BTreeMap::new();
            for (di, device) in node.devices.iter().enumerate() {
                if let Some(first) = names.insert(device.name().to_string(), di) {
                    return Err(CliError(format!(
                        "{at}.devices[{di}]: device {} is already listed at devices[{first}]",
                        device.name()
                    )));
                }
            }
        }
    }
    Ok(topology)
}

fn find_node<'a>(t: &'a TopologyInfo, manage: &str) -> Option<&'a NodeInfoResponse> {
    t.clusters
        .iter()
        .flat_map(|c| c.nodes.iter())
        .find(|n| n.hostnames.manage.first().map(String::as_str) == Some(manage))
}

fn has_device(t: &TopologyInfo, manage: &str, name: &str) -> bool {
    find_node(t, manage).is_some_and(|n| n.devices.iter().any(|d| d.name == name))
}

/// Heketi's load: create what is missing, find what exists, print as it goes.
fn load(client: &Client, file: &str, strict: bool, dry_run: bool) -> Result<String, CliError> {
    if file.is_empty() {
        return Err("Missing configuration file".into());
    }
    let topology = read_file(file, strict)?;
    let current = topology_info(client).map_err(|e| CliError(format!("Unable to get topology information: {e}")))?;
    let mut out = String::new();
    let mut created: Vec<String> = Vec::new();
    let print = |out: &mut String, text: &str| {
        out.push_str(text);
        // Automation reads these lines as they come.
        print!("{text}");
    };
    for cluster in &topology.clusters {
        let mut current_cluster: Option<String> = None;
        for node in &cluster.nodes {
            let manage = node.node.hostnames.manage[0].clone();
            let node_id = match find_node(&current, &manage) {
                Some(found) => {
                    print(
                        &mut out,
                        &format!("\tFound node {manage} on cluster {}\n", found.cluster),
                    );
                    let info: ClusterInfoResponse =
                        client.get_json(&format!("/clusters/{}", found.cluster)).map_err(|_| {
                            println!("Unable to get cluster information");
                            CliError::from("Unable to get cluster information")
                        })?;
                    current_cluster = Some(info.id);
                    found.id.clone()
                }
                None => {
                    if current_cluster.is_none() {
                        let (file_ok, block_ok) = (cluster.file.unwrap_or(true), cluster.block.unwrap_or(true));
                        print(&mut out, "Creating cluster ... ");
                        let id = if dry_run {
                            "(dry run)".to_string()
                        } else {
                            let body = serde_json::json!({"file": file_ok, "block": block_ok});
                            let info: ClusterInfoResponse = client
                                .call(Method::POST, "/clusters", Some(&body), StatusCode::CREATED)?
                                .json()
                                .map_err(|e| CliError(e.to_string()))?;
                            created.push(info.id.clone());
                            info.id
                        };
                        print(&mut out, &format!("ID: {id}\n"));
                        if file_ok {
                            print(&mut out, "\tAllowing file volumes on cluster.\n");
                        }
                        if block_ok {
                            print(&mut out, "\tAllowing block volumes on cluster.\n");
                        }
                        current_cluster = Some(id);
                    }
                    print(&mut out, &format!("\tCreating node {manage} ... "));
                    if dry_run {
                        print(&mut out, "ID: (dry run)\n");
                        "(dry run)".to_string()
                    } else {
                        let mut body = serde_json::json!({
                            "zone": node.node.zone,
                            "hostnames": node.node.hostnames,
                            "cluster": current_cluster.clone().unwrap_or_default(),
                        });
                        if !node.node.tags.is_empty() {
                            body["tags"] = serde_json::json!(node.node.tags);
                        }
                        let added = client
                            .call(Method::POST, "/nodes", Some(&body), StatusCode::OK)
                            .and_then(|r| Ok(r.json::<NodeInfoResponse>()?))
                            .map_err(CliError::from);
                        match added {
                            Ok(info) => {
                                print(&mut out, &format!("ID: {}\n", info.id));
                                info.id
                            }
                            Err(e) => {
                                print(&mut out, &format!("Unable to create node: {e}\n"));
                                continue;
                            }
                        }
                    }
                }
            };
            for device in &node.devices {
                let name = device.name();
                if has_device(&current, &manage, name) {
                    print(&mut out, &format!("\t\tFound device {name}\n"));
                    continue;
                }
                print(&mut out, &format!("\t\tAdding device {name} ... "));
                if dry_run {
                    print(&mut out, "OK (dry run)\n");
                    continue;
                }
                let mut body = serde_json::json!({"name": name, "node": node_id});
                if let FileDevice::Full { destroydata, tags, .. } = device {
                    if !tags.is_empty() {
                        body["tags"] = serde_json::json!(tags);
                    }
                    if *destroydata {
                        body["destroydata"] = serde_json::json!(true);
                    }
                }
                match client.call(Method::POST, "/devices", Some(&body), StatusCode::NO_CONTENT) {
                    Ok(_) => print(&mut out, "OK\n"),
                    Err(e) => print(&mut out, &format!("Unable to add device: {e}\n")),
                }
            }
        }
    }
    // Clusters made for nodes that all failed go again.
    for id in created.iter().rev() {
        if let Ok(info) = client.get_json::<ClusterInfoResponse>(&format!("/clusters/{id}")) {
            if info.nodes.is_empty() && info.volumes.is_empty() {
                let _ = client.call::<()>(Method::DELETE, &format!("/clusters/{id}"), None, StatusCode::OK);
            }
        }
    }
    // Everything was printed as it happened.
    Ok(String::new())
}

pub fn run(client: &Client, global: &Global, command: TopologyCommand) -> Result<String, CliError> {
    match command {
        TopologyCommand::Load { file, strict, dry_run } => load(client, &file, strict, dry_run),
        TopologyCommand::Info => {
            let info = topology_info(client)?;
            if global.json {
                json_out(&info)
            } else {
                Ok(render_topology(&info))
            }
        }
    }
}
