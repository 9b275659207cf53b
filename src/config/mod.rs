//! One typed `Config` from Heketi's `heketi.json` (`file`), its
//! environment overrides (`env`) and Brickyard's own flags (`flags`). This
//! file holds the `Config` type and its parts, and the one place that puts
//! the three sources together in Heketi's order of precedence.

mod env;
mod file;
mod flags;
pub mod store;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use env::{Env, ProcessEnv};
pub use file::{ExecConfigFile, GlusterfsFile, MockExecFile, RetryLimitsFile};
pub use flags::Flags;

use env::{env_u64, EnvOnly};
use file::{HeketiFile, HttpFile};

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

/// The node health monitor's schedule (Heketi's
/// `start_time_monitor_gluster_nodes`, `refresh_time_monitor_gluster_nodes`)
/// and Brickyard's bound on checks at once.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorConfig {
    /// Before the first round of checks (Heketi: 10 s).
    pub start: std::time::Duration,
    /// Between rounds (Heketi: 120 s).
    pub refresh: std::time::Duration,
    /// glusterd checks running at once in a round.
    pub max_checks: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            start: std::time::Duration::from_secs(10),
            refresh: std::time::Duration::from_secs(120),
            max_checks: 8,
        }
    }
}

impl MonitorConfig {
    /// `None` when the file or `HEKETI_DISABLE_HEALTH_MONITOR=true` turns
    /// the monitor off; zero or unset times are Heketi's defaults.
    fn from_file(gfs: &GlusterfsFile, max_checks: Option<u64>) -> Option<MonitorConfig> {
        if gfs.disable_monitor_gluster_nodes {
            return None;
        }
        let d = MonitorConfig::default();
        let secs = |value: u64, default: std::time::Duration| {
            if value == 0 {
                default
            } else {
                std::time::Duration::from_secs(value)
            }
        };
        Some(MonitorConfig {
            start: secs(gfs.start_time_monitor_gluster_nodes, d.start),
            refresh: secs(gfs.refresh_time_monitor_gluster_nodes, d.refresh),
            // Past a few hundred at once the checks only crowd each other.
            max_checks: max_checks
                .unwrap_or(or_default(gfs.monitor_max_checks, d.max_checks as u64))
                .clamp(1, 1024) as usize,
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

impl VolumeLimits {
    /// heketi.json's `glusterfs` limits; zero or unset means Heketi's default.
    fn from_file(gfs: &GlusterfsFile) -> VolumeLimits {
        let d = VolumeLimits::default();
        VolumeLimits {
            brick_max_size_gb: positive_or(gfs.brick_max_size_gb, d.brick_max_size_gb),
            brick_min_size_gb: positive_or(gfs.brick_min_size_gb, d.brick_min_size_gb),
            max_bricks_per_volume: positive_or(gfs.max_bricks_per_volume, d.max_bricks_per_volume),
            average_file_size_kb: or_default(gfs.average_file_size_kb, d.average_file_size_kb),
            pre_request_volume_options: gfs.pre_request_volume_options.clone(),
            post_request_volume_options: gfs.post_request_volume_options.clone(),
            zone_checking: or_default(gfs.zone_checking.clone(), d.zone_checking),
            // Below zero is unlimited.
            max_volumes_per_cluster: match gfs.max_volumes_per_cluster {
                0 => d.max_volumes_per_cluster,
                n if n < 0 => None,
                n => Some(n as u64),
            },
            volume_create_retries: positive_or(gfs.operation_retry_limits.volume_create, d.volume_create_retries),
            auto_create_block_hosting_volume: gfs.auto_create_block_hosting_volume,
            block_hosting_volume_size: positive_or(gfs.block_hosting_volume_size, d.block_hosting_volume_size),
            block_hosting_volume_options: or_default(
                gfs.block_hosting_volume_options.clone(),
                d.block_hosting_volume_options,
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where the store lives.
    pub store: store::StoreLocation,
    /// The sled store's directory; with an etcd store, the directory for
    /// this server's own files (the mock executor's node state).
    pub store_path: PathBuf,
    /// How replicas on an etcd store elect the one that acts.
    pub replication: store::Replication,
    /// The store's page cache in bytes, if configured (else the store's
    /// default): records read often stay in memory.
    pub store_cache_bytes: Option<u64>,
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
    /// The node health monitor, unless disabled.
    pub health_monitor: Option<MonitorConfig>,
    pub background_cleaner: bool,
    /// Seconds before the first and between background cleanups.
    pub cleaner_start_secs: u64,
    pub cleaner_period_secs: u64,
    pub db_read_only: bool,
    pub http: HttpLimits,
}

/// Overrides given on Brickyard's command line.
impl Config {
    /// Builds the configuration for `brickyard serve` / `heketi`.
    pub fn load(flags: &Flags, env: &dyn Env) -> Result<Config, ConfigError> {
        let (file, heketi_mode) = match &flags.config {
            Some(path) => (file::read_file(path)?, true),
            None => (HeketiFile::default(), false),
        };
        Config::build(file, heketi_mode, flags, env)
    }

    /// The local development configuration with no file at all.
    pub fn development(flags: &Flags, env: &dyn Env) -> Result<Config, ConfigError> {
        Config::build(HeketiFile::default(), false, flags, env)
    }

    /// The file, overridden by the environment, overridden by the flags.
    /// Errors are checked in Heketi's order, so the first one is reported.
    fn build(mut file: HeketiFile, heketi_mode: bool, flags: &Flags, env: &dyn Env) -> Result<Config, ConfigError> {
        if heketi_mode && file.glusterfs.is_none() {
            return Err(ConfigError(
                "ERROR: Unable to parse configuration: missing \"glusterfs\" section".into(),
            ));
        }
        let mut gfs = file.glusterfs.clone().unwrap_or_default();
        env::override_file(&mut file, &mut gfs, env)?;

        let default_admin_mode = if file.default_state.is_empty() {
            AdminMode::Normal
        } else {
            AdminMode::parse(&file.default_state).ok_or_else(|| {
                ConfigError(format!(
                    "ERROR: unable to set admin state: unknown admin state name: {}",
                    file.default_state
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

        let auth_enabled = flags.auth_enabled(heketi_mode);
        let (admin_key, user_key) = (file.jwt.admin.key.clone(), file.jwt.user.key.clone());
        if auth_enabled && (admin_key.is_empty() || user_key.is_empty()) {
            return Err(ConfigError("ERROR: Missing JWT information in config file".into()));
        }

        let listen = flags.listen(heketi_mode, &file.port)?;
        let chosen = flags.store_path(heketi_mode, &gfs.db);
        let store = store::resolve(&chosen, &gfs.store, env)?;
        let store_path = match &store {
            store::StoreLocation::Sled(path) => path.clone(),
            store::StoreLocation::Etcd(_) => store::local_dir(&gfs.store, env),
        };
        let only = EnvOnly::read(env)?;

        let device_size_gb = match only.mock_device_size_gb {
            Some(v) if v > 0 => v,
            _ => or_default(gfs.mockexec.device_size_gb, 500),
        };
        let mut faults = gfs.mockexec.faults.clone();
        faults.extend(only.mock_faults);

        let tls = if file.enable_tls {
            Some((PathBuf::from(&file.cert_file), PathBuf::from(&file.key_file)))
        } else {
            None
        };

        Ok(Config {
            listen,
            store,
            store_path,
            replication: store::replication(&gfs.store, env)?,
            store_cache_bytes: only
                .store_cache_mb
                .or((gfs.store_cache_mb > 0).then_some(gfs.store_cache_mb))
                .map(|mb| mb << 20),
            auth: AuthConfig {
                enabled: auth_enabled,
                admin_key,
                user_key,
                iat_leeway_secs: only.iat_leeway_secs.unwrap_or(120),
                exp_leeway_secs: only
                    .exp_leeway_secs
                    .unwrap_or(file.jwt_exp_leeway_seconds.unwrap_or(30)),
            },
            default_admin_mode,
            executor,
            log_level: if gfs.loglevel.is_empty() {
                None
            } else {
                Some(gfs.loglevel.clone())
            },
            max_inflight_operations: or_default(gfs.max_inflight_operations, 8) as usize,
            max_queued_operations: only
                .max_queued_operations
                .unwrap_or(or_default(gfs.max_queued_operations, 64)) as usize,
            node_concurrency: only
                .node_concurrency
                .unwrap_or(or_default(gfs.node_concurrency, 4))
                .max(1) as usize,
            mock: MockConfig {
                in_memory: only.mock_in_memory,
                device_size_gb,
                faults,
            },
            limits: VolumeLimits::from_file(&gfs),
            ssh: exec_settings(gfs.sshexec.clone(), env)?,
            kube: exec_settings(gfs.kubeexec.clone(), env)?,
            tls,
            backup_db_to_kube_secret: file.backup_db_to_kube_secret,
            kube_db_secret_name: only.kube_db_secret_name,
            backup_db_dir: only.backup_db_dir,
            profiling: file.profiling,
            health_monitor: MonitorConfig::from_file(&gfs, only.monitor_max_checks),
            background_cleaner: !gfs.disable_background_cleaner,
            cleaner_start_secs: or_default(gfs.start_time_background_cleaner, 60),
            cleaner_period_secs: or_default(gfs.refresh_time_background_cleaner, 3600),
            db_read_only: gfs.db_read_only,
            http: HttpLimits::from_file(&file.http, env)?,
        })
    }

    /// Where the mock executor keeps its simulated node state: beside the store.
    pub fn mock_state_path(&self) -> PathBuf {
        mock_state_path(&self.store_path)
    }
}

/// The mock executor's node state file for the store at `store_path`
/// (`<store>.mock-nodes.json`; its log and fault log take other extensions).
pub fn mock_state_path(store_path: &std::path::Path) -> PathBuf {
    let mut name = store_path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_else(|| "brickyard-data".into());
    name.push(".mock-nodes.json");
    store_path.with_file_name(name)
}

/// `sshexec`/`kubeexec` with the environment's overrides and Heketi's defaults.
fn exec_settings(mut exec: ExecConfigFile, env: &dyn Env) -> Result<ExecConfigFile, ConfigError> {
    env::override_exec(&mut exec, env)?;
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

fn or_default<T: PartialEq + Default>(value: T, default: T) -> T {
    if value == T::default() {
        default
    } else {
        value
    }
}

fn positive_or(value: i64, default: u64) -> u64 {
    if value > 0 {
        value as u64
    } else {
        default
    }
}
