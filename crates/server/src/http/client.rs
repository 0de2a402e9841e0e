//! The server's own outgoing HTTP: alarm webhooks and deliveries to peer deployments. One
//! connection per request (both are rare), `https://` verified against the system's roots or a
//! given CA file, or plain `http://`, with a bounded wait for the whole exchange.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// Where a request goes, from its URL.
pub struct Target {
    tls: bool,
    /// The host to connect to and to verify (`::1` for a URL's `[::1]`).
    host: String,
    port: u16,
    /// The Host header as the URL spells it (no default port: some front ends route on it).
    pub authority: String,
    /// Path and query of the URL.
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("URLs must be https:// or http://".into()),
        };
        let host = uri
            .host()
            .ok_or("URL without host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let authority = uri
            .authority()
            .and_then(|a| a.as_str().rsplit('@').next().map(str::to_string))
            .unwrap_or_else(|| host.clone());
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        Ok(Self {
            tls,
            host,
            port,
            authority,
            path,
        })
    }
}

/// Send `req` (its URI the target's path, its headers complete) to `target` and read the whole
/// answer, within `timeout`.
pub async fn send(
    target: &Target,
    ca_file: Option<&Path>,
    req: http::Request<Bytes>,
    timeout: Duration,
) -> Result<(http::StatusCode, Bytes), String> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| e.to_string())?;
        if target.tls {
            let connector = tls_connector(ca_file)?;
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| format!("bad host name: {e}"))?;
            let stream = connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            send_over(stream, req).await
        } else {
            send_over(tcp, req).await
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// Trust for `https://`: the CA file's certificates, or the system's roots.
fn tls_connector(ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            {
                let cert = cert.map_err(|e| format!("bad PEM in {}: {e}", path.display()))?;
                roots.add(cert).map_err(|e| e.to_string())?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    if roots.is_empty() {
        return Err("no trusted root certificates for https://".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn send_over<S>(
    stream: S,
    req: http::Request<Bytes>,
) -> Result<(http::StatusCode, Bytes), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let res = sender
        .send_request(req.map(Full::new))
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}
