//! The node's link to its hub: HTTP/1.1 over one kept-alive connection, over
//! TLS for an `https://` hub (the Mozilla roots, or the county's own CA in the
//! PEM file named by `CUNLINK_HUB_CA`). Every exchange has a deadline, so a
//! link that dies mid-answer is noticed and the connection opened anew.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{HeaderMap, Request, StatusCode, Uri, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::NodeError;

const CONNECT: Duration = Duration::from_secs(10);
/// Silence after which the link counts as dead.
const IDLE: Duration = Duration::from_secs(20);
/// Longest answer accepted from the hub (a down snapshot of a big village).
const MAX_ANSWER: usize = 64 << 20;

pub struct HubClient {
    host: String,
    authority: String,
    prefix: String,
    tls: bool,
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
        let uri: Uri = url
            .trim_end_matches('/')
            .parse()
            .map_err(|_| NodeError::Config(format!("'{url}' is not a URL")))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(NodeError::Config(format!(
                    "the hub URL must start with https:// or http:// (got '{url}')"
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| NodeError::Config(format!("'{url}' has no host")))?
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(HubClient {
            authority: format!("{}:{port}", uri.host().unwrap_or_default()),
            host,
            prefix: uri.path().trim_end_matches('/').to_string(),
            tls,
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
        let stream = tokio::time::timeout(CONNECT, TcpStream::connect(&self.authority))
            .await
            .map_err(|_| NodeError::Net("connect timed out".into()))?
            .map_err(|e| NodeError::Net(format!("connect: {e}")))?;
        let _ = stream.set_nodelay(true);
        let sender = if self.tls {
            let name =
                rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|_| {
                    NodeError::Config(format!("'{}' is not a TLS server name", self.host))
                })?;
            let stream = tokio::time::timeout(
                CONNECT,
                tokio_rustls::TlsConnector::from(tls_config()?).connect(name, stream),
            )
            .await
            .map_err(|_| NodeError::Net("TLS handshake timed out".into()))?
            .map_err(|e| NodeError::Net(format!("TLS: {e}")))?;
            handshake(TokioIo::new(stream)).await?
        } else {
            handshake(TokioIo::new(stream)).await?
        };
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
            .uri(format!("{}{}", self.prefix, path))
            .header(header::HOST, self.authority.clone())
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

async fn handshake<I>(io: I) -> Result<SendRequest<Full<Bytes>>, NodeError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| NodeError::Net(format!("handshake: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Client TLS settings: the county CA from `CUNLINK_HUB_CA` when set, else the
/// Mozilla root set.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, NodeError> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(c) = CONFIG.get() {
        return Ok(c.clone());
    }
    let mut roots = rustls::RootCertStore::empty();
    match std::env::var_os("CUNLINK_HUB_CA") {
        Some(path) => {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let certs = CertificateDer::pem_file_iter(&path).map_err(|e| {
                NodeError::Config(format!("CUNLINK_HUB_CA {}: {e}", path.to_string_lossy()))
            })?;
            for c in certs {
                let c = c.map_err(|e| NodeError::Config(format!("CUNLINK_HUB_CA: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| NodeError::Config(format!("CUNLINK_HUB_CA: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| NodeError::Config(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}
