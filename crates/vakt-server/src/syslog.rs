//! Syslog listeners: TCP (octet-counted or LF-framed, RFC 6587), UDP (RFC
//! 5426), TLS (RFC 5425) and RELP (rsyslog's reliable protocol).
//!
//! Messages are placed in a tenant by the listener's rules (the sender's
//! network, a structured-data element) or its default tenant, gathered per
//! connection into batches (up to [`BATCH_MESSAGES`] messages or
//! [`BATCH_BYTES`], or what came within [`BATCH_WAIT`]), parsed, and
//! written to the write-ahead log like any other batch.
//!
//! What a sender is told:
//! - **RELP**: each message is answered `200 OK` only once the batch
//!   holding it is in the log (or, malformed, in quarantine). A sender that
//!   lost its connection sends again what was not answered.
//! - **TCP and TLS** have no acknowledgement. A connection is read only as
//!   fast as the log takes its batches: when vakt is full, reads stop and
//!   the sender's own queue holds the rest; nothing is dropped.
//! - **UDP** cannot be slowed down: a batch that finds no room is dropped
//!   and counted in `vakt_syslog_dropped_total` (datagrams the kernel drops
//!   before vakt reads them are not seen at all).
//!
//! A message longer than `max_message_bytes` is quarantined (its first
//! 4 KiB) and counted as rejected; so is a message no rule places when the
//! listener has no default tenant.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::TrySendError;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use vakt_core::Locator;
use vakt_ingest::{Format, RecordError};

use crate::batch::{Batch, Part};
use crate::config::{SyslogListener, SyslogProtocol};
use crate::http::State;
use crate::live::{Append, Reservation};
use crate::metrics;

/// A batch is sent once it holds this many messages …
pub const BATCH_MESSAGES: usize = 2_000;
/// … or this many bytes …
pub const BATCH_BYTES: usize = 1 << 20;
/// … or when nothing more came for this long.
pub const BATCH_WAIT: Duration = Duration::from_millis(20);
/// What is kept of a message over the limit.
const KEEP: usize = 4096;

/// A network (`10.20.0.0/16`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    bits: u8,
}

impl Network {
    /// Parses `ADDR[/BITS]`.
    pub fn parse(s: &str) -> Result<Network, String> {
        let (a, b) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: not a network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match b {
            Some(b) => b
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length is 0..={max}"))?,
            None => max,
        };
        Ok(Network { addr, bits })
    }

    /// Is `ip` in it?
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Rule {
    tenant: Arc<str>,
    network: Option<Network>,
    sd: Option<(String, Option<String>, Option<String>)>,
}

/// How a listener places messages in tenants.
#[derive(Debug)]
pub struct Placement {
    rules: Vec<Rule>,
    default: Option<Arc<str>>,
    reads_sd: bool,
}

impl Placement {
    /// From a listener's settings.
    pub fn new(l: &SyslogListener) -> Result<Placement, String> {
        let mut rules = Vec::new();
        for r in &l.rules {
            let network = r.network.as_deref().map(Network::parse).transpose()?;
            if r.sd_id.is_none() && (r.sd_param.is_some() || r.sd_value.is_some()) {
                return Err(format!(
                    "rule for tenant `{}`: sd_param and sd_value need sd_id",
                    r.tenant
                ));
            }
            if r.sd_param.is_none() && r.sd_value.is_some() {
                return Err(format!(
                    "rule for tenant `{}`: sd_value needs sd_param",
                    r.tenant
                ));
            }
            if network.is_none() && r.sd_id.is_none() {
                return Err(format!(
                    "rule for tenant `{}` has no condition (network or sd_id)",
                    r.tenant
                ));
            }
            rules.push(Rule {
                tenant: Arc::from(r.tenant.as_str()),
                network,
                sd: r
                    .sd_id
                    .clone()
                    .map(|id| (id, r.sd_param.clone(), r.sd_value.clone())),
            });
        }
        if rules.is_empty() && l.tenant.is_none() {
            return Err(format!(
                "syslog listener {} has neither a tenant nor rules",
                l.name()
            ));
        }
        Ok(Placement {
            reads_sd: rules.iter().any(|r| r.sd.is_some()),
            rules,
            default: l.tenant.as_deref().map(Arc::from),
        })
    }

