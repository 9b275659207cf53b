//! Brickyard's own command-line flags, which win over heketi.json and the
//! environment, and the development defaults used without a config file.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::ConfigError;

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

impl Flags {
    /// Where to listen: the flag, else heketi.json's `port` on every
    /// interface, else (no file) the development address.
    pub(super) fn listen(&self, heketi_mode: bool, port: &str) -> Result<SocketAddr, ConfigError> {
        match (self.listen, heketi_mode) {
            (Some(addr), _) => Ok(addr),
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
                Ok(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)))
            }
            (None, false) => DEV_LISTEN
                .parse()
                .map_err(|_| ConfigError("bad default address".into())),
        }
    }

    /// The store: the flag, else the file's `db` (Heketi's `heketi.db` when
    /// unset), else (no file) the development store.
    pub(super) fn store_path(&self, heketi_mode: bool, db: &str) -> PathBuf {
        match (&self.store, heketi_mode) {
            (Some(p), _) => p.clone(),
            (None, true) if db.is_empty() => PathBuf::from("heketi.db"),
            (None, true) => PathBuf::from(db),
            (None, false) if !db.is_empty() => PathBuf::from(db),
            (None, false) => PathBuf::from(DEV_STORE),
        }
    }

    /// Authentication is on with a config file, unless the flag turns it off.
    pub(super) fn auth_enabled(&self, heketi_mode: bool) -> bool {
        heketi_mode && !self.disable_auth
    }
}
