//! Correlation: alerts become incidents, as they arrive.
//!
//! Every alert names who acted (a host, an address, an account) and what was
//! reached (hosts, addresses, names). Two alerts join when they share such an
//! entity and lie close in time (the gap is measured from the end of what
//! already joined on that entity, so a beacon that lasts for days holds the
//! story together). Host names and addresses are one host through the asset
//! register. An account's alerts also belong to the hosts it was seen acting
//! on. Patients never join alerts (many clinicians read the same patient),
//! and an outside target reached by many unrelated actors (a popular cloud
//! address) is a hub that joins nothing.
//!
//! An internal host that was only *reached* joins nothing by that: an
//! administrator's RDP session to a server the attacker also reached is not
//! the attacker's story. What happens on a reached host afterwards is the
//! story of the host that reached it last before (an intruder's session
//! comes minutes before what it does there); where several did, the one
//! with evidence of its own (anything but reaching hosts: execution, C2,
//! credential use) is preferred over one that only reached hosts — an
//! administrator's host, whose only alerts are new remote sessions.
//!
//! [`Correlator`] keeps the incidents current as alerts arrive one by one
//! (the live path): each alert joins the lists of the entities it shares,
//! and only those lists are chained again. Joining only ever adds (an alert
//! placed between two joined ones joins both), except when a target becomes
//! a hub, or a late alert changes which host reached another last before
//! something happened there: then everything is worked out again.
//! [`correlate`] is the same over a batch, so `vakt incidents` and the
//! service agree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use vakt_context::Assets;
use vakt_core::{Alert, AlertKey};

use crate::incident::{Incident, Keyed, SLACK, build, internal_host, keyed};

