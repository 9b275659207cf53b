//! One entry of the mock's node state set, removed or appended: the unit
//! the change log records. Every change to the state, live or replayed,
//! goes through `MockNodes::apply`, so a replayed log cannot mean anything
//! else than what the live mock did. A change names one entry (an LV, a
//! mount, a command line …), never a whole node, so what a call costs in
//! the log does not grow with what the nodes hold.

use serde::{Deserialize, Serialize};

use super::state::{MockBlock, MockHost, MockLv, MockNodes, MockPv, MockVg, MockVolume};

/// One change; `value: None` removes the entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "entry", rename_all = "kebab-case")]
pub enum Change {
    /// A node seen for the first time, with nothing on it yet.
    Host { host: String },
    /// A peer probed (`true`) or detached (`false`).
    Peer { host: String, key: String, value: bool },
    /// A physical volume, by device path.
    Pv {
        host: String,
        key: String,
        value: Option<MockPv>,
    },
    /// A volume group, by name.
    Vg {
        host: String,
        key: String,
        value: Option<MockVg>,
    },
    /// A logical volume, by `vg/lv`.
    Lv {
        host: String,
        key: String,
        value: Option<MockLv>,
    },
    /// A mount: mount point → device node.
    Mount {
        host: String,
        key: String,
        value: Option<String>,
    },
    /// An fstab line appended (`true`), or every line equal to it removed.
    Fstab { host: String, line: String, value: bool },
    /// Command lines the node ran, appended to its history.
    Commands { host: String, lines: Vec<String> },
    /// A gluster volume of the pool, by name.
    Volume { key: String, value: Option<MockVolume> },
    /// A gluster-block block volume, by `hosting volume/name`.
    Block { key: String, value: Option<MockBlock> },
}

fn set<V>(map: &mut std::collections::BTreeMap<String, V>, key: String, value: Option<V>) {
    match value {
        Some(v) => {
            map.insert(key, v);
        }
        None => {
            map.remove(&key);
        }
    }
}

/// The node `name`, made on first use.
fn host(nodes: &mut MockNodes, name: String) -> &mut MockHost {
    nodes.hosts.entry(name).or_default()
}

impl MockNodes {
    /// Applies one change. Entries of a node not seen before make it.
    pub(super) fn apply(&mut self, change: Change) {
        match change {
            Change::Host { host: name } => {
                host(self, name);
            }
            Change::Peer { host: name, key, value } => {
                let peers = &mut host(self, name).peers;
                if value {
                    peers.insert(key);
                } else {
                    peers.remove(&key);
                }
            }
            Change::Pv { host: name, key, value } => set(&mut host(self, name).pvs, key, value),
            Change::Vg { host: name, key, value } => set(&mut host(self, name).vgs, key, value),
            Change::Lv { host: name, key, value } => host(self, name).lvs.set(&key, value),
            Change::Mount { host: name, key, value } => {
                host(self, name).mounts.set(&key, value.as_deref());
            }
            Change::Fstab {
                host: name,
                line,
                value,
            } => {
                let fstab = &mut host(self, name).fstab;
                if value {
                    fstab.push(&line);
                } else {
                    fstab.remove(&line);
                }
            }
            Change::Commands { host: name, lines } => host(self, name).ran(lines),
            Change::Volume { key, value } => self.volumes.set(&key, value),
            Change::Block { key, value } => set(&mut self.blocks, key, value),
        }
    }
}

/// The state under change during one call: each change is applied at once
/// (later steps of the call see it) and, for a durable mock, kept for the
/// log.
pub(super) struct Edit<'a> {
    nodes: &'a mut MockNodes,
    kept: Option<Vec<Change>>,
}

