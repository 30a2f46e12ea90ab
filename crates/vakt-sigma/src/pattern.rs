//! Value patterns: what one Sigma value with its modifiers compiles to, and
//! how it is tested against an event value.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use regex::Regex;
use vakt_core::FieldId;

/// How a pattern compares text.
#[derive(Debug, Clone, PartialEq)]
pub enum TextOp {
    /// Whole value equal.
    Equals(String),
    /// Value contains (the searcher is large: boxed to keep patterns small).
    Contains(Box<Needle>),
    /// Value starts with.
    StartsWith(String),
    /// Value ends with.
    EndsWith(String),
    /// Wildcards `*` and `?` anywhere.
    Glob(Vec<GlobTok>),
}

/// A substring to find, with its searcher built once.
#[derive(Debug, Clone)]
pub struct Needle {
    text: String,
    finder: memchr::memmem::Finder<'static>,
}

impl Needle {
    /// A needle for `text`.
    pub fn new(text: String) -> Self {
        let finder = memchr::memmem::Finder::new(text.as_bytes()).into_owned();
        Needle { text, finder }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Needle {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A regular expression checked when the rule loads and compiled the first
/// time an event reaches it: most never are, and compiling thousands of them
/// would dominate the time to load a rule set.
#[derive(Debug)]
pub struct LazyRegex {
    source: String,
    compiled: std::sync::OnceLock<Option<Regex>>,
}

impl LazyRegex {
    /// Checks the syntax of `source` (with inline flags already prefixed).
    pub fn new(source: String) -> Result<Self, String> {
        regex_syntax::Parser::new()
            .parse(&source)
            .map_err(|e| e.to_string().lines().last().unwrap_or("").to_owned())?;
        Ok(LazyRegex {
            source,
            compiled: std::sync::OnceLock::new(),
        })
    }

    /// Whether `text` matches (a pattern too large to compile matches nothing).
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled
            .get_or_init(|| Regex::new(&self.source).ok())
            .as_ref()
            .is_some_and(|r| r.is_match(text))
    }
}

/// A piece of a wildcard pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum GlobTok {
    /// Literal text.
    Lit(String),
    /// `?`: any one character.
    One,
    /// `*`: any run of characters.
    Many,
}

/// Numeric comparisons (`gt`, `gte`, `lt`, `lte`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

/// One compiled value test.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Text comparison; `cased` keeps case, otherwise both sides are lowercased.
    Text {
        /// The comparison (its text already lowercased unless cased).
        op: TextOp,
        /// Case-sensitive.
        cased: bool,
    },
    /// A number from the rule: equal as numbers, or as text.
    Number(f64, String),
    /// A boolean from the rule.
    Bool(bool),
    /// A regular expression (`re`), compiled when first needed.
    Regex(std::sync::Arc<LazyRegex>),
    /// Address within a network (`cidr`).
    Cidr(IpAddr, u8),
    /// Numeric comparison.
    Compare(Cmp, f64),
    /// The field exists (or not).
    Exists(bool),
    /// The field is missing or null.
    Null,
    /// Equal to another field of the same event (`fieldref`).
    FieldRef(FieldId, bool),
    /// Not this (`neq`).
    Not(Box<Pattern>),
}

/// Splits Sigma wildcard text into tokens, honouring `\*`, `\?` and `\\`.
pub fn glob_tokens(value: &str) -> Vec<GlobTok> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some('*') | Some('?') | Some('\\') => {
                    lit.push(chars.next().unwrap_or('\\'));
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(GlobTok::Lit(std::mem::take(&mut lit)));
                }
                let tok = if c == '*' {
                    GlobTok::Many
                } else {
                    GlobTok::One
                };
                // Runs of `*` are one `*`.
                if !(tok == GlobTok::Many && out.last() == Some(&GlobTok::Many)) {
                    out.push(tok);
                }
            }
            other => lit.push(other),
        }
    }
    if !lit.is_empty() {
        out.push(GlobTok::Lit(lit));
    }
    out
}

/// The cheapest comparison that does what `tokens` say.
pub fn text_op(tokens: Vec<GlobTok>) -> TextOp {
    use GlobTok::*;
    match tokens.as_slice() {
        [] => TextOp::Equals(String::new()),
        [Lit(s)] => TextOp::Equals(s.clone()),
        [Many] => TextOp::Glob(tokens),
        [Many, Lit(s), Many] => TextOp::Contains(Box::new(Needle::new(s.clone()))),
        [Lit(s), Many] => TextOp::StartsWith(s.clone()),
        [Many, Lit(s)] => TextOp::EndsWith(s.clone()),
        _ => TextOp::Glob(tokens),
    }
}

