//! `volume` commands.

use std::fmt::Write;

use clap::{ArgAction, Subcommand};
use reqwest::{Method, StatusCode};

use super::{json_out, CliError, Client, Global};
use crate::wire::volumes::{VolumeInfoResponse, VolumeListResponse};

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a GlusterFS volume
    Create {
        #[arg(long, default_value_t = 0)]
        size: i64,
        #[arg(long, default_value_t = 0)]
        gid: i64,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "replicate")]
        durability: String,
        #[arg(long, default_value_t = 3)]
        replica: i64,
        #[arg(long = "disperse-data", default_value_t = 4)]
        disperse_data: i64,
        #[arg(long, default_value_t = 2)]
        redundancy: i64,
        #[arg(long = "snapshot-factor", default_value_t = 1.0)]
        snapshot_factor: f64,
        #[arg(long, default_value = "")]
        clusters: String,
        #[arg(long = "gluster-volume-options", default_value = "")]
        gluster_volume_options: String,
        #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
        block: bool,
        /// Print a Kubernetes PersistentVolume for the new volume.
        #[arg(long = "persistent-volume")]
        persistent_volume: bool,
        /// Write the PersistentVolume to this file instead.
        #[arg(long = "persistent-volume-file", default_value = "")]
        persistent_volume_file: String,
        /// Endpoints name for the PersistentVolume.
        #[arg(long = "persistent-volume-endpoint", default_value = "")]
        persistent_volume_endpoint: String,
    },
    /// Retrieves information about the volume
    Info { args: Vec<String> },
    /// Lists the volumes managed by Heketi
    List,
    /// Deletes the volume
    Delete { args: Vec<String> },
    /// Expand a volume
    Expand {
        args: Vec<String>,
        #[arg(long = "expand-size", default_value_t = 0)]
        expand_size: i64,
        #[arg(long, default_value = "")]
        volume: String,
    },
    /// Creates a clone
    Clone {
        args: Vec<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Utilities for working on volume endpoint
    Endpoint {
        #[command(subcommand)]
        command: EndpointCommand,
    },
    /// Set restrictions on a block hosting volume
    #[command(name = "set-block-hosting-restriction")]
    SetBlockHostingRestriction {
        #[command(subcommand)]
        restriction: Restriction,
    },
}

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// Output a patch for endpoint update
    Patch { args: Vec<String> },
}

#[derive(Subcommand, Debug)]
pub enum Restriction {
    /// Lock a block hosting volume against new block volumes
    Locked { args: Vec<String> },
    /// Unlock a block hosting volume
    Unlocked { args: Vec<String> },
}

