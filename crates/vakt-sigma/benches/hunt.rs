//! The whole SigmaHQ rule set (`../shared/data/sigma/rules`) over the whole
//! EVTX development corpus (`../shared/data/evtx`, 389 files, 13,298 events),
//! one thread:
//! - `load`: reading and compiling the rule set;
//! - `match`: matching events already in memory;
//! - `parse+match`: EVTX bytes in memory to detections (what `vakt hunt` does per core);
//! - `parse only`: the same bytes through vakt's EVTX reader, and through the bare `evtx` crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vakt_core::Event;
use vakt_ingest::{ReadContext, evtx};
use vakt_sigma::{Mapping, RuleSet, Scratch};

fn shared() -> PathBuf {
    std::env::var_os("VAKT_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn corpus() -> Vec<Arc<[u8]>> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(shared().join("evtx"))
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "evtx"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| Arc::from(std::fs::read(f).expect("read")))
        .collect()
}

fn events(files: &[Arc<[u8]>]) -> Vec<Event> {
    files
        .iter()
        .flat_map(|f| evtx::read(f.clone(), ReadContext::new("b.evtx", "bench")).expect("evtx"))
        .filter_map(Result::ok)
        .collect()
}

fn rules() -> RuleSet {
    RuleSet::load(
        &[shared().join("sigma/rules")],
        &Mapping::default_mapping(),
        &Default::default(),
    )
    .0
}

fn bench(c: &mut Criterion) {
    let files = corpus();
    let bytes: usize = files.iter().map(|f| f.len()).sum();
    let evs = events(&files);
    let set = rules();
    eprintln!(
        "input: {} EVTX files, {bytes} bytes, {} events; {} rules ({} variants)",
        files.len(),
        evs.len(),
        set.rules.len(),
        set.variant_count()
    );

    let mut g = c.benchmark_group("sigma");
    g.sample_size(10);
    g.bench_function("load whole rule set", |b| b.iter(rules));

    g.throughput(Throughput::Elements(evs.len() as u64));
    g.bench_function("match (events in memory)", |b| {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        b.iter(|| {
            let mut n = 0;
            for e in &evs {
                out.clear();
                set.matches(e, &mut scratch, &mut out);
                n += out.len();
            }
            n
        })
    });
    g.bench_function("parse+match (EVTX bytes in memory)", |b| {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        b.iter(|| {
            let mut n = 0;
            for f in &files {
                for e in evtx::read(f.clone(), ReadContext::new("b.evtx", "bench"))
                    .expect("evtx")
                    .flatten()
                {
                    out.clear();
                    set.matches(&e, &mut scratch, &mut out);
                    n += out.len();
                }
            }
            n
        })
    });
    g.bench_function("parse only (vakt reader)", |b| {
        b.iter(|| events(&files).len())
    });
    g.bench_function("parse only (bare evtx crate)", |b| {
        b.iter(|| {
            files
                .iter()
                .map(|f| {
                    let mut p = ::evtx::EvtxParser::from_buffer(f.to_vec())
                        .expect("evtx")
                        .with_configuration(::evtx::ParserSettings::default().num_threads(1));
                    p.records_json_value().filter(Result::is_ok).count()
                })
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
