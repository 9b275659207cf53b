//! The configuration as a whole: heketi.json, environment and flags
//! together, with an injected environment.

use std::collections::HashMap;
use std::path::PathBuf;

use super::file::parse_heketi_file;
use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn heketi(text: &str, flags: Flags, env_map: &HashMap<String, String>) -> Result<Config, ConfigError> {
    let file = parse_heketi_file(text)?;
    Config::build(file, true, &flags, env_map)
}

const PY_TEST_CONFIG: &str = r#"{
    "_port_comment": "Heketi Server Port Number",
    "port": "8080",
    "use_auth": true,
    "jwt": {"admin": {"key": "My Secret"}, "user": {"key": "My Secret"}},
    "glusterfs": {"executor": "mock", "db": "heketi.db"}
}"#;

#[test]
fn development_mode_defaults() {
    let c = Config::development(&Flags::default(), &env(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.store_path, PathBuf::from("./brickyard-data"));
    assert_eq!(c.executor, ExecutorKind::Mock);
    assert!(!c.auth.enabled);
    assert_eq!(c.mock.device_size_gb, 500);
    assert_eq!(c.max_inflight_operations, 8);
}

#[test]
fn heketi_file_behaves_as_heketi() {
    let c = heketi(PY_TEST_CONFIG, Flags::default(), &env(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "[::]:8080");
    assert_eq!(c.store_path, PathBuf::from("heketi.db"));
    assert!(c.auth.enabled);
    assert_eq!(c.auth.admin_key, "My Secret");
    assert_eq!(c.executor, ExecutorKind::Mock);
    assert_eq!(c.auth.iat_leeway_secs, 120);
}

/// The heketi.json shipped in the Kubernetes Secret, with the
/// Deployment's environment, is a configuration Brickyard accepts.
#[test]
fn the_kubernetes_secret_config_parses_as_deployed() {
    let manifest = include_str!("../../docker/kubernetes/brickyard-config-secret.yaml");
    let (_, rest) = manifest.split_once("heketi.json: |\n").unwrap();
    let json: String = rest
        .lines()
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    let deployed = env(&[
        ("HEKETI_EXECUTOR", "kubernetes"),
        ("HEKETI_KUBE_GLUSTER_DAEMONSET", "y"),
        ("HEKETI_FSTAB", "/var/lib/heketi/fstab"),
        ("HEKETI_SNAPSHOT_LIMIT", "14"),
        ("HEKETI_DB_PATH", "/var/lib/heketi/heketi.db"),
        ("HEKETI_KUBE_NAMESPACE", "default"),
    ]);
    let c = heketi(&json, Flags::default(), &deployed).unwrap();
    assert_eq!(c.executor, ExecutorKind::Kubernetes);
    assert_eq!(c.listen.port(), 8080);
    assert!(c.auth.enabled);
    assert_eq!(c.auth.admin_key, "CHANGE-ME-admin-key");
    assert_eq!(c.store_path, PathBuf::from("/var/lib/heketi/heketi.db"));
}

#[test]
fn empty_executor_means_ssh_and_unknown_is_refused() {
    let text = r#"{"port":"1","jwt":{"admin":{"key":"a"},"user":{"key":"u"}},"glusterfs":{}}"#;
    assert_eq!(
        heketi(text, Flags::default(), &env(&[])).unwrap().executor,
        ExecutorKind::Ssh
    );
    let err = heketi(text, Flags::default(), &env(&[("HEKETI_EXECUTOR", "telnet")])).unwrap_err();
    assert_eq!(err.0, "invalid executor: telnet");
}

#[test]
fn missing_keys_stop_start_up_unless_auth_is_disabled() {
    let text = r#"{"port":"8080","glusterfs":{"executor":"mock"}}"#;
    let err = heketi(text, Flags::default(), &env(&[])).unwrap_err();
    assert_eq!(err.0, "ERROR: Missing JWT information in config file");
    let flags = Flags {
        disable_auth: true,
        ..Flags::default()
    };
    assert!(!heketi(text, flags, &env(&[])).unwrap().auth.enabled);
    let keyed = env(&[("HEKETI_ADMIN_KEY", "a"), ("HEKETI_USER_KEY", "u")]);
    assert!(heketi(text, Flags::default(), &keyed).unwrap().auth.enabled);
}

#[test]
fn environment_overrides_apply() {
    let e = env(&[
        ("HEKETI_HTTP_PORT", "9090"),
        ("HEKETI_DB_PATH", "/var/lib/heketi/heketi.db"),
        ("HEKETI_MAX_INFLIGHT_OPERATIONS", "3"),
        ("HEKETI_GLUSTER_MAX_VOLUMES_PER_CLUSTER", "-1"),
        ("HEKETI_ZONE_CHECKING", "strict"),
        ("HEKETI_FSTAB", "/var/lib/heketi/fstab"),
        ("HEKETI_MOCK_DEVICE_SIZE_GB", "10"),
        ("HEKETI_JWT_IAT_LEEWAY_SECONDS", "5"),
        ("HEKETI_KUBE_GLUSTER_DAEMONSET", "y"),
        ("HEKETI_GLUSTERAPP_REBALANCE_ON_EXPANSION", "false"),
    ]);
    let c = heketi(PY_TEST_CONFIG, Flags::default(), &e).unwrap();
    assert_eq!(c.listen.port(), 9090);
    assert_eq!(c.store_path, PathBuf::from("/var/lib/heketi/heketi.db"));
    assert_eq!(c.max_inflight_operations, 3);
    assert_eq!(c.limits.max_volumes_per_cluster, None);
    assert_eq!(c.limits.zone_checking, "strict");
    assert_eq!(c.ssh.fstab, "/var/lib/heketi/fstab");
    assert_eq!(c.mock.device_size_gb, 10);
    assert_eq!(c.auth.iat_leeway_secs, 5);
    assert!(c.kube.gluster_daemonset);
    assert!(!c.ssh.rebalance_on_expansion);
}

#[test]
fn flags_override_file_and_keys_are_case_insensitive() {
    let text =
        r#"{"Port":"8080","JWT":{"Admin":{"Key":"a"},"User":{"Key":"u"}},"GlusterFS":{"Executor":"mock","DB":"x.db"}}"#;
    let flags = Flags {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        store: Some(PathBuf::from("/tmp/s")),
        ..Flags::default()
    };
    let c = heketi(text, flags, &env(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:0");
    assert_eq!(c.store_path, PathBuf::from("/tmp/s"));
    assert_eq!(c.auth.user_key, "u");
}

#[test]
fn wrong_types_and_bad_states_are_fatal() {
    let err = heketi(r#"{"port":8080,"glusterfs":{}}"#, Flags::default(), &env(&[])).unwrap_err();
    assert!(err.0.starts_with("ERROR: Unable to parse configuration:"), "{}", err.0);
    let err = heketi(
        PY_TEST_CONFIG,
        Flags::default(),
        &env(&[("HEKETI_DEFAULT_STATE", "sleepy")]),
    )
    .unwrap_err();
    assert_eq!(
        err.0,
        "ERROR: unable to set admin state: unknown admin state name: sleepy"
    );
}

#[test]
fn ssh_defaults_follow_heketi() {
    let c = heketi(PY_TEST_CONFIG, Flags::default(), &env(&[])).unwrap();
    assert_eq!(c.ssh.user, "heketi");
    assert_eq!(c.ssh.port, "22");
    assert_eq!(c.ssh.mountopts, "rw,inode64,noatime,nouuid");
    assert_eq!(c.ssh.gluster_cli_timeout, 600);
    assert!(c.ssh.rebalance_on_expansion);
    assert_eq!(c.ssh.block_prealloc, "full");
    assert_eq!(c.limits.max_volumes_per_cluster, Some(1000));
    assert_eq!(c.limits.brick_max_size_gb, 4096);
}

#[test]
fn nulls_leave_defaults() {
    let text = r#"{"port":null,"jwt":{"admin":{"key":"a"},"user":{"key":"u"}},"glusterfs":{"executor":"mock","max_inflight_operations":null}}"#;
    let c = heketi(text, Flags::default(), &env(&[])).unwrap();
    assert_eq!(c.max_inflight_operations, 8);
}

#[test]
fn mock_state_sits_beside_the_store() {
    let flags = Flags {
        store: Some(PathBuf::from("/var/lib/heketi/heketi.db")),
        ..Flags::default()
    };
    let c = Config::development(&flags, &env(&[])).unwrap();
    assert_eq!(
        c.mock_state_path(),
        PathBuf::from("/var/lib/heketi/heketi.db.mock-nodes.json")
    );
}

#[test]
fn the_store_cache_comes_from_the_file_or_the_environment() {
    let plain = heketi(PY_TEST_CONFIG, Flags::default(), &env(&[])).unwrap();
    assert_eq!(plain.store_cache_bytes, None, "the store's own default");
    let file = PY_TEST_CONFIG.replace(r#""db": "heketi.db""#, r#""db": "heketi.db", "store_cache_mb": 16"#);
    let from_file = heketi(&file, Flags::default(), &env(&[])).unwrap();
    assert_eq!(from_file.store_cache_bytes, Some(16 << 20));
    let from_env = heketi(&file, Flags::default(), &env(&[("BRICKYARD_STORE_CACHE_MB", "32")])).unwrap();
    assert_eq!(from_env.store_cache_bytes, Some(32 << 20));
    let bad = heketi(
        PY_TEST_CONFIG,
        Flags::default(),
        &env(&[("BRICKYARD_STORE_CACHE_MB", "lots")]),
    );
    assert!(bad.unwrap_err().0.contains("BRICKYARD_STORE_CACHE_MB"));
}

#[test]
fn the_health_monitor_follows_heketi_and_can_be_turned_off() {
    let plain = heketi(PY_TEST_CONFIG, Flags::default(), &env(&[])).unwrap();
    assert_eq!(plain.health_monitor, Some(MonitorConfig::default()));
    let defaults = MonitorConfig::default();
    assert_eq!(
        (
            defaults.start.as_secs(),
            defaults.refresh.as_secs(),
            defaults.max_checks
        ),
        (10, 120, 8),
        "Heketi's start and refresh times"
    );
    let dev = Config::development(&Flags::default(), &env(&[])).unwrap();
    assert_eq!(
        dev.health_monitor,
        Some(MonitorConfig::default()),
        "on by default, as in Heketi"
    );

    let timed = PY_TEST_CONFIG.replace(
        r#""db": "heketi.db""#,
        r#""db": "heketi.db", "start_time_monitor_gluster_nodes": 2, "Refresh_Time_Monitor_Gluster_Nodes": 5, "monitor_max_checks": 3"#,
    );
    let c = heketi(&timed, Flags::default(), &env(&[])).unwrap();
    let monitor = c.health_monitor.unwrap();
    assert_eq!(
        (monitor.start.as_secs(), monitor.refresh.as_secs(), monitor.max_checks),
        (2, 5, 3)
    );
    let from_env = heketi(&timed, Flags::default(), &env(&[("BRICKYARD_MONITOR_MAX_CHECKS", "0")])).unwrap();
    assert_eq!(
        from_env.health_monitor.unwrap().max_checks,
        1,
        "at least one check at a time"
    );
    let bad = heketi(
        &timed,
        Flags::default(),
        &env(&[("BRICKYARD_MONITOR_MAX_CHECKS", "many")]),
    );
    assert!(bad.unwrap_err().0.contains("BRICKYARD_MONITOR_MAX_CHECKS"));

    let off_in_file = PY_TEST_CONFIG.replace(
        r#""db": "heketi.db""#,
        r#""db": "heketi.db", "disable_monitor_gluster_nodes": true"#,
    );
    assert_eq!(
        heketi(&off_in_file, Flags::default(), &env(&[]))
            .unwrap()
            .health_monitor,
        None
    );
    let off_by_env = heketi(
        &timed,
        Flags::default(),
        &env(&[("HEKETI_DISABLE_HEALTH_MONITOR", "true")]),
    )
    .unwrap();
    assert_eq!(off_by_env.health_monitor, None);
    // Heketi turns it off for exactly "true".
    let still_on = heketi(
        &timed,
        Flags::default(),
        &env(&[("HEKETI_DISABLE_HEALTH_MONITOR", "1")]),
    )
    .unwrap();
    assert!(still_on.health_monitor.is_some());
}

#[test]
fn the_store_is_sled_or_etcd_from_db_the_section_or_the_environment() {
    let plain = heketi(PY_TEST_CONFIG, Flags::default(), &env(&[])).unwrap();
    assert_eq!(plain.store, store::StoreLocation::Sled(PathBuf::from("heketi.db")));

    let by_url = PY_TEST_CONFIG.replace("\"heketi.db\"", "\"etcd://10.0.0.1:2379,10.0.0.2:2379/by\"");
    let c = heketi(&by_url, Flags::default(), &env(&[])).unwrap();
    let store::StoreLocation::Etcd(etcd) = &c.store else {
        panic!("etcd expected: {:?}", c.store)
    };
    assert_eq!(etcd.endpoints, ["10.0.0.1:2379", "10.0.0.2:2379"]);
    assert_eq!(etcd.prefix, "by");
    assert_eq!(etcd.max_txn_ops, store::DEFAULT_MAX_TXN_OPS);
    assert_eq!(
        c.store_path,
        PathBuf::from(store::DEFAULT_LOCAL_DIR),
        "the mock's files go here"
    );

    let section = PY_TEST_CONFIG.replace(
        r#""db": "heketi.db""#,
        r#""db": "heketi.db", "store": {"endpoints": ["e1:2379"], "ca_file": "/ca.pem",
            "cert_file": "/c.pem", "key_file": "/k.pem", "username": "by", "password": "pw",
            "local_dir": "/var/lib/brickyard", "max_txn_ops": 1024}"#,
    );
    let c = heketi(&section, Flags::default(), &env(&[])).unwrap();
    let store::StoreLocation::Etcd(etcd) = &c.store else {
        panic!("etcd expected: {:?}", c.store)
    };
    assert_eq!(etcd.endpoints, ["e1:2379"]);
    assert_eq!(etcd.prefix, store::DEFAULT_PREFIX);
    assert_eq!(
        etcd.tls,
        Some(store::EtcdTls {
            ca: "/ca.pem".into(),
            client: Some(("/c.pem".into(), "/k.pem".into()))
        })
    );
    assert_eq!(
        etcd.user.as_ref().map(|u| (u.name.as_str(), u.password.as_str())),
        Some(("by", "pw"))
    );
    assert_eq!(etcd.max_txn_ops, 1024);
    assert_eq!(c.store_path, PathBuf::from("/var/lib/brickyard"));

    let overridden = heketi(
        PY_TEST_CONFIG,
        Flags::default(),
        &env(&[
            ("BRICKYARD_ETCD_ENDPOINTS", "a:1, b:2"),
            ("BRICKYARD_ETCD_PREFIX", "x/y"),
            ("BRICKYARD_LOCAL_DIR", "/l"),
        ]),
    )
    .unwrap();
    assert_eq!(overridden.store.to_string(), "etcd://a:1,b:2/x/y");
    assert_eq!(overridden.store_path, PathBuf::from("/l"));
}

#[test]
fn a_bad_etcd_store_is_refused_naming_the_fault() {
    let cases = [
        (r#""db": "etcd://h/p""#, vec![], "\"h\" is not host:port"),
        (r#""db": "etcd://h:1""#, vec![], "no key prefix"),
        (
            r#""db": "x", "store": {"endpoints": ["h:1"], "prefix": "../p"}"#,
            vec![],
            "key prefix",
        ),
        (
            r#""db": "x", "store": {"endpoints": ["h:1"], "cert_file": "/c"}"#,
            vec![],
            "ca_file",
        ),
        (
            r#""db": "x", "store": {"endpoints": ["h:1"], "username": "u"}"#,
            vec![],
            "password",
        ),
        (
            r#""db": "x""#,
            vec![("BRICKYARD_ETCD_ENDPOINTS", "h:1"), ("BRICKYARD_ETCD_MAX_TXN_OPS", "3")],
            "at least 16",
        ),
    ];
    for (db, vars, want) in cases {
        let text = PY_TEST_CONFIG.replace(r#""db": "heketi.db""#, db);
        let err = heketi(&text, Flags::default(), &env(&vars)).unwrap_err().0;
        assert!(err.contains(want), "{db}: {err}");
    }
}
