//! Bad input: an input of every format is corrupted and truncated; the reader
//! must not panic, must name the file and record of each error, and must still
//! emit every good record.

mod common;

use std::io::Write;

use common::{Read, read, read_bytes, shared};
use vakt_core::{Event, Locator};

/// Replaces line `n` (1-based) with `with`, and cuts the last record line in
/// half, dropping what follows (a file cut off mid-write).
fn damage_lines(text: &[u8], n: usize, with: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    lines.truncate(last_record_line(text) as usize);
    lines[n - 1] = with.to_vec();
    let last = lines.last_mut().unwrap();
    last.truncate(last.len() / 2);
    lines.join(&b'\n')
}

/// The 1-based number of the last line that holds a record (not blank, not a `#` header).
fn last_record_line(text: &[u8]) -> u64 {
    text.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && l[0] != b'#')
        .map(|(i, _)| i as u64 + 1)
        .last()
        .unwrap()
}

/// The same event, wherever its file was.
fn same(a: &Event, b: &Event) -> bool {
    a.time == b.time && a.source == b.source && a.fields == b.fields && a.common == b.common
}

/// Every clean event not at a damaged place is emitted unchanged, and the errors
/// are exactly at the damaged places, naming the file.
fn check(clean: &Read, broken: &Read, path: &std::path::Path, damaged: &[Locator]) {
    let mut got: Vec<Locator> = broken.rejected.iter().map(|e| e.locator).collect();
    got.sort();
    let mut want = damaged.to_vec();
    want.sort();
    assert_eq!(got, want, "errors: {:#?}", broken.rejected);
    let shown = path.display().to_string();
    for e in &broken.rejected {
        assert_eq!(&*e.path, shown);
        let msg = e.to_string();
        assert!(
            msg.contains(&shown) && msg.contains(&e.locator.to_string()),
            "{msg}"
        );
        assert!(!e.raw.is_empty(), "raw bytes kept for quarantine: {msg}");
    }
    let expected: Vec<&Event> = clean
        .events
        .iter()
        .filter(|e| !damaged.contains(&e.origin.locator))
        .collect();
    assert_eq!(broken.events.len(), expected.len());
    for (b, c) in broken.events.iter().zip(expected) {
        assert_eq!(b.origin.locator, c.origin.locator);
        assert!(same(b, c), "{b:?}\n!=\n{c:?}");
    }
}

fn line_format(rel: &str, name: &str, bad_line: usize) {
    let original = std::fs::read(shared().join(rel)).unwrap();
    let (_d1, _p1, clean) = read_bytes(name, &original);
    assert!(clean.rejected.is_empty(), "{rel}: {:?}", clean.rejected);
    let last = last_record_line(&original);
    let broken_bytes = damage_lines(&original, bad_line, b"{\"not\": json at all\t\t");
    let (_d2, path, broken) = read_bytes(name, &broken_bytes);
    check(
        &clean,
        &broken,
        &path,
        &[Locator::Line(bad_line as u64), Locator::Line(last)],
    );
}

#[test]
fn zeek_tsv() {
    line_format("zeek-rita-testdata/proxy/conn.log", "conn.log", 20);
}

#[test]
fn zeek_json() {
    line_format("zeek-otrf-apt29/day1/NASHUA_conn.log", "conn.log", 10);
}

#[test]
fn suricata_eve() {
    line_format(
        "suricata-eve-slips/test6-malicious.eve.before-2021-06-07T0930.json",
        "eve.json",
        100,
    );
}

#[test]
fn jsonl() {
    line_format("fhir-synthea-bulk/10-patients/log.ndjson", "log.ndjson", 3);
}

fn otrf_json() -> Vec<u8> {
    let f = std::fs::File::open(
        shared().join("windows-sysmon-otrf/credential_access/psh_lsass_memory_dump_comsvcs.zip"),
    )
    .unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut z.by_index(0).unwrap(), &mut out).unwrap();
    out
}

