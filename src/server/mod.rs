//! Wires configuration, store, executor, operations and the HTTP layer
//! together and runs the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::api::{self, App, AppState};
use crate::clock::now_secs;
use crate::config::{AdminMode, Config, ExecutorKind};
use crate::executor::commands::CommandConfig;
use crate::executor::kube::KubeTransport;
use crate::executor::mock::MockExecutor;
use crate::executor::remote::RemoteExecutor;
use crate::executor::ssh::{HostKeyPolicy, SshSettings, SshTransport};
use crate::executor::Executor;
use crate::kubernetes::backup_secret::{adopt_backup_file, restore_into_empty, Restore, RestoreError, SecretBackup};
use crate::kubernetes::{ClientError, Connection};
use crate::logging::LogControl;
use crate::ops::{Engine, Settings};
use crate::store::{Location, Store};

mod replicas;

fn ssh_settings(config: &Config) -> anyhow::Result<SshSettings> {
    let ssh = &config.ssh;
    let port: u16 = ssh
        .port
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid sshexec.port {:?}", ssh.port))?;
    let known_hosts = ssh.known_hosts.split(':').next().unwrap_or_default();
    let host_keys = match (ssh.host_key_checking.as_str(), known_hosts) {
        ("no", _) | ("", "") => {
            tracing::warn!("ssh host keys are not checked; set SSH_KNOWN_HOSTS or sshexec.known_hosts");
            HostKeyPolicy::Off
        }
        ("yes" | "accept-new", "") => bail!(
            "sshexec.host_key_checking {:?} needs a known_hosts file (sshexec.known_hosts or SSH_KNOWN_HOSTS)",
            ssh.host_key_checking
        ),
        ("accept-new", path) => HostKeyPolicy::AcceptNew(path.into()),
        (_, path) => HostKeyPolicy::Strict(path.into()),
    };
    Ok(SshSettings {
        user: ssh.user.clone(),
        port,
        key: SshSettings::load_key(&ssh.keyfile).map_err(anyhow::Error::msg)?,
        sudo: ssh.sudo,
        host_keys,
        connect_timeout: Duration::from_secs(ssh.connect_timeout),
        channels_per_host: config.node_concurrency,
    })
}

/// `kube`: the Kubernetes connection, when one was asked for.
fn build_executor(
    config: &Config,
    kube: Option<&Result<Connection, ClientError>>,
) -> anyhow::Result<Arc<dyn Executor>> {
    match config.executor {
        ExecutorKind::Mock => {
            let mock = if config.mock.in_memory {
                MockExecutor::in_memory(config.mock.device_size_gb, &config.mock.faults)
            } else {
                MockExecutor::durable(
                    config.mock.device_size_gb,
                    &config.mock.faults,
                    config.mock_state_path(),
                )
            }
            .map_err(anyhow::Error::msg)?;
            Ok(Arc::new(mock.with_commands(CommandConfig::from(&config.ssh))))
        }
        ExecutorKind::Ssh => {
            let transport = SshTransport::new(ssh_settings(config)?);
            Ok(Arc::new(RemoteExecutor::new(
                Arc::new(transport),
                CommandConfig::from(&config.ssh),
                config.ssh.debug_umount_failures,
            )))
        }
        ExecutorKind::Kubernetes => {
            let connection = match kube {
                Some(Ok(connection)) => connection,
                Some(Err(e)) => bail!("{e}"),
                None => bail!("no Kubernetes connection was made for the kubernetes executor"),
            };
            let kube = &config.kube;
            let transport = KubeTransport::connect(
                connection,
                &kube.namespace,
                kube.use_pod_names,
                kube.gluster_daemonset,
                kube.max_connections,
            )
            .map_err(anyhow::Error::msg)?;
            let transport = if kube.disable_timeout_prefix {
                transport.without_timeout_prefix()
            } else {
                transport
            };
            Ok(Arc::new(RemoteExecutor::new(
                Arc::new(transport),
                CommandConfig::from(kube),
                kube.debug_umount_failures,
            )))
        }
    }
}