/// Lowercases the literal parts of a comparison (for case-insensitive matching).
pub fn lower_op(op: TextOp) -> TextOp {
    let low = |s: String| s.to_lowercase();
    match op {
        TextOp::Equals(s) => TextOp::Equals(low(s)),
        TextOp::Contains(n) => TextOp::Contains(Box::new(Needle::new(low(n.text)))),
        TextOp::StartsWith(s) => TextOp::StartsWith(low(s)),
        TextOp::EndsWith(s) => TextOp::EndsWith(low(s)),
        TextOp::Glob(t) => TextOp::Glob(
            t.into_iter()
                .map(|g| match g {
                    GlobTok::Lit(s) => GlobTok::Lit(low(s)),
                    other => other,
                })
                .collect(),
        ),
    }
}

impl TextOp {
    /// Whether `text` satisfies the comparison.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextOp::Equals(s) => text == s,
            TextOp::Contains(n) => n.finder.find(text.as_bytes()).is_some(),
            TextOp::StartsWith(s) => text.starts_with(s.as_str()),
            TextOp::EndsWith(s) => text.ends_with(s.as_str()),
            TextOp::Glob(t) => glob_match(t, text),
        }
    }

    /// The literal text every match must contain (for prefilters).
    pub fn needle(&self) -> Option<&str> {
        match self {
            TextOp::Contains(n) => Some(n.as_str()),
            TextOp::Equals(s) | TextOp::StartsWith(s) | TextOp::EndsWith(s) => Some(s),
            TextOp::Glob(t) => t
                .iter()
                .filter_map(|g| match g {
                    GlobTok::Lit(s) => Some(s.as_str()),
                    _ => None,
                })
                .max_by_key(|s| s.len()),
        }
    }
}