#[test]
fn evtx_json_lines() {
    let original = otrf_json();
    let (_d1, _p, clean) = read_bytes("events.json", &original);
    assert_eq!(clean.events.len(), 184);
    let broken_bytes = damage_lines(
        &original,
        7,
        b"{\"EventID\": 4624, \"Channel\": \"Security\", \"TimeCreated\": \"yesterday\"}",
    );
    let (_d2, path, broken) = read_bytes("events.json", &broken_bytes);
    check(
        &clean,
        &broken,
        &path,
        &[Locator::Line(7), Locator::Line(184)],
    );
    assert!(
        broken.rejected[0].reason.contains("yesterday"),
        "{}",
        broken.rejected[0].reason
    );
}

#[test]
fn gzip_damaged_and_truncated() {
    let original = otrf_json();
    let damaged = damage_lines(&original, 7, b"garbage");
    let mut whole = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    whole.write_all(&original).unwrap();
    let whole = whole.finish().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&damaged).unwrap();
    let gz = gz.finish().unwrap();
    let (_d1, _p, clean) = read_bytes("events.json", &original);
    let (_d2, path, broken) = read_bytes("events.json.gz", &gz);
    check(
        &clean,
        &broken,
        &path,
        &[Locator::Line(7), Locator::Line(184)],
    );
    // A gzip stream cut short: what was decompressed is kept, the cut is reported.
    let (_d3, _p3, cut) = read_bytes("events.json.gz", &whole[..whole.len() / 2]);
    assert!(cut.events.len() > 10);
    assert_eq!(cut.rejected.len(), 1, "{:?}", cut.rejected);
    assert!(
        cut.rejected[0].reason.contains("read failed"),
        "{}",
        cut.rejected[0].reason
    );
    for e in &cut.events {
        let c = clean
            .events
            .iter()
            .find(|c| c.origin.locator == e.origin.locator)
            .unwrap();
        assert!(same(e, c));
    }
}

fn fhir_examples() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in ["fhir-r4-examples/AuditEvent", "fhir-r5-examples/AuditEvent"] {
        let mut paths: Vec<_> = std::fs::read_dir(shared().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for p in paths {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            out.push(serde_json::to_vec(&v).unwrap());
        }
    }
    out
}

#[test]
fn fhir_ndjson() {
    let ndjson = fhir_examples().join(&b'\n');
    line_format_bytes(&ndjson, "AuditEvent.ndjson", 5, 22);
}

fn line_format_bytes(original: &[u8], name: &str, bad: usize, total: usize) {
    let (_d1, _p, clean) = read_bytes(name, original);
    assert_eq!(clean.events.len(), total);
    let broken_bytes = damage_lines(
        original,
        bad,
        b"{\"resourceType\": \"AuditEvent\", \"recorded\": 12",
    );
    let (_d2, path, broken) = read_bytes(name, &broken_bytes);
    check(
        &clean,
        &broken,
        &path,
        &[Locator::Line(bad as u64), Locator::Line(total as u64)],
    );
}

#[test]
fn fhir_bundle_with_a_bad_entry_keeps_the_others() {
    let entries: Vec<serde_json::Value> = fhir_examples()
        .iter()
        .take(3)
        .map(|b| serde_json::from_slice(b).unwrap())
        .collect();
    let mut bad = entries[1].clone();
    bad.as_object_mut().unwrap().remove("recorded");
    let bundle = serde_json::json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": entries[0]}, {"resource": bad}, {"resource": {"resourceType": "Patient", "id": "p"}}, {"resource": entries[2]}]
    });
    let (_d, path, r) = read_bytes("bundle.json", &serde_json::to_vec_pretty(&bundle).unwrap());
    assert_eq!(
        r.events.len(),
        2,
        "the two good AuditEvents; the Patient is context"
    );
    assert_eq!(r.rejected.len(), 1);
    let msg = r.rejected[0].to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("entry 2"),
        "{msg}"
    );
}

