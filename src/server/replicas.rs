//! Several servers on one etcd store: one leads and acts, the others
//! follow. The leader holds `<prefix>/.leader` on a lease it renews; only
//! it builds the executor and engine, recovers the journal, cleans and
//! backs up, and every write it makes is fenced by that key. A follower
//! answers `/hello`, `/ready` and `/metrics` itself and forwards every
//! other request to the leader's advertised URL, or answers `503` with
//! `Retry-After` while nobody leads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;

use crate::store::backend::etcd::{EtcdBackend, Fence};

/// Largest request body a follower forwards (the leader applies its own limit).
const FORWARD_BODY_LIMIT: usize = 16 << 20;
/// How long a forwarded request may take (a create's accept is quick; the
/// queue is polled, not waited on), and to reach the leader.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
const FORWARD_CONNECT: Duration = Duration::from_secs(2);
/// How often a follower asks for the leadership.
const CAMPAIGN_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Following; the leader's advertised URL when one leads.
    Follower {
        leader: Option<String>,
    },
    Leader,
}

/// This replica's part, as the dispatcher and the metrics read it.
pub struct Replicas {
    role: tokio::sync::watch::Sender<Role>,
    /// Times this replica became leader.
    changes: AtomicU64,
    advertise: String,
    forward: reqwest::Client,
}

impl Replicas {
    pub fn new(advertise: String) -> anyhow::Result<Arc<Replicas>> {
        let forward = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FORWARD_TIMEOUT)
            .connect_timeout(FORWARD_CONNECT)
            .build()?;
        Ok(Arc::new(Replicas {
            role: tokio::sync::watch::Sender::new(Role::Follower { leader: None }),
            changes: AtomicU64::new(0),
            advertise,
            forward,
        }))
    }

    /// This replica's role. A leader key naming this replica's own URL
    /// is a predecessor's (a restart on the same address) whose lease has
    /// not lapsed yet: nobody leads, as far as forwarding goes.
    fn role(&self) -> Role {
        match &*self.role.borrow() {
            Role::Follower { leader: Some(url) } if *url == self.advertise => Role::Follower { leader: None },
            role => role.clone(),
        }
    }
}

/// Campaigns until this replica leads, then calls `lead` with the fence
/// (which must build and start the acting server) and keeps the lease. A
/// lease that cannot be renewed before it lapses ends the process: another
/// replica may lead by then, and the fence already refuses every write.
pub async fn campaign<F, Fut>(election: Arc<EtcdBackend>, replicas: Arc<Replicas>, lease_seconds: u64, lead: F)
where
    F: FnOnce(Fence) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let fence = loop {
        let (e, advertise) = (election.clone(), replicas.advertise.clone());
        let attempt = tokio::task::spawn_blocking(move || e.try_lead(advertise.as_bytes(), lease_seconds as i64)).await;
        match attempt {
            Ok(Ok(Some(fence))) => break fence,
            Ok(Ok(None)) => {
                let e = election.clone();
                let leader = tokio::task::spawn_blocking(move || e.leader())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten()
                    .map(|l| String::from_utf8_lossy(&l.value).into_owned());
                replicas.role.send_if_modified(|role| {
                    let next = Role::Follower { leader };
                    let changed = *role != next;
                    *role = next;
                    changed
                });
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot reach the store for the leader election");
                replicas.role.send_replace(Role::Follower { leader: None });
            }
            Err(e) => tracing::warn!(error = %e, "the election task failed"),
        }
        tokio::time::sleep(CAMPAIGN_EVERY).await;
    };
    election.set_fence(Some(fence.clone()));
    replicas.changes.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(advertise = %replicas.advertise, "this replica leads: recovering the journal and serving");
    if let Err(e) = lead(fence.clone()).await {
        tracing::error!(error = %e, "cannot start acting as the leader; giving the leadership up");
        let _ = tokio::task::spawn_blocking(move || election.resign(&fence)).await;
        std::process::exit(3);
    }
    replicas.role.send_replace(Role::Leader);
    keep_lease(election, fence, lease_seconds).await;
}

