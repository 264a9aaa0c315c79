//! The node's link to its hub: HTTP/1.1 over one kept-alive connection, over
//! TLS for an `https://` hub (the connection is `cunlink_web::http_client`'s,
//! shared with the school's pull). Every exchange has a deadline, so a link
//! that dies mid-answer is noticed and the connection opened anew.

use std::time::Duration;

use axum::http::{HeaderMap, Request, StatusCode, header};
use bytes::Bytes;
use cunlink_web::http_client::{ConnectError, Endpoint};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;

use crate::error::NodeError;

const CONNECT: Duration = Duration::from_secs(10);
/// Silence after which the link counts as dead.
const IDLE: Duration = Duration::from_secs(20);
/// Longest answer accepted from the hub (a down snapshot of a big village).
const MAX_ANSWER: usize = 64 << 20;

pub struct HubClient {
    endpoint: Endpoint,
    credential: String,
    conn: Option<SendRequest<Full<Bytes>>>,
    /// Request and answer body bytes, for the status page and the benchmark.
    pub sent: u64,
    pub received: u64,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// `Retry-After` in seconds, when the hub asked to wait.
    pub fn retry_after(&self) -> Option<u64> {
        self.headers
            .get(header::RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl HubClient {
    /// `url`: `http[s]://host[:port][/prefix]`.
    pub fn new(url: &str, credential: &str) -> Result<HubClient, NodeError> {
        let endpoint =
            Endpoint::parse(url).map_err(|e| NodeError::Config(format!("the hub URL: {e}")))?;
        Ok(HubClient {
            endpoint,
            credential: credential.to_string(),
            conn: None,
            sent: 0,
            received: 0,
        })
    }

    /// Forget the connection (after an error: the next request dials anew).
    pub fn reset(&mut self) {
        self.conn = None;
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, NodeError> {
        if let Some(c) = &mut self.conn
            && c.ready().await.is_ok()
        {
            return Ok(self.conn.as_mut().expect("just checked"));
        }
        self.conn = None;
        let sender = self.endpoint.connect(CONNECT).await.map_err(|e| match e {
            ConnectError::Config(m) => NodeError::Config(m),
            ConnectError::Net(m) => NodeError::Net(m),
        })?;
        Ok(self.conn.insert(sender))
    }

    /// POST `body` to `path` (below the hub URL's prefix); the whole answer.
    /// A dead link is noticed by silence, not by a total time: the answer's
    /// head must come within [`IDLE`] plus the time the body takes at 32 kbit/s,
    /// and then no [`IDLE`] may pass without a byte, however long a big answer
    /// takes on a slow link.
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Answer, NodeError> {
        let r = self.post_inner(path, content_type, body).await;
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    async fn post_inner(
        &mut self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Answer, NodeError> {
        let n = body.len() as u64;
        let head_within = IDLE + Duration::from_millis(n / 4);
        let req = Request::builder()
            .method("POST")
            .uri(format!("{}{}", self.endpoint.prefix(), path))
            .header(header::HOST, self.endpoint.authority())
            .header(header::AUTHORIZATION, format!("Bearer {}", self.credential))
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CONTENT_LENGTH, body.len())
            .header(header::USER_AGENT, "cunlink-node")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| NodeError::Config(format!("request: {e}")))?;
        let sender = tokio::time::timeout(IDLE, self.sender())
            .await
            .map_err(|_| NodeError::Net(format!("no connection within {}s", IDLE.as_secs())))??;
        let resp = tokio::time::timeout(head_within, sender.send_request(req))
            .await
            .map_err(|_| NodeError::Net(format!("no answer within {}s", head_within.as_secs())))?
            .map_err(|e| NodeError::Net(format!("request: {e}")))?;
        self.sent += n;
        let (parts, mut body) = resp.into_parts();
        let mut got: Vec<u8> = Vec::new();
        loop {
            let frame = tokio::time::timeout(IDLE, body.frame())
                .await
                .map_err(|_| {
                    NodeError::Net(format!("the answer stalled for {}s", IDLE.as_secs()))
                })?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| NodeError::Net(format!("answer: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if got.len() + data.len() > MAX_ANSWER {
                    return Err(NodeError::Net(format!(
                        "the answer is larger than {MAX_ANSWER} bytes"
                    )));
                }
                got.extend_from_slice(&data);
            }
        }
        self.received += got.len() as u64;
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body: Bytes::from(got),
        })
    }
}
