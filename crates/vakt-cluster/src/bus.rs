//! NATS JetStream: one stream of events, `VAKT_EVENTS`, on subjects
//! `vakt.ev.<tenant>.<shard>`; each partition is read by one durable pull
//! consumer, `p-<tenant>-<shard>`, owned by the worker that holds its lease.

use std::time::Duration;

use async_nats::jetstream::{self, Context, stream};
use vakt_core::{Event, Value, field};

use crate::config::ClusterConfig;

/// The stream's name.
pub const STREAM: &str = "VAKT_EVENTS";

/// A message's largest payload: NATS servers take 1 MiB by default.
pub const MAX_MESSAGE: usize = 900 << 10;

/// A partition's subject.
pub fn subject(tenant: &str, shard: i32) -> String {
    format!("vakt.ev.{tenant}.{shard}")
}

/// A partition's durable consumer.
pub fn consumer(tenant: &str, shard: i32) -> String {
    format!("p-{tenant}-{shard}")
}

/// Connects to the servers of the configuration (the client fails over
/// between them and reconnects on its own).
pub async fn connect(cfg: &ClusterConfig) -> Result<Context, String> {
    let addrs: Vec<async_nats::ServerAddr> = cfg
        .nats
        .iter()
        .map(|s| s.parse().map_err(|e| format!("NATS server {s:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let client = async_nats::ConnectOptions::new()
        .name(format!("vakt {}", cfg.node))
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(addrs)
        .await
        .map_err(|e| format!("NATS: {e}"))?;
    let mut js = jetstream::new(client);
    js.set_timeout(Duration::from_secs(10));
    Ok(js)
}

/// The event stream, made if missing.
pub async fn stream(js: &Context, cfg: &ClusterConfig) -> Result<stream::Stream, String> {
    js.get_or_create_stream(stream::Config {
        name: STREAM.into(),
        subjects: vec!["vakt.ev.>".into()],
        storage: stream::StorageType::File,
        num_replicas: cfg.replicas,
        max_age: Duration::from_secs(cfg.retention_hours.saturating_mul(3_600)),
        // An ingest node's retry of a batch whose acknowledgement it lost
        // is dropped by JetStream (message ids).
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| format!("JetStream stream {STREAM}: {e}"))
}

/// FNV-1a, 64 bits: a stable hash (the same on every node and version),
/// so an entity's partition never moves while the shard count stays.
#[derive(Clone, Copy)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for b in s.bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        Ok(())
    }
}

/// The field an event is partitioned by: the entity its stateful
/// detectors keep state about.
///
/// - Windows events: the host (Sigma correlation by host, lateral movement
///   from a host, the host's process tree);
/// - Zeek and Suricata: the originating address (beaconing and data
///   transfer per internal host and its pairs, scans from a source);
/// - EHR access records: the acting user (every EHR analytic is about one
///   employee's accesses, or a patient's records as one user read them);
/// - anything else: the host, else the source address.
pub fn key(e: &Event) -> Option<&Value> {
    use vakt_core::SourceFamily as F;
    match e.source.family() {
        F::Windows => e.common(field::DEVICE_HOSTNAME),
        F::Zeek(_) | F::SuricataEve => e.common(field::SRC_IP),
        F::FhirAuditEvent | F::Fhir => e
            .common(field::ACTOR_USER_UID)
            .or_else(|| e.common(field::ACTOR_USER_NAME)),
        F::Other => e
            .common(field::DEVICE_HOSTNAME)
            .or_else(|| e.common(field::SRC_IP)),
    }
}

/// The shard of an event among `shards`.
pub fn shard(e: &Event, shards: u32) -> i32 {
    if shards <= 1 {
        return 0;
    }
    let mut h = Fnv::default();
    if let Some(v) = key(e) {
        // Host names compare without case (EVTX Computer vs Sysmon).
        match v {
            Value::Str(s) => {
                for c in s.chars() {
                    let _ = std::fmt::Write::write_char(&mut h, c.to_ascii_lowercase());
                }
            }
            Value::Ip(ip) => {
                let _ = std::fmt::Write::write_fmt(&mut h, format_args!("{ip}"));
            }
            Value::Int(i) => {
                let _ = std::fmt::Write::write_fmt(&mut h, format_args!("{i}"));
            }
            v => {
                let _ = std::fmt::Write::write_fmt(&mut h, format_args!("{v:?}"));
            }
        }
    }
    (h.0 % u64::from(shards)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv_1a_and_stable() {
        let mut h = Fnv::default();
        std::fmt::Write::write_str(&mut h, "a").unwrap();
        // The published FNV-1a 64 value of "a".
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
    }
}
