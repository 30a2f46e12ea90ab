//! Normal life in the region, hour by hour: shifts, EHR reads within and
//! (a configured share) outside care relationships, research exports,
//! service accounts, logons and process starts, web traffic, and the benign
//! periodic and bulk traffic a detector must not mistake for an attacker.

use std::io::Write;
use std::net::Ipv4Addr;

use serde_json::json;

use crate::format::{audit_event, conn, dns, http, ssl, uid, windows};
use crate::output::{Rec, Stream};
use crate::region::{HostKind, Role};
use crate::rng::Rng;
use crate::{HOUR, MINUTE, SECOND, SimError, World};

/// External destinations of everyday browsing: domain and address.
const WEB: &[(&str, [u8; 4])] = &[
    ("www.helsenorge.no", [185, 156, 10, 20]),
    ("www.nrk.no", [152, 195, 8, 20]),
    ("www.vg.no", [195, 88, 54, 16]),
    ("outlook.office365.com", [52, 97, 146, 194]),
    ("www.felleskatalogen.no", [91, 189, 179, 55]),
    ("helsedirektoratet.no", [185, 125, 169, 61]),
    ("www.legemiddelverket.no", [193, 161, 193, 20]),
    ("login.microsoftonline.com", [20, 190, 159, 2]),
];
const UPDATE: (&str, [u8; 4]) = ("fe2.update.microsoft.com", [13, 107, 4, 50]);

/// An encounter: a care relationship between a department and a patient.
#[derive(Debug, Clone, Copy)]
pub struct Encounter {
    /// Patient index.
    pub patient: u32,
    /// Start, ns.
    pub start: i64,
    /// End, ns.
    pub end: i64,
}

