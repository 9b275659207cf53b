//! Block volumes on the mock: create on a chosen or automatically created
//! hosting volume, expand, delete, Heketi's checks and texts, the hosting
//! volume's free size through it all, SIGKILL at each step, and
//! heketi-cli's output.

use serde_json::{json, Value};

use crate::cli::Cli;
use crate::harness::{Options, Reply, Server};

const HOSTING: &str = r#"{"size":100,"block":true,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

fn auto_create(size: u64, faults: &str) -> Server {
    Server::with(Options {
        glusterfs: Some(json!({
            "auto_create_block_hosting_volume": true,
            "block_hosting_volume_size": size,
        })),
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), faults.into())],
        ..Options::default()
    })
}

/// A server with `faults`, three nodes and a 100 GiB hosting volume;
/// returns the hosting volume's id too.
fn with_hosting(faults: &str) -> (Server, String) {
    let s = Server::with(Options {
        env: [("BRICKYARD_MOCK_FAULTS".to_string(), faults.to_string())]
            .into_iter()
            .filter(|(_, f)| !f.is_empty())
            .collect(),
        ..Options::default()
    });
    s.topology(3, 2);
    let hv = id_of(&s.create_volume(HOSTING));
    (s, hv)
}

/// Creates a block volume; returns its info.
fn create(s: &Server, body: &str) -> Value {
    let done = s.finish(s.post("/blockvolumes", body));
    assert_eq!(done.status, 303, "{done:?}");
    let info = s.get(&done.location());
    assert_eq!(info.status, 200, "{info:?}");
    info.json()
}

fn volume(s: &Server, id: &str) -> Value {
    s.get(&format!("/volumes/{id}")).json()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// The mock's block volumes (`hosting/name` → state).
fn blocks(s: &Server) -> serde_json::Map<String, Value> {
    s.mock_nodes()["blocks"].as_object().cloned().unwrap_or_default()
}

/// Every command line any node ran that starts with `prefix`.
fn ran(s: &Server, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for host in ["node1", "node2", "node3"] {
        out.extend(s.mock_commands(host).into_iter().filter(|l| l.starts_with(prefix)));
    }
    out
}

fn assert_error(reply: &Reply, status: u16, text: &str) {
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (status, format!("{text}\n").as_str()),
        "{reply:?}"
    );
}

