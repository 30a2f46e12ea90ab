//! Behaviour analytics through the pipeline on Stratosphere's labelled Zeek
//! logs: precision and recall floors, and allow-lists (MISP warninglists of
//! public clouds) that set false findings aside, never true ones.

use std::path::{Path, PathBuf};

use vakt_detect::{Analytics, Pipeline, Quiet, Setup, Source, detectors};

// Floors: precision, precision with the cloud allow-lists, flow recall
// (issue 5 measured, without a site model: 0.55/0.65/0.30, 0.5/0.7/0.12,
// 0.6/0.75/0.18; issue 20, with each set's site model: 0.90/0.94/0.53,
// 0.84/0.90/0.40, 0.91/0.96/0.36).
const P008: f64 = 0.88;
const A008: f64 = 0.92;
const R008: f64 = 0.5;
const P010: f64 = 0.82;
const A010: f64 = 0.88;
const R010: f64 = 0.38;
const P012: f64 = 0.88;
const A012: f64 = 0.94;
const R012: f64 = 0.34;

fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("VAKT_SHARED_DATA") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// The network analytics over one file through the pipeline, with the
/// set's site model (written from its README, `crates/vakt/tests/data/sites`)
/// and these allow-lists.
fn hunt(file: &Path, site: &str, allow: Option<&[PathBuf]>) -> Vec<vakt_core::Alert> {
    let site = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vakt/tests/data/sites")
        .join(format!("{site}.yml"));
    let setup = Setup {
        analytics: Analytics::All,
        sites: std::sync::Arc::new(vakt_core::site::Sites::load(&site).unwrap()),
        ..Setup::default()
    };
    let mut p = Pipeline::new(detectors(&setup), Vec::new());
    if let Some(lists) = allow {
        p.allow = vakt_detect::AllowLists::new(vakt_intel::Warninglists::load(lists).unwrap());
    }
    let paths = [file.to_owned()];
    let source = Source::Files {
        paths: &paths,
        options: vakt_ingest::Options::default(),
        time_order: false,
    };
    p.run(&source, &Quiet).unwrap().alerts
}

/// Stratosphere's labelled Zeek scenarios: every conn record carries a
/// `label` (Malicious, Benign, Background). A finding is right when its
/// source→destination pair (or, for a scan, its source) has malicious flows.
/// Precision = right findings / findings; flow recall = malicious flows in
/// flagged pairs / malicious flows. The floors sit a little under what
/// issue 20's commit measures with each set's site model: 001 is NjRAT's C2
/// from one infected host; 008, 010 and 012 are one benign Windows host
/// attacked from the Internet — with the site model every outside source
/// that probed it five times or more is an `inbound-scan`, and most of the
/// rest knock once or twice (nothing behavioural to see); the false
/// findings are the host's own periodic cloud and antivirus traffic, which
/// only allow-lists or a peer group could set aside. (Pairs counted here
/// are all malicious pairs, however few their flows; `scripts/netlab.py`
/// counts those with ten or more.)
#[test]
fn stratosphere_labelled_scenarios_precision_and_recall_floors() {
    use std::collections::{HashMap, HashSet};
    use std::net::IpAddr;
    let base = shared().join("zeek-stratosphere-labelled");
    // The public clouds and CDNs a Windows host talks to all day, from the
    // MISP warninglists: a second run with them as allow-lists.
    let lists = shared().join("misp-warninglists/lists");
    let lists: Vec<PathBuf> = [
        "microsoft-azure",
        "amazon-aws",
        "microsoft",
        "google",
        "akamai",
        "crl-ip",
    ]
    .map(|l| lists.join(l))
    .to_vec();
    // (file, site, precision floor, with allow-lists, flow recall floor)
    let cases = [
        (
            "001-zeek-scenario-malicious/labeled-conn.log",
            "strat-001-njrat",
            0.9,
            0.9,
            0.9,
        ),
        (
            "008-zeek-mixed/data/conn.log.labeled",
            "strat-008-mixed",
            P008,
            A008,
            R008,
        ),
        (
            "010-zeek-mixed/data/conn.log.labeled",
            "strat-010-mixed",
            P010,
            A010,
            R010,
        ),
        (
            "012-zeek-mixed/data/conn.log.labeled",
            "strat-012-mixed",
            P012,
            A012,
            R012,
        ),
    ];
    for (file, site, min_precision, min_precision_allowed, min_recall) in cases {
        let mut malicious: HashMap<(IpAddr, IpAddr), usize> = HashMap::new();
        vakt_ingest::read_path(
            &base.join(file),
            &vakt_ingest::Options::default(),
            &mut |v| {
                if let vakt_ingest::Visit::Event(e) = v {
                    let ip = |f| e.common(f).and_then(vakt_core::Value::as_ip);
                    if e.get_named("label").and_then(|v| v.as_str()) == Some("Malicious")
                        && let (Some(s), Some(d)) =
                            (ip(vakt_core::field::SRC_IP), ip(vakt_core::field::DST_IP))
                    {
                        *malicious.entry((s, d)).or_default() += 1;
                    }
                }
            },
        );
        let measure = |alerts: &[vakt_core::Alert], how: &str| -> (f64, f64) {
            let mut right = 0;
            let mut found: HashSet<(IpAddr, IpAddr)> = HashSet::new();
            for a in alerts {
                let ips: Vec<IpAddr> = a
                    .entities()
                    .iter()
                    .filter_map(|e| match e {
                        vakt_core::Entity::Ip(ip) => Some(*ip),
                        _ => None,
                    })
                    .collect();
                let hit: Vec<(IpAddr, IpAddr)> = malicious
                    .keys()
                    .filter(|(s, d)| {
                        ips.first() == Some(s)
                            && (matches!(a.detector.as_str(), "scan" | "inbound-scan")
                                || ips.get(1) == Some(d))
                    })
                    .copied()
                    .collect();
                if !hit.is_empty() {
                    right += 1;
                }
                found.extend(hit);
            }
            let total: usize = malicious.values().sum();
            let caught: usize = found.iter().map(|p| malicious[p]).sum();
            let precision = right as f64 / alerts.len().max(1) as f64;
            let recall = caught as f64 / total.max(1) as f64;
            eprintln!(
                "{file} ({how}): {} findings, precision {precision:.3}, flow recall {recall:.3} \
                 ({caught} of {total} malicious flows; {} of {} malicious pairs)",
                alerts.len(),
                found.len(),
                malicious.len()
            );
            assert!(!alerts.is_empty(), "{file}");
            (precision, recall)
        };
        let alerts = hunt(&base.join(file), site, None);
        let (precision, recall) = measure(&alerts, "no allow-lists");
        assert!(precision >= min_precision, "{file}: precision {precision}");
        assert!(recall >= min_recall, "{file}: recall {recall}");
        let kept = hunt(&base.join(file), site, Some(&lists));
        assert!(kept.len() <= alerts.len());
        let (precision, recall_allowed) = measure(&kept, "cloud allow-lists");
        assert!(
            precision >= min_precision_allowed,
            "{file}: precision {precision}"
        );
        // The lists set aside no malicious finding here.
        assert_eq!(recall_allowed, recall, "{file}");
    }
}
