//! Limits against abuse at the connection level, around whatever acceptor serves (plain or
//! TLS): a cap on open connections in all and per source IP, a deadline for the TLS handshake,
//! and an inactivity deadline on every connection. Hyper's own `header_read_timeout` (set in
//! `server.rs`) bounds a request head — counted from when the connection is ready for it, so it
//! also closes idle keep-alive connections; the body read deadline and the bound on requests in
//! flight are applied per request in `http::api`.
//!
//! Over a connection cap the connection is closed at once, before any byte is read: a client
//! (or an attacker) holding that many connections gets no more, everyone else is unaffected.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// What the operator configured (every value from a flag; see `config.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// The first byte, and the whole TLS handshake, must come within this (the same deadline
    /// as a request head).
    pub handshake_timeout: Duration,
    /// A connection on which no byte moves, either way, for this long is closed.
    pub idle_timeout: Duration,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Wraps an acceptor with the connection limits.
#[derive(Clone)]
pub struct LimitAcceptor<A> {
    inner: A,
    limits: Limits,
    counts: Arc<Mutex<Counts>>,
}

impl<A> LimitAcceptor<A> {
    pub fn new(inner: A, limits: Limits) -> Self {
        Self {
            inner,
            limits,
            counts: Default::default(),
        }
    }
}

/// One open connection's place in the counts, given back when the connection is dropped.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

fn take_slot(counts: &Arc<Mutex<Counts>>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
    let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
    let of_ip = c.per_ip.get(&ip).copied().unwrap_or(0);
    if c.total >= limits.max_connections || of_ip >= limits.max_connections_per_ip {
        return None;
    }
    c.total += 1;
    *c.per_ip.entry(ip).or_insert(0) += 1;
    Some(Slot {
        counts: counts.clone(),
        ip,
    })
}

impl<A, S> Accept<TcpStream, S> for LimitAcceptor<A>
where
    A: Accept<Guarded, S> + Clone + Send + Sync + 'static,
    A::Future: Send,
    S: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let limits = self.limits;
        let ip = stream
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let slot = take_slot(&self.counts, ip, &limits);
        let inner = self.inner.clone();
        Box::pin(async move {
            let Some(slot) = slot else {
                tracing::warn!(%ip, "connection refused: connection limit reached");
                return Err(io::Error::other("connection limit reached"));
            };
            let _ = stream.set_nodelay(true);
            // The first byte must come within the handshake deadline: hyper's header timer
            // starts only after it has sniffed the protocol version from the first bytes.
            let mut first = [0u8; 1];
            match tokio::time::timeout(limits.handshake_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed")),
                Err(_) => {
                    tracing::info!(%ip, "connection closed: nothing sent in time");
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no request"));
                }
            }
            let guarded = Guarded::new(stream, slot, limits.idle_timeout);
            match tokio::time::timeout(limits.handshake_timeout, inner.accept(guarded, service))
                .await
            {
                Ok(accepted) => accepted,
                Err(_) => {
                    tracing::info!(%ip, "connection closed: the handshake did not finish in time");
                    Err(io::Error::new(io::ErrorKind::TimedOut, "handshake timeout"))
                }
            }
        })
    }
}

/// A TCP stream that holds its connection slot and fails once no byte has moved for the idle
/// timeout while a read or write waits.
pub struct Guarded {
    inner: TcpStream,
    _slot: Slot,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(inner: TcpStream, slot: Slot, idle: Duration) -> Self {
        Self {
            inner,
            _slot: slot,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// After the inner stream said Pending: an error once the deadline has passed.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_ip_and_in_all_and_given_back() {
        let limits = Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
            handshake_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        };
        let counts = Arc::new(Mutex::new(Counts::default()));
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = take_slot(&counts, a, &limits).unwrap();
        let a2 = take_slot(&counts, a, &limits).unwrap();
        assert!(take_slot(&counts, a, &limits).is_none(), "per-IP cap");
        let b1 = take_slot(&counts, b, &limits).unwrap();
        assert!(take_slot(&counts, b, &limits).is_none(), "total cap");
        drop(a1);
        let b2 = take_slot(&counts, b, &limits).unwrap();
        drop((a2, b1, b2));
        let c = counts.lock().unwrap();
        assert_eq!(c.total, 0);
        assert!(c.per_ip.is_empty());
    }
}
