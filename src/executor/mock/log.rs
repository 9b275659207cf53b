//! The durable mock's files beside the store: a snapshot of the node state
//! and a log of the changes made since, so a change costs what it changes,
//! not what the nodes hold.
//!
//! * `<store>.mock-nodes.json`: the snapshot, in the shape of `MockNodes`
//!   (the shape the whole state had before the log, so those files load
//!   as they are), plus `log_generation`: the last log folded into it.
//! * `<store>.mock-nodes.log`: the log. Its first line is
//!   `{"generation":N}`; then one line per executor call, the JSON array
//!   of that call's changes, written with one `write` and no `fsync`: the
//!   mock stands in for node disks, and a killed process's writes stay in
//!   the page cache (power loss is out of scope for a development mock).
//!   A last line without its newline is a write cut short by a crash; it is
//!   ignored, and the call it belonged to never answered.
//! * `.log.new` is the next log while it is set up; `.log.old`, a log an
//!   earlier Brickyard was folding into the snapshot in the background,
//!   is read if it is there.
//!
//! Loading reads the snapshot, then each log whose generation follows.
//! At open, appends go on in the log (a copy of its whole lines renamed
//! into place) when it is the one log after the snapshot; otherwise (no files yet, a `.log.old`)
//! the result becomes the new snapshot (tmp, fsync, rename) and a new log
//! starts (when no log held a change, the snapshot stays and only the log
//! starts again). The call whose append takes the log past the snapshot's
//! size writes the live state as the snapshot the same way. Every step
//! leaves files that load to the same state: a log already in the snapshot
//! has a generation at or below the snapshot's and is skipped.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::change::Change;
use super::packed::PackedMap;
use super::state::{MockBlock, MockHost, MockNodes, MockVolume};

/// Below this size a log is never compacted while serving.
const MIN_COMPACT_BYTES: u64 = 4 << 20;

/// How many times a read-only load starts over when the files change
/// under it (a compaction of a running server).
const READ_ATTEMPTS: usize = 10;

/// The mock's files for one state path (`<store>.mock-nodes.json`).
#[derive(Debug, Clone)]
pub struct StateFiles {
    pub snapshot: PathBuf,
    pub log: PathBuf,
    /// A log an earlier Brickyard was folding into the snapshot in the
    /// background; read if it is there, removed with the next log's start.
    pub old_log: PathBuf,
    new_log: PathBuf,
}

impl StateFiles {
    pub fn beside(snapshot: &Path) -> StateFiles {
        StateFiles {
            snapshot: snapshot.to_path_buf(),
            log: snapshot.with_extension("log"),
            old_log: snapshot.with_extension("log.old"),
            new_log: snapshot.with_extension("log.new"),
        }
    }
}

/// Why the mock's state files could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not mock node state: {source}", path.display())]
    Snapshot {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} line {line} is not a change record: {source}", path.display())]
    LogLine {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} holds generation {found}, but the state read so far ends at {expected}", path.display())]
    Gap { path: PathBuf, expected: u64, found: u64 },
    #[error("no mock node state: neither {} nor {} exists", files.snapshot.display(), files.log.display())]
    Missing { files: Box<StateFiles> },
    #[error("the mock node state at {} kept changing while it was read", path.display())]
    KeptChanging { path: PathBuf },
    #[error(
        "{}: a compaction wrote the snapshot holding this log but could not start the next; \
         restart the server to go on",
        path.display()
    )]
    Stranded { path: PathBuf },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StateFileError + '_ {
    move |source| StateFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The snapshot as written: the state's own fields, then the generation.
#[derive(Serialize)]
struct SnapshotOut<'a> {
    hosts: &'a std::collections::BTreeMap<String, MockHost>,
    volumes: &'a PackedMap<MockVolume>,
    blocks: &'a std::collections::BTreeMap<String, MockBlock>,
    log_generation: u64,
}

/// The snapshot as read; files from before the log have no generation.
#[derive(Deserialize)]
struct SnapshotIn {
    #[serde(default)]
    hosts: std::collections::BTreeMap<String, MockHost>,
    #[serde(default)]
    volumes: PackedMap<MockVolume>,
    #[serde(default)]
    blocks: std::collections::BTreeMap<String, MockBlock>,
    #[serde(default)]
    log_generation: u64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    generation: u64,
}

