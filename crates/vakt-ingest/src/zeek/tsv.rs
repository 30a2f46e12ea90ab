//! Zeek TSV logs, typed from their `#types` header.

use std::io::BufRead;

use vakt_core::{Event, FieldId, Locator, SourceKind, Timestamp, Value};

use super::{common_for, parse_ip, path_stem};
use crate::{ReadContext, RecordError};

#[derive(Debug, Clone, PartialEq)]
enum ZType {
    Time,
    Interval,
    Int,
    Double,
    Addr,
    Subnet,
    Bool,
    Str,
    List(Box<ZType>),
}

impl ZType {
    fn parse(t: &str) -> ZType {
        if let Some(inner) = t
            .strip_prefix("set[")
            .or_else(|| t.strip_prefix("vector["))
            .and_then(|r| r.strip_suffix(']'))
        {
            return ZType::List(Box::new(ZType::parse(inner)));
        }
        match t {
            "time" => ZType::Time,
            "interval" => ZType::Interval,
            "count" | "int" | "port" | "int64" => ZType::Int,
            "double" => ZType::Double,
            "addr" => ZType::Addr,
            "subnet" => ZType::Subnet,
            "bool" => ZType::Bool,
            _ => ZType::Str,
        }
    }
}

struct Column {
    id: FieldId,
    ty: ZType,
    common: Option<FieldId>,
}

struct Header {
    source: SourceKind,
    columns: Vec<Column>,
    ts: Option<usize>,
}

/// Reads a Zeek TSV log.
pub fn read_tsv<R: BufRead>(reader: R, ctx: ReadContext) -> ZeekTsv<R> {
    let stem = path_stem(&ctx.path);
    ZeekTsv {
        reader,
        source: SourceKind::zeek(&stem),
        ctx,
        sep: b'\t',
        set_sep: ",".into(),
        empty: "(empty)".into(),
        unset: "-".into(),
        log_path: stem,
        fields: Vec::new(),
        types: Vec::new(),
        header: None,
        line_no: 0,
        buf: Vec::with_capacity(1024),
        failed: false,
        opened: None,
    }
}

/// The events of one Zeek TSV log.
pub struct ZeekTsv<R> {
    reader: R,
    ctx: ReadContext,
    source: SourceKind,
    sep: u8,
    set_sep: String,
    empty: String,
    unset: String,
    log_path: String,
    fields: Vec<String>,
    types: Vec<String>,
    header: Option<Header>,
    line_no: u64,
    buf: Vec<u8>,
    failed: bool,
    /// The `#open` time, for logs whose rows carry no `ts` (loaded_scripts).
    opened: Option<Timestamp>,
}

/// Header values as Zeek writes them: `\x09` (and, in some tools' output, `\t`).
fn unescape(v: &str) -> Vec<u8> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b.get(i + 1) {
                Some(b'x') => {
                    if let Some(Ok(n)) = v.get(i + 2..i + 4).map(|h| u8::from_str_radix(h, 16)) {
                        out.push(n);
                        i += 4;
                        continue;
                    }
                }
                Some(b't') => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                Some(b'\\') => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Fields of a line split at an ASCII separator. Zeek fields are short, so a
/// plain byte loop beats a vectorised search here.
fn split_ascii(line: &str, sep: u8) -> impl Iterator<Item = &str> {
    let bytes = line.as_bytes();
    let mut start = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let rest = bytes.get(start..).unwrap_or_default();
        match rest.iter().position(|b| *b == sep) {
            Some(at) => {
                let field = line.get(start..start + at);
                start += at + 1;
                field
            }
            None => {
                done = true;
                line.get(start..)
            }
        }
    })
}

/// Equality for the short marker strings (`-`, `(empty)`) without a call to memcmp.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

fn unescape_text(v: &str) -> String {
    String::from_utf8_lossy(&unescape(v)).into_owned()
}

impl<R: BufRead> ZeekTsv<R> {
    fn error(&self, reason: String) -> RecordError {
        RecordError {
            path: self.ctx.path.clone(),
            locator: Locator::Line(self.line_no),
            source: self.source.as_arc().clone(),
            reason,
            raw: self.buf.clone(),
        }
    }

