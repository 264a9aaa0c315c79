//! The pull's HTTP side: GETs over one kept-alive HTTP/1.1 connection to the
//! upstream, over TLS for an `https://` one (the connection is
//! `cunlink_web::http_client`'s, shared with the node's sync link), reconnecting
//! after a cut. Every body byte received is counted,
//! including those of an answer cut half-way, so `fetched` is honest.

use std::time::Duration;

use axum::http::{HeaderMap, Request, StatusCode, header};
use bytes::Bytes;
use cunlink_web::http_client::{ConnectError, Endpoint};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;

use super::PullError;

/// No byte for this long on an open answer: the link is dead, reconnect.
const IDLE: Duration = Duration::from_secs(20);
const CONNECT: Duration = Duration::from_secs(10);

pub struct HttpSource {
    endpoint: Endpoint,
    token: String,
    conn: Option<SendRequest<Full<Bytes>>>,
    /// Body bytes received over the network by this source.
    pub fetched: u64,
}

/// An answer's status and headers; its body is read with [`HttpSource::read`].
pub struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
}

impl HttpSource {
    /// `url`: `http[s]://host[:port][/prefix]`.
    pub fn new(url: &str, token: &str) -> Result<HttpSource, PullError> {
        let endpoint = Endpoint::parse(url).map_err(|e| PullError::Fatal(e.to_string()))?;
        Ok(HttpSource {
            endpoint,
            token: token.to_string(),
            conn: None,
            fetched: 0,
        })
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, PullError> {
        if let Some(c) = &mut self.conn
            && c.ready().await.is_ok()
        {
            return Ok(self.conn.as_mut().expect("just checked"));
        }
        self.conn = None;
        let sender = self.endpoint.connect(CONNECT).await.map_err(|e| match e {
            ConnectError::Config(m) => PullError::Fatal(m),
            ConnectError::Net(m) => PullError::Net(m),
        })?;
        Ok(self.conn.insert(sender))
    }

    /// Send a GET for `path` (below the URL's prefix) with extra headers.
    pub async fn get(
        &mut self,
        path: &str,
        extra: &[(header::HeaderName, String)],
    ) -> Result<(Head, hyper::body::Incoming), PullError> {
        self.send("GET", path, extra, Bytes::new()).await
    }

    /// POST a JSON body; the answer's status.
    pub async fn post_json(&mut self, path: &str, body: Vec<u8>) -> Result<StatusCode, PullError> {
        let extra = [(header::CONTENT_TYPE, "application/json".to_string())];
        let (head, resp) = self.send("POST", path, &extra, Bytes::from(body)).await?;
        let _ = self.read_all(resp, 64 * 1024).await;
        Ok(head.status)
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        extra: &[(header::HeaderName, String)],
        body: Bytes,
    ) -> Result<(Head, hyper::body::Incoming), PullError> {
        let full = format!("{}{}", self.endpoint.prefix(), path);
        let mut req = Request::builder()
            .method(method)
            .uri(full)
            .header(header::CONTENT_LENGTH, body.len())
            .header(header::HOST, self.endpoint.authority())
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::USER_AGENT, "cunlink-pull");
        for (k, v) in extra {
            req = req.header(k, v.as_str());
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| PullError::Fatal(format!("request: {e}")))?;
        let sender = self.sender().await?;
        let resp = match tokio::time::timeout(IDLE, sender.send_request(req)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                self.conn = None;
                return Err(PullError::Net(format!("request: {e}")));
            }
            Err(_) => {
                self.conn = None;
                return Err(PullError::Net("no answer".into()));
            }
        };
        let (parts, body) = resp.into_parts();
        Ok((
            Head {
                status: parts.status,
                headers: parts.headers,
            },
            body,
        ))
    }

    /// Feed the body to `sink` piece by piece, counting every byte. On a cut
    /// the pieces already given stay given: the caller keeps them.
    pub async fn read(
        &mut self,
        mut body: hyper::body::Incoming,
        max: u64,
        mut sink: impl FnMut(&[u8]) -> Result<(), PullError>,
    ) -> Result<u64, PullError> {
        let mut got: u64 = 0;
        loop {
            let frame = match tokio::time::timeout(IDLE, body.frame()).await {
                Ok(Some(Ok(f))) => f,
                Ok(None) => return Ok(got),
                Ok(Some(Err(e))) => {
                    self.conn = None;
                    return Err(PullError::Net(format!("body: {e}")));
                }
                Err(_) => {
                    self.conn = None;
                    return Err(PullError::Net("the answer stalled".into()));
                }
            };
            if let Ok(data) = frame.into_data() {
                self.fetched += data.len() as u64;
                got += data.len() as u64;
                if got > max {
                    self.conn = None;
                    return Err(PullError::Net("the answer is longer than asked".into()));
                }
                sink(&data)?;
            }
        }
    }

    /// A small JSON or error answer's whole body (at most `max` bytes).
    pub async fn read_all(
        &mut self,
        body: hyper::body::Incoming,
        max: u64,
    ) -> Result<Vec<u8>, PullError> {
        let mut out = Vec::new();
        self.read(body, max, |d| {
            out.extend_from_slice(d);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Turn a non-success answer into the right error (retry 5xx and 429).
    pub async fn refuse(&mut self, head: &Head, body: hyper::body::Incoming) -> PullError {
        let text = self.read_all(body, 4096).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&text).into_owned();
        let s = head.status;
        if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS {
            PullError::Net(format!("upstream answered {s}: {text}"))
        } else {
            PullError::Fatal(format!("upstream answered {s}: {text}"))
        }
    }
}
