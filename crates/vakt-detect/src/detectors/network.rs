//! `network`: the network behaviour detectors of `vakt-analytics` (beacons,
//! strobes, long connections, DNS tunnels, uploads, scans, lateral
//! movement, rare destinations) over Zeek and Suricata events; in batch
//! (forked per input, merged) or as a stream.

use vakt_analytics::network::NetworkDetectors;
use vakt_core::Detector;

use super::{Analytics, Setup};

/// The family, unless the analytics are off.
pub fn from_setup(s: &Setup) -> Option<Box<dyn Detector>> {
    if s.analytics == Analytics::None {
        return None;
    }
    let wanted = s.analytics.wanted();
    Some(match s.stream {
        Some(cfg) => Box::new(NetworkDetectors::streaming(wanted, cfg).with_sites(s.sites.clone())),
        None => Box::new(NetworkDetectors::new(wanted).with_sites(s.sites.clone())),
    })
}
