//! Where the store lives: a sled directory (`glusterfs.db`, `--store`), or
//! an etcd cluster, given as `etcd://host:port[,host:port...]/<prefix>` in
//! the same places or by the `glusterfs.store` section (endpoints, prefix,
//! TLS files, user), each with an environment override.

use std::path::PathBuf;

use serde::Deserialize;

use super::env::Env;
use super::ConfigError;

/// Where a store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// An embedded sled store in this directory.
    Sled(PathBuf),
    /// Keys under a prefix of an etcd cluster.
    Etcd(EtcdConfig),
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sled(path) => write!(f, "{}", path.display()),
            StoreLocation::Etcd(etcd) => etcd.fmt(f),
        }
    }
}

/// `glusterfs.store`: an etcd store given field by field.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct StoreFile {
    pub endpoints: Vec<String>,
    pub prefix: String,
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub username: String,
    pub password: String,
    /// Where this server keeps its own files beside an etcd store (the
    /// mock executor's node state).
    pub local_dir: String,
    /// The members' `--max-txn-ops`, when raised from etcd's 128.
    pub max_txn_ops: u64,
    /// The URL other replicas forward requests to while this one leads.
    pub advertise: String,
    /// The leader's lease, in seconds: how long a dead leader holds on.
    pub lease_seconds: u64,
}

/// The leader's lease unless configured: failover in under ten seconds.
pub const DEFAULT_LEASE_SECONDS: u64 = 5;

/// How replicas sharing an etcd store elect the one that acts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replication {
    /// What followers forward to (`http://host:port`); `None`: the address
    /// this server listens on, when it names a host.
    pub advertise: Option<String>,
    pub lease_seconds: u64,
}

/// The election settings from the `store` section and the environment.
pub fn replication(file: &StoreFile, env: &dyn Env) -> Result<Replication, ConfigError> {
    let advertise = env
        .var("BRICKYARD_ADVERTISE_URL")
        .filter(|v| !v.is_empty())
        .or_else(|| (!file.advertise.is_empty()).then(|| file.advertise.clone()));
    if let Some(url) = &advertise {
        let ok = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .is_some_and(|rest| check_member(rest.trim_end_matches('/')).is_ok());
        if !ok {
            return Err(ConfigError(format!(
                "ERROR: Unable to parse configuration: the advertised URL {url:?} is not http(s)://host:port"
            )));
        }
    }
    let lease_seconds = match env.var("BRICKYARD_LEADER_LEASE_SECONDS").filter(|v| !v.is_empty()) {
        Some(v) => v.trim().parse::<u64>().ok().filter(|n| (2..=300).contains(n)).ok_or_else(|| {
            ConfigError(format!(
                "ERROR: Unable to parse configuration: BRICKYARD_LEADER_LEASE_SECONDS {v:?} is not a number from 2 to 300"
            ))
        })?,
        None if file.lease_seconds == 0 => DEFAULT_LEASE_SECONDS,
        None if (2..=300).contains(&file.lease_seconds) => file.lease_seconds,
        None => {
            return Err(ConfigError(format!(
                "ERROR: Unable to parse configuration: store lease_seconds {} is not from 2 to 300",
                file.lease_seconds
            )))
        }
    };
    Ok(Replication {
        advertise: advertise.map(|u| u.trim_end_matches('/').to_string()),
        lease_seconds,
    })
}

/// The key prefix when the `store` section names none.
pub const DEFAULT_PREFIX: &str = "brickyard";
/// This server's own files beside an etcd store, unless configured.
pub const DEFAULT_LOCAL_DIR: &str = "./brickyard-local";

