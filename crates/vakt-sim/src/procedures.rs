//! The attacker's procedures: a library of variants for every stage of the
//! intrusion, one drawn per seed, each written as the real tool logs it
//! (Sysmon's full field set, the Security events Windows writes, the Zeek
//! records the sensor sees) — not as a detection rule expects it. Which
//! variant ran is said in `truth/summary.json` (`procedures`), so a miss
//! can be named.

use std::fmt::Write as _;

use crate::format::windows;
use crate::output::{Rec, Stream, Tag};
use crate::rng::Rng;
use crate::{Stealth, World};

/// How the attacker gets in and first runs code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initial {
    /// A macro document from Outlook starts an encoded PowerShell.
    MacroDoc,
    /// A shortcut in a zip from Outlook runs mshta, which drops and loads a DLL.
    LnkMshta,
    /// An ISO image from Outlook, mounted, a shortcut runs rundll32 on a DLL on the image.
    IsoDll,
    /// A spreadsheet's macro drops an OCX and registers it with regsvr32.
    ExcelRegsvr32,
    /// HTML smuggling: the browser saves a script, wscript runs it, it starts PowerShell.
    SmuggledJs,
}

/// How the implant calls home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum C2 {
    /// HTTPS beacons (TLS with the C2 domain as SNI).
    Https,
    /// Plain HTTP beacons to a REST-looking path.
    Http,
}

/// How credentials are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// rundll32 with comsvcs.dll MiniDump of LSASS.
    ComsvcsMiniDump,
    /// A renamed Sysinternals ProcDump dumping LSASS.
    ProcDump,
    /// A renamed Mimikatz reading LSASS.
    Mimikatz,
    /// A custom dumper opening LSASS (direct system calls: no tell-tale command line).
    SilentDumper,
    /// The registry hives with cached domain credentials saved with reg.exe.
    RegSaveHives,
}

/// How the domain is explored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// `net group "domain admins" /domain`.
    NetGroup,
    /// `nltest /dclist` and `/domain_trusts`.
    Nltest,
    /// A renamed AdFind dumping users and computers.
    AdFind,
    /// SAMR and LSA enumeration over named pipes on the domain controller
    /// (SharpHound-like; seen only as the DC's share access events).
    SamrRpc,
    /// `whoami /all`, `systeminfo`, `net localgroup administrators` from the implant's shell.
    ReconBurst,
}

/// How a host is reached with the administrator's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lateral {
    /// PsExec: SMB, a PSEXESVC service.
    PsExec,
    /// Impacket wmiexec: DCOM/WMI, cmd.exe under WmiPrvSE writing to ADMIN$.
    WmiExec,
    /// PowerShell remoting (WinRM).
    WinRm,
    /// Remote Desktop.
    Rdp,
    /// A scheduled task created remotely.
    SchTask,
    /// A service created remotely with sc.exe.
    ScService,
}

/// How the records leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exfil {
    /// One large HTTPS upload, then a DNS tunnel.
    HttpsAndTunnel,
    /// rclone to a cloud storage remote.
    Rclone,
    /// A DNS tunnel alone (TXT queries).
    DnsTunnel,
    /// HTTPS uploads in a dozen chunks a few minutes apart.
    HttpsChunks,
}

/// How the records are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// The phished clinician's EHR client, purpose treatment, round the clock.
    ClientTreat,
    /// The same account claiming emergency care (`ETREAT`), which explains a read with no relationship.
    ClientEmergency,
    /// Only in working hours (08–16 local), hiding in the day's traffic.
    WorkingHours,
}

/// The procedures drawn for one intrusion.
#[derive(Debug, Clone)]
pub struct Procedures {
    /// Initial access and execution.
    pub initial: Initial,
    /// Command and control.
    pub c2: C2,
    /// Credential access.
    pub credential: Credential,
    /// Discovery.
    pub discovery: Discovery,
    /// Per target (the DC, the two EHR servers), the lateral movement.
    pub lateral: [Lateral; 3],
    /// Collection.
    pub collection: Collection,
    /// Archive the export before it leaves (7-Zip with a password).
    pub stage_archive: bool,
    /// Exfiltration.
    pub exfil: Exfil,
}

fn draw<T: Copy>(rng: &mut Rng, items: &[(T, f64)]) -> T {
    let w: Vec<f64> = items.iter().map(|(_, w)| *w).collect();
    items[rng.weighted(&w)].0
}