/// What must finish before the process exits, and the signal to finish.
pub struct Finishing {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Finishing {
    /// Tells the tasks to finish and waits for them, at most `limit`.
    pub async fn finish(self, limit: Duration) {
        let _ = self.stop.send(true);
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("shutdown tasks did not finish within {limit:?}");
        }
    }
}

/// Opens the store, after adopting a backup file left at a sled store's
/// path. A store several replicas share is only checked here; the leader
/// prepares it (`prepare_store`).
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    // A backup file left where a sled store belongs (Heketi's image).
    let adopted = match &config.store {
        Location::Sled(path) => log_restore(adopt_backup_file(path))?,
        Location::Etcd(_) => false,
    };
    let cache = config.store_cache_bytes.unwrap_or(crate::store::DEFAULT_CACHE_BYTES);
    let store = Store::connect_shared(&config.store, cache).map_err(anyhow::Error::msg)?;
    if store.election().is_none() {
        prepare_store(config, &store, adopted)?;
    }
    Ok(store)
}

/// What only the server that acts on the store does before it acts: the
/// schema brought up to date, an empty store restored from the backup
/// Secret's mount (as Heketi's image did), and a consistency check of a
/// store that was migrated or restored.
fn prepare_store(config: &Config, store: &Store, adopted: bool) -> anyhow::Result<()> {
    store.bring_schema_up().map_err(anyhow::Error::msg)?;
    let restored = log_restore(restore_into_empty(store, &config.backup_db_dir))?;
    if adopted || restored || store.migrated_from().is_some() {
        let report = crate::ops::check::check_store(store).map_err(|e| anyhow::anyhow!("{e}"))?;
        if report.totalinconsistencies > 0 {
            tracing::warn!(
                inconsistencies = report.totalinconsistencies,
                "the migrated or restored store has inconsistencies; see GET /db/check"
            );
        } else {
            tracing::info!("store migrated or restored; consistency check passed");
        }
    }
    Ok(())
}

/// Logs what a restore found; `true` when it restored.
fn log_restore(restored: Result<Restore, RestoreError>) -> anyhow::Result<bool> {
    match restored {
        Ok(Restore::Nothing) => Ok(false),
        Ok(Restore::Kept(what)) => {
            tracing::info!("{what}");
            Ok(false)
        }
        Ok(Restore::Unusable(what)) => {
            tracing::warn!("{what}");
            Ok(false)
        }
        Ok(Restore::Restored(what)) => {
            tracing::warn!("{what}");
            Ok(true)
        }
        Err(e) => bail!("{e}"),
    }
}

/// Builds the acting server on `store` and returns the shared application
/// state, with its background tasks to finish at shutdown.
pub async fn build(config: &Config, store: Store, log: LogControl) -> anyhow::Result<(AppState, Finishing)> {
    let mut finishing = Finishing {
        stop: tokio::sync::watch::Sender::new(false),
        tasks: Vec::new(),
    };
    // One Kubernetes client for the executor and the Secret backups.
    let kube = if config.executor == ExecutorKind::Kubernetes || config.backup_db_to_kube_secret {
        Some(Connection::infer().await)
    } else {
        None
    };
    let executor = build_executor(config, kube.as_ref())?;
    let engine = Engine::new(
        store,
        executor,
        Settings {
            max_inflight: config.max_inflight_operations,
            max_queued: config.max_queued_operations,
            node_concurrency: config.node_concurrency,
            limits: config.limits.clone(),
        },
    );
    if config.profiling {
        tracing::warn!("profiling is set but Brickyard serves no pprof routes");
    }
    if config.backup_db_to_kube_secret {
        let no_backups = |why: &dyn std::fmt::Display| {
            tracing::warn!("backup_db_to_kube_secret is set, but {why}; no Secret backups are made");
        };
        match &kube {
            Some(Ok(c)) => match c.namespace("") {
                Ok(namespace) => {
                    let backups = SecretBackup::new(c.client.clone(), &namespace, &config.kube_db_secret_name);
                    tracing::info!(
                        namespace,
                        secret = config.kube_db_secret_name,
                        "store backups go to a Secret"
                    );
                    let stop = finishing.stop.subscribe();
                    finishing
                        .tasks
                        .push(tokio::spawn(backups.follow(engine.store.clone(), stop)));
                }
                Err(e) => no_backups(&e),
            },
            Some(Err(e)) => no_backups(e),
            None => no_backups(&"no Kubernetes connection was made"),
        }
    }
    let app = App::new(engine, config.auth.clone(), config.default_admin_mode, log);
    Ok((
        app.with_server_settings(config.db_read_only, config.http.max_body_bytes),
        finishing,
    ))
}