/// The store: `chosen` (the `--store` flag, else `glusterfs.db`) when it
/// is an `etcd://` URL or a path, unless the `store` section or
/// `BRICKYARD_ETCD_ENDPOINTS` names etcd members. TLS and the user come
/// from the section and the environment either way.
pub fn resolve(chosen: &std::path::Path, file: &StoreFile, env: &dyn Env) -> Result<StoreLocation, ConfigError> {
    let pick = |name: &str, from_file: &str| {
        env.var(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| from_file.to_string())
    };
    let bad = |e: EtcdUrlError| ConfigError(format!("ERROR: Unable to parse configuration: {e}"));
    let endpoints: Vec<String> = match env.var("BRICKYARD_ETCD_ENDPOINTS").filter(|v| !v.is_empty()) {
        Some(list) => list.split(',').map(|m| m.trim().to_string()).collect(),
        None => file.endpoints.clone(),
    };
    let chosen_text = chosen.to_string_lossy();
    let mut etcd = if !endpoints.is_empty() {
        let prefix = pick("BRICKYARD_ETCD_PREFIX", &file.prefix);
        let prefix = if prefix.is_empty() {
            DEFAULT_PREFIX.to_string()
        } else {
            prefix
        };
        EtcdConfig {
            endpoints: endpoints
                .iter()
                .map(|m| check_member(m))
                .collect::<Result<_, _>>()
                .map_err(bad)?,
            prefix: check_prefix(&prefix).map_err(bad)?,
            tls: None,
            user: None,
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
        }
    } else if chosen_text.starts_with("etcd:") {
        EtcdConfig::parse_url(&chosen_text).map_err(bad)?
    } else {
        return Ok(StoreLocation::Sled(chosen.to_path_buf()));
    };
    let (ca, cert, key) = (
        pick("BRICKYARD_ETCD_CA_FILE", &file.ca_file),
        pick("BRICKYARD_ETCD_CERT_FILE", &file.cert_file),
        pick("BRICKYARD_ETCD_KEY_FILE", &file.key_file),
    );
    etcd.tls = match (ca.is_empty(), cert.is_empty(), key.is_empty()) {
        (true, true, true) => None,
        (false, true, true) => Some(EtcdTls {
            ca: ca.into(),
            client: None,
        }),
        (false, false, false) => Some(EtcdTls {
            ca: ca.into(),
            client: Some((cert.into(), key.into())),
        }),
        _ => {
            return Err(ConfigError(
                "ERROR: Unable to parse configuration: etcd TLS needs ca_file, and cert_file with \
                 key_file together"
                    .into(),
            ))
        }
    };
    let (name, password) = (
        pick("BRICKYARD_ETCD_USERNAME", &file.username),
        pick("BRICKYARD_ETCD_PASSWORD", &file.password),
    );
    etcd.user = match (name.is_empty(), password.is_empty()) {
        (true, true) => None,
        (false, false) => Some(EtcdUser { name, password }),
        _ => {
            return Err(ConfigError(
                "ERROR: Unable to parse configuration: an etcd username needs its password, and a \
                 password its username"
                    .into(),
            ))
        }
    };
    let max_ops = match env.var("BRICKYARD_ETCD_MAX_TXN_OPS").filter(|v| !v.is_empty()) {
        Some(v) => v.trim().parse::<u64>().ok().filter(|n| *n >= 16).ok_or_else(|| {
            ConfigError(format!(
                "ERROR: Unable to parse configuration: BRICKYARD_ETCD_MAX_TXN_OPS {v:?} is not a number of at least 16"
            ))
        })?,
        None => file.max_txn_ops,
    };
    if max_ops > 0 {
        etcd.max_txn_ops = usize::try_from(max_ops).unwrap_or(usize::MAX);
    }
    Ok(StoreLocation::Etcd(etcd))
}

/// Where files of this server's own go beside an etcd store.
pub fn local_dir(file: &StoreFile, env: &dyn Env) -> PathBuf {
    env.var("BRICKYARD_LOCAL_DIR")
        .filter(|v| !v.is_empty())
        .or_else(|| (!file.local_dir.is_empty()).then(|| file.local_dir.clone()))
        .unwrap_or_else(|| DEFAULT_LOCAL_DIR.to_string())
        .into()
}

/// An etcd store: the members to ask and the key prefix everything lives under.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// `host:port` of each member.
    pub endpoints: Vec<String>,
    /// Every key the store writes starts with `<prefix>/`.
    pub prefix: String,
    pub tls: Option<EtcdTls>,
    pub user: Option<EtcdUser>,
    /// The members' `--max-txn-ops`: a transaction with more operations
    /// is refused before it is sent, naming the setting.
    pub max_txn_ops: usize,
}

/// etcd's own default `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// TLS to the members: the CA that signed their certificates, and a client
/// certificate when the members ask for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdTls {
    pub ca: PathBuf,
    pub client: Option<(PathBuf, PathBuf)>,
}

/// etcd's own authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdUser {
    pub name: String,
    pub password: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EtcdUrlError {
    #[error(
        "an etcd store URL has the form etcd://host:port[,host:port...]/prefix; {0:?} does not start with etcd://"
    )]
    Scheme(String),
    #[error("the etcd store URL {0:?} names no member (etcd://host:port[,host:port...]/prefix)")]
    NoMembers(String),
    #[error("the etcd member {0:?} is not host:port with a port from 1 to 65535")]
    Member(String),
    #[error("the etcd store URL {0:?} has no key prefix after the members (etcd://host:port/prefix)")]
    NoPrefix(String),
    #[error("the etcd key prefix {0:?} may hold only letters, digits, '.', '_', '-' and '/' between non-empty parts")]
    Prefix(String),
}