impl Procedures {
    /// Draws the procedures; the quieter the attacker, the quieter the tools.
    pub fn draw(rng: &mut Rng, stealth: Stealth) -> Procedures {
        let quiet = stealth == Stealth::High;
        let loud = stealth == Stealth::Low;
        let initial = draw(
            rng,
            &[
                (Initial::MacroDoc, 1.0),
                (Initial::LnkMshta, 1.0),
                (Initial::IsoDll, if quiet { 1.5 } else { 1.0 }),
                (Initial::ExcelRegsvr32, 1.0),
                (Initial::SmuggledJs, 1.0),
            ],
        );
        let c2 = draw(rng, &[(C2::Https, 2.0), (C2::Http, 1.0)]);
        let credential = draw(
            rng,
            &[
                (Credential::ComsvcsMiniDump, if quiet { 0.5 } else { 1.0 }),
                (Credential::ProcDump, if quiet { 0.5 } else { 1.0 }),
                (Credential::Mimikatz, if quiet { 0.2 } else { 1.0 }),
                (Credential::SilentDumper, if quiet { 1.5 } else { 0.5 }),
                (Credential::RegSaveHives, 1.0),
            ],
        );
        let discovery = draw(
            rng,
            &[
                (Discovery::NetGroup, if quiet { 0.5 } else { 1.0 }),
                (Discovery::Nltest, 1.0),
                (Discovery::AdFind, 1.0),
                (Discovery::SamrRpc, if quiet { 1.5 } else { 1.0 }),
                (Discovery::ReconBurst, if loud { 1.5 } else { 1.0 }),
            ],
        );
        let lat = [
            (Lateral::PsExec, if quiet { 0.5 } else { 1.0 }),
            (Lateral::WmiExec, 1.0),
            (Lateral::WinRm, 1.0),
            (Lateral::Rdp, 1.0),
            (Lateral::SchTask, 1.0),
            (Lateral::ScService, if quiet { 0.5 } else { 1.0 }),
        ];
        let lateral = [draw(rng, &lat), draw(rng, &lat), draw(rng, &lat)];
        let collection = draw(
            rng,
            &[
                (Collection::ClientTreat, 1.0),
                (Collection::ClientEmergency, if quiet { 1.0 } else { 0.5 }),
                (Collection::WorkingHours, if quiet { 1.5 } else { 0.5 }),
            ],
        );
        let stage_archive = rng.chance(0.5);
        let exfil = draw(
            rng,
            &[
                (Exfil::HttpsAndTunnel, 1.0),
                (Exfil::Rclone, 1.0),
                (Exfil::DnsTunnel, if quiet { 0.5 } else { 1.0 }),
                (Exfil::HttpsChunks, if quiet { 1.5 } else { 1.0 }),
            ],
        );
        Procedures {
            initial,
            c2,
            credential,
            discovery,
            lateral,
            collection,
            stage_archive,
            exfil,
        }
    }

    /// The procedure the simulator used before variants were drawn (a macro
    /// document, HTTPS beacons, comsvcs MiniDump, `net group`, PsExec/WinRM/RDP,
    /// one HTTPS upload and a DNS tunnel): for tests of one detector that
    /// need a known procedure (`Config::procedures`).
    pub fn classic() -> Procedures {
        Procedures {
            initial: Initial::MacroDoc,
            c2: C2::Https,
            credential: Credential::ComsvcsMiniDump,
            discovery: Discovery::NetGroup,
            lateral: [Lateral::PsExec, Lateral::WinRm, Lateral::Rdp],
            collection: Collection::ClientTreat,
            stage_archive: false,
            exfil: Exfil::HttpsAndTunnel,
        }
    }

    /// The procedures by name, for the truth.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "initial_access": format!("{:?}", self.initial),
            "command_and_control": format!("{:?}", self.c2),
            "credential_access": format!("{:?}", self.credential),
            "discovery": format!("{:?}", self.discovery),
            "lateral_movement": self.lateral.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>(),
            "collection": format!("{:?}", self.collection),
            "staged_archive": self.stage_archive,
            "exfiltration": format!("{:?}", self.exfil),
        })
    }
}

/// What Windows says of a program: version resource fields as Sysmon logs them.
struct Pe {
    description: &'static str,
    product: &'static str,
    company: &'static str,
    original: &'static str,
    version: &'static str,
}

