//! The store: events in, crash leftovers removed, old days dropped, bounded memory.
//! (Retro-hunts over it are `vakt-intel`'s: `crates/vakt-intel/tests/retro.rs`.)

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use vakt_core::field::{DST_IP, DST_PORT, QUERY_HOSTNAME, SRC_IP};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Event, Locator, Origin, Timestamp, Value};
use vakt_store::Store;

const DAY: i64 = 86_400;
const T0: i64 = 1_514_764_800; // 2018-01-01

fn event(t: i64, source: &str, n: u64) -> Event {
    Event {
        time: Timestamp(t * 1_000_000_000),
        tenant: Arc::from("ous"),
        source: vakt_core::SourceKind::new(source),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from(format!("{source}.log")),
            locator: Locator::Line(n),
        },
    }
}

/// Thirty days of a small network, in time order: each day 800
/// connections and 200 DNS queries, evenly spread.
fn history() -> Vec<Event> {
    let mut out = Vec::new();
    for day in 0..30 {
        for k in 0..1000u64 {
            let t = T0 + day * DAY + (k * 86) as i64;
            let n = (day as u64) * 1000 + k + 1;
            let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, (k % 200) as u8));
            let mut e = if k % 5 == 4 {
                let mut e = event(t, "zeek:dns", n);
                e.set_common(
                    QUERY_HOSTNAME,
                    Value::str(&format!("host{}.benign{}.example", k % 30, k % 40)),
                );
                e
            } else {
                let mut e = event(t, "zeek:conn", n);
                let dst = Ipv4Addr::new(93, (k % 50) as u8, (k % 250) as u8, 1);
                e.set_common(DST_IP, Value::Ip(IpAddr::V4(dst)));
                e.set_common(DST_PORT, Value::Int(443));
                e
            };
            e.set_common(SRC_IP, Value::Ip(src));
            out.push(e);
        }
    }
    out
}

#[test]
fn partial_segments_are_removed_on_open_and_retention_drops_old_days() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path()).unwrap();
    let mut w = store
        .writer(Arc::new(
            Pseudonymiser::new(b"store test key, 16+ bytes").unwrap(),
        ))
        .with_sizes(1_000, 500);
    for e in history().iter().take(5_000) {
        w.append(e).unwrap();
    }
    w.flush().unwrap();
    let seg = &store.segments()[0];
    let tmp = seg.with_extension("parquet.tmp");
    std::fs::write(&tmp, b"PAR1 half a segment").unwrap();
    // While a writer is at work, a `.tmp` may be its segment in the making:
    // opening the store (a reader beside it) leaves it alone.
    let (_, removed) = Store::open(dir.path()).unwrap();
    assert_eq!(removed, 0);
    assert!(tmp.exists());
    drop(w);
    let (again, removed) = Store::open(dir.path()).unwrap();
    assert_eq!(removed, 1);
    assert!(!tmp.exists());
    let before = again.stats().unwrap();
    assert_eq!(before.events, 5_000);
    // Keep only days ending after 2018-01-04.
    let cut = vakt_core::Timestamp::parse("2018-01-04T00:00:00Z")
        .unwrap()
        .0;
    let deleted = again.retain(Some(cut), None).unwrap();
    assert_eq!(deleted, 3);
    let after = again.stats().unwrap();
    assert!(after.first.unwrap() >= cut, "{after:?}");
    assert!(after.events < before.events);
}

/// Input that spreads over many days and sources is not held whole: beyond
/// the writer's limit the fullest partition is written early, and every
/// event is still stored once.
#[test]
fn the_writer_holds_a_bounded_number_of_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path()).unwrap();
    let pseudo = Arc::new(Pseudonymiser::new(b"sixteen bytes or more").unwrap());
    let mut w = store.writer(pseudo).with_max_buffered(1_000);
    let events = history();
    for (i, e) in events.iter().enumerate() {
        w.append(e).unwrap();
        // Segments appear before the end although no partition is full.
        if i == events.len() / 2 {
            assert!(
                w.written() >= (i as u64).saturating_sub(1_000),
                "{}",
                w.written()
            );
            assert!(!w.segments().is_empty());
        }
    }
    w.flush().unwrap();
    assert_eq!(w.written(), events.len() as u64);
    let st = store.stats().unwrap();
    assert_eq!(st.events, events.len() as u64);
    let mut rows = 0u64;
    store
        .scan(&|_| true, i64::MIN, i64::MAX, &["src_ip"], |_| rows += 1)
        .unwrap();
    assert_eq!(rows, events.len() as u64);
}

