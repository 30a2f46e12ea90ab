//! The incident report: one self-contained HTML file (inline style and SVG,
//! no script, nothing fetched), or JSON for machines.

use std::collections::BTreeMap;
use std::fmt::Write;

use rustc_hash::FxHashSet;
use vakt_core::Timestamp;

use crate::incident::{Incident, Node};
use crate::scope::Exposure;
use crate::stages::rank;
use vakt_core::Alert;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn when(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    // 2018-01-01T08:30:20.123Z → 2018-01-01 08:30:20Z
    let (date, rest) = s.split_once('T').unwrap_or((&s, ""));
    let time: String = rest.chars().take(8).collect();
    format!("{date} {time}Z")
}

/// The incident's alerts, in time order.
fn members<'a>(incident: &Incident, alerts: &'a [Alert]) -> Vec<&'a Alert> {
    let ids: FxHashSet<&str> = incident.alerts.iter().map(String::as_str).collect();
    let mut v: Vec<&Alert> = alerts
        .iter()
        .filter(|a| ids.contains(a.key.as_str()))
        .collect();
    v.sort_by_key(|a| (a.first, a.key.clone()));
    v
}

/// The notification list as CSV: one row per patient (pseudonym), with
/// the trust that must notify.
pub fn notification_csv(e: &Exposure) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut csv = String::from("trust,patient,county,categories,first_access,by\n");
    for n in &e.notification {
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            field(&n.trust),
            field(&n.patient),
            field(&n.county),
            field(&n.categories.join(" ")),
            n.first_access.to_rfc3339(),
            field(&n.by)
        ));
    }
    csv
}

