//! One typed `Config` from Heketi's `heketi.json`, its environment overrides
//! and Brickyard's own flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

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

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminMode {
    Normal,
    ReadOnly,
    LocalClient,
}

impl AdminMode {
    pub fn parse(name: &str) -> Option<AdminMode> {
        match name {
            "normal" => Some(AdminMode::Normal),
            "read-only" => Some(AdminMode::ReadOnly),
            "local-client" => Some(AdminMode::LocalClient),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AdminMode::Normal => "normal",
            AdminMode::ReadOnly => "read-only",
            AdminMode::LocalClient => "local-client",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorKind {
    Mock,
    Ssh,
    Kubernetes,
}

impl ExecutorKind {
    fn parse(name: &str) -> Result<ExecutorKind, ConfigError> {
        match name {
            "mock" | "inject/mock" => Ok(ExecutorKind::Mock),
            "" | "ssh" | "inject/ssh" => Ok(ExecutorKind::Ssh),
            "kube" | "kubernetes" => Ok(ExecutorKind::Kubernetes),
            other => Err(ConfigError(format!("invalid executor: {other}"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AuthConfig {
    pub enabled: bool,
    pub admin_key: String,
    pub user_key: String,
    /// How far in the future `iat` may lie (Heketi: 120 s).
    pub iat_leeway_secs: u64,
    /// How long after `exp` a token is still accepted. Heketi has none; the
    /// Python client's tokens live one second, so a little slack helps.
    pub exp_leeway_secs: u64,
}

/// The mock executor's knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct MockConfig {
    /// Keep simulated node state in memory only (benchmarks).
    pub in_memory: bool,
    pub device_size_gb: u64,
    /// Fault rules such as `device_setup:2:fail` (see `executor::mock`).
    pub faults: Vec<String>,
}

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
    pub max_inflight_operations: u64,
    /// Brickyard: requests that may wait for a slot before `429`.
    pub max_queued_operations: u64,
    /// Brickyard: executor calls at once on one storage node.
    pub node_concurrency: u64,
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
struct KeyFile {
    key: String,
}

#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
struct JwtFile {
    admin: KeyFile,
    user: KeyFile,
}

/// heketi.json's top level.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
struct HeketiFile {
    port: String,
    use_auth: bool,
    jwt: JwtFile,
    enable_tls: bool,
    cert_file: String,
    key_file: String,
    backup_db_to_kube_secret: bool,
    profiling: bool,
    default_state: String,
    glusterfs: Option<GlusterfsFile>,
    /// Brickyard extension: seconds of slack after `exp`.
    jwt_exp_leeway_seconds: Option<u64>,
    /// Brickyard extension: limits of the HTTP server.
    http: HttpFile,
}

#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
struct HttpFile {
    max_body_bytes: u64,
    header_timeout_secs: u64,
    max_connections: u64,
    max_pending_handshakes: u64,
}

/// What one client may cost the HTTP server.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpLimits {
    /// Request bodies past this are refused with `413` before they are read.
    pub max_body_bytes: usize,
    /// A connection must send a request's headers within this long, which
    /// also closes idle keep-alive connections after it.
    pub header_timeout: std::time::Duration,
    /// Open connections; past it new ones wait in the listen backlog.
    pub max_connections: usize,
    /// TLS handshakes in progress; past it new connections are dropped.
    pub max_pending_handshakes: usize,
    /// Time a TLS handshake may take.
    pub handshake_timeout: std::time::Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            // Heketi's largest real requests (tags, options) are a few KiB.
            max_body_bytes: 1024 * 1024,
            header_timeout: std::time::Duration::from_secs(30),
            max_connections: 4096,
            max_pending_handshakes: 1024,
            handshake_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// The largest value any HTTP limit takes: past any real use, and within
/// what the semaphores and timers it sizes accept.
const HTTP_SETTING_MAX: u64 = 1 << 30;

impl HttpLimits {
    fn from_file(file: &HttpFile, env: &dyn Env) -> Result<HttpLimits, ConfigError> {
        let d = HttpLimits::default();
        // Bounded both ways: zero would refuse everything, and huge values
        // overflow the semaphores and timers they size.
        let pick = |name: &str, from_file: u64, default: u64| -> Result<u64, ConfigError> {
            Ok(env_u64(env, name)?
                .unwrap_or(or_default(from_file, default))
                .clamp(1, HTTP_SETTING_MAX))
        };
        Ok(HttpLimits {
            max_body_bytes: pick("BRICKYARD_MAX_BODY_BYTES", file.max_body_bytes, d.max_body_bytes as u64)? as usize,
            header_timeout: std::time::Duration::from_secs(pick(
                "BRICKYARD_HEADER_TIMEOUT_SECS",
                file.header_timeout_secs,
                d.header_timeout.as_secs(),
            )?),
            max_connections: pick(
                "BRICKYARD_MAX_CONNECTIONS",
                file.max_connections,
                d.max_connections as u64,
            )? as usize,
            max_pending_handshakes: pick(
                "BRICKYARD_MAX_PENDING_HANDSHAKES",
                file.max_pending_handshakes,
                d.max_pending_handshakes as u64,
            )? as usize,
            handshake_timeout: d.handshake_timeout,
        })
    }
}

/// Placement and volume limits (used by volume operations).
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeLimits {
    pub brick_max_size_gb: u64,
    pub brick_min_size_gb: u64,
    pub max_bricks_per_volume: u64,
    pub average_file_size_kb: u64,
    pub pre_request_volume_options: String,
    pub post_request_volume_options: String,
    pub zone_checking: String,
    /// `None` means unlimited.
    pub max_volumes_per_cluster: Option<u64>,
    pub volume_create_retries: u64,
    pub auto_create_block_hosting_volume: bool,
    pub block_hosting_volume_size: u64,
    pub block_hosting_volume_options: String,
}

impl Default for VolumeLimits {
    /// Heketi's defaults.
    fn default() -> Self {
        VolumeLimits {
            brick_max_size_gb: 4096,
            brick_min_size_gb: 1,
            max_bricks_per_volume: 32,
            average_file_size_kb: 64,
            pre_request_volume_options: String::new(),
            post_request_volume_options: String::new(),
            zone_checking: "none".into(),
            max_volumes_per_cluster: Some(1000),
            volume_create_retries: 4,
            auto_create_block_hosting_volume: false,
            block_hosting_volume_size: 1024,
            block_hosting_volume_options: "group gluster-block".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub store_path: PathBuf,
    pub auth: AuthConfig,
    pub default_admin_mode: AdminMode,
    pub executor: ExecutorKind,
    /// Heketi log level name (`none` … `debug`), if configured.
    pub log_level: Option<String>,
    pub max_inflight_operations: usize,
    /// Requests that may wait for an in-flight slot before `429`.
    pub max_queued_operations: usize,
    /// Executor calls at once on one storage node.
    pub node_concurrency: usize,
    pub mock: MockConfig,
    pub limits: VolumeLimits,
    pub ssh: ExecConfigFile,
    pub kube: ExecConfigFile,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub backup_db_to_kube_secret: bool,
    /// The Secret backups go to (`HEKETI_KUBE_DB_SECRET_NAME`).
    pub kube_db_secret_name: String,
    /// Where that Secret is mounted; an empty store is restored from it
    /// at start-up (`BACKUPDB_PATH`, as in Heketi's image).
    pub backup_db_dir: PathBuf,
    pub profiling: bool,
    pub health_monitor: bool,
    pub background_cleaner: bool,
    /// Seconds before the first and between background cleanups.
    pub cleaner_start_secs: u64,
    pub cleaner_period_secs: u64,
    pub db_read_only: bool,
    pub http: HttpLimits,
}

/// Overrides given on Brickyard's command line.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub disable_auth: bool,
    pub listen: Option<SocketAddr>,
    pub store: Option<PathBuf>,
}

const DEV_LISTEN: &str = "127.0.0.1:8080";
const DEV_STORE: &str = "./brickyard-data";

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

fn parse_heketi_file(text: &str) -> Result<HeketiFile, ConfigError> {
    let raw: Value =
        serde_json::from_str(text).map_err(|e| ConfigError(format!("ERROR: Unable to parse configuration: {e}")))?;
    // Go matches config keys case-insensitively; the file holds no user-named keys.
    serde_json::from_value(lowercase_keys(raw))
        .map_err(|e| ConfigError(format!("ERROR: Unable to parse configuration: {e}")))
}

fn env_u64(env: &dyn Env, name: &str) -> Result<Option<u64>, ConfigError> {
    match env.var(name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError(format!("ERROR: {name} must be an unsigned integer, got {v:?}"))),
    }
}

fn env_i64(env: &dyn Env, name: &str) -> Result<Option<i64>, ConfigError> {
    match env.var(name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError(format!("ERROR: {name} must be an integer, got {v:?}"))),
    }
}

fn env_string(env: &dyn Env, name: &str, target: &mut String) {
    if let Some(v) = env.var(name) {
        if !v.is_empty() {
            *target = v;
        }
    }
}

fn or_default<T: PartialEq + Default>(value: T, default: T) -> T {
    if value == T::default() {
        default
    } else {
        value
    }
}

fn exec_defaults(mut exec: ExecConfigFile, env: &dyn Env) -> Result<ExecConfigFile, ConfigError> {
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
    exec.fstab = or_default(exec.fstab, "/etc/fstab".into());
    exec.mountopts = or_default(exec.mountopts, "rw,inode64,noatime,nouuid".into());
    exec.gluster_cli_timeout = or_default(exec.gluster_cli_timeout, 600);
    exec.pv_data_alignment = or_default(exec.pv_data_alignment, "256K".into());
    exec.vg_physicalextentsize = or_default(exec.vg_physicalextentsize, "4M".into());
    exec.lv_chunksize = or_default(exec.lv_chunksize, "256K".into());
    let prealloc_ok = !exec.block_prealloc.is_empty()
        && exec
            .block_prealloc
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !prealloc_ok {
        exec.block_prealloc = "full".into();
    }
    exec.user = or_default(exec.user, "heketi".into());
    exec.port = or_default(exec.port, "22".into());
    exec.connect_timeout = or_default(exec.connect_timeout, 10);
    match exec.host_key_checking.as_str() {
        "" | "yes" | "no" | "accept-new" => {}
        other => {
            return Err(ConfigError(format!(
                "invalid sshexec.host_key_checking {other:?}: use yes, accept-new or no"
            )))
        }
    }
    exec.max_connections = or_default(exec.max_connections, 64);
    Ok(exec)
}

impl Config {
    /// Builds the configuration for `brickyard serve` / `heketi`.
    pub fn load(flags: &Flags, env: &dyn Env) -> Result<Config, ConfigError> {
        let (file, heketi_mode) = match &flags.config {
            Some(path) => (read_file(path)?, true),
            None => (HeketiFile::default(), false),
        };
        Config::build(file, heketi_mode, flags, env)
    }

    /// The local development configuration with no file at all.
    pub fn development(flags: &Flags, env: &dyn Env) -> Result<Config, ConfigError> {
        Config::build(HeketiFile::default(), false, flags, env)
    }

    fn build(file: HeketiFile, heketi_mode: bool, flags: &Flags, env: &dyn Env) -> Result<Config, ConfigError> {
        if heketi_mode && file.glusterfs.is_none() {
            return Err(ConfigError(
                "ERROR: Unable to parse configuration: missing \"glusterfs\" section".into(),
            ));
        }
        let mut gfs = file.glusterfs.clone().unwrap_or_default();

        // Top-level overrides.
        let mut port = file.port.clone();
        env_string(env, "HEKETI_HTTP_PORT", &mut port);
        let mut admin_key = file.jwt.admin.key.clone();
        let mut user_key = file.jwt.user.key.clone();
        env_string(env, "HEKETI_ADMIN_KEY", &mut admin_key);
        env_string(env, "HEKETI_USER_KEY", &mut user_key);
        let mut default_state = file.default_state.clone();
        env_string(env, "HEKETI_DEFAULT_STATE", &mut default_state);
        let backup_db_to_kube_secret = file.backup_db_to_kube_secret
            || env
                .var("HEKETI_BACKUP_DB_TO_KUBE_SECRET")
                .is_some_and(|v| !v.is_empty());
        let profiling = file.profiling || env.var("HEKETI_PROFILING").is_some_and(|v| !v.is_empty());

        // glusterfs overrides.
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

        let default_admin_mode = if default_state.is_empty() {
            AdminMode::Normal
        } else {
            AdminMode::parse(&default_state).ok_or_else(|| {
                ConfigError(format!(
                    "ERROR: unable to set admin state: unknown admin state name: {default_state}"
                ))
            })?
        };

        let executor = if heketi_mode {
            ExecutorKind::parse(&gfs.executor)?
        } else if gfs.executor.is_empty() {
            ExecutorKind::Mock
        } else {
            ExecutorKind::parse(&gfs.executor)?
        };

        let auth_enabled = heketi_mode && !flags.disable_auth;
        if auth_enabled && (admin_key.is_empty() || user_key.is_empty()) {
            return Err(ConfigError("ERROR: Missing JWT information in config file".into()));
        }

        let listen = match (flags.listen, heketi_mode) {
            (Some(addr), _) => addr,
            (None, true) => {
                let port: u16 = if port.is_empty() {
                    0
                } else {
                    port.trim().parse().map_err(|_| {
                        ConfigError(format!("ERROR: Unable to parse configuration: invalid port {port:?}"))
                    })?
                };
                // All interfaces, IPv6 and IPv4 (the server falls back to
                // IPv4 only where IPv6 is unavailable).
                SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port))
            }
            (None, false) => DEV_LISTEN
                .parse()
                .map_err(|_| ConfigError("bad default address".into()))?,
        };

        let store_path = match (&flags.store, heketi_mode) {
            (Some(p), _) => p.clone(),
            (None, true) => PathBuf::from(or_default(gfs.db.clone(), "heketi.db".into())),
            (None, false) if !gfs.db.is_empty() => PathBuf::from(&gfs.db),
            (None, false) => PathBuf::from(DEV_STORE),
        };

        let iat_leeway_secs = env_u64(env, "HEKETI_JWT_IAT_LEEWAY_SECONDS")?.unwrap_or(120);
        let exp_leeway_secs = match env_u64(env, "HEKETI_JWT_EXP_LEEWAY_SECONDS")? {
            Some(v) => v,
            None => file.jwt_exp_leeway_seconds.unwrap_or(30),
        };

        let device_size_gb = match env_u64(env, "HEKETI_MOCK_DEVICE_SIZE_GB")? {
            Some(v) if v > 0 => v,
            _ => or_default(gfs.mockexec.device_size_gb, 500),
        };
        let mut faults = gfs.mockexec.faults.clone();
        if let Some(extra) = env.var("BRICKYARD_MOCK_FAULTS") {
            faults.extend(
                extra
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }

        let max_volumes_per_cluster = match gfs.max_volumes_per_cluster {
            0 => Some(1000),
            n if n < 0 => None,
            n => Some(n as u64),
        };
        let limits = VolumeLimits {
            brick_max_size_gb: positive_or(gfs.brick_max_size_gb, 4096),
            brick_min_size_gb: positive_or(gfs.brick_min_size_gb, 1),
            max_bricks_per_volume: positive_or(gfs.max_bricks_per_volume, 32),
            average_file_size_kb: or_default(gfs.average_file_size_kb, 64),
            pre_request_volume_options: gfs.pre_request_volume_options.clone(),
            post_request_volume_options: gfs.post_request_volume_options.clone(),
            zone_checking: or_default(gfs.zone_checking.clone(), "none".into()),
            max_volumes_per_cluster,
            volume_create_retries: positive_or(gfs.operation_retry_limits.volume_create, 4),
            auto_create_block_hosting_volume: gfs.auto_create_block_hosting_volume,
            block_hosting_volume_size: positive_or(gfs.block_hosting_volume_size, 1024),
            block_hosting_volume_options: if gfs.block_hosting_volume_options.is_empty() {
                "group gluster-block".into()
            } else {
                gfs.block_hosting_volume_options.clone()
            },
        };

        let tls = if file.enable_tls {
            Some((PathBuf::from(&file.cert_file), PathBuf::from(&file.key_file)))
        } else {
            None
        };

        Ok(Config {
            listen,
            store_path,
            auth: AuthConfig {
                enabled: auth_enabled,
                admin_key,
                user_key,
                iat_leeway_secs,
                exp_leeway_secs,
            },
            default_admin_mode,
            executor,
            log_level: if gfs.loglevel.is_empty() {
                None
            } else {
                Some(gfs.loglevel.clone())
            },
            max_inflight_operations: or_default(gfs.max_inflight_operations, 8) as usize,
            max_queued_operations: env_u64(env, "BRICKYARD_MAX_QUEUED_OPERATIONS")?
                .unwrap_or(or_default(gfs.max_queued_operations, 64)) as usize,
            node_concurrency: env_u64(env, "BRICKYARD_NODE_CONCURRENCY")?
                .unwrap_or(or_default(gfs.node_concurrency, 4))
                .max(1) as usize,
            mock: MockConfig {
                in_memory: env.var("BRICKYARD_MOCK_STATE").as_deref() == Some("memory"),
                device_size_gb,
                faults,
            },
            limits,
            ssh: exec_defaults(gfs.sshexec.clone(), env)?,
            kube: exec_defaults(gfs.kubeexec.clone(), env)?,
            tls,
            backup_db_to_kube_secret,
            kube_db_secret_name: env
                .var("HEKETI_KUBE_DB_SECRET_NAME")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "heketi-db-backup".into()),
            backup_db_dir: PathBuf::from(
                env.var("BACKUPDB_PATH")
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| "/backupdb".into()),
            ),
            profiling,
            health_monitor: !gfs.disable_monitor_gluster_nodes,
            background_cleaner: !gfs.disable_background_cleaner,
            cleaner_start_secs: or_default(gfs.start_time_background_cleaner, 60),
            cleaner_period_secs: or_default(gfs.refresh_time_background_cleaner, 3600),
            db_read_only: gfs.db_read_only,
            http: HttpLimits::from_file(&file.http, env)?,
        })
    }

    /// Where the mock executor keeps its simulated node state: beside the store.
    pub fn mock_state_path(&self) -> PathBuf {
        let mut name = self
            .store_path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "brickyard-data".into());
        name.push(".mock-nodes.json");
        self.store_path.with_file_name(name)
    }
}

fn positive_or(value: i64, default: u64) -> u64 {
    if value > 0 {
        value as u64
    } else {
        default
    }
}

fn read_file(path: &Path) -> Result<HeketiFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("ERROR: Unable to open config file {}: {e}", path.display())))?;
    parse_heketi_file(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn heketi(text: &str, flags: Flags, env_map: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let file = parse_heketi_file(text)?;
        Config::build(file, true, &flags, env_map)
    }

    const PY_TEST_CONFIG: &str = r#"{
        "_port_comment": "Heketi Server Port Number",
        "port": "8080",
        "use_auth": true,
        "jwt": {"admin": {"key": "My Secret"}, "user": {"key": "My Secret"}},
        "glusterfs": {"executor": "mock", "db": "heketi.db"}
    }"#;