/// The state read from the files, and the last generation in it.
struct Loaded {
    nodes: MockNodes,
    generation: u64,
    /// Whether any of the files existed.
    found: bool,
    /// The snapshot's generation, when no log after it held a change.
    up_to_date_snapshot: Option<u64>,
    /// The whole lines' length of `.log`, when it is the one log after the
    /// snapshot: appends may go on in it.
    continuable_log: Option<u64>,
}

/// The snapshot and the last log generation in it; `None` when there is none.
fn read_snapshot(path: &Path) -> Result<Option<(MockNodes, u64)>, StateFileError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let snapshot: SnapshotIn = serde_json::from_slice(&bytes).map_err(|source| StateFileError::Snapshot {
        path: path.to_path_buf(),
        source,
    })?;
    let nodes = MockNodes {
        hosts: snapshot.hosts,
        volumes: snapshot.volumes,
        blocks: snapshot.blocks,
    };
    Ok(Some((nodes, snapshot.log_generation)))
}

/// What replaying one log file did.
#[derive(Debug, PartialEq)]
enum Replay {
    /// No such file, or not even a whole header line.
    Absent,
    /// Already in the state (its generation is not past it).
    Skipped,
    /// Its generation followed; `changes` of them applied, from the
    /// file's first `whole` bytes (a torn last line lies past them).
    Applied { changes: usize, whole: u64 },
}

/// Applies the log at `path` to `nodes` if its generation is the next one.
fn replay(path: &Path, nodes: &mut MockNodes, generation: &mut u64) -> Result<Replay, StateFileError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Replay::Absent),
        Err(e) => return Err(io_error(path)(e)),
    };
    // Only whole lines count: a crash mid-append leaves the last one cut.
    let whole = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(&[][..], |end| &bytes[..end]);
    let mut lines = whole.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate();
    let Some((_, header)) = lines.next() else {
        return Ok(Replay::Absent);
    };
    let bad_line = |line: usize| {
        move |source| StateFileError::LogLine {
            path: path.to_path_buf(),
            line: line + 1,
            source,
        }
    };
    let header: Header = serde_json::from_slice(header).map_err(bad_line(0))?;
    if header.generation <= *generation {
        return Ok(Replay::Skipped);
    }
    if header.generation != *generation + 1 {
        return Err(StateFileError::Gap {
            path: path.to_path_buf(),
            expected: *generation,
            found: header.generation,
        });
    }
    let mut applied = 0;
    for (n, line) in lines {
        let changes: Vec<Change> = serde_json::from_slice(line).map_err(bad_line(n))?;
        applied += changes.len();
        for change in changes {
            nodes.apply(change);
        }
    }
    *generation = header.generation;
    Ok(Replay::Applied {
        changes: applied,
        // The header was whole, so `whole` ended before a newline.
        whole: whole.len() as u64 + 1,
    })
}

/// The snapshot and the logs that follow it (`.log.old`, then `.log`).
fn load(files: &StateFiles) -> Result<Loaded, StateFileError> {
    let snapshot = read_snapshot(&files.snapshot)?;
    let found = snapshot.is_some();
    let (mut nodes, mut generation) = snapshot.unwrap_or_default();
    let snapshot_generation = found.then_some(generation);
    let mut any_log = false;
    let mut changes = 0;
    let mut replays = Vec::with_capacity(2);
    for log in [&files.old_log, &files.log] {
        let replayed = replay(log, &mut nodes, &mut generation)?;
        any_log |= replayed != Replay::Absent;
        if let Replay::Applied { changes: n, .. } = replayed {
            changes += n;
        }
        replays.push(replayed);
    }
    let continuable_log = match (found, replays.as_slice()) {
        (true, [Replay::Absent, Replay::Applied { whole, .. }]) => Some(*whole),
        _ => None,
    };
    Ok(Loaded {
        nodes,
        generation,
        found: found || any_log,
        up_to_date_snapshot: snapshot_generation.filter(|_| changes == 0),
        continuable_log,
    })
}

