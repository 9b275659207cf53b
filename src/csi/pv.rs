//! `brickyard csi pv`: PersistentVolume manifests for volumes that already
//! exist (made by the in-tree provisioner or heketi-cli), bound to this
//! driver, so a cluster leaving Kubernetes 1.25 keeps its data. Each keeps
//! the volume's capacity and GID; the claim it was made for is read back
//! from the in-tree provisioner's volume name (`<prefix>_<ns>_<claim>_<uid>`)
//! or given with `--claim`.

use serde_json::{json, Value};

use super::identity::DRIVER_NAME;
use super::volume::{VolumeFacts, GID};
use crate::client::{Client, ClientError};
use crate::wire::volumes::{VolumeInfoResponse, VolumeListResponse};

#[derive(clap::Args, Debug)]
pub struct PvArgs {
    /// Volume ids; with --all, every volume.
    pub volumes: Vec<String>,
    #[arg(long)]
    pub all: bool,
    /// The REST API.
    #[arg(long, env = "HEKETI_CLI_SERVER", default_value = "http://localhost:8080")]
    pub server: String,
    #[arg(long, env = "HEKETI_CLI_USER", default_value = "admin")]
    pub user: String,
    #[arg(long, env = "HEKETI_CLI_KEY", default_value = "", hide_env_values = true)]
    pub secret: String,
    /// The access modes to give (the in-tree default gave all three).
    #[arg(long, value_delimiter = ',', default_value = "ReadWriteMany")]
    pub access_modes: Vec<String>,
    /// The claim, as NAMESPACE/NAME (one volume only).
    #[arg(long)]
    pub claim: Option<String>,
    /// The StorageClass the PVs name.
    #[arg(long, default_value = "")]
    pub storage_class: String,
}

/// Why the manifests could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PvError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("name volume ids, or --all")]
    NoVolumes,
    #[error("--claim names one volume's claim; {0} volumes were given")]
    ClaimForMany(usize),
    #[error("--claim {0:?} is not NAMESPACE/NAME")]
    BadClaim(String),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// The claim an in-tree provisioned volume was made for, from its name.
pub fn claim_of(name: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = name.split('_').collect();
    match parts.as_slice() {
        [_prefix, namespace, claim, uid] if !namespace.is_empty() && !claim.is_empty() && uid.len() >= 8 => {
            Some((namespace.to_string(), claim.to_string()))
        }
        _ => None,
    }
}

/// One PV manifest for a volume.
pub fn manifest(
    v: &VolumeInfoResponse,
    access_modes: &[String],
    claim: Option<(String, String)>,
    class: &str,
) -> Value {
    let facts = VolumeFacts::of(v);
    let mut pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": format!("brickyard-{}", v.id),
            "annotations": {"gluster.kubernetes.io/heketi-volume-id": v.id},
        },
        "spec": {
            "capacity": {"storage": format!("{}Gi", v.size)},
            "accessModes": access_modes,
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": class,
            "volumeMode": "Filesystem",
            "csi": {
                "driver": DRIVER_NAME,
                "volumeHandle": v.id,
                "volumeAttributes": facts.context(),
            },
        },
    });
    if let Some(gid) = facts.context().get(GID) {
        pv["metadata"]["annotations"]["pv.beta.kubernetes.io/gid"] = json!(gid);
    }
    if let Some((namespace, name)) = claim {
        pv["spec"]["claimRef"] = json!({"namespace": namespace, "name": name});
    }
    pv
}

pub fn print(args: &PvArgs) -> Result<(), PvError> {
    let client = Client::new(&args.server, &args.user, &args.secret, false, &[])?;
    let ids = if args.all {
        client.get_json::<VolumeListResponse>("/volumes")?.volumes
    } else {
        args.volumes.clone()
    };
    if ids.is_empty() {
        return Err(PvError::NoVolumes);
    }
    let claim = match &args.claim {
        None => None,
        Some(_) if ids.len() > 1 => return Err(PvError::ClaimForMany(ids.len())),
        Some(c) => match c.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => Some((ns.to_string(), name.to_string())),
            _ => return Err(PvError::BadClaim(c.clone())),
        },
    };
    let mut items = Vec::new();
    for id in &ids {
        let v: VolumeInfoResponse = client.get_json(&format!("/volumes/{id}"))?;
        let claim = claim.clone().or_else(|| claim_of(&v.name));
        items.push(manifest(&v, &args.access_modes, claim, &args.storage_class));
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    println!("{}", serde_json::to_string_pretty(&list)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_back_from_in_tree_names() {
        assert_eq!(
            claim_of("gfs_monitoring_prometheus-data_5c0b6a3e-8a1f-11ee-9d2b-0a580a800215"),
            Some(("monitoring".into(), "prometheus-data".into()))
        );
        assert_eq!(claim_of("vol_0123456789abcdef0123456789abcdef"), None);
        assert_eq!(claim_of("archive-scratch"), None);
    }
}