    #[test]
    fn development_mode_defaults() {
        let c = Config::development(&Flags::default(), &env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.store_path, PathBuf::from("./brickyard-data"));
        assert_eq!(c.executor, ExecutorKind::Mock);
        assert!(!c.auth.enabled);
        assert_eq!(c.mock.device_size_gb, 500);
        assert_eq!(c.max_inflight_operations, 8);
    }

    #[test]
    fn heketi_file_behaves_as_heketi() {
        let c = heketi(PY_TEST_CONFIG, Flags::default(), &env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "[::]:8080");
        assert_eq!(c.store_path, PathBuf::from("heketi.db"));
        assert!(c.auth.enabled);
        assert_eq!(c.auth.admin_key, "My Secret");
        assert_eq!(c.executor, ExecutorKind::Mock);
        assert_eq!(c.auth.iat_leeway_secs, 120);
    }

    /// The heketi.json shipped in the Kubernetes Secret, with the
    /// Deployment's environment, is a configuration Brickyard accepts.
    #[test]
    fn the_kubernetes_secret_config_parses_as_deployed() {
        let manifest = include_str!("../docker/kubernetes/brickyard-config-secret.yaml");
        let (_, rest) = manifest.split_once("heketi.json: |\n").unwrap();
        let json: String = rest
            .lines()
            .take_while(|l| l.starts_with("    ") || l.is_empty())
            .map(|l| format!("{}\n", l.trim_start()))
            .collect();
        let deployed = env(&[
            ("HEKETI_EXECUTOR", "kubernetes"),
            ("HEKETI_KUBE_GLUSTER_DAEMONSET", "y"),
            ("HEKETI_FSTAB", "/var/lib/heketi/fstab"),
            ("HEKETI_SNAPSHOT_LIMIT", "14"),
            ("HEKETI_DB_PATH", "/var/lib/heketi/heketi.db"),
            ("HEKETI_KUBE_NAMESPACE", "default"),
        ]);
        let c = heketi(&json, Flags::default(), &deployed).unwrap();
        assert_eq!(c.executor, ExecutorKind::Kubernetes);
        assert_eq!(c.listen.port(), 8080);
        assert!(c.auth.enabled);
        assert_eq!(c.auth.admin_key, "CHANGE-ME-admin-key");
        assert_eq!(c.store_path, PathBuf::from("/var/lib/heketi/heketi.db"));
    }