#[test]
fn truncated_json_documents() {
    for rel in [
        "fhir-r5-examples/AuditEvent/AuditEvent-example-rest.json",
        "sigma/regression_data/rules-threat-hunting/windows/image_load/image_load_win_werfaultsecure_dbgcore_dbghelp_load/8a2f4b1c-3d5e-4f7a-9b2c-1e4f6d8a9c2b.json",
    ] {
        let original = std::fs::read(shared().join(rel)).unwrap();
        let (_d, path, r) = read_bytes("doc.json", &original[..original.len() * 2 / 3]);
        assert_eq!(r.events.len(), 0);
        assert_eq!(
            r.rejected.len(),
            1,
            "{rel}: {:?} {:?}",
            r.rejected,
            r.skipped
        );
        let e = &r.rejected[0];
        assert!(matches!(e.locator, Locator::Line(n) if n > 1), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()));
    }
}

const EVTX: &str = "evtx/EVTX-ATTACK-SAMPLES/Command and Control/bits_openvpn.evtx";
const HEADER: usize = 4096;
const CHUNK: usize = 65536;

/// The record's number in the file (the EVTX record header's id, as evtx_dump shows it).
fn record_id(e: &Event) -> u64 {
    match e.origin.locator {
        Locator::Record(n) => n,
        other => panic!("not a record locator: {other:?}"),
    }
}

/// The record numbers a chunk's header says it holds.
fn chunk_range(data: &[u8], chunk: usize) -> std::ops::RangeInclusive<u64> {
    let h = &data[HEADER + chunk * CHUNK..];
    let first = u64::from_le_bytes(h[24..32].try_into().unwrap());
    let last = u64::from_le_bytes(h[32..40].try_into().unwrap());
    first..=last
}

#[test]
fn evtx_corrupt_chunk_loses_only_that_chunk() {
    let original = std::fs::read(shared().join(EVTX)).unwrap();
    let clean = read(&shared().join(EVTX));
    assert_eq!(clean.events.len(), 1537);
    let lost = chunk_range(&original, 3);
    let mut broken = original.clone();
    broken[HEADER + 3 * CHUNK..HEADER + 3 * CHUNK + 8].copy_from_slice(b"NotChnk!");
    let (_d, path, r) = read_bytes("broken.evtx", &broken);
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    let err = &r.rejected[0];
    assert_eq!(err.locator, Locator::Chunk(3));
    assert!(err.to_string().contains(&path.display().to_string()));
    assert!(
        err.reason.contains("chunk 3") && err.reason.contains("lost"),
        "{}",
        err.reason
    );
    assert_eq!(err.raw.len(), CHUNK);
    let mut want: Vec<u64> = clean
        .events
        .iter()
        .map(record_id)
        .filter(|id| !lost.contains(id))
        .collect();
    let mut got: Vec<u64> = r.events.iter().map(record_id).collect();
    want.sort();
    got.sort();
    assert!(!lost.is_empty() && want.len() < clean.events.len());
    assert_eq!(got, want);
}

#[test]
fn evtx_truncated_file_keeps_every_whole_chunk() {
    let original = std::fs::read(shared().join(EVTX)).unwrap();
    let chunks = (original.len() - HEADER) / CHUNK;
    let cut = HEADER + (chunks - 1) * CHUNK + 20_000;
    let clean = read(&shared().join(EVTX));
    let lost = chunk_range(&original, chunks - 1);
    let (_d, _path, r) = read_bytes("cut.evtx", &original[..cut]);
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    assert_eq!(r.rejected[0].locator, Locator::Chunk(chunks as u64 - 1));
    assert!(r.rejected[0].reason.contains("truncated"));
    let want = clean
        .events
        .iter()
        .filter(|e| !lost.contains(&record_id(e)))
        .count();
    assert_eq!(r.events.len(), want);
}

