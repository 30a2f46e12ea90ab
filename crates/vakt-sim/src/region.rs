//! The health region: counties and municipalities, health trusts with their
//! hospitals, departments, hosts and staff, and the patients.

use std::net::Ipv4Addr;

use crate::nin;
use crate::rng::Rng;

/// A county of the South-East region as it was in 2018.
#[derive(Debug, Clone)]
pub struct County {
    /// County number.
    pub number: &'static str,
    /// Name.
    pub name: &'static str,
    /// Population in 2018 (the weight of patients drawn from it).
    pub population: u32,
    /// Some of its municipalities: number, name, population.
    pub municipalities: &'static [(&'static str, &'static str, u32)],
    /// The trust that serves it.
    pub trust: usize,
}

/// A county as written in the table: number, name, population, municipalities, serving trust.
type CountyRow = (
    &'static str,
    &'static str,
    u32,
    &'static [(&'static str, &'static str, u32)],
    usize,
);

/// The ten counties (county and municipality numbers as of 2018).
pub const COUNTIES: &[CountyRow] = &[
    (
        "01",
        "Østfold",
        295_420,
        &[
            ("0101", "Halden", 31_373),
            ("0104", "Moss", 32_588),
            ("0105", "Sarpsborg", 55_840),
            ("0106", "Fredrikstad", 81_278),
            ("0128", "Rakkestad", 8_220),
        ],
        2,
    ),
    (
        "02",
        "Akershus",
        614_026,
        &[
            ("0219", "Bærum", 126_471),
            ("0220", "Asker", 61_523),
            ("0231", "Skedsmo", 54_325),
            ("0235", "Ullensaker", 37_535),
            ("0213", "Ski", 30_753),
            ("0217", "Oppegård", 27_394),
        ],
        1,
    ),
    ("03", "Oslo", 673_469, &[("0301", "Oslo", 673_469)], 0),
    (
        "04",
        "Hedmark",
        197_322,
        &[
            ("0403", "Hamar", 31_128),
            ("0402", "Kongsvinger", 17_852),
            ("0412", "Ringsaker", 34_546),
            ("0427", "Elverum", 21_168),
        ],
        3,
    ),
    (
        "05",
        "Oppland",
        189_870,
        &[
            ("0501", "Lillehammer", 28_020),
            ("0502", "Gjøvik", 30_475),
            ("0534", "Gran", 13_718),
        ],
        3,
    ),
    (
        "06",
        "Buskerud",
        280_013,
        &[
            ("0602", "Drammen", 68_979),
            ("0604", "Kongsberg", 27_262),
            ("0605", "Ringerike", 30_352),
            ("0625", "Nedre Eiker", 25_181),
        ],
        4,
    ),
    (
        "07",
        "Vestfold",
        249_058,
        &[
            ("0701", "Horten", 27_322),
            ("0704", "Tønsberg", 45_091),
            ("0710", "Sandefjord", 63_326),
            ("0712", "Larvik", 47_219),
        ],
        5,
    ),
    (
        "08",
        "Telemark",
        173_307,
        &[
            ("0805", "Porsgrunn", 36_392),
            ("0806", "Skien", 54_510),
            ("0807", "Notodden", 12_680),
        ],
        6,
    ),
    (
        "09",
        "Aust-Agder",
        117_655,
        &[("0904", "Grimstad", 22_929), ("0906", "Arendal", 44_822)],
        7,
    ),
    (
        "10",
        "Vest-Agder",
        186_532,
        &[
            ("1001", "Kristiansand", 91_228),
            ("1002", "Mandal", 15_746),
            ("1003", "Farsund", 9_639),
        ],
        7,
    ),
];

/// The health trusts (tenants): id, name, hospitals.
pub const TRUSTS: &[(&str, &str, &[&str])] = &[
    (
        "ous",
        "Oslo universitetssykehus",
        &["Rikshospitalet", "Ullevål"],
    ),
    (
        "ahus",
        "Akershus universitetssykehus",
        &["Ahus Nordbyhagen"],
    ),
    ("so", "Sykehuset Østfold", &["Kalnes"]),
    (
        "si",
        "Sykehuset Innlandet",
        &["Hamar", "Lillehammer", "Gjøvik"],
    ),
    ("vv", "Vestre Viken", &["Drammen", "Kongsberg"]),
    ("siv", "Sykehuset i Vestfold", &["Tønsberg"]),
    ("sthf", "Sykehuset Telemark", &["Skien"]),
    ("ssk", "Sørlandet sykehus", &["Kristiansand", "Arendal"]),
];

