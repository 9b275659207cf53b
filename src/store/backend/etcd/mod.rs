//! The etcd backend: every tree's entries are keys `<prefix>/<tree>/<key>`
//! in an etcd cluster, so several Brickyard servers can share one store.
//!
//! Transactions are serialisable and fenced. A transaction reads every key
//! at one etcd revision (the one its first read saw) and buffers its
//! writes; it commits as one etcd transaction that compares the store's
//! commit key `<prefix>/.commit` with the revision read, so any commit in
//! between (from anywhere) makes it run again on fresh data; and, while this
//! server leads, that compares the leader key it holds, so a server that
//! lost its leadership cannot write. The commit is on a quorum of members
//! when etcd answers, so `sync` has nothing to do.
//!
//! The backend speaks to etcd from its own small runtime; the store's
//! callers are synchronous, so they wait for each answer (off the async
//! workers where they can).

pub mod client;
mod proto;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

pub use crate::config::store::{EtcdConfig, EtcdTls, EtcdUser};
pub use client::EtcdError;
use proto::etcdserverpb as pb;

use super::{Backend, Entries, Failure, Stop, TxOps, Visit};
use crate::store::{StoreError, TreeName};

/// Entries per page when listing (etcd answers at most 1.5 MiB at once).
const PAGE: i64 = 1000;
/// A transaction that keeps conflicting gives up after this many runs.
const ATTEMPTS: usize = 64;
/// The longest a caller waits for the backend's own runtime to answer.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// Which leadership a server's writes depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The leader key (`<prefix>/.leader`).
    pub key: Vec<u8>,
    /// Its create revision when this server took it; any later holder
    /// wrote it anew, so the comparison fails for this one.
    pub create_revision: i64,
    /// The lease the key lives by: when it lapses, the key goes.
    pub lease: i64,
}

/// Who leads now, as the leader key says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leader {
    /// What the leader wrote: its advertised address.
    pub value: Vec<u8>,
    pub create_revision: i64,
}

pub struct EtcdBackend {
    client: std::sync::Arc<client::Client>,
    /// The members, for messages.
    endpoints: String,
    prefix: String,
    runtime: Option<tokio::runtime::Runtime>,
    /// One transaction at a time from this process: they would only
    /// conflict with each other at the commit key.
    one_at_a_time: Mutex<()>,
    fence: Mutex<Option<Fence>>,
    /// etcd's `--max-txn-ops`.
    max_ops: usize,
}

impl Drop for EtcdBackend {
    fn drop(&mut self) {
        // Dropping a runtime may happen on an async worker: no waiting.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The end of the range of keys that start with `prefix`.
fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff: to the end of the key space.
    vec![0]
}

impl EtcdBackend {
    pub fn connect(config: &EtcdConfig) -> Result<EtcdBackend, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("etcd-client")
            .enable_all()
            .build()
            .map_err(|e| EtcdError::Setup(format!("cannot start the etcd client's runtime: {e}")))?;
        let client = {
            // Channels are made inside the runtime that drives them.
            let _inside = runtime.enter();
            client::Client::new(config)?
        };
        let backend = EtcdBackend {
            client: std::sync::Arc::new(client),
            endpoints: config.endpoints.join(","),
            prefix: config.prefix.clone(),
            runtime: Some(runtime),
            one_at_a_time: Mutex::new(()),
            fence: Mutex::new(None),
            max_ops: config.max_txn_ops,
        };
        // Reach the cluster now, so a wrong address fails the start.
        backend.commit_point()?;
        Ok(backend)
    }