    /// The tenant of a message from `peer`; `Err` says why it has none.
    pub fn place(&self, peer: IpAddr, msg: &[u8]) -> Result<Arc<str>, String> {
        let parsed = if self.reads_sd {
            match vakt_ingest::syslog::parse(msg, vakt_core::Timestamp(0)) {
                Ok(m) => Some(m),
                // Rules read the message; a malformed one is refused for what it is.
                Err(e) if self.default.is_none() => return Err(e),
                Err(_) => None,
            }
        } else {
            None
        };
        for r in &self.rules {
            if r.network.is_some_and(|n| !n.contains(peer)) {
                continue;
            }
            if let Some((id, param, value)) = &r.sd {
                let Some(m) = &parsed else { continue };
                let ok = match param {
                    None => m.sd.iter().any(|e| e.id == id),
                    Some(p) => match (m.sd_param(id, p), value) {
                        (Some(v), Some(want)) => v == want,
                        (Some(_), None) => true,
                        (None, _) => false,
                    },
                };
                if !ok {
                    continue;
                }
            }
            return Ok(r.tenant.clone());
        }
        self.default.clone().ok_or_else(|| "no rule of the listener places the message in a tenant, and it has no default tenant".to_owned())
    }
}

/// A listener, running.
pub struct Listener {
    /// Its settings.
    pub cfg: SyslogListener,
    /// Its name (`relp 127.0.0.1:2514`).
    pub name: String,
    /// Where it is bound.
    pub local: SocketAddr,
    placement: Placement,
    max: usize,
}

/// What one connection (or the UDP socket) has gathered and not yet sent.
#[derive(Default)]
struct Gathered {
    /// Octet-counted frames, per tenant.
    by_tenant: BTreeMap<Arc<str>, (Vec<u8>, usize)>,
    /// Messages that could not be taken.
    rejected: Vec<RecordError>,
    /// RELP transactions to answer once this is in the log.
    txnrs: Vec<u64>,
    messages: usize,
    bytes: usize,
}

impl Gathered {
    fn is_empty(&self) -> bool {
        self.messages == 0 && self.rejected.is_empty() && self.txnrs.is_empty()
    }

    fn full(&self) -> bool {
        self.messages >= BATCH_MESSAGES || self.bytes >= BATCH_BYTES
    }
}

impl Listener {
    fn origin(&self, peer: SocketAddr) -> String {
        format!("syslog {} from {peer}", self.name)
    }

    fn reject(&self, g: &mut Gathered, peer: SocketAddr, n: usize, reason: String, raw: &[u8]) {
        g.rejected.push(RecordError {
            path: Arc::from(self.origin(peer)),
            locator: Locator::Index(n as u64),
            source: vakt_ingest::syslog::source(),
            reason,
            raw: raw[..raw.len().min(KEEP)].to_vec(),
        });
    }

    /// Quarantines a message over the limit (`len` bytes, or more when the
    /// end was not seen), its first bytes kept.
    fn too_long(
        &self,
        g: &mut Gathered,
        peer: SocketAddr,
        n: usize,
        len: usize,
        or_more: bool,
        first: &[u8],
    ) {
        let more = if or_more { " or more" } else { "" };
        let reason = format!(
            "message of {len} bytes{more} is over the {}-byte limit (max_message_bytes); its first {KEEP} bytes are kept",
            self.max
        );
        self.reject(g, peer, n, reason, first);
    }

