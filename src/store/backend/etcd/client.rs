//! etcd's v3 API over gRPC: ranges, transactions, leases and
//! authentication, with one lazily connected channel per member. A call
//! that cannot reach a member moves on to the next; a call that may have
//! been applied (a transaction) is never repeated here, its caller decides.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::proto::etcdserverpb as pb;
use crate::config::store::EtcdConfig;

/// How long one request may take before the next member is tried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("no etcd member of {endpoints} answered ({last})")]
    Unreachable { endpoints: String, last: String },
    #[error("etcd refused {what}: {message} ({code:?})")]
    Refused {
        what: &'static str,
        code: tonic::Code,
        message: String,
    },
    #[error("cannot set up the etcd client: {0}")]
    Setup(String),
    #[error("the etcd transaction has {ops} operations, more than etcd's limit of {limit} (its --max-txn-ops)")]
    TooLarge { ops: usize, limit: usize },
    #[error("this server is no longer the leader: its writes are fenced off")]
    Fenced,
    #[error("etcd answered without {0}")]
    Malformed(&'static str),
}

impl EtcdError {
    /// Whether the store is out of reach (as opposed to refusing).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, EtcdError::Unreachable { .. })
    }
}

/// Whether a status means "this member cannot serve now, ask another".
fn try_elsewhere(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown | tonic::Code::Cancelled
    )
}

pub struct Client {
    channels: Vec<Channel>,
    endpoints: String,
    /// The member that answered last; calls start there.
    current: AtomicUsize,
    user: Option<(String, String)>,
    token: tokio::sync::RwLock<Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>>,
}

/// Whether a call may be sent again after an answer was lost.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Safe,
    Once,
}