/// Clinical departments of every hospital; the first is the emergency department.
pub const DEPARTMENTS: &[&str] = &[
    "Akuttmottak",
    "Indremedisin",
    "Kirurgi",
    "Kardiologi",
    "Onkologi",
    "Barn",
    "Psykiatri",
    "Ortopedi",
];

/// A protected person's category (kept in a separate register).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protected {
    /// Member of parliament, government, or a political leader.
    Politician,
    /// Armed forces.
    Military,
    /// Intelligence and security services.
    Intelligence,
}

impl Protected {
    /// The register's name for the category.
    pub fn name(self) -> &'static str {
        match self {
            Protected::Politician => "politician",
            Protected::Military => "military",
            Protected::Intelligence => "intelligence",
        }
    }
}

/// A patient.
#[derive(Debug, Clone)]
pub struct Patient {
    /// Resource id (`p000123`).
    pub id: String,
    /// Synthetic national identity number.
    pub nin: String,
    /// Given name.
    pub given: &'static str,
    /// Family name.
    pub family: &'static str,
    /// `male` or `female`.
    pub gender: &'static str,
    /// Birth date.
    pub birth: (i32, u32, u32),
    /// County (index into `Region::counties`).
    pub county: usize,
    /// Municipality number.
    pub municipality: &'static str,
    /// The serving trust.
    pub trust: usize,
    /// Protected-person category, if any.
    pub protected: Option<Protected>,
    /// Restricted (confidential) address.
    pub restricted_address: bool,
}

/// A staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Physician.
    Physician,
    /// Nurse.
    Nurse,
    /// Medical secretary.
    Secretary,
    /// IT administrator.
    ItAdmin,
    /// Researcher (approved bulk exports).
    Researcher,
    /// A service account (integration, backup).
    Service,
}

impl Role {
    /// The role code used in FHIR PractitionerRole and logs.
    pub fn code(self) -> &'static str {
        match self {
            Role::Physician => "physician",
            Role::Nurse => "nurse",
            Role::Secretary => "secretary",
            Role::ItAdmin => "it-admin",
            Role::Researcher => "researcher",
            Role::Service => "service",
        }
    }

    /// Whether the role reads patient records in daily work.
    pub fn clinical(self) -> bool {
        matches!(self, Role::Physician | Role::Nurse | Role::Secretary)
    }
}

/// A member of staff (or a service account).
#[derive(Debug, Clone)]
pub struct Staff {
    /// Resource id (`s00042`).
    pub id: String,
    /// Windows account name.
    pub user: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Trust.
    pub trust: usize,
    /// Department (index into the trust's departments).
    pub department: usize,
    /// Workstation (index into `Region::hosts`).
    pub workstation: usize,
    /// Works nights.
    pub night: bool,
}

/// What a host is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// A clinician's workstation.
    Workstation,
    /// An IT administrator's own workstation, in the administrators' network.
    AdminWorkstation,
    /// An EHR application/database server.
    Ehr,
    /// A domain controller.
    DomainController,
    /// A file server.
    FileServer,
    /// The backup server.
    Backup,
    /// The PACS (imaging) server.
    Pacs,
    /// The monitoring server.
    Monitoring,
    /// The internet-facing web server.
    Web,
}

impl HostKind {
    /// The name in the asset register.
    pub fn name(self) -> &'static str {
        match self {
            HostKind::Workstation => "workstation",
            HostKind::AdminWorkstation => "admin-workstation",
            HostKind::Ehr => "ehr-server",
            HostKind::DomainController => "domain-controller",
            HostKind::FileServer => "file-server",
            HostKind::Backup => "backup-server",
            HostKind::Pacs => "pacs-server",
            HostKind::Monitoring => "monitoring-server",
            HostKind::Web => "web-server",
        }
    }
}

/// A host.
#[derive(Debug, Clone)]
pub struct Host {
    /// Host name.
    pub name: String,
    /// Address.
    pub ip: Ipv4Addr,
    /// Purpose.
    pub kind: HostKind,
    /// Trust.
    pub trust: usize,
}

/// A department of a trust.
#[derive(Debug, Clone)]
pub struct Department {
    /// Resource id (`ous-d03`).
    pub id: String,
    /// Name.
    pub name: &'static str,
    /// Hospital name.
    pub hospital: &'static str,
    /// Emergency department.
    pub emergency: bool,
}

/// A trust with its network.
#[derive(Debug, Clone)]
pub struct Trust {
    /// Tenant id.
    pub id: &'static str,
    /// Name.
    pub name: &'static str,
    /// Second octet of its 10.x.0.0/16 network.
    pub net: u8,
    /// Departments.
    pub departments: Vec<Department>,
    /// Servers by kind (indices into `Region::hosts`).
    pub servers: Vec<usize>,
}

