//! The store's own tests: records, relations, aborts, schema versions.

use super::records::*;
use super::*;
use std::path::PathBuf;

fn cluster(id: &str) -> ClusterRecord {
    ClusterRecord {
        id: id.into(),
        block: true,
        file: false,
    }
}

/// A fresh sled store, and a fresh prefix of the shared etcd cluster: the
/// tests that say what any backend must do run on both.
fn each_backend(test: &str, run: impl Fn(&Store)) {
    let dir = tempfile::tempdir().unwrap();
    run(&Store::open(&dir.path().join("db")).unwrap());
    run(&etcd_store(test));
}

fn etcd_location(test: &str) -> Location {
    let url = format!(
        "etcd://{}/{}",
        etcd_cluster::shared(),
        etcd_cluster::unique_prefix(test)
    );
    Location::Etcd(backend::etcd::EtcdConfig::parse_url(&url).unwrap())
}

fn etcd_store(test: &str) -> Store {
    Store::connect(&etcd_location(test), DEFAULT_CACHE_BYTES).unwrap()
}

#[path = "../../tests/support/etcd_cluster.rs"]
mod etcd_cluster;

#[test]
fn put_get_scan_and_relations_round_trip() {
    each_backend("round-trip", round_trip);
}

fn round_trip(store: &Store) {
    store
        .transact::<_, ()>(|tx| {
            tx.put(&cluster("b"))?;
            tx.put(&cluster("a"))?;
            tx.link(TreeName::ClusterNodes, "a", "n2")?;
            tx.link(TreeName::ClusterNodes, "a", "n1")?;
            tx.link(TreeName::ClusterNodes, "ab", "n3")?;
            Ok(())
        })
        .unwrap();
    assert_eq!(store.get::<ClusterRecord>("a").unwrap(), Some(cluster("a")));
    let ids: Vec<_> = store
        .scan::<ClusterRecord>()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(store.children(TreeName::ClusterNodes, "a").unwrap(), ["n1", "n2"]);
    assert!(!store.has_children(TreeName::ClusterNodes, "b").unwrap());
    assert!(store.has_children(TreeName::ClusterNodes, "a").unwrap());
    assert_eq!(store.child_count(TreeName::ClusterNodes, "a").unwrap(), 2);
    assert_eq!(store.child_count(TreeName::ClusterNodes, "ab").unwrap(), 1);
    assert_eq!(store.child_count(TreeName::ClusterNodes, "b").unwrap(), 0);
    store
        .transact::<_, ()>(|tx| {
            assert!(tx.has_children(TreeName::ClusterNodes, "a")?);
            tx.link(TreeName::ClusterNodes, "a", "n1")?;
            tx.unlink(TreeName::ClusterNodes, "a", "n1")?;
            tx.unlink(TreeName::ClusterNodes, "a", "n2")?;
            tx.unlink(TreeName::ClusterNodes, "a", "n2")?;
            Ok(())
        })
        .unwrap();
    assert!(!store.has_children(TreeName::ClusterNodes, "a").unwrap());
    assert!(store.has_children(TreeName::ClusterNodes, "ab").unwrap());
}

#[test]
fn a_user_abort_writes_nothing() {
    each_backend("abort", |store| {
        let result = store.transact(|tx| {
            tx.put(&cluster("a"))?;
            abort::<(), _>("no")
        });
        assert!(matches!(result, Err(TxFailure::User("no"))));
        assert_eq!(store.get::<ClusterRecord>("a").unwrap(), None);
    });
}

