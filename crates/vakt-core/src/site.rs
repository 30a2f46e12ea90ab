//! The site model: what a tenant's network is — its own address ranges,
//! the services it offers to the Internet, its sensors and where they see,
//! NAT and proxies, administrators' and jump hosts, its own scanners and
//! the systems holding patient records. The network detectors read the
//! direction of every connection from it ([`Site::direction`]) and each
//! says which directions it judges.
//!
//! A site file (`--site FILE`, YAML) describes one site at its top level and
//! may give tenants their own under `tenants:` (a tenant's entry replaces
//! the fields it names):
//!
//! ```yaml
//! internal: [10.20.0.0/16, 192.0.2.0/28]   # the site's own addresses
//! nat: [198.51.100.7]                       # how the site appears outside
//! public_services:                          # what the Internet may reach
//!   - {address: 192.0.2.10, ports: [443], name: patient portal}
//! sensors:
//!   - {name: edge-1, sees: edge}            # edge | internal
//! proxies: [10.20.0.5]
//! admin_hosts: [10.20.9.0/28]              # administrators' and jump hosts
//! scanners: [10.20.9.50]                   # the site's own vulnerability scanners
//! record_systems: [10.20.3.0/24]           # EHR, PACS, their backups
//! tenants:
//!   ahus: {internal: [10.30.0.0/16]}
//! ```
//!
//! Without a site file vakt assumes what [`Site::assumed`] says: private,
//! loopback, link-local and unique-local addresses are internal, nothing is
//! offered to the Internet, and no host is an administrator's or a scanner.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::net::Cidr;

/// Which way a connection goes, as the site sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From an internal host to the outside.
    Outbound,
    /// From the outside to an internal host.
    Inbound,
    /// Between internal hosts.
    Internal,
    /// Neither end is the site's (traffic passing a sensor, or a site file
    /// that does not name the sensor's networks).
    Transit,
}

impl Direction {
    /// Its name in findings and documents.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
            Direction::Internal => "internal",
            Direction::Transit => "transit",
        }
    }
}

/// Where a sensor sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sees {
    /// At the edge: traffic to and from the Internet.
    Edge,
    /// Inside: one segment's traffic between internal hosts.
    Internal,
}

/// A sensor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sensor {
    /// Its name (Zeek's `_node_name`, Suricata's `host`).
    pub name: String,
    /// Where it sees.
    pub sees: Sees,
}

/// A service the site offers to the Internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its addresses.
    pub net: Cidr,
    /// Its ports (empty: every port).
    pub ports: Vec<u16>,
    /// What it is.
    pub name: String,
}

/// One site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    internal: Vec<Cidr>,
    nat: Vec<Cidr>,
    /// Services offered to the Internet.
    pub public_services: Vec<Service>,
    /// Sensors.
    pub sensors: Vec<Sensor>,
    proxies: Vec<Cidr>,
    admin_hosts: Vec<Cidr>,
    scanners: Vec<Cidr>,
    record_systems: Vec<Cidr>,
    /// No site file: the defaults of [`Site::assumed`].
    pub is_assumed: bool,
}

impl Default for Site {
    fn default() -> Self {
        Site::assumed()
    }
}

impl Site {
    /// What vakt assumes without a site file.
    pub fn assumed() -> Site {
        Site {
            internal: Vec::new(),
            nat: Vec::new(),
            public_services: Vec::new(),
            sensors: Vec::new(),
            proxies: Vec::new(),
            admin_hosts: Vec::new(),
            scanners: Vec::new(),
            record_systems: Vec::new(),
            is_assumed: true,
        }
    }

    /// What was assumed, in a sentence (for the run's summary).
    pub const ASSUMPTION: &'static str = "no site file: internal = private (RFC 1918), loopback, link-local and unique-local addresses; \
         no service offered to the Internet; no administrators' hosts, scanners or record systems known (--site FILE)";

