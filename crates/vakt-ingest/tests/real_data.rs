//! Typed values and common fields on real records from `../shared/data`.

mod common;

use std::net::IpAddr;

use common::{read, shared};
use vakt_core::field::*;
use vakt_core::{Locator, Value};

#[test]
fn zeek_tsv_conn_is_typed_from_its_header() {
    let r = read(&shared().join("zeek-rita-testdata/proxy/conn.log"));
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert!(r.events.len() > 100);
    let e = &r.events[0];
    assert_eq!(e.source.as_str(), "zeek:conn");
    assert!(matches!(e.get_named("id.orig_h"), Some(Value::Ip(_))));
    assert!(matches!(e.get_named("id.resp_p"), Some(Value::Int(_))));
    assert!(matches!(e.get_named("ts"), Some(Value::Time(t)) if *t == e.time));
    assert!(matches!(e.common(SRC_IP), Some(Value::Ip(_))));
    assert_eq!(e.common(SRC_IP), e.get_named("id.orig_h"));
    // `duration` is an interval wherever it is set.
    let with_duration = r
        .events
        .iter()
        .find_map(|e| e.get_named("duration"))
        .unwrap();
    assert!(
        matches!(with_duration, Value::Interval(_)),
        "{with_duration:?}"
    );
    assert_eq!(
        e.origin.locator,
        Locator::Line(9),
        "8 header lines, then the first row"
    );
}

#[test]
fn zeek_gz_rotated_logs_with_an_extra_node_column() {
    let r = read(&shared().join("zeek-rita-testdata/proxy_rolling/conn.15:00:00-16:00:00.log.gz"));
    assert!(r.rejected.is_empty());
    let e = &r.events[0];
    assert_eq!(
        e.get_named("_node_name"),
        Some(&Value::str("worker-eth0-1"))
    );
    assert!(matches!(e.get_named("id.orig_h"), Some(Value::Ip(_))));
}

#[test]
fn zeek_json_with_underscored_names() {
    let r = read(&shared().join("zeek-otrf-apt29/day1/NASHUA_conn.log"));
    assert!(r.rejected.is_empty());
    let c2: IpAddr = "192.168.0.4".parse().unwrap();
    let to_c2 = r
        .events
        .iter()
        .filter(|e| e.common(DST_IP) == Some(&Value::Ip(c2)))
        .count();
    assert!(
        to_c2 > 300,
        "README-day1: 376 of 479 conns go to the C2, got {to_c2}"
    );
    let e = &r.events[0];
    assert_eq!(e.source.as_str(), "zeek:conn");
    assert!(matches!(e.get_named("id_orig_h"), Some(Value::Ip(_))));
    assert!(matches!(e.get_named("duration"), Some(Value::Interval(_))));
}

#[test]
fn zeek_tsv_sets_and_labels() {
    let r = read(&shared().join("zeek-stratosphere-labelled/008-zeek-mixed/data/conn.log.labeled"));
    assert!(r.rejected.is_empty());
    let malicious = r
        .events
        .iter()
        .filter(|e| e.get_named("label") == Some(&Value::str("Malicious")))
        .count();
    assert_eq!(malicious, 4201, "PROVENANCE.md: 4201 Malicious conns");
    assert!(matches!(
        r.events[0].get_named("tunnel_parents"),
        Some(Value::List(_))
    ));
}

#[test]
fn suricata_eve_alerts_and_flows() {
    let r =
        read(&shared().join("suricata-eve-slips/test6-malicious.eve.before-2021-06-07T0930.json"));
    assert!(r.rejected.is_empty());
    let count = |t: &str| {
        r.events
            .iter()
            .filter(|e| e.get_named("event_type") == Some(&Value::str(t)))
            .count()
    };
    // PROVENANCE.md: alert 538, dns 500, flow 2658, http 50, fileinfo 3, tls 1.
    assert_eq!(
        (count("alert"), count("dns"), count("flow")),
        (538, 500, 2658)
    );
    assert_eq!((count("http"), count("fileinfo"), count("tls")), (50, 3, 1));
    let alert = r
        .events
        .iter()
        .find(|e| e.get_named("event_type") == Some(&Value::str("alert")))
        .unwrap();
    assert!(matches!(alert.get_named("src_ip"), Some(Value::Ip(_))));
    assert!(alert.common(FINDING_TITLE).is_some());
    assert!(matches!(
        alert.get_named("alert.signature_id"),
        Some(Value::Int(_))
    ));
    assert_eq!(
        alert.time.to_rfc3339(),
        "2021-06-06T13:59:46.457984Z",
        "+0200 offset applied"
    );
}