#[test]
fn evtx_random_damage_never_panics() {
    let original = std::fs::read(shared().join(EVTX_SMALL)).unwrap();
    let mut seed: u64 = 0x5eed_2018;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..200 {
        let mut data = original.clone();
        for _ in 0..8 {
            let at = HEADER + next() % (data.len() - HEADER);
            data[at] = next() as u8;
        }
        let (_d, path, r) = read_bytes("fuzz.evtx", &data);
        for e in &r.rejected {
            assert_eq!(*e.path, *path.display().to_string());
        }
        assert!(r.events.len() + r.rejected.len() > 0 || !r.unreadable.is_empty());
    }
}

const EVTX_SMALL: &str =
    "evtx/EVTX-ATTACK-SAMPLES/AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx";

#[test]
fn not_an_evtx_after_all() {
    let (_d, _p, r) = read_bytes("x.evtx", b"ElfFile\0 but nothing after");
    assert_eq!(r.events.len(), 0);
    assert_eq!(r.unreadable.len(), 1, "{r:?}");
}

#[test]
fn truncated_zip_is_salvaged_from_local_headers() {
    let zip = std::fs::read(
        shared().join("windows-sysmon-otrf/credential_access/cmd_sam_copy_esentutl.zip"),
    )
    .unwrap();
    let clean =
        read(&shared().join("windows-sysmon-otrf/credential_access/cmd_sam_copy_esentutl.zip"));
    let (_d, path, r) = read_bytes("cut.zip", &zip[..zip.len() * 6 / 10]);
    assert!(r.unreadable.is_empty(), "{:?}", r.unreadable);
    assert!(
        r.events.len() > 100 && r.events.len() < clean.events.len(),
        "{}",
        r.events.len()
    );
    for e in &r.events {
        let c = clean
            .events
            .iter()
            .find(|c| c.origin.locator == e.origin.locator)
            .unwrap();
        assert!(same(e, c));
    }
    // The cut is reported against the entry, with the archive's path.
    let cut = r
        .rejected
        .iter()
        .find(|e| e.reason.contains("cut short"))
        .expect("cut reported");
    assert!(cut.path.starts_with(&*path.display().to_string()));
}

#[test]
fn evtx_in_memory_path_matches_the_file_path() {
    let original = std::fs::read(shared().join(EVTX)).unwrap();
    let mut broken = original.clone();
    broken[HEADER + 5 * CHUNK..HEADER + 5 * CHUNK + 8].copy_from_slice(b"NotChnk!");
    let (_d1, _p1, from_file) = read_bytes("b.evtx", &broken);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&broken).unwrap();
    let (_d2, _p2, from_gz) = read_bytes("b.evtx.gz", &gz.finish().unwrap());
    assert_eq!(from_file.events.len(), from_gz.events.len());
    assert!(
        from_file
            .events
            .iter()
            .zip(&from_gz.events)
            .all(|(a, b)| same(a, b))
    );
    assert_eq!(from_gz.rejected.len(), 1);
    assert_eq!(from_gz.rejected[0].locator, Locator::Chunk(5));
    assert_eq!(from_gz.rejected[0].raw, from_file.rejected[0].raw);
}

#[test]
fn evtx_chunks_rendered_in_parallel_keep_order_and_errors() {
    let original = std::fs::read(shared().join(EVTX)).unwrap();
    let mut broken = original.clone();
    broken[HEADER + 7 * CHUNK..HEADER + 7 * CHUNK + 8].copy_from_slice(b"NotChnk!");
    let serial: Vec<_> = vakt_ingest::evtx::read(
        std::sync::Arc::from(broken.clone()),
        vakt_ingest::ReadContext::new("x.evtx", "t"),
    )
    .unwrap()
    .collect();
    let parallel: Vec<_> = vakt_ingest::evtx::read(
        std::sync::Arc::from(broken),
        vakt_ingest::ReadContext::new("x.evtx", "t"),
    )
    .unwrap()
    .with_threads(3)
    .collect();
    assert_eq!(serial.len(), parallel.len());
    assert!(serial.iter().zip(&parallel).all(|(a, b)| a == b));
    assert_eq!(parallel.iter().filter(|r| r.is_err()).count(), 1);
}
