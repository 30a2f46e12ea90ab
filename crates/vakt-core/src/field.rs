//! Interned field names.
//!
//! Every field name that vakt meets is given a small number, a [`FieldId`],
//! once per process. Readers intern a log's column names when they read its
//! header; compiled rules hold ids; the hot path compares integers. The names
//! of the common (OCSF-named) fields are interned first, in a fixed order, so
//! that they are constants ([`SRC_IP`], [`PATIENT_UID`], …).
//!
//! Names are kept for the life of the process. Because an untrusted input
//! could invent names without bound, the interner holds at most
//! [`MAX_FIELDS`] names and refuses more with [`Error::TooManyFields`].

use std::cell::RefCell;
use std::sync::{OnceLock, RwLock};

use rustc_hash::FxHashMap;

use crate::Error;

/// The number of a field name; compare these, not strings, on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldId(pub u32);

/// The most distinct field names one process will hold.
pub const MAX_FIELDS: usize = 1 << 20;

macro_rules! common_fields {
    ($( $(#[$doc:meta])* $konst:ident = $name:literal ),* $(,)?) => {
        common_fields!(@consts 0u32, $( $(#[$doc])* $konst = $name, )*);
        /// The names of the common fields, in id order.
        pub const COMMON_NAMES: &[&str] = &[$($name),*];
    };
    (@consts $n:expr, $(#[$doc:meta])* $konst:ident = $name:literal, $($rest:tt)*) => {
        $(#[$doc])*
        pub const $konst: FieldId = FieldId($n);
        common_fields!(@consts $n + 1, $($rest)*);
    };
    (@consts $n:expr,) => {};
}

common_fields! {
    /// Host the event was recorded on (EVTX `Computer`, FHIR observer).
    DEVICE_HOSTNAME = "device.hostname",
    /// Source address of a connection or request.
    SRC_IP = "src_endpoint.ip",
    /// Source port.
    SRC_PORT = "src_endpoint.port",
    /// Source host name (e.g. FHIR agent network name).
    SRC_HOSTNAME = "src_endpoint.hostname",
    /// Destination address.
    DST_IP = "dst_endpoint.ip",
    /// Destination port.
    DST_PORT = "dst_endpoint.port",
    /// Destination host name.
    DST_HOSTNAME = "dst_endpoint.hostname",
    /// Transport protocol (tcp, udp, icmp).
    PROTOCOL = "connection_info.protocol_name",
    /// Bytes sent by the originator.
    BYTES_OUT = "traffic.bytes_out",
    /// Bytes sent by the responder.
    BYTES_IN = "traffic.bytes_in",
    /// Duration of a connection.
    DURATION = "duration",
    /// The acting account's name.
    ACTOR_USER_NAME = "actor.user.name",
    /// The acting account's id (SID, FHIR reference).
    ACTOR_USER_UID = "actor.user.uid",
    /// The acting account's domain.
    ACTOR_USER_DOMAIN = "actor.user.domain",
    /// The account acted upon (e.g. the logon target).
    USER_NAME = "user.name",
    /// The acting process's image path.
    ACTOR_PROCESS_PATH = "actor.process.file.path",
    /// A process's image path.
    PROCESS_PATH = "process.file.path",
    /// A process's command line.
    PROCESS_CMD_LINE = "process.cmd_line",
    /// A process id.
    PROCESS_PID = "process.pid",
    /// A file path.
    FILE_PATH = "file.path",
    /// MD5 of a file.
    FILE_MD5 = "file.hashes.md5",
    /// SHA-1 of a file.
    FILE_SHA1 = "file.hashes.sha1",
    /// SHA-256 of a file.
    FILE_SHA256 = "file.hashes.sha256",
    /// DNS query name.
    QUERY_HOSTNAME = "query.hostname",
    /// HTTP host.
    URL_HOSTNAME = "http_request.url.hostname",
    /// HTTP path and query.
    URL_PATH = "http_request.url.path",
    /// HTTP user agent.
    USER_AGENT = "http_request.user_agent",
    /// TLS server name indication.
    TLS_SNI = "tls.sni",
    /// The source's own id for the event (Zeek uid, EVTX EventRecordID, FHIR id).
    METADATA_UID = "metadata.uid",
    /// The source's event code (EVTX EventID, FHIR type code).
    EVENT_CODE = "metadata.event_code",
    /// What was done (FHIR action Create/Read/…).
    ACTIVITY_NAME = "activity_name",
    /// Outcome: Success or Failure.
    STATUS = "status",
    /// Title of a finding (Suricata signature).
    FINDING_TITLE = "finding_info.title",
    /// Severity reported by the source.
    SEVERITY = "severity",
    /// The patient whose record was touched (FHIR reference).
    PATIENT_UID = "patient.uid",
    /// API operation (FHIR subtype: read, search-type, …).
    API_OPERATION = "api.operation",
    /// Declared purpose of use (FHIR purposeOfEvent / authorization).
    PURPOSE_OF_USE = "purpose_of_use",
}

struct Interner {
    ids: FxHashMap<&'static str, FieldId>,
    names: Vec<&'static str>,
}

/// Each thread's copy of what it has looked up, so that the hot path takes no lock.
struct Local {
    ids: FxHashMap<&'static str, FieldId>,
    names: Vec<&'static str>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local {
        ids: FxHashMap::default(),
        names: Vec::new(),
    });
}

fn interner() -> &'static RwLock<Interner> {
    static INTERNER: OnceLock<RwLock<Interner>> = OnceLock::new();
    INTERNER.get_or_init(|| {
        let mut i = Interner {
            ids: FxHashMap::default(),
            names: Vec::new(),
        };
        for name in COMMON_NAMES {
            let id = FieldId(i.names.len() as u32);
            i.names.push(name);
            i.ids.insert(name, id);
        }
        RwLock::new(i)
    })
}

impl FieldId {
    /// The id of `name`, interning it if it is new.
    pub fn intern(name: &str) -> Result<FieldId, Error> {
        if let Some(id) = LOCAL.with(|l| l.borrow().ids.get(name).copied()) {
            return Ok(id);
        }
        let id = Self::intern_global(name)?;
        let stored = Self::name_global(id);
        LOCAL.with(|l| l.borrow_mut().ids.insert(stored, id));
        Ok(id)
    }

    fn intern_global(name: &str) -> Result<FieldId, Error> {
        {
            let r = interner().read().unwrap_or_else(|p| p.into_inner());
            if let Some(id) = r.ids.get(name) {
                return Ok(*id);
            }
        }
        let mut w = interner().write().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = w.ids.get(name) {
            return Ok(*id);
        }
        if w.names.len() >= MAX_FIELDS {
            return Err(Error::TooManyFields { limit: MAX_FIELDS });
        }
        let id = FieldId(w.names.len() as u32);
        // Leaked on purpose: names live as long as the process, bounded by MAX_FIELDS.
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        w.names.push(name);
        w.ids.insert(name, id);
        Ok(id)
    }

    /// The id of `name` if it has been interned.
    pub fn lookup(name: &str) -> Option<FieldId> {
        if let Some(id) = LOCAL.with(|l| l.borrow().ids.get(name).copied()) {
            return Some(id);
        }
        let r = interner().read().unwrap_or_else(|p| p.into_inner());
        r.ids.get(name).copied()
    }

    /// The field's name.
    pub fn name(self) -> &'static str {
        let i = self.0 as usize;
        if let Some(n) = LOCAL.with(|l| l.borrow().names.get(i).copied()) {
            return n;
        }
        // Catch up with names interned since this thread last looked.
        let r = interner().read().unwrap_or_else(|p| p.into_inner());
        LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            let have = l.names.len();
            if let Some(new) = r.names.get(have..) {
                l.names.extend_from_slice(new);
            }
        });
        r.names.get(i).copied().unwrap_or("?")
    }

    fn name_global(id: FieldId) -> &'static str {
        let r = interner().read().unwrap_or_else(|p| p.into_inner());
        r.names.get(id.0 as usize).copied().unwrap_or("?")
    }

    /// Whether this is one of the common (OCSF-named) fields.
    pub fn is_common(self) -> bool {
        (self.0 as usize) < COMMON_NAMES.len()
    }
}

impl std::fmt::Display for FieldId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_names_are_constants() {
        assert_eq!(SRC_IP.name(), "src_endpoint.ip");
        assert_eq!(FieldId::intern("patient.uid").unwrap(), PATIENT_UID);
        assert!(PURPOSE_OF_USE.is_common());
    }

    #[test]
    fn interning_is_stable() {
        let a = FieldId::intern("id.orig_h").unwrap();
        let b = FieldId::intern("id.orig_h").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.name(), "id.orig_h");
        assert!(!a.is_common());
        assert_ne!(a, FieldId::intern("id.resp_h").unwrap());
    }
}
