//! Mounting on the node: GlusterFS over FUSE at the staging path, bind
//! mounts into pods' target paths, unmounts, and what a path holds now.
//! `System` runs the host's `mount` and `umount` with argument vectors (no
//! shell), every value validated first. `Recorded` is a stand-in for tests
//! that have no FUSE or root: it keeps the mount table in a file and
//! changes nothing else; it says so wherever it is chosen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::volume::VolumeFacts;

/// What a path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountState {
    NotMounted,
    /// Mounted from `source` (`server:/volume` for GlusterFS, the staging
    /// path for a bind mount), read-only or not.
    Mounted {
        source: String,
        readonly: bool,
    },
    /// A mount point whose file system no longer answers (a FUSE client
    /// gone: `ENOTCONN`), with its source.
    Stale {
        source: String,
    },
}

/// A failed mount or unmount, with what the command said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MountError(pub String);

/// Space and inodes of a mounted file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub bytes_total: u64,
    pub bytes_available: u64,
    pub bytes_used: u64,
    pub inodes_total: u64,
    pub inodes_free: u64,
}

pub trait Mounter: Send + Sync {
    fn state(&self, path: &Path) -> Result<MountState, MountError>;
    fn mount_gluster(&self, facts: &VolumeFacts, target: &Path, flags: &[String]) -> Result<(), MountError>;
    fn bind(&self, source: &Path, target: &Path, readonly: bool) -> Result<(), MountError>;
    fn unmount(&self, path: &Path) -> Result<(), MountError>;
    fn usage(&self, path: &Path) -> Result<Usage, MountError>;
}

/// Mount flags a StorageClass may pass: `name` or `name=value`, with
/// characters no option parser gives a second meaning to.
pub fn check_flags(flags: &[String]) -> Result<(), MountError> {
    for flag in flags {
        let ok = !flag.is_empty()
            && flag.len() <= 256
            && flag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '=' | ':' | '/' | '+'))
            && !flag.starts_with('-');
        if !ok {
            return Err(MountError(format!("mount flag {flag:?} is not a plain option")));
        }
    }
    Ok(())
}

/// The source `mount` is given for a volume: `server:/volume`.
pub fn gluster_source(facts: &VolumeFacts) -> String {
    format!("{}:/{}", facts.server, facts.name)
}

/// The `-o` list for a GlusterFS mount: the backup volfile servers, a log
/// file per volume, then the StorageClass's flags.
pub fn gluster_options(facts: &VolumeFacts, flags: &[String]) -> String {
    let mut options = Vec::new();
    if !facts.backup_servers.is_empty() {
        options.push(format!("backup-volfile-servers={}", facts.backup_servers.join(":")));
    }
    options.push(format!("log-file=/var/log/glusterfs/brickyard-{}.log", facts.name));
    options.extend(flags.iter().cloned());
    options.join(",")
}

/// The host's own mount table and tools.
pub struct System;

/// `/proc/self/mountinfo` escapes spaces and such as `\NNN` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            if let Ok(n) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount at `path` in a mountinfo text (the last one wins): its source
/// and whether it is read-only.
pub fn find_mount(mountinfo: &str, path: &Path) -> Option<(String, bool)> {
    let wanted = path.to_string_lossy();
    let mut found = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.len() < 6 || fields.len() < sep + 3 {
            continue;
        }
        if unescape(fields[4]) != wanted {
            continue;
        }
        let readonly = fields[5].split(',').any(|o| o == "ro");
        found = Some((unescape(fields[sep + 2]), readonly));
    }
    found
}

fn run(program: &str, args: &[&str]) -> Result<(), MountError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| MountError(format!("{program}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(MountError(format!(
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

fn text(path: &Path) -> Result<&str, MountError> {
    path.to_str()
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| MountError(format!("{} is not an absolute path", path.display())))
}

impl Mounter for System {
    fn state(&self, path: &Path) -> Result<MountState, MountError> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| MountError(format!("cannot read the mount table: {e}")))?;
        let Some((source, readonly)) = find_mount(&info, path) else {
            return Ok(MountState::NotMounted);
        };
        match std::fs::metadata(path) {
            Ok(_) => Ok(MountState::Mounted { source, readonly }),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) || e.raw_os_error() == Some(libc::EIO) => {
                Ok(MountState::Stale { source })
            }
            Err(e) => Err(MountError(format!("cannot look at {}: {e}", path.display()))),
        }
    }

    fn mount_gluster(&self, facts: &VolumeFacts, target: &Path, flags: &[String]) -> Result<(), MountError> {
        check_flags(flags)?;
        let options = gluster_options(facts, flags);
        let source = gluster_source(facts);
        run("mount", &["-t", "glusterfs", "-o", &options, &source, text(target)?])
    }

    fn bind(&self, source: &Path, target: &Path, readonly: bool) -> Result<(), MountError> {
        run("mount", &["--bind", text(source)?, text(target)?])?;
        if readonly {
            if let Err(e) = run("mount", &["-o", "remount,bind,ro", text(target)?]) {
                let _ = run("umount", &[text(target)?]);
                return Err(e);
            }
        }
        Ok(())
    }

    fn unmount(&self, path: &Path) -> Result<(), MountError> {
        run("umount", &[text(path)?])
    }

    fn usage(&self, path: &Path) -> Result<Usage, MountError> {
        statvfs(path)
    }
}

