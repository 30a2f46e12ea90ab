//! Syslog: RFC 5424 and RFC 3164 messages, one per line or octet-counted
//! (RFC 6587 `LEN SP MSG`, how TCP and TLS syslog frame them and how
//! `vakt serve` keeps them in its write-ahead log).
//!
//! A message whose text is a JSON object of a shape vakt reads — Suricata
//! EVE, Windows events (Winlogbeat, NXLog, evtx_dump), Zeek JSON, FHIR
//! AuditEvent — becomes that format's event, with the syslog header beside
//! it as `syslog.*` fields. Anything else becomes a `syslog` event:
//!
//! | field | from |
//! |---|---|
//! | `facility`, `severity` | PRI, by name (`auth`, `err`) |
//! | `pri` | PRI as a number |
//! | `hostname`, `app_name`, `procid`, `msgid` | the header (RFC 3164: `TAG[pid]:`) |
//! | `message` | the text (a UTF-8 BOM dropped) |
//! | `<SD-ID>.<name>` | every structured-data parameter (`origin.ip`, `meta.sequenceId`) |
//! | any JSON path | the fields of a JSON text of no known shape |
//!
//! Common fields: `device.hostname` ← hostname, `severity` ← the severity
//! number, `process.pid` ← a numeric procid.
//!
//! Times: RFC 5424's RFC 3339 timestamp; RFC 3164's `Mmm dd hh:mm:ss`
//! carries no year and no zone — the year is the one the message was
//! received in (the year before, if that would put it more than a day in
//! the future) and the zone UTC. A message without a time (`-`, or a
//! traditional line without one) takes the time it was received.

use std::borrow::Cow;
use std::io::{BufRead, Read};
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde_json::Value as Json;
use vakt_core::field::{DEVICE_HOSTNAME, PROCESS_PID, SEVERITY};
use vakt_core::{Event, FieldId, Locator, SourceKind, Timestamp, Value};

use crate::flatten::flatten_into;
use crate::json_events::RecordMapper;
use crate::sniff::{Sniffed, classify};
use crate::{Format, ReadContext, RecordError};

/// The longest message read (bytes); longer ones are rejected.
pub const MAX_MESSAGE: usize = 1 << 20;

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// One structured-data element (RFC 5424 `[id name="value" …]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement<'a> {
    /// Its SD-ID (`origin`, `meta`, `exampleSDID@32473`).
    pub id: &'a str,
    /// Its parameters, values unescaped.
    pub params: Vec<(&'a str, Cow<'a, str>)>,
}

/// A syslog message's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// PRI (facility × 8 + severity), if the message has one.
    pub pri: Option<u8>,
    /// The RFC 5424 version (`None`: RFC 3164).
    pub version: Option<u8>,
    /// The time the message carries, if any.
    pub time: Option<Timestamp>,
    /// HOSTNAME.
    pub hostname: Option<&'a str>,
    /// APP-NAME (RFC 3164: the tag).
    pub app_name: Option<&'a str>,
    /// PROCID.
    pub procid: Option<&'a str>,
    /// MSGID.
    pub msgid: Option<&'a str>,
    /// STRUCTURED-DATA.
    pub sd: Vec<SdElement<'a>>,
    /// MSG, a UTF-8 BOM removed.
    pub msg: &'a [u8],
}

impl Message<'_> {
    /// The structured-data parameter `name` of element `id`.
    pub fn sd_param(&self, id: &str, name: &str) -> Option<&str> {
        self.sd
            .iter()
            .filter(|e| e.id == id)
            .flat_map(|e| e.params.iter())
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
    }
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// Splits off the next space-delimited token.
fn token(b: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b' ', b) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &[]),
    }
}

fn text<'a>(b: &'a [u8], what: &str) -> Result<&'a str, String> {
    std::str::from_utf8(b).map_err(|_| format!("{what} is not UTF-8"))
}

