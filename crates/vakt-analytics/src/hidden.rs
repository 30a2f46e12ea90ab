//! A beacon hidden in busy benign traffic to the same destination.
//!
//! RITA scores all of a pair's connections together: when a host's implant
//! calls a destination the host also uses for ordinary work (a cloud front, a
//! CDN, a shared relay), the ordinary connections fill the intervals and the
//! score falls with the share of benign traffic. This module finds the
//! periodic part and scores it alone, so the score stays stable however much
//! benign traffic surrounds the beacon.
//!
//! Method:
//! 1. **Period**: the differences between every connection and the later ones
//!    up to a maximum lag are counted in windows around candidate periods
//!    (30 s up to a quarter of the span, at most 4 h; windows of ±2, 5, 10
//!    and 20 %). A beacon adds one difference per beat near its period; the
//!    benign traffic gives a smooth density of differences, estimated from the
//!    two side bands next to each window (which also absorbs bursts and edge
//!    effects). The excess over the side bands, `(c - b) / sqrt(b)`, is
//!    compared with its spread over all candidate periods of the same window
//!    (median and MAD; at least 1.2, since pairs share points and simulated
//!    random traffic spreads by 1.2–1.35): clustered benign traffic (sessions
//!    of quick connections) spreads much more than random arrivals, and the
//!    spread measured on the pair itself absorbs that. The best period's
//!    distance from the median, in spreads, must reach [`MIN_Z`].
//! 2. **Chain**: the chain of connections whose steps are one (or, for a
//!    missed beat, two) periods within the window that earns most, each step
//!    earning `1 - (distance from the period / tolerance)^2`, more when the
//!    two connections' sizes are alike (dynamic programming over the sorted
//!    times), so that bridging through benign connections does not pay.
//! 3. **Score**: RITA's score ([`crate::beacon::score`]) of the chain's
//!    times and sizes, within the dataset's range.
//!
//! Random (Poisson) traffic has no excess. What can be found depends on the
//! jitter and the share of beats (the excess grows with the beats, the noise
//! with the square root of the connections times the window): over a day, a
//! five-minute beacon with ±10 % jitter is found among three times as many
//! random connections, one with ±2 % among six times as many, one with
//! ±20 % jitter that misses every tenth beat among as many; the score of the
//! part found is within 0.05 of the beacon's own (tests below).

use crate::beacon::{BeaconConfig, BeaconScore, score};

/// The least excess (standard deviations over the side bands) that counts as a period.
pub const MIN_Z: f64 = 5.0;
/// The least connections a pair needs before a hidden period is looked for.
pub const MIN_CONNECTIONS: usize = 48;
/// The least beats a chain needs.
pub const MIN_BEATS: usize = 24;
/// The most differences counted per pair (the maximum lag shrinks to fit).
const MAX_DIFFS: usize = 2_000_000;

/// A periodic part found in a pair's connections.
#[derive(Debug, Clone, PartialEq)]
pub struct Hidden {
    /// The period, seconds (the chain's median step of one beat).
    pub period: f64,
    /// The window's half-width, as a share of the period.
    pub tolerance: f64,
    /// The excess of differences near the period, in standard deviations.
    pub z: f64,
    /// Connections in the chain (the beats found).
    pub beats: usize,
    /// Beats found over beats expected between the chain's ends.
    pub coverage: f64,
    /// The pair's other connections.
    pub others: usize,
    /// RITA's score of the chain alone.
    pub score: BeaconScore,
}

/// Differences in `lo..=hi` (whole seconds).
fn count_in(sorted: &[u32], lo: u32, hi: u32) -> usize {
    if hi < lo {
        return 0;
    }
    let a = sorted.partition_point(|d| *d < lo);
    let b = sorted.partition_point(|d| *d <= hi);
    b.saturating_sub(a)
}