    /// Runs `future` on the backend's runtime and waits for its answer.
    fn wait<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = Result<T, EtcdError>> + Send + 'static,
    ) -> Result<T, EtcdError> {
        let Some(runtime) = &self.runtime else {
            return Err(EtcdError::Setup("the etcd client has shut down".into()));
        };
        let (send, answer) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = send.send(future.await);
        });
        let receive = || answer.recv_timeout(ANSWER_WAIT);
        let on_worker = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let answer = if on_worker {
            tokio::task::block_in_place(receive)
        } else {
            receive()
        };
        answer.map_err(|_| EtcdError::Unreachable {
            endpoints: self.endpoints.clone(),
            last: format!("no answer within {} s", ANSWER_WAIT.as_secs()),
        })?
    }

    fn key(&self, tree: TreeName, key: &[u8]) -> Vec<u8> {
        key_in(&self.prefix, tree, key)
    }

    fn fence(&self) -> Option<Fence> {
        self.fence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Writes `ops` as one etcd transaction outside `transact` (loads and
    /// clears), fenced, moving the commit key so running transactions
    /// read again.
    fn write_unread(&self, mut ops: Vec<pb::RequestOp>) -> Result<(), EtcdError> {
        ops.push(put(
            self.commit_key(),
            uuid::Uuid::new_v4().simple().to_string().into_bytes(),
        ));
        let fence = self.fence();
        let txn = pb::TxnRequest {
            compare: fence.iter().map(fence_compare).collect(),
            success: ops,
            failure: Vec::new(),
        };
        let client = self.client.clone();
        let answer = self.wait(async move { client.txn(txn).await })?;
        if answer.succeeded {
            Ok(())
        } else {
            Err(EtcdError::Fenced)
        }
    }

    /// The operations that carry out a transaction's writes.
    fn write_ops(&self, writes: &Writes) -> Vec<pb::RequestOp> {
        writes
            .iter()
            .map(|((tree, key), value)| {
                let key = self.key(*tree, key);
                match value {
                    Some(value) => put(key, value.clone()),
                    None => delete(key, Vec::new()),
                }
            })
            .collect()
    }

    /// `ops` in as many etcd transactions as etcd's limit needs.
    fn write_in_parts(&self, ops: &[pb::RequestOp]) -> Result<(), EtcdError> {
        for part in ops.chunks(self.max_ops.saturating_sub(1).max(1)) {
            self.write_unread(part.to_vec())?;
        }
        Ok(())
    }

    /// `write_in_parts` inside the `load_incomplete` marker, which the next
    /// open refuses until a forced load replaces what landed.
    fn write_marked(&self, ops: &[pb::RequestOp]) -> Result<(), EtcdError> {
        let marker = self.key(TreeName::Meta, crate::store::LOAD_INCOMPLETE.as_bytes());
        self.write_unread(vec![put(marker.clone(), b"1".to_vec())])?;
        self.write_in_parts(ops)?;
        self.write_unread(vec![delete(marker, Vec::new())])
    }

    fn commit_key(&self) -> Vec<u8> {
        format!("{}/.commit", self.prefix).into_bytes()
    }

    /// Every key starting with `start`, whatever prefix it is under.
    #[cfg(test)]
    pub(crate) fn keys_from(&self, start: &str) -> Vec<Vec<u8>> {
        let client = self.client.clone();
        let request = pb::RangeRequest {
            key: start.as_bytes().to_vec(),
            range_end: range_end(start.as_bytes()),
            keys_only: true,
            ..Default::default()
        };
        self.wait(async move { client.range(request).await })
            .map(|answer| answer.kvs.into_iter().map(|kv| kv.key).collect())
            .unwrap_or_default()
    }

    /// The key a leader holds (for the election).
    pub fn leader_key(&self) -> Vec<u8> {
        format!("{}/.leader", self.prefix).into_bytes()
    }

    /// From now on, every write also requires `fence` to hold (`None`: no
    /// condition, for a store with one server).
    pub fn set_fence(&self, fence: Option<Fence>) {
        *self.fence.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = fence;
    }

    /// Takes the leader key with `value` on a new lease of `ttl_seconds`,
    /// if nobody holds it. `None`: someone does.
    pub fn try_lead(&self, value: &[u8], ttl_seconds: i64) -> Result<Option<Fence>, EtcdError> {
        let client = self.client.clone();
        let key = self.leader_key();
        let value = value.to_vec();
        self.wait(async move {
            let lease = client.lease_grant(ttl_seconds).await?.id;
            let txn = pb::TxnRequest {
                compare: vec![pb::Compare {
                    result: pb::compare::CompareResult::Equal as i32,
                    target: pb::compare::CompareTarget::Create as i32,
                    key: key.clone(),
                    target_union: Some(pb::compare::TargetUnion::CreateRevision(0)),
                }],
                success: vec![
                    pb::RequestOp {
                        request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                            key: key.clone(),
                            value,
                            lease,
                        })),
                    },
                    range_op(key.clone()),
                ],
                failure: Vec::new(),
            };
            let answer = client.txn(txn).await;
            let taken = match &answer {
                Ok(answer) if answer.succeeded => answer.responses.iter().find_map(|r| match &r.response {
                    Some(pb::response_op::Response::ResponseRange(range)) => {
                        range.kvs.first().map(|kv| kv.create_revision)
                    }
                    _ => None,
                }),
                _ => None,
            };
            match taken {
                Some(create_revision) => Ok(Some(Fence {
                    key,
                    create_revision,
                    lease,
                })),
                None => {
                    // Not ours (or unknown): give the lease back, whatever it held.
                    let _ = client.lease_revoke(lease).await;
                    answer.map(|_| None)
                }
            }
        })
    }

    /// Renews the fence's lease; `false` when it has lapsed.
    pub fn renew(&self, fence: &Fence) -> Result<bool, EtcdError> {
        let client = self.client.clone();
        let lease = fence.lease;
        self.wait(async move { client.lease_keep_alive(lease).await.map(|ttl| ttl > 0) })
    }

    /// Gives the leadership up at once (a clean shutdown).
    pub fn resign(&self, fence: &Fence) -> Result<(), EtcdError> {
        let client = self.client.clone();
        let lease = fence.lease;
        self.wait(async move { client.lease_revoke(lease).await })
    }

    /// Gives up the leadership this backend's fence names, if any.
    pub fn resign_held(&self) -> Result<(), EtcdError> {
        match self.fence() {
            Some(fence) => self.resign(&fence),
            None => Ok(()),
        }
    }

    /// Who holds the leader key now.
    pub fn leader(&self) -> Result<Option<Leader>, EtcdError> {
        let answer = self.read_key(self.leader_key(), 0)?;
        Ok(answer.kvs.into_iter().next().map(|kv| Leader {
            value: kv.value,
            create_revision: kv.create_revision,
        }))
    }

    /// The revision to read a transaction at, and the commit key's
    /// revision then (0: no commit yet).
    fn commit_point(&self) -> Result<(i64, i64, Vec<u8>), EtcdError> {
        let answer = self.read_key(self.commit_key(), 0)?;
        let revision = answer
            .header
            .map(|h| h.revision)
            .ok_or(EtcdError::Malformed("a header"))?;
        let (modified, value) = answer
            .kvs
            .into_iter()
            .next()
            .map(|kv| (kv.mod_revision, kv.value))
            .unwrap_or_default();
        Ok((revision, modified, value))
    }

    /// One key, at `revision` (0: the latest).
    fn read_key(&self, key: Vec<u8>, revision: i64) -> Result<pb::RangeResponse, EtcdError> {
        let client = self.client.clone();
        self.wait(async move {
            client
                .range(pb::RangeRequest {
                    key,
                    revision,
                    ..Default::default()
                })
                .await
        })
    }

    fn read_at(&self, key: Vec<u8>, revision: i64) -> Result<Option<Vec<u8>>, EtcdError> {
        Ok(self.read_key(key, revision)?.kvs.into_iter().next().map(|kv| kv.value))
    }

    /// Commits `writes` if nothing committed since `read_mod` and the fence
    /// holds. `Ok(false)`: something did, run again.
    fn commit(&self, writes: &Writes, read_mod: i64) -> Result<bool, EtcdError> {
        let commit_key = self.commit_key();
        let mut compare = vec![pb::Compare {
            result: pb::compare::CompareResult::Equal as i32,
            target: pb::compare::CompareTarget::Mod as i32,
            key: commit_key.clone(),
            target_union: Some(pb::compare::TargetUnion::ModRevision(read_mod)),
        }];
        let fence = self.fence();
        compare.extend(fence.iter().map(fence_compare));
        let mut success = self.write_ops(writes);
        // The commit key's value names this commit, so a lost answer can
        // be told apart from a commit that did not happen.
        let stamp = uuid::Uuid::new_v4().simple().to_string().into_bytes();
        success.push(put(commit_key.clone(), stamp.clone()));
        if success.len() > self.max_ops {
            return Err(EtcdError::TooLarge {
                ops: success.len(),
                limit: self.max_ops,
            });
        }
        // On a failed comparison, read the leader key to tell a lost
        // leadership from a conflict.
        let failure = fence.iter().map(|f| range_op(f.key.clone())).collect();
        let client = self.client.clone();
        let txn = pb::TxnRequest {
            compare,
            success,
            failure,
        };
        match self.wait(async move { client.txn(txn).await }) {
            Ok(answer) if answer.succeeded => Ok(true),
            Ok(answer) => {
                if let Some(fence) = &fence {
                    if !fence_holds(&answer, fence) {
                        return Err(EtcdError::Fenced);
                    }
                }
                Ok(false)
            }
            Err(e @ EtcdError::Unreachable { .. }) => {
                // The answer may be lost after etcd applied it: ask.
                // Either way but "mine", it did not happen: run again.
                let (_, _, value) = self.commit_point().map_err(|_| e)?;
                Ok(value == stamp)
            }
            Err(e) => Err(e),
        }
    }
}