    #[test]
    fn empty_executor_means_ssh_and_unknown_is_refused() {
        let text = r#"{"port":"1","jwt":{"admin":{"key":"a"},"user":{"key":"u"}},"glusterfs":{}}"#;
        assert_eq!(
            heketi(text, Flags::default(), &env(&[])).unwrap().executor,
            ExecutorKind::Ssh
        );
        let err = heketi(text, Flags::default(), &env(&[("HEKETI_EXECUTOR", "telnet")])).unwrap_err();
        assert_eq!(err.0, "invalid executor: telnet");
    }

    #[test]
    fn missing_keys_stop_start_up_unless_auth_is_disabled() {
        let text = r#"{"port":"8080","glusterfs":{"executor":"mock"}}"#;
        let err = heketi(text, Flags::default(), &env(&[])).unwrap_err();
        assert_eq!(err.0, "ERROR: Missing JWT information in config file");
        let flags = Flags {
            disable_auth: true,
            ..Flags::default()
        };
        assert!(!heketi(text, flags, &env(&[])).unwrap().auth.enabled);
        let keyed = env(&[("HEKETI_ADMIN_KEY", "a"), ("HEKETI_USER_KEY", "u")]);
        assert!(heketi(text, Flags::default(), &keyed).unwrap().auth.enabled);
    }

