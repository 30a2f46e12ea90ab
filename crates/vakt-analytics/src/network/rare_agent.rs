//! `rare-user-agent` (T1071.001): an HTTP user agent that only one of the
//! site's hosts sends (RITA's rare user-agent signal), kept up for an hour
//! or more, to a destination almost nobody else uses. Rarity needs a
//! population: nothing is judged until at least [`POPULATION`] internal
//! hosts have sent HTTP requests with a user agent, so a lab capture of a
//! handful of machines (each with its own updater) raises nothing. A
//! single host's own software (a VPN client, a backup agent) that talks to
//! its vendor's common servers is left alone by the destination gate; an
//! implant with its own agent string calling home is not (an address few
//! hosts use that serves a name many use — a CDN's — is not rare). Judges
//! outbound requests only; proxies' requests are many hosts'.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::field::USER_AGENT;
use vakt_core::site::Direction;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Facts, Finding, Flow, FlowKind, Network, merge_into, text};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "an HTTP user agent only one host sends, kept up to a destination almost nobody uses";

/// Internal hosts sending user agents before rarity means anything.
pub const POPULATION: usize = 10;

/// Requests that make a finding.
const MIN_REQUESTS: u64 = 10;

/// Over at least this long (ns).
const MIN_SPAN: i64 = 3_600_000_000_000;

/// A destination at most this many internal hosts use is rare.
const RARE_DST: usize = 2;

/// Hosts remembered per agent: more than one makes it common.
const HOSTS: usize = 2;

/// Destinations remembered per host and agent.
const DSTS: usize = 8;

/// User agents remembered (a bound on memory whatever the input).
const MAX_AGENTS: usize = 200_000;

/// One host's requests with one agent.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Use {
    requests: u64,
    first: i64,
    last: i64,
    dsts: Vec<IpAddr>,
    origins: Vec<Origin>,
}

impl Use {
    fn see(&mut self, t: i64, dst: IpAddr, origin: &Origin) {
        if self.requests == 0 {
            self.first = t;
        }
        self.requests += 1;
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        if self.dsts.len() < DSTS && !self.dsts.contains(&dst) {
            self.dsts.push(dst);
        }
        if self.origins.len() < 3 {
            self.origins.push(origin.clone());
        }
    }

    fn merge(&mut self, o: Use) {
        if self.requests == 0 {
            self.first = o.first;
        }
        self.requests += o.requests;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        for d in o.dsts {
            if self.dsts.len() < DSTS && !self.dsts.contains(&d) {
                self.dsts.push(d);
            }
        }
        self.origins.extend(
            o.origins
                .into_iter()
                .take(3usize.saturating_sub(self.origins.len())),
        );
    }
}

/// The hosts that sent one agent (at most [`HOSTS`] kept; `common` once
/// more were seen).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Agent {
    hosts: Vec<(IpAddr, Use)>,
    /// Last time a host beyond those kept sent it (ns); `None`: never.
    common_until: Option<i64>,
}

/// User agents per internal host.
#[derive(Debug, Default)]
pub struct RareUserAgentDetector {
    agents: FxHashMap<Box<str>, Agent>,
    /// Internal hosts that sent a user agent, and when last (ns).
    clients: FxHashMap<IpAddr, i64>,
}

impl RareUserAgentDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(RareUserAgentDetector::default())
    }

    fn add(&mut self, ua: &str, src: IpAddr, t: i64, f: impl FnOnce(&mut Use)) {
        if !self.agents.contains_key(ua) && self.agents.len() >= MAX_AGENTS {
            return;
        }
        let a = self.agents.entry(ua.into()).or_default();
        if let Some((_, u)) = a.hosts.iter_mut().find(|(h, _)| *h == src) {
            f(u);
        } else if a.hosts.len() < HOSTS {
            let mut u = Use::default();
            f(&mut u);
            a.hosts.push((src, u));
        } else {
            a.common_until = Some(a.common_until.map_or(t, |c| c.max(t)));
        }
    }
}