/// `stop` turns true at shutdown.
fn spawn_background(
    app: &AppState,
    config: &Config,
    leftovers: Vec<crate::ops::journal::JournalEntry>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    if let Some(monitor) = &config.health_monitor {
        tokio::spawn(crate::ops::health::monitor(app.engine.clone(), monitor.clone(), stop));
    }
    if config.background_cleaner {
        let engine = app.engine.clone();
        let (start, period) = (config.cleaner_start_secs, config.cleaner_period_secs.max(1));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(start)).await;
            let mut tick = tokio::time::interval(Duration::from_secs(period));
            loop {
                tick.tick().await;
                // Entries younger than a minute may still be in someone's hands.
                if let Err(e) = engine
                    .clean_entries(
                        &[],
                        Some(now_secs().saturating_sub(60)),
                        crate::ops::RetiredWalk::IfAnyRetired,
                    )
                    .await
                {
                    tracing::warn!(error = %e, "background cleanup failed");
                }
                crate::memory::note_background_work();
            }
        });
    }
    let engine = app.engine.clone();
    tokio::spawn(async move {
        let n = engine.recover(leftovers).await;
        if n > 0 {
            tracing::info!(operations = n, "start-up recovery finished");
        }
    });
    let engine = app.engine.clone();
    tokio::spawn(async move {
        // The first sweep a period after the start, not during it, and
        // none before an entry can have expired (as the last sweep, of
        // this start or an earlier one, found): each walks the whole
        // queue, off the runtime's threads, and on sled what a walk reads
        // stays in the cache past its capacity (18 MiB at 50,000 entries).
        let period = Duration::from_secs(60);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let last = engine.clone();
        let mut next_due = tokio::task::spawn_blocking(move || crate::ops::queue::next_sweep(&last))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
        loop {
            tick.tick().await;
            if now_secs() < next_due {
                continue;
            }
            let engine = engine.clone();
            match tokio::task::spawn_blocking(move || crate::ops::queue::expire_queue(&engine, now_secs())).await {
                Ok(Ok(expiry)) => next_due = expiry.next_due,
                Ok(Err(e)) => tracing::warn!(error = %e, "queue expiry failed"),
                Err(e) => tracing::warn!(error = %e, "queue expiry stopped"),
            }
            crate::memory::note_background_work();
        }
    });
    #[cfg(unix)]
    {
        let app = app.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut usr2) = signal(SignalKind::user_defined2()) else {
                return;
            };
            while usr2.recv().await.is_some() {
                app.set_admin_mode(AdminMode::Normal);
                tracing::warn!("SIGUSR2: administrative mode reset to normal");
            }
        });
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Raises the soft limit on open files to the hard one, as Go's runtime
/// does for Heketi: each client connection holds a descriptor, and a soft
/// limit of 1024 would cap the server far below `max_connections`.
fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write `limit`.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
                let wanted = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
                    tracing::warn!(soft = limit.rlim_cur, "cannot raise the open file limit");
                }
            }
        }
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(config: Config, log: LogControl) -> anyhow::Result<()> {
    raise_open_file_limit();
    // After a second without requests, freed heap pages go back.
    tokio::spawn(crate::memory::scavenge(Duration::from_secs(1)));
    if !config.auth.enabled {
        eprintln!(
            "WARNING: authentication is disabled: every client that reaches {} has full control",
            config.listen
        );
        tracing::warn!("authentication disabled");
    }
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(_) if config.listen.ip() == std::net::Ipv6Addr::UNSPECIFIED => {
            let v4 = SocketAddr::from(([0, 0, 0, 0], config.listen.port()));
            tokio::net::TcpListener::bind(v4)
                .await
                .with_context(|| format!("cannot listen on {v4}"))?
        }
        Err(e) => return Err(e).with_context(|| format!("cannot listen on {}", config.listen)),
    };
    let addr = listener.local_addr()?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(crate::tls::server_config(cert, key)?),
        None => None,
    };
    let store = open_store(&config)?;
    crate::memory::fix_mmap_threshold();
    let Some(election) = store.election() else {
        let (app, finishing) = start_acting(&config, store, log).await?;
        announce(&config, addr, tls.is_some());
        crate::serve::serve(listener, tls, api::router(app), &config.http, shutdown_signal()).await;
        finishing.finish(Duration::from_secs(20)).await;
        return Ok(());
    };
    // Replicas on one etcd store: serve as a follower at once, act once elected.
    let scheme = if tls.is_some() { "https" } else { "http" };
    let advertise = config
        .replication
        .advertise
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"));
    let replicas = replicas::Replicas::new(advertise)?;
    let (acting, acting_now) = tokio::sync::watch::channel(None);
    let finishing = Arc::new(tokio::sync::Mutex::new(None::<Finishing>));
    let (held, lease) = (finishing.clone(), config.replication.lease_seconds);
    let acting_config = config.clone();
    tokio::spawn(replicas::campaign(
        election.clone(),
        replicas.clone(),
        lease,
        move |_fence| async move {
            // Fenced from here on: only this leader migrates or restores.
            let prepared = store.clone();
            let config = acting_config.clone();
            tokio::task::spawn_blocking(move || prepare_store(&config, &prepared, false)).await??;
            let (app, finished) = start_acting(&acting_config, store, log).await?;
            *held.lock().await = Some(finished);
            let _ = acting.send(Some(api::router(app)));
            Ok(())
        },
    ));
    announce(&config, addr, tls.is_some());
    let router = replicas::dispatcher(replicas, acting_now);
    crate::serve::serve(listener, tls, router, &config.http, shutdown_signal()).await;
    if let Some(finished) = finishing.lock().await.take() {
        finished.finish(Duration::from_secs(20)).await;
    }
    // A clean stop hands the leadership over at once.
    let _ = tokio::task::spawn_blocking(move || election.resign_held()).await;
    Ok(())
}

/// Builds the acting server, marks the journal's leftovers stale and
/// starts recovery and the background tasks.
async fn start_acting(config: &Config, store: Store, log: LogControl) -> anyhow::Result<(AppState, Finishing)> {
    let (app, finishing) = build(config, store, log).await?;
    let leftovers = app.engine.mark_stale().map_err(anyhow::Error::msg)?;
    if !leftovers.is_empty() {
        tracing::warn!(
            operations = leftovers.len(),
            "found operations interrupted by a restart"
        );
    }
    spawn_background(&app, config, leftovers, finishing.stop.subscribe());
    Ok((app, finishing))
}

fn announce(config: &Config, addr: SocketAddr, tls: bool) {
    // Test harnesses read this line to learn the port.
    println!("Listening on {addr}{}", if tls { " (https)" } else { "" });
    tracing::info!(%addr, store = %config.store, executor = ?config.executor, tls, "Brickyard serving");
}