#[test]
fn replacing_the_records_drops_what_sums_them_up() {
    each_backend("summaries", |store| {
        store
            .transact(|tx| {
                tx.put::<_, ()>(&cluster("a"))?;
                for key in RECORD_SUMMARIES {
                    tx.index_put::<()>(TreeName::Meta, key, "7")?;
                }
                tx.index_put::<()>(TreeName::Meta, "incarnation", "3")
            })
            .unwrap();
        store.clear_records().unwrap();
        assert_eq!(store.get::<ClusterRecord>("a").unwrap(), None);
        for key in RECORD_SUMMARIES {
            assert_eq!(store.index_get(TreeName::Meta, key).unwrap(), None, "{key}");
        }
        assert_eq!(
            store.index_get(TreeName::Meta, "incarnation").unwrap().as_deref(),
            Some("3")
        );
        assert!(store.schema_version().unwrap() > 0, "the schema record stays");
    });
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = sled::open(&path).unwrap();
        db.open_tree("meta").unwrap().insert("schema_version", "999").unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(&path).err().unwrap().to_string();
    assert!(err.contains("schema version 999 is newer"), "{err}");
}

/// Copies a store fixture written by an older binary.
fn fixture(version: u64, dir: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/store-v{version}/store"));
    let to = dir.join("store");
    std::fs::create_dir_all(to.join("blobs")).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    to
}

#[test]
fn a_version_1_store_is_backed_up_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(1, dir.path());
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let attributes = store.attributes().unwrap();
    assert_eq!(attributes["DB_GENERATION_ID"].len(), 32);
    for (flag, value) in migrations::v2_attributes::FLAGS {
        assert_eq!(attributes[flag], value);
    }
    assert_eq!(store.scan::<records::VolumeRecord>().unwrap().len(), 6);
    assert_eq!(store.scan::<records::DeviceRecord>().unwrap().len(), 6);
    drop(store);

    // The backup is the untouched version 1 store.
    let backups: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("store.v1-backup-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = sled::open(&backups[0]).unwrap();
    assert_eq!(
        &*backup
            .open_tree("meta")
            .unwrap()
            .get("schema_version")
            .unwrap()
            .unwrap(),
        b"1"
    );
    assert!(backup.open_tree("attributes").unwrap().is_empty());
    assert_eq!(backup.open_tree("volumes").unwrap().len(), 6);
    drop(backup);

    // Opening again migrates nothing and keeps the generation id.
    let again = Store::open(&path).unwrap();
    assert_eq!(again.attributes().unwrap(), attributes);
}

#[test]
fn a_new_store_gets_the_latest_schema_without_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("fresh")).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(store.attributes().unwrap().contains_key("DB_GENERATION_ID"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no backup of an empty store"
    );
}

#[test]
fn a_heketi_bolt_file_is_refused_with_the_migration_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heketi.db");
    std::fs::write(&path, b"bolt").unwrap();
    let err = Store::open(&path).err().unwrap().to_string();
    assert!(err.contains("heketi db export"), "{err}");
}

#[test]
fn a_store_released_a_moment_later_is_waited_for_and_one_held_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let held = Store::open(&path).unwrap();
    // Released a moment later, as sled's own thread does after a drop.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(held);
    });
    let reopened = Store::open(&path);
    releaser.join().unwrap();
    assert!(reopened.is_ok(), "{:?}", reopened.err());
    // Held for good: refused with sled's words.
    let refused = Store::open(&path).err().expect("a second open of a held store");
    assert!(refused.to_string().contains("could not acquire lock"), "{refused}");
}

#[tokio::test]
async fn flushes_share_syncs_and_skip_what_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    store.flush().await.unwrap();
    let base = store.syncs();
    store.flush().await.unwrap();
    assert_eq!(store.syncs(), base, "nothing new: no sync");
    let put = |id: &str| {
        store
            .transact::<_, ()>(|tx| {
                tx.put(&cluster(id))?;
                Ok(())
            })
            .unwrap();
    };
    put("a");
    // Many callers waiting on one commit: one sync covers them all.
    let flushes: Vec<_> = (0..8).map(|_| store.flush()).collect();
    for result in futures::future::join_all(flushes).await {
        result.unwrap();
    }
    assert_eq!(store.syncs(), base + 1);
    put("b");
    store.flush().await.unwrap();
    assert_eq!(store.syncs(), base + 2, "a new commit is synced");
}