#[test]
fn fhir_r4_auditevent_patient_lands_in_patient_uid() {
    let r = read(&shared().join("fhir-r4-examples/AuditEvent/audit-event-example-vread.json"));
    assert!(r.rejected.is_empty());
    assert_eq!(r.events.len(), 1);
    let e = &r.events[0];
    assert_eq!(e.source.as_str(), "fhir:AuditEvent");
    assert_eq!(e.common(PATIENT_UID), Some(&Value::str("Patient/example")));
    assert_eq!(e.common(ACTIVITY_NAME), Some(&Value::str("Read")));
    assert_eq!(e.common(STATUS), Some(&Value::str("Success")));
    assert_eq!(e.common(API_OPERATION), Some(&Value::str("vread")));
    assert_eq!(e.common(ACTOR_USER_UID), Some(&Value::str("95")));
    assert_eq!(
        e.common(SRC_HOSTNAME),
        Some(&Value::str("Workstation1.ehr.familyclinic.com"))
    );
    assert_eq!(e.time.to_rfc3339(), "2013-06-20T23:42:24Z");
    assert_eq!(
        e.get_named("entity.what.reference"),
        Some(&Value::List(vec![Value::str("Patient/example/_history/1")]))
    );
}

#[test]
fn fhir_r5_breakglass() {
    let r = read(
        &shared().join("fhir-r5-examples/AuditEvent/AuditEvent-example-breakglass-start.json"),
    );
    let e = &r.events[0];
    assert_eq!(e.common(PATIENT_UID), Some(&Value::str("Patient/example")));
    assert_eq!(
        e.common(ACTOR_USER_UID),
        Some(&Value::str("Practitioner/f001"))
    );
    assert_eq!(
        e.common(PURPOSE_OF_USE),
        Some(&Value::List(vec![Value::str("ETREAT")]))
    );
    assert_eq!(e.common(ACTIVITY_NAME), Some(&Value::str("Execute")));
    assert_eq!(e.common(SRC_HOSTNAME), Some(&Value::str("custodian.net")));
}

#[test]
fn evtx_system_and_eventdata_are_flattened_under_sigma_names() {
    let r = read(&shared().join(
        "evtx/EVTX-to-MITRE-Attack/TA0008-Lateral Movement/T1550-Use Alternate Authentication Material/ID4624-Mimikatz Pass the hash.evtx",
    ));
    assert!(r.rejected.is_empty());
    let logon = r
        .events
        .iter()
        .find(|e| e.get_named("EventID") == Some(&Value::Int(4624)))
        .expect("a 4624");
    assert_eq!(logon.source.as_str(), "evtx:Security");
    assert_eq!(logon.get_named("Channel"), Some(&Value::str("Security")));
    assert_eq!(
        logon.get_named("Provider_Name"),
        Some(&Value::str("Microsoft-Windows-Security-Auditing"))
    );
    for f in [
        "Computer",
        "EventRecordID",
        "TimeCreated",
        "LogonType",
        "TargetUserName",
        "IpAddress",
    ] {
        assert!(logon.get_named(f).is_some(), "missing {f}");
    }
    assert!(logon.common(DEVICE_HOSTNAME).is_some());
    assert_eq!(logon.common(EVENT_CODE), Some(&Value::Int(4624)));
    assert!(matches!(logon.origin.locator, Locator::Record(_)));
}

#[test]
fn evtx_json_pretty_rendering_from_sigma_regression_data() {
    let dir = shared().join("sigma/regression_data/rules-threat-hunting/windows/image_load/image_load_win_werfaultsecure_dbgcore_dbghelp_load");
    let json = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let evtx = json.with_extension("evtx");
    let from_json = read(&json);
    let from_evtx = read(&evtx);
    assert_eq!(from_json.events.len(), 1);
    let (a, b) = (&from_json.events[0], &from_evtx.events[0]);
    assert_eq!(a.get_named("EventID"), Some(&Value::Int(7)));
    assert_eq!(
        a.source.as_str(),
        "evtx:Microsoft-Windows-Sysmon/Operational"
    );
    // The JSON rendering and the EVTX file give the same event.
    assert_eq!(a.time, b.time);
    assert_eq!(a.get_named("ImageLoaded"), b.get_named("ImageLoaded"));
    assert_eq!(a.get_named("Provider_Name"), b.get_named("Provider_Name"));
    assert_eq!(a.common, b.common);
}

#[test]
fn evtx_json_flat_exports_get_sigma_names() {
    let r = read(
        &shared().join("windows-sysmon-otrf/credential_access/psh_lsass_memory_dump_comsvcs.zip"),
    );
    assert_eq!(r.events.len(), 184);
    let e = &r.events[0];
    assert_eq!(e.source.as_str(), "evtx:Security");
    assert_eq!(e.get_named("Computer"), Some(&Value::str("WORKSTATION5")));
    assert_eq!(e.get_named("EventID"), Some(&Value::Int(4689)));
    assert_eq!(e.time.to_rfc3339(), "2020-10-18T07:50:06.220Z");
    assert!(!(*e.origin.path.to_string()).is_empty() && e.origin.path.contains(".zip!"));
    let sysmon = r
        .events
        .iter()
        .find(|e| e.get_named("Hashes").is_some())
        .expect("a Sysmon event with hashes");
    assert!(sysmon.common(FILE_SHA256).is_some() || sysmon.common(FILE_MD5).is_some());
}