/// Which file the snapshot path names now (a compaction renames a new one
/// into place).
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The state as the files hold it, changing nothing: for a stopped
/// server's store, or a running one's (a compaction that moves files
/// meanwhile makes it read again).
pub fn read_only(files: &StateFiles) -> Result<MockNodes, StateFileError> {
    for _ in 0..READ_ATTEMPTS {
        let before = identity(&files.snapshot);
        match load(files) {
            Ok(loaded) if identity(&files.snapshot) == before => {
                if !loaded.found {
                    return Err(StateFileError::Missing {
                        files: Box::new(files.clone()),
                    });
                }
                return Ok(loaded.nodes);
            }
            // A log folded in and removed between the reads shows as a gap.
            Ok(_) | Err(StateFileError::Gap { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StateFileError::KeptChanging {
        path: files.snapshot.clone(),
    })
}

/// Writes `nodes` as the snapshot holding every log up to `generation`:
/// through a temporary file, synced, renamed, the directory synced.
fn write_snapshot(path: &Path, nodes: &MockNodes, generation: u64) -> Result<(), StateFileError> {
    let tmp = path.with_extension("json.tmp");
    let out = SnapshotOut {
        hosts: &nodes.hosts,
        volumes: &nodes.volumes,
        blocks: &nodes.blocks,
        log_generation: generation,
    };
    let file = File::create(&tmp).map_err(io_error(&tmp))?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, &out).map_err(|e| io_error(&tmp)(e.into()))?;
    let file = writer.into_inner().map_err(|e| io_error(&tmp)(e.into_error()))?;
    file.sync_all().map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    sync_dir(path)?;
    Ok(())
}

fn sync_dir(path: &Path) -> Result<(), StateFileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))
}

fn remove_if_there(path: &Path) -> Result<(), StateFileError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(path)(e)),
        _ => Ok(()),
    }
}

/// `.log.new`, empty, open for writing.
fn create_new_log(path: &Path) -> Result<File, StateFileError> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(io_error(path))
}

/// A new, empty log of `generation` at `.log.new`, open for appends.
fn start_log(files: &StateFiles, generation: u64) -> Result<(File, u64), StateFileError> {
    let path = &files.new_log;
    let mut file = create_new_log(path)?;
    let mut header = serde_json::to_vec(&Header { generation }).map_err(|e| io_error(path)(e.into()))?;
    header.push(b'\n');
    file.write_all(&header).map_err(io_error(path))?;
    Ok((file, header.len() as u64))
}

/// The log's first `whole` bytes (a line a crash cut short goes) copied to
/// `.log.new` and renamed into place, open for appends. A copy, not the
/// file cut in place: a process still holding the old log (a leader that
/// lost its lease mid-call) appends to a file no load reads, as after a
/// compaction, and a reader never sees a log's bytes change under it.
fn continue_log(files: &StateFiles, whole: u64) -> Result<File, StateFileError> {
    let (from_path, path) = (&files.log, &files.new_log);
    let from = File::open(from_path).map_err(io_error(from_path))?;
    let mut file = create_new_log(path)?;
    let copied = std::io::copy(&mut from.take(whole), &mut file).map_err(io_error(path))?;
    if copied != whole {
        let short = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("{} ended after {copied} of {whole} bytes", from_path.display()),
        );
        return Err(io_error(path)(short));
    }
    std::fs::rename(path, from_path).map_err(io_error(from_path))?;
    Ok(file)
}

/// The log a durable mock appends to.
pub(super) struct ChangeLog {
    files: StateFiles,
    file: File,
    /// Bytes in the log (a failed append is cut back to this).
    len: u64,
    generation: u64,
    /// The log's size at which the next compaction starts: the snapshot's
    /// size, or twice the log's after a compaction that failed.
    compact_at: u64,
    /// The floor below which no compaction starts.
    min_compact_bytes: u64,
    /// A compaction put its snapshot in place but the new log could not
    /// take the old one's name: nothing appended now would load.
    stranded: bool,
}