impl Detector<Network> for RareUserAgentDetector {
    fn name(&self) -> &'static str {
        "rare-user-agent"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&(&self.agents, &self.clients)))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        let (agents, clients) = vakt_core::detector::load_state(state)?;
        self.agents = agents;
        self.clients = clients;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Named, true, Direction::Outbound, Some(src), Some(dst)) =
            (f.kind, f.http, f.dir, f.src, f.dst)
        else {
            return;
        };
        let Some(ua) = text(f.event.common(USER_AGENT)) else {
            return;
        };
        let ua = ua.trim();
        if ua.is_empty() || ua == "-" {
            return;
        }
        let t = f.time;
        let last = self.clients.entry(src).or_insert(t);
        *last = (*last).max(t);
        let origin = f.origin();
        self.add(ua, src, t, |u| u.see(t, dst, origin));
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        let population = self
            .clients
            .keys()
            .filter(|h| !facts.site.proxy(**h))
            .count();
        if population < POPULATION {
            return;
        }
        let mut found: Vec<(&str, IpAddr, &Use, Vec<IpAddr>)> = Vec::new();
        // Internal hosts per server name (counted once, if needed): an
        // address few hosts use may serve a name many use (a CDN's).
        let mut by_name: Option<FxHashMap<&str, usize>> = None;
        for (ua, a) in &self.agents {
            if a.common_until.is_some() || a.hosts.len() != 1 {
                continue;
            }
            let (src, u) = &a.hosts[0];
            if facts.site.proxy(*src)
                || facts.site.scanner(*src)
                || u.requests < MIN_REQUESTS
                || u.last - u.first < MIN_SPAN
            {
                continue;
            }
            let by_name = by_name.get_or_insert_with(|| {
                let mut m: FxHashMap<&str, usize> = FxHashMap::default();
                for (src, name) in facts.named().keys() {
                    if facts.internal(*src) {
                        *m.entry(&**name).or_default() += 1;
                    }
                }
                m
            });
            let rare: Vec<IpAddr> = u
                .dsts
                .iter()
                .copied()
                .filter(|d| {
                    facts.prevalence(*d) <= RARE_DST
                        && facts
                            .server_name(*d)
                            .is_none_or(|n| by_name.get(n).copied().unwrap_or(0) <= RARE_DST)
                })
                .collect();
            if rare.is_empty() {
                continue;
            }
            found.push((ua, *src, u, rare));
        }
        found.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
        for (ua, src, u, rare) in found {
            let names: Vec<String> = rare
                .iter()
                .map(|d| match facts.server_name(*d) {
                    Some(n) => format!("{d} ({n})"),
                    None => d.to_string(),
                })
                .collect();
            let f = Finding {
                detector: "rare-user-agent",
                about: ABOUT,
                key: vec![src.to_string(), ua.to_owned()],
                title: format!(
                    "{src} is the only host sending user agent {ua:?} ({} requests over {:.1} h, to {})",
                    u.requests,
                    (u.last - u.first) as f64 / 3.6e12,
                    names.first().map_or("", String::as_str)
                ),
                first: Timestamp(u.first),
                last: Timestamp(u.last),
                score: 0.35,
                severity: Severity::Low,
                techniques: &["T1071.001"],
                actors: vec![Entity::Ip(src)],
                targets: rare.iter().take(3).map(|d| Entity::Ip(*d)).collect(),
                count: u.requests,
                evidence: vec![
                    ("user_agent", ua.to_owned()),
                    ("requests", u.requests.to_string()),
                    ("hosts_sending_user_agents", population.to_string()),
                    ("rare_destinations", names.join(" ")),
                    ("direction", "outbound".to_owned()),
                ],
                origins: u.origins.clone(),
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(RareUserAgentDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (h, t) in o.clients {
                let last = me.clients.entry(h).or_insert(t);
                *last = (*last).max(t);
            }
            for (ua, a) in o.agents {
                for (src, u) in a.hosts {
                    let t = u.last;
                    me.add(&ua, src, t, |mine| mine.merge(u));
                }
                if let Some(c) = a.common_until
                    && let Some(mine) = me.agents.get_mut(&ua)
                {
                    mine.common_until = Some(mine.common_until.map_or(c, |m| m.max(c)));
                }
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.clients.retain(|_, t| *t >= cutoff.0);
        self.agents.retain(|_, a| {
            a.hosts.retain(|(_, u)| u.last >= cutoff.0);
            if a.common_until.is_some_and(|c| c < cutoff.0) {
                a.common_until = None;
            }
            !a.hosts.is_empty() || a.common_until.is_some()
        });
    }

    fn footprint(&self) -> Option<String> {
        Some(format!(
            "user agents {}, hosts sending them {}",
            self.agents.len(),
            self.clients.len()
        ))
    }
}