/// The whole region.
#[derive(Debug, Clone)]
pub struct Region {
    /// Counties.
    pub counties: Vec<County>,
    /// Trusts.
    pub trusts: Vec<Trust>,
    /// Hosts of all trusts.
    pub hosts: Vec<Host>,
    /// Staff of all trusts.
    pub staff: Vec<Staff>,
    /// Patients.
    pub patients: Vec<Patient>,
}

const GIVEN_F: &[&str] = &[
    "Nora", "Emma", "Sofie", "Ingrid", "Kari", "Anne", "Marit", "Liv", "Ida", "Sara", "Hanne",
    "Thea", "Maja", "Silje", "Astrid",
];
const GIVEN_M: &[&str] = &[
    "Jakob", "Emil", "Lukas", "Ole", "Lars", "Per", "Jan", "Bjørn", "Kjell", "Henrik", "Magnus",
    "Sindre", "Erik", "Arne", "Tor",
];
const FAMILY: &[&str] = &[
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Pedersen",
    "Nilsen",
    "Kristiansen",
    "Jensen",
    "Karlsen",
    "Johnsen",
    "Pettersen",
    "Eriksen",
    "Berg",
    "Haugen",
    "Hagen",
    "Johannessen",
    "Andreassen",
    "Jacobsen",
    "Dahl",
    "Jørgensen",
    "Halvorsen",
    "Henriksen",
    "Lund",
    "Sørensen",
];