impl ChangeLog {
    /// Loads the state and goes on appending to its log; when the files
    /// are not a snapshot and the one log after it (a first start, a log
    /// an earlier Brickyard left as `.log.old`), makes the state the
    /// snapshot and starts an empty log. Compaction is left to the call
    /// whose append takes the log past the snapshot's size, as while
    /// serving: at 50,000 volumes writing the snapshot at every start
    /// took seconds.
    pub(super) fn open(files: StateFiles) -> Result<(MockNodes, ChangeLog), StateFileError> {
        let loaded = load(&files)?;
        if let Some(whole) = loaded.continuable_log {
            let file = continue_log(&files, whole)?;
            let snapshot_bytes = std::fs::metadata(&files.snapshot)
                .map_err(io_error(&files.snapshot))?
                .len();
            crate::memory::release_freed_memory();
            let log = ChangeLog {
                files,
                file,
                len: whole,
                generation: loaded.generation,
                compact_at: snapshot_bytes,
                min_compact_bytes: MIN_COMPACT_BYTES,
                stranded: false,
            };
            return Ok((loaded.nodes, log));
        }
        let (fresh, generation) = match loaded.up_to_date_snapshot {
            // Nothing changed since the snapshot (a server stopped right
            // after a start): it stays, and only the log starts again.
            Some(generation) => (fresh_log(&files, generation)?, generation),
            None => (
                fresh_start(&files, &loaded.nodes, loaded.generation)?,
                loaded.generation,
            ),
        };
        // The files' bytes, read whole, are gone now.
        crate::memory::release_freed_memory();
        let log = ChangeLog {
            files,
            file: fresh.file,
            len: fresh.len,
            generation: generation + 1,
            compact_at: fresh.snapshot_bytes,
            min_compact_bytes: MIN_COMPACT_BYTES,
            stranded: false,
        };
        Ok((loaded.nodes, log))
    }

    /// Appends one call's changes as one line, with one write; `nodes` is
    /// the state with them applied.
    pub(super) fn append(&mut self, changes: &[Change], nodes: &MockNodes) -> Result<(), StateFileError> {
        if changes.is_empty() {
            return Ok(());
        }
        let path = &self.files.log;
        if self.stranded {
            return Err(StateFileError::Stranded { path: path.clone() });
        }
        let mut line = serde_json::to_vec(changes).map_err(|e| io_error(path)(e.into()))?;
        line.push(b'\n');
        if let Err(e) = self.file.write_all(&line) {
            // Leave no partial line for the next append to follow.
            let _ = self.file.set_len(self.len);
            let _ = self.file.seek(SeekFrom::Start(self.len));
            return Err(io_error(path)(e));
        }
        self.len += line.len() as u64;
        if self.len >= self.compact_at.max(self.min_compact_bytes) {
            if let Err(e) = self.compact_now(nodes) {
                if self.stranded {
                    return Err(e);
                }
                // The files are as they were and the change is in the log;
                // try again once the log has grown as much again.
                tracing::warn!("mock node state: the log stays as it is: {e}");
                self.compact_at = self.len.saturating_mul(2);
            }
        }
        Ok(())
    }

    /// Writes `nodes` (the state up to now) as the snapshot and starts a
    /// new log, as at open. Past the snapshot's size (and a floor) the log
    /// is compacted so, by the call that crossed it, holding the mock's
    /// lock: the live state is written as it is, so no second copy of it
    /// is ever made (a background fold that read the files back held one,
    /// and what it freed stayed resident, fragmented).
    pub(super) fn compact_now(&mut self, nodes: &MockNodes) -> Result<(), StateFileError> {
        let fresh = match fresh_start(&self.files, nodes, self.generation) {
            Ok(fresh) => fresh,
            Err(SwitchError::Unchanged(e)) => return Err(e),
            Err(SwitchError::Stranded(e)) => {
                self.stranded = true;
                return Err(e);
            }
        };
        self.compact_at = fresh.snapshot_bytes;
        self.file = fresh.file;
        self.len = fresh.len;
        self.generation += 1;
        Ok(())
    }
}

/// A snapshot just written and the empty log after it.
struct Fresh {
    file: File,
    len: u64,
    snapshot_bytes: u64,
}

/// Why a new snapshot and log are not both in place.
#[derive(Debug)]
enum SwitchError {
    /// Nothing was renamed into place: the files are as they were.
    Unchanged(StateFileError),
    /// The snapshot was: it holds the log still named `.log`, so a load
    /// skips that log and what is appended to it.
    Stranded(StateFileError),
}

impl From<SwitchError> for StateFileError {
    fn from(e: SwitchError) -> StateFileError {
        match e {
            SwitchError::Unchanged(e) | SwitchError::Stranded(e) => e,
        }
    }
}

