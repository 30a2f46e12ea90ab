//! UTC timestamps in nanoseconds and the parsers every reader shares.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

use crate::Error;

/// A point in time: nanoseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

const NS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    /// Nanoseconds since the epoch.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// From whole seconds and nanoseconds, saturating at the representable range.
    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(NS_PER_SEC).saturating_add(nanos))
    }

    /// Parses decimal epoch seconds such as Zeek's `1517336042.090842` exactly
    /// (no float rounding): the integer and fraction parts are read as integers.
    pub fn parse_epoch_secs(text: &str) -> Result<Self, Error> {
        let bad = |reason| Error::BadTime {
            text: text.to_owned(),
            reason,
        };
        let (neg, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not a number of seconds"));
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not a number of seconds"));
        }
        let secs: i64 = int.parse().map_err(|_| bad("seconds out of range"))?;
        let mut nanos: i64 = 0;
        for (i, b) in frac.bytes().take(9).enumerate() {
            nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
        }
        let t = secs
            .checked_mul(NS_PER_SEC)
            .and_then(|s| s.checked_add(nanos))
            .ok_or_else(|| bad("seconds out of range"))?;
        Ok(Timestamp(if neg { -t } else { t }))
    }

    /// Reads an epoch number whose unit is guessed from its magnitude
    /// (seconds, milliseconds, microseconds or nanoseconds), as JSON logs vary.
    pub fn from_epoch_number(n: f64) -> Option<Self> {
        if !n.is_finite() {
            return None;
        }
        let abs = n.abs();
        let ns = if abs < 1e11 {
            n * 1e9
        } else if abs < 1e14 {
            n * 1e6
        } else if abs < 1e17 {
            n * 1e3
        } else {
            n
        };
        if ns.abs() > i64::MAX as f64 {
            return None;
        }
        Some(Timestamp(ns as i64))
    }

    /// Parses the textual times found in logs: RFC 3339 (with `Z`, `+02:00` or
    /// `+0200`), a space instead of `T`, no zone (taken as UTC), a bare date,
    /// or decimal epoch seconds.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let t = text.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return Self::from_chrono(dt.with_timezone(&Utc), text);
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
            if let Ok(dt) = DateTime::parse_from_str(t, fmt) {
                return Self::from_chrono(dt.with_timezone(&Utc), text);
            }
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
                return Self::from_chrono(dt.and_utc(), text);
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
            && let Some(dt) = d.and_hms_opt(0, 0, 0)
        {
            return Self::from_chrono(dt.and_utc(), text);
        }
        if t.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && let Ok(ts) = Self::parse_epoch_secs(t)
        {
            return Ok(ts);
        }
        Err(Error::BadTime {
            text: text.to_owned(),
            reason: "not RFC 3339, a date, or epoch seconds",
        })
    }

    fn from_chrono(dt: DateTime<Utc>, text: &str) -> Result<Self, Error> {
        dt.timestamp_nanos_opt()
            .map(Timestamp)
            .ok_or_else(|| Error::BadTime {
                text: text.to_owned(),
                reason: "outside the years 1677..2262",
            })
    }

    /// RFC 3339 in UTC with as many fractional digits as needed.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(NS_PER_SEC);
        let nanos = self.0.rem_euclid(NS_PER_SEC) as u32;
        match DateTime::<Utc>::from_timestamp(secs, nanos) {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            None => format!("@{}ns", self.0),
        }
    }
}

impl Timestamp {
    /// The time as STIX 2.1 writes `created` and `modified`: UTC with
    /// exactly three decimals (`2018-01-01T00:00:00.000Z`).
    pub fn to_stix(self) -> String {
        let secs = self.0.div_euclid(NS_PER_SEC);
        let nanos = self.0.rem_euclid(NS_PER_SEC) as u32;
        match DateTime::<Utc>::from_timestamp(secs, nanos) {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => "1970-01-01T00:00:00.000Z".into(),
        }
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_are_exact() {
        let t = Timestamp::parse_epoch_secs("1517336042.090842").unwrap();
        assert_eq!(t.0, 1_517_336_042_090_842_000);
        assert_eq!(t.to_rfc3339(), "2018-01-30T18:14:02.090842Z");
        assert!(Timestamp::parse_epoch_secs("12a.5").is_err());
        assert!(Timestamp::parse_epoch_secs("").is_err());
    }

    #[test]
    fn textual_forms() {
        let z = Timestamp::parse("2021-06-06T15:59:46.457984+0200").unwrap();
        assert_eq!(z.to_rfc3339(), "2021-06-06T13:59:46.457984Z");
        let naive = Timestamp::parse("2020-10-18 07:50:06.220").unwrap();
        assert_eq!(naive.to_rfc3339(), "2020-10-18T07:50:06.220Z");
        let date = Timestamp::parse("2013-06-20").unwrap();
        assert_eq!(date.to_rfc3339(), "2013-06-20T00:00:00Z");
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn epoch_number_units() {
        let s = Timestamp::from_epoch_number(1_600_000_000.5).unwrap();
        let ms = Timestamp::from_epoch_number(1_600_000_000_500.0).unwrap();
        assert_eq!(s, ms);
        assert!(Timestamp::from_epoch_number(f64::NAN).is_none());
    }
}