/// How alerts join.
#[derive(Debug, Clone, Copy)]
pub struct CorrelationConfig {
    /// Alerts sharing an entity join when the later starts at most this long
    /// (ns) after the end of those before it.
    pub gap: i64,
    /// A target reached by this many distinct actors or more joins nothing.
    pub hub_actors: usize,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        CorrelationConfig {
            gap: 24 * 3_600_000_000_000,
            hub_actors: 5,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Dsu(Vec<usize>);

impl Dsu {
    fn push(&mut self) {
        let n = self.0.len();
        self.0.push(n);
    }

    fn find(&self, mut x: usize) -> usize {
        while self.0[x] != x {
            x = self.0[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// Alerts joined into incidents, kept current as they arrive.
#[derive(Debug)]
pub struct Correlator {
    cfg: CorrelationConfig,
    assets: Arc<Assets>,
    alerts: Vec<Alert>,
    index: FxHashMap<AlertKey, usize>,
    /// Each alert's actors and targets, keyed.
    ents: Vec<(Vec<Keyed>, Vec<Keyed>)>,
    /// Per target: the hosts and addresses that reached it.
    reached_by: FxHashMap<String, FxHashSet<String>>,
    hubs: FxHashSet<String>,
    /// Per account: the internal hosts it was seen acting on.
    used_on: FxHashMap<String, BTreeSet<String>>,
    /// Per internal host: when which internal host reached it, in time order.
    reaches: FxHashMap<String, Vec<(i64, String)>>,
    /// The internal hosts seen reaching another.
    sources: FxHashSet<String>,
    /// Per internal host: its first alert that is more than reaching hosts.
    evidence: FxHashMap<String, i64>,
    /// Per entity: the alerts that join on it, by (first, arrival).
    lists: FxHashMap<String, Vec<usize>>,
    /// Per list: the latest end of its alerts (when the list is chained).
    ends: FxHashMap<String, i64>,
    /// Per actor (account or host): the alerts it acts in.
    acting: FxHashMap<String, Vec<usize>>,
    dsu: Dsu,
    /// Full re-correlations (a target became a hub, an alert was restated,
    /// a late alert changed who reached a host last).
    rebuilds: usize,
}

impl Correlator {
    /// An empty correlator over this asset register.
    pub fn new(assets: Arc<Assets>, cfg: CorrelationConfig) -> Correlator {
        Correlator {
            cfg,
            assets,
            alerts: Vec::new(),
            index: FxHashMap::default(),
            ents: Vec::new(),
            reached_by: FxHashMap::default(),
            hubs: FxHashSet::default(),
            used_on: FxHashMap::default(),
            reaches: FxHashMap::default(),
            sources: FxHashSet::default(),
            evidence: FxHashMap::default(),
            lists: FxHashMap::default(),
            ends: FxHashMap::default(),
            acting: FxHashMap::default(),
            dsu: Dsu::default(),
            rebuilds: 0,
        }
    }

    /// The alerts taken so far, in arrival order.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// How many times everything was worked out again.
    pub fn rebuilds(&self) -> usize {
        self.rebuilds
    }

    fn entities(&self, a: &Alert) -> (Vec<Keyed>, Vec<Keyed>) {
        let actors: Vec<Keyed> = a
            .actors
            .iter()
            .filter_map(|e| keyed(e, &self.assets))
            .collect();
        let targets: Vec<Keyed> = a
            .targets
            .iter()
            .filter_map(|e| keyed(e, &self.assets))
            .filter(|t| !actors.iter().any(|x| x.key == t.key))
            .collect();
        (actors, targets)
    }

    /// Takes an alert. A later statement of an alert already taken (same
    /// key) updates it.
    pub fn add(&mut self, alert: Alert) {
        if let Some(&i) = self.index.get(&alert.key) {
            self.alerts[i].update(alert);
            self.ents[i] = self.entities(&self.alerts[i]);
            self.rebuild();
            return;
        }
        let i = self.alerts.len();
        self.index.insert(alert.key.clone(), i);
        self.ents.push(self.entities(&alert));
        self.alerts.push(alert);
        self.dsu.push();
        // A target reached by one actor more may become a hub.
        let mut new_hub = false;
        let (actors, targets) = &self.ents[i];
        for t in targets {
            let set = self.reached_by.entry(t.key.clone()).or_default();
            set.extend(
                actors
                    .iter()
                    .filter(|a| a.kind != "account")
                    .map(|a| a.key.clone()),
            );
            if set.len() >= self.cfg.hub_actors && !self.hubs.contains(&t.key) {
                new_hub = true;
            }
        }
        let changes_the_past = self.learn(i);
        if new_hub || changes_the_past {
            self.rebuild();
            return;
        }
        let mut dirty = BTreeSet::new();
        self.link(i, &mut dirty);
        for k in dirty {
            self.chain(&k);
        }
    }

    /// Records who alert `i` shows reaching whom, and which hosts it shows
    /// acting on their own; says whether that changes where an alert
    /// already taken belongs (then everything is worked out again).
    fn learn(&mut self, i: usize) -> bool {
        let first = self.alerts[i].first.0;
        let reach_only = crate::incident::reach_only(&self.alerts[i]);
        let (actors, targets) = &self.ents[i];
        let mut changed = false;
        for a in actors.iter().filter(|k| internal_host(k)) {
            if !reach_only {
                let e = self.evidence.entry(a.key.clone()).or_insert(i64::MAX);
                if first < *e {
                    // A host that reached others now has evidence of its
                    // own earlier than known: it may be preferred now.
                    changed |= self.sources.contains(&a.key);
                    *e = first;
                }
            }
            for t in targets.iter().filter(|k| internal_host(k)) {
                let list = self.reaches.entry(t.key.clone()).or_default();
                let item = (first, a.key.clone());
                if let Err(pos) = list.binary_search(&item) {
                    list.insert(pos, item);
                    self.sources.insert(a.key.clone());
                    // Something already seen on the reached host at or
                    // after this session may be this host's story now.
                    changed |= self.acting.get(&t.key).is_some_and(|js| {
                        js.iter().any(|&j| self.alerts[j].first.0 >= first - SLACK)
                    });
                }
            }
        }
        changed
    }

    /// The hosts whose story an alert at `x` acting on internal host `t`
    /// continues: those that reached it last before, preferring those with
    /// evidence of their own by then (within the gap).
    fn reachers(&self, t: &str, x: i64) -> Vec<String> {
        if self.hubs.contains(t) {
            return Vec::new();
        }
        let Some(list) = self.reaches.get(t) else {
            return Vec::new();
        };
        let upto = list.partition_point(|(r, _)| *r <= x.saturating_add(SLACK));
        let before = &list[..upto];
        let acted = |s: &str| {
            self.evidence
                .get(s)
                .is_some_and(|&e| e <= x.saturating_add(SLACK))
        };
        let recent = x.saturating_sub(self.cfg.gap);
        let chosen = before
            .iter()
            .rev()
            .take_while(|(r, _)| *r >= recent)
            .find(|(_, s)| acted(s))
            .or_else(|| before.last());
        let Some((when, who)) = chosen else {
            return Vec::new();
        };
        let with_evidence = acted(who);
        before
            .iter()
            .filter(|(r, s)| r == when && acted(s) == with_evidence)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Adds alert `i`'s links and memberships; the lists that changed go to `dirty`.
    fn link(&mut self, i: usize, dirty: &mut BTreeSet<String>) {
        let (actors, targets) = self.ents[i].clone();
        let first = self.alerts[i].first.0;
        for a in &actors {
            self.acting.entry(a.key.clone()).or_default().push(i);
        }
        // The hosts each account acts on.
        for a in actors.iter().filter(|k| k.kind == "account") {
            for h in actors.iter().filter(|k| k.kind != "account" && k.internal) {
                if self
                    .used_on
                    .entry(a.key.clone())
                    .or_default()
                    .insert(h.key.clone())
                {
                    // The account's earlier alerts belong to the host's story too.
                    let earlier = self.acting.get(&a.key).cloned().unwrap_or_default();
                    for j in earlier {
                        self.join(&h.key, j, dirty);
                    }
                }
            }
        }
        // The alert's own lists: who acted, and what outside it reached (an
        // internal host only reached joins nothing).
        for k in actors
            .iter()
            .chain(targets.iter().filter(|k| !internal_host(k)))
        {
            self.join(&k.key, i, dirty);
        }
        for a in actors.iter().filter(|k| k.kind == "account") {
            let hosts: Vec<String> = self
                .used_on
                .get(&a.key)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            for h in hosts {
                self.join(&h, i, dirty);
            }
        }
        // What happens on a reached host is the story of who reached it.
        for a in actors.iter().filter(|k| internal_host(k)) {
            for h in self.reachers(&a.key, first) {
                self.join(&h, i, dirty);
            }
        }
    }

    /// Puts alert `i` on entity `key`'s list (hubs join nothing). An alert
    /// that comes after all of the list (the live path: alerts in time
    /// order) joins at once; one that comes before others marks the list
    /// to be chained again — so a busy entity costs a step per alert, not a
    /// walk of its list.
    fn join(&mut self, key: &str, i: usize, dirty: &mut BTreeSet<String>) {
        if self.hubs.contains(key) {
            return;
        }
        let alerts = &self.alerts;
        let list = self.lists.entry(key.to_owned()).or_default();
        let at = |j: usize| (alerts[j].first, j);
        let pos = match list.binary_search_by_key(&at(i), |&j| at(j)) {
            Ok(_) => return,
            Err(pos) => pos,
        };
        list.insert(pos, i);
        let a = &alerts[i];
        let a_end = a.last.0.max(a.first.0);
        let last = pos + 1 == list.len();
        let prev = pos.checked_sub(1).map(|p| list[p]);
        match self.ends.get_mut(key) {
            Some(end) if last && !dirty.contains(key) => {
                if let Some(p) = prev
                    && a.first.0 <= end.saturating_add(self.cfg.gap)
                {
                    self.dsu.union(p, i);
                }
                *end = (*end).max(a_end);
            }
            None if last && prev.is_none() => {
                self.ends.insert(key.to_owned(), a_end);
            }
            _ => {
                dirty.insert(key.to_owned());
            }
        }
    }

    /// Joins the alerts of one list that lie within the gap of what came
    /// before them.
    fn chain(&mut self, key: &str) {
        let Some(list) = self.lists.get(key) else {
            return;
        };
        let mut end = i64::MIN;
        let mut prev: Option<usize> = None;
        let mut unions = Vec::new();
        for &i in list {
            let a = &self.alerts[i];
            if let Some(p) = prev
                && a.first.0 <= end.saturating_add(self.cfg.gap)
            {
                unions.push((p, i));
            }
            end = end.max(a.last.0.max(a.first.0));
            prev = Some(i);
        }
        for (a, b) in unions {
            self.dsu.union(a, b);
        }
        self.ends.insert(key.to_owned(), end);
    }

    /// Works everything out again from the alerts taken.
    fn rebuild(&mut self) {
        self.rebuilds += 1;
        self.reached_by.clear();
        for (actors, targets) in &self.ents {
            for t in targets {
                self.reached_by.entry(t.key.clone()).or_default().extend(
                    actors
                        .iter()
                        .filter(|a| a.kind != "account")
                        .map(|a| a.key.clone()),
                );
            }
        }
        self.hubs = self
            .reached_by
            .iter()
            .filter(|(_, s)| s.len() >= self.cfg.hub_actors)
            .map(|(k, _)| k.clone())
            .collect();
        self.used_on.clear();
        self.reaches.clear();
        self.sources.clear();
        self.evidence.clear();
        self.lists.clear();
        self.ends.clear();
        self.acting.clear();
        self.dsu = Dsu((0..self.alerts.len()).collect());
        // Who reached whom and who acted, from every alert, before any joins.
        for i in 0..self.alerts.len() {
            self.learn(i);
        }
        let mut dirty = BTreeSet::new();
        for i in 0..self.alerts.len() {
            self.link(i, &mut dirty);
        }
        for k in dirty {
            self.chain(&k);
        }
    }

    /// The incidents (most severe first, then those with more stages and
    /// alerts, then earliest), with ids by day of their first evidence.
    pub fn incidents(&self) -> Vec<Incident> {
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..self.alerts.len() {
            groups.entry(self.dsu.find(i)).or_default().push(i);
        }
        let mut incidents: Vec<Incident> = groups
            .into_values()
            .map(|members| {
                build(
                    &self.alerts,
                    &self.ents,
                    &members,
                    &self.assets,
                    self.cfg.gap,
                )
            })
            .collect();
        // Ids by time, per day.
        incidents.sort_by_key(|i| (i.first, i.alerts.first().cloned()));
        let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
        for inc in &mut incidents {
            let day: String = inc
                .first
                .to_rfc3339()
                .chars()
                .take(10)
                .filter(|c| *c != '-')
                .collect();
            let n = per_day.entry(day.clone()).or_default();
            *n += 1;
            inc.id = format!("INC-{day}-{n:03}");
        }
        // The CERT's first, most severe first; among equals, the one that
        // went furthest.
        incidents.sort_by(|a, b| {
            (a.queue != "cert")
                .cmp(&(b.queue != "cert"))
                .then(b.severity.cmp(&a.severity))
                .then(b.stages.len().cmp(&a.stages.len()))
                .then(b.alerts.len().cmp(&a.alerts.len()))
                .then(a.first.cmp(&b.first))
        });
        incidents
    }

    /// Every alert's incident root, for tests that compare two ways of
    /// correlating (the same partition, whatever the numbering).
    pub fn partition(&self) -> Vec<Vec<usize>> {
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..self.alerts.len() {
            groups.entry(self.dsu.find(i)).or_default().push(i);
        }
        groups.into_values().collect()
    }

    /// The same alerts correlated from scratch (for comparison).
    pub fn from_scratch(&self) -> Correlator {
        let mut c = Correlator::new(self.assets.clone(), self.cfg);
        c.alerts = self.alerts.clone();
        c.index = self.index.clone();
        c.ents = self.ents.clone();
        c.rebuild();
        c
    }
}

/// Turns a batch of alerts into incidents (most severe first, then those
/// with more stages and alerts, then earliest): the same as taking them one
/// by one in this order.
pub fn correlate(alerts: &[Alert], assets: &Assets, cfg: &CorrelationConfig) -> Vec<Incident> {
    let mut c = Correlator::new(Arc::new(assets.clone()), *cfg);
    for a in alerts {
        c.add(a.clone());
    }
    c.incidents()
}

/// The correlator as a sink of alerts: incidents kept current as alerts
/// arrive (in a batch, in time order).
impl vakt_core::Sink for Correlator {
    fn name(&self) -> &'static str {
        "incidents"
    }

    fn alert(&mut self, alert: &Alert) -> Result<(), vakt_core::Error> {
        self.add(alert.clone());
        Ok(())
    }
}