/// Wildcard matching with backtracking over the last `*`.
fn glob_match(tokens: &[GlobTok], text: &str) -> bool {
    // (token index, text byte offset) to resume from when a later part fails.
    let mut star: Option<(usize, usize)> = None;
    let (mut ti, mut pos) = (0usize, 0usize);
    loop {
        if ti == tokens.len() {
            if pos == text.len() {
                return true;
            }
        } else {
            match &tokens[ti] {
                GlobTok::Many => {
                    star = Some((ti, pos));
                    ti += 1;
                    continue;
                }
                GlobTok::One => {
                    if let Some(c) = text[pos..].chars().next() {
                        pos += c.len_utf8();
                        ti += 1;
                        continue;
                    }
                }
                GlobTok::Lit(s) => {
                    if text[pos..].starts_with(s.as_str()) {
                        pos += s.len();
                        ti += 1;
                        continue;
                    }
                }
            }
        }
        // Backtrack: let the last `*` swallow one more character.
        match star {
            Some((sti, spos)) => match text[spos..].chars().next() {
                Some(c) => {
                    let next = spos + c.len_utf8();
                    star = Some((sti, next));
                    ti = sti + 1;
                    pos = next;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

/// The value as UTF-16 little endian, big endian, or little endian with a byte order mark.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wide {
    /// `utf16le` / `wide`.
    Le,
    /// `utf16be`.
    Be,
    /// `utf16`: with the BOM.
    Bom,
}

/// Encodes `value` as UTF-16.
pub fn wide(value: &[u8], how: Wide) -> Vec<u8> {
    let text = String::from_utf8_lossy(value);
    let mut out = Vec::with_capacity(text.len() * 2 + 2);
    if how == Wide::Bom {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for u in text.encode_utf16() {
        match how {
            Wide::Be => out.extend_from_slice(&u.to_be_bytes()),
            Wide::Le | Wide::Bom => out.extend_from_slice(&u.to_le_bytes()),
        }
    }
    out
}

/// Base64 of `value` (the `base64` modifier).
pub fn base64(value: &[u8]) -> String {
    STANDARD.encode(value)
}

/// The three base64 renderings of `value` at each offset within a longer
/// encoded string, with the characters that depend on neighbours cut off
/// (the `base64offset` modifier).
pub fn base64_offsets(value: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_CUT: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(value);
            let enc = STANDARD.encode(&padded);
            let cut = END_CUT[(value.len() + i) % 3];
            let end = enc.len().saturating_sub(cut);
            enc.get(START[i]..end).unwrap_or("").to_owned()
        })
        .collect()
}

/// The `windash` variants: every dash or slash that starts a command-line
/// flag, replaced in turn by each character Windows tools accept as one.
pub fn windash(value: &str) -> Vec<String> {
    const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
    let chars: Vec<char> = value.chars().collect();
    let is_flag = |i: usize| {
        let c = chars[i];
        (c == '-' || c == '/')
            && (i == 0 || !chars[i - 1].is_alphanumeric())
            && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric())
    };
    if !(0..chars.len()).any(is_flag) {
        return vec![value.to_owned()];
    }
    DASHES
        .iter()
        .map(|d| {
            chars
                .iter()
                .enumerate()
                .map(|(i, c)| if is_flag(i) { *d } else { *c })
                .collect()
        })
        .collect()
}

/// Parses `a.b.c.d/n` or an IPv6 network.
pub fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = match text.split_once('/') {
        Some((ip, len)) => (
            ip.trim().parse::<IpAddr>().ok()?,
            len.trim().parse::<u8>().ok()?,
        ),
        None => {
            let ip: IpAddr = text.trim().parse().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

/// Whether `ip` lies in `net/len`.
pub fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        // An IPv4-mapped IPv6 address is compared as IPv4.
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|v4| in_cidr(IpAddr::V4(v4), net, len)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(v: &str) -> TextOp {
        lower_op(text_op(glob_tokens(v)))
    }

    #[test]
    fn wildcards_and_escapes() {
        assert_eq!(op("*\\cmd.exe"), TextOp::EndsWith("\\cmd.exe".into()));
        assert_eq!(
            op("*Mimi*"),
            TextOp::Contains(Box::new(Needle::new("mimi".into())))
        );
        assert_eq!(op("abc*"), TextOp::StartsWith("abc".into()));
        assert!(op("a*b?c").matches("axxxbyc"));
        assert!(!op("a*b?c").matches("axxxbc"));
        // An escaped star is a literal star.
        assert_eq!(op("a\\*b"), TextOp::Equals("a*b".into()));
        assert!(op("*\\**").matches("x*y"));
        assert!(!op("*\\**").matches("xy"));
        // `\*` is a literal star (the spec); a backslash then a wildcard is `\\*`.
        assert_eq!(op("C:\\Windows\\*"), TextOp::Equals("c:\\windows*".into()));
        assert_eq!(
            op("C:\\Windows\\\\*"),
            TextOp::StartsWith("c:\\windows\\".into())
        );
        // A backslash before anything else stays a backslash.
        assert_eq!(
            op("C:\\Windows\\x"),
            TextOp::Equals("c:\\windows\\x".into())
        );
        assert_eq!(op("\\\\"), TextOp::Equals("\\".into()));
        assert!(op("*a*b*").matches("xxaxxbxx"));
        assert!(op("?").matches("é"));
    }

    #[test]
    fn base64_offset_alignments() {
        // pySigma's reference values for "/bin/sh".
        let v = base64_offsets(b"/bin/sh");
        assert_eq!(v, vec!["L2Jpbi9za", "9iaW4vc2", "vYmluL3No"]);
        assert_eq!(base64(b"ping"), "cGluZw==");
    }

    #[test]
    fn windash_variants() {
        let v = windash("-enc ");
        assert_eq!(v.len(), 5);
        assert!(v.contains(&"/enc ".to_string()));
        assert!(v.contains(&"\u{2013}enc ".to_string()));
        // A dash inside a word is not a flag.
        assert_eq!(windash("x-y"), vec!["x-y".to_string()]);
    }

    #[test]
    fn cidr_v4_v6() {
        let (n, l) = parse_cidr("10.0.0.0/8").unwrap();
        assert!(in_cidr("10.2.3.4".parse().unwrap(), n, l));
        assert!(!in_cidr("11.2.3.4".parse().unwrap(), n, l));
        let (n6, l6) = parse_cidr("fe80::/10").unwrap();
        assert!(in_cidr("fe80::1".parse().unwrap(), n6, l6));
        assert!(!in_cidr("2001:db8::1".parse().unwrap(), n6, l6));
        assert!(in_cidr("::ffff:10.1.1.1".parse().unwrap(), n, l));
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn utf16() {
        assert_eq!(wide(b"ab", Wide::Le), vec![b'a', 0, b'b', 0]);
        assert_eq!(wide(b"ab", Wide::Be), vec![0, b'a', 0, b'b']);
        assert_eq!(wide(b"a", Wide::Bom), vec![0xFF, 0xFE, b'a', 0]);
    }
}