fn key_in(prefix: &str, tree: TreeName, key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(prefix.len() + tree.name().len() + key.len() + 2);
    full.extend_from_slice(prefix.as_bytes());
    full.push(b'/');
    full.extend_from_slice(tree.name().as_bytes());
    full.push(b'/');
    full.extend_from_slice(key);
    full
}

/// Puts of raw entries under `prefix`.
fn entry_ops(prefix: &str, entries: &Entries) -> Vec<pb::RequestOp> {
    entries
        .iter()
        .flat_map(|(tree, pairs)| pairs.iter().map(|(k, v)| put(key_in(prefix, *tree, k), v.clone())))
        .collect()
}

fn put(key: Vec<u8>, value: Vec<u8>) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
            key,
            value,
            lease: 0,
        })),
    }
}

fn range_op(key: Vec<u8>) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestRange(pb::RangeRequest {
            key,
            ..Default::default()
        })),
    }
}

fn delete(key: Vec<u8>, range_end: Vec<u8>) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestDeleteRange(pb::DeleteRangeRequest {
            key,
            range_end,
        })),
    }
}

/// The comparison that holds while the fence's leadership does.
fn fence_compare(fence: &Fence) -> pb::Compare {
    pb::Compare {
        result: pb::compare::CompareResult::Equal as i32,
        target: pb::compare::CompareTarget::Create as i32,
        key: fence.key.clone(),
        target_union: Some(pb::compare::TargetUnion::CreateRevision(fence.create_revision)),
    }
}

