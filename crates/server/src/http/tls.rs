//! What the TLS handshake negotiated, attached to every request on the connection, so audit
//! records carry CloudTrail's `tlsDetails`. Wraps axum-server's rustls acceptor.

use std::future::Future;
use std::io;
use std::pin::Pin;

use axum_server::accept::Accept;
use tokio_rustls::server::TlsStream;

/// The negotiated protocol and cipher suite, named as CloudTrail names them.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    pub version: String,
    pub cipher_suite: String,
}

#[derive(Clone)]
pub struct TlsInfoAcceptor<A>(pub A);

type Accepted<I, S> = io::Result<(TlsStream<I>, axum::middleware::AddExtension<S, TlsInfo>)>;

impl<A, I, S> Accept<I, S> for TlsInfoAcceptor<A>
where
    A: Accept<I, S, Stream = TlsStream<I>> + Clone + Send + 'static,
    A::Future: Send,
    A::Service: Send + 'static,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = TlsStream<I>;
    type Service = axum::middleware::AddExtension<A::Service, TlsInfo>;
    type Future = Pin<Box<dyn Future<Output = Accepted<I, A::Service>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.0.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = inner.await?;
            let conn = stream.get_ref().1;
            let version = match conn.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
                Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
                Some(other) => format!("{other:?}"),
                None => "unknown".to_string(),
            };
            let cipher_suite = conn
                .negotiated_cipher_suite()
                .and_then(|s| s.suite().as_str())
                // IANA's TLS 1.3 names, as CloudTrail writes them (TLS_AES_128_GCM_SHA256).
                .map(|n| n.replacen("TLS13_", "TLS_", 1))
                .unwrap_or_else(|| "unknown".to_string());
            let info = TlsInfo {
                version,
                cipher_suite,
            };
            Ok((
                stream,
                tower_layer::Layer::layer(&axum::Extension(info), service),
            ))
        })
    }
}
