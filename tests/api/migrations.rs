//! Stores written by older Brickyard versions open, migrate and answer
//! exactly as they did.

use std::path::Path;

use serde_json::Value;

use crate::harness::{Options, Server};

#[test]
fn a_version_1_store_answers_as_before_after_migration() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    let s = Server::with(Options {
        seed_store: Some(fixture.join("store")),
        ..Options::default()
    });
    let before: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("answers.json")).unwrap()).unwrap();
    assert_eq!(before.len(), 16, "the fixture's answers cover every entity");
    for (path, answer) in &before {
        let now = s.get(path);
        assert_eq!(now.status, 200, "{path}: {now:?}");
        assert_eq!(&now.json(), answer, "{path} changed across the migration");
    }
    let volumes = s.get("/volumes").json();
    assert_eq!(volumes["volumes"].as_array().unwrap().len(), 6);
    // A migrated fixture store: its nodes are not this mock's.
    s.assert_store_consistent();
    let backups = std::fs::read_dir(s.dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("store.v1-backup-")
        })
        .count();
    assert_eq!(backups, 1, "a backup was taken before migrating");
}
