//! Command builders: the exact command lines Heketi runs on storage nodes,
//! as pure functions. Transports run them; the mock records them. Every
//! value from a request is validated upstream and shell-quoted here, so a
//! hostile value can never become a command of its own; values that need
//! no quoting come out exactly as Heketi writes them.
//!
//! Each line comes as a `Command` that also says what it touches on the
//! node, so the runner decides (fstab edits one at a time, which commands
//! finish a retried volume create) from the type, never from the text.
//! `lvm` builds the device and LVM commands, `bricks` the brick file
//! systems, mounts and fstab, `gluster` the trusted pool and its volumes,
//! `block` gluster-block's block volumes.

mod block;
mod bricks;
mod gluster;
mod lvm;

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

pub use bricks::BrickDestroySteps;
pub use lvm::LvmReportKind;

use crate::config::ExecConfigFile;

/// What a command changes on its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touches {
    /// Nothing: a query or a listing.
    Nothing,
    /// The node's fstab, appended to or rewritten: one edit per node at a
    /// time, as a rewrite loses a change made beside it.
    Fstab,
    /// The device and its LVM objects: signatures, PVs, VGs, thin pools, LVs.
    Lvm,
    /// Directories, file systems and mounts.
    Files,
    /// The trusted pool: peers and its snapshot limit.
    Peers,
    /// Creates a gluster volume (with its first brick set).
    VolumeCreate,
    /// Sets an option of a gluster volume.
    VolumeOption,
    /// Starts a gluster volume.
    VolumeStart,
    /// Any other change to gluster volumes, their bricks or snapshots.
    Gluster,
}

/// One command line and what it touches. It reads as its line (`Deref`,
/// `Display`, comparisons with strings), which is what runs on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub line: String,
    pub touches: Touches,
}

impl Command {
    pub fn new(touches: Touches, line: impl Into<String>) -> Command {
        Command {
            line: line.into(),
            touches,
        }
    }

    /// A command that changes nothing.
    pub fn read(line: impl Into<String>) -> Command {
        Command::new(Touches::Nothing, line)
    }
}

impl Deref for Command {
    type Target = str;

    fn deref(&self) -> &str {
        &self.line
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

impl From<Command> for String {
    fn from(command: Command) -> String {
        command.line
    }
}

impl PartialEq<str> for Command {
    fn eq(&self, other: &str) -> bool {
        self.line == other
    }
}

impl PartialEq<&str> for Command {
    fn eq(&self, other: &&str) -> bool {
        self.line == *other
    }
}

impl PartialEq<String> for Command {
    fn eq(&self, other: &String) -> bool {
        &self.line == other
    }
}

/// The settings command lines depend on (`sshexec`/`kubeexec` options).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandConfig {
    pub fstab: String,
    pub mount_opts: String,
    pub lvm_wrapper: String,
    pub backup_lvm_metadata: bool,
    pub gluster_cli_timeout: u64,
    pub pv_data_alignment: String,
    pub vg_extent_size: String,
    pub lv_chunk_size: String,
    pub xfs_su: i64,
    pub xfs_sw: i64,
    pub rebalance_on_expansion: bool,
    pub snapshot_limit: i64,
    /// gluster-block's `prealloc` argument (`full` or `no`).
    pub block_prealloc: String,
}

impl From<&ExecConfigFile> for CommandConfig {
    fn from(c: &ExecConfigFile) -> Self {
        CommandConfig {
            fstab: c.fstab.clone(),
            mount_opts: c.mountopts.clone(),
            lvm_wrapper: c.lvm_wrapper.clone(),
            backup_lvm_metadata: c.backup_lvm_metadata,
            gluster_cli_timeout: c.gluster_cli_timeout,
            pv_data_alignment: c.pv_data_alignment.clone(),
            vg_extent_size: c.vg_physicalextentsize.clone(),
            lv_chunk_size: c.lv_chunksize.clone(),
            xfs_su: c.xfs_su,
            xfs_sw: c.xfs_sw,
            rebalance_on_expansion: c.rebalance_on_expansion,
            snapshot_limit: c.snapshot_limit,
            block_prealloc: c.block_prealloc.clone(),
        }
    }
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            fstab: "/etc/fstab".into(),
            mount_opts: "rw,inode64,noatime,nouuid".into(),
            lvm_wrapper: String::new(),
            backup_lvm_metadata: false,
            gluster_cli_timeout: 600,
            pv_data_alignment: "256K".into(),
            vg_extent_size: "4M".into(),
            lv_chunk_size: "256K".into(),
            xfs_su: 0,
            xfs_sw: 0,
            rebalance_on_expansion: true,
            snapshot_limit: 0,
            block_prealloc: "full".into(),
        }
    }
}

