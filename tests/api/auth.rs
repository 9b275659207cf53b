use insta::assert_snapshot;
use serde_json::json;

use crate::harness::{now, qsh, sign, token, Options, Redactor, Server, ADMIN_KEY, USER_KEY};

fn server() -> Server {
    Server::with(Options {
        auth: true,
        ..Options::default()
    })
}

fn bearer(t: &str) -> String {
    format!("bearer {t}")
}

#[test]
fn tokens_are_checked_as_heketi_does() {
    let s = server();
    let mut r = Redactor::default();
    let get = |t: &str| s.anonymous("GET", "/clusters", None, &[("Authorization", &bearer(t))]);

    assert_snapshot!("auth_missing", r.reply(&s.anonymous("GET", "/clusters", None, &[])));
    assert_snapshot!(
        "auth_bad_header",
        r.reply(&s.anonymous("GET", "/clusters", None, &[("Authorization", "Token abc")]))
    );
    assert_eq!(
        s.anonymous("GET", "/clusters", None, &[("Authorization", "bearer a b")])
            .status,
        400
    );
    assert_snapshot!(
        "auth_wrong_secret",
        r.reply(&get(&token("admin", "not it", "GET", "/clusters")))
    );
    assert_snapshot!(
        "auth_wrong_qsh",
        r.reply(&get(&token("admin", ADMIN_KEY, "GET", "/nodes")))
    );
    let expired =
        json!({"iss": "admin", "iat": now() - 3600, "exp": now() - 65 - 3600, "qsh": qsh("GET", "/clusters")});
    let reply = get(&sign(&expired, ADMIN_KEY));
    assert_eq!(reply.status, 401);
    assert!(
        reply.body.starts_with("Invalid JWT token: Token is expired by 1h"),
        "{}",
        reply.body
    );
    let no_exp = json!({"iss": "admin", "qsh": qsh("GET", "/clusters")});
    assert!(get(&sign(&no_exp, ADMIN_KEY))
        .body
        .starts_with("Invalid JWT token: Token is expired by"));
    let future = json!({"iss": "admin", "iat": now() + 600, "exp": now() + 900, "qsh": qsh("GET", "/clusters")});
    assert_snapshot!("auth_iat_future", r.reply(&get(&sign(&future, ADMIN_KEY))));
    let nbf = json!({"iss": "admin", "nbf": now() + 600, "exp": now() + 900, "qsh": qsh("GET", "/clusters")});
    assert_eq!(
        get(&sign(&nbf, ADMIN_KEY)).body,
        "Invalid JWT token: token is not valid yet\n"
    );
    let no_iss = json!({"exp": now() + 60, "qsh": qsh("GET", "/clusters")});
    assert_eq!(
        get(&sign(&no_iss, ADMIN_KEY)).body,
        "Invalid JWT token: Token missing iss claim\n"
    );
    let stranger = json!({"iss": "root", "exp": now() + 60, "qsh": qsh("GET", "/clusters")});
    assert_eq!(
        get(&sign(&stranger, ADMIN_KEY)).body,
        "Invalid JWT token: Unknown user\n"
    );
    let float_exp = json!({"iss": "admin", "exp": (now() + 60) as f64 + 0.5, "qsh": qsh("GET", "/clusters")});
    assert_eq!(get(&sign(&float_exp, ADMIN_KEY)).status, 401);
    // alg "none" is refused.
    let none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        base64_url(&json!({"iss": "admin", "exp": now() + 60, "qsh": qsh("GET", "/clusters")}).to_string())
    );
    assert_eq!(get(&none).body, "Invalid JWT token: Unexpected signing method: none\n");
    assert_eq!(
        get("abc").body,
        "Invalid JWT token: token contains an invalid number of segments\n"
    );

    // The good token works; the scheme word is case-insensitive; the query string is not hashed.
    assert_eq!(get(&token("admin", ADMIN_KEY, "GET", "/clusters")).status, 200);
    let upper = s.anonymous(
        "GET",
        "/clusters",
        None,
        &[(
            "Authorization",
            &format!("Bearer {}", token("admin", ADMIN_KEY, "GET", "/clusters")),
        )],
    );
    assert_eq!(upper.status, 200);
    let with_query = s.anonymous(
        "GET",
        "/clusters?x=1",
        None,
        &[("Authorization", &bearer(&token("admin", ADMIN_KEY, "GET", "/clusters")))],
    );
    assert_eq!(with_query.status, 200);
    // The Python client's one-second token is accepted.
    let short = json!({"iss": "admin", "iat": now(), "exp": now() + 1, "qsh": qsh("GET", "/clusters")});
    assert_eq!(get(&sign(&short, ADMIN_KEY)).status, 200);
}

#[test]
fn user_tokens_reach_only_volumes() {
    let s = server();
    let mut r = Redactor::default();
    let user = |method: &str, path: &str| {
        s.anonymous(
            method,
            path,
            None,
            &[("Authorization", &bearer(&token("user", USER_KEY, method, path)))],
        )
    };
    assert_snapshot!("auth_user_on_admin_route", r.reply(&user("GET", "/clusters")));
    assert_eq!(
        user("GET", "/queue/0123456789abcdef0123456789abcdef").body,
        "Administrator access required\n"
    );
    // /volumes passes authentication (what answers after it is the volumes issue's business).
    assert_ne!(user("GET", "/volumes").status, 401);
    // A user token signed with the admin key is a bad signature.
    let forged = s.anonymous(
        "GET",
        "/volumes",
        None,
        &[("Authorization", &bearer(&token("user", ADMIN_KEY, "GET", "/volumes")))],
    );
    assert_eq!(forged.status, 401);
}

#[test]
fn open_routes_and_ordering() {
    let s = server();
    assert_eq!(s.anonymous("GET", "/hello", None, &[]).body, "Hello from Heketi");
    assert_eq!(
        s.anonymous("GET", "/hello", None, &[("Authorization", "garbage")])
            .status,
        200
    );
    assert_eq!(s.anonymous("GET", "/metrics", None, &[]).status, 200);
    // Only GET bypasses authentication.
    assert_eq!(s.anonymous("POST", "/hello", Some("{}"), &[]).status, 401);
    // Authentication runs before routing: unknown paths answer 401 without a token.
    assert_eq!(s.anonymous("GET", "/no/such/route", None, &[]).status, 401);
    // ... and before the admin mode: a read-only refusal needs a valid token first.
    assert_eq!(s.post("/admin", r#"{"state":"read-only"}"#).status, 204);
    assert_eq!(s.anonymous("POST", "/clusters", Some("{}"), &[]).status, 401);
    assert_eq!(s.post("/clusters", "{}").status, 503);
}

#[test]
fn missing_keys_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("heketi.json");
    std::fs::write(&config, r#"{"port":"0","glusterfs":{"executor":"mock","db":"x"}}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "ERROR: Missing JWT information in config file"
    );
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}