/// Parses `<PRI>` at the start, if there.
fn pri(b: &[u8]) -> Result<(Option<u8>, &[u8]), String> {
    if b.first() != Some(&b'<') {
        return Ok((None, b));
    }
    let end = b
        .iter()
        .take(5)
        .position(|c| *c == b'>')
        .ok_or("`<` without a closing `>` (PRI)")?;
    let digits = &b[1..end];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err("PRI is not a number".into());
    }
    let n: u32 = text(digits, "PRI")?
        .parse()
        .map_err(|_| "PRI is not a number")?;
    if n > 191 {
        return Err(format!("PRI {n} is over 191"));
    }
    Ok((Some(n as u8), &b[end + 1..]))
}

/// Parses one message (no framing, no trailing newline). `received` is
/// when it arrived: the time of a message without one, and the year of an
/// RFC 3164 time.
pub fn parse(line: &[u8], received: Timestamp) -> Result<Message<'_>, String> {
    let (pri, rest) = pri(line)?;
    // RFC 5424: a version number right after PRI.
    if pri.is_some() {
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if (1..=2).contains(&digits) && rest[0] != b'0' && rest.get(digits) == Some(&b' ') {
            return parse_5424(pri, rest, digits);
        }
    }
    parse_3164(pri, rest, received)
}

fn parse_5424(pri: Option<u8>, rest: &[u8], digits: usize) -> Result<Message<'_>, String> {
    let version = text(&rest[..digits], "VERSION")?
        .parse()
        .map_err(|_| "VERSION is not a number")?;
    let rest = &rest[digits + 1..];
    let (ts, rest) = token(rest);
    let ts = text(ts, "TIMESTAMP")?;
    let time = match nil(ts) {
        None => None,
        Some(t) => Some(
            Timestamp::parse(t).map_err(|_| format!("RFC 5424 TIMESTAMP `{t}` is not RFC 3339"))?,
        ),
    };
    let (host, rest) = token(rest);
    let (app, rest) = token(rest);
    let (procid, rest) = token(rest);
    let (msgid, rest) = token(rest);
    if rest.is_empty() && msgid.is_empty() {
        return Err("RFC 5424 header cut short (no MSGID)".into());
    }
    let (sd, rest) = structured_data(rest)?;
    let msg = match rest.first() {
        Some(b' ') => &rest[1..],
        _ => rest,
    };
    Ok(Message {
        pri,
        version: Some(version),
        time,
        hostname: nil(text(host, "HOSTNAME")?),
        app_name: nil(text(app, "APP-NAME")?),
        procid: nil(text(procid, "PROCID")?),
        msgid: nil(text(msgid, "MSGID")?),
        sd,
        msg: strip_bom(msg),
    })
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}