/// Wide events fill memory before their count does: the writer bounds the
/// bytes it holds too, and every event is still stored once.
#[test]
fn the_writer_holds_a_bounded_number_of_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path()).unwrap();
    let pseudo = Arc::new(Pseudonymiser::new(b"sixteen bytes or more").unwrap());
    let mut w = store.writer(pseudo).with_max_buffered_bytes(64 << 10);
    let events = history();
    let mut early = false;
    for e in &events {
        w.append(e).unwrap();
        early |= !w.segments().is_empty();
    }
    assert!(early, "no segment before the end");
    w.flush().unwrap();
    assert_eq!(w.written(), events.len() as u64);
    let mut times = Vec::new();
    store
        .scan(&|_| true, i64::MIN, i64::MAX, &["src_ip"], |r| {
            times.push(r.time)
        })
        .unwrap();
    assert_eq!(times.len(), events.len());
}

/// A stored event reads back whole: time, tenant, source kind, typed
/// native and common fields, origin; an EHR event's patient as its
/// pseudonym, its patient references left out.
#[test]
fn stored_events_read_back_whole() {
    use vakt_core::field::{ACTOR_USER_UID, DURATION, PATIENT_UID};
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path()).unwrap();
    let pseudo = Arc::new(Pseudonymiser::new(b"sixteen bytes or more").unwrap());
    let mut w = store.writer(pseudo.clone()).with_sizes(700, 100);
    let mut events: Vec<Event> = history().into_iter().take(3_000).collect();
    let native = vakt_core::FieldId::intern("id.orig_h").unwrap();
    for e in events.iter_mut().step_by(7) {
        e.fields
            .push((native, Value::Ip("10.9.9.9".parse().unwrap())));
        e.set_common(DURATION, Value::Interval(2_500_000_000));
    }
    let mut ehr = event(T0 + 500, "fhir:AuditEvent", 99_999);
    ehr.set_common(ACTOR_USER_UID, Value::str("Practitioner/pr1"));
    ehr.set_common(PATIENT_UID, Value::str("Patient/p42"));
    let entity = vakt_core::FieldId::intern("entity.what.reference").unwrap();
    let action = vakt_core::FieldId::intern("action").unwrap();
    ehr.fields = vec![
        (entity, Value::str("Patient/p42")),
        (action, Value::str("R")),
    ];
    for e in events.iter().chain(std::iter::once(&ehr)) {
        w.append(e).unwrap();
    }
    w.flush().unwrap();
    let mut back = Vec::new();
    let st = store
        .events(&vakt_store::EventQuery::default(), |e| back.push(e))
        .unwrap();
    assert_eq!(st.events, 3_001);
    assert_eq!((st.bad_rows, st.partial_segments), (0, 0));
    let key = |e: &Event| (e.origin.path.to_string(), e.origin.locator);
    back.sort_by_key(key);
    let ehr_back = back
        .iter()
        .position(|e| e.source.is_fhir_audit_event())
        .unwrap();
    let ehr_back = back.remove(ehr_back);
    let mut want = events.clone();
    want.sort_by_key(key);
    assert_eq!(back, want);
    assert_eq!(
        ehr_back.common(PATIENT_UID),
        Some(&Value::str(&pseudo.pseudonym("ous", "p42")))
    );
    assert_eq!(ehr_back.fields, vec![(action, Value::str("R"))]);
    // An alert's evidence leads back to the stored event.
    for e in [&events[5], &events[2_999], &ehr] {
        let r = vakt_core::EventRef::to(e);
        let found = store
            .find("ous", &r)
            .unwrap()
            .expect("the referenced event");
        assert_eq!((found.time, &found.origin), (e.time, &e.origin));
        assert_eq!(found.source, e.source);
    }
    let mut elsewhere = vakt_core::EventRef::to(&events[5]);
    elsewhere.locator = Locator::Line(1_000_000);
    assert!(store.find("ous", &elsewhere).unwrap().is_none());
    assert!(
        store
            .find("vv", &vakt_core::EventRef::to(&events[5]))
            .unwrap()
            .is_none()
    );
    // A time range and another tenant read nothing outside them.
    let q = vakt_store::EventQuery {
        tenant: Some("ous".into()),
        from: Some((T0 + DAY) * 1_000_000_000),
        to: Some((T0 + 2 * DAY) * 1_000_000_000),
    };
    let mut n = 0;
    store.events(&q, |_| n += 1).unwrap();
    assert_eq!(n, 1_000);
    let other = vakt_store::EventQuery {
        tenant: Some("vv".into()),
        ..Default::default()
    };
    let mut m = 0;
    store.events(&other, |_| m += 1).unwrap();
    assert_eq!(m, 0);
}
