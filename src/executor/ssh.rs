//! SSH transport (russh): one pooled connection per storage node, reused
//! across commands, with a bounded number of channels per node. A dead
//! connection is replaced on the next command. Commands run as Heketi runs
//! them: `/bin/bash -c '<cmd>'`, with `sudo` in front when configured.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use russh::client::{self, Handle};
use russh::keys::{known_hosts, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect, Sig};
use tokio::sync::Semaphore;

use super::transport::{CommandOutput, Transport, TransportError, TransportStats};

/// How host keys are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only hosts listed in the file are accepted.
    Strict(PathBuf),
    /// Unknown hosts are learnt into the file; a changed key is refused.
    AcceptNew(PathBuf),
    /// Heketi's behaviour without `SSH_KNOWN_HOSTS`: any key is accepted.
    Off,
}

#[derive(Debug, Clone)]
pub struct SshSettings {
    pub user: String,
    pub port: u16,
    pub key: Arc<PrivateKey>,
    pub sudo: bool,
    pub host_keys: HostKeyPolicy,
    pub connect_timeout: Duration,
    /// Commands at once on one node's connection.
    pub channels_per_host: usize,
}

/// Why the SSH private key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the ssh executor needs a private key: set glusterfs.sshexec.keyfile or HEKETI_SSH_KEYFILE")]
    NotConfigured,
    #[error("cannot read ssh private key {path}: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: russh::keys::Error,
    },
}

impl SshSettings {
    /// Reads the private key (OpenSSH or PEM, no passphrase).
    pub fn load_key(path: &str) -> Result<Arc<PrivateKey>, KeyError> {
        if path.is_empty() {
            return Err(KeyError::NotConfigured);
        }
        russh::keys::load_secret_key(path, None)
            .map(Arc::new)
            .map_err(|source| KeyError::Unreadable {
                path: path.to_string(),
                source,
            })
    }
}

/// Heketi's wrapping: `'` becomes `'\''` inside a single-quoted `bash -c`.
pub fn wrap_command(command: &str, sudo: bool) -> String {
    let command = if sudo {
        format!("sudo {command}")
    } else {
        command.to_string()
    };
    format!("/bin/bash -c '{}'", command.replace('\'', "'\\''"))
}

struct Checker {
    host: String,
    port: u16,
    policy: HostKeyPolicy,
    /// Why the key was refused, for the error message.
    refusal: Arc<Mutex<Option<String>>>,
}

impl Checker {
    /// Records why and answers as the host-key handler must.
    #[allow(clippy::unnecessary_wraps)]
    fn refuse(&self, why: String) -> Result<bool, russh::Error> {
        *self.refusal.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
        Ok(false)
    }
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(&mut self, server_key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            return self.refuse("host certificates are not supported; list the host key in known_hosts".into());
        };
        let (path, learn) = match &self.policy {
            HostKeyPolicy::Off => return Ok(true),
            HostKeyPolicy::Strict(path) => (path, false),
            HostKeyPolicy::AcceptNew(path) => (path, true),
        };
        // A file not yet made knows no hosts (accept-new creates it).
        let known = if path.exists() {
            known_hosts::check_known_hosts_path(&self.host, self.port, key, path)
        } else {
            Ok(false)
        };
        match known {
            Ok(true) => Ok(true),
            Ok(false) if learn => match known_hosts::learn_known_hosts_path(&self.host, self.port, key, path) {
                Ok(()) => {
                    tracing::info!(host = self.host, "learnt host key into {}", path.display());
                    Ok(true)
                }
                Err(e) => self.refuse(format!("cannot record the host key in {}: {e}", path.display())),
            },
            Ok(false) => self.refuse(format!("host key of {} is not in {}", self.host, path.display())),
            Err(russh::keys::Error::KeyChanged { line }) => self.refuse(format!(
                "host key of {} differs from the one in {} line {line}: possible man-in-the-middle attack",
                self.host,
                path.display()
            )),
            Err(e) => self.refuse(format!("cannot check the host key against {}: {e}", path.display())),
        }
    }
}

/// A node's pooled connection and its channel budget.
struct HostSlot {
    connection: tokio::sync::Mutex<Option<Arc<Handle<Checker>>>>,
    channels: Semaphore,
}

pub struct SshTransport {
    settings: SshSettings,
    config: Arc<client::Config>,
    hosts: Mutex<HashMap<String, Arc<HostSlot>>>,
    stats: TransportStats,
}