    #[test]
    fn environment_overrides_apply() {
        let e = env(&[
            ("HEKETI_HTTP_PORT", "9090"),
            ("HEKETI_DB_PATH", "/var/lib/heketi/heketi.db"),
            ("HEKETI_MAX_INFLIGHT_OPERATIONS", "3"),
            ("HEKETI_GLUSTER_MAX_VOLUMES_PER_CLUSTER", "-1"),
            ("HEKETI_ZONE_CHECKING", "strict"),
            ("HEKETI_FSTAB", "/var/lib/heketi/fstab"),
            ("HEKETI_MOCK_DEVICE_SIZE_GB", "10"),
            ("HEKETI_JWT_IAT_LEEWAY_SECONDS", "5"),
            ("HEKETI_KUBE_GLUSTER_DAEMONSET", "y"),
            ("HEKETI_GLUSTERAPP_REBALANCE_ON_EXPANSION", "false"),
        ]);
        let c = heketi(PY_TEST_CONFIG, Flags::default(), &e).unwrap();
        assert_eq!(c.listen.port(), 9090);
        assert_eq!(c.store_path, PathBuf::from("/var/lib/heketi/heketi.db"));
        assert_eq!(c.max_inflight_operations, 3);
        assert_eq!(c.limits.max_volumes_per_cluster, None);
        assert_eq!(c.limits.zone_checking, "strict");
        assert_eq!(c.ssh.fstab, "/var/lib/heketi/fstab");
        assert_eq!(c.mock.device_size_gb, 10);
        assert_eq!(c.auth.iat_leeway_secs, 5);
        assert!(c.kube.gluster_daemonset);
        assert!(!c.ssh.rebalance_on_expansion);
    }