const MS: &str = "Microsoft Corporation";
const WINOS: &str = "Microsoft® Windows® Operating System";

/// The version resource of a program, by the file it really is.
fn pe(real: &str) -> Pe {
    let (description, product, company, original, version) = match real {
        "powershell" => (
            "Windows PowerShell",
            WINOS,
            MS,
            "PowerShell.EXE",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "cmd" => (
            "Windows Command Processor",
            WINOS,
            MS,
            "Cmd.Exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "rundll32" => (
            "Windows host process (Rundll32)",
            WINOS,
            MS,
            "RUNDLL32.EXE",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "mshta" => (
            "Microsoft (R) HTML Application host",
            "Internet Explorer",
            MS,
            "MSHTA.EXE",
            "11.00.16299.15 (WinBuild.160101.0800)",
        ),
        "regsvr32" => (
            "Microsoft(C) Register Server",
            WINOS,
            MS,
            "REGSVR32.EXE",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "wscript" => (
            "Microsoft ® Windows Based Script Host",
            "Microsoft ® Windows Script Host",
            MS,
            "wscript.exe",
            "5.812.10240.16384",
        ),
        "net" => (
            "Net Command",
            WINOS,
            MS,
            "net.exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "net1" => (
            "Net Command",
            WINOS,
            MS,
            "net1.exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "nltest" => (
            "Microsoft® Logon Server Test Utility",
            WINOS,
            MS,
            "nltestrk.exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "reg" => (
            "Registry Console Tool",
            WINOS,
            MS,
            "reg.exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "schtasks" => (
            "Task Scheduler Configuration Tool",
            WINOS,
            MS,
            "schtasks.exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "sc" => (
            "Service Control Manager Configuration Tool",
            WINOS,
            MS,
            "sc.exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "whoami" => (
            "whoami - displays logged on user information",
            WINOS,
            MS,
            "whoami.exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "systeminfo" => (
            "Displays system information",
            WINOS,
            MS,
            "sysinfo.exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "winword" => (
            "Microsoft Word",
            "Microsoft Office",
            MS,
            "WinWord.exe",
            "16.0.8827.2148",
        ),
        "excel" => (
            "Microsoft Excel",
            "Microsoft Office",
            MS,
            "Excel.exe",
            "16.0.8827.2148",
        ),
        "outlook" => (
            "Microsoft Outlook",
            "Microsoft Outlook",
            MS,
            "Outlook.exe",
            "16.0.8827.2148",
        ),
        "explorer" => (
            "Windows Explorer",
            WINOS,
            MS,
            "EXPLORER.EXE",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "msedge" => (
            "Microsoft Edge",
            "Microsoft Edge",
            MS,
            "MicrosoftEdge.exe",
            "11.00.16299.15",
        ),
        "wmiprvse" => (
            "WMI Provider Host",
            WINOS,
            MS,
            "Wmiprvse.exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "wsmprovhost" => (
            "Host process for WinRM plug-ins",
            WINOS,
            MS,
            "wsmprovhost.exe",
            "10.0.16299.15 (WinBuild.160101.0800)",
        ),
        "services" => (
            "Services and Controller app",
            WINOS,
            MS,
            "services.exe",
            "10.0.14393.0 (rs1_release.160715-1616)",
        ),
        "svchost" => (
            "Host Process for Windows Services",
            WINOS,
            MS,
            "svchost.exe",
            "10.0.14393.0 (rs1_release.160715-1616)",
        ),
        "psexesvc" => (
            "PsExec Service",
            "Sysinternals PsExec",
            "Sysinternals",
            "psexesvc.exe",
            "2.2",
        ),
        "procdump" => (
            "Sysinternals process dump utility",
            "ProcDump",
            "Sysinternals - www.sysinternals.com",
            "procdump",
            "9.0",
        ),
        "mimikatz" => (
            "mimikatz for Windows",
            "mimikatz",
            "gentilkiwi (Benjamin DELPY)",
            "mimikatz.exe",
            "2.1.1.0",
        ),
        "adfind" => (
            "Joeware ADFind",
            "ADFind",
            "www.joeware.net",
            "AdFind.exe",
            "1.52.0.0",
        ),
        "rclone" => (
            "Rclone",
            "Rclone",
            "https://rclone.org",
            "rclone.exe",
            "1.40",
        ),
        "psexec" => (
            "Execute processes remotely",
            "Sysinternals PsExec",
            "Sysinternals - www.sysinternals.com",
            "psexec.c",
            "2.2",
        ),
        "7z" => ("7-Zip Console", "7-Zip", "Igor Pavlov", "7z.exe", "18.01"),
        _ => ("-", "-", "-", "-", "-"),
    };
    Pe {
        description,
        product,
        company,
        original,
        version,
    }
}

/// A running process as Sysmon identifies it.
#[derive(Debug, Clone)]
pub struct Proc {
    /// The process GUID.
    pub guid: String,
    /// The process id.
    pub pid: u32,
    /// The image path.
    pub image: String,
    /// The command line.
    pub cmd: String,
}

fn guid(rng: &mut Rng) -> String {
    format!(
        "{{{}-{}-{}-0000-0010{}}}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(4),
        rng.hex(8)
    )
}

fn utc(t: i64) -> String {
    // Sysmon's UtcTime: `2018-01-03 08:30:20.123`.
    let whole = t.div_euclid(1_000_000_000) * 1_000_000_000;
    let ms = t.rem_euclid(1_000_000_000) / 1_000_000;
    let s = vakt_core::Timestamp(whole).to_rfc3339();
    let s = s
        .split('.')
        .next()
        .unwrap_or(&s)
        .trim_end_matches('Z')
        .replace('T', " ");
    format!("{s}.{ms:03}")
}

/// Writes the attacker's Windows events on one trust's hosts.
pub struct Writer<'w, 'a> {
    /// The world (record numbers per host).
    pub world: &'w mut World<'a>,
    /// Where records go.
    pub recs: &'w mut Vec<Rec>,
    /// The trust.
    pub trust: usize,
}

impl Writer<'_, '_> {
    /// One Windows event.
    #[allow(clippy::too_many_arguments)]
    pub fn event(
        &mut self,
        t: i64,
        host: usize,
        channel: &str,
        provider: &str,
        id: u32,
        data: &[(&str, String)],
        tag: Option<Tag>,
    ) {
        self.world.records[host] += 1;
        let text = windows(
            t,
            &self.world.region.hosts[host].name,
            channel,
            provider,
            id,
            self.world.records[host],
            data,
        );
        self.recs.push(Rec {
            t,
            trust: self.trust,
            stream: Stream::Windows,
            text,
            tag,
        });
    }

    fn sysmon(&mut self, t: i64, host: usize, id: u32, data: &[(&str, String)], tag: Option<Tag>) {
        self.event(
            t,
            host,
            "Microsoft-Windows-Sysmon/Operational",
            "Microsoft-Windows-Sysmon",
            id,
            data,
            tag,
        );
    }

    /// A process start (Sysmon 1) with every field Sysmon writes; returns the process.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        rng: &mut Rng,
        t: i64,
        host: usize,
        image: &str,
        real: &str,
        cmd: &str,
        cwd: &str,
        user: &str,
        integrity: &str,
        parent: &Proc,
        tag: Option<Tag>,
    ) -> Proc {
        let p = Proc {
            guid: guid(rng),
            pid: 1000 + rng.below(12000) as u32 * 4,
            image: image.to_owned(),
            cmd: cmd.to_owned(),
        };
        let v = pe(real);
        let mut hashes = String::new();
        let _ = write!(
            hashes,
            "SHA1={},MD5={},SHA256={},IMPHASH={}",
            rng.hex(40).to_uppercase(),
            rng.hex(32).to_uppercase(),
            rng.hex(64).to_uppercase(),
            rng.hex(32).to_uppercase()
        );
        let logon = if user.ends_with("SYSTEM") {
            "0x3e7".to_owned()
        } else {
            format!("0x{}", rng.hex(6))
        };
        self.sysmon(
            t,
            host,
            1,
            &[
                ("RuleName", "-".into()),
                ("UtcTime", utc(t)),
                ("ProcessGuid", p.guid.clone()),
                ("ProcessId", p.pid.to_string()),
                ("Image", image.into()),
                ("FileVersion", v.version.into()),
                ("Description", v.description.into()),
                ("Product", v.product.into()),
                ("Company", v.company.into()),
                ("OriginalFileName", v.original.into()),
                ("CommandLine", cmd.into()),
                ("CurrentDirectory", cwd.into()),
                ("User", user.into()),
                ("LogonGuid", guid(rng)),
                ("LogonId", logon),
                (
                    "TerminalSessionId",
                    if user.ends_with("SYSTEM") { "0" } else { "1" }.into(),
                ),
                ("IntegrityLevel", integrity.into()),
                ("Hashes", hashes),
                ("ParentProcessGuid", parent.guid.clone()),
                ("ParentProcessId", parent.pid.to_string()),
                ("ParentImage", parent.image.clone()),
                ("ParentCommandLine", parent.cmd.clone()),
            ],
            tag,
        );
        p
    }

    /// A file created (Sysmon 11).
    pub fn file(
        &mut self,
        t: i64,
        host: usize,
        by: &Proc,
        path: &str,
        user: &str,
        tag: Option<Tag>,
    ) {
        self.sysmon(
            t,
            host,
            11,
            &[
                ("RuleName", "-".into()),
                ("UtcTime", utc(t)),
                ("ProcessGuid", by.guid.clone()),
                ("ProcessId", by.pid.to_string()),
                ("Image", by.image.clone()),
                ("TargetFilename", path.into()),
                ("CreationUtcTime", utc(t)),
                ("User", user.into()),
            ],
            tag,
        );
    }

    /// A process opening another (Sysmon 10).
    #[allow(clippy::too_many_arguments)]
    pub fn access(
        &mut self,
        rng: &mut Rng,
        t: i64,
        host: usize,
        by: &Proc,
        target: &Proc,
        granted: &str,
        trace: &str,
        user: &str,
        tag: Option<Tag>,
    ) {
        self.sysmon(
            t,
            host,
            10,
            &[
                ("RuleName", "-".into()),
                ("UtcTime", utc(t)),
                ("SourceProcessGUID", by.guid.clone()),
                ("SourceProcessId", by.pid.to_string()),
                (
                    "SourceThreadId",
                    (by.pid + 4 + rng.below(400) as u32 * 4).to_string(),
                ),
                ("SourceImage", by.image.clone()),
                ("TargetProcessGUID", target.guid.clone()),
                ("TargetProcessId", target.pid.to_string()),
                ("TargetImage", target.image.clone()),
                ("GrantedAccess", granted.into()),
                ("CallTrace", trace.into()),
                ("SourceUser", user.into()),
                ("TargetUser", "NT AUTHORITY\\SYSTEM".into()),
            ],
            tag,
        );
    }

    /// An outbound connection a process made (Sysmon 3).
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        &mut self,
        t: i64,
        host: usize,
        by: &Proc,
        user: &str,
        dst: std::net::Ipv4Addr,
        dport: u16,
        sport: u16,
        tag: Option<Tag>,
    ) {
        let src = self.world.region.hosts[host].ip;
        let name = self.world.region.hosts[host].name.clone();
        self.sysmon(
            t,
            host,
            3,
            &[
                ("RuleName", "-".into()),
                ("UtcTime", utc(t)),
                ("ProcessGuid", by.guid.clone()),
                ("ProcessId", by.pid.to_string()),
                ("Image", by.image.clone()),
                ("User", user.into()),
                ("Protocol", "tcp".into()),
                ("Initiated", "true".into()),
                ("SourceIsIpv6", "false".into()),
                ("SourceIp", src.to_string()),
                ("SourceHostname", format!("{name}.helse.local")),
                ("SourcePort", sport.to_string()),
                ("SourcePortName", "-".into()),
                ("DestinationIsIpv6", "false".into()),
                ("DestinationIp", dst.to_string()),
                ("DestinationHostname", "-".into()),
                ("DestinationPort", dport.to_string()),
                (
                    "DestinationPortName",
                    match dport {
                        443 => "https",
                        80 => "http",
                        _ => "-",
                    }
                    .into(),
                ),
            ],
            tag,
        );
    }

    /// A successful network logon (Security 4624) on `host` from `from`.
    #[allow(clippy::too_many_arguments)]
    pub fn logon(
        &mut self,
        rng: &mut Rng,
        t: i64,
        host: usize,
        user: &str,
        logon_type: u8,
        from: std::net::Ipv4Addr,
        workstation: &str,
        tag: Option<Tag>,
    ) {
        let (process, package) = match logon_type {
            10 => ("User32 ", "Negotiate"),
            _ => ("NtLmSsp ", "NTLM"),
        };
        self.event(
            t,
            host,
            "Security",
            "Microsoft-Windows-Security-Auditing",
            4624,
            &[
                ("SubjectUserSid", "S-1-0-0".into()),
                ("SubjectUserName", "-".into()),
                ("SubjectDomainName", "-".into()),
                ("SubjectLogonId", "0x0".into()),
                (
                    "TargetUserSid",
                    format!(
                        "S-1-5-21-3623811015-3361044348-30300820-{}",
                        1100 + rng.below(5000)
                    ),
                ),
                ("TargetUserName", user.into()),
                ("TargetDomainName", "HELSE".into()),
                ("TargetLogonId", format!("0x{}", rng.hex(7))),
                ("LogonType", logon_type.to_string()),
                ("LogonProcessName", process.into()),
                ("AuthenticationPackageName", package.into()),
                ("WorkstationName", workstation.into()),
                ("LogonGuid", "{00000000-0000-0000-0000-000000000000}".into()),
                ("TransmittedServices", "-".into()),
                (
                    "LmPackageName",
                    if package == "NTLM" { "NTLM V2" } else { "-" }.into(),
                ),
                (
                    "KeyLength",
                    if package == "NTLM" { "128" } else { "0" }.into(),
                ),
                ("ProcessId", "0x0".into()),
                ("ProcessName", "-".into()),
                ("IpAddress", from.to_string()),
                ("IpPort", (49152 + rng.below(16000)).to_string()),
                ("ImpersonationLevel", "%%1833".into()),
            ],
            tag,
        );
    }

    /// A share object checked for access (Security 5145): what the DC logs
    /// when a client opens a named pipe over `IPC$` (`samr`, `lsarpc`, …).
    #[allow(clippy::too_many_arguments)]
    pub fn share_access(
        &mut self,
        rng: &mut Rng,
        t: i64,
        host: usize,
        user: &str,
        from: std::net::Ipv4Addr,
        share: &str,
        target: &str,
        tag: Option<Tag>,
    ) {
        self.event(
            t,
            host,
            "Security",
            "Microsoft-Windows-Security-Auditing",
            5145,
            &[
                ("SubjectUserSid", format!("S-1-5-21-3623811015-3361044348-30300820-{}", 1100 + rng.below(5000))),
                ("SubjectUserName", user.into()),
                ("SubjectDomainName", "HELSE".into()),
                ("SubjectLogonId", format!("0x{}", rng.hex(7))),
                ("ObjectType", "File".into()),
                ("IpAddress", from.to_string()),
                ("IpPort", (49152 + rng.below(16000)).to_string()),
                ("ShareName", share.into()),
                ("ShareLocalPath", "".into()),
                ("RelativeTargetName", target.into()),
                ("AccessMask", "0x12019f".into()),
                ("AccessList", "%%1538\n\t\t\t\t%%1541\n\t\t\t\t%%4416\n\t\t\t\t%%4417\n\t\t\t\t%%4418\n\t\t\t\t%%4419\n\t\t\t\t%%4420\n\t\t\t\t%%4423\n\t\t\t\t%%4424\n\t\t\t\t".into()),
                ("AccessReason", "-".into()),
            ],
            tag,
        );
    }
}

/// A process already running (its start is not in the logs).
pub fn running(rng: &mut Rng, image: &str, cmd: &str) -> Proc {
    Proc {
        guid: guid(rng),
        pid: 1000 + rng.below(12000) as u32 * 4,
        image: image.to_owned(),
        cmd: cmd.to_owned(),
    }
}

/// Path of a system program.
pub fn sys32(exe: &str) -> String {
    format!("C:\\Windows\\System32\\{exe}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysmon_utc_time_has_milliseconds() {
        let t = crate::EPOCH + 3_723_456_000_000;
        assert_eq!(utc(t), "2018-01-01 01:02:03.456");
        assert_eq!(utc(crate::EPOCH), "2018-01-01 00:00:00.000");
    }

    #[test]
    fn draws_differ_across_seeds() {
        let mut seen = std::collections::BTreeSet::new();
        for s in 0..40 {
            let p = Procedures::draw(&mut Rng::new(s), Stealth::Medium);
            seen.insert(format!("{:?}{:?}{:?}", p.initial, p.credential, p.exfil));
        }
        assert!(seen.len() > 10, "{seen:?}");
    }
}