/// STRUCTURED-DATA: `-` or `[id k="v" …]…`.
fn structured_data(b: &[u8]) -> Result<(Vec<SdElement<'_>>, &[u8]), String> {
    if b.first() == Some(&b'-') {
        return Ok((Vec::new(), &b[1..]));
    }
    let mut out = Vec::new();
    let mut at = 0;
    while b.get(at) == Some(&b'[') {
        at += 1;
        let id_end = b[at..]
            .iter()
            .position(|c| matches!(c, b' ' | b']'))
            .map(|i| at + i)
            .ok_or("structured data: element not closed")?;
        let id = text(&b[at..id_end], "SD-ID")?;
        if id.is_empty() {
            return Err("structured data: empty SD-ID".into());
        }
        at = id_end;
        let mut params = Vec::new();
        loop {
            match b.get(at) {
                Some(b']') => {
                    at += 1;
                    break;
                }
                Some(b' ') => at += 1,
                None => return Err(format!("structured data: element `{id}` not closed")),
                Some(_) => {
                    let eq = b[at..]
                        .iter()
                        .position(|c| *c == b'=')
                        .map(|i| at + i)
                        .ok_or_else(|| {
                            format!("structured data: parameter without `=` in `{id}`")
                        })?;
                    let name = text(&b[at..eq], "SD-NAME")?;
                    if b.get(eq + 1) != Some(&b'"') {
                        return Err(format!("structured data: value of `{name}` not quoted"));
                    }
                    let start = eq + 2;
                    let mut i = start;
                    let mut escaped = false;
                    loop {
                        match b.get(i) {
                            None => {
                                return Err(format!(
                                    "structured data: value of `{name}` not closed"
                                ));
                            }
                            Some(b'\\') => {
                                escaped = true;
                                i += 2;
                            }
                            Some(b'"') => break,
                            Some(_) => i += 1,
                        }
                    }
                    let raw = b.get(start..i).ok_or("structured data: cut short")?;
                    let raw = text(raw, "SD-PARAM value")?;
                    let value = if escaped {
                        let mut s = String::with_capacity(raw.len());
                        let mut chars = raw.chars();
                        while let Some(c) = chars.next() {
                            match c {
                                '\\' => match chars.next() {
                                    Some(n @ ('"' | '\\' | ']')) => s.push(n),
                                    Some(n) => {
                                        s.push('\\');
                                        s.push(n);
                                    }
                                    None => s.push('\\'),
                                },
                                c => s.push(c),
                            }
                        }
                        Cow::Owned(s)
                    } else {
                        Cow::Borrowed(raw)
                    };
                    params.push((name, value));
                    at = i + 1;
                }
            }
        }
        out.push(SdElement { id, params });
    }
    if out.is_empty() {
        return Err("structured data is neither `-` nor `[…]`".into());
    }
    Ok((out, &b[at..]))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `Mmm dd hh:mm:ss` at the start of `b`: month, day, seconds of the day.
fn bsd_time(b: &[u8]) -> Option<(u32, u32, u32)> {
    if b.len() < 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let month = MONTHS.iter().position(|m| &b[..3] == *m)? as u32 + 1;
    let num = |s: &[u8]| -> Option<u32> {
        let mut n = 0u32;
        let mut any = false;
        for c in s {
            match c {
                b' ' if !any => {}
                b'0'..=b'9' => {
                    n = n * 10 + u32::from(c - b'0');
                    any = true;
                }
                _ => return None,
            }
        }
        any.then_some(n)
    };
    let day = num(&b[4..6])?;
    let (h, m, s) = (num(&b[7..9])?, num(&b[10..12])?, num(&b[13..15])?);
    (h < 24 && m < 60 && s < 61).then_some((month, day, h * 3600 + m * 60 + s))
}

/// An RFC 3164 time in the year it was most likely sent.
fn bsd_timestamp(month: u32, day: u32, secs: u32, received: Timestamp) -> Option<Timestamp> {
    let now = Utc.timestamp_nanos(received.0);
    let at = |year: i32| {
        let d = NaiveDate::from_ymd_opt(year, month, day)?;
        let t = d.and_hms_opt(secs / 3600, secs / 60 % 60, (secs % 60).min(59))?;
        t.and_utc().timestamp_nanos_opt().map(Timestamp)
    };
    let day_ns = 86_400 * 1_000_000_000i64;
    match at(now.year()) {
        Some(t) if t.0 <= received.0.saturating_add(day_ns) => Some(t),
        _ => at(now.year() - 1).or_else(|| at(now.year())),
    }
}

fn parse_3164(pri: Option<u8>, rest: &[u8], received: Timestamp) -> Result<Message<'_>, String> {
    let mut time = None;
    let mut rest = rest;
    if let Some((m, d, s)) = bsd_time(rest) {
        time = bsd_timestamp(m, d, s, received);
        rest = rest.get(15..).unwrap_or(&[]);
        rest = rest.strip_prefix(b" ").unwrap_or(rest);
    } else if rest.first().is_some_and(u8::is_ascii_digit) {
        // rsyslog's forwarding format: an RFC 3339 time in the 3164 layout.
        let (ts, after) = token(rest);
        if let Ok(t) = std::str::from_utf8(ts).map_err(|_| ()).and_then(|t| {
            if t.len() >= 19 && t.as_bytes()[4] == b'-' {
                Timestamp::parse(t).map_err(|_| ())
            } else {
                Err(())
            }
        }) {
            time = Some(t);
            rest = after;
        }
    }
    if pri.is_none() && time.is_none() {
        return Err("not a syslog message: no <PRI> and no timestamp".into());
    }
    let mut hostname = None;
    let mut app_name = None;
    let mut procid = None;
    if time.is_some() {
        let (first, after) = token(rest);
        let is_tag = |t: &[u8]| t.ends_with(b":") || (t.contains(&b'[') && t.ends_with(b"]:"));
        let (host, tag_and_rest) = if is_tag(first) {
            (None, rest)
        } else {
            (Some(first), after)
        };
        if let Some(h) = host {
            hostname = nil(text(h, "HOSTNAME")?);
        }
        let (tag, after_tag) = token(tag_and_rest);
        if tag.ends_with(b":") && tag.len() > 1 && !tag.contains(&b'"') {
            let tag = text(&tag[..tag.len() - 1], "TAG")?;
            match tag.split_once('[') {
                Some((app, pid)) => {
                    app_name = nil(app);
                    procid = nil(pid.trim_end_matches(']'));
                }
                None => app_name = nil(tag),
            }
            rest = after_tag;
        } else {
            rest = tag_and_rest;
        }
    }
    Ok(Message {
        pri,
        version: None,
        time,
        hostname,
        app_name,
        procid,
        msgid: None,
        sd: Vec::new(),
        msg: strip_bom(rest),
    })
}