    #[test]
    fn flags_override_file_and_keys_are_case_insensitive() {
        let text = r#"{"Port":"8080","JWT":{"Admin":{"Key":"a"},"User":{"Key":"u"}},"GlusterFS":{"Executor":"mock","DB":"x.db"}}"#;
        let flags = Flags {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            store: Some(PathBuf::from("/tmp/s")),
            ..Flags::default()
        };
        let c = heketi(text, flags, &env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:0");
        assert_eq!(c.store_path, PathBuf::from("/tmp/s"));
        assert_eq!(c.auth.user_key, "u");
    }

    #[test]
    fn wrong_types_and_bad_states_are_fatal() {
        let err = heketi(r#"{"port":8080,"glusterfs":{}}"#, Flags::default(), &env(&[])).unwrap_err();
        assert!(err.0.starts_with("ERROR: Unable to parse configuration:"), "{}", err.0);
        let err = heketi(
            PY_TEST_CONFIG,
            Flags::default(),
            &env(&[("HEKETI_DEFAULT_STATE", "sleepy")]),
        )
        .unwrap_err();
        assert_eq!(
            err.0,
            "ERROR: unable to set admin state: unknown admin state name: sleepy"
        );
    }

    #[test]
    fn ssh_defaults_follow_heketi() {
        let c = heketi(PY_TEST_CONFIG, Flags::default(), &env(&[])).unwrap();
        assert_eq!(c.ssh.user, "heketi");
        assert_eq!(c.ssh.port, "22");
        assert_eq!(c.ssh.mountopts, "rw,inode64,noatime,nouuid");
        assert_eq!(c.ssh.gluster_cli_timeout, 600);
        assert!(c.ssh.rebalance_on_expansion);
        assert_eq!(c.ssh.block_prealloc, "full");
        assert_eq!(c.limits.max_volumes_per_cluster, Some(1000));
        assert_eq!(c.limits.brick_max_size_gb, 4096);
    }

    #[test]
    fn nulls_leave_defaults() {
        let text = r#"{"port":null,"jwt":{"admin":{"key":"a"},"user":{"key":"u"}},"glusterfs":{"executor":"mock","max_inflight_operations":null}}"#;
        let c = heketi(text, Flags::default(), &env(&[])).unwrap();
        assert_eq!(c.max_inflight_operations, 8);
    }

    #[test]
    fn mock_state_sits_beside_the_store() {
        let flags = Flags {
            store: Some(PathBuf::from("/var/lib/heketi/heketi.db")),
            ..Flags::default()
        };
        let c = Config::development(&flags, &env(&[])).unwrap();
        assert_eq!(
            c.mock_state_path(),
            PathBuf::from("/var/lib/heketi/heketi.db.mock-nodes.json")
        );
    }
}