    /// Whether an address is the site's own (its networks, or the addresses
    /// it appears as outside).
    pub fn internal(&self, ip: IpAddr) -> bool {
        if self.internal.is_empty() {
            return crate::net::internal(ip);
        }
        self.internal.iter().any(|c| c.contains(ip)) || self.nat.iter().any(|c| c.contains(ip))
    }

    /// The direction of a connection from `src` to `dst`.
    pub fn direction(&self, src: IpAddr, dst: IpAddr) -> Direction {
        match (self.internal(src), self.internal(dst)) {
            (true, true) => Direction::Internal,
            (true, false) => Direction::Outbound,
            (false, true) => Direction::Inbound,
            (false, false) => Direction::Transit,
        }
    }

    /// Whether `ip:port` is a service the site offers to the Internet.
    pub fn public_service(&self, ip: IpAddr, port: u16) -> bool {
        self.public_services
            .iter()
            .any(|s| s.net.contains(ip) && (s.ports.is_empty() || s.ports.contains(&port)))
    }

    /// Whether the site offers any service to the Internet at this address.
    pub fn offers(&self, ip: IpAddr) -> bool {
        self.public_services.iter().any(|s| s.net.contains(ip))
    }

    /// Whether the host is an administrator's or a jump host.
    pub fn admin_host(&self, ip: IpAddr) -> bool {
        self.admin_hosts.iter().any(|c| c.contains(ip))
    }

    /// Whether the host is one of the site's own scanners.
    pub fn scanner(&self, ip: IpAddr) -> bool {
        self.scanners.iter().any(|c| c.contains(ip))
    }

    /// Whether the host is a proxy or NAT gateway (its connections are many hosts').
    pub fn proxy(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|c| c.contains(ip)) || self.nat.iter().any(|c| c.contains(ip))
    }

    /// Whether the host holds patient records.
    pub fn record_system(&self, ip: IpAddr) -> bool {
        self.record_systems.iter().any(|c| c.contains(ip))
    }

    /// Whether any sensor is said to see the edge (no sensors named: unknown, `None`).
    pub fn sees_edge(&self) -> Option<bool> {
        (!self.sensors.is_empty()).then(|| self.sensors.iter().any(|s| s.sees == Sees::Edge))
    }

    /// A summary in a line (what the run used).
    pub fn describe(&self) -> String {
        if self.is_assumed {
            return Site::ASSUMPTION.to_owned();
        }
        format!(
            "{} internal ranges, {} NAT addresses, {} public services, {} sensors, {} proxies, \
             {} administrators' hosts, {} scanners, {} record systems",
            self.internal.len(),
            self.nat.len(),
            self.public_services.len(),
            self.sensors.len(),
            self.proxies.len(),
            self.admin_hosts.len(),
            self.scanners.len(),
            self.record_systems.len()
        )
    }
}

/// What an asset register can say a host is, for the site model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It holds patient records (EHR, PACS, their backups).
    RecordSystem,
    /// An administrators' or jump host.
    AdminHost,
    /// The site's own vulnerability scanner.
    Scanner,
}

impl Role {
    /// The role an asset register's `kind` names, if any.
    pub fn of_kind(kind: &str) -> Option<Role> {
        let k = kind.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        match k.as_str() {
            "jump-host" | "jumphost" | "bastion" | "admin-workstation" | "paw" | "admin-host" => {
                Some(Role::AdminHost)
            }
            "scanner" | "vulnerability-scanner" | "vuln-scanner" => Some(Role::Scanner),
            "ehr-server" | "pacs" | "record-system" => Some(Role::RecordSystem),
            _ => None,
        }
    }
}

/// The sites of every tenant: one default and the tenants' own.
#[derive(Debug, Clone, Default)]
pub struct Sites {
    default: Arc<Site>,
    tenants: BTreeMap<String, Arc<Site>>,
}

/// A site as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    internal: Option<Vec<String>>,
    nat: Option<Vec<String>>,
    public_services: Option<Vec<ServiceFile>>,
    sensors: Option<Vec<Sensor>>,
    proxies: Option<Vec<String>>,
    admin_hosts: Option<Vec<String>>,
    scanners: Option<Vec<String>>,
    record_systems: Option<Vec<String>>,
    #[serde(default)]
    tenants: BTreeMap<String, SiteFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    address: String,
    #[serde(default)]
    ports: Vec<u16>,
    #[serde(default)]
    name: String,
}

