//! What a node needs to mount a volume, carried in the CSI volume context
//! (set at creation, printed into static PVs by `brickyard csi pv`): the
//! gluster volume's name, the server to fetch its layout from, the backup
//! servers, and the volume's GID for pods' supplemental groups.

use std::collections::HashMap;

use crate::wire::volumes::VolumeInfoResponse;

pub const NAME: &str = "name";
pub const SERVER: &str = "server";
pub const BACKUP_SERVERS: &str = "backupServers";
pub const GID: &str = "gid";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFacts {
    pub name: String,
    pub server: String,
    pub backup_servers: Vec<String>,
    pub gid: Option<i64>,
}

/// Why a volume context cannot be mounted; the text names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("volume_context: {0}")]
pub struct ContextError(pub String);

impl VolumeFacts {
    /// From the REST API's volume info (its `mount.glusterfs` part).
    pub fn of(v: &VolumeInfoResponse) -> VolumeFacts {
        let mount = &v.mount.glusterfs;
        let server = mount
            .device
            .split_once(':')
            .map(|(host, _)| host.to_string())
            .or_else(|| mount.hosts.first().cloned())
            .unwrap_or_default();
        let backup_servers = mount.hosts.iter().filter(|h| **h != server).cloned().collect();
        VolumeFacts {
            name: v.name.clone(),
            server,
            backup_servers,
            gid: (v.gid > 0).then_some(v.gid),
        }
    }

    pub fn context(&self) -> HashMap<String, String> {
        let mut out = HashMap::from([
            (NAME.to_string(), self.name.clone()),
            (SERVER.to_string(), self.server.clone()),
        ]);
        if !self.backup_servers.is_empty() {
            out.insert(BACKUP_SERVERS.to_string(), self.backup_servers.join(","));
        }
        if let Some(gid) = self.gid {
            out.insert(GID.to_string(), gid.to_string());
        }
        out
    }

    /// Whether a context says what to mount (else the node looks it up).
    pub fn names_a_volume(context: &HashMap<String, String>) -> bool {
        context.contains_key(NAME)
    }

    /// Back from a context, every value checked: names and hosts reach the
    /// `mount` command's arguments.
    pub fn from_context(context: &HashMap<String, String>) -> Result<VolumeFacts, ContextError> {
        let get = |key: &str| context.get(key).map(String::as_str).unwrap_or_default();
        let name = get(NAME);
        if name.is_empty() || !super::params::is_name(name) {
            return Err(ContextError(format!("{NAME} {name:?} is not a volume name")));
        }
        let server = get(SERVER);
        if !is_host(server) {
            return Err(ContextError(format!(
                "{SERVER} {server:?} is not a host name or address"
            )));
        }
        let backup_servers: Vec<String> = get(BACKUP_SERVERS)
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(bad) = backup_servers.iter().find(|h| !is_host(h)) {
            return Err(ContextError(format!(
                "{BACKUP_SERVERS}: {bad:?} is not a host name or address"
            )));
        }
        let gid = match context.get(GID) {
            None => None,
            Some(g) => Some(
                g.parse::<i64>()
                    .ok()
                    .filter(|g| *g > 0)
                    .ok_or_else(|| ContextError(format!("{GID} {g:?} is not a group id")))?,
            ),
        };
        Ok(VolumeFacts {
            name: name.to_string(),
            server: server.to_string(),
            backup_servers,
            gid,
        })
    }
}

/// A DNS name, or an IPv4 or IPv6 address.
pub fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && (h.parse::<std::net::IpAddr>().is_ok()
            || h.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
            }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_round_trips_and_hostile_values_are_refused() {
        let facts = VolumeFacts {
            name: "vol_1".into(),
            server: "10.0.0.1".into(),
            backup_servers: vec!["node2.example".into(), "fd00::3".into()],
            gid: Some(2001),
        };
        assert_eq!(VolumeFacts::from_context(&facts.context()).unwrap(), facts);
        for (key, value) in [
            (NAME, "v; rm -rf /"),
            (NAME, ""),
            (SERVER, "10.0.0.1 -o exec"),
            (SERVER, "-oexec"),
            (BACKUP_SERVERS, "a,b c"),
            (GID, "-5"),
            (GID, "x"),
        ] {
            let mut context = facts.context();
            context.insert(key.to_string(), value.to_string());
            let e = VolumeFacts::from_context(&context).unwrap_err();
            assert!(e.0.contains(key), "{key}={value}: {e}");
        }
    }
}