impl SshTransport {
    pub fn new(settings: SshSettings) -> SshTransport {
        let config = client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        };
        SshTransport {
            settings,
            config: Arc::new(config),
            hosts: Mutex::new(HashMap::new()),
            stats: TransportStats::default(),
        }
    }

    fn slot(&self, host: &str) -> Arc<HostSlot> {
        let mut hosts = self.hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        hosts
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(HostSlot {
                    connection: tokio::sync::Mutex::new(None),
                    channels: Semaphore::new(self.settings.channels_per_host.max(1)),
                })
            })
            .clone()
    }

    async fn connect(&self, host: &str) -> Result<Handle<Checker>, TransportError> {
        let port = self.settings.port;
        let what = |what: String| format!("ssh to {}@{host}:{port}: {what}", self.settings.user);
        let fail = |why: String| TransportError::unreachable(what(why));
        let late = |why: String| TransportError::timed_out(what(why));
        let tcp = tokio::time::timeout(
            self.settings.connect_timeout,
            tokio::net::TcpStream::connect((host, port)),
        )
        .await
        .map_err(|_| late(format!("no connection within {:?}", self.settings.connect_timeout)))?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::TimedOut => late(e.to_string()),
            _ => fail(e.to_string()),
        })?;
        let _ = tcp.set_nodelay(true);
        let refusal = Arc::new(Mutex::new(None));
        let checker = Checker {
            host: host.to_string(),
            port,
            policy: self.settings.host_keys.clone(),
            refusal: refusal.clone(),
        };
        let handshake = async {
            let mut session = client::connect_stream(self.config.clone(), tcp, checker).await?;
            let hash = session.best_supported_rsa_hash().await?.flatten();
            let auth = session
                .authenticate_publickey(
                    self.settings.user.clone(),
                    PrivateKeyWithHashAlg::new(self.settings.key.clone(), hash),
                )
                .await?;
            Ok::<_, russh::Error>((session, auth.success()))
        };
        let (session, authenticated) = tokio::time::timeout(self.settings.connect_timeout, handshake)
            .await
            .map_err(|_| {
                late(format!(
                    "handshake did not finish within {:?}",
                    self.settings.connect_timeout
                ))
            })?
            .map_err(|e| {
                let refused = refusal.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                fail(refused.unwrap_or_else(|| e.to_string()))
            })?;
        if !authenticated {
            return Err(fail("public key authentication was refused".into()));
        }
        self.stats
            .connections_opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(host, port, "ssh connection established");
        Ok(session)
    }

    /// The pooled connection, made (or remade) when missing or closed.
    /// `failed` is a connection a command just failed on: it is replaced
    /// only if it is still the pooled one, never a newer one that other
    /// commands are using.
    async fn connection(
        &self,
        slot: &HostSlot,
        host: &str,
        failed: Option<&Arc<Handle<Checker>>>,
    ) -> Result<Arc<Handle<Checker>>, TransportError> {
        let mut current = slot.connection.lock().await;
        if let Some(handle) = current.as_ref() {
            let is_failed = failed.is_some_and(|f| Arc::ptr_eq(f, handle));
            if !is_failed && !handle.is_closed() {
                return Ok(handle.clone());
            }
        }
        if let Some(old) = current.take() {
            let _ = old.disconnect(Disconnect::ByApplication, "", "en").await;
        }
        let handle = Arc::new(self.connect(host).await?);
        *current = Some(handle.clone());
        Ok(handle)
    }

    async fn exec(
        &self,
        handle: &Handle<Checker>,
        command: &str,
        timeout: Duration,
    ) -> Result<Result<CommandOutput, TransportError>, russh::Error> {
        let mut channel = handle.channel_open_session().await?;
        channel
            .exec(true, wrap_command(command, self.settings.sudo).as_bytes())
            .await?;
        let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), None);
        let collect = async {
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => stderr.extend_from_slice(&data),
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    ChannelMsg::ExitSignal { .. } => status = status.or(Some(1)),
                    _ => {}
                }
            }
        };
        if tokio::time::timeout(timeout, collect).await.is_err() {
            let _ = channel.signal(Sig::KILL).await;
            let _ = channel.close().await;
            return Ok(Err(TransportError::timed_out("SSH command timeout")));
        }
        let Some(status) = status else {
            // Never retried: the command may have run, in part or in full.
            return Ok(Err(TransportError::unreachable(
                "the ssh session ended before the command reported an exit status (connection lost?)",
            )));
        };
        Ok(Ok(CommandOutput {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }))
    }
}

#[async_trait]
impl Transport for SshTransport {
    async fn run(&self, host: &str, command: &str, timeout: Duration) -> Result<CommandOutput, TransportError> {
        let slot = self.slot(host);
        let _channel = slot
            .channels
            .acquire()
            .await
            .map_err(|_| TransportError::unreachable("ssh transport is shutting down"))?;
        let started = Instant::now();
        let mut failed = None;
        // A pooled connection may have died since its last use: one retry on
        // a new one. `exec` errs only while opening the channel or sending
        // the request; a session lost later is reported, never retried.
        for attempt in 0..2 {
            let handle = self.connection(&slot, host, failed.as_ref()).await?;
            match self.exec(&handle, command, timeout).await {
                Ok(result) => {
                    self.stats.record_command(started.elapsed());
                    return result;
                }
                Err(e) if attempt == 0 => {
                    tracing::info!(host, "ssh channel could not be opened ({e}); reconnecting");
                    failed = Some(handle);
                }
                Err(e) => return Err(TransportError::unreachable(format!("ssh to {host}: {e}"))),
            }
        }
        Err(TransportError::unreachable(format!("ssh to {host}: connection lost")))
    }

    fn stats(&self) -> &TransportStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_wrapped_like_heketi() {
        assert_eq!(wrap_command("mkdir -p /a", false), "/bin/bash -c 'mkdir -p /a'");
        assert_eq!(
            wrap_command("pvcreate '/dev/sdb'", true),
            "/bin/bash -c 'sudo pvcreate '\\''/dev/sdb'\\'''"
        );
    }

    #[test]
    fn a_hostile_value_stays_one_argument_after_wrapping() {
        let hostile = "/dev/x'; touch /tmp/pwned; echo '";
        let cmd = format!("ls {}", super::super::commands::q(hostile));
        let wrapped = wrap_command(&cmd, false);
        // What bash -c receives, as the remote login shell parses it.
        let outer = shlex::split(&wrapped).unwrap();
        assert_eq!(outer.len(), 3);
        assert_eq!(outer[2], cmd);
        let inner = shlex::split(&outer[2]).unwrap();
        assert_eq!(inner, ["ls", hostile]);
    }
}
