//! `setup-openshift-heketi-storage`: the volume that holds the server's
//! database in a Kubernetes deployment, and the Kubernetes List (Secret
//! with the database, Endpoints, Service, copy Job) that fills it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::CliError;
use crate::client::Client;
use crate::wire::volumes::VolumeInfoResponse;
use crate::wire::ClusterListResponse;

const VOLUME_NAME: &str = "heketidbstorage";
const SECRET: &str = "heketi-storage-secret";
const ENDPOINTS: &str = "heketi-storage-endpoints";
const JOB: &str = "heketi-storage-copy-job";
const VOLUME_TAG: &str = "heketi-storage";

/// Heketi's options for its database volume.
const DB_VOLUME_OPTIONS: [&str; 9] = [
    "performance.stat-prefetch off",
    "performance.write-behind off",
    "performance.open-behind off",
    "performance.quick-read off",
    "performance.strict-o-direct on",
    "performance.read-ahead off",
    "performance.io-cache off",
    "performance.readdir-ahead off",
    "user.heketi.dbstoragelevel 1",
];

#[derive(clap::Args, Debug)]
pub struct SetupStorageArgs {
    /// Filename to contain list of objects
    #[arg(long, default_value = "heketi-storage.json")]
    pub listfile: String,
    /// container image to run this job
    #[arg(long, default_value = "heketi/heketi:dev")]
    pub image: String,
    /// Durability type: none or replicate
    #[arg(long, default_value = "replicate")]
    pub durability: String,
    /// Replica value for durability type 'replicate'
    #[arg(long, default_value_t = 3)]
    pub replica: i64,
    /// Comma separated list of volume options
    #[arg(long = "gluster-volume-options", default_value = "")]
    pub gluster_volume_options: String,
    /// Comma separated list of volume options to add to the defaults
    #[arg(long = "append-volume-options", default_value = "")]
    pub append_volume_options: String,
    /// nodeSelector for heketi-storage-copy-job, KEY=VALUE
    #[arg(long = "node-selector", default_value = "")]
    pub node_selector: String,
}

fn create_volume(client: &Client, args: &SetupStorageArgs) -> Result<VolumeInfoResponse, CliError> {
    let clusters: ClusterListResponse = client.get_json("/clusters")?;
    for cluster in &clusters.clusters {
        let info: Value = client.get_json(&format!("/clusters/{cluster}"))?;
        for volume in info["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let v: VolumeInfoResponse = client.get_json(&format!("/volumes/{volume}"))?;
            if v.name == VOLUME_NAME {
                return Err(CliError(format!("Volume {VOLUME_NAME} already exists")));
            }
        }
    }
    let mut options: Vec<String> = if args.gluster_volume_options.is_empty() {
        DB_VOLUME_OPTIONS.iter().map(ToString::to_string).collect()
    } else {
        let mut o: Vec<String> = args.gluster_volume_options.split(',').map(str::to_string).collect();
        o.push("user.heketi.dbstoragelevel custom".into());
        o
    };
    if !args.append_volume_options.is_empty() {
        options.extend(args.append_volume_options.split(',').map(str::to_string));
    }
    let durability = match args.durability.as_str() {
        "replicate" => json!({"type": "replicate", "replicate": {"replica": args.replica}}),
        "none" => json!({"type": "none"}),
        "disperse" => {
            return Err(CliError(
                "Durability disperse is not supported for heketi database storage".into(),
            ))
        }
        other => return Err(CliError(format!("Unknown durability type {other}"))),
    };
    let body = json!({"size": 2, "name": VOLUME_NAME, "durability": durability, "glustervolumeoptions": options});
    client
        .call(Method::POST, "/volumes", Some(&body), StatusCode::OK)?
        .json()
        .map_err(|e| CliError(e.to_string()))
}

/// The Kubernetes List heketi-cli writes.
pub fn kube_list(volume: &VolumeInfoResponse, db: &[u8], args: &SetupStorageArgs) -> Value {
    let support = json!({"deploy-heketi": "support"});
    let secret = json!({
        "kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": SECRET, "creationTimestamp": null, "labels": support},
        "data": {"heketi.db": STANDARD.encode(db)},
    });
    let subsets: Vec<Value> = volume
        .mount
        .glusterfs
        .hosts
        .iter()
        .map(|ip| json!({"addresses": [{"ip": ip}], "ports": [{"port": 1}]}))
        .collect();
    let endpoints = json!({
        "kind": "Endpoints", "apiVersion": "v1",
        "metadata": {"name": ENDPOINTS, "creationTimestamp": null},
        "subsets": subsets,
    });
    let service = json!({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": ENDPOINTS, "creationTimestamp": null},
        "spec": {"ports": [{"port": 1, "targetPort": 0}]},
        "status": {"loadBalancer": {}},
    });
    let mut pod = json!({
        "volumes": [
            {"name": VOLUME_TAG, "glusterfs": {"endpoints": ENDPOINTS, "path": volume.name}},
            {"name": SECRET, "secret": {"secretName": SECRET}},
        ],
        "containers": [{
            "name": "heketi", "image": args.image,
            "command": ["cp", "/db/heketi.db", "/heketi"],
            "resources": {},
            "volumeMounts": [{"name": VOLUME_TAG, "mountPath": "/heketi"}, {"name": SECRET, "mountPath": "/db"}],
        }],
        "restartPolicy": "Never",
    });
    if let Some((key, value)) = args.node_selector.split_once('=') {
        if !value.contains('=') {
            pod["nodeSelector"] = json!({ key: value });
        }
    }
    let job = json!({
        "kind": "Job", "apiVersion": "batch/v1",
        "metadata": {"name": JOB, "creationTimestamp": null, "labels": support},
        "spec": {
            "parallelism": 1, "completions": 1,
            "template": {"metadata": {"name": JOB, "creationTimestamp": null}, "spec": pod},
        },
        "status": {},
    });
    json!({"apiVersion": "v1", "kind": "List", "items": [secret, endpoints, service, job]})
}

pub fn run(client: &Client, args: &SetupStorageArgs) -> Result<String, CliError> {
    let volume = create_volume(client, args)?;
    let made = (|| {
        let db = client
            .call::<()>(Method::GET, "/backup/db", None, StatusCode::OK)?
            .bytes()
            .map_err(|e| CliError(format!("ERROR: {e}\nUnable to get database from Heketi server")))?;
        let list = kube_list(&volume, &db, args);
        let text = serde_json::to_string_pretty(&list).map_err(|e| CliError(e.to_string()))?;
        println!("Saving {}", args.listfile);
        std::fs::write(&args.listfile, text).map_err(|e| CliError(format!("open {}: {e}", args.listfile)))
    })();
    if let Err(e) = made {
        eprintln!("Cleaning up");
        let _ = client.call::<()>(
            Method::DELETE,
            &format!("/volumes/{}", volume.id),
            None,
            StatusCode::NO_CONTENT,
        );
        return Err(e);
    }
    Ok(String::new())
}