/// Whether the leader key read in a failed transaction is still the one
/// `fence` names.
fn fence_holds(answer: &pb::TxnResponse, fence: &Fence) -> bool {
    answer.responses.iter().any(|r| match &r.response {
        Some(pb::response_op::Response::ResponseRange(range)) => range
            .kvs
            .iter()
            .any(|kv| kv.key == fence.key && kv.create_revision == fence.create_revision),
        _ => false,
    })
}

/// A transaction's writes, in key order: `None` removes.
type Writes = BTreeMap<(TreeName, Vec<u8>), Option<Vec<u8>>>;

struct EtcdTx<'a> {
    backend: &'a EtcdBackend,
    revision: i64,
    writes: RefCell<Writes>,
}

impl TxOps for EtcdTx<'_> {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, Stop> {
        if let Some(written) = self.writes.borrow().get(&(tree, key.to_vec())) {
            return Ok(written.clone());
        }
        Ok(self.backend.read_at(self.backend.key(tree, key), self.revision)?)
    }

    fn put(&self, tree: TreeName, key: &[u8], value: &[u8]) -> Result<(), Stop> {
        self.writes
            .borrow_mut()
            .insert((tree, key.to_vec()), Some(value.to_vec()));
        Ok(())
    }

    fn remove(&self, tree: TreeName, key: &[u8]) -> Result<(), Stop> {
        self.writes.borrow_mut().insert((tree, key.to_vec()), None);
        Ok(())
    }
}

impl From<EtcdError> for Stop {
    fn from(e: EtcdError) -> Self {
        Stop::Store(e.into())
    }
}