#[test]
fn create_expand_and_delete_keep_the_hosting_volumes_books() {
    let s = Server::start();
    let (cluster, _) = s.topology(3, 2);
    let hosting = s.create_volume(HOSTING);
    let hv = id_of(&hosting);
    let hv_name = hosting["name"].as_str().unwrap().to_string();
    assert_eq!(hosting["blockinfo"], json!({"freesize": 98, "reservedsize": 2}));

    let b = create(&s, r#"{"size":5,"name":"lun0","hacount":2,"auth":true}"#);
    let id = id_of(&b);
    assert_eq!(
        (b["size"].clone(), b["usablesize"].clone(), b["hacount"].clone()),
        (json!(5), json!(5), json!(2))
    );
    assert_eq!(b["name"], "lun0");
    assert_eq!(
        (b["cluster"].as_str(), b["blockhostingvolume"].as_str()),
        (Some(cluster.as_str()), Some(hv.as_str()))
    );
    let target = &b["blockvolume"];
    let hosts: Vec<String> = serde_json::from_value(target["hosts"].clone()).unwrap();
    assert_eq!(hosts.len(), 2);
    assert!(hosts.iter().all(|h| h.starts_with("10.0.0.")), "{hosts:?}");
    let iqn = target["iqn"].as_str().unwrap();
    let gbid = iqn
        .strip_prefix("iqn.2016-12.org.gluster-block:")
        .expect("gluster-block's IQN");
    assert_eq!(target["username"], gbid, "CHAP user is gluster-block's id");
    assert!(!target["password"].as_str().unwrap().is_empty());
    assert_eq!(target["lun"], 0);
    assert_eq!(
        ran(&s, "gluster-block create"),
        [format!(
            "gluster-block create {hv_name}/lun0 ha 2 auth enable prealloc full {} 5GiB --json",
            hosts.join(",")
        )]
    );
    assert_eq!(blocks(&s)[&format!("{hv_name}/lun0")]["size_gib"], 5);
    let books = volume(&s, &hv)["blockinfo"].clone();
    assert_eq!(books, json!({"freesize": 93, "reservedsize": 2, "blockvolume": [id]}));
    assert_eq!(s.get("/blockvolumes").json(), json!({"blockvolumes": [id]}));
    assert_eq!(
        s.get(&format!("/clusters/{cluster}")).json()["blockvolumes"],
        json!([id])
    );

    // Without auth and hacount: every host, no credentials.
    let open = create(&s, r#"{"size":1}"#);
    assert_eq!(open["hacount"], 3);
    assert_eq!(open["blockvolume"]["hosts"].as_array().unwrap().len(), 3);
    assert_eq!(
        (
            open["blockvolume"]["username"].as_str(),
            open["blockvolume"]["password"].as_str()
        ),
        (Some(""), Some(""))
    );
    let open_name = format!("blockvol_{}", id_of(&open));
    assert_eq!(open["name"], open_name.as_str());
    assert_eq!(volume(&s, &hv)["blockinfo"]["freesize"], 92);

    // Expand to a new total: the growth comes from the hosting volume.
    let done = s.finish(s.post(&format!("/blockvolumes/{id}/expand"), r#"{"new_size":8}"#));
    assert_eq!((done.status, done.location()), (303, format!("/blockvolumes/{id}")));
    let grown = s.get(&format!("/blockvolumes/{id}")).json();
    assert_eq!(
        (grown["size"].clone(), grown["usablesize"].clone()),
        (json!(8), json!(8))
    );
    assert_eq!(volume(&s, &hv)["blockinfo"]["freesize"], 89);
    assert_eq!(blocks(&s)[&format!("{hv_name}/lun0")]["size_gib"], 8);
    assert_eq!(
        ran(&s, "gluster-block modify"),
        [format!("gluster-block modify {hv_name}/lun0  size 8GiB --json")]
    );

    // A hosting volume with block volumes refuses delete.
    assert_error(
        &s.delete(&format!("/volumes/{hv}")),
        409,
        "Cannot delete a block hosting volume containing block volumes",
    );

    for gone in [&id, &id_of(&open)] {
        let done = s.finish(s.delete(&format!("/blockvolumes/{gone}")));
        assert_eq!(done.status, 204, "{done:?}");
        assert_eq!(s.get(&format!("/blockvolumes/{gone}")).status, 404);
    }
    assert_eq!(volume(&s, &hv)["blockinfo"], json!({"freesize": 98, "reservedsize": 2}));
    assert!(blocks(&s).is_empty(), "{:?}", blocks(&s));
    assert_eq!(ran(&s, "gluster-block delete").len(), 2);
    s.assert_consistent();
    // Now it may go.
    assert_eq!(s.finish(s.delete(&format!("/volumes/{hv}"))).status, 204);
    s.assert_consistent();
}

#[test]
fn create_refusals_in_heketis_words_and_order() {
    let s = Server::start();
    assert_error(&s.post("/blockvolumes", r#"{"size":1}"#), 400, "No clusters configured");
    assert_error(
        &s.post("/blockvolumes", r#"{"size":0}"#),
        400,
        "validation failed: size: cannot be blank.",
    );
    assert_error(
        &s.post("/blockvolumes", r#"{"size":-2,"name":"no spaces","hacount":-1}"#),
        400,
        "validation failed: hacount: must be no less than 1; name: must be in a valid format; size: must be no less than 1.",
    );
    assert_eq!(s.post("/blockvolumes", r#"{"size":"one"}"#).status, 422);
    let (cluster, _) = s.topology(3, 2);
    let missing = "0123456789abcdef0123456789abcdef";
    assert_error(
        &s.post("/blockvolumes", &format!(r#"{{"size":1,"clusters":["{missing}"]}}"#)),
        400,
        &format!("Cluster id {missing} not found"),
    );
    let disabled = "Failed to allocate new block volume: Block Hosting Volume Creation is disabled. Create a Block hosting volume and try again.";
    // No hosting volume, automatic creation off.
    assert_error(&s.post("/blockvolumes", r#"{"size":1}"#), 500, disabled);
    // A cluster that does not allow block volumes.
    let file_only = s.post("/clusters", r#"{"file":true,"block":false}"#).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_error(
        &s.post("/blockvolumes", &format!(r#"{{"size":1,"clusters":["{file_only}"]}}"#)),
        500,
        "Failed to allocate new block volume: Cluster does not support requested volume type",
    );
    let hv = id_of(&s.create_volume(HOSTING));
    // Too big for what is free; a name already on it; a locked one: none fit.
    assert_error(&s.post("/blockvolumes", r#"{"size":99}"#), 500, disabled);
    create(&s, r#"{"size":1,"name":"taken"}"#);
    assert_error(&s.post("/blockvolumes", r#"{"size":1,"name":"taken"}"#), 500, disabled);
    let locked = s.finish(s.post(
        &format!("/volumes/{hv}/block-restriction"),
        r#"{"restriction":"locked"}"#,
    ));
    assert_eq!(locked.status, 303);
    assert_error(&s.post("/blockvolumes", r#"{"size":1}"#), 500, disabled);
    let unlocked = s.finish(s.post(&format!("/volumes/{hv}/block-restriction"), r#"{"restriction":""}"#));
    assert_eq!(unlocked.status, 303);
    create(&s, &format!(r#"{{"size":1,"clusters":["{cluster}"]}}"#));
    assert_eq!(volume(&s, &hv)["blockinfo"]["freesize"], 96);
    s.assert_consistent();
}

#[test]
fn hosts_are_those_whose_glusterd_answers() {
    let (s, hv) = with_hosting("");
    std::fs::write(s.path().join("store.mock-nodes.glusterd-stopped"), "node1\n").unwrap();
    // More portals than hosts: every host, as Heketi does.
    let all = create(&s, r#"{"size":1,"hacount":5}"#);
    assert_eq!(all["hacount"], 3);
    // Two of three: never the node whose glusterd is down.
    for _ in 0..4 {
        let two = create(&s, r#"{"size":1,"hacount":2}"#);
        let mut hosts: Vec<String> = serde_json::from_value(two["blockvolume"]["hosts"].clone()).unwrap();
        hosts.sort();
        assert_eq!(hosts, ["10.0.0.2", "10.0.0.3"]);
    }
    let done = s.finish(s.post("/blockvolumes", r#"{"size":1,"hacount":3}"#));
    assert_eq!(
        (done.status, done.body.as_str()),
        (500, "insufficient block hosts online\n")
    );
    // The refused one gave its size back.
    assert_eq!(volume(&s, &hv)["blockinfo"]["freesize"], 93);
    assert_eq!(
        s.get("/blockvolumes").json()["blockvolumes"].as_array().unwrap().len(),
        5
    );
    s.assert_consistent();
}

#[test]
fn expand_and_delete_refusals() {
    let (s, hv) = with_hosting("");
    let id = id_of(&create(&s, r#"{"size":5}"#));
    let missing = "0123456789abcdef0123456789abcdef";
    assert_error(
        &s.post(&format!("/blockvolumes/{missing}/expand"), r#"{"new_size":6}"#),
        404,
        "Id not found",
    );
    assert_error(&s.delete(&format!("/blockvolumes/{missing}")), 404, "Id not found");
    let expand = |body: &str| s.post(&format!("/blockvolumes/{id}/expand"), body);
    assert_eq!(expand("[]").status, 422);
    let refusals = [
        (r#"{"new_size":0}"#, 400, "validation failed: new_size: cannot be blank."),
        (r#"{"new_size":-1}"#, 400, "validation failed: new_size: must be no less than 1."),
        (r#"{"new_size":5}"#, 500, "Failed to allocate block volume expansion: Requested new-size 5 is same as current block volume size 5, nothing to be done."),
        (r#"{"new_size":4}"#, 500, "Failed to allocate block volume expansion: Requested new-size 4 is less than current block volume size 5, shrinking is not allowed."),
        (r#"{"new_size":99}"#, 500, "Failed to allocate block volume expansion: No space"),
    ];
    for (body, status, text) in refusals {
        assert_error(&expand(body), status, text);
    }
    // Exactly what is free fits.
    assert_eq!(s.finish(expand(r#"{"new_size":98}"#)).status, 303);
    // Nothing left free (Heketi omits a zero).
    assert_eq!(
        volume(&s, &hv)["blockinfo"],
        json!({"reservedsize": 2, "blockvolume": [id]})
    );
    s.assert_consistent();
}

#[test]
fn a_failed_gluster_block_create_is_undone_and_its_size_given_back() {
    let (s, hv) = with_hosting("block_create:1:fail:gluster-block is down");
    let done = s.finish(s.post("/blockvolumes", r#"{"size":5}"#));
    assert_eq!((done.status, done.body.as_str()), (500, "gluster-block is down\n"));
    assert_eq!(volume(&s, &hv)["blockinfo"], json!({"freesize": 98, "reservedsize": 2}));
    assert_eq!(s.get("/blockvolumes").json(), json!({"blockvolumes": []}));
    s.assert_consistent();
}

#[test]
fn a_hosting_volume_is_created_when_none_fits() {
    let s = auto_create(100, "");
    let (cluster, _) = s.topology(3, 2);
    let too_big = "Failed to allocate new block volume: The size configured for automatic creation of block hosting volumes (100) is too small to host the requested block volume of size 99. The available size on this block hosting volume, minus overhead, is 98. Please create a sufficiently large block hosting volume manually.";
    assert_error(&s.post("/blockvolumes", r#"{"size":99}"#), 500, too_big);
    assert!(s.get("/volumes").json()["volumes"].as_array().unwrap().is_empty());

    let first = create(&s, r#"{"size":60,"name":"a"}"#);
    let hv = first["blockhostingvolume"].as_str().unwrap().to_string();
    let hosting = volume(&s, &hv);
    assert_eq!(hosting["size"], 100);
    assert_eq!(hosting["block"], true);
    assert_eq!(hosting["cluster"], cluster.as_str());
    assert_eq!(hosting["durability"]["type"], "replicate");
    assert_eq!(hosting["durability"]["replicate"]["replica"], 3);
    assert_eq!(hosting["glustervolumeoptions"], json!(["", "group gluster-block", ""]));
    assert_eq!(
        hosting["blockinfo"],
        json!({"freesize": 38, "reservedsize": 2, "blockvolume": [id_of(&first)]})
    );
    // The next one fits beside it; one that does not gets a second hosting volume.
    assert_eq!(create(&s, r#"{"size":30}"#)["blockhostingvolume"], hv.as_str());
    let third = create(&s, r#"{"size":40}"#);
    assert_ne!(third["blockhostingvolume"], hv.as_str());
    assert_eq!(s.get("/volumes").json()["volumes"].as_array().unwrap().len(), 2);
    s.assert_consistent();
}

#[test]
fn a_block_volume_needing_a_hosting_volume_waits_while_one_is_made() {
    let s = auto_create(100, "volume_create:1:delay:3000");
    s.topology(3, 2);
    let first = s.post("/blockvolumes", r#"{"size":10}"#);
    assert_eq!(first.status, 202);
    s.wait_for_fault("volume_create", 1);
    let busy = s.post("/blockvolumes", r#"{"size":10}"#);
    assert_error(&busy, 429, "Server busy. Retry operation later.");
    assert!(busy.header("retry-after").is_some());
    let done = s.wait(&first.location());
    assert_eq!(done.status, 303, "{done:?}");
    // Made: the next one goes on it.
    let second = create(&s, r#"{"size":10}"#);
    assert_eq!(
        second["blockhostingvolume"],
        s.get(&done.location()).json()["blockhostingvolume"]
    );
    s.assert_consistent();
}

/// Starts a server with `faults`, a cluster and (unless `auto`) a hosting
/// volume; sends `request`, waits for `fault` to fire, kills the server,
/// restarts it and returns the final answer.
fn kill_during(
    faults: &str,
    auto: bool,
    setup: impl Fn(&Server) -> String,
    request: impl Fn(&Server, &str) -> Reply,
) -> (Server, String, Reply) {
    let mut s = if auto {
        auto_create(100, faults)
    } else {
        Server::with(Options {
            env: vec![("BRICKYARD_MOCK_FAULTS".into(), faults.into())],
            ..Options::default()
        })
    };
    s.topology(3, 2);
    let context = setup(&s);
    let accepted = request(&s, &context);
    assert_eq!(accepted.status, 202, "{accepted:?}");
    s.wait_for_fault(faults.split(':').next().unwrap(), 1);
    assert_eq!(
        s.get(&accepted.location()).header("x-pending"),
        Some("true"),
        "{faults}: still running when killed"
    );
    s.kill9();
    s.restart_with_env(vec![]);
    let outcome = s.wait(&accepted.location());
    s.assert_consistent();
    (s, context, outcome)
}

fn rolled_back(reply: &Reply) -> bool {
    reply.status == 500 && reply.body.contains("interrupted by restart, rolled back")
}

#[test]
fn a_create_killed_at_any_step_leaves_nothing_behind() {
    for faults in [
        "brick_create:2:delay:4000",
        "volume_create:1:delay:4000",
        "volume_create:1:stall:4000",
        "block_create:1:delay:4000",
        "block_create:1:stall:4000",
    ] {
        let (s, _, outcome) = kill_during(
            faults,
            true,
            |_| String::new(),
            |s, _| s.post("/blockvolumes", r#"{"size":10}"#),
        );
        assert!(rolled_back(&outcome), "{faults}: {outcome:?}");
        assert!(
            s.get("/volumes").json()["volumes"].as_array().unwrap().is_empty(),
            "{faults}"
        );
        assert!(s.mock_lvs().is_empty(), "{faults}: {:?}", s.mock_lvs());
        assert!(blocks(&s).is_empty(), "{faults}");
        assert_eq!(s.get("/blockvolumes").json(), json!({"blockvolumes": []}));
    }
    // On an existing hosting volume: its free size comes back.
    let (s, hv, outcome) = kill_during(
        "block_create:1:stall:4000",
        false,
        |s| id_of(&s.create_volume(HOSTING)),
        |s, _| s.post("/blockvolumes", r#"{"size":10}"#),
    );
    assert!(rolled_back(&outcome), "{outcome:?}");
    assert_eq!(volume(&s, &hv)["blockinfo"], json!({"freesize": 98, "reservedsize": 2}));
    assert!(blocks(&s).is_empty());
}

#[test]
fn a_delete_killed_at_any_step_is_finished() {
    for faults in ["block_delete:1:delay:4000", "block_delete:1:stall:4000"] {
        let (s, hv, outcome) = kill_during(
            faults,
            false,
            |s| {
                let hv = id_of(&s.create_volume(HOSTING));
                create(s, r#"{"size":10,"name":"doomed"}"#);
                hv
            },
            |s, _| {
                let id = s.get("/blockvolumes").json()["blockvolumes"][0]
                    .as_str()
                    .unwrap()
                    .to_string();
                s.delete(&format!("/blockvolumes/{id}"))
            },
        );
        assert_eq!(outcome.status, 204, "{faults}: {outcome:?}");
        assert_eq!(s.get("/blockvolumes").json(), json!({"blockvolumes": []}));
        assert_eq!(volume(&s, &hv)["blockinfo"], json!({"freesize": 98, "reservedsize": 2}));
        assert!(blocks(&s).is_empty(), "{faults}");
    }
}

#[test]
fn an_expand_killed_is_settled_from_gluster_blocks_size() {
    let setup = |s: &Server| {
        let hv = id_of(&s.create_volume(HOSTING));
        create(s, r#"{"size":10,"name":"grow"}"#);
        hv
    };
    let expand = |s: &Server, _: &str| {
        let id = s.get("/blockvolumes").json()["blockvolumes"][0]
            .as_str()
            .unwrap()
            .to_string();
        s.post(&format!("/blockvolumes/{id}/expand"), r#"{"new_size":15}"#)
    };
    // Killed before the resize: given back.
    let (s, hv, outcome) = kill_during("block_expand:1:delay:4000", false, setup, expand);
    assert!(rolled_back(&outcome), "{outcome:?}");
    let id = s.get("/blockvolumes").json()["blockvolumes"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s.get(&format!("/blockvolumes/{id}")).json()["size"], 10);
    assert_eq!(volume(&s, &hv)["blockinfo"]["freesize"], 88);
    // Killed after it: kept.
    let (s, hv, _) = kill_during("block_expand:1:stall:4000", false, setup, expand);
    let id = s.get("/blockvolumes").json()["blockvolumes"][0]
        .as_str()
        .unwrap()
        .to_string();
    let grown = s.get(&format!("/blockvolumes/{id}")).json();
    assert_eq!(
        (grown["size"].clone(), grown["usablesize"].clone()),
        (json!(15), json!(15))
    );
    assert_eq!(volume(&s, &hv)["blockinfo"]["freesize"], 83);
    let name = volume(&s, &hv)["name"].as_str().unwrap().to_string();
    assert_eq!(blocks(&s)[&format!("{name}/grow")]["size_gib"], 15);
}

#[test]
fn a_modify_whose_answer_is_lost_keeps_the_new_size() {
    let (s, hv) = with_hosting("block_expand:1:lose:connection reset");
    let id = id_of(&create(&s, r#"{"size":10}"#));
    let done = s.finish(s.post(&format!("/blockvolumes/{id}/expand"), r#"{"new_size":12}"#));
    // Heketi's rollback reports the failure but keeps what gluster-block did.
    assert_eq!((done.status, done.body.as_str()), (500, "connection reset\n"));
    assert_eq!(s.get(&format!("/blockvolumes/{id}")).json()["size"], 12);
    assert_eq!(volume(&s, &hv)["blockinfo"]["freesize"], 86);
    s.assert_consistent();
}

#[test]
fn heketi_cli_blockvolume_commands() {
    let s = Server::with(Options {
        auth: true,
        ..Options::default()
    });
    s.topology(3, 2);
    let hv = id_of(&s.create_volume(HOSTING));
    let cli = Cli::new();
    let out = cli.ok(
        &s,
        &["blockvolume", "create", "--size=3", "--name=cli0", "--ha=2", "--auth"],
    );
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("Volume Id: "))
        .unwrap()
        .to_string();
    let b = s.get(&format!("/blockvolumes/{id}")).json();
    let t = &b["blockvolume"];
    let hosts: Vec<&str> = t["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    let cluster = b["cluster"].as_str().unwrap();
    assert_eq!(
        out,
        format!(
            "Name: cli0\nSize: 3\nUsableSize: 3\nVolume Id: {id}\nCluster Id: {cluster}\nHosts: [{}]\nIQN: {}\nLUN: 0\nHacount: 2\nUsername: {}\nPassword: {}\nBlock Hosting Volume: {hv}\n",
            hosts.join(" "),
            t["iqn"].as_str().unwrap(),
            t["username"].as_str().unwrap(),
            t["password"].as_str().unwrap()
        )
    );
    assert_eq!(cli.ok(&s, &["blockvolume", "info", &id]), out);
    let json: Value = serde_json::from_str(&cli.ok(&s, &["blockvolume", "info", &id, "--json"])).unwrap();
    assert_eq!(json, b);
    assert_eq!(
        cli.ok(&s, &["blockvolume", "list"]),
        format!("Id:{id:<35} Cluster:{cluster:<35} Name:cli0\n")
    );
    let listed = cli.ok(&s, &["blockvolume", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&listed).unwrap(),
        json!({"blockvolumes": [id]})
    );
    let grown: Value =
        serde_json::from_str(&cli.ok(&s, &["blockvolume", "expand", &id, "--new-size=4", "--json"])).unwrap();
    assert_eq!(
        (grown["size"].clone(), grown["usablesize"].clone()),
        (json!(4), json!(4))
    );
    let refused = cli.run(&s, &["blockvolume", "expand", "--blockvolume", &id, "--new-size=4"]);
    assert!(!refused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "Error: Failed to allocate block volume expansion: Requested new-size 4 is same as current block volume size 4, nothing to be done.\n"
    );
    assert_eq!(
        cli.ok(&s, &["blockvolume", "delete", &id]),
        format!("Volume {id} deleted\n")
    );
    assert_eq!(cli.ok(&s, &["blockvolume", "list"]), "");
    s.assert_consistent();
}

/// A store imported from Heketi's export, its hosting volume's books
/// changed by `edit`; a server on it.
fn imported(edit: impl Fn(&mut Value)) -> Server {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/heketi-export/full.json");
    let mut export: Value = serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    edit(&mut export["volumeentries"][IMPORTED_HOSTING]["Info"]["blockinfo"]);
    let dir = tempfile::tempdir().unwrap();
    let json_file = dir.path().join("export.json");
    std::fs::write(&json_file, export.to_string()).unwrap();
    let store = dir.path().join("store");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args([
            "db",
            "import",
            "--jsonfile",
            json_file.to_str().unwrap(),
            "--dbfile",
            store.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Server::with(Options {
        seed_store: Some(store),
        ..Options::default()
    })
}

const IMPORTED_HOSTING: &str = "63fcafeea7a602ce336e3c7547c2a149";
const IMPORTED_BLOCK: &str = "5a1596cdfddbccfa153255f4346f859c";

#[test]
fn unlocking_a_hosting_volume_locked_by_heketis_upgrade_takes_its_reserve() {
    let s = imported(|books| {
        *books = json!({"freesize": 90, "reservedsize": 0, "restriction": "locked-by-update", "blockvolume": [IMPORTED_BLOCK]});
    });
    let unlock = |s: &Server| {
        s.post(
            &format!("/volumes/{IMPORTED_HOSTING}/block-restriction"),
            r#"{"restriction":""}"#,
        )
    };
    assert_eq!(s.finish(unlock(&s)).status, 303);
    assert_eq!(
        volume(&s, IMPORTED_HOSTING)["blockinfo"],
        json!({"freesize": 88, "reservedsize": 2, "blockvolume": [IMPORTED_BLOCK]})
    );
    let short = imported(|books| {
        *books = json!({"freesize": 1, "reservedsize": 0, "restriction": "locked-by-update", "blockvolume": [IMPORTED_BLOCK]});
    });
    assert_error(
        &unlock(&short),
        500,
        "Failed to set block restriction: Can not unlock volume. 2GiB free space is required, but found 1GiB",
    );
    assert_eq!(
        volume(&short, IMPORTED_HOSTING)["blockinfo"]["restriction"],
        "locked-by-update"
    );
}

#[test]
fn an_imported_block_volume_can_be_deleted() {
    let s = imported(|_| {});
    assert_eq!(s.get(&format!("/blockvolumes/{IMPORTED_BLOCK}")).json()["size"], 10);
    let done = s.finish(s.delete(&format!("/blockvolumes/{IMPORTED_BLOCK}")));
    assert_eq!(done.status, 204, "{done:?}");
    assert_eq!(
        volume(&s, IMPORTED_HOSTING)["blockinfo"],
        json!({"freesize": 98, "reservedsize": 2})
    );
    assert_eq!(s.get("/blockvolumes").json(), json!({"blockvolumes": []}));
    s.assert_store_consistent();
}