impl World<'_> {
    /// Records an encounter and writes it as a FHIR Encounter.
    pub(crate) fn admit(
        &mut self,
        trust: usize,
        dept: usize,
        patient: u32,
        start: i64,
        end: i64,
    ) -> Result<(), SimError> {
        self.enc_seq += 1;
        let r = self.region;
        let d = &r.trusts[trust].departments[dept];
        let staff = &self.dept_staff[trust][dept];
        let attending = staff
            .iter()
            .copied()
            .find(|s| r.staff[*s].role == Role::Physician)
            .or_else(|| staff.first().copied());
        let mut participant = Vec::new();
        if let Some(a) = attending {
            participant.push(
                json!({"individual": {"reference": format!("Practitioner/{}", r.staff[a].id)}}),
            );
        }
        let status = if end <= self.end {
            "finished"
        } else {
            "in-progress"
        };
        let enc = json!({
            "resourceType": "Encounter",
            "id": format!("e{:08}", self.enc_seq),
            "status": status,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": if d.emergency { "EMER" } else { "IMP" }},
            "subject": {"reference": format!("Patient/{}", r.patients[patient as usize].id)},
            "participant": participant,
            "period": {"start": vakt_core::Timestamp(start).to_rfc3339(), "end": vakt_core::Timestamp(end).to_rfc3339()},
            "serviceProvider": {"reference": format!("Organization/{}", d.id)},
        });
        writeln!(self.encounters[trust], "{enc}").map_err(|e| SimError::Io(e.to_string()))?;
        self.active[trust][dept].push(Encounter {
            patient,
            start,
            end,
        });
        Ok(())
    }

    fn record(&mut self, host: usize) -> u64 {
        self.records[host] += 1;
        self.records[host]
    }

    /// One hour of normal life starting at `t0`.
    pub(crate) fn normal_hour(
        &mut self,
        t0: i64,
        day: u32,
        hour: u32,
        recs: &mut Vec<Rec>,
    ) -> Result<(), SimError> {
        let r = self.region;
        let weekday = day % 7 < 5;
        let mut rng = self.rng.fork(u64::from(day) * 24 + u64::from(hour));

        for trust in 0..r.trusts.len() {
            // New admissions, and care relationships that ended.
            for dept in &mut self.active[trust] {
                dept.retain(|e| e.end >= t0);
            }
            let per_hour = self.trust_patients[trust].len() as f64 * 3.0 / 365.0 / 24.0;
            for _ in 0..rng.count(per_hour) {
                let ndept = r.trusts[trust].departments.len();
                let dept = if rng.chance(0.3) {
                    0
                } else {
                    rng.below(ndept as u64) as usize
                };
                let emergency = r.trusts[trust].departments[dept].emergency;
                let patient = *rng.pick(&self.trust_patients[trust]);
                let start = t0 + rng.range(0, HOUR - 1);
                let hours = if emergency {
                    rng.range(2, 12)
                } else {
                    rng.range(24, 144)
                };
                self.admit(trust, dept, patient, start, start + hours * HOUR)?;
            }

            let ehr = r.servers(trust, crate::region::HostKind::Ehr);
            let dc = r.server(trust, HostKind::DomainController);
            let mon = r.server(trust, HostKind::Monitoring);

            // Servers report to monitoring every minute: periodic, benign, beacon-like.
            for &s in &r.trusts[trust].servers {
                if s == mon {
                    continue;
                }
                let offset = (s as i64 * 7919) % MINUTE;
                for m in 0..60 {
                    let t = t0 + m * MINUTE + offset + rng.range(0, 2 * SECOND / 10);
                    let u = uid(&mut rng);
                    let text = conn(
                        t,
                        &u,
                        r.hosts[s].ip,
                        49152 + rng.below(16000) as u16,
                        r.hosts[mon].ip,
                        5666,
                        "tcp",
                        "",
                        0.004,
                        310,
                        118,
                    );
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Conn,
                        text,
                        tag: None,
                    });
                }
            }
            // Nightly backups: large, benign transfers.
            if hour == 1 {
                let backup = r.server(trust, HostKind::Backup);
                for (src, gb) in [
                    (r.server(trust, HostKind::FileServer), rng.range(50, 200)),
                    (ehr[0], rng.range(200, 400)),
                ] {
                    let t = t0 + rng.range(0, 10 * MINUTE);
                    let u = uid(&mut rng);
                    let bytes = gb as u64 * 1_000_000_000;
                    let text = conn(
                        t,
                        &u,
                        r.hosts[src].ip,
                        49152 + rng.below(16000) as u16,
                        r.hosts[backup].ip,
                        445,
                        "tcp",
                        "smb",
                        bytes as f64 / 4.0e8,
                        bytes,
                        4_000_000,
                    );
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Conn,
                        text,
                        tag: None,
                    });
                }
            }
            // Research exports and integration reads.
            let integration = self.service[trust];
            for i in 0..20 {
                let t = t0 + i * 3 * MINUTE + rng.range(0, SECOND);
                let p = *rng.pick(&self.trust_patients[trust]);
                let pid = r.patients[p as usize].id.as_str();
                let id = self.next_audit_id();
                let text = audit_event(
                    &id,
                    t,
                    "search-type",
                    &r.staff[integration].id,
                    &r.staff[integration].name,
                    r.hosts[ehr[1]].ip,
                    &r.hosts[ehr[0]].name,
                    "HOPERAT",
                    &[pid],
                );
                recs.push(Rec {
                    t,
                    trust,
                    stream: Stream::Audit,
                    text,
                    tag: None,
                });
            }

            // Staff on shift.
            let staff: Vec<usize> = self.trust_staff[trust].clone();
            for s in staff {
                let st = &r.staff[s];
                if st.role == Role::Service {
                    continue;
                }
                let on = if st.night {
                    !(7..22).contains(&hour)
                } else {
                    (7..16).contains(&hour) && (weekday || s % 4 == 0)
                };
                let ws = st.workstation;
                let ws_ip = r.hosts[ws].ip;
                // Windows Update, hourly from every workstation, on or off shift.
                if s % 2 == 0 {
                    let t = t0 + (ws as i64 * 104_729) % HOUR;
                    let u = uid(&mut rng);
                    let ip = Ipv4Addr::from(UPDATE.1);
                    let sp = 49152 + rng.below(16000) as u16;
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Conn,
                        text: conn(t, &u, ws_ip, sp, ip, 443, "tcp", "ssl", 0.8, 1_800, 5_400),
                        tag: None,
                    });
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Ssl,
                        text: ssl(t, &u, ws_ip, sp, ip, 443, UPDATE.0),
                        tag: None,
                    });
                }
                if !on {
                    continue;
                }
                let shift_start = if st.night { hour == 22 } else { hour == 7 };
                if shift_start {
                    let t = t0 + rng.range(0, 20 * MINUTE);
                    let rec = self.record(ws);
                    let host = r.hosts[ws].name.clone();
                    let text = windows(
                        t,
                        &host,
                        "Security",
                        "Microsoft-Windows-Security-Auditing",
                        4624,
                        rec,
                        &[
                            ("TargetUserName", st.user.clone()),
                            ("TargetDomainName", "HELSE".into()),
                            ("LogonType", "2".into()),
                            ("IpAddress", "-".into()),
                            ("LogonProcessName", "User32".into()),
                            ("AuthenticationPackageName", "Negotiate".into()),
                        ],
                    );
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Windows,
                        text,
                        tag: None,
                    });
                    let rec = self.record(ws);
                    let text = windows(
                        t + 30 * SECOND,
                        &host,
                        "Microsoft-Windows-Sysmon/Operational",
                        "Microsoft-Windows-Sysmon",
                        1,
                        rec,
                        &[
                            ("Image", "C:\\Program Files\\EPJ\\EHRClient.exe".into()),
                            (
                                "CommandLine",
                                "\"C:\\Program Files\\EPJ\\EHRClient.exe\" /sso".into(),
                            ),
                            ("ParentImage", "C:\\Windows\\explorer.exe".into()),
                            ("User", format!("HELSE\\{}", st.user)),
                            ("IntegrityLevel", "Medium".into()),
                        ],
                    );
                    recs.push(Rec {
                        t: t + 30 * SECOND,
                        trust,
                        stream: Stream::Windows,
                        text,
                        tag: None,
                    });
                    let u = uid(&mut rng);
                    let q = format!("ehr.{}.helse.local", r.trusts[trust].id);
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Dns,
                        text: dns(
                            t,
                            &u,
                            ws_ip,
                            50000 + rng.below(10000) as u16,
                            r.hosts[dc].ip,
                            rng.below(65535) as u16,
                            &q,
                            "A",
                            &[r.hosts[ehr[0]].ip.to_string()],
                        ),
                        tag: None,
                    });
                }
                // A session to the EHR server for the hour.
                if st.role.clinical() {
                    let t = t0 + rng.range(0, 5 * MINUTE);
                    let u = uid(&mut rng);
                    let text = conn(
                        t,
                        &u,
                        ws_ip,
                        49152 + rng.below(16000) as u16,
                        r.hosts[ehr[0]].ip,
                        443,
                        "tcp",
                        "ssl",
                        3300.0,
                        80_000 + rng.below(200_000),
                        2_000_000 + rng.below(8_000_000),
                    );
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Conn,
                        text,
                        tag: None,
                    });
                    self.ehr_reads(&mut rng, t0, trust, s, recs)?;
                }
                // Browsing.
                for _ in 0..rng.count(1.2) {
                    let (domain, ip) = *rng.pick(WEB);
                    let ip = Ipv4Addr::from(ip);
                    let t = t0 + rng.range(0, HOUR - 1);
                    let u = uid(&mut rng);
                    let sp = 49152 + rng.below(16000) as u16;
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Dns,
                        text: dns(
                            t,
                            &uid(&mut rng),
                            ws_ip,
                            sp,
                            r.hosts[dc].ip,
                            rng.below(65535) as u16,
                            domain,
                            "A",
                            &[ip.to_string()],
                        ),
                        tag: None,
                    });
                    recs.push(Rec {
                        t: t + 20_000_000,
                        trust,
                        stream: Stream::Conn,
                        text: conn(
                            t + 20_000_000,
                            &u,
                            ws_ip,
                            sp,
                            ip,
                            443,
                            "tcp",
                            "ssl",
                            12.0,
                            3_000 + rng.below(20_000),
                            40_000 + rng.below(900_000),
                        ),
                        tag: None,
                    });
                    recs.push(Rec {
                        t: t + 20_000_000,
                        trust,
                        stream: Stream::Ssl,
                        text: ssl(t + 20_000_000, &u, ws_ip, sp, ip, 443, domain),
                        tag: None,
                    });
                }
                // Certificate revocation checks over plain HTTP.
                if rng.chance(0.25) {
                    let ip = Ipv4Addr::new(93, 184, 220, 29);
                    let t = t0 + rng.range(0, HOUR - 1);
                    let u = uid(&mut rng);
                    let sp = 49152 + rng.below(16000) as u16;
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Conn,
                        text: conn(t, &u, ws_ip, sp, ip, 80, "tcp", "http", 0.05, 420, 1_800),
                        tag: None,
                    });
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Http,
                        text: http(
                            t,
                            &u,
                            ws_ip,
                            sp,
                            ip,
                            "GET",
                            "ocsp.digicert.com",
                            "/MFEwTzBNMEswSTAJBgUrDgMCGgUABBQ",
                            "Microsoft-CryptoAPI/10.0",
                            0,
                            1_471,
                        ),
                        tag: None,
                    });
                }
                // Images from the PACS: large, benign downloads.
                if st.role == Role::Physician && rng.chance(0.05) {
                    let pacs = r.server(trust, HostKind::Pacs);
                    let t = t0 + rng.range(0, HOUR - 1);
                    let u = uid(&mut rng);
                    let bytes = 50_000_000 + rng.below(750_000_000);
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Conn,
                        text: conn(
                            t,
                            &u,
                            ws_ip,
                            49152 + rng.below(16000) as u16,
                            r.hosts[pacs].ip,
                            104,
                            "tcp",
                            "dicom",
                            40.0,
                            20_000,
                            bytes,
                        ),
                        tag: None,
                    });
                }
                // Approved research exports.
                if st.role == Role::Researcher && hour == 10 && weekday && rng.chance(0.2) {
                    let n = rng.range(50, 300) as usize;
                    let pool = &self.trust_patients[trust];
                    let chosen: Vec<&str> = (0..n)
                        .map(|_| r.patients[*rng.pick(pool) as usize].id.as_str())
                        .collect();
                    let t = t0 + rng.range(0, HOUR - 1);
                    let id = self.next_audit_id();
                    let text = audit_event(
                        &id,
                        t,
                        "export",
                        &st.id,
                        &st.name,
                        ws_ip,
                        &r.hosts[ehr[0]].name,
                        "HRESCH",
                        &chosen,
                    );
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Audit,
                        text,
                        tag: None,
                    });
                }
                // Administrators work on servers over RDP.
                if st.role == Role::ItAdmin && rng.chance(0.15) {
                    let target = *rng.pick(&r.trusts[trust].servers);
                    let t = t0 + rng.range(0, HOUR - 1);
                    let u = uid(&mut rng);
                    recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Conn,
                        text: conn(
                            t,
                            &u,
                            ws_ip,
                            49152 + rng.below(16000) as u16,
                            r.hosts[target].ip,
                            3389,
                            "tcp",
                            "rdp",
                            900.0,
                            200_000,
                            3_000_000,
                        ),
                        tag: None,
                    });
                    let rec = self.record(target);
                    let host = r.hosts[target].name.clone();
                    let text = windows(
                        t + SECOND,
                        &host,
                        "Security",
                        "Microsoft-Windows-Security-Auditing",
                        4624,
                        rec,
                        &[
                            ("TargetUserName", st.user.clone()),
                            ("TargetDomainName", "HELSE".into()),
                            ("LogonType", "10".into()),
                            ("IpAddress", ws_ip.to_string()),
                            ("LogonProcessName", "User32".into()),
                            ("AuthenticationPackageName", "Negotiate".into()),
                        ],
                    );
                    recs.push(Rec {
                        t: t + SECOND,
                        trust,
                        stream: Stream::Windows,
                        text,
                        tag: None,
                    });
                }
            }
        }
        Ok(())
    }

    /// A clinician's EHR reads in one hour.
    fn ehr_reads(
        &mut self,
        rng: &mut Rng,
        t0: i64,
        trust: usize,
        s: usize,
        recs: &mut Vec<Rec>,
    ) -> Result<(), SimError> {
        let r = self.region;
        let st = &r.staff[s];
        let rate = match st.role {
            Role::Physician => 3.0,
            Role::Nurse => 3.5,
            _ => 2.5,
        };
        let ehr = r.servers(trust, HostKind::Ehr);
        for _ in 0..rng.count(rate) {
            let t = t0 + rng.range(0, HOUR - 1);
            let without = rng.chance(self.cfg.no_relationship_share);
            let (patient, purpose) = if without {
                // Emergency, on-call or consult reads: no recorded relationship.
                let emergency = r.trusts[trust].departments[st.department].emergency;
                (
                    *rng.pick(&self.trust_patients[trust]),
                    if emergency || rng.chance(0.3) {
                        "ETREAT"
                    } else {
                        "TREAT"
                    },
                )
            } else {
                let active = &self.active[trust][st.department];
                let current: Vec<u32> = active
                    .iter()
                    .filter(|e| e.start <= t && t <= e.end)
                    .map(|e| e.patient)
                    .collect();
                if current.is_empty() {
                    // A department is never without patients: someone is admitted.
                    let p = *rng.pick(&self.trust_patients[trust]);
                    self.admit(trust, st.department, p, t - HOUR, t + 24 * HOUR)?;
                    (p, "TREAT")
                } else {
                    (*rng.pick(&current), "TREAT")
                }
            };
            if without {
                self.reads_without += 1;
            }
            self.reads_clinical += 1;
            let id = self.next_audit_id();
            let pid = r.patients[patient as usize].id.as_str();
            let text = audit_event(
                &id,
                t,
                "read",
                &st.id,
                &st.name,
                r.hosts[st.workstation].ip,
                &r.hosts[*rng.pick(&ehr)].name,
                purpose,
                &[pid],
            );
            recs.push(Rec {
                t,
                trust,
                stream: Stream::Audit,
                text,
                tag: None,
            });
        }
        Ok(())
    }
}