    /// Reads a `#` line; returns an error only for a header that cannot be used.
    fn header_line(&mut self, line: &str) -> Result<(), String> {
        let line = line.trim_start();
        let (key, value) = match line.split_once([' ', '\t']) {
            Some((k, v)) => (k, v),
            None => (line, ""),
        };
        let sep = self.sep as char;
        match key {
            "#separator" => {
                let s = unescape(value.trim());
                match s.as_slice() {
                    [b] if b.is_ascii() => self.sep = *b,
                    _ => {
                        return Err(format!(
                            "unsupported #separator `{value}` (one byte expected)"
                        ));
                    }
                }
            }
            "#set_separator" => {
                let set_sep = unescape_text(value);
                // An empty set separator would split between every character.
                if !set_sep.is_empty() {
                    self.set_sep = set_sep;
                }
            }
            "#empty_field" => self.empty = unescape_text(value),
            "#unset_field" => self.unset = unescape_text(value),
            "#open" => self.opened = parse_open(value.trim()),
            "#path" => {
                self.log_path = value.trim().to_owned();
                self.source = SourceKind::zeek(&self.log_path);
            }
            "#fields" => {
                self.fields = value.split(sep).map(str::to_owned).collect();
                self.types.clear();
                self.header = None;
            }
            "#types" => {
                self.types = value.split(sep).map(str::to_owned).collect();
                self.header = None;
            }
            _ => {}
        }
        Ok(())
    }

    fn build_header(&mut self) -> Result<(), String> {
        if self.fields.is_empty() {
            return Err("data row before any #fields header".into());
        }
        if !self.types.is_empty() && self.types.len() != self.fields.len() {
            return Err(format!(
                "#types has {} columns but #fields has {}",
                self.types.len(),
                self.fields.len()
            ));
        }
        let mut columns = Vec::with_capacity(self.fields.len());
        for (i, name) in self.fields.iter().enumerate() {
            let ty = self
                .types
                .get(i)
                .map(|t| ZType::parse(t))
                .unwrap_or(ZType::Str);
            columns.push(Column {
                id: FieldId::intern(name).map_err(|e| e.to_string())?,
                ty,
                common: common_for(&self.log_path, name),
            });
        }
        let ts = self.fields.iter().position(|f| f == "ts");
        self.header = Some(Header {
            source: self.source.clone(),
            columns,
            ts,
        });
        Ok(())
    }

    fn row(&self, header: &Header) -> Result<Event, String> {
        // Validating the line once lets every field be a &str without another check.
        let line = match std::str::from_utf8(&self.buf) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(&self.buf),
        };
        let mut fields = Vec::with_capacity(header.columns.len());
        let mut common = Vec::with_capacity(8);
        let mut time = None;
        let mut n = 0usize;
        let sep = self.sep;
        for (i, raw) in split_ascii(&line, sep).enumerate() {
            n += 1;
            let Some(col) = header.columns.get(i) else {
                continue;
            };
            if same(raw, &self.unset) {
                continue;
            }
            // A value that does not fit its declared type is kept as text, not lost.
            let value = self.value(&col.ty, raw).unwrap_or_else(|| Value::str(raw));
            if Some(i) == header.ts
                && let Value::Time(t) = value
            {
                time = Some(t);
            }
            if let Some(c) = col.common {
                common.push((c, value.clone()));
            }
            fields.push((col.id, value));
        }
        // Some writers end every row with a separator: one empty extra column.
        let trailing_sep = n == header.columns.len() + 1 && line.as_bytes().last() == Some(&sep);
        if n != header.columns.len() && !trailing_sep {
            return Err(format!(
                "expected {} tab-separated fields as the header says, found {n}",
                header.columns.len()
            ));
        }
        let time = time
            .or(if header.ts.is_none() {
                self.opened
            } else {
                None
            })
            .ok_or("no `ts` time in this row (and no #open time in the header)")?;
        Ok(self.ctx.event(
            time,
            header.source.clone(),
            fields,
            common,
            Locator::Line(self.line_no),
        ))
    }

    /// The typed value, or `None` when the text does not fit the type.
    fn value(&self, ty: &ZType, text: &str) -> Option<Value> {
        Some(match ty {
            ZType::Str if same(text, &self.empty) => Value::str(""),
            ZType::Str => Value::str(text),
            ZType::List(_) if same(text, &self.empty) => Value::List(Vec::new()),
            ZType::List(inner) => {
                let mut items = Vec::new();
                for item in text.split(self.set_sep.as_str()) {
                    if !same(item, &self.unset) {
                        items.push(self.value(inner, item)?);
                    }
                }
                Value::List(items)
            }
            ZType::Time => Value::Time(seconds(text)?),
            ZType::Interval => Value::Interval(seconds(text)?.0),
            ZType::Int => match text.parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Float(text.parse::<u64>().ok()? as f64),
            },
            ZType::Double => Value::Float(text.parse::<f64>().ok()?),
            ZType::Addr => Value::Ip(parse_ip(text)?),
            ZType::Subnet => {
                let (a, l) = text.split_once('/')?;
                Value::Subnet(parse_ip(a)?, l.parse::<u8>().ok()?)
            }
            ZType::Bool => match text {
                "T" => Value::Bool(true),
                "F" => Value::Bool(false),
                _ => return None,
            },
        })
    }
}