#[test]
fn a_caller_that_saw_a_commit_before_it_was_counted_still_gets_it_synced() {
    use std::sync::atomic::Ordering;
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let backend = std::sync::Arc::new(backend::hooked::Hooked::open(&path));
    let store = Store::over(backend.clone(), Location::Sled(path), Schema::BringUp).unwrap();
    let store = std::sync::Arc::new(store);
    runtime().block_on(store.flush()).unwrap();
    let synced = backend.syncs.load(Ordering::SeqCst);
    let watcher = store.clone();
    let (tell, told) = std::sync::mpsc::channel();
    *backend.after_commit.lock().unwrap() = Some(Box::new(move || {
        // Between the commit and its count, another thread sees it and
        // flushes before answering, as a queue poll does.
        let saw = std::thread::spawn(move || {
            let seen = watcher.get::<ClusterRecord>("a").unwrap().is_some();
            runtime().block_on(watcher.flush()).unwrap();
            seen
        });
        // A flush that did not wait for the count would be done by now.
        std::thread::sleep(std::time::Duration::from_millis(100));
        tell.send(saw).unwrap();
    }));
    store
        .transact::<_, ()>(|tx| {
            tx.put(&cluster("a"))?;
            Ok(())
        })
        .unwrap();
    assert!(told.recv().unwrap().join().unwrap(), "the commit was seen");
    assert_eq!(
        backend.syncs.load(Ordering::SeqCst),
        synced + 1,
        "the flush of a caller that saw the commit synced it"
    );
}

#[path = "etcd_tests.rs"]
mod etcd_tests;

#[test]
fn a_rendered_body_is_kept_until_its_tree_changes() {
    const T: TreeName = TreeName::VisibleVolumes;
    each_backend("rendered", |store| {
        // On sled the copy of the tree tells a change; etcd cannot.
        let keeps = store.backend.version(T).is_some();
        let renders = std::cell::Cell::new(0);
        let render = || {
            renders.set(renders.get() + 1);
            Ok(store.index_keys(T)?.join(",").into_bytes())
        };
        let of = |subject: &str| {
            let mut render = || render().map(|keys| [subject.as_bytes(), b":", &keys].concat());
            String::from_utf8(store.rendered(T, subject, &mut render).unwrap().to_vec()).unwrap()
        };
        let list = || String::from_utf8(store.rendered(T, "", &mut render.clone()).unwrap().to_vec()).unwrap();
        let put = |key: &str| store.transact(|tx| tx.index_put::<()>(T, key, "c")).unwrap();
        put("a");
        assert_eq!((list(), list()), ("a".into(), "a".into()));
        // Another tree's commit changes nothing here.
        store.transact(|tx| tx.put::<_, ()>(&cluster("x"))).unwrap();
        assert_eq!(list(), "a");
        assert_eq!(renders.get(), if keeps { 1 } else { 3 });
        put("b");
        assert_eq!(list(), "a,b");
        store.transact(|tx| tx.index_remove::<()>(T, "a")).unwrap();
        assert_eq!((list(), list()), ("b".into(), "b".into()));
        assert_eq!(renders.get(), if keeps { 3 } else { 6 });
        // Each subject has its own body.
        assert_eq!((of("x"), list(), of("x")), ("x:b".into(), "b".into(), "x:b".into()));
        assert_eq!(renders.get(), if keeps { 4 } else { 9 });
        // A commit to the tree during a render: that render's body is
        // answered (it began first) but not kept.
        put("c");
        let mut first = true;
        let during = store
            .rendered(T, "", &mut || {
                let body = render();
                if std::mem::take(&mut first) {
                    put("d");
                }
                body
            })
            .unwrap();
        assert_eq!(&during[..], b"b,c");
        assert_eq!(list(), "b,c,d");
        assert_eq!(of("x"), "x:b,c,d");
    });
    // The sled store keeps them.
    let dir = tempfile::tempdir().unwrap();
    assert!(Store::open(&dir.path().join("db"))
        .unwrap()
        .backend
        .version(T)
        .is_some());
}