/// One word of a list.
fn word(rng: &mut Rng, list: &[&'static str]) -> &'static str {
    list[rng.below(list.len() as u64) as usize]
}

impl Region {
    /// Builds a region of `patients` patients and `staff` staff from `rng`.
    pub fn build(
        rng: &mut Rng,
        patients: usize,
        staff: usize,
        protected_share: f64,
        restricted_share: f64,
    ) -> Region {
        let counties: Vec<County> = COUNTIES
            .iter()
            .map(|(number, name, population, municipalities, trust)| County {
                number,
                name,
                population: *population,
                municipalities,
                trust: *trust,
            })
            .collect();
        let mut hosts = Vec::new();
        let mut trusts = Vec::new();
        for (t, (id, name, hospitals)) in TRUSTS.iter().enumerate() {
            let net = 10 + t as u8;
            let departments = hospitals
                .iter()
                .flat_map(|h| DEPARTMENTS.iter().enumerate().map(move |(i, d)| (h, i, d)))
                .enumerate()
                .map(|(n, (h, i, d))| Department {
                    id: format!("{id}-d{n:02}"),
                    name: d,
                    hospital: h,
                    emergency: i == 0,
                })
                .collect();
            let mut servers = Vec::new();
            for (k, (kind, prefix, count)) in [
                (HostKind::Ehr, "EHR", 2),
                (HostKind::DomainController, "DC", 2),
                (HostKind::FileServer, "FS", 1),
                (HostKind::Backup, "BACKUP", 1),
                (HostKind::Pacs, "PACS", 1),
                (HostKind::Monitoring, "MON", 1),
                (HostKind::Web, "WEB", 1),
            ]
            .into_iter()
            .enumerate()
            {
                for n in 0..count {
                    servers.push(hosts.len());
                    hosts.push(Host {
                        name: format!("{}-{prefix}{:02}", id.to_uppercase(), n + 1),
                        ip: Ipv4Addr::new(10, net, 100, (k * 10 + n + 10) as u8),
                        kind,
                        trust: t,
                    });
                }
            }
            trusts.push(Trust {
                id,
                name,
                net,
                departments,
                servers,
            });
        }

        // Patients, by county population.
        let weights: Vec<f64> = counties.iter().map(|c| f64::from(c.population)).collect();
        let mut patient_list = Vec::with_capacity(patients);
        let mut per_trust = vec![0usize; trusts.len()];
        for i in 0..patients {
            let c = rng.weighted(&weights);
            let county = &counties[c];
            let mw: Vec<f64> = county
                .municipalities
                .iter()
                .map(|m| f64::from(m.2))
                .collect();
            let municipality = county.municipalities[rng.weighted(&mw)].0;
            let year = 1925 + rng.below(93) as i32;
            let month = 1 + rng.below(12) as u32;
            let day = 1 + rng.below(28) as u32;
            let female = rng.chance(0.5);
            let nin = nin::synthetic(year, month, day, rng.below(1000) as u32).unwrap_or_default();
            let protected = if rng.chance(protected_share) {
                Some(*rng.pick(&[
                    Protected::Politician,
                    Protected::Military,
                    Protected::Intelligence,
                ]))
            } else {
                None
            };
            per_trust[county.trust] += 1;
            patient_list.push(Patient {
                id: format!("p{i:07}"),
                nin,
                given: if female {
                    word(rng, GIVEN_F)
                } else {
                    word(rng, GIVEN_M)
                },
                family: word(rng, FAMILY),
                gender: if female { "female" } else { "male" },
                birth: (year, month, day),
                county: c,
                municipality,
                trust: county.trust,
                protected,
                restricted_address: rng.chance(restricted_share),
            });
        }

        // Staff, by trust size; two staff share a workstation.
        let tw: Vec<f64> = per_trust.iter().map(|n| *n as f64 + 1.0).collect();
        let mut staff_list = Vec::with_capacity(staff);
        let mut ws_count = vec![0usize; trusts.len()];
        let roles = [
            (Role::Physician, 0.25),
            (Role::Nurse, 0.45),
            (Role::Secretary, 0.2),
            (Role::ItAdmin, 0.05),
            (Role::Researcher, 0.05),
        ];
        let role_w: Vec<f64> = roles.iter().map(|r| r.1).collect();
        let mut last_ws: Vec<Option<usize>> = vec![None; trusts.len()];
        for i in 0..staff {
            let t = rng.weighted(&tw);
            let role = roles[rng.weighted(&role_w)].0;
            let ws = match last_ws[t].take() {
                Some(w) => w,
                None => {
                    let n = ws_count[t];
                    ws_count[t] += 1;
                    hosts.push(Host {
                        name: format!("{}-WS{:04}", trusts[t].id.to_uppercase(), n + 1),
                        ip: Ipv4Addr::new(
                            10,
                            trusts[t].net,
                            1 + (n / 250) as u8,
                            (n % 250 + 2) as u8,
                        ),
                        kind: HostKind::Workstation,
                        trust: t,
                    });
                    last_ws[t] = Some(hosts.len() - 1);
                    hosts.len() - 1
                }
            };
            let female = rng.chance(0.6);
            let given = if female {
                word(rng, GIVEN_F)
            } else {
                word(rng, GIVEN_M)
            };
            let family = word(rng, FAMILY);
            staff_list.push(Staff {
                id: format!("s{i:05}"),
                user: format!(
                    "{}{}{:03}",
                    &given.to_lowercase()[..2.min(given.len())],
                    family.to_lowercase().chars().take(3).collect::<String>(),
                    i % 1000
                ),
                name: format!("{given} {family}"),
                role,
                trust: t,
                department: rng.below(trusts[t].departments.len() as u64) as usize,
                workstation: ws,
                night: role.clinical() && rng.chance(0.15),
            });
        }
        // Service accounts: an EHR integration and a backup account per trust.
        for (t, trust) in trusts.iter().enumerate() {
            for svc in ["svc-ehr-integration", "svc-backup"] {
                let server = trust.servers[0];
                staff_list.push(Staff {
                    id: format!("s{}-{svc}", trust.id),
                    user: svc.to_owned(),
                    name: svc.to_owned(),
                    role: Role::Service,
                    trust: t,
                    department: 0,
                    workstation: server,
                    night: false,
                });
            }
        }
        // Administrators work from workstations of their own, in an
        // administrators' network the asset register knows (no random draw:
        // the rest of the region is as it was).
        let mut admins = vec![0usize; trusts.len()];
        for st in staff_list.iter_mut().filter(|s| s.role == Role::ItAdmin) {
            let t = st.trust;
            let n = admins[t];
            admins[t] += 1;
            hosts.push(Host {
                name: format!("{}-ADM{:03}", trusts[t].id.to_uppercase(), n + 1),
                ip: Ipv4Addr::new(
                    10,
                    trusts[t].net,
                    200 + (n / 250) as u8,
                    (n % 250 + 2) as u8,
                ),
                kind: HostKind::AdminWorkstation,
                trust: t,
            });
            st.workstation = hosts.len() - 1;
        }
        Region {
            counties,
            trusts,
            hosts,
            staff: staff_list,
            patients: patient_list,
        }
    }

    /// The first server of a kind in a trust.
    pub fn server(&self, trust: usize, kind: HostKind) -> usize {
        self.trusts[trust]
            .servers
            .iter()
            .copied()
            .find(|h| self.hosts[*h].kind == kind)
            .unwrap_or(self.trusts[trust].servers[0])
    }

    /// All servers of a kind in a trust.
    pub fn servers(&self, trust: usize, kind: HostKind) -> Vec<usize> {
        self.trusts[trust]
            .servers
            .iter()
            .copied()
            .filter(|h| self.hosts[*h].kind == kind)
            .collect()
    }
}