/// The report as JSON: the incident, its scope and its alerts.
pub fn json(
    incident: &Incident,
    alerts: &[Alert],
    exposure: &Exposure,
) -> Result<String, serde_json::Error> {
    let v = serde_json::json!({
        "incident": incident,
        "exposure": exposure,
        "alerts": members(incident, alerts),
    });
    serde_json::to_string_pretty(&v).map(|s| s + "\n")
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f4f5f7}
header{background:#14213d;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:21px}
header .sub{opacity:.85}
main{padding:18px 28px;max-width:1280px}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:0 0 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:16px;margin:0 0 10px}
.sev{display:inline-block;padding:2px 9px;border-radius:10px;font-weight:600;text-transform:uppercase;font-size:12px}
.sev-critical{background:#8b0000;color:#fff}.sev-high{background:#d9480f;color:#fff}.sev-medium{background:#f59f00}.sev-low{background:#74c0fc}.sev-informational{background:#dee2e6}
.numbers{display:flex;gap:14px;flex-wrap:wrap}
.num{flex:1;min-width:150px;background:#f8f9fb;border:1px solid #e3e6eb;border-radius:8px;padding:10px 12px}
.num b{display:block;font-size:26px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceef2;vertical-align:top}
th{font-weight:600;background:#f8f9fb}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.stages{display:flex;flex-wrap:wrap;gap:4px}
.stage{background:#e7f0ff;border:1px solid #b6ccf2;padding:6px 14px 6px 10px;clip-path:polygon(0 0,92% 0,100% 50%,92% 100%,0 100%,6% 50%);min-width:120px}
.stage small{display:block;color:#555}
code{font-size:12px;word-break:break-all}
.muted{color:#666}
"#;

/// The report as a self-contained HTML page.
pub fn html(incident: &Incident, alerts: &[Alert], e: &Exposure) -> String {
    let mine = members(incident, alerts);
    let mut h = String::with_capacity(64 * 1024);
    let sev = incident.severity.name();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
<title>{id} — vakt incident report</title><style>{STYLE}</style></head><body>\
<header><h1 id=\"incident-id\">{id}</h1><div class=\"sub\"><span class=\"sev sev-{sev}\" id=\"severity\">{sev}</span> \
<span id=\"title\">{title}</span></div><div class=\"sub\">{first} — {last}</div></header><main>",
        id = esc(&incident.id),
        title = esc(&incident.title),
        first = when(incident.first),
        last = when(incident.last),
    );
    // Summary numbers.
    let compromised = incident
        .nodes
        .iter()
        .filter(|n| n.role == "compromised" && n.kind != "account")
        .count();
    let accounts = incident
        .nodes
        .iter()
        .filter(|n| n.kind == "account")
        .count();
    let _ = write!(
        h,
        "<section><h2>Summary</h2><div class=\"numbers\">\
<div class=\"num\"><b id=\"confirmed\">{}</b>patients confirmed exposed</div>\
<div class=\"num\"><b id=\"possible\">{}</b>more possibly exposed</div>\
<div class=\"num\"><b id=\"stages-count\">{}</b>ATT&amp;CK stages</div>\
<div class=\"num\"><b id=\"hosts-count\">{compromised}</b>compromised hosts</div>\
<div class=\"num\"><b id=\"accounts-count\">{accounts}</b>accounts</div>\
<div class=\"num\"><b id=\"alerts-count\">{}</b>alerts</div></div>",
        e.confirmed,
        e.possible,
        incident.stages.len(),
        mine.len()
    );
    if let Some(pz) = &incident.patient_zero {
        let _ = write!(
            h,
            "<p>Patient zero: <b id=\"patient-zero\">{}</b> at {} — {} <span class=\"muted\">({})</span></p>",
            esc(&pz.entity),
            when(pz.time),
            esc(&pz.alert),
            esc(pz.origin.as_deref().unwrap_or("-"))
        );
    }
    let _ = write!(
        h,
        "<p class=\"muted\">Severity: {}.</p></section>",
        esc(&incident.severity_reasons.join("; "))
    );
    // Clocks.
    h.push_str("<section><h2>Notification clocks</h2>");
    match e.awareness {
        Some(a) => {
            let _ = write!(
                h,
                "<p>Aware since <b id=\"awareness\">{}</b> (the first high-severity alert).</p><table><tr><th>to</th><th class=\"n\">hours</th><th>due</th></tr>",
                when(a)
            );
            for c in &e.clocks {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"clock-due\">{}</td></tr>",
                    esc(&c.name),
                    c.hours,
                    c.due.map_or("-".into(), when)
                );
            }
            h.push_str("</table>");
        }
        None => h.push_str("<p>No high-severity alert: the clocks have not started.</p>"),
    }
    h.push_str("</section>");
    // Stages.
    h.push_str("<section><h2>ATT&amp;CK stages, in the order first seen</h2><div class=\"stages\" id=\"stages\">");
    for s in &incident.stages {
        let _ = write!(
            h,
            "<div class=\"stage\">{}<small>{} · {} alerts</small></div>",
            esc(&s.stage),
            when(s.first),
            s.alerts
        );
    }
    h.push_str("</div></section>");
    // Timeline.
    h.push_str("<section><h2>Timeline</h2>");
    h.push_str(&timeline_svg(incident, &mine));
    h.push_str("</section>");
    // Entity graph.
    h.push_str("<section><h2>Entity graph</h2>");
    h.push_str(&graph_svg(incident));
    h.push_str("</section>");
    // Exposure.
    let _ = write!(
        h,
        "<section><h2>Exposure</h2><p>Confirmed ({}): records read or exported from {} {}; \
possible: records held on systems the attacker reached.</p>",
        esc(&e.basis),
        when(e.from),
        e.until
            .map_or("to the end of the stored history".into(), |u| format!(
                "to {}",
                when(u)
            ))
    );
    h.push_str(&county_svg(e));
    h.push_str("<table id=\"by-county\"><tr><th>county</th><th class=\"n\">confirmed</th><th class=\"n\">possible</th></tr>");
    count_rows(&mut h, &e.by_county);
    let _ = write!(
        h,
        "<tr><th>all</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr></table>",
        e.confirmed, e.possible
    );
    h.push_str("<h2 style=\"margin-top:14px\">By organisation</h2><table><tr><th>trust</th><th class=\"n\">confirmed</th><th class=\"n\">possible</th></tr>");
    count_rows(&mut h, &e.by_trust);
    h.push_str("</table><h2 style=\"margin-top:14px\">Categories (confirmed)</h2><table><tr><th>category</th><th class=\"n\">patients</th></tr>");
    for (c, n) in &e.by_category {
        let _ = write!(h, "<tr><td>{}</td><td class=\"n\">{n}</td></tr>", esc(c));
    }
    h.push_str("</table><h2 style=\"margin-top:14px\">In scope</h2><table><tr><th>account or host</th><th>from</th><th class=\"n\">accesses</th><th>why</th></tr>");
    for a in e.accounts.iter().chain(&e.hosts) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&a.key),
            when(a.from),
            a.accesses,
            esc(&a.why)
        );
    }
    for r in &e.reached {
        let _ = write!(
            h,
            "<tr><td>{} ({})</td><td>{}</td><td class=\"n\">-</td><td>reached; holds the records of {} ({} patients)</td></tr>",
            esc(&r.system),
            esc(&r.kind),
            when(r.from),
            esc(&r.holds_patients_of),
            r.patients
        );
    }
    h.push_str("</table></section>");
    // Notification list (pseudonyms).
    let _ = write!(
        h,
        "<section><h2>Notification list ({} patients, pseudonymised)</h2><p class=\"muted\">Pseudonyms are revealed only to the privacy officer, with a reason, and every reveal is logged. The full list is in the JSON report.</p><table><tr><th>patient</th><th>trust</th><th>county</th><th>categories</th><th>first access</th><th>by</th></tr>",
        e.notification.len()
    );
    for n in e.notification.iter().take(100) {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&n.patient),
            esc(&n.trust),
            esc(&n.county),
            esc(&n.categories.join(", ")),
            when(n.first_access),
            esc(&n.by)
        );
    }
    if e.notification.len() > 100 {
        let _ = write!(
            h,
            "<tr><td colspan=\"6\" class=\"muted\">… and {} more</td></tr>",
            e.notification.len() - 100
        );
    }
    h.push_str("</table></section>");
    // Evidence.
    h.push_str("<section><h2>Evidence</h2><table id=\"evidence\"><tr><th>time</th><th>severity</th><th>stage</th><th>alert</th><th>engine</th><th>origin</th></tr>");
    for a in &mine {
        let _ = write!(
            h,
            "<tr><td>{}</td><td><span class=\"sev sev-{sev}\">{sev}</span></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            when(a.first),
            incident
                .alert_stages
                .get(a.key.as_str())
                .map_or("-", String::as_str),
            esc(&a.title),
            esc(a.rule.engine()),
            esc(&a
                .origins
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")),
            sev = a.severity.name()
        );
    }
    h.push_str("</table>");
    if !e.evidence.is_empty() {
        h.push_str("<h2 style=\"margin-top:14px\">First accesses in scope</h2><ul>");
        for o in &e.evidence {
            let _ = write!(h, "<li><code>{}</code></li>", esc(o));
        }
        h.push_str("</ul>");
    }
    let _ = writeln!(
        h,
        "</section><p class=\"muted\">Written by vakt. Scoped in {:.3} s over {} stored events.</p></main></body></html>",
        e.seconds, e.scan.rows
    );
    h
}

