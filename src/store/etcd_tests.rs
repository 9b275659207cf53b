//! What only the etcd backend has to show: serialisable transactions
//! between separate clients, listings past one page, fenced writes after a
//! lost leadership, loads that did not finish, migrations.

use super::backend::etcd::{EtcdBackend, EtcdConfig, EtcdError};
use super::backend::{Backend, Failure};
use super::*;

fn config(test: &str) -> EtcdConfig {
    match super::etcd_location(test) {
        Location::Etcd(config) => config,
        Location::Sled(_) => unreachable!("etcd_location gives etcd"),
    }
}

fn counter(store: &Store) -> u64 {
    store
        .index_get(TreeName::Attributes, "counter")
        .unwrap()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn increments_from_two_clients_at_once_are_all_kept() {
    let config = config("increments");
    let location = Location::Etcd(config);
    let (a, b) = (
        Store::connect(&location, 0).unwrap(),
        Store::connect(&location, 0).unwrap(),
    );
    let add = |store: Store| {
        std::thread::spawn(move || {
            for _ in 0..40 {
                store
                    .transact::<_, ()>(|tx| {
                        let now: u64 = tx
                            .index_get(TreeName::Attributes, "counter")?
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        tx.index_put(TreeName::Attributes, "counter", &(now + 1).to_string())?;
                        Ok(())
                    })
                    .unwrap();
            }
        })
    };
    let (ta, tb) = (add(a.clone()), add(b));
    ta.join().unwrap();
    tb.join().unwrap();
    assert_eq!(counter(&a), 80, "every increment read the one before it");
}

#[test]
fn listings_page_past_etcds_range_limit_in_order() {
    let store = super::etcd_store("paging");
    let ids: Vec<String> = (0..2500).map(|i| format!("c{i:05}")).collect();
    for chunk in ids.chunks(50) {
        store
            .transact::<_, ()>(|tx| {
                for id in chunk {
                    tx.put(&ClusterRecord {
                        id: id.clone(),
                        block: false,
                        file: true,
                    })?;
                    tx.link(TreeName::ClusterNodes, "p", id)?;
                }
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(store.ids::<ClusterRecord>().unwrap(), ids);
    assert_eq!(store.scan::<ClusterRecord>().unwrap().len(), 2500);
    assert_eq!(store.count::<ClusterRecord>(), 2500);
    assert_eq!(store.children(TreeName::ClusterNodes, "p").unwrap(), ids);
    assert_eq!(store.child_count(TreeName::ClusterNodes, "p").unwrap(), 2500);
}

#[test]
fn a_leader_that_lost_its_lease_writes_nothing() {
    let config = config("fence");
    let (old, new) = (
        EtcdBackend::connect(&config).unwrap(),
        EtcdBackend::connect(&config).unwrap(),
    );
    let fence = old.try_lead(b"old:8080", 30).unwrap().expect("nobody led");
    assert_eq!(new.try_lead(b"new:8080", 30).unwrap(), None, "one leader at a time");
    old.set_fence(Some(fence.clone()));
    let put = |backend: &EtcdBackend, value: &[u8]| {
        let value = value.to_vec();
        backend.transact(&mut |ops| ops.put(TreeName::Attributes, b"k", &value))
    };
    put(&old, b"1").unwrap();
    // The lease lapses (revoked here, as a partition would let it expire);
    // another server takes over and writes.
    old.resign(&fence).unwrap();
    let taken = new.try_lead(b"new:8080", 30).unwrap().expect("the key is free");
    new.set_fence(Some(taken));
    put(&new, b"2").unwrap();
    match put(&old, b"3") {
        Err(Failure::Store(StoreError::Etcd(EtcdError::Fenced))) => {}
        other => panic!("the old leader wrote: {other:?}"),
    }
    assert_eq!(new.get(TreeName::Attributes, b"k").unwrap(), Some(b"2".to_vec()));
    assert_eq!(new.leader().unwrap().map(|l| l.value), Some(b"new:8080".to_vec()));
}

#[test]
fn a_load_that_did_not_finish_is_refused_until_replaced() {
    let config = config("load");
    let raw = EtcdBackend::connect(&config).unwrap();
    raw.transact(&mut |ops| ops.put(TreeName::Meta, LOAD_INCOMPLETE.as_bytes(), b"1"))
        .unwrap();
    let location = Location::Etcd(config);
    let refused = Store::connect(&location, 0).err().expect("refused");
    assert!(refused.to_string().contains("did not finish"), "{refused}");
    raw.transact(&mut |ops| ops.remove(TreeName::Meta, LOAD_INCOMPLETE.as_bytes()))
        .unwrap();
    let store = Store::connect(&location, 0).unwrap();
    // A restore in parts (past one etcd transaction) leaves no marker.
    let mut backup = store.backup().unwrap();
    let many: Vec<[String; 2]> = (0..300)
        .map(|i| {
            let record = serde_json::json!({"id": format!("c{i:03}"), "block": false, "file": true});
            [
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("c{i:03}")),
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, record.to_string()),
            ]
        })
        .collect();
    backup.trees.insert("clusters".into(), many);
    store.restore(&backup).unwrap();
    assert_eq!(store.count::<ClusterRecord>(), 300);
    drop(store);
    assert_eq!(Store::connect(&location, 0).unwrap().count::<ClusterRecord>(), 300);
}

/// A store as version 1 left it: one cluster, schema 1.
fn version_1_store(config: &EtcdConfig) -> EtcdBackend {
    let raw = EtcdBackend::connect(config).unwrap();
    raw.transact(&mut |ops| {
        ops.put(TreeName::Meta, b"schema_version", b"1")?;
        ops.put(TreeName::Clusters, b"c1", br#"{"id":"c1","block":false,"file":true}"#)
    })
    .unwrap();
    raw
}

#[test]
fn a_version_1_store_on_etcd_is_copied_and_migrated() {
    let config = config("migrate");
    version_1_store(&config);
    let store = Store::connect(&Location::Etcd(config), 0).unwrap();
    assert_eq!(store.migrated_from(), Some(1));
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.attributes().unwrap()["DB_GENERATION_ID"].len(), 32);
    assert_eq!(store.count::<ClusterRecord>(), 1);
}

#[test]
fn a_shared_store_is_migrated_only_by_its_leader_and_only_once() {
    let config = config("migrate-shared");
    let raw = version_1_store(&config);
    let location = Location::Etcd(config.clone());
    // Two replicas open it; neither migrates at open.
    let (a, b) = (
        Store::connect_shared(&location, 0).unwrap(),
        Store::connect_shared(&location, 0).unwrap(),
    );
    assert_eq!(a.schema_version().unwrap(), 1, "a follower does not migrate");
    assert_eq!(a.migrated_from(), None);
    // One leads: its migration is fenced by the leadership it holds.
    let election = a.election().expect("an etcd store has an election");
    let fence = election.try_lead(b"a:8080", 30).unwrap().expect("nobody led");
    election.set_fence(Some(fence.clone()));
    a.bring_schema_up().unwrap();
    assert_eq!(a.migrated_from(), Some(1));
    assert_eq!(b.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(a.count::<ClusterRecord>(), 1);
    // The next leader finds it done: no second migration, no second copy.
    election.resign(&fence).unwrap();
    let next = b.election().expect("an etcd store has an election");
    next.set_fence(next.try_lead(b"b:8080", 30).unwrap());
    b.bring_schema_up().unwrap();
    assert_eq!(b.migrated_from(), None, "the schema was already up to date");
    // One copy was kept before migrating, under a sibling prefix.
    let start = format!("{}.v1-backup-", config.prefix);
    let copies: std::collections::BTreeSet<Vec<u8>> = raw
        .keys_from(&start)
        .into_iter()
        .filter_map(|k| k[start.len()..].split(|b| *b == b'/').next().map(<[u8]>::to_vec))
        .collect();
    assert_eq!(copies.len(), 1, "one copy kept before migrating: {copies:?}");
    // A store a newer binary has moved on is refused, not rewritten.
    raw.transact(&mut |ops| {
        ops.put(
            TreeName::Meta,
            b"schema_version",
            (SCHEMA_VERSION + 1).to_string().as_bytes(),
        )
    })
    .unwrap();
    assert!(
        Store::connect_shared(&location, 0).is_err(),
        "a newer schema is refused"
    );
    assert!(
        a.bring_schema_up().is_err(),
        "a newer schema is refused by a leader too"
    );
}

#[test]
fn an_unreachable_cluster_is_an_error_naming_it() {
    let config = EtcdConfig::parse_url("etcd://127.0.0.1:9/p").unwrap();
    let err = Store::connect(&Location::Etcd(config), 0)
        .err()
        .expect("nothing listens on port 9");
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}
