//! The small HTTP client deliveries use: one POST per connection (http or
//! https, the Web PKI roots), with a deadline, so that a slow or dead receiver
//! costs a timeout and nothing more.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::net::{Policy, TargetError};

use axum::http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why a POST failed. The display forms are short and say nothing of the
/// receiver's answer or of addresses: they end up in the dead-letter list that
/// users read. Details go to the server log.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Target(#[from] TargetError),
    #[error("TLS handshake failed")]
    Tls(String),
    #[error("connection failed")]
    Connect(std::io::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("HTTP exchange failed")]
    Http(String),
}

impl HttpError {
    /// A refusal that retrying cannot change (the URL, or a forbidden address).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            HttpError::Target(TargetError::BadUrl | TargetError::Private)
        )
    }
}

/// Most of a receiver's answer ever read: enough for a log line, and a
/// receiver streaming gigabytes costs nothing.
const MAX_BODY_READ: usize = 1024;

/// POST `body` to `url` if `policy` allows every address its host resolves
/// to; the answer's status. The answer's body is read (at most
/// [`MAX_BODY_READ`] bytes) only for the log.
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    timeout: Duration,
    policy: &Policy,
) -> Result<u16, HttpError> {
    tokio::time::timeout(timeout, post_inner(url, headers, body, policy))
        .await
        .map_err(|_| HttpError::Timeout(timeout))?
}

async fn post_inner(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    policy: &Policy,
) -> Result<u16, HttpError> {
    let uri: Uri = url.parse().map_err(|_| TargetError::BadUrl)?;
    let tls = uri.scheme_str() == Some("https");
    let (host, _) = super::net::host_port(url)?;
    // Connect to an address that was just checked, never to the name again:
    // a second lookup could answer differently (DNS rebinding).
    let addrs = policy.resolve(url).await?;
    let mut last = None;
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let stream = match stream {
        Some(s) => s,
        None => {
            let e = last.unwrap_or_else(|| std::io::Error::other("no address"));
            tracing::debug!(error = %e, host = %host, "notification: connect failed");
            return Err(HttpError::Connect(e));
        }
    };
    let _ = stream.set_nodelay(true);
    if tls {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| TargetError::BadUrl)?;
        let stream = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, stream)
            .await
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        exchange(TokioIo::new(stream), &uri, &host, headers, body).await
    } else {
        exchange(TokioIo::new(stream), &uri, &host, headers, body).await
    }
}

/// Client TLS settings: the Mozilla root set, TLS 1.2 and 1.3, HTTP/1.1.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, HttpError> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(c) = CONFIG.get() {
        return Ok(c.clone());
    }
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| HttpError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

async fn exchange<I>(
    io: I,
    uri: &Uri,
    host: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<u16, HttpError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| HttpError::Http(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = Request::post(path)
        .header(header::HOST, uri.authority().map_or(host, |a| a.as_str()))
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::USER_AGENT, "cunlink");
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let req = req
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| HttpError::Http(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| HttpError::Http(e.to_string()))?;
    let status = resp.status().as_u16();
    let head = read_capped(resp.into_body(), MAX_BODY_READ).await;
    if !(200..300).contains(&status) {
        tracing::debug!(status, host, answer = %String::from_utf8_lossy(&head), "notification refused by its receiver");
    }
    Ok(status)
}

/// Up to `cap` bytes of a body; the rest is never read (the connection is
/// dropped with it).
async fn read_capped(mut body: hyper::body::Incoming, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < cap {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    let take = data.len().min(cap - out.len());
                    out.extend_from_slice(&data[..take]);
                }
            }
            _ => break,
        }
    }
    out
}