    /// Takes one message into `g`.
    fn take(&self, g: &mut Gathered, peer: SocketAddr, n: usize, msg: &[u8]) {
        let mut msg = msg;
        while let [rest @ .., b'\n' | b'\r' | b'\0'] = msg {
            msg = rest;
        }
        if msg.is_empty() {
            return;
        }
        if msg.len() > self.max {
            return self.too_long(g, peer, n, msg.len(), false, msg);
        }
        match self.placement.place(peer.ip(), msg) {
            Ok(t) => {
                let (body, count) = g.by_tenant.entry(t).or_default();
                vakt_ingest::syslog::frame_into(body, msg);
                *count += 1;
                g.messages += 1;
                g.bytes += msg.len() + 8;
            }
            Err(why) => self.reject(g, peer, n, format!("listener {}: {why}", self.name), msg),
        }
    }
}

/// Waits until the log has room and takes it; `None` when vakt is stopping
/// (or, impatient, when there is no room now).
async fn room(s: &State, bytes: usize, patient: bool) -> Option<Reservation> {
    loop {
        if let Some(r) = Reservation::take(&s.metrics, bytes, s.cfg.max_inflight_bytes) {
            return Some(r);
        }
        if !patient || s.to_log_closed() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends what `g` holds to the log and waits until it is durable. Patient
/// senders (TCP, TLS, RELP) wait for room; UDP drops what finds none.
/// `Err` when it could not be stored (the connection is closed, unanswered).
async fn send(
    s: &Arc<State>,
    l: &Listener,
    peer: SocketAddr,
    g: &mut Gathered,
    patient: bool,
) -> Result<(), String> {
    let g = std::mem::take(g);
    metrics::add(
        &s.metrics.syslog_received,
        l.name.clone(),
        g.messages as u64,
    );
    if !g.rejected.is_empty() {
        let who = l
            .placement
            .default
            .as_deref()
            .unwrap_or("unplaced")
            .to_owned();
        s.reject(&who, &g.rejected);
    }
    for (tenant, (body, count)) in g.by_tenant {
        let batch = Batch {
            tenant: tenant.clone(),
            origin: format!("{} @{}", l.origin(peer), crate::now().0),
            received: crate::now(),
            tail: None,
            parts: vec![Part {
                format: Some(Format::Syslog),
                body,
            }],
        };
        let Some(hold) = room(s, batch.bytes(), patient).await else {
            if patient {
                return Err("vakt is stopping".into());
            }
            metrics::add(&s.metrics.syslog_dropped, l.name.clone(), count as u64);
            continue;
        };
        let (batch, parsed) = tokio::task::spawn_blocking(move || {
            let p = crate::batch::parse(&batch);
            (batch, p)
        })
        .await
        .map_err(|e| format!("reading a batch failed: {e}"))?;
        let rejected: Vec<_> = parsed.rejected.into_iter().map(|(_, e)| e).collect();
        s.reject(&tenant, &rejected);
        if parsed.events.is_empty() {
            continue;
        }
        let n = parsed.events.len() as u64;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let mut append = Append {
            payload: batch.encode(),
            events: parsed.events,
            hold,
            tail: None,
            reply,
        };
        loop {
            match s.to_log.try_send(append) {
                Ok(()) => break,
                Err(TrySendError::Full(a)) if patient => {
                    append = a;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(TrySendError::Full(_)) => {
                    s.metrics.throttled.fetch_add(1, Relaxed);
                    metrics::add(&s.metrics.syslog_dropped, l.name.clone(), count as u64);
                    break;
                }
                Err(TrySendError::Disconnected(_)) => return Err("vakt is stopping".into()),
            }
        }
        match answer.await {
            Ok(Ok(_)) => s.metrics.accept(&tenant, n),
            Ok(Err(e)) => return Err(format!("not stored: {e}")),
            // Dropped unsent (UDP, full), or vakt stopping.
            Err(_) if !patient => {}
            Err(_) => return Err("vakt is stopping".into()),
        }
    }
    Ok(())
}

/// Binds every configured listener; returns them with their tasks' futures.
pub async fn start(
    s: Arc<State>,
    listeners: &[SyslogListener],
    closing: watch::Receiver<bool>,
) -> Result<(Vec<Arc<Listener>>, tokio::task::JoinSet<()>), String> {
    let mut out = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for cfg in listeners {
        let placement = Placement::new(cfg)?;
        let name = cfg.name();
        match cfg.protocol {
            SyslogProtocol::Udp => {
                let sock = udp_socket(cfg.listen)
                    .map_err(|e| format!("syslog {name}: cannot listen: {e}"))?;
                let local = sock.local_addr().map_err(|e| e.to_string())?;
                let l = Arc::new(Listener {
                    cfg: cfg.clone(),
                    name: format!("udp {local}"),
                    local,
                    placement,
                    max: s.cfg.max_message_bytes,
                });
                out.push(l.clone());
                tasks.spawn(udp(sock, l, s.clone(), closing.clone()));
            }
            proto => {
                let tls = if proto == SyslogProtocol::Tls {
                    let cert = cfg.tls_cert.as_ref().or(s.cfg.tls_cert.as_ref());
                    let key = cfg.tls_key.as_ref().or(s.cfg.tls_key.as_ref());
                    let (Some(c), Some(k)) = (cert, key) else {
                        return Err(format!(
                            "syslog {name}: TLS needs a certificate and key (tls_cert, tls_key)"
                        ));
                    };
                    let mut config = (*crate::tls::config(c, k)?).clone();
                    config.alpn_protocols.clear();
                    Some(TlsAcceptor::from(Arc::new(config)))
                } else {
                    None
                };
                let sock = tokio::net::TcpListener::bind(cfg.listen)
                    .await
                    .map_err(|e| format!("syslog {name}: cannot listen: {e}"))?;
                let local = sock.local_addr().map_err(|e| e.to_string())?;
                let l = Arc::new(Listener {
                    cfg: cfg.clone(),
                    name: format!("{} {local}", proto.name()),
                    local,
                    placement,
                    max: s.cfg.max_message_bytes,
                });
                out.push(l.clone());
                tasks.spawn(accept(sock, tls, l, s.clone(), closing.clone()));
            }
        }
    }
    Ok((out, tasks))
}

/// Datagrams the kernel cannot hand over in time are lost: the socket asks
/// for a large receive buffer (the kernel caps it at `net.core.rmem_max`).
const UDP_BUFFER: usize = 16 << 20;

fn udp_socket(addr: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(UDP_BUFFER) {
        tracing::warn!(target: "vakt::serve", "syslog udp {addr}: cannot enlarge the receive buffer: {e}");
    }
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    let got = s.recv_buffer_size().unwrap_or(0);
    if got < UDP_BUFFER {
        tracing::info!(target: "vakt::serve", "syslog udp {addr}: receive buffer {got} bytes (raise net.core.rmem_max for bursts)");
    }
    tokio::net::UdpSocket::from_std(s.into())
}

async fn accept(
    sock: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    l: Arc<Listener>,
    s: Arc<State>,
    mut closing: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (tcp, peer) = tokio::select! {
            r = sock.accept() => match r {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = closing.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let (l, s, closing) = (l.clone(), s.clone(), closing.clone());
        match tls.clone() {
            Some(acceptor) => {
                conns.spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(io)) => connection(io, peer, l, s, closing).await,
                        Ok(Err(e)) => {
                            tracing::debug!(target: "vakt::serve", "syslog TLS handshake with {peer} failed: {e}")
                        }
                        Err(_) => {
                            tracing::debug!(target: "vakt::serve", "syslog TLS handshake with {peer} timed out")
                        }
                    }
                });
            }
            None if l.cfg.protocol == SyslogProtocol::Relp => {
                conns.spawn(relp_connection(tcp, peer, l, s, closing));
            }
            None => {
                conns.spawn(connection(tcp, peer, l, s, closing));
            }
        }
        while conns.try_join_next().is_some() {}
    }
    // Connections send what they hold, then close.
    while conns.join_next().await.is_some() {}
}

/// Frames of a byte stream: octet-counted (`LEN SP MSG`) or LF-terminated,
/// told apart per message (RFC 6587).
#[derive(Default)]
pub struct Framer {
    buf: Vec<u8>,
    at: usize,
    /// Bytes of an over-long frame still to skip (octet-counted), or skip to
    /// the next LF (`usize::MAX`).
    skip: usize,
}

/// A frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole message.
    Message(Vec<u8>),
    /// A message over the limit: its first bytes, and its length as far as known.
    TooLong(Vec<u8>, usize),
}

