//! Zeek logs: TSV with `#fields`/`#types` headers, and Zeek JSON (one object per line).
//!
//! TSV values are typed from `#types`: `time` → time, `interval` → interval,
//! `count`/`int`/`port` → integer, `double` → float, `addr` → IP, `subnet` →
//! network, `bool` → bool, `set[..]`/`vector[..]` → list of the element type,
//! everything else → string. The unset value (`-`) leaves the field out; the
//! empty value (`(empty)`) is an empty list for containers and an empty string
//! otherwise. A log may carry several headers (concatenated files); each new
//! header applies to the rows after it. A row whose column count does not fit
//! its header is rejected with its line number; a value that does not parse as
//! its declared type is kept as text rather than lost. Rows without a `ts`
//! (`loaded_scripts.log`) take the header's `#open` time.
//!
//! Zeek JSON carries no types: `ts` is a time, `duration` and `rtt` are
//! intervals, address fields (`id.orig_h`, `id_orig_h`, `src`, `tx_hosts`, …)
//! are IPs when they parse as one; the rest keeps its JSON type.

mod json;
mod tsv;

use std::net::IpAddr;

use vakt_core::FieldId;
use vakt_core::field::*;

pub use json::{ZeekJson, read_json};
pub use tsv::{ZeekTsv, read_tsv};

/// The common field a Zeek field feeds, given the log's path.
pub(crate) fn common_for(path: &str, name: &str) -> Option<FieldId> {
    let name = name.replace('_', ".");
    let id = match name.as_str() {
        "id.orig.h" => SRC_IP,
        "id.orig.p" => SRC_PORT,
        "id.resp.h" => DST_IP,
        "id.resp.p" => DST_PORT,
        "proto" => PROTOCOL,
        "uid" => METADATA_UID,
        "orig.bytes" => BYTES_OUT,
        "resp.bytes" => BYTES_IN,
        "duration" => DURATION,
        "src" if path == "notice" => SRC_IP,
        "dst" if path == "notice" => DST_IP,
        "query" if path == "dns" => QUERY_HOSTNAME,
        "host" if path == "http" => URL_HOSTNAME,
        "uri" if path == "http" => URL_PATH,
        "user.agent" if path == "http" => USER_AGENT,
        "server.name" if path == "ssl" => TLS_SNI,
        "md5" if path == "files" => FILE_MD5,
        "sha1" if path == "files" => FILE_SHA1,
        "sha256" if path == "files" => FILE_SHA256,
        "note" if path == "notice" => FINDING_TITLE,
        _ => return None,
    };
    Some(id)
}

/// The log type a file name suggests: `conn.log` → `conn`, `NASHUA_conn.log` → `conn`,
/// `conn.16:00:00-17:00:00.log.gz` → `conn`.
pub(crate) fn path_stem(path: &str) -> String {
    let name = path.rsplit(['/', '\\', '!']).next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    let stem = stem.rsplit('_').next().unwrap_or(stem);
    if stem.is_empty() {
        "log".into()
    } else {
        stem.to_owned()
    }
}

pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok().or_else(|| {
        // IPv6 link-local addresses may carry a zone (`fe80::1%eth0`).
        text.split_once('%').and_then(|(a, _)| a.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(path_stem("a/b/conn.log"), "conn");
        assert_eq!(path_stem("day1/NASHUA_conn.log"), "conn");
        assert_eq!(path_stem("x/conn.16:00:00-17:00:00.log.gz"), "conn");
        assert_eq!(path_stem("a.zip!dns.log"), "dns");
    }
}