fn ranges(what: &str, v: &Option<Vec<String>>) -> Result<Vec<Cidr>, String> {
    v.iter()
        .flatten()
        .map(|s| Cidr::parse(s).ok_or_else(|| format!("{what}: `{s}` is not an address or range")))
        .collect()
}

impl SiteFile {
    /// This entry over `base` (the fields it names replace the base's).
    fn over(&self, base: &SiteFile) -> SiteFile {
        SiteFile {
            internal: self.internal.clone().or_else(|| base.internal.clone()),
            nat: self.nat.clone().or_else(|| base.nat.clone()),
            public_services: self
                .public_services
                .clone()
                .or_else(|| base.public_services.clone()),
            sensors: self.sensors.clone().or_else(|| base.sensors.clone()),
            proxies: self.proxies.clone().or_else(|| base.proxies.clone()),
            admin_hosts: self
                .admin_hosts
                .clone()
                .or_else(|| base.admin_hosts.clone()),
            scanners: self.scanners.clone().or_else(|| base.scanners.clone()),
            record_systems: self
                .record_systems
                .clone()
                .or_else(|| base.record_systems.clone()),
            tenants: BTreeMap::new(),
        }
    }

    fn site(&self) -> Result<Site, String> {
        let public_services = self
            .public_services
            .iter()
            .flatten()
            .map(|s| {
                Ok(Service {
                    net: Cidr::parse(&s.address).ok_or_else(|| {
                        format!(
                            "public_services: `{}` is not an address or range",
                            s.address
                        )
                    })?,
                    ports: s.ports.clone(),
                    name: s.name.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let internal = ranges("internal", &self.internal)?;
        if let Some(c) = internal.iter().find(|c| c.len() == 0) {
            return Err(format!(
                "internal: `{c}` holds every address: nothing would be outside"
            ));
        }
        Ok(Site {
            internal,
            nat: ranges("nat", &self.nat)?,
            public_services,
            sensors: self.sensors.clone().unwrap_or_default(),
            proxies: ranges("proxies", &self.proxies)?,
            admin_hosts: ranges("admin_hosts", &self.admin_hosts)?,
            scanners: ranges("scanners", &self.scanners)?,
            record_systems: ranges("record_systems", &self.record_systems)?,
            is_assumed: false,
        })
    }
}

impl Sites {
    /// The site of `tenant`.
    pub fn of(&self, tenant: &str) -> Arc<Site> {
        self.tenants.get(tenant).unwrap_or(&self.default).clone()
    }

    /// Adds what an asset register says about one host of `tenant` (its
    /// own entry made from the default when it has none).
    pub fn learn(&mut self, tenant: &str, ip: IpAddr, role: Role) {
        let site = self
            .tenants
            .entry(tenant.to_owned())
            .or_insert_with(|| self.default.clone());
        let s = Arc::make_mut(site);
        let list = match role {
            Role::RecordSystem => &mut s.record_systems,
            Role::AdminHost => &mut s.admin_hosts,
            Role::Scanner => &mut s.scanners,
        };
        if !list.iter().any(|c| c.contains(ip)) {
            list.push(Cidr::host(ip));
        }
    }

    /// Whether a site file was given.
    pub fn is_assumed(&self) -> bool {
        self.default.is_assumed && self.tenants.is_empty()
    }

    /// The default site and the tenants' own, a line each.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![format!("site: {}", self.default.describe())];
        for (t, s) in &self.tenants {
            out.push(format!("site of {t}: {}", s.describe()));
        }
        out
    }

    /// Reads a site file (YAML).
    pub fn parse(text: &str) -> Result<Sites, String> {
        let f: SiteFile =
            serde_saphyr::from_str(text).map_err(|e| format!("not a site file: {e}"))?;
        let default = f.site()?;
        let mut tenants = BTreeMap::new();
        for (name, t) in &f.tenants {
            let s = t
                .over(&f)
                .site()
                .map_err(|e| format!("tenants.{name}: {e}"))?;
            tenants.insert(name.clone(), Arc::new(s));
        }
        Ok(Sites {
            default: Arc::new(default),
            tenants,
        })
    }

    /// Loads a site file.
    pub fn load(path: &Path) -> Result<Sites, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Sites::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_site_file_decides_directions_and_roles() {
        let s = Sites::parse(
            r#"
internal: [147.32.81.167, 10.0.0.0/8]
nat: [198.51.100.7]
public_services:
  - {address: 147.32.81.167, ports: [443], name: portal}
sensors: [{name: edge-1, sees: edge}]
admin_hosts: [10.9.0.0/28]
scanners: [10.9.0.50]
record_systems: [10.3.0.0/24]
tenants:
  ahus: {internal: [172.20.0.0/16]}
"#,
        )
        .unwrap();
        let d = s.of("ous");
        assert!(!d.is_assumed);
        assert_eq!(
            d.direction(ip("147.32.81.167"), ip("8.8.8.8")),
            Direction::Outbound
        );
        assert_eq!(
            d.direction(ip("8.8.8.8"), ip("147.32.81.167")),
            Direction::Inbound
        );
        // A private address the file does not name is outside (a lab's C2).
        assert_eq!(
            d.direction(ip("10.0.1.4"), ip("192.168.0.4")),
            Direction::Outbound
        );
        assert_eq!(
            d.direction(ip("8.8.8.8"), ip("1.1.1.1")),
            Direction::Transit
        );
        assert!(d.internal(ip("198.51.100.7")));
        assert!(d.public_service(ip("147.32.81.167"), 443));
        assert!(!d.public_service(ip("147.32.81.167"), 23));
        assert!(d.admin_host(ip("10.9.0.3")) && !d.admin_host(ip("10.9.0.30")));
        assert!(d.scanner(ip("10.9.0.50")));
        assert!(d.record_system(ip("10.3.0.9")));
        assert_eq!(d.sees_edge(), Some(true));
        // A tenant's entry replaces what it names and keeps the rest.
        let a = s.of("ahus");
        assert!(a.internal(ip("172.20.1.1")) && !a.internal(ip("10.1.1.1")));
        assert!(a.scanner(ip("10.9.0.50")));
    }

    #[test]
    fn the_asset_register_adds_roles_per_tenant() {
        let mut s = Sites::parse("internal: [10.0.0.0/8]").unwrap();
        s.learn("ahus", ip("10.1.0.5"), Role::RecordSystem);
        s.learn("ahus", ip("10.1.9.9"), Role::AdminHost);
        assert!(s.of("ahus").record_system(ip("10.1.0.5")));
        assert!(s.of("ahus").admin_host(ip("10.1.9.9")));
        assert!(s.of("ahus").internal(ip("10.2.0.1")));
        assert!(!s.of("ous").record_system(ip("10.1.0.5")));
        assert_eq!(Role::of_kind("Jump host"), Some(Role::AdminHost));
        assert_eq!(Role::of_kind("workstation"), None);
    }

    #[test]
    fn without_a_file_private_ranges_are_assumed_and_said() {
        let s = Sites::default();
        assert!(s.is_assumed());
        let d = s.of("any");
        assert_eq!(
            d.direction(ip("10.0.0.1"), ip("8.8.8.8")),
            Direction::Outbound
        );
        assert!(s.describe()[0].contains("no site file"));
    }

    #[test]
    fn bad_site_files_are_refused_with_the_reason() {
        for (text, why) in [
            ("internal: [not-a-net]", "not-a-net"),
            ("internal: [0.0.0.0/0]", "every address"),
            ("interal: [10.0.0.0/8]", "interal"),
            ("public_services: [{address: x}]", "`x`"),
            ("sensors: [{name: a, sees: roof}]", "roof"),
            ("tenants: {a: {scanners: [bad]}}", "tenants.a"),
        ] {
            let e = Sites::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
