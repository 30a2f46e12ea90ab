//! A year of EHR access events of a trust with 10,000 staff (about 100
//! million AuditEvents) through the EHR detectors on one core.
//!
//! `cargo bench -p vakt-analytics --bench ehr100m` (`VAKT_BENCH_DAYS` and
//! `VAKT_BENCH_STAFF` for other sizes). The context is built in memory:
//! 500,000 patients, each in the care of one of 50 departments (one open
//! care relationship each), 10,000 staff in those departments (80 % on day
//! shifts 07-16, 20 % on nights 22-07), 200 protected persons. The events are
//! generated streaming in time order — one reused event whose time, user,
//! patient, purpose and address change per access — so the figure is the
//! detectors' own cost, not a reader's or a generator's (a generator-only
//! pass over the same days is timed and reported too). Each on-shift hour a
//! member of staff reads about 3.4 records (Poisson): 95 % of their own
//! department's patients, 5 % others (a third of those with an emergency
//! purpose). Reports events/s, the findings, the state held and the peak
//! resident memory (VmHWM).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use vakt_analytics::ehr::{EhrAnalytics, EhrConfig, EhrContext};
use vakt_context::care::{Care, OrgInfo, PatientInfo, StaffInfo};
use vakt_core::field::{ACTOR_USER_UID, API_OPERATION, PATIENT_UID, PURPOSE_OF_USE, SRC_IP};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Event, Locator, Origin, Timestamp, Value};

/// SplitMix64: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Poisson by inversion (small means).
    fn poisson(&mut self, mean: f64) -> u32 {
        let l = (-mean).exp();
        let (mut k, mut p) = (0u32, 1.0);
        loop {
            p *= self.unit();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

const DEPTS: u64 = 50;
const PATIENTS: u64 = 500_000;
const NS: i64 = 1_000_000_000;
/// 2018-01-01T00:00:00Z.
const START: i64 = 1_514_764_800;

fn context(staff: u64) -> EhrContext {
    let mut ctx = EhrContext::default();
    ctx.orgs.insert(
        "trust".into(),
        OrgInfo {
            name: "Bench HF".into(),
            part_of: None,
            emergency: false,
        },
    );
    for d in 0..DEPTS {
        ctx.orgs.insert(
            format!("d{d:02}").into(),
            OrgInfo {
                name: if d == 0 {
                    "Akuttmottak".into()
                } else {
                    format!("Avdeling {d}").into()
                },
                part_of: Some("trust".into()),
                emergency: d == 0,
            },
        );
    }
    for p in 0..PATIENTS {
        let id: Box<str> = format!("p{p:07}").into();
        ctx.patients.insert(
            id.clone(),
            PatientInfo {
                municipality: Some(301),
                trust: Some("trust".into()),
                ..Default::default()
            },
        );
        ctx.care.insert(
            id,
            vec![Care {
                id: None,
                from: i64::MIN,
                to: i64::MAX,
                department: Some(format!("d{:02}", p % DEPTS).into()),
                staff: Vec::new(),
            }],
        );
    }
    for p in 0..200u64 {
        ctx.protected
            .insert(format!("p{:07}", p * 2_477).into(), "politician".into());
    }
    for s in 0..staff {
        let id: Box<str> = format!("s{s:05}").into();
        let user: Box<str> = format!("u{s:05}").into();
        ctx.user_to_staff.insert(user.clone(), id.clone());
        ctx.staff.insert(
            id,
            StaffInfo {
                user,
                role: Some(if s % 3 == 0 { "physician" } else { "nurse" }.into()),
                department: Some(format!("d{:02}", s % DEPTS).into()),
                ..Default::default()
            },
        );
    }
    ctx.trust_counties
        .insert("trust".into(), std::iter::once(3u8).collect());
    ctx
}

/// Generates the accesses in time order and hands each to `f`.
fn generate(staff: u64, days: i64, mut f: impl FnMut(&Event)) -> u64 {
    let mut rng = Rng(2018);
    let mut e = Event {
        time: Timestamp(0),
        tenant: Arc::from("bench"),
        source: vakt_core::SourceKind::new("fhir:AuditEvent"),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("auditevent.ndjson"),
            locator: Locator::Line(0),
        },
    };
    e.set_common(API_OPERATION, Value::str("read"));
    let treat = Value::List(vec![Value::str("TREAT")]);
    let etreat = Value::List(vec![Value::str("ETREAT")]);
    let mut n = 0u64;
    let mut batch: Vec<(i64, u64, u64, bool)> = Vec::new();
    for day in 0..days {
        for hour in 0..24i64 {
            batch.clear();
            for s in 0..staff {
                let night = s % 5 == 0;
                let on = if night {
                    !(7..22).contains(&hour)
                } else {
                    (7..16).contains(&hour)
                };
                if !on {
                    continue;
                }
                for _ in 0..rng.poisson(3.4) {
                    let t = START + day * 86_400 + hour * 3_600 + rng.below(3_600) as i64;
                    let (p, emergency) = if rng.below(100) < 5 {
                        (rng.below(PATIENTS), rng.below(3) == 0)
                    } else {
                        (rng.below(PATIENTS / DEPTS) * DEPTS + s % DEPTS, false)
                    };
                    batch.push((t, s, p, emergency));
                }
            }
            batch.sort_unstable_by_key(|b| b.0);
            for &(t, s, p, emergency) in &batch {
                n += 1;
                e.time = Timestamp(t * NS + (n % 1_000_000) as i64);
                e.origin.locator = Locator::Line(n);
                e.set_common(ACTOR_USER_UID, Value::str(&format!("Practitioner/s{s:05}")));
                e.set_common(PATIENT_UID, Value::str(&format!("Patient/p{p:07}")));
                e.set_common(
                    PURPOSE_OF_USE,
                    if emergency {
                        etreat.clone()
                    } else {
                        treat.clone()
                    },
                );
                e.set_common(
                    SRC_IP,
                    Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 20, (s >> 8) as u8, s as u8))),
                );
                f(&e);
            }
        }
    }
    n
}

