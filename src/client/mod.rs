//! The client of Heketi's API that the CLI (and any other Brickyard
//! client) uses: a fresh JWT per request (with `qsh`), the async protocol
//! (poll `/queue/<id>` every 400 ms, follow the 303 with a new token), and
//! retries of `429 Server busy`, as heketi-cli's client does. Errors read
//! as heketi-cli's do.

mod many;

use std::time::Duration;

use rand::Rng;
use reqwest::blocking::{Client as Http, Response};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a call failed; the text is what heketi-cli prints after `Error: `.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("failed to read cert file {file}: {source}")]
    CertFile {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to load PEM encoded cert from {0}")]
    CertPem(String),
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Token(#[from] jsonwebtoken::errors::Error),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// The server's answer: its status and its own message (or, without
    /// one, the status's words).
    #[error("{message}")]
    Server { status: u16, message: String },
    /// Go's client's words for a refused connection, which scripts match.
    #[error("{verb} \"{url}\": dial tcp {host}: connect: connection refused")]
    Refused { verb: String, url: String, host: String },
    #[error("{verb} \"{url}\": {source}")]
    Transport {
        verb: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("server answered without a Location header")]
    NoLocation,
    #[error("cannot start the client's runtime: {source}")]
    Runtime {
        #[source]
        source: std::io::Error,
    },
}

const POLL_DELAY: Duration = Duration::from_millis(400);
const RETRIES: usize = 6;

/// A progress line on stderr while the server works, only for a person at
/// a terminal: scripted output stays byte for byte heketi-cli's.
struct Progress {
    shown: std::cell::Cell<bool>,
    enabled: bool,
}

impl Progress {
    fn new() -> Progress {
        use std::io::IsTerminal;
        Progress {
            shown: std::cell::Cell::new(false),
            enabled: std::io::stdout().is_terminal() && std::io::stderr().is_terminal(),
        }
    }

    fn tick(&self) {
        if self.enabled {
            if !self.shown.replace(true) {
                eprint!("waiting for the server ");
            }
            eprint!(".");
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.shown.get() {
            // Clear the progress line.
            eprint!("\r\x1b[K");
        }
    }
}

pub struct Client {
    base: String,
    user: String,
    key: String,
    http: Http,
    /// What the blocking client trusts, for the asynchronous one that
    /// `get_json_many` makes.
    insecure: bool,
    certs: Vec<reqwest::Certificate>,
    /// `get_json_many`'s runtime and client, made on its first call (a
    /// client's connections belong to the runtime that made them). Only
    /// the CLI calls it, outside any runtime, where dropping one is safe.
    many: std::sync::OnceLock<(tokio::runtime::Runtime, reqwest::Client)>,
    /// The queue is polled first after `poll_first`, then at doubling
    /// delays up to `poll_delay` (heketi-cli: 400 ms throughout).
    poll_first: Duration,
    poll_delay: Duration,
}

/// The error text Heketi's client makes of a failed response.
fn error_of(resp: Response) -> ClientError {
    let status = resp.status();
    server_error(status, &resp.text().unwrap_or_default())
}

/// The error of a failed answer: its status and (the start of) its text.
fn server_error(status: StatusCode, body: &str) -> ClientError {
    let text: String = body.chars().take(4096).collect();
    let text = text.trim();
    ClientError::Server {
        status: status.as_u16(),
        message: if text.is_empty() {
            format!(
                "server did not provide a message (status {}: {})",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
        } else {
            text.to_string()
        },
    }
}

impl Client {
    /// `insecure` skips certificate checks; `certs` are PEM files of
    /// certificates to trust (heketi-cli's `--insecure-tls`, `--tls-cert`).
    pub fn new(server: &str, user: &str, key: &str, insecure: bool, certs: &[String]) -> Result<Client, ClientError> {
        let mut trusted = Vec::new();
        for file in certs.iter().flat_map(|c| c.split(',')).filter(|c| !c.is_empty()) {
            let pem = std::fs::read(file).map_err(|source| ClientError::CertFile {
                file: file.to_string(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| ClientError::CertPem(file.to_string()))?;
            trusted.extend(certs);
        }
        let mut builder = Http::builder()
            .redirect(reqwest::redirect::Policy::none())
            .use_rustls_tls()
            .danger_accept_invalid_certs(insecure);
        for cert in &trusted {
            builder = builder.add_root_certificate(cert.clone());
        }
        let http = builder.build()?;
        let poll_delay = std::env::var("BRICKYARD_CLI_POLL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(POLL_DELAY);
        Ok(Client {
            base: server.trim_end_matches('/').to_string(),
            user: user.to_string(),
            key: key.to_string(),
            http,
            insecure,
            certs: trusted,
            many: std::sync::OnceLock::new(),
            poll_first: poll_delay,
            poll_delay,
        })
    }

    /// Polls the queue sooner: first after `first`, doubling up to `max`
    /// (the CSI driver, whose callers wait on every create).
    #[must_use]
    pub fn polling(mut self, first: Duration, max: Duration) -> Client {
        self.poll_first = first;
        self.poll_delay = max.max(first);
        self
    }

    fn token(&self, method: &Method, path: &str) -> Result<String, ClientError> {
        let now = crate::clock::now_secs() as i64;
        let claims = serde_json::json!({
            "iss": self.user,
            "iat": now,
            "exp": now + 300,
            // The path alone, as Heketi's client signs it and servers check it.
            "qsh": crate::wire::qsh::qsh(method.as_str(), path.split_once('?').map_or(path, |(p, _)| p)),
        });
        Ok(jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(self.key.as_bytes()),
        )?)
    }

    /// The `Authorization` header of one request.
    fn authorization(&self, method: &Method, path: &str) -> Result<String, ClientError> {
        Ok(format!("bearer {}", self.token(method, path)?))
    }

    /// One request, signed, retried on 429 as Heketi's client does.
    fn send(&self, method: Method, path: &str, body: Option<&[u8]>) -> Result<Response, ClientError> {
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header("Authorization", self.authorization(&method, path)?);
            if let Some(b) = body {
                req = req.header("Content-Type", "application/json").body(b.to_vec());
            }
            let resp = req.send().map_err(|e| transport_error(&method, &self.base, path, e))?;
            if resp.status() != StatusCode::TOO_MANY_REQUESTS || attempt >= RETRIES {
                return Ok(resp);
            }
            attempt += 1;
            std::thread::sleep(retry_delay(resp.headers()));
        }
    }

    /// Follows a 202 to its final answer, and a 303 to its resource.
    fn settle(&self, resp: Response) -> Result<Response, ClientError> {
        if resp.status() != StatusCode::ACCEPTED {
            return Ok(resp);
        }
        let location = location_of(&resp)?;
        let progress = Progress::new();
        let mut delay = self.poll_first;
        loop {
            let r = self.send(Method::GET, &location, None)?;
            if r.headers().get("x-pending").and_then(|v| v.to_str().ok()) == Some("true") {
                if r.status() != StatusCode::OK {
                    return Err(error_of(r));
                }
                progress.tick();
                std::thread::sleep(delay);
                delay = (delay * 2).min(self.poll_delay);
                continue;
            }
            if r.status() == StatusCode::SEE_OTHER {
                let target = location_of(&r)?;
                return self.send(Method::GET, &target, None);
            }
            return Ok(r);
        }
    }

    /// A call that must end in `expect`; returns the final response.
    pub fn call<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        expect: StatusCode,
    ) -> Result<Response, ClientError> {
        let bytes = match body {
            Some(b) => Some(serde_json::to_vec(b)?),
            None => None,
        };
        let resp = self.send(method, path, bytes.as_deref())?;
        let resp = self.settle(resp)?;
        if resp.status() != expect {
            return Err(error_of(resp));
        }
        Ok(resp)
    }

    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Ok(self.call::<()>(Method::GET, path, None, StatusCode::OK)?.json()?)
    }

    pub fn get_text(&self, path: &str) -> Result<String, ClientError> {
        Ok(self.call::<()>(Method::GET, path, None, StatusCode::OK)?.text()?)
    }
}

pub fn location_of(resp: &Response) -> Result<String, ClientError> {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or(ClientError::NoLocation)
}

/// A failed connection in the words of Go's HTTP client, which scripts see
/// from heketi-cli: `Get "http://host:8080/clusters": dial tcp host:8080:
/// connect: connection refused`.
fn transport_error(method: &Method, base: &str, path: &str, e: reqwest::Error) -> ClientError {
    let verb = {
        let m = method.as_str().to_ascii_lowercase();
        let mut c = m.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    let url = format!("{base}{path}");
    if e.is_connect() {
        let host = base.split("://").nth(1).unwrap_or(base).trim_end_matches('/');
        return ClientError::Refused {
            verb,
            url,
            host: host.to_string(),
        };
    }
    ClientError::Transport { verb, url, source: e }
}

/// `Retry-After` seconds plus 0–9 s, else a random 10–29 s.
fn retry_delay(headers: &reqwest::header::HeaderMap) -> Duration {
    let mut rng = rand::thread_rng();
    match headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(secs) => Duration::from_secs(secs + rng.gen_range(0..10)),
        None => Duration::from_secs(rng.gen_range(10..30)),
    }
}