impl EtcdConfig {
    /// Reads `etcd://host:port[,host:port...]/<prefix>`.
    pub fn parse_url(url: &str) -> Result<EtcdConfig, EtcdUrlError> {
        let rest = url
            .strip_prefix("etcd://")
            .ok_or_else(|| EtcdUrlError::Scheme(url.to_string()))?;
        let (members, prefix) = rest
            .split_once('/')
            .ok_or_else(|| EtcdUrlError::NoPrefix(url.to_string()))?;
        if members.is_empty() {
            return Err(EtcdUrlError::NoMembers(url.to_string()));
        }
        let endpoints = members.split(',').map(check_member).collect::<Result<Vec<_>, _>>()?;
        if prefix.is_empty() {
            return Err(EtcdUrlError::NoPrefix(url.to_string()));
        }
        Ok(EtcdConfig {
            endpoints,
            prefix: check_prefix(prefix)?,
            tls: None,
            user: None,
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
        })
    }
}

/// A member as `host:port`: a host name or IPv4 address, or an IPv6
/// address in brackets.
pub fn check_member(member: &str) -> Result<String, EtcdUrlError> {
    let bad = || EtcdUrlError::Member(member.to_string());
    let (host, port) = member.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0) && port.bytes().all(|b| b.is_ascii_digit());
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        }
    };
    if port_ok && host_ok {
        Ok(member.to_string())
    } else {
        Err(bad())
    }
}

/// A key prefix: path-like parts of safe characters, without a trailing slash.
pub fn check_prefix(prefix: &str) -> Result<String, EtcdUrlError> {
    let parts_ok = prefix.split('/').all(|part| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    if parts_ok {
        Ok(prefix.to_string())
    } else {
        Err(EtcdUrlError::Prefix(prefix.to_string()))
    }
}

impl std::fmt::Display for EtcdConfig {
    /// The URL form; never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "etcd://{}/{}", self.endpoints.join(","), self.prefix)
    }
}

impl std::fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdConfig")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("tls", &self.tls)
            .field("user", &self.user.as_ref().map(|u| &u.name))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_members_and_a_prefix() {
        let c = EtcdConfig::parse_url("etcd://10.0.0.1:2379,etcd-1.etcd:2379,[::1]:2379/brickyard/prod").unwrap();
        assert_eq!(c.endpoints, ["10.0.0.1:2379", "etcd-1.etcd:2379", "[::1]:2379"]);
        assert_eq!(c.prefix, "brickyard/prod");
        assert_eq!(
            c.to_string(),
            "etcd://10.0.0.1:2379,etcd-1.etcd:2379,[::1]:2379/brickyard/prod"
        );
    }

    #[test]
    fn bad_urls_name_their_fault() {
        let cases = [
            ("http://h:1/p", EtcdUrlError::Scheme("http://h:1/p".into())),
            ("etcd:///p", EtcdUrlError::NoMembers("etcd:///p".into())),
            ("etcd://h:1", EtcdUrlError::NoPrefix("etcd://h:1".into())),
            ("etcd://h:1/", EtcdUrlError::NoPrefix("etcd://h:1/".into())),
            ("etcd://h/p", EtcdUrlError::Member("h".into())),
            ("etcd://h:0/p", EtcdUrlError::Member("h:0".into())),
            ("etcd://h:+1/p", EtcdUrlError::Member("h:+1".into())),
            ("etcd://h;rm:1/p", EtcdUrlError::Member("h;rm:1".into())),
            ("etcd://[zz]:1/p", EtcdUrlError::Member("[zz]:1".into())),
            ("etcd://h:1,/p", EtcdUrlError::Member(String::new())),
            ("etcd://h:1/a//b", EtcdUrlError::Prefix("a//b".into())),
            ("etcd://h:1/a/../b", EtcdUrlError::Prefix("a/../b".into())),
            ("etcd://h:1/a/", EtcdUrlError::Prefix("a/".into())),
            ("etcd://h:1/a b", EtcdUrlError::Prefix("a b".into())),
        ];
        for (url, want) in cases {
            assert_eq!(EtcdConfig::parse_url(url).unwrap_err(), want, "{url}");
        }
    }

    #[test]
    fn the_password_never_shows() {
        let mut c = EtcdConfig::parse_url("etcd://h:1/p").unwrap();
        c.user = Some(EtcdUser {
            name: "brickyard".into(),
            password: "s3cret".into(),
        });
        assert!(!format!("{c:?} {c}").contains("s3cret"));
    }
}