fn main() {
    let days: i64 = std::env::var("VAKT_BENCH_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(365);
    let staff: u64 = std::env::var("VAKT_BENCH_STAFF")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let t = Instant::now();
    let ctx = Arc::new(context(staff));
    let ctx_secs = t.elapsed().as_secs_f64();
    let rss_ctx = peak_rss_mib();

    // The generator alone over a tenth of the days, to know its share.
    let gen_days = (days / 10).max(1);
    let t = Instant::now();
    let gen_n = generate(staff, gen_days, |e| {
        std::hint::black_box(e);
    });
    let gen_rate = gen_n as f64 / t.elapsed().as_secs_f64();

    let mut ehr = EhrAnalytics::new(
        ctx,
        EhrConfig::default(),
        Arc::new(Pseudonymiser::new(b"benchmark key, 16+ bytes").unwrap()),
        Arc::from("bench"),
    );
    let t = Instant::now();
    let n = generate(staff, days, |e| ehr.observe(e));
    ehr.flush();
    let total = t.elapsed().as_secs_f64();
    let gen_secs = n as f64 / gen_rate;
    let t = Instant::now();
    let alerts = ehr.alerts();
    let alert_secs = t.elapsed().as_secs_f64();
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for a in &alerts {
        *by.entry(a.detector.as_str()).or_default() += 1;
    }
    println!("events             {n} ({days} days, {staff} staff, {PATIENTS} patients)");
    println!(
        "context            built in {ctx_secs:.2} s, peak RSS then {:.0} MiB",
        rss_ctx.unwrap_or(f64::NAN)
    );
    println!(
        "generate + observe {total:.2} s ({:.0} events/s, one core)",
        n as f64 / total
    );
    println!(
        "generator alone    {:.0} events/s -> about {gen_secs:.2} s of the above; detectors alone about {:.0} events/s",
        gen_rate,
        n as f64 / (total - gen_secs).max(1e-9)
    );
    println!(
        "alerts             {} in {alert_secs:.2} s: {by:?}",
        alerts.len()
    );
    println!("state              {}", ehr.footprint());
    println!(
        "peak RSS           {:.0} MiB",
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