/// The JSON text of a message, if it is one (after an optional `@cee:` cookie).
fn json_text(msg: &[u8]) -> Option<&[u8]> {
    let m = msg.strip_prefix(b"@cee:").unwrap_or(msg);
    let n = m.iter().take_while(|c| c.is_ascii_whitespace()).count();
    let m = &m[n..];
    (m.first() == Some(&b'{')).then_some(m)
}

/// The mappers of JSON payloads, made when first needed.
#[derive(Default)]
struct Mappers {
    windows: Option<crate::windows::WindowsJson>,
    eve: Option<crate::eve::Eve>,
    zeek: Option<crate::zeek::ZeekJson>,
    fhir: Option<crate::fhir::Fhir>,
}

impl Mappers {
    fn get(&mut self, format: Format, ctx: &ReadContext) -> Option<&mut dyn RecordMapper> {
        let c = || ctx.clone();
        Some(match format {
            Format::EvtxJson => self
                .windows
                .get_or_insert_with(|| crate::windows::WindowsJson::new(c())),
            Format::Eve => self.eve.get_or_insert_with(|| crate::eve::Eve::new(c())),
            Format::Zeek => self
                .zeek
                .get_or_insert_with(|| crate::zeek::ZeekJson::new(c())),
            Format::Fhir => self.fhir.get_or_insert_with(|| crate::fhir::Fhir::new(c())),
            _ => return None,
        })
    }
}

/// Reads syslog messages and makes events of them.
pub struct SyslogEvents<R> {
    reader: R,
    ctx: ReadContext,
    received: Timestamp,
    source: SourceKind,
    mappers: Mappers,
    line: u64,
    count: u64,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<Result<Event, RecordError>>,
    done: bool,
    framed: bool,
}

/// Reads syslog messages, LF-terminated or octet-counted. `received` is the
/// time they arrived (for a file: when it was written).
pub fn read<R: BufRead>(reader: R, ctx: ReadContext, received: Timestamp) -> SyslogEvents<R> {
    SyslogEvents {
        reader,
        ctx,
        received,
        source: SourceKind::new("syslog"),
        mappers: Mappers::default(),
        line: 0,
        count: 0,
        buf: Vec::new(),
        pending: Default::default(),
        done: false,
        framed: false,
    }
}

/// Reads messages that are all octet-counted (`LEN SP MSG`, whatever MSG
/// starts with): how `vakt serve` keeps what its listeners received.
pub fn read_framed<R: BufRead>(
    reader: R,
    ctx: ReadContext,
    received: Timestamp,
) -> SyslogEvents<R> {
    SyslogEvents {
        framed: true,
        ..read(reader, ctx, received)
    }
}