impl Client {
    pub fn new(config: &EtcdConfig) -> Result<Client, EtcdError> {
        let tls = match &config.tls {
            None => None,
            Some(tls) => {
                let read = |p: &std::path::Path| {
                    std::fs::read(p).map_err(|e| EtcdError::Setup(format!("cannot read {}: {e}", p.display())))
                };
                let mut t = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&tls.ca)?));
                if let Some((cert, key)) = &tls.client {
                    t = t.identity(Identity::from_pem(read(cert)?, read(key)?));
                }
                Some(t)
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut channels = Vec::new();
        for member in &config.endpoints {
            let mut endpoint = Endpoint::from_shared(format!("{scheme}://{member}"))
                .map_err(|e| EtcdError::Setup(format!("etcd member {member}: {e}")))?
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true)
                .keep_alive_while_idle(true)
                .http2_keep_alive_interval(Duration::from_secs(10));
            if let Some(tls) = &tls {
                endpoint = endpoint
                    .tls_config(tls.clone())
                    .map_err(|e| EtcdError::Setup(format!("etcd member {member}: {e}")))?;
            }
            channels.push(endpoint.connect_lazy());
        }
        Ok(Client {
            channels,
            endpoints: config.endpoints.join(","),
            current: AtomicUsize::new(0),
            user: config.user.as_ref().map(|u| (u.name.clone(), u.password.clone())),
            token: Default::default(),
        })
    }

    async fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(REQUEST_TIMEOUT);
        if let Some(token) = self.token.read().await.clone() {
            request.metadata_mut().insert("token", token);
        }
        request
    }

    /// Signs in with the configured user, on the member at `index`.
    async fn authenticate(&self, index: usize) -> Result<(), tonic::Status> {
        let Some((name, password)) = &self.user else {
            return Ok(());
        };
        let mut auth = pb::auth_client::AuthClient::new(self.channels[index].clone());
        let mut request = tonic::Request::new(pb::AuthenticateRequest {
            name: name.clone(),
            password: password.clone(),
        });
        request.set_timeout(REQUEST_TIMEOUT);
        let token = auth.authenticate(request).await?.into_inner().token;
        let value = token
            .parse()
            .map_err(|_| tonic::Status::internal("etcd gave a token that is not ASCII"))?;
        *self.token.write().await = Some(value);
        Ok(())
    }

    /// Runs `call` on one member after another until one answers. With
    /// `Repeat::Once`, a call whose answer may have been lost is not sent again.
    async fn call<T, F, Fut>(&self, what: &'static str, repeat: Repeat, call: F) -> Result<T, EtcdError>
    where
        F: Fn(Channel, usize) -> Fut,
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        let n = self.channels.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut last = String::from("no member tried");
        let mut signed_in = false;
        for attempt in 0..2 * n {
            let index = (start + attempt) % n;
            if self.user.is_some() && self.token.read().await.is_none() {
                if let Err(status) = self.authenticate(index).await {
                    last = format!("{}: {}", self.member(index), status.message());
                    continue;
                }
            }
            match call(self.channels[index].clone(), index).await {
                Ok(answer) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(status) if status.code() == tonic::Code::Unauthenticated && self.user.is_some() && !signed_in => {
                    // The token expired: sign in again once.
                    signed_in = true;
                    *self.token.write().await = None;
                    last = format!("{}: {}", self.member(index), status.message());
                }
                Err(status) if try_elsewhere(status.code()) => {
                    last = format!("{}: {}", self.member(index), status.message());
                    if repeat == Repeat::Once {
                        break;
                    }
                }
                Err(status) => {
                    return Err(EtcdError::Refused {
                        what,
                        code: status.code(),
                        message: status.message().to_string(),
                    })
                }
            }
        }
        Err(EtcdError::Unreachable {
            endpoints: self.endpoints.clone(),
            last,
        })
    }

    fn member(&self, index: usize) -> &str {
        self.endpoints.split(',').nth(index).unwrap_or_default()
    }

    pub async fn range(&self, range: pb::RangeRequest) -> Result<pb::RangeResponse, EtcdError> {
        self.call("a read", Repeat::Safe, |channel, _| {
            let range = range.clone();
            async move {
                let request = self.request(range).await;
                Ok(pb::kv_client::KvClient::new(channel).range(request).await?.into_inner())
            }
        })
        .await
    }

    /// A transaction. Its answer may be lost after etcd applied it: the
    /// caller finds out from the store (`Repeat::Once`).
    pub async fn txn(&self, txn: pb::TxnRequest) -> Result<pb::TxnResponse, EtcdError> {
        self.call("a transaction", Repeat::Once, |channel, _| {
            let txn = txn.clone();
            async move {
                let request = self.request(txn).await;
                Ok(pb::kv_client::KvClient::new(channel).txn(request).await?.into_inner())
            }
        })
        .await
    }

    pub async fn lease_grant(&self, ttl_seconds: i64) -> Result<pb::LeaseGrantResponse, EtcdError> {
        self.call("a lease", Repeat::Safe, |channel, _| async move {
            let request = self
                .request(pb::LeaseGrantRequest {
                    ttl: ttl_seconds,
                    id: 0,
                })
                .await;
            Ok(pb::lease_client::LeaseClient::new(channel)
                .lease_grant(request)
                .await?
                .into_inner())
        })
        .await
    }

    pub async fn lease_revoke(&self, id: i64) -> Result<(), EtcdError> {
        self.call("a lease revocation", Repeat::Safe, |channel, _| async move {
            let request = self.request(pb::LeaseRevokeRequest { id }).await;
            pb::lease_client::LeaseClient::new(channel)
                .lease_revoke(request)
                .await
                .map(|_| ())
        })
        .await
    }

    /// Renews a lease once; answers the seconds it has left (0: it is gone).
    pub async fn lease_keep_alive(&self, id: i64) -> Result<i64, EtcdError> {
        self.call("a lease renewal", Repeat::Safe, |channel, _| async move {
            let request = self.request(tokio_stream::once(pb::LeaseKeepAliveRequest { id })).await;
            let mut answers = pb::lease_client::LeaseClient::new(channel)
                .lease_keep_alive(request)
                .await?
                .into_inner();
            match answers.message().await? {
                Some(answer) => Ok(answer.ttl),
                None => Err(tonic::Status::unavailable("the lease stream closed without an answer")),
            }
        })
        .await
    }
}
