//! Heketi's environment variables (`HEKETI_*`, Brickyard's `BRICKYARD_*`),
//! which override heketi.json. The environment is read through `Env`, so
//! tests pass a map instead of the process environment.

use std::path::PathBuf;

use super::file::{ExecConfigFile, GlusterfsFile, HeketiFile};
use super::ConfigError;

/// Where a configuration value is looked up in the environment. Tests pass
/// their own map instead of the process environment.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Heketi's y/1 n/0 prefix convention for the kube flags.
fn yes_no(value: &str) -> Option<bool> {
    match value.chars().next() {
        Some('y' | 'Y' | '1') => Some(true),
        Some('n' | 'N' | '0') => Some(false),
        _ => None,
    }
}

/// A number; unset and empty are `None`. `what` names its kind in the error.
fn env_number<T: std::str::FromStr>(env: &dyn Env, name: &str, what: &str) -> Result<Option<T>, ConfigError> {
    match env.var(name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError(format!("ERROR: {name} must be {what}, got {v:?}"))),
    }
}

pub(super) fn env_u64(env: &dyn Env, name: &str) -> Result<Option<u64>, ConfigError> {
    env_number(env, name, "an unsigned integer")
}

fn env_i64(env: &dyn Env, name: &str) -> Result<Option<i64>, ConfigError> {
    env_number(env, name, "an integer")
}

/// Replaces `target` when the variable is set and not empty.
fn env_string(env: &dyn Env, name: &str, target: &mut String) {
    if let Some(v) = env.var(name) {
        if !v.is_empty() {
            *target = v;
        }
    }
}

/// Applies the overrides of heketi.json's top level to `file`, and those
/// of its `glusterfs` object to `gfs`.
pub(super) fn override_file(file: &mut HeketiFile, gfs: &mut GlusterfsFile, env: &dyn Env) -> Result<(), ConfigError> {
    env_string(env, "HEKETI_HTTP_PORT", &mut file.port);
    env_string(env, "HEKETI_ADMIN_KEY", &mut file.jwt.admin.key);
    env_string(env, "HEKETI_USER_KEY", &mut file.jwt.user.key);
    env_string(env, "HEKETI_DEFAULT_STATE", &mut file.default_state);
    if env
        .var("HEKETI_BACKUP_DB_TO_KUBE_SECRET")
        .is_some_and(|v| !v.is_empty())
    {
        file.backup_db_to_kube_secret = true;
    }
    if env.var("HEKETI_PROFILING").is_some_and(|v| !v.is_empty()) {
        file.profiling = true;
    }

    env_string(env, "HEKETI_EXECUTOR", &mut gfs.executor);
    env_string(env, "HEKETI_DB_PATH", &mut gfs.db);
    env_string(env, "HEKETI_GLUSTERAPP_LOGLEVEL", &mut gfs.loglevel);
    if let Some(v) = env
        .var("HEKETI_AUTO_CREATE_BLOCK_HOSTING_VOLUME")
        .and_then(|v| go_bool(&v))
    {
        gfs.auto_create_block_hosting_volume = v;
    }
    if let Some(v) = env_i64(env, "HEKETI_BLOCK_HOSTING_VOLUME_SIZE")? {
        gfs.block_hosting_volume_size = v;
    }
    env_string(
        env,
        "HEKETI_BLOCK_HOSTING_VOLUME_OPTIONS",
        &mut gfs.block_hosting_volume_options,
    );
    if let Some(v) = env_u64(env, "HEKETI_MAX_INFLIGHT_OPERATIONS")? {
        gfs.max_inflight_operations = v;
    }
    if let Some(v) = env.var("HEKETI_PRE_REQUEST_VOLUME_OPTIONS") {
        gfs.pre_request_volume_options = v;
    }
    if let Some(v) = env.var("HEKETI_POST_REQUEST_VOLUME_OPTIONS") {
        gfs.post_request_volume_options = v;
    }
    env_string(env, "HEKETI_ZONE_CHECKING", &mut gfs.zone_checking);
    if let Some(v) = env_i64(env, "HEKETI_GLUSTER_MAX_VOLUMES_PER_CLUSTER")? {
        gfs.max_volumes_per_cluster = v;
    }
    if env.var("HEKETI_DISABLE_HEALTH_MONITOR").as_deref() == Some("true") {
        gfs.disable_monitor_gluster_nodes = true;
    }
    if env.var("HEKETI_DISABLE_BACKGROUND_CLEANER").as_deref() == Some("true") {
        gfs.disable_background_cleaner = true;
    }
    Ok(())
}

