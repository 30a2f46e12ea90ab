//! Throughput of each reader on files from `../shared/data`, one core, input in memory.
//!
//! Each benchmark prints its input size (bytes and events) once, so that the
//! MB/s criterion reports can be turned into events per second. The EVTX
//! group also measures the bare `evtx` crate (`records_json_value`, one
//! thread) on the same bytes: the baseline our reader is held to.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vakt_ingest::{ReadContext, eve, evtx, fhir, jsonl, zeek};

fn shared() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    std::env::var_os("VAKT_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or(root)
}

fn load(rel: &str) -> Vec<u8> {
    std::fs::read(shared().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn load_zip_entry(rel: &str) -> Vec<u8> {
    let f = std::fs::File::open(shared().join(rel)).expect("zip");
    let mut z = zip::ZipArchive::new(f).expect("zip archive");
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).expect("entry");
        if e.name()
            .map(|n| !n.starts_with("__MACOSX"))
            .unwrap_or(false)
        {
            e.read_to_end(&mut out).expect("read");
            break;
        }
    }
    out
}

fn ctx(name: &str) -> ReadContext {
    ReadContext::new(name, "bench")
}

fn count<I: Iterator<Item = Result<vakt_core::Event, vakt_ingest::RecordError>>>(it: I) -> usize {
    it.filter(Result::is_ok).count()
}

const EVTX_FILES: &[&str] = &[
    "evtx/EVTX-ATTACK-SAMPLES/Command and Control/bits_openvpn.evtx",
    "evtx/EVTX-ATTACK-SAMPLES/Lateral Movement/LM_5145_Remote_FileCopy.evtx",
    "evtx/EVTX-to-MITRE-Attack/EVTX_full_APT_attack_steps/ID5145-4624-DonPAPI full extraction.evtx",
];

fn bench_evtx(c: &mut Criterion) {
    let files: Vec<Arc<[u8]>> = EVTX_FILES.iter().map(|f| Arc::from(load(f))).collect();
    let bytes: usize = files.iter().map(|f| f.len()).sum();
    let events: usize = files
        .iter()
        .map(|f| count(evtx::read(f.clone(), ctx("b.evtx")).expect("evtx")))
        .sum();
    eprintln!(
        "evtx input: {bytes} bytes, {events} events in {} files",
        files.len()
    );
    let mut g = c.benchmark_group("evtx");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function(BenchmarkId::new("vakt", events), |b| {
        b.iter(|| {
            files
                .iter()
                .map(|f| count(evtx::read(f.clone(), ctx("b.evtx")).expect("evtx")))
                .sum::<usize>()
        })
    });
    g.bench_function(BenchmarkId::new("bare-evtx-crate", events), |b| {
        b.iter(|| {
            files
                .iter()
                .map(|f| {
                    let settings = ::evtx::ParserSettings::default().num_threads(1);
                    let mut p = ::evtx::EvtxParser::from_buffer(f.to_vec())
                        .expect("evtx")
                        .with_configuration(settings);
                    p.records_json_value().filter(Result::is_ok).count()
                })
                .sum::<usize>()
        })
    });
    g.finish();
}

type Events<'a> = Box<dyn Iterator<Item = Result<vakt_core::Event, vakt_ingest::RecordError>> + 'a>;

fn bench_text(
    c: &mut Criterion,
    name: &str,
    data: Vec<u8>,
    read: impl for<'a> Fn(&'a [u8]) -> Events<'a>,
) {
    let events = count(read(&data));
    eprintln!("{name} input: {} bytes, {events} events", data.len());
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function(BenchmarkId::new("vakt", events), |b| {
        b.iter(|| count(read(&data)))
    });
    g.finish();
}

fn bench_zeek_tsv(c: &mut Criterion) {
    let mut data = load("zeek-stratosphere-labelled/002-zeek-scenario-port-scanning/conn.log");
    data.extend(load(
        "zeek-stratosphere-labelled/008-zeek-mixed/data/conn.log.labeled",
    ));
    data.extend(load(
        "zeek-stratosphere-labelled/009-zeek-malicious/data/dns.log.labeled",
    ));
    bench_text(c, "zeek-tsv", data, |d| {
        Box::new(zeek::read_tsv(d, ctx("conn.log")))
    });
}

fn bench_zeek_json(c: &mut Criterion) {
    let mut data = Vec::new();
    for f in [
        "zeek-otrf-apt29/day1/NASHUA_conn.log",
        "zeek-otrf-apt29/day2/NEWYORK_dns.log",
    ] {
        data.extend(load(f));
    }
    bench_text(c, "zeek-json", data, |d| {
        Box::new(zeek::read_json(d, ctx("conn.log")))
    });
}

fn bench_eve(c: &mut Criterion) {
    let data = load("suricata-eve-slips/test6-malicious.eve.before-2021-06-07T0930.json");
    bench_text(c, "eve", data, |d| Box::new(eve::read(d, ctx("eve.json"))));
}

fn bench_jsonl(c: &mut Criterion) {
    let data = load("suricata-eve-slips/test6-malicious.eve.before-2021-06-07T0930.json");
    bench_text(c, "jsonl", data, |d| {
        Box::new(jsonl::read(d, ctx("x.jsonl")))
    });
}

fn bench_evtx_json(c: &mut Criterion) {
    let data = load_zip_entry("windows-sysmon-otrf/credential_access/cmd_sam_copy_esentutl.zip");
    bench_text(c, "evtx-json", data, |d| {
        Box::new(vakt_ingest::JsonEvents::new(
            d,
            Arc::from("x.json"),
            vakt_ingest::windows_json(ctx("x.json")),
        ))
    });
}

/// NDJSON of the R4 and R5 AuditEvent examples, one per line, repeated to about 2 MB.
fn fhir_ndjson() -> Vec<u8> {
    let mut lines = Vec::new();
    for dir in ["fhir-r4-examples/AuditEvent", "fhir-r5-examples/AuditEvent"] {
        let mut paths: Vec<_> = std::fs::read_dir(shared().join(dir))
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        paths.sort();
        for p in paths {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json");
            lines.push(serde_json::to_vec(&v).expect("json"));
        }
    }
    let mut out = Vec::new();
    while out.len() < 2_000_000 {
        for l in &lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
    }
    out
}

fn bench_fhir(c: &mut Criterion) {
    bench_text(c, "fhir", fhir_ndjson(), |d| {
        Box::new(fhir::read(d, ctx("audit.ndjson")))
    });
}

criterion_group! {
    name = readers;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = bench_evtx, bench_zeek_tsv, bench_zeek_json, bench_eve, bench_jsonl, bench_evtx_json, bench_fhir
}
criterion_main!(readers);