impl Framer {
    /// Adds bytes read.
    pub fn push(&mut self, b: &[u8]) {
        if self.at > 0 && self.at >= self.buf.len() / 2 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.extend_from_slice(b);
    }

    fn skipping(&mut self) -> bool {
        if self.skip == 0 {
            return false;
        }
        let rest = &self.buf[self.at..];
        if self.skip == usize::MAX {
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    self.at += i + 1;
                    self.skip = 0;
                    false
                }
                None => {
                    self.at = self.buf.len();
                    true
                }
            }
        } else {
            let n = self.skip.min(rest.len());
            self.at += n;
            self.skip -= n;
            self.skip > 0
        }
    }

    /// The next frame, if whole; `Err` when the stream cannot be framed.
    pub fn next(&mut self, max: usize) -> Option<Result<Frame, String>> {
        if self.skipping() {
            return None;
        }
        let rest = &self.buf[self.at..];
        if rest.is_empty() {
            return None;
        }
        let digits = rest
            .iter()
            .take(11)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0 && rest.get(digits) == Some(&b' ') && rest[0] != b'0' {
            if digits > 10 {
                return Some(Err("octet count longer than 10 digits".into()));
            }
            let len: usize = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|d| d.parse().ok())?;
            let start = digits + 1;
            if len > max {
                let have = rest.len() - start;
                let prefix = rest[start..start + have.min(KEEP)].to_vec();
                self.at += start;
                self.skip = len;
                self.skipping();
                return Some(Ok(Frame::TooLong(prefix, len)));
            }
            if rest.len() < start + len {
                return None;
            }
            let msg = rest[start..start + len].to_vec();
            self.at += start + len;
            return Some(Ok(Frame::Message(msg)));
        }
        if digits == rest.len().min(11) && digits < 11 {
            // Digits so far: an octet count, or a line, once more comes.
            return None;
        }
        match memchr::memchr(b'\n', rest) {
            Some(i) if i > max => {
                let prefix = rest[..KEEP.min(i)].to_vec();
                self.at += i + 1;
                Some(Ok(Frame::TooLong(prefix, i)))
            }
            Some(i) => {
                let msg = rest[..i].to_vec();
                self.at += i + 1;
                Some(Ok(Frame::Message(msg)))
            }
            None if rest.len() > max => {
                let prefix = rest[..KEEP.min(rest.len())].to_vec();
                let n = rest.len();
                self.at = self.buf.len();
                self.skip = usize::MAX;
                Some(Ok(Frame::TooLong(prefix, n)))
            }
            None => None,
        }
    }

    /// What is left when the stream ends (a last line without LF).
    pub fn rest(&mut self) -> Option<Vec<u8>> {
        let r = self.buf[self.at..].to_vec();
        self.at = self.buf.len();
        (!r.is_empty() && self.skip == 0).then_some(r)
    }
}

/// A RELP frame: `TXNR SP COMMAND SP DATALEN [SP DATA] LF`.
#[derive(Debug, PartialEq, Eq)]
pub struct RelpFrame {
    /// The transaction number.
    pub txnr: u64,
    /// The command (`open`, `syslog`, `close`).
    pub command: String,
    /// The data (its first bytes, when over the limit).
    pub data: Vec<u8>,
    /// The data's length as sent.
    pub len: usize,
}