/// The Kubernetes PersistentVolume heketi-cli prints for a volume, with the
/// key order of the Kubernetes API types.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PersistentVolume {
    kind: &'static str,
    api_version: &'static str,
    metadata: PvMeta,
    spec: PvSpec,
    status: serde_json::Map<String, serde_json::Value>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PvMeta {
    name: String,
    creation_timestamp: Option<String>,
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PvSpec {
    capacity: std::collections::BTreeMap<String, String>,
    glusterfs: PvGlusterfs,
    access_modes: Vec<&'static str>,
    persistent_volume_reclaim_policy: &'static str,
}

#[derive(serde::Serialize)]
struct PvGlusterfs {
    endpoints: String,
    path: String,
}

impl PersistentVolume {
    fn of(v: &VolumeInfoResponse, endpoint: &str) -> PersistentVolume {
        PersistentVolume {
            kind: "PersistentVolume",
            api_version: "v1",
            metadata: PvMeta {
                name: format!("glusterfs-{}", v.id.chars().take(8).collect::<String>()),
                creation_timestamp: None,
                annotations: [("pv.beta.kubernetes.io/gid".to_string(), v.gid.to_string())].into(),
            },
            spec: PvSpec {
                capacity: [("storage".to_string(), format!("{}Gi", v.size))].into(),
                glusterfs: PvGlusterfs {
                    endpoints: if endpoint.is_empty() {
                        "TYPE ENDPOINT HERE".into()
                    } else {
                        endpoint.into()
                    },
                    path: v.name.clone(),
                },
                access_modes: vec!["ReadWriteMany"],
                persistent_volume_reclaim_policy: "Retain",
            },
            status: serde_json::Map::new(),
        }
    }
}

/// Go's template over the mount options map: sorted, no separator.
pub fn mount_options(v: &VolumeInfoResponse) -> String {
    v.mount
        .glusterfs
        .options
        .iter()
        .map(|(k, val)| format!("{k}={val}"))
        .collect()
}

/// heketi-cli's volume template, rendered.
pub fn print_volume(v: &VolumeInfoResponse) -> String {
    let mut out = String::new();
    let options = mount_options(v);
    let restriction = match v.blockinfo.restriction.as_str() {
        "" => "(none)",
        "locked" => "locked",
        "locked-by-update" => "locked-by-update",
        _ => "unknown",
    };
    let bricks = v.bricks.len() as i64;
    let d = &v.durability;
    let distribute = match d.kind.as_str() {
        "none" => bricks,
        "replicate" if d.replicate.replica != 0 => bricks / d.replicate.replica,
        "disperse" if d.disperse.data + d.disperse.redundancy != 0 => {
            bricks / (d.disperse.data + d.disperse.redundancy)
        }
        _ => 0,
    };
    let _ = write!(
        out,
        "Name: {}\nSize: {}\nVolume Id: {}\nCluster Id: {}\nMount: {}\nMount Options: {options}\nBlock: {}\nFree Size: {}\nReserved Size: {}\nBlock Hosting Restriction: {restriction}\nBlock Volumes: [{}]\nDurability Type: {}\nDistribute Count: {distribute}",
        v.name,
        v.size,
        v.id,
        v.cluster,
        v.mount.glusterfs.device,
        v.block,
        v.blockinfo.freesize,
        v.blockinfo.reservedsize,
        v.blockinfo.blockvolume.join(" "),
        d.kind
    );
    match d.kind.as_str() {
        "replicate" => {
            let _ = write!(out, "\nReplica Count: {}", d.replicate.replica);
        }
        "disperse" => {
            let _ = write!(
                out,
                "\nDisperse Data Count: {}\nDisperse Redundancy Count: {}",
                d.disperse.data, d.disperse.redundancy
            );
        }
        _ => {}
    }
    if v.snapshot.enable {
        let _ = write!(out, "\nSnapshot Factor: {:.2}\n", v.snapshot.factor);
    }
    out.push('\n');
    out
}

fn first(args: &[String]) -> Result<String, CliError> {
    args.first().cloned().ok_or_else(|| "Volume id missing".into())
}

fn show(global: &Global, v: &VolumeInfoResponse) -> Result<String, CliError> {
    if global.json {
        json_out(v)
    } else {
        Ok(print_volume(v))
    }
}

fn volume_of(resp: reqwest::blocking::Response) -> Result<VolumeInfoResponse, CliError> {
    resp.json().map_err(|e| CliError(e.to_string()))
}

pub fn run(client: &Client, global: &Global, command: VolumeCommand) -> Result<String, CliError> {
    match command {
        VolumeCommand::Create {
            size,
            gid,
            name,
            durability,
            replica,
            disperse_data,
            redundancy,
            snapshot_factor,
            clusters,
            gluster_volume_options,
            block,
            persistent_volume,
            persistent_volume_file,
            persistent_volume_endpoint,
        } => {
            if size == 0 {
                return Err("Missing volume size".into());
            }
            if persistent_volume && persistent_volume_endpoint.is_empty() {
                eprintln!("--persistent-volume-endpoint must be provided when using --persistent-volume");
                return Err("Missing endpoint".into());
            }
            let mut body = serde_json::json!({
                "size": size,
                "name": name,
                "durability": {"type": durability, "replicate": {"replica": replica}, "disperse": {"data": disperse_data, "redundancy": redundancy}},
                "snapshot": {"enable": false, "factor": 0},
            });
            if !clusters.is_empty() {
                body["clusters"] = serde_json::json!(clusters.split(',').collect::<Vec<_>>());
            }
            if !gluster_volume_options.is_empty() {
                body["glustervolumeoptions"] = serde_json::json!(gluster_volume_options.split(',').collect::<Vec<_>>());
            }
            if gid != 0 {
                body["gid"] = serde_json::json!(gid);
            }
            if block {
                body["block"] = serde_json::json!(true);
            }
            if snapshot_factor > 1.0 {
                body["snapshot"] = serde_json::json!({"enable": true, "factor": snapshot_factor as f32});
            }
            let v = volume_of(client.call(Method::POST, "/volumes", Some(&body), StatusCode::OK)?)?;
            if persistent_volume || !persistent_volume_file.is_empty() {
                let pv = serde_json::to_string_pretty(&PersistentVolume::of(&v, &persistent_volume_endpoint))
                    .map_err(|e| CliError(e.to_string()))?;
                if persistent_volume {
                    return Ok(format!("{pv}\n"));
                }
                std::fs::write(&persistent_volume_file, pv).map_err(|e| {
                    eprintln!("Unable to write to file {persistent_volume_file}");
                    CliError(e.to_string())
                })?;
                return Ok(String::new());
            }
            show(global, &v)
        }
        VolumeCommand::Info { args } => {
            let id = first(&args)?;
            let v: VolumeInfoResponse = client.get_json(&format!("/volumes/{id}"))?;
            show(global, &v)
        }
        VolumeCommand::List => {
            let list: VolumeListResponse = client.get_json("/volumes")?;
            if global.json {
                return json_out(&list);
            }
            let mut out = String::new();
            for id in &list.volumes {
                let v: VolumeInfoResponse = client.get_json(&format!("/volumes/{id}"))?;
                let block = if v.block { " [block]" } else { "" };
                let _ = writeln!(out, "Id:{id:<35} Cluster:{:<35} Name:{}{block}", v.cluster, v.name);
            }
            Ok(out)
        }
        VolumeCommand::Delete { args } => {
            let id = first(&args)?;
            client.call::<()>(Method::DELETE, &format!("/volumes/{id}"), None, StatusCode::NO_CONTENT)?;
            Ok(format!("Volume {id} deleted\n"))
        }
        VolumeCommand::Expand {
            args,
            expand_size,
            volume,
        } => {
            if expand_size == 0 {
                return Err("Missing volume amount to expand".into());
            }
            let id = if volume.is_empty() {
                args.first()
                    .cloned()
                    .ok_or_else(|| CliError::from("Missing volume id"))?
            } else {
                volume
            };
            let body = serde_json::json!({"expand_size": expand_size});
            let v = volume_of(client.call(
                Method::POST,
                &format!("/volumes/{id}/expand"),
                Some(&body),
                StatusCode::OK,
            )?)?;
            show(global, &v)
        }
        VolumeCommand::Clone { args, name } => {
            let id = first(&args)?;
            let body = if name.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::json!({ "name": name })
            };
            let v = volume_of(client.call(
                Method::POST,
                &format!("/volumes/{id}/clone"),
                Some(&body),
                StatusCode::OK,
            )?)?;
            show(global, &v)
        }
        VolumeCommand::Endpoint {
            command: EndpointCommand::Patch { args },
        } => {
            let id = first(&args)?;
            let v: VolumeInfoResponse = client.get_json(&format!("/volumes/{id}"))?;
            // Kubernetes EndpointSubset: one address per host, port 1.
            let subsets: Vec<serde_json::Value> = v
                .mount
                .glusterfs
                .hosts
                .iter()
                .map(|h| serde_json::json!({"addresses": [{"ip": h}], "ports": [{"port": 1}]}))
                .collect();
            Ok(format!("{{\"subsets\": {}}}", json_out(&subsets)?))
        }
        VolumeCommand::SetBlockHostingRestriction { restriction } => {
            let (args, value) = match restriction {
                Restriction::Locked { args } => (args, "locked"),
                Restriction::Unlocked { args } => (args, ""),
            };
            let id = first(&args)?;
            let body = serde_json::json!({ "restriction": value });
            let v = volume_of(client.call(
                Method::POST,
                &format!("/volumes/{id}/block-restriction"),
                Some(&body),
                StatusCode::OK,
            )?)?;
            show(global, &v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_renders_like_heketi_cli() {
        let json = r#"{"size":10,"name":"vol_1","durability":{"type":"replicate","replicate":{"replica":3},"disperse":{"data":4,"redundancy":2}},"snapshot":{"enable":true,"factor":1.5},"id":"1","cluster":"c","mount":{"glusterfs":{"hosts":["a","b"],"device":"a:vol_1","options":{"backup-volfile-servers":"b"}}},"blockinfo":{},"bricks":[]}"#;
        let v: VolumeInfoResponse = serde_json::from_str(json).unwrap();
        assert_eq!(
            print_volume(&v),
            "Name: vol_1\nSize: 10\nVolume Id: 1\nCluster Id: c\nMount: a:vol_1\nMount Options: backup-volfile-servers=b\nBlock: false\nFree Size: 0\nReserved Size: 0\nBlock Hosting Restriction: (none)\nBlock Volumes: []\nDurability Type: replicate\nDistribute Count: 0\nReplica Count: 3\nSnapshot Factor: 1.50\n\n"
        );
    }
}