/// Appends `msg` to `out` as an octet-counted frame.
pub fn frame_into(out: &mut Vec<u8>, msg: &[u8]) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

/// If `b` starts an octet-counted frame (`LEN SP <`), its length and header size.
pub fn octet_count(b: &[u8]) -> Option<(usize, usize)> {
    let digits = b.iter().take(11).take_while(|c| c.is_ascii_digit()).count();
    if digits == 0
        || digits > 10
        || b.get(digits) != Some(&b' ')
        || b.get(digits + 1) != Some(&b'<')
    {
        return None;
    }
    let n: usize = std::str::from_utf8(&b[..digits]).ok()?.parse().ok()?;
    Some((n, digits + 1))
}

impl<R: BufRead> SyslogEvents<R> {
    fn error(&self, locator: Locator, reason: String, raw: &[u8]) -> RecordError {
        RecordError {
            path: self.ctx.path.clone(),
            locator,
            source: self.source.as_arc().clone(),
            reason,
            raw: raw.to_vec(),
        }
    }

    /// Reads the next frame into `buf`; its locator, or `None` at the end.
    fn frame(&mut self) -> Option<Result<Locator, RecordError>> {
        loop {
            self.buf.clear();
            let head = match self.reader.fill_buf() {
                Ok(h) => h,
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.error(
                        Locator::Index(self.count + 1),
                        format!("read failed: {e}"),
                        &[],
                    )));
                }
            };
            if head.is_empty() {
                return None;
            }
            // Octet counting needs the length and the `<` in view: at most 12 bytes.
            let mut peek = [0u8; 12];
            let n = head.len().min(12);
            peek[..n].copy_from_slice(&head[..n]);
            let counted = if self.framed {
                let digits = peek[..n].iter().take_while(|c| c.is_ascii_digit()).count();
                match (digits, peek.get(digits)) {
                    (1..=10, Some(b' ')) if digits < n => std::str::from_utf8(&peek[..digits])
                        .ok()
                        .and_then(|d| d.parse().ok())
                        .map(|len| (len, digits + 1)),
                    _ => {
                        self.done = true;
                        return Some(Err(self.error(
                            Locator::Index(self.count + 1),
                            "not an octet-counted frame".into(),
                            &[],
                        )));
                    }
                }
            } else {
                octet_count(&peek[..n])
            };
            if let Some((len, hdr)) = counted {
                self.reader.consume(hdr);
                self.count += 1;
                let at = Locator::Index(self.count);
                if len > MAX_MESSAGE {
                    self.done = true;
                    return Some(Err(self.error(
                        at,
                        format!(
                            "octet-counted frame of {len} bytes is over the {MAX_MESSAGE}-byte limit; the rest of the input cannot be framed"
                        ),
                        &[],
                    )));
                }
                self.buf.resize(len, 0);
                if let Err(e) = self.reader.read_exact(&mut self.buf) {
                    self.done = true;
                    return Some(Err(self.error(
                        at,
                        format!("octet-counted frame of {len} bytes cut short: {e}"),
                        &[],
                    )));
                }
                // Tolerate a newline after the frame (some senders add one).
                if let Ok(h) = self.reader.fill_buf()
                    && h.first() == Some(&b'\n')
                {
                    self.reader.consume(1);
                }
                return Some(Ok(at));
            }
            self.line += 1;
            self.count += 1;
            let read = (&mut self.reader)
                .take(MAX_MESSAGE as u64 + 1)
                .read_until(b'\n', &mut self.buf);
            let at = Locator::Line(self.line);
            match read {
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.error(at, format!("read failed: {e}"), &[])));
                }
                Ok(_) if self.buf.len() > MAX_MESSAGE && !self.buf.ends_with(b"\n") => {
                    // Skip the rest of the long line.
                    let mut skipped = Vec::new();
                    let _ = self.reader.read_until(b'\n', &mut skipped);
                    let raw: Vec<u8> = self.buf[..4096].to_vec();
                    return Some(Err(self.error(
                        at,
                        format!("line longer than {MAX_MESSAGE} bytes"),
                        &raw,
                    )));
                }
                Ok(_) => {}
            }
            while matches!(self.buf.last(), Some(b'\n' | b'\r' | b'\0')) {
                self.buf.pop();
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(Ok(at));
        }
    }

    fn events(&mut self, at: Locator) {
        let buf = std::mem::take(&mut self.buf);
        let result = self.map(&buf, at);
        self.buf = buf;
        if let Err(reason) = result {
            let e = self.error(at, reason, &self.buf);
            self.pending.push_back(Err(e));
        }
    }

    fn map(&mut self, raw: &[u8], at: Locator) -> Result<(), String> {
        let m = parse(raw, self.received)?;
        let time = m.time.unwrap_or(self.received);
        let mut header: Vec<(FieldId, Value)> = Vec::with_capacity(12);
        let mut common = Vec::with_capacity(3);
        let field = |name: &str| FieldId::intern(name).map_err(|e| e.to_string());
        if let Some(p) = m.pri {
            header.push((field("pri")?, Value::Int(i64::from(p))));
            header.push((
                field("facility")?,
                Value::str(FACILITIES[usize::from(p / 8)]),
            ));
            header.push((
                field("severity")?,
                Value::str(SEVERITIES[usize::from(p % 8)]),
            ));
            common.push((SEVERITY, Value::Int(i64::from(p % 8))));
        }
        for (name, v) in [
            ("hostname", m.hostname),
            ("app_name", m.app_name),
            ("procid", m.procid),
            ("msgid", m.msgid),
        ] {
            if let Some(v) = v {
                header.push((field(name)?, Value::str(v)));
            }
        }
        if let Some(h) = m.hostname {
            common.push((DEVICE_HOSTNAME, Value::str(h)));
        }
        if let Some(pid) = m.procid.and_then(|p| p.parse::<i64>().ok()) {
            common.push((PROCESS_PID, Value::Int(pid)));
        }
        for e in &m.sd {
            for (n, v) in &e.params {
                header.push((field(&format!("{}.{n}", e.id))?, Value::str(v)));
            }
        }
        let json = json_text(m.msg).and_then(|t| serde_json::from_slice::<Json>(t).ok());
        if let Some(Json::Object(obj)) = &json {
            let format = match classify(obj, "", self.ctx.timestamp_field.as_deref()) {
                Sniffed::Format(f) => Some(f),
                _ => None,
            };
            let value = json.as_ref().unwrap_or(&Json::Null);
            if let Some(mapper) = format.and_then(|f| self.mappers.get(f, &self.ctx)) {
                let mut out = Vec::new();
                let mapped = mapper.map(value, at, &mut out);
                for mut ev in out {
                    for (id, v) in &header {
                        let name = format!("syslog.{}", id.name());
                        ev.fields.push((field(&name)?, v.clone()));
                    }
                    self.pending.push_back(Ok(ev));
                }
                return mapped;
            }
            // JSON of no known shape: its fields beside the header.
            flatten_into(&mut String::new(), value, &mut header).map_err(|e| e.to_string())?;
        }
        header.push((
            field("message")?,
            Value::str(&String::from_utf8_lossy(m.msg)),
        ));
        let ev = self
            .ctx
            .event(time, self.source.clone(), header, common, at);
        self.pending.push_back(Ok(ev));
        Ok(())
    }
}

