//! One simulated day (20,000 patients, 1,000 staff, scenario apt2018) written
//! to a temporary folder, one thread. The full-scale figure (100,000 patients,
//! 5,000 staff) is `vakt sim --patients 100000 --staff 5000 --days 1`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = vakt_sim::Config::new(dir.path(), 2018, 20_000, 1);
    cfg.staff = 1_000;
    let records = vakt_sim::run(&cfg).expect("sim").records;
    eprintln!("one day: {records} records");
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    g.throughput(Throughput::Elements(records));
    g.bench_function("one day, 20k patients, 1k staff", |b| {
        b.iter(|| vakt_sim::run(&cfg).expect("sim").records)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