/// Quotes for a POSIX shell when needed. Values made only of characters a
/// shell never interprets pass unchanged, so command lines stay exactly as
/// Heketi writes them.
pub fn q(value: &str) -> Cow<'_, str> {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c));
    if plain {
        Cow::Borrowed(value)
    } else {
        shlex::try_quote(value).unwrap_or(Cow::Owned("''".into()))
    }
}

/// The programs commands start with, as the settings name them.
impl CommandConfig {
    fn gluster(&self) -> String {
        format!("gluster --mode=script --timeout={}", self.gluster_cli_timeout)
    }
    fn lvm(&self) -> String {
        if self.lvm_wrapper.is_empty() {
            "/usr/sbin/lvm".into()
        } else {
            format!("{} /usr/sbin/lvm", self.lvm_wrapper)
        }
    }
    fn udevadm(&self) -> String {
        if self.lvm_wrapper.is_empty() {
            "/usr/bin/udevadm".into()
        } else {
            format!("{} /usr/bin/udevadm", self.lvm_wrapper)
        }
    }
    fn autobackup(&self) -> &'static str {
        if self.backup_lvm_metadata {
            "y"
        } else {
            "n"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::{GlusterVolumeSpec, VolumeLayout};

    #[test]
    fn hostile_values_are_quoted_not_run() {
        let c = CommandConfig::default();
        assert_eq!(
            c.peer_probe("node1")[0],
            "gluster --mode=script --timeout=600 peer probe node1"
        );
        let evil = c.peer_probe("n1; reboot");
        assert_eq!(evil[0], "gluster --mode=script --timeout=600 peer probe 'n1; reboot'");
        let set = c.volume_create(&GlusterVolumeSpec {
            name: "v".into(),
            layout: VolumeLayout::Distribute,
            bricks: vec!["h:/p".into()],
            options: vec!["user.x $(rm -rf /)".into()],
        });
        assert!(
            set.iter().any(|l| l.ends_with("volume set v user.x '$(rm' -rf '/)'")),
            "{set:?}"
        );
        let dev = c.device_setup("/dev/sd'b", "d", true);
        assert_eq!(dev[0], "wipefs --all \"/dev/sd'b\"");
        assert_eq!(
            c.device_setup("/dev/$(reboot)", "d", true)[0],
            "wipefs --all '/dev/$(reboot)'"
        );
        assert!(dev[1].ends_with("'/dev/sd'\\''b'"));
    }

    #[test]
    fn device_and_peer_commands() {
        let c = CommandConfig {
            snapshot_limit: 14,
            ..CommandConfig::default()
        };
        assert_eq!(c.peer_probe("10.0.0.2").len(), 2);
        let d = c.device_setup("/dev/sdb", "abc", false);
        assert_eq!(
            d[0],
            "/usr/sbin/lvm pvcreate -qq --metadatasize=128M --dataalignment=256K '/dev/sdb'"
        );
        assert_eq!(
            d[1],
            "/usr/sbin/lvm vgcreate -qq --physicalextentsize=4M --autobackup=n vg_abc /dev/sdb"
        );
        assert_eq!(
            c.peer_probe("10.0.0.2"),
            [
                "gluster --mode=script --timeout=600 peer probe 10.0.0.2",
                "gluster --mode=script --timeout=600 snapshot config snap-max-hard-limit 14"
            ]
        );
        assert_eq!(
            c.peer_detach("n2"),
            ["gluster --mode=script --timeout=600 peer detach n2"]
        );
        assert_eq!(c.glusterd_check(), ["systemctl status glusterd"]);
    }
}
