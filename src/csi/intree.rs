//! The in-tree GlusterFS PersistentVolumes a cluster on Kubernetes 1.25
//! holds (`kubectl get pv -o json`), read for what their CSI replacements
//! keep: the Brickyard volume (the provisioner's
//! `gluster.kubernetes.io/heketi-volume-id` annotation, else the path with
//! `vol_` cut off, as the in-tree deleter finds it), capacity, access
//! modes, claim, StorageClass and mount options.

use serde_json::Value;

pub const VOLUME_ID_ANNOTATION: &str = "gluster.kubernetes.io/heketi-volume-id";

/// What an in-tree PV says that its replacement keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InTreePv {
    pub name: String,
    pub volume_id: String,
    pub capacity: Option<String>,
    pub access_modes: Vec<String>,
    /// Namespace and name; the old claim's uid is dropped, since the claim
    /// is made again to bind to the new PV.
    pub claim: Option<(String, String)>,
    pub storage_class: Option<String>,
    pub mount_options: Vec<String>,
}

/// Why a PV list cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InTreeError {
    #[error("not a PersistentVolume list (`kubectl get pv -o json`): {0}")]
    NotAList(String),
    #[error("PV {pv}: no {VOLUME_ID_ANNOTATION} annotation and no vol_<id> path ({path:?})")]
    NoVolumeId { pv: String, path: String },
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The GlusterFS PVs of a list (or one PV); other PVs are left out.
pub fn read(list: &Value) -> Result<Vec<InTreePv>, InTreeError> {
    let items = match (list["kind"].as_str(), list["items"].as_array()) {
        (Some("PersistentVolume"), _) => std::slice::from_ref(list),
        (_, Some(items)) => items.as_slice(),
        _ => return Err(InTreeError::NotAList("no items".into())),
    };
    let mut out = Vec::new();
    for pv in items {
        let gluster = &pv["spec"]["glusterfs"];
        if !gluster.is_object() {
            continue;
        }
        let name = text(&pv["metadata"]["name"]).unwrap_or_default();
        let path = gluster["path"].as_str().unwrap_or_default();
        let volume_id = text(&pv["metadata"]["annotations"][VOLUME_ID_ANNOTATION])
            .or_else(|| path.strip_prefix("vol_").map(str::to_string))
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| InTreeError::NoVolumeId {
                pv: name.clone(),
                path: path.to_string(),
            })?;
        let claim_ref = &pv["spec"]["claimRef"];
        let claim = text(&claim_ref["namespace"]).zip(text(&claim_ref["name"]));
        out.push(InTreePv {
            name,
            volume_id,
            capacity: text(&pv["spec"]["capacity"]["storage"]),
            access_modes: strings(&pv["spec"]["accessModes"]),
            claim,
            storage_class: text(&pv["spec"]["storageClassName"]),
            mount_options: strings(&pv["spec"]["mountOptions"]),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn in_tree(annotations: Value, path: &str) -> Value {
        json!({
            "kind": "PersistentVolume",
            "metadata": {"name": "pvc-1", "annotations": annotations},
            "spec": {
                "capacity": {"storage": "5Gi"},
                "accessModes": ["ReadWriteOnce"],
                "claimRef": {"namespace": "apps", "name": "data", "uid": "u-1"},
                "storageClassName": "glusterfs",
                "mountOptions": ["log-level=WARNING"],
                "glusterfs": {"endpoints": "glusterfs-dynamic-u-1", "path": path},
            },
        })
    }

    #[test]
    fn the_volume_id_comes_from_the_annotation_or_the_path() {
        let id = "0123456789abcdef0123456789abcdef";
        let list = json!({"kind": "List", "items": [
            in_tree(json!({VOLUME_ID_ANNOTATION: id}), "gfs_apps_data_x"),
            in_tree(json!({}), &format!("vol_{id}")),
            {"kind": "PersistentVolume", "metadata": {"name": "nfs"}, "spec": {"nfs": {"path": "/x"}}},
        ]});
        let read = read(&list).unwrap();
        assert_eq!(read.len(), 2, "the NFS PV is left out");
        for pv in &read {
            assert_eq!(pv.volume_id, id);
            assert_eq!(pv.claim, Some(("apps".into(), "data".into())));
            assert_eq!(pv.access_modes, ["ReadWriteOnce"]);
            assert_eq!(pv.capacity.as_deref(), Some("5Gi"));
            assert_eq!(pv.mount_options, ["log-level=WARNING"]);
        }
    }

    #[test]
    fn a_pv_naming_no_volume_is_an_error_naming_the_pv() {
        let e = read(&in_tree(json!({}), "archive; rm -rf /")).unwrap_err();
        assert!(e.to_string().contains("PV pvc-1"), "{e}");
        assert!(read(&json!({"kind": "Pod"})).is_err());
    }
}
