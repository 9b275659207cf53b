//! heketi.json as Heketi reads it: Go's case-insensitive keys, `null`
//! leaving a field alone, and Heketi's own types for every value. This file
//! only reads; the environment (`env`) and the flags (`flags`) override
//! what it gives, and `Config::build` turns the result into a `Config`.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::ConfigError;

/// Options shared by the SSH and Kubernetes executors (`sshexec`/`kubeexec`).
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct ExecConfigFile {
    pub fstab: String,
    pub mountopts: String,
    pub sudo: bool,
    pub snapshot_limit: i64,
    pub rebalance_on_expansion: bool,
    pub backup_lvm_metadata: bool,
    pub gluster_cli_timeout: u64,
    pub pv_data_alignment: String,
    pub vg_physicalextentsize: String,
    pub lv_chunksize: String,
    pub xfs_sw: i64,
    pub xfs_su: i64,
    pub debug_umount_failures: bool,
    pub block_prealloc: String,
    pub lvm_wrapper: String,
    // sshexec
    pub keyfile: String,
    pub user: String,
    pub port: String,
    /// Brickyard: known_hosts file (`SSH_KNOWN_HOSTS`, as Heketi reads it).
    pub known_hosts: String,
    /// Brickyard: `yes` (known hosts only), `accept-new`, or `no`. Empty
    /// means `yes` with a known_hosts file and `no` without, as Heketi.
    pub host_key_checking: String,
    /// Brickyard: seconds to connect and authenticate (Heketi waits forever).
    pub connect_timeout: u64,
    // kubeexec
    pub namespace: String,
    pub gluster_daemonset: bool,
    pub use_pod_names: bool,
    pub max_connections: i64,
    pub disable_timeout_prefix: bool,
}

#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct RetryLimitsFile {
    pub volume_create: i64,
}

/// Heketi's `glusterfs` object, as written in heketi.json.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct GlusterfsFile {
    pub executor: String,
    pub db: String,
    /// Brickyard: an etcd store, field by field.
    pub store: super::store::StoreFile,
    pub db_read_only: bool,
    pub loglevel: String,
    pub allocator: String,
    pub brick_max_size_gb: i64,
    pub brick_min_size_gb: i64,
    pub max_bricks_per_volume: i64,
    pub average_file_size_kb: u64,
    pub pre_request_volume_options: String,
    pub post_request_volume_options: String,
    pub zone_checking: String,
    pub max_volumes_per_cluster: i64,
    pub auto_create_block_hosting_volume: bool,
    pub block_hosting_volume_size: i64,
    pub block_hosting_volume_options: String,
    pub disable_monitor_gluster_nodes: bool,
    pub refresh_time_monitor_gluster_nodes: u64,
    pub start_time_monitor_gluster_nodes: u64,
    /// Brickyard: glusterd checks the health monitor runs at once.
    pub monitor_max_checks: u64,
    pub max_inflight_operations: u64,
    /// Brickyard: requests that may wait for a slot before `429`.
    pub max_queued_operations: u64,
    /// Brickyard: executor calls at once on one storage node.
    pub node_concurrency: u64,
    /// Brickyard: the store's page cache, MiB.
    pub store_cache_mb: u64,
    pub disable_background_cleaner: bool,
    pub refresh_time_background_cleaner: u64,
    pub start_time_background_cleaner: u64,
    pub operation_retry_limits: RetryLimitsFile,
    pub sshexec: ExecConfigFile,
    pub kubeexec: ExecConfigFile,
    /// Brickyard's mock executor settings (`device_size_gb`, `faults`).
    pub mockexec: MockExecFile,
}

#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct MockExecFile {
    pub device_size_gb: u64,
    pub faults: Vec<String>,
}

#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub(super) struct KeyFile {
    pub(super) key: String,
}

#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub(super) struct JwtFile {
    pub(super) admin: KeyFile,
    pub(super) user: KeyFile,
}

/// heketi.json's top level.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub(super) struct HeketiFile {
    pub(super) port: String,
    pub(super) use_auth: bool,
    pub(super) jwt: JwtFile,
    pub(super) enable_tls: bool,
    pub(super) cert_file: String,
    pub(super) key_file: String,
    pub(super) backup_db_to_kube_secret: bool,
    pub(super) profiling: bool,
    pub(super) default_state: String,
    pub(super) glusterfs: Option<GlusterfsFile>,
    /// Brickyard extension: seconds of slack after `exp`.
    pub(super) jwt_exp_leeway_seconds: Option<u64>,
    /// Brickyard extension: limits of the HTTP server.
    pub(super) http: HttpFile,
}

#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub(super) struct HttpFile {
    pub(super) max_body_bytes: u64,
    pub(super) header_timeout_secs: u64,
    pub(super) max_connections: u64,
    pub(super) max_pending_handshakes: u64,
}

/// Go matches keys case-insensitively and leaves a field alone for `null`.
fn lowercase_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.to_lowercase(), lowercase_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(lowercase_keys).collect()),
        other => other,
    }
}

pub(super) fn parse_heketi_file(text: &str) -> Result<HeketiFile, ConfigError> {
    let raw: Value =
        serde_json::from_str(text).map_err(|e| ConfigError(format!("ERROR: Unable to parse configuration: {e}")))?;
    // Go matches config keys case-insensitively; the file holds no user-named keys.
    serde_json::from_value(lowercase_keys(raw))
        .map_err(|e| ConfigError(format!("ERROR: Unable to parse configuration: {e}")))
}

pub(super) fn read_file(path: &Path) -> Result<HeketiFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("ERROR: Unable to open config file {}: {e}", path.display())))?;
    parse_heketi_file(&text)
}
