//! Times loading a rule set: `cargo run --release -p vakt-sigma --example load_phases DIR`.
use std::time::Instant;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/sigma/rules".into());
    for _ in 0..5 {
        let t = Instant::now();
        let (set, report) = vakt_sigma::RuleSet::load(
            &[dir.clone().into()],
            &vakt_sigma::Mapping::default_mapping(),
            &Default::default(),
        );
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "loaded {} rules ({} variants, {} unsupported) in {secs:.3} s",
            report.loaded,
            set.variant_count(),
            report.unsupported.len()
        );
        std::mem::forget(set);
    }
}