/// Renews the lease a third of its length apart; exits the process once
/// the lease may have lapsed without a renewal.
async fn keep_lease(election: Arc<EtcdBackend>, fence: Fence, lease_seconds: u64) {
    let lease = Duration::from_secs(lease_seconds);
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(lease / 3).await;
        let asked = Instant::now();
        let (e, f) = (election.clone(), fence.clone());
        let answer = tokio::task::spawn_blocking(move || e.renew(&f)).await;
        match answer {
            Ok(Ok(true)) if asked.duration_since(renewed) < lease => renewed = asked,
            Ok(Ok(true)) => lost("the lease lapsed before it was renewed (was the process paused?)"),
            Ok(Ok(false)) => lost("the lease has lapsed"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot renew the leader's lease");
                if asked.duration_since(renewed) >= lease {
                    lost("the lease could not be renewed in time");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the lease renewal task failed"),
        }
    }
}

fn lost(why: &str) -> ! {
    tracing::error!("this replica lost the leadership ({why}); stopping, to come back as a follower");
    eprintln!("brickyard: lost the leadership ({why}); stopping");
    std::process::exit(3);
}

/// The router a replica serves: the acting server's once it leads, else
/// the follower's answers.
pub fn dispatcher(replicas: Arc<Replicas>, acting: tokio::sync::watch::Receiver<Option<Router>>) -> Router {
    Router::new().fallback(move |req: Request| {
        let (replicas, acting) = (replicas.clone(), acting.clone());
        async move { dispatch(&replicas, &acting, req).await }
    })
}

async fn dispatch(
    replicas: &Replicas,
    acting: &tokio::sync::watch::Receiver<Option<Router>>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_string();
    if path == "/ready" {
        return ready(replicas).await;
    }
    let router = acting.borrow().clone();
    if let Some(router) = router {
        let Ok(resp) = router.oneshot(req).await;
        if path == "/metrics" {
            return with_leader_metrics(resp, replicas, true).await;
        }
        return resp;
    }
    match path.as_str() {
        "/hello" => text(StatusCode::OK, "Hello from Heketi"),
        "/metrics" => with_leader_metrics(text(StatusCode::OK, ""), replicas, false).await,
        _ => match replicas.role() {
            Role::Follower { leader: Some(leader) } => forward(replicas, &leader, req).await,
            _ => no_leader(),
        },
    }
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    resp
}

fn no_leader() -> Response {
    let mut resp = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "No Brickyard replica leads the store yet; retry shortly\n",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    resp
}

/// Whether this replica can serve: it leads, or it follows a leader that
/// answers.
async fn ready(replicas: &Replicas) -> Response {
    match replicas.role() {
        Role::Leader => text(StatusCode::OK, "leader\n"),
        Role::Follower { leader: Some(leader) } => {
            let hello = replicas
                .forward
                .get(format!("{leader}/hello"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            match hello {
                Ok(r) if r.status().is_success() => text(StatusCode::OK, &format!("follower of {leader}\n")),
                _ => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("follower; the leader {leader} does not answer\n"),
                ),
            }
        }
        Role::Follower { leader: None } => text(StatusCode::SERVICE_UNAVAILABLE, "follower; no leader yet\n"),
    }
}

/// Adds `brickyard_leader` and `brickyard_leader_changes_total` to a
/// metrics page.
async fn with_leader_metrics(resp: Response, replicas: &Replicas, leads: bool) -> Response {
    let (parts, body) = resp.into_parts();
    let mut page = axum::body::to_bytes(body, FORWARD_BODY_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    page.push_str(&format!(
        "# HELP brickyard_leader Whether this replica leads the store (1) or follows (0)\n\
         # TYPE brickyard_leader gauge\n\
         brickyard_leader {}\n\
         # HELP brickyard_leader_changes_total Times this replica became the leader\n\
         # TYPE brickyard_leader_changes_total counter\n\
         brickyard_leader_changes_total {}\n",
        u8::from(leads),
        replicas.changes.load(Ordering::Relaxed)
    ));
    let mut resp = Response::from_parts(parts, Body::from(page));
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp
}

/// Hop-by-hop headers, which a proxy does not pass on.
fn hop_by_hop(name: &header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "upgrade" | "host" | "content-length"
    )
}

/// Sends `req` to the leader and relays its answer as it came.
async fn forward(replicas: &Replicas, leader: &str, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, FORWARD_BODY_LIMIT).await else {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    };
    let target = format!(
        "{leader}{}",
        parts
            .uri
            .path_and_query()
            .map(axum::http::uri::PathAndQuery::as_str)
            .unwrap_or("/")
    );
    let mut out = replicas.forward.request(parts.method, target).body(body);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            out = out.header(name, value);
        }
    }
    match out.send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let body = answer.bytes().await.unwrap_or_default();
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = status;
            for (name, value) in &headers {
                if !hop_by_hop(name) {
                    resp.headers_mut().append(name, value.clone());
                }
            }
            resp
        }
        Err(e) => {
            tracing::warn!(error = %e, leader, "cannot forward to the leader");
            no_leader()
        }
    }
}
