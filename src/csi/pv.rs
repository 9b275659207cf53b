//! `brickyard csi pv`: PersistentVolume manifests for volumes that already
//! exist (made by the in-tree provisioner or heketi-cli), bound to this
//! driver, so a cluster leaving Kubernetes 1.25 keeps its data. Each keeps
//! the volume's capacity and GID; the claim it was made for is read back
//! from the in-tree provisioner's volume name (`<prefix>_<ns>_<claim>_<uid>`)
//! or given with `--claim`.

use serde_json::{json, Value};

use super::identity::DRIVER_NAME;
use super::intree::{self, InTreeError};
use super::volume::{VolumeFacts, GID};
use crate::client::{Client, ClientError};
use crate::wire::volumes::{VolumeInfoResponse, VolumeListResponse};

#[derive(clap::Args, Debug)]
pub struct PvArgs {
    /// Volume ids; with --all, every volume.
    pub volumes: Vec<String>,
    #[arg(long)]
    pub all: bool,
    /// Replace the in-tree GlusterFS PVs in this file (`kubectl get pv -o
    /// json`, `-` for standard input), keeping each one's capacity, access
    /// modes, claim, StorageClass and mount options.
    #[arg(long, conflicts_with_all = ["volumes", "all", "claim"])]
    pub from_pvs: Option<std::path::PathBuf>,
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
    /// The StorageClass the PVs name (with --from-pvs: instead of the old
    /// PVs' own).
    #[arg(long)]
    pub storage_class: Option<String>,
}

/// What a printed PV says beyond the volume itself.
#[derive(Debug, Clone, Default)]
pub struct Keep {
    pub access_modes: Vec<String>,
    pub claim: Option<(String, String)>,
    pub storage_class: String,
    /// The old PV's capacity; else the volume's size.
    pub capacity: Option<String>,
    pub mount_options: Vec<String>,
}

/// Why the manifests could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PvError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("name volume ids, --all, or --from-pvs with GlusterFS PVs in it")]
    NoVolumes,
    #[error("{0:?} is not a volume id")]
    BadId(String),
    #[error("--claim names one volume's claim; {0} volumes were given")]
    ClaimForMany(usize),
    #[error("--claim {0:?} is not NAMESPACE/NAME")]
    BadClaim(String),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("--from-pvs {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--from-pvs: {0}")]
    InTree(#[from] InTreeError),
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
pub fn manifest(v: &VolumeInfoResponse, keep: &Keep) -> Value {
    let facts = VolumeFacts::of(v);
    let mut pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": format!("brickyard-{}", v.id),
            "annotations": {"gluster.kubernetes.io/heketi-volume-id": v.id},
        },
        "spec": {
            "capacity": {"storage": keep.capacity.clone().unwrap_or_else(|| format!("{}Gi", v.size))},
            "accessModes": keep.access_modes,
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": keep.storage_class,
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
    if let Some((namespace, name)) = &keep.claim {
        pv["spec"]["claimRef"] = json!({"namespace": namespace, "name": name});
    }
    if !keep.mount_options.is_empty() {
        pv["spec"]["mountOptions"] = json!(keep.mount_options);
    }
    pv
}

/// The in-tree PVs of a file, each with what its replacement keeps.
fn from_pvs(path: &std::path::Path, args: &PvArgs) -> Result<Vec<(String, Keep)>, PvError> {
    let shown = path.display().to_string();
    let read = |source| PvError::Read {
        path: shown.clone(),
        source,
    };
    let bytes = if shown == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).map_err(read)?;
        b
    } else {
        std::fs::read(path).map_err(read)?
    };
    let list: Value = serde_json::from_slice(&bytes)?;
    Ok(intree::read(&list)?
        .into_iter()
        .map(|old| {
            let keep = Keep {
                access_modes: if old.access_modes.is_empty() {
                    args.access_modes.clone()
                } else {
                    old.access_modes
                },
                claim: old.claim,
                storage_class: args.storage_class.clone().or(old.storage_class).unwrap_or_default(),
                capacity: old.capacity,
                mount_options: old.mount_options,
            };
            (old.volume_id, keep)
        })
        .collect())
}

pub fn print(args: &PvArgs) -> Result<(), PvError> {
    let client = Client::new(&args.server, &args.user, &args.secret, false, &[])?;
    let wanted: Vec<(String, Option<Keep>)> = if let Some(path) = &args.from_pvs {
        from_pvs(path, args)?
            .into_iter()
            .map(|(id, keep)| (id, Some(keep)))
            .collect()
    } else if args.all {
        let ids = client.get_json::<VolumeListResponse>("/volumes")?.volumes;
        ids.into_iter().map(|id| (id, None)).collect()
    } else {
        args.volumes.iter().map(|id| (id.clone(), None)).collect()
    };
    if wanted.is_empty() {
        return Err(PvError::NoVolumes);
    }
    let claim = match &args.claim {
        None => None,
        Some(_) if wanted.len() > 1 => return Err(PvError::ClaimForMany(wanted.len())),
        Some(c) => match c.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => Some((ns.to_string(), name.to_string())),
            _ => return Err(PvError::BadClaim(c.clone())),
        },
    };
    let mut items = Vec::new();
    if let Some((bad, _)) = wanted.iter().find(|(id, _)| !crate::ids::is_route_id(id)) {
        return Err(PvError::BadId(bad.clone()));
    }
    for (id, keep) in wanted {
        let v: VolumeInfoResponse = client.get_json(&format!("/volumes/{id}"))?;
        let keep = keep.unwrap_or_else(|| Keep {
            access_modes: args.access_modes.clone(),
            claim: claim.clone().or_else(|| claim_of(&v.name)),
            storage_class: args.storage_class.clone().unwrap_or_default(),
            ..Keep::default()
        });
        items.push(manifest(&v, &keep));
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