/// Frames of a RELP stream.
#[derive(Default)]
pub struct RelpFramer {
    buf: Vec<u8>,
    at: usize,
    skip: Option<(RelpFrame, usize)>,
}

impl RelpFramer {
    /// Adds bytes read.
    pub fn push(&mut self, b: &[u8]) {
        if self.at > 0 && self.at >= self.buf.len() / 2 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.extend_from_slice(b);
    }

    /// The next whole frame; `Err` when the stream is not RELP.
    pub fn next(&mut self, max: usize) -> Option<Result<RelpFrame, String>> {
        if let Some((_, left)) = &mut self.skip {
            let n = (*left).min(self.buf.len() - self.at);
            self.at += n;
            *left -= n;
            if *left > 0 {
                return None;
            }
            let (f, _) = self.skip.take()?;
            return Some(Ok(f));
        }
        let rest = &self.buf[self.at..];
        // The header is short: TXNR (≤ 9 digits), COMMAND (≤ 32), DATALEN (≤ 9).
        let mut fields = Vec::with_capacity(3);
        let mut pos = 0;
        for i in 0..3 {
            let end = rest[pos..]
                .iter()
                .take(33)
                .position(|c| *c == b' ' || *c == b'\n');
            let Some(end) = end else {
                if rest.len() - pos > 33 {
                    return Some(Err("not RELP: header field too long".into()));
                }
                return None;
            };
            fields.push(&rest[pos..pos + end]);
            pos += end;
            let sep = rest[pos];
            pos += 1;
            if i < 2 && sep != b' ' {
                return Some(Err("not RELP: header cut short".into()));
            }
            if i == 2 {
                pos -= 1; // the separator after DATALEN is read below
            }
        }
        let num = |b: &[u8]| -> Option<usize> {
            (!b.is_empty() && b.len() <= 9 && b.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(b).ok()?.parse().ok())
                .flatten()
        };
        let (Some(txnr), Some(len)) = (num(fields[0]), num(fields[2])) else {
            return Some(Err("not RELP: TXNR or DATALEN is not a number".into()));
        };
        let command = String::from_utf8_lossy(fields[1]).into_owned();
        if command.is_empty() || !command.bytes().all(|c| c.is_ascii_alphabetic()) {
            return Some(Err("not RELP: bad command".into()));
        }
        // After DATALEN: LF (no data), or SP DATA LF.
        let sep = rest[pos];
        pos += 1;
        if len == 0 {
            if sep == b'\n' {
                self.at += pos;
                return Some(Ok(RelpFrame {
                    txnr: txnr as u64,
                    command,
                    data: Vec::new(),
                    len: 0,
                }));
            }
            // `0 SP LF` is tolerated.
            if rest.get(pos) == Some(&b'\n') {
                self.at += pos + 1;
                return Some(Ok(RelpFrame {
                    txnr: txnr as u64,
                    command,
                    data: Vec::new(),
                    len: 0,
                }));
            }
            return Some(Err("not RELP: no trailer".into()));
        }
        if sep != b' ' {
            return Some(Err("not RELP: no space before DATA".into()));
        }
        if len > max {
            let have = (rest.len() - pos).min(len);
            let data = rest[pos..pos + have.min(KEEP)].to_vec();
            self.at += pos + have;
            // The data left, then the trailer.
            self.skip = Some((
                RelpFrame {
                    txnr: txnr as u64,
                    command,
                    data,
                    len,
                },
                len - have + 1,
            ));
            return self.next(max);
        }
        if rest.len() < pos + len + 1 {
            return None;
        }
        let data = rest[pos..pos + len].to_vec();
        if rest[pos + len] != b'\n' {
            return Some(Err("not RELP: no trailer after DATA".into()));
        }
        self.at += pos + len + 1;
        Some(Ok(RelpFrame {
            txnr: txnr as u64,
            command,
            data,
            len,
        }))
    }
}

/// Decrements the connection gauge when a connection ends.
struct Open(Arc<State>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.metrics.syslog_connections.fetch_sub(1, Relaxed);
    }
}

const RELP_OFFERS: &str = "relp_version=0\nrelp_software=vakt\ncommands=syslog";

/// What a RELP connection answers, in order.
enum Answer {
    /// Written once everything before it is.
    Now(String),
    /// `200 OK` for these transactions once their batch is in the log.
    Stored(Vec<u64>, tokio::task::JoinHandle<Result<(), String>>),
    /// The answer to `close`; then the connection ends.
    Close(u64),
    /// vakt is stopping.
    ServerClose,
}

