//! The network family as one event detector: the events of each tenant go
//! to that tenant's [`NetworkAnalytics`] (two trusts' private addresses are
//! never one host), in batch — forked per worker and merged — or as a stream
//! ([`crate::stream::NetworkStream`]: events in order, findings raised as
//! time passes).

use std::sync::Arc;

use vakt_core::detector::{Detector, downcast};
use vakt_core::{Alert, Event, Timestamp};

use super::{NetworkAnalytics, flow};
use crate::stream::{NetworkStream, StreamConfig};
use vakt_core::site::Sites;

/// One tenant's state: batch or stream.
#[derive(Debug)]
enum State {
    Batch(Box<NetworkAnalytics>),
    Stream(Box<NetworkStream>),
}

/// Every network detector over events of any tenant.
#[derive(Debug)]
pub struct NetworkDetectors {
    /// The findings to keep (`beacon`, `scan`, …); `None`: all.
    wanted: Option<Arc<[String]>>,
    /// Streaming, with this configuration; `None`: batch.
    stream: Option<StreamConfig>,
    /// The tenants' sites.
    sites: Arc<Sites>,
    tenants: Vec<(Arc<str>, State)>,
    /// The tenant of the last event (most inputs have one).
    last: usize,
}

impl NetworkDetectors {
    /// Batch detectors keeping the findings named in `wanted` (all if `None`).
    pub fn new(wanted: Option<Vec<String>>) -> NetworkDetectors {
        NetworkDetectors {
            wanted: wanted.map(Arc::from),
            stream: None,
            sites: Arc::new(Sites::default()),
            tenants: Vec::new(),
            last: 0,
        }
    }

    /// The same, with the tenants' site models.
    pub fn with_sites(mut self, sites: Arc<Sites>) -> NetworkDetectors {
        self.sites = sites;
        self
    }

    /// Streaming detectors (events in input order; see [`NetworkStream`]).
    pub fn streaming(wanted: Option<Vec<String>>, cfg: StreamConfig) -> NetworkDetectors {
        NetworkDetectors {
            stream: Some(cfg),
            ..NetworkDetectors::new(wanted)
        }
    }

    fn state(&mut self, tenant: &Arc<str>) -> &mut State {
        let hit = self
            .tenants
            .get(self.last)
            .is_some_and(|(t, _)| Arc::ptr_eq(t, tenant) || t == tenant);
        if !hit {
            self.last = match self.tenants.iter().position(|(t, _)| t == tenant) {
                Some(i) => i,
                None => {
                    let site = self.sites.of(tenant);
                    let state = match self.stream {
                        Some(cfg) => State::Stream(Box::new(NetworkStream::for_site(
                            cfg,
                            tenant.clone(),
                            site,
                        ))),
                        None => {
                            State::Batch(Box::new(NetworkAnalytics::for_site(tenant.clone(), site)))
                        }
                    };
                    self.tenants.push((tenant.clone(), state));
                    self.tenants.len() - 1
                }
            };
        }
        &mut self.tenants[self.last].1
    }

    fn keep(&self, a: &Alert) -> bool {
        self.wanted.as_ref().is_none_or(|w| w.contains(&a.detector))
    }

    /// Connections with neither end inside their tenant's site, of all
    /// connections, over all tenants.
    pub fn transit(&self) -> (u64, u64) {
        self.tenants
            .iter()
            .map(|(_, s)| match s {
                State::Batch(na) => na.transit(),
                State::Stream(st) => st.transit(),
            })
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// Events that arrived late and were dropped, over all tenants (streams only).
    pub fn late(&self) -> (u64, u64) {
        self.tenants
            .iter()
            .filter_map(|(_, s)| match s {
                State::Stream(st) => Some((st.late(), st.dropped())),
                State::Batch(_) => None,
            })
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
}

impl Detector for NetworkDetectors {
    fn name(&self) -> &'static str {
        "network"
    }

    fn observe(&mut self, e: &Event, out: &mut Vec<Alert>) {
        let Some(f) = flow(e) else { return };
        let mut raised = Vec::new();
        match self.state(&e.tenant) {
            State::Batch(na) => na.observe_flow(&f),
            State::Stream(st) => raised = st.push_flow(&f),
        }
        out.extend(raised.into_iter().filter(|a| self.keep(a)));
    }

    fn flush(&mut self, _: &(), out: &mut Vec<Alert>) {
        let mut found = Vec::new();
        for (_, s) in &mut self.tenants {
            match s {
                State::Batch(na) => found.extend(na.alerts()),
                State::Stream(st) => found.extend(st.flush()),
            }
        }
        out.extend(found.into_iter().filter(|a| self.keep(a)));
    }

    fn fork(&self) -> Option<Box<dyn Detector>> {
        // A stream needs every event in order: it runs once.
        self.stream.is_none().then(|| {
            Box::new(
                NetworkDetectors::new(self.wanted.as_ref().map(|w| w.to_vec()))
                    .with_sites(self.sites.clone()),
            ) as Box<dyn Detector>
        })
    }

    fn merge(&mut self, other: Box<dyn Detector>) {
        let Some(other) = downcast::<vakt_core::Events, NetworkDetectors>(other) else {
            return;
        };
        for (tenant, theirs) in other.tenants {
            let State::Batch(theirs) = theirs else {
                continue;
            };
            match self.state(&tenant) {
                State::Batch(mine) => mine.merge(*theirs),
                State::Stream(_) => {}
            }
        }
    }

    fn expire(&mut self, cutoff: Timestamp) {
        for (_, s) in &mut self.tenants {
            if let State::Batch(na) = s {
                na.expire(cutoff);
            }
        }
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        let mut tenants = Vec::new();
        for (t, s) in &self.tenants {
            let (stream, b) = match s {
                State::Batch(na) => (false, na.save()),
                State::Stream(st) => (true, st.save()),
            };
            match b {
                Ok(b) => tenants.push((t.to_string(), stream, vakt_core::detector::Blob(b))),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(vakt_core::detector::save_state(&(
            self.stream.is_some(),
            tenants,
        )))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        let (streaming, saved): (bool, Vec<(String, bool, vakt_core::detector::Blob)>) =
            vakt_core::detector::load_state(state)?;
        if streaming != self.stream.is_some() {
            return Err(
                "network state saved streaming is loaded in batch, or the other way".into(),
            );
        }
        self.tenants.clear();
        self.last = 0;
        for (t, stream, b) in saved {
            if stream != self.stream.is_some() {
                return Err(format!(
                    "network state of {t} was saved {} and is loaded {}",
                    if stream { "streaming" } else { "in batch" },
                    if stream { "in batch" } else { "streaming" }
                ));
            }
            let tenant: Arc<str> = Arc::from(t);
            let loaded = match self.state(&tenant) {
                State::Batch(na) => na.load(&b.0),
                State::Stream(st) => st.load(&b.0),
            };
            if let Err(e) = loaded {
                self.tenants.clear();
                self.last = 0;
                return Err(format!("{tenant}: {e}"));
            }
        }
        Ok(())
    }

    fn prevalence(&self, out: &mut Vec<(String, u64)>) {
        for (_, s) in &self.tenants {
            match s {
                State::Batch(na) => na.public_prevalence(out),
                State::Stream(st) => st.public_prevalence(out),
            }
        }
    }

    fn footprint(&self) -> Option<String> {
        let parts: Vec<String> = self
            .tenants
            .iter()
            .map(|(t, s)| match s {
                State::Batch(na) => format!("{t}: {}", na.footprint()),
                State::Stream(st) => format!("{t}: {}", st.footprint()),
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n"))
    }
}
