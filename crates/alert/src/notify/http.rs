//! The small HTTP client deliveries use: one POST per connection (http or
//! https, the Web PKI roots), with a deadline, so that a slow or dead receiver
//! costs a timeout and nothing more.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("bad URL '{0}'")]
    BadUrl(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("connecting to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("http: {0}")]
    Http(String),
}

/// POST `body` to `url`; the answer's status and (first KB of) body.
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(u16, String), HttpError> {
    tokio::time::timeout(timeout, post_inner(url, headers, body))
        .await
        .map_err(|_| HttpError::Timeout(timeout))?
}

async fn post_inner(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<(u16, String), HttpError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| HttpError::BadUrl(url.to_string()))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(HttpError::BadUrl(url.to_string())),
    };
    let host = uri
        .host()
        .ok_or_else(|| HttpError::BadUrl(url.to_string()))?;
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let addr = format!("{host}:{port}");
    let stream = TcpStream::connect(&addr)
        .await
        .map_err(|e| HttpError::Connect(addr.clone(), e))?;
    let _ = stream.set_nodelay(true);
    if tls {
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|_| HttpError::BadUrl(url.to_string()))?;
        let stream = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, stream)
            .await
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        exchange(TokioIo::new(stream), &uri, host, headers, body).await
    } else {
        exchange(TokioIo::new(stream), &uri, host, headers, body).await
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
) -> Result<(u16, String), HttpError>
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
    let text = match resp.into_body().collect().await {
        Ok(b) => {
            let b = b.to_bytes();
            String::from_utf8_lossy(&b[..b.len().min(1024)]).into_owned()
        }
        Err(_) => String::new(),
    };
    Ok((status, text))
}
