//! Connections to the county hub, over HTTP or HTTPS: the node's sync link
//! (`cunlink-node`) and the school's lesson pull both dial through here, so an
//! `https://` hub works for both and trusts the same roots.
//!
//! TLS checks the hub's certificate against the Mozilla roots, or against the
//! county's own CA when `CUNLINK_HUB_CA` names its PEM file. Only the
//! connection lives here; each caller keeps its own request and deadline logic.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::Uri;
use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Worth nothing to retry: a bad URL, a bad CA file.
    #[error("{0}")]
    Config(String),
    /// The network or the peer: retry later.
    #[error("{0}")]
    Net(String),
}

/// Where the hub is: parsed once from `http[s]://host[:port][/prefix]`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    host: String,
    authority: String,
    prefix: String,
    tls: bool,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, ConnectError> {
        let uri: Uri = url
            .trim_end_matches('/')
            .parse()
            .map_err(|_| ConnectError::Config(format!("'{url}' is not a URL")))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(ConnectError::Config(format!(
                    "the URL must start with https:// or http:// (got '{url}')"
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| ConnectError::Config(format!("'{url}' has no host")))?;
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Endpoint {
            authority: format!("{host}:{port}"),
            host: host.trim_matches(['[', ']']).to_string(),
            prefix: uri.path().trim_end_matches('/').to_string(),
            tls,
        })
    }

    /// `host:port`, for the `Host` header and for dialing.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The URL's path, put before every request path ("" for none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Dial, do the TLS handshake if `https`, and the HTTP/1.1 handshake; each
    /// step within `within`.
    pub async fn connect(
        &self,
        within: Duration,
    ) -> Result<SendRequest<Full<Bytes>>, ConnectError> {
        let stream = tokio::time::timeout(within, TcpStream::connect(&self.authority))
            .await
            .map_err(|_| ConnectError::Net("connect timed out".into()))?
            .map_err(|e| ConnectError::Net(format!("connect: {e}")))?;
        let _ = stream.set_nodelay(true);
        if !self.tls {
            return handshake(TokioIo::new(stream)).await;
        }
        let name = rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|_| {
            ConnectError::Config(format!("'{}' is not a TLS server name", self.host))
        })?;
        let stream = tokio::time::timeout(
            within,
            tokio_rustls::TlsConnector::from(tls_config()?).connect(name, stream),
        )
        .await
        .map_err(|_| ConnectError::Net("TLS handshake timed out".into()))?
        .map_err(|e| ConnectError::Net(format!("TLS: {e}")))?;
        handshake(TokioIo::new(stream)).await
    }
}

async fn handshake<I>(io: I) -> Result<SendRequest<Full<Bytes>>, ConnectError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| ConnectError::Net(format!("handshake: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Client TLS settings: the county CA from `CUNLINK_HUB_CA` when set, else the
/// Mozilla root set. Built once per process.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(c) = CONFIG.get() {
        return Ok(c.clone());
    }
    let mut roots = rustls::RootCertStore::empty();
    match std::env::var_os("CUNLINK_HUB_CA") {
        Some(path) => {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let bad = |e: &dyn std::fmt::Display| {
                ConnectError::Config(format!("CUNLINK_HUB_CA {}: {e}", path.to_string_lossy()))
            };
            for c in CertificateDer::pem_file_iter(&path).map_err(|e| bad(&e))? {
                roots.add(c.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ConnectError::Config(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}
