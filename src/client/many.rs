//! Many GETs at once (heketi-cli's `topology info` asks for every volume
//! and node): the same signed requests and 429 retries as `Client::send`,
//! made by one thread on an asynchronous client. Threads handing requests
//! to the blocking client's runtime cost more than the requests did.

use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::{retry_delay, server_error, transport_error, Client, ClientError, RETRIES};

impl Client {
    /// GETs every path, `in_flight` at a time, each answering `200` with
    /// JSON; the answers in the paths' order, or the first error. Call it
    /// outside any asynchronous runtime, like the rest of `Client`.
    pub fn get_json_many<T: DeserializeOwned>(
        &self,
        paths: &[String],
        in_flight: usize,
    ) -> Result<Vec<T>, ClientError> {
        self.get_many(paths, in_flight, |_, body| Ok(serde_json::from_slice(body)?))
    }

    /// `get_json_many` with the answers decoded by `decode`, given each
    /// path's index: one stream of requests for answers of several kinds.
    pub fn get_many<T>(
        &self,
        paths: &[String],
        in_flight: usize,
        decode: impl Fn(usize, &[u8]) -> Result<T, ClientError>,
    ) -> Result<Vec<T>, ClientError> {
        let (runtime, http) = self.many_client()?;
        let decode = &decode;
        runtime.block_on(
            futures::stream::iter(paths.iter().enumerate())
                .map(|(i, path)| self.get_decoded(http, path, move |body| decode(i, body)))
                .buffered(in_flight.max(1))
                .try_collect(),
        )
    }

    /// The runtime and asynchronous client, made once per `Client` with
    /// what the blocking one trusts.
    fn many_client(&self) -> Result<&(tokio::runtime::Runtime, reqwest::Client), ClientError> {
        if let Some(made) = self.many.get() {
            return Ok(made);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ClientError::Runtime { source })?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .use_rustls_tls()
            .danger_accept_invalid_certs(self.insecure);
        for cert in &self.certs {
            builder = builder.add_root_certificate(cert.clone());
        }
        let http = builder.build()?;
        Ok(self.many.get_or_init(|| (runtime, http)))
    }

    /// A GET of `path` answering `200`, its body decoded by `decode`.
    async fn get_decoded<T>(
        &self,
        http: &reqwest::Client,
        path: &str,
        decode: impl FnOnce(&[u8]) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut attempt = 0;
        loop {
            let resp = http
                .get(format!("{}{path}", self.base))
                .header("Authorization", self.authorization(&Method::GET, path)?)
                .send()
                .await
                .map_err(|e| transport_error(&Method::GET, &self.base, path, e))?;
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS && attempt < RETRIES {
                attempt += 1;
                tokio::time::sleep(retry_delay(resp.headers())).await;
                continue;
            }
            if status != StatusCode::OK {
                return Err(server_error(status, &resp.text().await.unwrap_or_default()));
            }
            return decode(&resp.bytes().await?);
        }
    }
}
