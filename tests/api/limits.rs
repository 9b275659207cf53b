//! Limits against hostile clients: bodies past the cap, idle and half-sent
//! connections, silent TLS clients, lenient JSON, over-long values and
//! `HEAD`. Each test sends what an attacker would and checks that the
//! server refuses it and keeps serving everyone else.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::{Options, Server, USER_KEY};

fn connect(s: &Server) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", s.port())).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream
}

/// Reads an HTTP response head and as much body as arrives at once.
fn read_reply(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&out);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(str::to_string)
                        })
                        .and_then(|v| v.trim().parse::<usize>().ok());
                    if length.is_some_and(|n| body.len() >= n) {
                        break;
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => break,
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_body_past_the_limit_is_refused_before_it_is_read() {
    let mut s = Server::with(Options {
        auth: true,
        ..Options::default()
    });
    // A client with only the user key may create volumes: the cap applies to it.
    s.issuer = Some(("user", USER_KEY));
    let token = crate::harness::token("user", USER_KEY, "POST", "/volumes");
    // 200 MB announced, none of it sent: the answer comes anyway.
    let mut stream = connect(&s);
    write!(
        stream,
        "POST /volumes HTTP/1.1\r\nHost: x\r\nAuthorization: bearer {token}\r\nContent-Length: 209715200\r\n\r\n"
    )
    .unwrap();
    let reply = read_reply(&mut stream);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(
        reply.ends_with("request body too large: the limit is 1048576 bytes\n"),
        "{reply}"
    );
    // A chunked body (no length announced) is cut off at the limit.
    let mut stream = connect(&s);
    write!(
        stream,
        "POST /volumes HTTP/1.1\r\nHost: x\r\nAuthorization: bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..20 {
        if write!(stream, "{:x}\r\n", chunk.len()).is_err()
            || stream.write_all(&chunk).is_err()
            || stream.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let reply = read_reply(&mut stream);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    // Nothing was made, and normal requests still work.
    assert_eq!(s.get("/volumes").status, 200);
    assert_eq!(s.post("/volumes", r#"{"size":1}"#).status, 400, "no clusters yet");
}

#[test]
fn the_body_limit_is_configurable() {
    let s = Server::with(Options {
        env: vec![("BRICKYARD_MAX_BODY_BYTES".into(), "100".into())],
        ..Options::default()
    });
    let padded = format!(r#"{{"file":true,"block":true,"pad":"{}"}}"#, "x".repeat(100));
    let refused = s.post("/clusters", &padded);
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (413, "request body too large: the limit is 100 bytes\n")
    );
    assert_eq!(s.get("/clusters").json()["clusters"], serde_json::json!([]));
    assert_eq!(s.post("/clusters", r#"{"file":true}"#).status, 201);
}

#[test]
fn idle_and_half_sent_connections_do_not_lock_out_other_clients() {
    let s = Server::start();
    let mut held = Vec::new();
    for i in 0..1000 {
        let mut stream = connect(&s);
        if i % 2 == 1 {
            stream
                .write_all(b"POST /clusters HTTP/1.1\r\nHost: x\r\nContent-Le")
                .unwrap();
        }
        held.push(stream);
    }
    // With all of them open, a normal client is served.
    for _ in 0..5 {
        assert_eq!(s.post("/clusters", "{}").status, 201);
    }
    assert_eq!(s.get("/clusters").json()["clusters"].as_array().unwrap().len(), 5);
    drop(held);
}

#[test]
fn silent_connections_are_closed_after_the_header_timeout_and_free_their_slots() {
    let s = Server::with(Options {
        env: vec![
            ("BRICKYARD_MAX_CONNECTIONS".into(), "20".into()),
            ("BRICKYARD_HEADER_TIMEOUT_SECS".into(), "1".into()),
        ],
        ..Options::default()
    });
    // Every slot taken by a client that never finishes its headers.
    let mut silent: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut c = connect(&s);
            c.write_all(b"GET /clusters HTTP/1.1\r\n").unwrap();
            c
        })
        .collect();
    // The next client waits for a slot, which the timeout frees.
    assert_eq!(s.get("/clusters").status, 200);
    // The server hung up on the silent ones (end of stream, or a reset).
    for c in &mut silent {
        let mut byte = [0u8; 1];
        let closed = match c.read(&mut byte) {
            Ok(n) => n == 0 || String::from_utf8_lossy(&byte).starts_with('H'),
            Err(e) => e.kind() != ErrorKind::WouldBlock && e.kind() != ErrorKind::TimedOut,
        };
        assert!(closed, "a silent connection was left open");
    }
}

#[test]
fn a_trickled_body_is_given_up_on_after_the_header_timeout() {
    let s = Server::with(Options {
        env: vec![
            ("BRICKYARD_MAX_CONNECTIONS".into(), "1".into()),
            ("BRICKYARD_HEADER_TIMEOUT_SECS".into(), "1".into()),
        ],
        ..Options::default()
    });
    // Headers in full, then one byte of the hundred announced, then nothing:
    // the only connection slot is taken.
    let mut slow = connect(&s);
    slow.write_all(b"POST /clusters HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    let reply = read_reply(&mut slow);
    assert!(reply.starts_with("HTTP/1.1 422"), "{reply}");
    drop(slow);
    // The slot is free again: another client is served.
    assert_eq!(s.get("/clusters").status, 200);
    assert_eq!(s.get("/clusters").json()["clusters"], serde_json::json!([]));
}

#[test]
fn a_silent_tls_client_stalls_nobody() {
    let s = Server::with(Options {
        tls: true,
        ..Options::default()
    });
    // Connects and never says hello.
    let mut silent = connect(&s);
    silent.set_nonblocking(true).unwrap();
    for _ in 0..3 {
        assert_eq!(s.get("/hello").body, "Hello from Heketi");
    }
    // The others were served while the silent handshake was still pending:
    // its connection is open, not yet timed out by the server.
    let mut byte = [0u8; 1];
    match silent.read(&mut byte) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the silent connection should still be waiting, got {other:?}"),
    }
}

#[test]
fn json_that_go_refuses_is_refused() {
    let s = Server::start();
    // An array in place of an object would fill the flags by position.
    let array = s.post("/clusters", "[true,true]");
    assert_eq!(
        (array.status, array.body.as_str()),
        (422, "request unable to be parsed\n")
    );
    // A repeated key, the first of the wrong type.
    let twice = s.post("/clusters", r#"{"file":"yes","file":true}"#);
    assert_eq!(twice.status, 422);
    assert_eq!(s.get("/clusters").json()["clusters"], serde_json::json!([]));
    let nested = s.post(
        "/nodes",
        r#"{"zone":1,"hostnames":[["node1"],["10.0.0.1"]],"cluster":"0123456789abcdef0123456789abcdef"}"#,
    );
    assert_eq!(nested.status, 422);
}

#[test]
fn over_long_values_are_refused_naming_the_field_and_the_limit() {
    let s = Server::start();
    let long = "v".repeat(500_000);
    let name = s.post("/volumes", &format!(r#"{{"size":1,"name":"{long}"}}"#));
    assert_eq!(
        (name.status, name.body.as_str()),
        (400, "validation failed: name: the length must be no more than 255.\n")
    );
    let options = s.post(
        "/volumes",
        &serde_json::json!({"size": 1, "glustervolumeoptions": [format!("performance.x {long}")]}).to_string(),
    );
    assert_eq!(
        (options.status, options.body.as_str()),
        (
            400,
            "validation failed: glustervolumeoptions: at most 256 options of at most 4096 characters each.\n"
        )
    );
    let clusters = s.post(
        "/volumes",
        &serde_json::json!({"size": 1, "clusters": [long.clone()]}).to_string(),
    );
    assert_eq!(clusters.status, 400);
    assert!(
        clusters.body.len() < 200,
        "the value is not echoed: {} bytes",
        clusters.body.len()
    );
    let clone = s.post(
        "/volumes/0123456789abcdef0123456789abcdef/clone",
        &format!(r#"{{"name":"{long}"}}"#),
    );
    assert_eq!(clone.status, 400);
    let node = s.post(
        "/nodes",
        &serde_json::json!({"zone": 1, "hostnames": {"manage": [long.clone()], "storage": ["10.0.0.1"]}, "cluster": long})
            .to_string(),
    );
    assert_eq!(node.status, 400);
    assert!(
        node.body.len() < 200,
        "the value is not echoed: {} bytes",
        node.body.len()
    );
}

#[test]
fn head_is_not_a_get() {
    // Heketi registers each route for its methods only.
    let s = Server::start();
    for path in ["/hello", "/clusters", "/volumes", "/metrics"] {
        let r = s.raw("HEAD", path, None, &[]);
        assert_eq!(r.status, 405, "{path}");
    }
    assert_eq!(s.raw("HEAD", "/nowhere", None, &[]).status, 404);
    assert_eq!(s.get("/clusters").status, 200);
}
