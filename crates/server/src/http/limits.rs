//! Limits against abuse at the connection level, around whatever acceptor serves (plain or
//! TLS): a cap on open connections in all and per source IP, a deadline for the TLS handshake,
//! an inactivity deadline on every connection, and a deadline to start a request. Hyper's own
//! `header_read_timeout` (set in `server.rs`) bounds an HTTP/1.1 request head — counted from
//! when the connection is ready for it, so it also closes idle keep-alive connections. Hyper
//! also serves HTTP/2 (h2c, or ALPN under TLS), where it has no such deadline: a client sending
//! a PING a second would hold its connection forever. So every connection, whatever its
//! protocol, must start a request within the same deadline of being accepted or of its last
//! request finishing ([`Activity`], counted by the [`track_requests`] middleware for the
//! router's paths and by `http::Dispatch` for API calls). The body read deadline and the bound
//! on requests in flight are applied per request in the API front (`pipeline::front::api`).
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
    /// A connection with no request in progress must start one within this (the header read
    /// deadline).
    pub request_start_timeout: Duration,
}

/// Requests in progress on one connection, and since when there has been none. One lock for
/// both: a reader must never see "none in progress" with the time of an earlier idle spell.
pub struct Activity(Mutex<ActivityState>);

struct ActivityState {
    active: usize,
    idle_since: Instant,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(ActivityState {
            active: 0,
            idle_since: Instant::now(),
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One request in progress, from its head to the end of its response body.
pub struct Active(Arc<Activity>);

impl Active {
    /// The request in progress on its connection (none when the connection is not tracked:
    /// a test's service called directly).
    pub fn of<B>(req: &http::Request<B>) -> Option<Self> {
        req.extensions().get::<Arc<Activity>>().map(Active::start)
    }

    fn start(activity: &Arc<Activity>) -> Self {
        activity.lock().active += 1;
        Self(activity.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.active -= 1;
        if s.active == 0 {
            s.idle_since = Instant::now();
        }
    }
}

/// Router middleware: counts the request as in progress on its connection until its response
/// body is done or dropped (a change stream's long response is a request in progress).
pub async fn track_requests(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let active = Active::of(&req);
    let response = next.run(req).await;
    hold_until_sent(active, response)
}

/// The response, its request counted in progress until its body is sent or dropped.
pub fn hold_until_sent(
    active: Option<Active>,
    response: axum::response::Response,
) -> axum::response::Response {
    match active {
        Some(active) => response.map(|body| {
            axum::body::Body::new(TrackedBody {
                body,
                _active: active,
            })
        }),
        None => response,
    }
}

struct TrackedBody {
    body: axum::body::Body,
    _active: Active,
}

impl hyper::body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
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
    type Service = axum::middleware::AddExtension<A::Service, Arc<Activity>>;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let limits = self.limits;
        let ip = stream
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let slot = take_slot(&self.counts, ip, &limits);
        let inner = self.inner.clone();
        let activity = Activity::new();
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
            let guarded = Guarded::new(stream, slot, &limits, activity.clone());
            match tokio::time::timeout(limits.handshake_timeout, inner.accept(guarded, service))
                .await
            {
                Ok(accepted) => {
                    let (stream, service) = accepted?;
                    let service = tower_layer::Layer::layer(&axum::Extension(activity), service);
                    Ok((stream, service))
                }
                Err(_) => {
                    tracing::info!(%ip, "connection closed: the handshake did not finish in time");
                    Err(io::Error::new(io::ErrorKind::TimedOut, "handshake timeout"))
                }
            }
        })
    }
}

/// A TCP stream that holds its connection slot and fails once no byte has moved for the idle
/// timeout while a read or write waits, or when a read waits on a connection that has had no
/// request in progress for the request start deadline.
pub struct Guarded {
    inner: TcpStream,
    _slot: Slot,
    idle: Duration,
    /// When a byte last moved. The idle timer is not moved with it (a timer-wheel update on
    /// every read and write was ~0.5% of a read): it fires at the deadline it was set to,
    /// and is set again from here if bytes moved since.
    last_progress: Instant,
    deadline: Pin<Box<Sleep>>,
    activity: Arc<Activity>,
    request_start: Duration,
    request_deadline: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(inner: TcpStream, slot: Slot, limits: &Limits, activity: Arc<Activity>) -> Self {
        let start_due = activity.lock().idle_since + limits.request_start_timeout;
        Self {
            inner,
            _slot: slot,
            idle: limits.idle_timeout,
            last_progress: Instant::now(),
            deadline: Box::pin(tokio::time::sleep(limits.idle_timeout)),
            activity,
            request_start: limits.request_start_timeout,
            request_deadline: Box::pin(tokio::time::sleep_until(start_due)),
        }
    }

    /// After a read said Pending: an error once no request has been in progress for the
    /// request start deadline. While one is, nothing is armed: when it ends, the connection
    /// reads again (the next request, or the next HTTP/2 frame) and this re-arms.
    fn check_request_start(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            let due = {
                let s = self.activity.lock();
                if s.active > 0 {
                    return Poll::Pending;
                }
                s.idle_since + self.request_start
            };
            // Each request moves `due` later; the timer keeps the earlier deadline it was
            // set to (no timer-wheel update per request) and, when that fires, is set again
            // here if the connection has had a request since.
            if self.request_deadline.deadline() > due {
                self.request_deadline.as_mut().reset(due);
            }
            if self.request_deadline.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= due {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request started in time",
                ));
            }
            self.request_deadline.as_mut().reset(due);
        }
    }

    fn progressed(&mut self) {
        self.last_progress = Instant::now();
    }

    /// After the inner stream said Pending: an error once no byte has moved for the idle
    /// timeout.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = self.last_progress + self.idle;
            if Instant::now() >= due {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                ));
            }
            self.deadline.as_mut().reset(due);
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
            Poll::Pending => match self.check_idle(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => self.check_request_start(cx).map(Err),
            },
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
            request_start_timeout: Duration::from_secs(1),
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