/// Looks for a periodic part in a pair's connection times `ts` (seconds) and
/// sizes `bytes` (same order; any order of times), and scores it within the
/// dataset range `[min, max]`. `None` when there is no significant period or
/// its chain is too short.
pub fn hidden_beacon(
    cfg: &BeaconConfig,
    ts: &[u32],
    bytes: &[f64],
    min: i64,
    max: i64,
) -> Option<Hidden> {
    let n = ts.len();
    if n < MIN_CONNECTIONS || bytes.len() != n {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by_key(|i| ts[*i]);
    let t: Vec<u32> = order.iter().map(|i| ts[*i]).collect();
    let span = f64::from(t[n - 1] - t[0]);
    if span < 3600.0 {
        return None;
    }
    let rate = n as f64 / span;
    // Maximum lag, shrunk so that about MAX_DIFFS differences are counted.
    let mut lmax = (span / 4.0).min(4.0 * 3600.0);
    lmax = lmax.min(MAX_DIFFS as f64 / (n as f64 * rate));
    if lmax < 60.0 {
        return None;
    }
    let mut diffs: Vec<u32> = Vec::new();
    for i in 0..n {
        for &tj in &t[i + 1..] {
            let d = tj - t[i];
            if f64::from(d) > lmax {
                break;
            }
            if d > 0 {
                diffs.push(d);
            }
        }
    }
    diffs.sort_unstable();

    // 1. The period with the largest excess over its side bands, in units of
    // the spread of the excess over all candidate periods of the same window.
    const TOLERANCES: [f64; 4] = [0.02, 0.05, 0.1, 0.2];
    let mut excess: [Vec<(f64, f64)>; 4] = Default::default(); // (period, (c - b) / sqrt(b))
    let mut p = 30.0f64;
    while p * 1.6 <= lmax {
        for (k, f) in TOLERANCES.iter().enumerate() {
            // Whole seconds: the window, and side bands of about twice its width.
            let lo = (p * (1.0 - f)).ceil() as u32;
            let hi = (p * (1.0 + f)).floor() as u32;
            let left = (p * (1.0 - 3.0 * f)).ceil() as u32;
            let right = (p * (1.0 + 3.0 * f)).floor() as u32;
            if hi < lo || lo <= left || right <= hi {
                continue;
            }
            let c = count_in(&diffs, lo, hi) as f64;
            let side = (count_in(&diffs, left, lo - 1) + count_in(&diffs, hi + 1, right)) as f64;
            let side_width = f64::from(lo - left) + f64::from(right - hi);
            let b = side * f64::from(hi - lo + 1) / side_width;
            if b >= 5.0 {
                excess[k].push((p, (c - b) / b.sqrt()));
            }
        }
        p *= 1.03;
    }
    let mut best: Option<(f64, f64, f64)> = None; // (z, period, tolerance)
    for (k, f) in TOLERANCES.iter().enumerate() {
        if excess[k].len() < 20 {
            continue;
        }
        let mut e: Vec<f64> = excess[k].iter().map(|x| x.1).collect();
        e.sort_by(f64::total_cmp);
        let med = crate::stats::median(&e).unwrap_or(0.0);
        let mut dev: Vec<f64> = e.iter().map(|x| (x - med).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let sd = (1.4826 * crate::stats::median(&dev).unwrap_or(0.0)).max(1.2);
        for (p, x) in &excess[k] {
            let z = (x - med) / sd;
            if best.is_none_or(|(bz, _, _)| z > bz) {
                best = Some((z, *p, *f));
            }
        }
    }
    let (z, p, f) = best?;
    if z < MIN_Z {
        return None;
    }

    // 2. The best chain of one- or two-period steps: each step earns
    // 1 - (its distance from the period / the tolerance)^2, so a chain that
    // bridges through benign connections at the window's edges earns little,
    // and half of that more when the two connections' sizes are alike.
    let windows = [(p, p * f), (2.0 * p, 2.0 * p * f)];
    let mut gain = vec![0.0f64; n];
    let mut steps_to = vec![0usize; n];
    let mut prev = vec![usize::MAX; n];
    for i in 0..n {
        let ti = f64::from(t[i]);
        for (want, tol) in windows {
            let from = t.partition_point(|x| f64::from(*x) < ti - want - tol);
            let to = t.partition_point(|x| f64::from(*x) <= ti - want + tol);
            for j in from..to.min(i) {
                let off = (ti - f64::from(t[j]) - want) / tol;
                let (bi, bj) = (
                    bytes[order[i]].max(0.0) + 1.0,
                    bytes[order[j]].max(0.0) + 1.0,
                );
                let alike = (-3.0 * (bi / bj).ln().abs()).exp();
                let g = gain[j] + (1.0 - off * off) * (0.5 + 0.5 * alike);
                if g > gain[i] {
                    gain[i] = g;
                    prev[i] = j;
                    steps_to[i] = steps_to[j] + 1;
                }
            }
        }
    }
    let (mut end, _) = gain
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
    let mut chain = Vec::with_capacity(steps_to[end] + 1);
    loop {
        chain.push(end);
        if prev[end] == usize::MAX {
            break;
        }
        end = prev[end];
    }
    chain.reverse();
    if chain.len() < MIN_BEATS {
        return None;
    }

    // 3. RITA's score of the chain alone.
    let cts: Vec<u32> = chain.iter().map(|i| t[*i]).collect();
    let cbytes: Vec<f64> = chain.iter().map(|i| bytes[order[*i]]).collect();
    let mut steps: Vec<f64> = cts
        .windows(2)
        .map(|w| f64::from(w[1] - w[0]))
        .filter(|d| *d <= p * (1.0 + f))
        .collect();
    steps.sort_by(f64::total_cmp);
    let period = crate::stats::median(&steps).unwrap_or(p);
    let chain_span = f64::from(cts[cts.len() - 1] - cts[0]);
    let expected = chain_span / period + 1.0;
    let sc = score(cfg, &cts, &cbytes, min, max).ok()?;
    Some(Hidden {
        period,
        tolerance: f,
        z,
        beats: chain.len(),
        coverage: (chain.len() as f64 / expected).min(1.0),
        others: n - chain.len(),
        score: sc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so tests need no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    const DAY: u32 = 86_400;
    const T0: u32 = 1_700_000_000;

    /// A beacon every `period` s with ±`jitter` share, sizes near 300 bytes.
    fn beacon(rng: &mut Rng, period: f64, jitter: f64) -> Vec<(u32, f64)> {
        let mut out = Vec::new();
        let mut t = f64::from(T0) + 100.0;
        while t < f64::from(T0 + DAY) {
            out.push((t as u32, 300.0 + (rng.next() * 8.0).floor()));
            t += period * (1.0 + jitter * (2.0 * rng.next() - 1.0));
        }
        out
    }

    /// Poisson arrivals, `n` of them over the day, sizes 200..20,200 bytes.
    fn noise(rng: &mut Rng, n: usize) -> Vec<(u32, f64)> {
        (0..n)
            .map(|_| {
                (
                    T0 + (rng.next() * f64::from(DAY)) as u32,
                    200.0 + rng.next() * 20_000.0,
                )
            })
            .collect()
    }

    fn split(v: &[(u32, f64)]) -> (Vec<u32>, Vec<f64>) {
        (
            v.iter().map(|x| x.0).collect(),
            v.iter().map(|x| x.1).collect(),
        )
    }

    fn range() -> (i64, i64) {
        (i64::from(T0), i64::from(T0 + DAY))
    }

    fn keeps_its_score(jitter: f64, times: usize) {
        let cfg = BeaconConfig::default();
        let (min, max) = range();
        for seed in 1..=5u64 {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
            let b = beacon(&mut rng, 300.0, jitter);
            let (bt, bb) = split(&b);
            let alone = score(&cfg, &bt, &bb, min, max).unwrap();
            let mut mixed = b.clone();
            mixed.extend(noise(&mut rng, times * b.len()));
            let (mt, mb) = split(&mixed);
            let plain = score(&cfg, &mt, &mb, min, max).unwrap();
            let h = hidden_beacon(&cfg, &mt, &mb, min, max).expect("found");
            assert!(
                plain.score < alone.score - 0.2,
                "seed {seed}: plain {plain:?}"
            );
            assert!(
                (h.score.score - alone.score).abs() <= 0.05,
                "seed {seed}: hidden {h:?} vs alone {alone:?}"
            );
            assert!((h.period - 300.0).abs() < 15.0, "{h:?}");
            assert!(
                h.coverage > 0.8 && h.others >= (times - 1) * b.len(),
                "{h:?}"
            );
        }
    }

    #[test]
    fn a_beacon_jittered_ten_percent_among_three_times_as_much_random_traffic_keeps_its_score() {
        keeps_its_score(0.1, 3);
    }

    #[test]
    fn a_beacon_jittered_two_percent_among_six_times_as_much_random_traffic_keeps_its_score() {
        keeps_its_score(0.02, 6);
    }

    #[test]
    fn jittered_beacons_with_missed_beats_are_found() {
        let cfg = BeaconConfig::default();
        let (min, max) = range();
        let mut rng = Rng(77);
        let b: Vec<(u32, f64)> = beacon(&mut rng, 600.0, 0.2)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 10 != 3)
            .map(|(_, x)| x)
            .collect();
        let mut mixed = b.clone();
        mixed.extend(noise(&mut rng, b.len()));
        let (mt, mb) = split(&mixed);
        let h = hidden_beacon(&cfg, &mt, &mb, min, max).expect("found");
        assert!((h.period - 600.0).abs() < 40.0, "{h:?}");
        assert!(h.score.score >= 0.7, "{h:?}");
    }

    #[test]
    fn random_traffic_has_no_hidden_beacon() {
        let cfg = BeaconConfig::default();
        let (min, max) = range();
        for seed in 1..=40u64 {
            let mut rng = Rng(0xDEAD_BEEF ^ (seed * 7919));
            let n = [60, 300, 1_000, 3_000, 10_000][seed as usize % 5];
            let (t, b) = split(&noise(&mut rng, n));
            assert_eq!(
                hidden_beacon(&cfg, &t, &b, min, max),
                None,
                "seed {seed}, {n} connections"
            );
        }
    }

    /// Bursty benign use (sessions of a few quick connections at random
    /// times of a working day) is not periodic either.
    #[test]
    fn bursty_sessions_have_no_hidden_beacon() {
        let cfg = BeaconConfig::default();
        let (min, max) = range();
        for seed in 1..=20u64 {
            let mut rng = Rng(0xC0FFEE ^ (seed * 104_729));
            let mut v = Vec::new();
            for _ in 0..(50 + seed as usize * 20) {
                let start = T0 + 8 * 3600 + (rng.next() * 9.0 * 3600.0) as u32;
                let k = 1 + (rng.next() * 12.0) as u32;
                let mut s = start;
                for _ in 0..k {
                    v.push((s, 500.0 + rng.next() * 5_000.0));
                    s += 1 + (rng.next() * 40.0) as u32;
                }
            }
            let (t, b) = split(&v);
            assert_eq!(hidden_beacon(&cfg, &t, &b, min, max), None, "seed {seed}");
        }
    }
}