/// One RELP connection. Reading never waits for the log: each batch goes
/// to the log on a task of its own while the next is read, and a writer
/// answers them in order as they become durable — many small batches (a
/// sender writing message by message) share one fsync.
async fn relp_connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: S,
    peer: SocketAddr,
    l: Arc<Listener>,
    s: Arc<State>,
    mut closing: watch::Receiver<bool>,
) {
    s.metrics.syslog_connections.fetch_add(1, Relaxed);
    let _open = Open(s.clone());
    let (mut rd, mut wr) = tokio::io::split(io);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Answer>(256);
    let name = l.name.clone();
    let answers = tokio::spawn(async move {
        while let Some(a) = rx.recv().await {
            let text = match a {
                Answer::Now(t) => t,
                Answer::Stored(txnrs, stored) => match stored.await {
                    Ok(Ok(())) => {
                        let mut t = String::with_capacity(txnrs.len() * 16);
                        for n in txnrs {
                            t.push_str(&format!("{n} rsp 6 200 OK\n"));
                        }
                        t
                    }
                    // Unanswered: the sender sends them again.
                    Ok(Err(e)) => {
                        tracing::warn!(target: "vakt::serve", "syslog {name}: {peer}: {e}; closing");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(target: "vakt::serve", "syslog {name}: {peer}: {e}; closing");
                        break;
                    }
                },
                Answer::Close(n) => {
                    let _ = wr.write_all(format!("{n} rsp 0\n").as_bytes()).await;
                    break;
                }
                Answer::ServerClose => {
                    let _ = wr.write_all(b"0 serverclose 0\n").await;
                    break;
                }
            };
            if wr.write_all(text.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut framer = RelpFramer::default();
    let mut g = Gathered::default();
    let mut chunk = vec![0u8; 64 << 10];
    let mut n = 0usize;
    let mut open = false;
    'conn: loop {
        let read = if g.is_empty() {
            tokio::select! {
                r = rd.read(&mut chunk) => Some(r),
                _ = closing.changed() => None,
            }
        } else {
            // What came is sent as soon as nothing more is there to read.
            match tokio::time::timeout(Duration::ZERO, rd.read(&mut chunk)).await {
                Ok(r) => Some(r),
                Err(_) => {
                    if !dispatch(&tx, &s, &l, peer, &mut g).await {
                        break;
                    }
                    continue;
                }
            }
        };
        let got = match read {
            Some(Ok(k)) if k > 0 => k,
            Some(_) => {
                dispatch(&tx, &s, &l, peer, &mut g).await;
                break;
            }
            None => {
                if dispatch(&tx, &s, &l, peer, &mut g).await {
                    let _ = tx.send(Answer::ServerClose).await;
                }
                break;
            }
        };
        framer.push(&chunk[..got]);
        while let Some(f) = framer.next(l.max) {
            let f = match f {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(target: "vakt::serve", "syslog {}: {peer}: {e}; closing", l.name);
                    dispatch(&tx, &s, &l, peer, &mut g).await;
                    break 'conn;
                }
            };
            let answer = match f.command.as_str() {
                "open" => {
                    open = true;
                    format!("200 OK\n{RELP_OFFERS}")
                }
                "syslog" if open => {
                    n += 1;
                    if f.len > l.max {
                        l.too_long(&mut g, peer, n, f.len, false, &f.data);
                    } else {
                        l.take(&mut g, peer, n, &f.data);
                    }
                    g.txnrs.push(f.txnr);
                    continue;
                }
                "close" => {
                    if dispatch(&tx, &s, &l, peer, &mut g).await {
                        let _ = tx.send(Answer::Close(f.txnr)).await;
                    }
                    break 'conn;
                }
                other if open => format!("500 command `{other}` is not supported"),
                _ => "500 the session is not open".to_owned(),
            };
            if !dispatch(&tx, &s, &l, peer, &mut g).await
                || tx
                    .send(Answer::Now(format!(
                        "{} rsp {} {answer}\n",
                        f.txnr,
                        answer.len()
                    )))
                    .await
                    .is_err()
            {
                break 'conn;
            }
        }
        if g.full() && !dispatch(&tx, &s, &l, peer, &mut g).await {
            break;
        }
    }
    drop(tx);
    let _ = answers.await;
}

/// Sends what is gathered to the log on a task of its own; its answer
/// follows in order. `false`: the connection is ending.
async fn dispatch(
    tx: &tokio::sync::mpsc::Sender<Answer>,
    s: &Arc<State>,
    l: &Arc<Listener>,
    peer: SocketAddr,
    g: &mut Gathered,
) -> bool {
    if g.is_empty() {
        return true;
    }
    let txnrs = std::mem::take(&mut g.txnrs);
    let mut batch = std::mem::take(g);
    let (s, l) = (s.clone(), l.clone());
    let stored = tokio::spawn(async move { send(&s, &l, peer, &mut batch, true).await });
    tx.send(Answer::Stored(txnrs, stored)).await.is_ok()
}

/// One TCP or TLS connection: read only as fast as the log takes it.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    peer: SocketAddr,
    l: Arc<Listener>,
    s: Arc<State>,
    mut closing: watch::Receiver<bool>,
) {
    s.metrics.syslog_connections.fetch_add(1, Relaxed);
    let _open = Open(s.clone());
    let mut framer = Framer::default();
    let mut g = Gathered::default();
    let mut chunk = vec![0u8; 64 << 10];
    let mut n = 0usize;
    loop {
        let read = if g.is_empty() {
            tokio::select! {
                r = io.read(&mut chunk) => Some(r),
                _ = closing.changed() => None,
            }
        } else {
            match tokio::time::timeout(BATCH_WAIT, io.read(&mut chunk)).await {
                Ok(r) => Some(r),
                Err(_) => {
                    // Nothing more came: send what is gathered.
                    if !flush(&s, &l, peer, &mut g).await {
                        return;
                    }
                    continue;
                }
            }
        };
        let got = match read {
            Some(Ok(k)) if k > 0 => k,
            _ => {
                if let Some(last) = framer.rest() {
                    n += 1;
                    l.take(&mut g, peer, n, &last);
                }
                flush(&s, &l, peer, &mut g).await;
                let _ = io.shutdown().await;
                return;
            }
        };
        framer.push(&chunk[..got]);
        while let Some(f) = framer.next(l.max) {
            n += 1;
            match f {
                Ok(Frame::Message(m)) => l.take(&mut g, peer, n, &m),
                Ok(Frame::TooLong(prefix, len)) => l.too_long(&mut g, peer, n, len, true, &prefix),
                Err(e) => {
                    tracing::warn!(target: "vakt::serve", "syslog {}: {peer}: {e}; closing", l.name);
                    flush(&s, &l, peer, &mut g).await;
                    return;
                }
            }
        }
        if g.full() && !flush(&s, &l, peer, &mut g).await {
            return;
        }
    }
}

/// Sends what is gathered and waits until it is durable. `false`: the
/// connection is to be closed (not stored).
async fn flush(s: &Arc<State>, l: &Listener, peer: SocketAddr, g: &mut Gathered) -> bool {
    if g.is_empty() {
        return true;
    }
    if let Err(e) = send(s, l, peer, g, true).await {
        tracing::warn!(target: "vakt::serve", "syslog {}: {peer}: {e}; closing", l.name);
        return false;
    }
    true
}

/// The UDP socket: one message per datagram.
async fn udp(
    sock: tokio::net::UdpSocket,
    l: Arc<Listener>,
    s: Arc<State>,
    mut closing: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 65_536];
    // Per sender: what it sent, gathered.
    let mut gathered: BTreeMap<SocketAddr, Gathered> = BTreeMap::new();
    let mut n = 0usize;
    // Batches being sent at once; beyond this a batch is dropped, counted.
    let sending = Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let got = if gathered.is_empty() {
            tokio::select! {
                r = sock.recv_from(&mut buf) => Some(r),
                _ = closing.changed() => None,
            }
        } else {
            match tokio::time::timeout(BATCH_WAIT, sock.recv_from(&mut buf)).await {
                Ok(r) => Some(r),
                Err(_) => Some(Err(std::io::Error::from(std::io::ErrorKind::TimedOut))),
            }
        };
        let stop = got.is_none();
        let mut due = stop;
        match got {
            Some(Ok((k, peer))) => {
                n += 1;
                let g = gathered.entry(peer).or_default();
                if k >= buf.len() {
                    l.reject(g, peer, n, "datagram over 64 KiB".into(), &buf[..k]);
                } else {
                    l.take(g, peer, n, &buf[..k]);
                }
                due = g.full();
            }
            Some(Err(_)) => due = true,
            None => {}
        }
        if due {
            for (peer, mut g) in std::mem::take(&mut gathered) {
                if g.is_empty() {
                    continue;
                }
                let Ok(permit) = sending.clone().try_acquire_owned() else {
                    metrics::add(
                        &s.metrics.syslog_received,
                        l.name.clone(),
                        g.messages as u64,
                    );
                    metrics::add(&s.metrics.syslog_dropped, l.name.clone(), g.messages as u64);
                    if !g.rejected.is_empty() {
                        s.reject("unplaced", &std::mem::take(&mut g.rejected));
                    }
                    continue;
                };
                let (s, l) = (s.clone(), l.clone());
                tasks.spawn(async move {
                    if let Err(e) = send(&s, &l, peer, &mut g, false).await {
                        tracing::warn!(target: "vakt::serve", "syslog {}: {e}", l.name);
                    }
                    drop(permit);
                });
            }
            while tasks.try_join_next().is_some() {}
        }
        if stop {
            while tasks.join_next().await.is_some() {}
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let n = Network::parse("10.20.0.0/16").unwrap();
        assert!(n.contains("10.20.3.4".parse().unwrap()));
        assert!(!n.contains("10.21.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.20.0.9".parse().unwrap()));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(
            Network::parse("2001:db8::/32")
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("ten").is_err());
    }

    #[test]
    fn framing_octets_lines_and_limits() {
        let mut f = Framer::default();
        let mut got = Vec::new();
        let stream = b"10 <13>1 a\nb\n<14>line two\n5 <13>x15 <13>aaaaaaaaaa";
        // Byte by byte: frames come out whole whatever the reads.
        for b in stream.iter() {
            f.push(&[*b]);
            while let Some(x) = f.next(12) {
                got.push(x.unwrap());
            }
        }
        assert_eq!(
            got,
            vec![
                Frame::Message(b"<13>1 a\nb\n".to_vec()),
                Frame::Message(b"<14>line two".to_vec()),
                Frame::Message(b"<13>x".to_vec()),
                Frame::TooLong(b"".to_vec(), 15),
            ]
        );
        // A too-long line is skipped to its end; the next one is read.
        let mut f = Framer::default();
        f.push(&[b'x'; 30]);
        assert!(matches!(f.next(10), Some(Ok(Frame::TooLong(_, 30)))));
        f.push(b"yyy\n<13>ok\n");
        assert_eq!(f.next(10), Some(Ok(Frame::Message(b"<13>ok".to_vec()))));
        // A whole line over a limit smaller than what is kept of it.
        f.push(b"<13>yyyyyyyyyyyyyyyyyyyy\n<13>ok\n");
        assert!(matches!(f.next(10), Some(Ok(Frame::TooLong(p, 24))) if p.len() == 24));
        assert_eq!(f.next(10), Some(Ok(Frame::Message(b"<13>ok".to_vec()))));
        let mut f = Framer::default();
        f.push(b"12345678901 <13>x");
        assert!(matches!(f.next(10), Some(Err(_))));
    }

    #[test]
    fn relp_frames() {
        let mut f = RelpFramer::default();
        let open = "1 open 86 relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n";
        let s = format!("{open}2 syslog 5 <13>x\n3 close 0\n");
        let mut got = Vec::new();
        for b in s.as_bytes() {
            f.push(&[*b]);
            while let Some(x) = f.next(100) {
                got.push(x.unwrap());
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].command, "open");
        assert_eq!(got[0].data.len(), 86);
        assert_eq!((got[1].txnr, &got[1].data[..]), (2, &b"<13>x"[..]));
        assert_eq!((got[2].txnr, got[2].command.as_str()), (3, "close"));
        // Over the limit: the frame's first bytes, the rest skipped.
        let mut f = RelpFramer::default();
        f.push(b"4 syslog 20 <13>aaaaaaaaaaaaaaaa\n5 syslog 3 <1>\n");
        let a = f.next(10).unwrap().unwrap();
        assert_eq!((a.txnr, a.len), (4, 20));
        let b = f.next(10).unwrap().unwrap();
        assert_eq!((b.txnr, &b.data[..]), (5, &b"<1>"[..]));
        let mut f = RelpFramer::default();
        f.push(b"GET / HTTP/1.1\r\n");
        assert!(matches!(f.next(10), Some(Err(_))));
    }

    /// A small deterministic generator (no dependency for a test).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// Whatever bytes come, in whatever pieces, the framers never panic and
    /// always move on.
    #[test]
    fn framers_take_any_bytes() {
        let seeds: [&[u8]; 6] = [
            b"10 <13>1 a\nb\n",
            b"<14>line two\n",
            b"1 open 5 hello\n",
            b"2 syslog 3 <1>\n",
            b"99999999999 x",
            b"\n\n\n 0 <",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3_000 {
            let mut input = Vec::new();
            for _ in 0..rng.below(8) {
                let s = seeds[rng.below(seeds.len() as u64) as usize];
                input.extend_from_slice(s);
                if rng.below(3) == 0 {
                    let at = rng.below(input.len() as u64) as usize;
                    input[at] = rng.next() as u8;
                }
            }
            let max = 1 + rng.below(40) as usize;
            let (mut f, mut r) = (Framer::default(), RelpFramer::default());
            let mut at = 0;
            while at < input.len() {
                let n = (1 + rng.below(7) as usize).min(input.len() - at);
                f.push(&input[at..at + n]);
                r.push(&input[at..at + n]);
                at += n;
                let mut guard = 0;
                while let Some(x) = f.next(max) {
                    guard += 1;
                    assert!(guard < 10_000);
                    if x.is_err() {
                        f = Framer::default();
                        break;
                    }
                }
                while let Some(x) = r.next(max) {
                    guard += 1;
                    assert!(guard < 10_000);
                    if x.is_err() {
                        r = RelpFramer::default();
                        break;
                    }
                }
            }
            let _ = f.rest();
        }
    }
}