/// Applies the overrides of `sshexec`/`kubeexec` (both read the same variables).
pub(super) fn override_exec(exec: &mut ExecConfigFile, env: &dyn Env) -> Result<(), ConfigError> {
    env_string(env, "HEKETI_FSTAB", &mut exec.fstab);
    env_string(env, "HEKETI_MOUNT_OPTS", &mut exec.mountopts);
    if let Some(limit) = env_i64(env, "HEKETI_SNAPSHOT_LIMIT")? {
        exec.snapshot_limit = limit;
    }
    if let Some(t) = env_u64(env, "HEKETI_GLUSTER_CLI_TIMEOUT")? {
        exec.gluster_cli_timeout = t;
    }
    // Heketi forces rebalance on; only the environment can turn it off.
    exec.rebalance_on_expansion = env
        .var("HEKETI_GLUSTERAPP_REBALANCE_ON_EXPANSION")
        .and_then(|v| go_bool(&v))
        .unwrap_or(true);
    if let Some(v) = env.var("HEKETI_DEBUG_UMOUNT_FAILURES").and_then(|v| go_bool(&v)) {
        exec.debug_umount_failures = v;
    }
    env_string(env, "HEKETI_BLOCK_VOLUME_DEFAULT_PREALLOC", &mut exec.block_prealloc);
    env_string(env, "HEKETI_LVM_WRAPPER", &mut exec.lvm_wrapper);
    env_string(env, "HEKETI_SSH_KEYFILE", &mut exec.keyfile);
    env_string(env, "HEKETI_SSH_USER", &mut exec.user);
    env_string(env, "HEKETI_SSH_PORT", &mut exec.port);
    env_string(env, "SSH_KNOWN_HOSTS", &mut exec.known_hosts);
    env_string(env, "BRICKYARD_SSH_HOST_KEY_CHECKING", &mut exec.host_key_checking);
    if let Some(t) = env_u64(env, "BRICKYARD_SSH_CONNECT_TIMEOUT")? {
        exec.connect_timeout = t;
    }
    env_string(env, "HEKETI_KUBE_NAMESPACE", &mut exec.namespace);
    if let Some(v) = env.var("HEKETI_KUBE_GLUSTER_DAEMONSET").and_then(|v| yes_no(&v)) {
        exec.gluster_daemonset = v;
    }
    if let Some(v) = env.var("HEKETI_KUBE_USE_POD_NAMES").and_then(|v| yes_no(&v)) {
        exec.use_pod_names = v;
    }
    Ok(())
}

/// Settings only the environment gives (or overrides of Brickyard's own
/// file settings), read in the order their errors are reported.
pub(super) struct EnvOnly {
    pub iat_leeway_secs: Option<u64>,
    pub exp_leeway_secs: Option<u64>,
    pub mock_device_size_gb: Option<u64>,
    /// `BRICKYARD_MOCK_FAULTS`, split at commas.
    pub mock_faults: Vec<String>,
    pub mock_in_memory: bool,
    pub max_queued_operations: Option<u64>,
    pub store_cache_mb: Option<u64>,
    pub node_concurrency: Option<u64>,
    pub monitor_max_checks: Option<u64>,
    pub kube_db_secret_name: String,
    pub backup_db_dir: PathBuf,
}

impl EnvOnly {
    pub(super) fn read(env: &dyn Env) -> Result<EnvOnly, ConfigError> {
        Ok(EnvOnly {
            iat_leeway_secs: env_u64(env, "HEKETI_JWT_IAT_LEEWAY_SECONDS")?,
            exp_leeway_secs: env_u64(env, "HEKETI_JWT_EXP_LEEWAY_SECONDS")?,
            mock_device_size_gb: env_u64(env, "HEKETI_MOCK_DEVICE_SIZE_GB")?,
            mock_faults: env
                .var("BRICKYARD_MOCK_FAULTS")
                .map(|extra| {
                    extra
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            mock_in_memory: env.var("BRICKYARD_MOCK_STATE").as_deref() == Some("memory"),
            max_queued_operations: env_u64(env, "BRICKYARD_MAX_QUEUED_OPERATIONS")?,
            store_cache_mb: env_u64(env, "BRICKYARD_STORE_CACHE_MB")?,
            node_concurrency: env_u64(env, "BRICKYARD_NODE_CONCURRENCY")?,
            monitor_max_checks: env_u64(env, "BRICKYARD_MONITOR_MAX_CHECKS")?,
            kube_db_secret_name: env
                .var("HEKETI_KUBE_DB_SECRET_NAME")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "heketi-db-backup".into()),
            backup_db_dir: PathBuf::from(
                env.var("BACKUPDB_PATH")
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| "/backupdb".into()),
            ),
        })
    }
}