fn statvfs(path: &Path) -> Result<Usage, MountError> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| MountError(format!("{} holds a NUL byte", path.display())))?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a statvfs struct this function owns.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(MountError(format!(
            "statvfs {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        )));
    }
    let block = stat.f_frsize as u64;
    let total = stat.f_blocks as u64 * block;
    let available = stat.f_bavail as u64 * block;
    Ok(Usage {
        bytes_total: total,
        bytes_available: available,
        bytes_used: total.saturating_sub(stat.f_bfree as u64 * block),
        inodes_total: stat.f_files as u64,
        inodes_free: stat.f_ffree as u64,
    })
}

/// A mount table kept in a file: a STAND-IN for the host's mounts, for
/// protocol tests without FUSE or root. Mounting records the mount (and
/// creates nothing but the target directory); usage is the target
/// directory's real file system. Sources listed in `<table>.stale` read as
/// stale mounts, so tests can make a volume go away; each GlusterFS mount
/// made is logged to `<table>.log`.
pub struct Recorded {
    table: PathBuf,
    lock: Mutex<()>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RecordedMount {
    pub source: String,
    pub readonly: bool,
    pub options: String,
}

impl Recorded {
    pub fn new(table: PathBuf) -> Recorded {
        Recorded {
            table,
            lock: Mutex::new(()),
        }
    }

    pub fn read(table: &Path) -> BTreeMap<String, RecordedMount> {
        std::fs::read(table)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn change(&self, edit: impl FnOnce(&mut BTreeMap<String, RecordedMount>)) -> Result<(), MountError> {
        let _one = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut mounts = Recorded::read(&self.table);
        edit(&mut mounts);
        let bytes = serde_json::to_vec_pretty(&mounts).map_err(|e| MountError(e.to_string()))?;
        std::fs::write(&self.table, bytes).map_err(|e| MountError(format!("mount table: {e}")))
    }

    fn stale_sources(&self) -> Vec<String> {
        let mut path = self.table.clone().into_os_string();
        path.push(".stale");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Mounter for Recorded {
    fn state(&self, path: &Path) -> Result<MountState, MountError> {
        let mounts = Recorded::read(&self.table);
        Ok(match mounts.get(&path.to_string_lossy().into_owned()) {
            None => MountState::NotMounted,
            Some(m) if self.stale_sources().contains(&m.source) => MountState::Stale {
                source: m.source.clone(),
            },
            Some(m) => MountState::Mounted {
                source: m.source.clone(),
                readonly: m.readonly,
            },
        })
    }

    fn mount_gluster(&self, facts: &VolumeFacts, target: &Path, flags: &[String]) -> Result<(), MountError> {
        check_flags(flags)?;
        text(target)?;
        let mount = RecordedMount {
            source: gluster_source(facts),
            readonly: false,
            options: gluster_options(facts, flags),
        };
        let mut log = self.table.clone().into_os_string();
        log.push(".log");
        let logged = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, format!("{} {}\n", mount.source, target.display()).as_bytes())
            });
        logged.map_err(|e| MountError(format!("mount log: {e}")))?;
        self.change(|m| {
            m.insert(target.to_string_lossy().into_owned(), mount);
        })
    }

    fn bind(&self, source: &Path, target: &Path, readonly: bool) -> Result<(), MountError> {
        text(target)?;
        let mount = RecordedMount {
            source: text(source)?.to_string(),
            readonly,
            options: "bind".into(),
        };
        self.change(|m| {
            m.insert(target.to_string_lossy().into_owned(), mount);
        })
    }

    fn unmount(&self, path: &Path) -> Result<(), MountError> {
        self.change(|m| {
            m.remove(&path.to_string_lossy().into_owned());
        })
    }

    fn usage(&self, path: &Path) -> Result<Usage, MountError> {
        statvfs(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_table_is_read_with_its_escapes() {
        let info = "36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw\n\
                    40 35 0:50 / /var/lib/kubelet/staging ro,relatime - fuse.glusterfs 10.0.0.1:/vol_1 rw,user_id=0\n";
        assert_eq!(
            find_mount(info, Path::new("/mnt/a b")),
            Some(("/dev/root".into(), false))
        );
        assert_eq!(
            find_mount(info, Path::new("/var/lib/kubelet/staging")),
            Some(("10.0.0.1:/vol_1".into(), true))
        );
        assert_eq!(find_mount(info, Path::new("/mnt")), None);
    }

    #[test]
    fn flags_are_plain_options_only() {
        check_flags(&["ro".into(), "log-level=WARNING".into(), "transport=tcp".into()]).unwrap();
        for bad in ["", "a,b", "x y", "-oexec", "a;b", "$(id)", "a\nb"] {
            assert!(check_flags(&[bad.into()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn gluster_mounts_name_their_backup_servers_and_log() {
        let facts = VolumeFacts {
            name: "vol_1".into(),
            server: "10.0.0.1".into(),
            backup_servers: vec!["10.0.0.2".into(), "10.0.0.3".into()],
            gid: None,
        };
        assert_eq!(gluster_source(&facts), "10.0.0.1:/vol_1");
        assert_eq!(
            gluster_options(&facts, &["ro".into()]),
            "backup-volfile-servers=10.0.0.2:10.0.0.3,log-file=/var/log/glusterfs/brickyard-vol_1.log,ro"
        );
    }
}