/// Writes `nodes`, which hold every log up to `generation`, as the
/// snapshot; then the old logs go and an empty one of the next generation
/// takes their place. The next log is made first, so that after the
/// snapshot's rename only renames and removals are left.
fn fresh_start(files: &StateFiles, nodes: &MockNodes, generation: u64) -> Result<Fresh, SwitchError> {
    let (file, len) = start_log(files, generation + 1).map_err(SwitchError::Unchanged)?;
    write_snapshot(&files.snapshot, nodes, generation).map_err(SwitchError::Unchanged)?;
    switch_log(files, file, len)
}

/// The snapshot, which holds every log up to `generation`, stays; the old
/// logs go and an empty one of the next generation takes their place.
fn fresh_log(files: &StateFiles, generation: u64) -> Result<Fresh, SwitchError> {
    let (file, len) = start_log(files, generation + 1).map_err(SwitchError::Unchanged)?;
    switch_log(files, file, len)
}

/// `.log.new` (open as `file`) becomes the log.
fn switch_log(files: &StateFiles, file: File, len: u64) -> Result<Fresh, SwitchError> {
    remove_if_there(&files.old_log).map_err(SwitchError::Stranded)?;
    std::fs::rename(&files.new_log, &files.log).map_err(|e| SwitchError::Stranded(io_error(&files.log)(e)))?;
    let snapshot_bytes = std::fs::metadata(&files.snapshot).map_or(0, |m| m.len());
    Ok(Fresh {
        file,
        len,
        snapshot_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{read_state, MockExecutor};
    use super::*;
    use crate::executor::{BrickSpec, Executor, GlusterVolumeSpec, VolumeLayout};

    fn brick(device: &str, id: &str) -> BrickSpec {
        BrickSpec {
            device_id: device.into(),
            brick_id: id.into(),
            thin_pool: format!("tp_{id}"),
            lv: format!("brick_{id}"),
            size_kib: 1 << 20,
            tp_kib: 1 << 20,
            meta_kib: 8192,
            gid: 0,
            arbiter: false,
            path: crate::executor::brick_path(device, id),
        }
    }

    /// A node with a device, two bricks, a volume and its clone, one brick
    /// gone again: every kind of change.
    async fn busy(mock: &MockExecutor) {
        mock.peer_probe("n1", "10.0.0.2").await.unwrap();
        mock.device_setup("n1", "/dev/sdb", "d1", false).await.unwrap();
        let (a, b) = (brick("d1", "a"), brick("d1", "b"));
        mock.brick_create("n1", &a).await.unwrap();
        mock.brick_create("n1", &b).await.unwrap();
        let volume = GlusterVolumeSpec {
            name: "vol_1".into(),
            layout: VolumeLayout::Distribute,
            bricks: vec![format!("10.0.0.1:{}", a.path)],
            options: vec!["performance.rmw 1".into()],
        };
        mock.volume_create("n1", &volume).await.unwrap();
        mock.volume_clone("n1", "vol_1", "copy", "tmpsnap_x").await.unwrap();
        mock.brick_destroy("n1", &b).await.unwrap();
        mock.peer_detach("n1", "10.0.0.2").await.unwrap();
    }

    /// The last log generation the snapshot holds (inode numbers are
    /// reused, so a file's identity does not tell a rewrite).
    fn snapshot_generation(f: &StateFiles) -> u64 {
        read_snapshot(&f.snapshot).unwrap().unwrap().1
    }

    fn files(dir: &tempfile::TempDir) -> StateFiles {
        StateFiles::beside(&dir.path().join("store.mock-nodes.json"))
    }

    #[tokio::test]
    async fn the_replayed_log_is_the_live_state() {
        let dir = tempfile::tempdir().unwrap();
        let mock = MockExecutor::durable(100, &[], files(&dir).snapshot).unwrap();
        busy(&mock).await;
        let live = mock.nodes().unwrap();
        assert!(!live.hosts["n1"].lvs.is_empty() && live.volumes.contains_key("copy"));
        // Read while the mock still runs, and after it is gone.
        assert_eq!(read_state(&files(&dir).snapshot).unwrap(), live);
        drop(mock);
        let reopened = MockExecutor::durable(100, &[], files(&dir).snapshot).unwrap();
        assert_eq!(reopened.nodes().unwrap(), live);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        let mock = MockExecutor::durable(1, &[], f.snapshot.clone()).unwrap();
        mock.peer_probe("n1", "10.0.0.2").await.unwrap();
        let before = mock.nodes().unwrap();
        drop(mock);
        // A crash in the middle of the next append.
        let mut log = OpenOptions::new().append(true).open(&f.log).unwrap();
        log.write_all(br#"[{"entry":"peer","host":"n1","key":"10.0.0.3","va"#)
            .unwrap();
        assert_eq!(read_state(&f.snapshot).unwrap(), before);
        let reopened = MockExecutor::durable(1, &[], f.snapshot.clone()).unwrap();
        assert_eq!(reopened.nodes().unwrap(), before);
        // The open cut the torn line and goes on in the same log: the
        // snapshot was not written again.
        let snapshot: serde_json::Value = serde_json::from_slice(&std::fs::read(&f.snapshot).unwrap()).unwrap();
        assert_eq!(snapshot["hosts"], serde_json::json!({}));
        let log = std::fs::read_to_string(&f.log).unwrap();
        assert!(log.ends_with('\n') && log.lines().count() == 2, "{log}");
        reopened.peer_probe("n1", "10.0.0.4").await.unwrap();
        drop(reopened);
        let peers = &read_state(&f.snapshot).unwrap().hosts["n1"].peers;
        assert_eq!(
            peers.iter().map(String::as_str).collect::<Vec<_>>(),
            ["10.0.0.2", "10.0.0.4"]
        );
    }

    #[tokio::test]
    async fn a_whole_line_that_is_not_a_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        drop(MockExecutor::durable(1, &[], f.snapshot.clone()).unwrap());
        let mut log = OpenOptions::new().append(true).open(&f.log).unwrap();
        log.write_all(b"[{\"entry\":\"nonsense\"}]\n").unwrap();
        let err = read_state(&f.snapshot).unwrap_err();
        assert!(matches!(err, StateFileError::LogLine { line: 2, .. }), "{err}");
    }

    #[tokio::test]
    async fn compaction_keeps_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        let mut nodes = MockNodes::default();
        let (_, mut log) = ChangeLog::open(f.clone()).unwrap();
        fn record(log: &mut ChangeLog, nodes: &mut MockNodes, i: usize) {
            let mut edit = super::super::change::Edit::new(nodes, true);
            edit.ran("n1", vec![format!("command {i}")]);
            edit.mount("n1", &format!("/m{i}"), Some(format!("/dev/x{i}")));
            let changes = edit.into_changes();
            log.append(&changes, nodes).unwrap();
        }
        for i in 0..10 {
            record(&mut log, &mut nodes, i);
        }
        // On demand (as at open) ...
        log.compact_now(&nodes).unwrap();
        assert_eq!(read_state(&f.snapshot).unwrap(), nodes);
        let (on_disk, generation) = read_snapshot(&f.snapshot).unwrap().unwrap();
        assert_eq!((on_disk, generation), (nodes.clone(), 1));
        // ... and by the append that takes the log past the snapshot.
        log.min_compact_bytes = 0;
        for i in 10..200 {
            record(&mut log, &mut nodes, i);
            assert_eq!(read_state(&f.snapshot).unwrap(), nodes, "after change {i}");
        }
        let (_, generation) = read_snapshot(&f.snapshot).unwrap().unwrap();
        assert!(generation > 1, "a compaction ran");
        assert!(log.len < log.compact_at, "the log restarted at the last one");
        assert!(!f.old_log.exists());
        assert_eq!(read_state(&f.snapshot).unwrap(), nodes);
        drop(log);
        assert_eq!(ChangeLog::open(f).unwrap().0, nodes);
    }

    #[test]
    fn a_log_already_in_the_snapshot_is_not_replayed_again() {
        // A crash after a compaction renamed its snapshot into place, before
        // it removed the log it folded in: that log's commands must not be
        // appended twice.
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        let (_, mut log) = ChangeLog::open(f.clone()).unwrap();
        let mut nodes = MockNodes::default();
        let mut edit = super::super::change::Edit::new(&mut nodes, true);
        edit.ran("n1", vec!["once".into()]);
        let changes = edit.into_changes();
        log.append(&changes, &nodes).unwrap();
        let folded = std::fs::read(&f.log).unwrap();
        log.compact_now(&nodes).unwrap();
        std::fs::write(&f.old_log, folded).unwrap();
        assert_eq!(read_state(&f.snapshot).unwrap().hosts["n1"].commands, vec!["once"]);
        drop(log);
        assert_eq!(ChangeLog::open(f).unwrap().0.hosts["n1"].commands, vec!["once"]);
    }

    #[test]
    fn a_snapshot_from_before_the_log_loads() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        let old = r#"{
  "hosts": {
    "n1": {
      "peers": ["10.0.0.2"],
      "pvs": {"/dev/sdb": {"uuid": "u", "vg": "vg_d1"}},
      "vgs": {"vg_d1": {"pv": "/dev/sdb", "extent_size": 4096, "extents": 256, "allocated_extents": 0}},
      "commands": ["pvcreate /dev/sdb"]
    }
  }
}"#;
        std::fs::write(&f.snapshot, old).unwrap();
        let expected: MockNodes = serde_json::from_str(old).unwrap();
        assert_eq!(read_state(&f.snapshot).unwrap(), expected);
        let (nodes, _) = ChangeLog::open(f.clone()).unwrap();
        assert_eq!(nodes, expected);
        assert_eq!(read_state(&f.snapshot).unwrap(), expected);
    }

    #[tokio::test]
    async fn a_brick_costs_the_same_log_bytes_however_full_the_node_is() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        let mock = MockExecutor::durable(100_000, &[], f.snapshot.clone()).unwrap();
        mock.device_setup("n1", "/dev/sdb", "d1", false).await.unwrap();
        let log_len = || std::fs::metadata(&f.log).unwrap().len();
        let mut cost = Vec::new();
        for i in 0..600u32 {
            let before = log_len();
            mock.brick_create("n1", &brick("d1", &format!("{i:032x}")))
                .await
                .unwrap();
            cost.push(log_len() - before);
        }
        assert_eq!(mock.nodes().unwrap().hosts["n1"].lvs.len(), 1200);
        assert!(cost[0] > 0 && cost[0] < 8192, "{}", cost[0]);
        // The same, but for the digits the volume group's allocation gains.
        assert!(
            cost[599].abs_diff(cost[0]) <= 8,
            "the 600th brick appends what the first did: {} and {} bytes",
            cost[599],
            cost[0]
        );
    }

    #[test]
    fn a_compaction_that_cannot_write_leaves_the_files_loading_as_the_live_state() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        let (mut nodes, mut log) = ChangeLog::open(f.clone()).unwrap();
        log.min_compact_bytes = 0;
        // The snapshot's temporary file cannot be made: a directory holds its name.
        let blocker = f.snapshot.with_extension("json.tmp");
        std::fs::create_dir(&blocker).unwrap();
        let before = snapshot_generation(&f);
        let mut record = |log: &mut ChangeLog, i: usize| {
            let mut edit = super::super::change::Edit::new(&mut nodes, true);
            edit.ran("n1", vec![format!("command {i}")]);
            let changes = edit.into_changes();
            log.append(&changes, &nodes).unwrap();
            assert_eq!(read_state(&f.snapshot).unwrap(), nodes, "after change {i}");
        };
        for i in 0..20 {
            record(&mut log, i);
        }
        assert_eq!(snapshot_generation(&f), before, "no snapshot was written");
        assert!(log.compact_at > log.len, "the next try waits for the log to grow");
        // Once it can, a later compaction goes through.
        std::fs::remove_dir(&blocker).unwrap();
        for i in 20..200 {
            record(&mut log, i);
        }
        assert!(snapshot_generation(&f) > before, "a snapshot was written");
        drop(log);
        assert_eq!(ChangeLog::open(f).unwrap().0.hosts["n1"].commands.len(), 200);
    }

    #[test]
    fn a_compaction_that_cannot_start_its_log_stops_the_writes() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        let (mut nodes, mut log) = ChangeLog::open(f.clone()).unwrap();
        // The open log keeps its handle; a non-empty directory takes its
        // name, so the next log cannot be renamed into place.
        std::fs::remove_file(&f.log).unwrap();
        std::fs::create_dir_all(f.log.join("x")).unwrap();
        log.min_compact_bytes = 0;
        let mut edit = super::super::change::Edit::new(&mut nodes, true);
        edit.ran("n1", vec!["once".into()]);
        let changes = edit.into_changes();
        assert!(
            log.append(&changes, &nodes).is_err(),
            "the compaction failed after the snapshot"
        );
        // The snapshot holds the change; nothing more is appended.
        assert_eq!(read_snapshot(&f.snapshot).unwrap().unwrap().0, nodes);
        let mut edit = super::super::change::Edit::new(&mut nodes, true);
        edit.ran("n1", vec!["twice".into()]);
        let changes = edit.into_changes();
        let refused = log.append(&changes, &nodes).unwrap_err();
        assert!(matches!(refused, StateFileError::Stranded { .. }), "{refused}");
        assert_eq!(
            read_snapshot(&f.snapshot).unwrap().unwrap().0.hosts["n1"].commands,
            vec!["once"]
        );
    }

    /// Records `command` run on n1, as a call would, and logs it.
    fn run(log: &mut ChangeLog, nodes: &mut MockNodes, command: &str) {
        let mut edit = super::super::change::Edit::new(nodes, true);
        edit.ran("n1", vec![command.into()]);
        let changes = edit.into_changes();
        log.append(&changes, nodes).unwrap();
    }

    #[test]
    fn a_start_keeps_the_snapshot_and_goes_on_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        let (mut nodes, mut log) = ChangeLog::open(f.clone()).unwrap();
        run(&mut log, &mut nodes, "once");
        drop(log);
        // A change since the snapshot: the start reads it and appends after it.
        let (snapshot, logged) = (std::fs::read(&f.snapshot).unwrap(), std::fs::read(&f.log).unwrap());
        let (mut again, mut log) = ChangeLog::open(f.clone()).unwrap();
        assert_eq!(again, nodes);
        assert_eq!(
            std::fs::read(&f.snapshot).unwrap(),
            snapshot,
            "the snapshot is not written again"
        );
        assert_eq!(std::fs::read(&f.log).unwrap(), logged);
        run(&mut log, &mut again, "twice");
        assert_eq!(read_state(&f.snapshot).unwrap(), again);
        drop(log);
        let text = std::fs::read_to_string(&f.log).unwrap();
        assert_eq!(text.lines().count(), 3, "the header and both calls: {text}");
        assert_eq!(
            ChangeLog::open(f).unwrap().0.hosts["n1"].commands,
            vec!["once", "twice"]
        );
    }

    #[test]
    fn a_writer_left_on_the_old_log_cannot_spoil_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        let (mut nodes, mut old) = ChangeLog::open(f.clone()).unwrap();
        run(&mut old, &mut nodes, "once");
        // Another process opens the files while this one still holds its
        // log (a leader that lost its lease mid-call), and both append.
        let (mut next_nodes, mut next) = ChangeLog::open(f.clone()).unwrap();
        run(&mut next, &mut next_nodes, "next");
        run(
            &mut old,
            &mut nodes,
            "late, and longer than the line it would overwrite",
        );
        drop(old);
        run(&mut next, &mut next_nodes, "after");
        drop(next);
        assert_eq!(
            read_state(&f.snapshot).unwrap().hosts["n1"].commands,
            ["once", "next", "after"]
        );
    }

    #[test]
    fn a_start_after_a_compaction_cut_short_starts_the_next_log() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(&dir);
        let (mut nodes, mut log) = ChangeLog::open(f.clone()).unwrap();
        run(&mut log, &mut nodes, "once");
        // The snapshot holding this log was renamed into place; the next
        // log was not (a crash between the two renames).
        write_snapshot(&f.snapshot, &nodes, log.generation).unwrap();
        drop(log);
        let before = snapshot_generation(&f);
        let (mut again, mut log) = ChangeLog::open(f.clone()).unwrap();
        assert_eq!(again, nodes);
        assert_eq!(snapshot_generation(&f), before, "kept");
        let text = std::fs::read_to_string(&f.log).unwrap();
        assert_eq!(text.lines().count(), 1, "a new log, its header only: {text}");
        run(&mut log, &mut again, "twice");
        drop(log);
        assert_eq!(read_state(&f.snapshot).unwrap(), again);
        assert_eq!(again.hosts["n1"].commands, vec!["once", "twice"]);
    }

    #[test]
    fn no_files_is_no_state() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_state(&files(&dir).snapshot).unwrap_err();
        assert!(matches!(err, StateFileError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("store.mock-nodes.json"), "{err}");
        assert!(!files(&dir).snapshot.exists(), "reading made nothing");
    }
}