/// One table row per name: confirmed and possible counts.
fn count_rows(h: &mut String, counts: &BTreeMap<String, crate::scope::Counts>) {
    for (name, n) in counts {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(name),
            n.confirmed,
            n.possible
        );
    }
}

fn timeline_svg(incident: &Incident, mine: &[&Alert]) -> String {
    let lanes: Vec<&str> = {
        let mut v: Vec<&str> = incident.stages.iter().map(|s| s.stage.as_str()).collect();
        v.sort_by_key(|s| rank(s));
        if mine
            .iter()
            .any(|a| !incident.alert_stages.contains_key(a.key.as_str()))
        {
            v.push("other");
        }
        v
    };
    let (w, left, lane_h) = (1100.0, 170.0, 26.0);
    let hgt = 40.0 + lane_h * lanes.len() as f64;
    let (t0, t1) = (
        incident.first.0 as f64,
        (incident.last.0 as f64).max(incident.first.0 as f64 + 1.0),
    );
    let x = |t: i64| left + (w - left - 20.0) * ((t as f64 - t0) / (t1 - t0));
    let mut s = format!(
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {hgt}\" width=\"100%\" role=\"img\" aria-label=\"timeline\">"
    );
    for (i, lane) in lanes.iter().enumerate() {
        let y = 20.0 + lane_h * i as f64;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text><line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#e3e6eb\"/>",
            left - 8.0,
            y + 4.0,
            esc(lane),
            w - 20.0
        );
    }
    for a in mine {
        let lane = incident
            .alert_stages
            .get(a.key.as_str())
            .map_or("other", String::as_str);
        let i = lanes.iter().position(|l| *l == lane).unwrap_or(0);
        let y = 20.0 + lane_h * i as f64;
        let (x0, x1) = (x(a.first.0), x(a.last.0.max(a.first.0)));
        let colour = match a.severity {
            vakt_core::Severity::Critical => "#8b0000",
            vakt_core::Severity::High => "#d9480f",
            vakt_core::Severity::Medium => "#f59f00",
            _ => "#74c0fc",
        };
        if x1 - x0 > 2.0 {
            let _ = write!(
                s,
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"8\" rx=\"3\" fill=\"{colour}\" opacity=\".55\"><title>{}</title></rect>",
                y - 4.0,
                x1 - x0,
                esc(&a.title)
            );
        }
        let _ = write!(
            s,
            "<circle cx=\"{x0:.1}\" cy=\"{y}\" r=\"5\" fill=\"{colour}\"><title>{} — {}</title></circle>",
            when(a.first),
            esc(&a.title)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"{}\" font-size=\"11\" fill=\"#666\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#666\" text-anchor=\"end\">{}</text></svg>",
        hgt - 4.0,
        when(incident.first),
        w - 20.0,
        hgt - 4.0,
        when(incident.last)
    );
    s
}