impl<R: BufRead> Iterator for SyslogEvents<R> {
    type Item = Result<Event, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            match self.frame()? {
                Ok(at) => self.events(at),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Does `head` look like syslog (for sniffing)?
pub(crate) fn looks_like(head: &[u8]) -> bool {
    let b = match octet_count(head) {
        Some((_, hdr)) => &head[hdr..],
        None => head,
    };
    match pri(b) {
        Ok((Some(_), _)) => true,
        Ok((None, rest)) => bsd_time(rest).is_some(),
        Err(_) => false,
    }
}

/// The source kind of plain syslog events.
pub fn source() -> Arc<str> {
    Arc::from("syslog")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let line = br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high \"x\" \]"] BOMAn application event log entry"#;
        let m = parse(line, at("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(m.pri, Some(165));
        assert_eq!(m.version, Some(1));
        assert_eq!(m.time, Some(at("2003-10-11T22:14:15.003Z")));
        assert_eq!(m.hostname, Some("mymachine.example.com"));
        assert_eq!(m.app_name, Some("evntslog"));
        assert_eq!(m.procid, None);
        assert_eq!(m.msgid, Some("ID47"));
        assert_eq!(m.sd.len(), 2);
        assert_eq!(m.sd_param("exampleSDID@32473", "eventID"), Some("1011"));
        assert_eq!(
            m.sd_param("examplePriority@32473", "class"),
            Some("high \"x\" ]")
        );
        assert_eq!(m.msg, b"BOMAn application event log entry");
        let m = parse(b"<34>1 - - - - - -", at("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!((m.time, m.hostname, m.msg), (None, None, &b""[..]));
    }

    #[test]
    fn rfc3164_and_its_year() {
        let got = parse(
            b"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8",
            at("2026-12-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(got.time, Some(at("2026-10-11T22:14:15Z")));
        assert_eq!(got.hostname, Some("mymachine"));
        assert_eq!(got.app_name, Some("su"));
        assert_eq!(got.procid, Some("123"));
        assert_eq!(got.msg, b"'su root' failed for lonvick on /dev/pts/8");
        // December's message read in January is last year's.
        let got = parse(b"<13>Dec 31 23:59:59 h app: x", at("2027-01-01T00:00:10Z")).unwrap();
        assert_eq!(got.time, Some(at("2026-12-31T23:59:59Z")));
        // A day padded with a space; no hostname before the tag.
        let got = parse(
            b"<13>Feb  3 01:02:03 sshd[9]: hello",
            at("2026-06-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(got.time, Some(at("2026-02-03T01:02:03Z")));
        assert_eq!((got.hostname, got.app_name), (None, Some("sshd")));
        // rsyslog's forwarding format: RFC 3339 in the 3164 layout.
        let got = parse(
            b"<86>2026-12-01T06:00:00.123456+01:00 web01 sshd[42]: Accepted publickey",
            at("2026-12-01T06:00:00Z"),
        )
        .unwrap();
        assert_eq!(got.time, Some(at("2026-12-01T05:00:00.123456Z")));
        assert_eq!(got.hostname, Some("web01"));
        // A traditional file line has no PRI.
        let got = parse(
            b"Dec  1 06:00:00 web01 cron[1]: job",
            at("2026-12-01T07:00:00Z"),
        )
        .unwrap();
        assert_eq!(got.pri, None);
        assert_eq!(got.hostname, Some("web01"));
    }

    #[test]
    fn malformed_messages_are_errors() {
        let now = at("2026-12-01T00:00:00Z");
        for bad in [
            &b"<999>1 - - - - - -"[..],
            b"<13",
            b"<x>Oct 11 22:14:15 h a: b",
            b"just some text",
            b"<13>1 yesterday h a p m -",
            b"<13>1 - h a p m [unclosed x=\"1\"",
            b"<13>1 - h a p m [id x=1]",
            b"<13>1 - h a p m junk",
        ] {
            assert!(parse(bad, now).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn frames_and_payloads_become_events() {
        let eve = r#"{"timestamp":"2026-12-01T06:00:00.000000+0000","event_type":"alert","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","alert":{"signature":"ET X","severity":1}}"#;
        let m1 = "<13>1 2026-12-01T06:00:01Z h1 app - - [origin ip=\"10.1.1.1\"] hello\nworld";
        let m2 = format!("<14>1 2026-12-01T06:00:02Z h2 suricata - - - {eve}");
        let body = format!(
            "{} {m1}{} {m2}\n<13>Dec  1 06:00:03 h3 app: line\n<999>bad\n",
            m1.len(),
            m2.len()
        );
        let ctx = ReadContext::new("syslog test", "ahus");
        let out: Vec<_> = read(body.as_bytes(), ctx, at("2026-12-01T07:00:00Z")).collect();
        assert_eq!(out.len(), 4);
        let e1 = out[0].as_ref().unwrap();
        assert_eq!(e1.source.as_str(), "syslog");
        assert_eq!(
            e1.get_named("message").unwrap().as_str(),
            Some("hello\nworld")
        );
        assert_eq!(
            e1.get_named("origin.ip").unwrap().as_str(),
            Some("10.1.1.1")
        );
        assert_eq!(e1.origin.locator, Locator::Index(1));
        let e2 = out[1].as_ref().unwrap();
        assert_eq!(e2.source.as_str(), "suricata:eve");
        assert_eq!(
            e2.get_named("alert.signature").unwrap().as_str(),
            Some("ET X")
        );
        assert_eq!(
            e2.get_named("syslog.hostname").unwrap().as_str(),
            Some("h2")
        );
        let e3 = out[2].as_ref().unwrap();
        assert_eq!(e3.time, at("2026-12-01T06:00:03Z"));
        assert_eq!(e3.origin.locator, Locator::Line(1));
        let bad = out[3].as_ref().unwrap_err();
        assert_eq!(bad.locator, Locator::Line(2));
        assert!(bad.reason.contains("191"), "{}", bad.reason);
    }

    #[test]
    fn fhir_and_unknown_json_payloads() {
        let audit = r#"{"resourceType":"AuditEvent","type":{"code":"rest"},"action":"R","recorded":"2026-12-01T06:00:00Z","agent":[{"who":{"reference":"Practitioner/p1"},"requestor":true}],"source":{"observer":{"display":"ehr"}},"entity":[{"what":{"reference":"Patient/x1"}}]}"#;
        let body = format!(
            "<110>1 2026-12-01T06:00:01Z ehr01 audit - - - {audit}\n<13>1 2026-12-01T06:00:02Z app01 svc - - - @cee:{{\"user\":\"bob\",\"n\":3}}\n"
        );
        let out: Vec<_> = read(
            body.as_bytes(),
            ReadContext::new("t", "ahus"),
            at("2026-12-01T07:00:00Z"),
        )
        .collect();
        assert_eq!(out.len(), 2, "{out:?}");
        let fhir = out[0].as_ref().unwrap();
        assert!(fhir.source.is_fhir_audit_event());
        assert_eq!(
            fhir.get_named("syslog.hostname").unwrap().as_str(),
            Some("ehr01")
        );
        let other = out[1].as_ref().unwrap();
        assert_eq!(other.source.as_str(), "syslog");
        assert_eq!(other.get_named("user").unwrap().as_str(), Some("bob"));
        assert_eq!(other.time, at("2026-12-01T06:00:02Z"));
    }

    /// Whatever bytes come, the parser and the reader never panic.
    #[test]
    fn any_bytes_are_an_answer_never_a_panic() {
        let seeds: [&[u8]; 5] = [
            b"<165>1 2003-10-11T22:14:15.003Z h a - ID47 [x@1 a=\"1\" b=\"\\]\"] msg",
            b"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
            b"<86>2026-12-01T06:00:00.123456+01:00 web01 sshd[42]: x",
            b"12 <13>1 - - - - - -",
            b"{\"timestamp\":\"2026-12-01T06:00:00Z\",\"event_type\":\"x\"}",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let now = at("2026-12-01T00:00:00Z");
        for _ in 0..20_000 {
            let mut m = seeds[(next() % 5) as usize].to_vec();
            for _ in 0..(next() % 6) {
                let i = (next() % (m.len() as u64 + 1)) as usize;
                match next() % 3 {
                    0 if i < m.len() => m[i] = next() as u8,
                    1 => m.insert(i, next() as u8),
                    _ => m.truncate(i),
                }
            }
            let _ = parse(&m, now);
            let _: Vec<_> = read(&m[..], ReadContext::new("t", "a"), now).collect();
            let _: Vec<_> = read_framed(&m[..], ReadContext::new("t", "a"), now).collect();
        }
    }
}
