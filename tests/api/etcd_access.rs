//! A server reaches an etcd that holds clients to TLS with a client
//! certificate and to a user and password limited to the store's prefix,
//! as a production etcd does; wrong or missing credentials stop it with a
//! message that names the problem.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

use crate::etcd_cluster::{EtcdCluster, ServerTls};
use crate::harness::{binary, Options, Server};

const R3: &str = r#"{"size":10,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

/// A CA, the members' certificate (127.0.0.1) and a client's, as PEM files.
struct Certificates {
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
    /// A client certificate from a CA the members do not trust.
    stranger: (PathBuf, PathBuf),
}

fn write_pair(dir: &Path, name: &str, cert: &rcgen::Certificate, key: &KeyPair) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}-key.pem")));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn certificates(dir: &Path) -> Certificates {
    let authority = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        (cert, key)
    };
    let signed = |(ca, ca_key): &(rcgen::Certificate, KeyPair), names: Vec<String>, cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        (params.signed_by(&key, ca, ca_key).unwrap(), key)
    };
    let ca = authority("brickyard test etcd CA");
    std::fs::write(dir.join("ca.pem"), ca.0.pem()).unwrap();
    let (server, server_key) = signed(&ca, vec!["127.0.0.1".into(), "localhost".into()], "etcd");
    let (client, client_key) = signed(&ca, Vec::new(), "brickyard");
    let other = authority("someone else's CA");
    let (stranger, stranger_key) = signed(&other, Vec::new(), "brickyard");
    Certificates {
        ca: dir.join("ca.pem"),
        server: write_pair(dir, "server", &server, &server_key),
        client: write_pair(dir, "client", &client, &client_key),
        stranger: write_pair(dir, "stranger", &stranger, &stranger_key),
    }
}

/// `brickyard serve` on the store with `env`, expected to stop before it
/// serves: what it said on stderr.
fn refused(endpoints: &str, prefix: &str, env: &[(String, String)], user: (&str, &str)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("BRICKYARD_ETCD_ENDPOINTS", endpoints)
        .env("BRICKYARD_ETCD_PREFIX", prefix)
        .env("BRICKYARD_LOCAL_DIR", dir.path())
        .env("BRICKYARD_ETCD_USERNAME", user.0)
        .env("BRICKYARD_ETCD_PASSWORD", user.1)
        .envs(env.iter().cloned())
        .env("RUST_LOG", "error")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "the server started with wrong credentials");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server neither served nor stopped within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    said
}

#[test]
fn a_server_reaches_etcd_over_tls_as_a_user_limited_to_its_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let certs = certificates(dir.path());
    let etcd = EtcdCluster::start_tls(
        1,
        ServerTls {
            ca: certs.ca.clone(),
            cert: certs.server.0.clone(),
            key: certs.server.1.clone(),
        },
    );
    let client = Some((certs.client.0.as_path(), certs.client.1.as_path()));
    // As an operator sets etcd up: a root user, then a user whose role
    // reaches only Brickyard's prefix, then authentication on.
    for args in [
        &["user", "add", "root:root-secret"][..],
        &["role", "add", "brickyard"],
        &[
            "role",
            "grant-permission",
            "brickyard",
            "--prefix=true",
            "readwrite",
            "brickyard/",
        ],
        &["user", "add", "brickyard:by-secret"],
        &["user", "grant-role", "brickyard", "brickyard"],
        &["auth", "enable"],
    ] {
        etcd.etcdctl(client, args);
    }
    // The members' CA, and which client certificate to show.
    let tls = |pair: &(PathBuf, PathBuf)| {
        [
            ("BRICKYARD_ETCD_CA_FILE", &certs.ca),
            ("BRICKYARD_ETCD_CERT_FILE", &pair.0),
            ("BRICKYARD_ETCD_KEY_FILE", &pair.1),
        ]
        .map(|(k, v)| (k.to_string(), v.display().to_string()))
        .to_vec()
    };
    let mut env = tls(&certs.client);
    env.push(("BRICKYARD_ETCD_USERNAME".into(), "brickyard".into()));
    env.push(("BRICKYARD_ETCD_PASSWORD".into(), "by-secret".into()));
    let files = tempfile::tempdir().unwrap();
    let a = Server::with(Options {
        replica_of: Some(("brickyard/store".into(), files.path().to_path_buf())),
        etcd_endpoints: Some(etcd.endpoints()),
        env,
        ..Options::default()
    });
    assert!(a.wait_leading(Duration::from_secs(20)), "the replica leads");
    a.topology(3, 1);
    let volume = a.create_volume(R3);
    // A second replica with the same credentials follows and forwards.
    let b = a.replica();
    let id = volume["id"].as_str().unwrap_or_default();
    assert_eq!(b.get(&format!("/volumes/{id}")).status, 200);
    b.assert_consistent();
    // What the store wrote is where the role allows, as etcd itself says.
    let keys = etcd.etcdctl(
        client,
        &[
            "--user",
            "root:root-secret",
            "get",
            "--prefix",
            "--keys-only",
            "brickyard/store/volumes/",
        ],
    );
    assert!(keys.contains(id), "{keys}");

    let endpoints = etcd.endpoints();
    let run = |pair, prefix, user| refused(&endpoints, prefix, &tls(pair), user);
    // A wrong password is named as etcd's refusal to authenticate.
    let said = run(&certs.client, "brickyard/store", ("brickyard", "wrong"));
    assert!(said.contains("authentication failed"), "{said}");
    // A prefix the user's role does not reach is refused as such.
    let said = run(&certs.client, "elsewhere", ("brickyard", "by-secret"));
    assert!(said.contains("permission denied"), "{said}");
    // A client certificate from a CA the members do not trust never
    // gets a session: the members are named.
    let said = run(&certs.stranger, "brickyard/store", ("brickyard", "by-secret"));
    assert!(said.contains(&endpoints), "{said}");
}