impl<'a> Edit<'a> {
    /// `keep`: the changes are wanted afterwards (a durable mock).
    pub(super) fn new(nodes: &'a mut MockNodes, keep: bool) -> Edit<'a> {
        Edit {
            nodes,
            kept: keep.then(Vec::new),
        }
    }

    /// The state as changed so far.
    pub(super) fn nodes(&self) -> &MockNodes {
        self.nodes
    }

    /// The changes made, in order (none when not kept).
    pub(super) fn into_changes(self) -> Vec<Change> {
        self.kept.unwrap_or_default()
    }

    pub(super) fn apply(&mut self, change: Change) {
        match &mut self.kept {
            Some(kept) => {
                self.nodes.apply(change.clone());
                kept.push(change);
            }
            None => self.nodes.apply(change),
        }
    }

    /// The node `host`, made on first use.
    pub(super) fn host(&mut self, host: &str) -> &MockHost {
        if !self.nodes.hosts.contains_key(host) {
            self.apply(Change::Host { host: host.to_string() });
        }
        &self.nodes.hosts[host]
    }

    /// Command lines run on `host`.
    pub(super) fn ran(&mut self, host: &str, lines: Vec<String>) {
        self.host(host);
        if !lines.is_empty() {
            self.apply(Change::Commands {
                host: host.to_string(),
                lines,
            });
        }
    }

    pub(super) fn peer(&mut self, host: &str, peer: &str, present: bool) {
        self.apply(Change::Peer {
            host: host.to_string(),
            key: peer.to_string(),
            value: present,
        });
    }

    pub(super) fn pv(&mut self, host: &str, path: &str, value: Option<MockPv>) {
        self.apply(Change::Pv {
            host: host.to_string(),
            key: path.to_string(),
            value,
        });
    }

    pub(super) fn vg(&mut self, host: &str, name: &str, value: Option<MockVg>) {
        self.apply(Change::Vg {
            host: host.to_string(),
            key: name.to_string(),
            value,
        });
    }

    pub(super) fn lv(&mut self, host: &str, key: &str, value: Option<MockLv>) {
        self.apply(Change::Lv {
            host: host.to_string(),
            key: key.to_string(),
            value,
        });
    }

    pub(super) fn mount(&mut self, host: &str, target: &str, device: Option<String>) {
        self.apply(Change::Mount {
            host: host.to_string(),
            key: target.to_string(),
            value: device,
        });
    }

    pub(super) fn fstab(&mut self, host: &str, line: &str, present: bool) {
        self.apply(Change::Fstab {
            host: host.to_string(),
            line: line.to_string(),
            value: present,
        });
    }

    pub(super) fn volume(&mut self, name: &str, value: Option<MockVolume>) {
        self.apply(Change::Volume {
            key: name.to_string(),
            value,
        });
    }

    pub(super) fn block(&mut self, key: &str, value: Option<MockBlock>) {
        self.apply(Change::Block {
            key: key.to_string(),
            value,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::mock::packed::Packed;

    #[test]
    fn a_change_is_one_small_json_object() {
        let change = Change::Lv {
            host: "n1".into(),
            key: "vg_a/brick_b".into(),
            value: Some(MockLv {
                pool: Some(Packed::new("tp_b")),
                extents: 0,
                size_kib: 1024,
            }),
        };
        let text = serde_json::to_string(&change).unwrap();
        assert_eq!(
            text,
            r#"{"entry":"lv","host":"n1","key":"vg_a/brick_b","value":{"pool":"tp_b","extents":0,"size_kib":1024}}"#
        );
        assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), change);
    }

    #[test]
    fn kept_changes_replayed_give_the_same_state() {
        let mut live = MockNodes::default();
        let mut edit = Edit::new(&mut live, true);
        edit.ran("n1", vec!["pvcreate /dev/sdb".into()]);
        edit.peer("n1", "10.0.0.2", true);
        edit.fstab("n1", "a", true);
        edit.fstab("n1", "b", true);
        edit.fstab("n1", "a", false);
        edit.mount("n1", "/m", Some("/dev/x".into()));
        edit.mount("n1", "/m", None);
        edit.host("n2");
        let changes = edit.into_changes();
        let mut replayed = MockNodes::default();
        for change in changes {
            replayed.apply(change);
        }
        assert_eq!(replayed, live);
        assert_eq!(live.hosts["n1"].fstab, ["b"]);
        assert!(live.hosts.contains_key("n2"));
    }
}