/// Decimal seconds, exactly; or, as Zeek writes very large values, in exponent notation.
fn seconds(text: &str) -> Option<Timestamp> {
    Timestamp::parse_epoch_secs(text).ok().or_else(|| {
        let f: f64 = text.parse().ok()?;
        (f.is_finite() && f.abs() < 9.2e9).then(|| Timestamp((f * 1e9).round() as i64))
    })
}

/// The `#open` header time, `2019-02-28-12-07-01`.
fn parse_open(text: &str) -> Option<Timestamp> {
    let dt = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d-%H-%M-%S").ok()?;
    dt.and_utc().timestamp_nanos_opt().map(Timestamp)
}

impl<R: BufRead> Iterator for ZeekTsv<R> {
    type Item = Result<Event, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => self.line_no += 1,
                Err(e) => {
                    self.line_no += 1;
                    self.failed = true;
                    return Some(Err(
                        self.error(format!("read failed: {e}; the rest of the input is lost"))
                    ));
                }
            }
            let complete = self.buf.last() == Some(&b'\n');
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.buf.is_empty() {
                continue;
            }
            let first = self.buf.iter().position(|b| !b.is_ascii_whitespace());
            if first.is_some_and(|i| self.buf[i] == b'#') {
                let line = String::from_utf8_lossy(&self.buf).into_owned();
                if let Err(reason) = self.header_line(&line) {
                    return Some(Err(self.error(reason)));
                }
                continue;
            }
            if self.header.is_none()
                && let Err(reason) = self.build_header()
            {
                return Some(Err(self.error(reason)));
            }
            let Some(header) = self.header.take() else {
                continue;
            };
            let result = self.row(&header);
            self.header = Some(header);
            return Some(match result {
                Ok(e) => Ok(e),
                Err(reason) if !complete => Err(self.error(format!(
                    "{reason} (the last line has no line end: the file is truncated)"
                ))),
                Err(reason) => Err(self.error(reason)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vakt_core::field::SRC_PORT;

    #[test]
    fn tsv_types_and_unset() {
        let log = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tduration\torig_bytes\tlocal_orig\ttunnel_parents\tsubnet\n\
#types\ttime\tstring\taddr\tport\tinterval\tcount\tbool\tset[string]\tsubnet\n\
1517336042.090842\tCi85\t10.55.182.100\t14291\t3.000158\t-\tT\t(empty)\t10.0.0.0/8\n\
1517336042.1\tCi86\tnot-an-ip\t1\t1.0\t0\tF\ta,b\t10.0.0.0/8\n\
1517336042.2\tCi87\t10.0.0.1\t1\n\
1517336042.3\tCi88\t10.0.0.1\t1\t1.0\t0\tF\t(empty)\t10.0.0.0/8\t\n";
        let ctx = ReadContext::new("t/conn.log", "test");
        let items: Vec<_> = read_tsv(log.as_bytes(), ctx).collect();
        assert_eq!(items.len(), 4);
        let e = items[0].as_ref().unwrap();
        assert_eq!(e.source.as_str(), "zeek:conn");
        assert_eq!(e.get_named("id.orig_h").map(Value::type_name), Some("ip"));
        assert_eq!(
            e.get_named("duration"),
            Some(&Value::Interval(3_000_158_000))
        );
        assert_eq!(e.get_named("orig_bytes"), None);
        assert_eq!(e.get_named("tunnel_parents"), Some(&Value::List(vec![])));
        assert_eq!(e.common(SRC_PORT), Some(&Value::Int(14291)));
        // A value that does not fit its type is kept as text.
        let kept = items[1].as_ref().unwrap();
        assert_eq!(kept.get_named("id.orig_h"), Some(&Value::str("not-an-ip")));
        assert_eq!(
            kept.get_named("tunnel_parents"),
            Some(&Value::List(vec![Value::str("a"), Value::str("b")]))
        );
        let err = items[2].as_ref().unwrap_err();
        assert_eq!(err.locator, Locator::Line(10));
        assert!(err.reason.contains("expected 9"), "{}", err.reason);
        // A trailing separator is one empty extra column, not an error.
        assert!(items[3].is_ok());
    }
}