impl Backend for EtcdBackend {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read_at(self.key(tree, key), 0)?)
    }

    fn visit(&self, tree: TreeName, prefix: &[u8], keys_only: bool, visit: &mut Visit<'_>) -> Result<(), StoreError> {
        let start = self.key(tree, prefix);
        let end = range_end(&start);
        let cut = self.key(tree, b"").len();
        let mut from = start;
        // Every page at the first page's revision: one moment throughout.
        let mut revision = 0;
        loop {
            let client = self.client.clone();
            let request = pb::RangeRequest {
                key: from.clone(),
                range_end: end.clone(),
                limit: PAGE,
                revision,
                keys_only,
                ..Default::default()
            };
            let page = self.wait(async move { client.range(request).await })?;
            if revision == 0 {
                revision = page.header.as_ref().map(|h| h.revision).unwrap_or_default();
            }
            let Some(last) = page.kvs.last().map(|kv| kv.key.clone()) else {
                return Ok(());
            };
            for kv in &page.kvs {
                if !visit(&kv.key[cut..], &kv.value)? {
                    return Ok(());
                }
            }
            if !page.more {
                return Ok(());
            }
            from = last;
            from.push(0);
        }
    }

    fn len(&self, tree: TreeName) -> Result<usize, StoreError> {
        let start = self.key(tree, b"");
        let client = self.client.clone();
        let request = pb::RangeRequest {
            range_end: range_end(&start),
            key: start,
            count_only: true,
            ..Default::default()
        };
        let answer = self.wait(async move { client.range(request).await })?;
        Ok(usize::try_from(answer.count).unwrap_or_default())
    }

    fn transact(&self, body: &mut dyn FnMut(&dyn TxOps) -> Result<(), Stop>) -> Result<(), Failure> {
        let _one = self
            .one_at_a_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for _ in 0..ATTEMPTS {
            let (revision, read_mod, _) = self.commit_point().map_err(|e| Failure::Store(e.into()))?;
            let tx = EtcdTx {
                backend: self,
                revision,
                writes: RefCell::new(BTreeMap::new()),
            };
            match body(&tx) {
                Ok(()) => {}
                Err(Stop::Abort) => return Err(Failure::Aborted),
                Err(Stop::Store(e)) => return Err(Failure::Store(e)),
                Err(Stop::Conflict) => continue,
            }
            let writes = tx.writes.into_inner();
            if writes.is_empty() {
                return Ok(());
            }
            if self.commit(&writes, read_mod).map_err(|e| Failure::Store(e.into()))? {
                return Ok(());
            }
        }
        Err(Failure::Store(StoreError::Open(format!(
            "an etcd transaction conflicted {ATTEMPTS} times in a row"
        ))))
    }

    fn transact_in_parts(&self, body: &mut dyn FnMut(&dyn TxOps) -> Result<(), Stop>) -> Result<(), Failure> {
        let _one = self
            .one_at_a_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (revision, _, _) = self.commit_point().map_err(|e| Failure::Store(e.into()))?;
        let staged = EtcdTx {
            backend: self,
            revision,
            writes: RefCell::new(Writes::new()),
        };
        match body(&staged) {
            Ok(()) => {}
            Err(Stop::Abort) => return Err(Failure::Aborted),
            Err(Stop::Store(e)) => return Err(Failure::Store(e)),
            Err(Stop::Conflict) => {
                return Err(Failure::Store(StoreError::Open(
                    "a write in parts met a conflicting transaction".into(),
                )))
            }
        }
        let ops = self.write_ops(&staged.writes.into_inner());
        self.write_marked(&ops).map_err(|e| Failure::Store(e.into()))
    }

    fn load(&self, entries: &Entries) -> Result<(), StoreError> {
        // More than one etcd transaction holds: in parts, inside the marker.
        let _one = self
            .one_at_a_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.write_marked(&entry_ops(&self.prefix, entries))?;
        Ok(())
    }

    fn clear(&self, trees: &[TreeName]) -> Result<(), StoreError> {
        let _one = self
            .one_at_a_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ops = trees
            .iter()
            .map(|t| {
                let start = self.key(*t, b"");
                let end = range_end(&start);
                delete(start, end)
            })
            .collect();
        self.write_unread(ops)?;
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn syncs_to_disk(&self) -> bool {
        false
    }

    fn keep_copy(&self, label: &str) -> Result<String, StoreError> {
        // Under a sibling prefix, in parts.
        let prefix = format!("{}.{label}", self.prefix);
        let mut entries = Vec::new();
        for t in TreeName::ALL {
            let mut pairs = Vec::new();
            self.visit(t, b"", false, &mut |k, v| {
                pairs.push((k.to_vec(), v.to_vec()));
                Ok(true)
            })?;
            entries.push((t, pairs));
        }
        let _one = self
            .one_at_a_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.write_in_parts(&entry_ops(&prefix, &entries))?;
        Ok(format!("etcd keys under {prefix}/"))
    }

    fn size(&self) -> u64 {
        let mut bytes = 0u64;
        for t in TreeName::ALL {
            let _ = self.visit(t, b"", false, &mut |k, v| {
                bytes += (k.len() + v.len()) as u64;
                Ok(true)
            });
        }
        bytes
    }
}