fn graph_svg(incident: &Incident) -> String {
    // Columns: accounts | compromised hosts | reached (and suspected) hosts | outside.
    let column = |n: &Node| match (n.kind.as_str(), n.role.as_str()) {
        ("account", _) => 0,
        (_, "compromised") => 1,
        (_, "reached" | "suspected") => 2,
        _ => 3,
    };
    let mut cols: [Vec<&Node>; 4] = Default::default();
    for n in &incident.nodes {
        cols[column(n)].push(n);
    }
    for c in &mut cols {
        c.sort_by_key(|n| (n.first_seen, n.key.clone()));
    }
    let rows = cols.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let (w, row_h, top) = (1100.0, 56.0, 44.0);
    let hgt = top + row_h * rows as f64 + 10.0;
    let col_x = [120.0, 400.0, 690.0, 960.0];
    let mut pos: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (ci, c) in cols.iter().enumerate() {
        for (ri, n) in c.iter().enumerate() {
            pos.insert(&n.key, (col_x[ci], top + row_h * ri as f64 + row_h / 2.0));
        }
    }
    let mut s = format!(
        "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {hgt}\" width=\"100%\" role=\"img\" aria-label=\"entity graph\">\
<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" fill=\"#6c757d\"/></marker></defs>"
    );
    for (i, head) in ["accounts", "compromised hosts", "reached hosts", "outside"]
        .iter()
        .enumerate()
    {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"18\" font-size=\"13\" font-weight=\"600\" text-anchor=\"middle\">{head}</text>",
            col_x[i]
        );
    }
    for e in &incident.edges {
        let (Some(a), Some(b)) = (pos.get(e.from.as_str()), pos.get(e.to.as_str())) else {
            continue;
        };
        // Between columns a straight arrow; within one, a curve out to the right.
        let same = (a.0 - b.0).abs() < 1.0;
        let (x1, x2) = if same {
            (a.0 + 95.0, b.0 + 95.0)
        } else if a.0 < b.0 {
            (a.0 + 95.0, b.0 - 95.0)
        } else {
            (a.0 - 95.0, b.0 + 95.0)
        };
        let bulge = if same {
            40.0 + (b.1 - a.1).abs() * 0.25
        } else {
            0.0
        };
        // An arrow that passes over a column arcs above the boxes in it.
        let lift = if (a.0 - b.0).abs() > 400.0 {
            -34.0
        } else {
            0.0
        };
        let _ = write!(
            s,
            "<path d=\"M{x1:.1} {:.1} Q{:.1} {:.1} {x2:.1} {:.1}\" fill=\"none\" stroke=\"#6c757d\" stroke-width=\"1.2\" marker-end=\"url(#arrow)\"><title>{} → {}: {} (first {})</title></path>",
            a.1,
            (x1 + x2) / 2.0 + bulge,
            (a.1 + b.1) / 2.0 + lift,
            b.1,
            esc(&e.from),
            esc(&e.to),
            esc(&e.what),
            when(e.first_seen)
        );
    }
    for c in &cols {
        for n in c {
            let Some(&(x, y)) = pos.get(n.key.as_str()) else {
                continue;
            };
            let fill = match (n.kind.as_str(), n.role.as_str()) {
                ("account", _) => "#fff3bf",
                (_, "compromised") => "#ffc9c9",
                (_, "reached") => "#ffe8cc",
                _ => "#e9ecef",
            };
            let label = match (&n.ip, n.kind.as_str()) {
                (Some(ip), "host") => format!("{} ({ip})", n.name),
                _ => n.name.clone(),
            };
            let label: String = label.chars().take(30).collect();
            let _ = write!(
                s,
                "<g class=\"node\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"190\" height=\"40\" rx=\"6\" fill=\"{fill}\" stroke=\"#adb5bd\"/>\
<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11.5\" text-anchor=\"middle\">{}</text>\
<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#555\" text-anchor=\"middle\">{}{}</text><title>{}</title></g>",
                x - 95.0,
                y - 20.0,
                y - 4.0,
                esc(&label),
                y + 11.0,
                when(n.first_seen),
                n.asset_kind
                    .as_deref()
                    .map_or(String::new(), |k| format!(" · {}", esc(k))),
                esc(&n.key)
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn county_svg(e: &Exposure) -> String {
    let rows: Vec<(&String, &crate::scope::Counts)> = e.by_county.iter().collect();
    let max = rows
        .iter()
        .map(|(_, c)| c.confirmed + c.possible)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (w, left, bar_h) = (1100.0, 170.0, 22.0);
    let hgt = 30.0 + bar_h * rows.len() as f64;
    let scale = |n: usize| (w - left - 140.0) * n as f64 / max;
    let mut s = format!(
        "<svg id=\"county-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {hgt}\" width=\"100%\" role=\"img\" aria-label=\"patients by county\">\
<rect x=\"{left}\" y=\"4\" width=\"12\" height=\"12\" fill=\"#c92a2a\"/><text x=\"{}\" y=\"14\" font-size=\"11\">confirmed</text>\
<rect x=\"{}\" y=\"4\" width=\"12\" height=\"12\" fill=\"#ffc078\"/><text x=\"{}\" y=\"14\" font-size=\"11\">possible</text>",
        left + 16.0,
        left + 90.0,
        left + 106.0
    );
    for (i, (name, c)) in rows.iter().enumerate() {
        let y = 24.0 + bar_h * i as f64;
        let (a, b) = (scale(c.confirmed), scale(c.possible));
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>\
<rect x=\"{left}\" y=\"{y:.1}\" width=\"{a:.1}\" height=\"{:.1}\" fill=\"#c92a2a\"/>\
<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{b:.1}\" height=\"{:.1}\" fill=\"#ffc078\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{} + {}</text>",
            left - 8.0,
            y + bar_h * 0.6,
            esc(name),
            bar_h - 6.0,
            left + a,
            bar_h - 6.0,
            left + a + b + 6.0,
            y + bar_h * 0.6,
            c.confirmed,
            c.possible
        );
    }
    s.push_str("</svg>");
    s
}
