//! Beacon scoring as RITA v5 does it, for one source→destination pair:
//!
//! - **timestamp** part: the intervals between connections (zero intervals
//!   dropped) scored by Bowley skewness and by the median absolute deviation
//!   about the median, averaged;
//! - **data size** part: the same over bytes sent by the source;
//! - **histogram** part: connections per hour over the dataset's span in 24
//!   bins; the better of a flatness score (1 − coefficient of variation) and
//!   a bimodal fit (share of hours in the two commonest bar heights);
//! - **duration** part: the better of coverage (first to last connection over
//!   the dataset span) and consistency (longest run of hours with
//!   connections, wrapping, over 12);
//! - the score: the four parts weighted 0.25 each, rounded to three decimals;
//!   0.5 / 0.7 / 0.9 are RITA's low / medium / high thresholds.
//!
//! The scoring functions are checked against the known answers of RITA's own
//! unit tests (`analysis/beacons_test.go`).

use rustc_hash::FxHashMap;

use crate::stats::{mad, median, quartiles, round3};

pub use crate::pairs::{
    BeaconFinding, BeaconTracker, MAX_PER_PAIR, PairState, STROBE_CONNECTIONS, Strobe, expire_pair,
    sorted_gaps,
};

/// Why a pair cannot be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    /// Too few connections.
    #[error("too few connections: {0}")]
    TooFew(&'static str),
    /// The dataset's time range is empty.
    #[error("the dataset time range is empty")]
    EmptyRange,
}

/// RITA's scoring settings (its defaults).
#[derive(Debug, Clone)]
pub struct BeaconConfig {
    /// Weights of the timestamp, data size, duration and histogram parts.
    pub weights: [f64; 4],
    /// Hours with connections needed before the duration part counts.
    pub dur_min_hours: usize,
    /// Consecutive hours that make a perfect consistency.
    pub dur_ideal_consistent_hours: usize,
    /// Bar heights within this share of the tallest are one mode.
    pub hist_mode_sensitivity: f64,
    /// Bars left out of the bimodal fit as outliers.
    pub hist_bimodal_outlier_removal: usize,
    /// Hours with connections needed before the bimodal fit counts.
    pub hist_bimodal_min_hours: usize,
    /// Distinct connection times a pair needs to be scored.
    pub min_unique_timestamps: usize,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        BeaconConfig {
            weights: [0.25; 4],
            dur_min_hours: 6,
            dur_ideal_consistent_hours: 12,
            hist_mode_sensitivity: 0.05,
            hist_bimodal_outlier_removal: 1,
            hist_bimodal_min_hours: 11,
            min_unique_timestamps: 4,
        }
    }
}

/// The parts and the whole of a beacon score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeaconScore {
    /// The weighted score, 0..=1.
    pub score: f64,
    /// Timestamp regularity.
    pub ts: f64,
    /// Data size regularity.
    pub ds: f64,
    /// Hourly histogram shape.
    pub hist: f64,
    /// Duration and consistency.
    pub dur: f64,
}

/// Skewness, median absolute deviation, and the combined regularity score of
/// sorted values (`default_mad_score` when the median is below 1).
pub fn statistical_score(sorted: &[f64], default_mad_score: f64) -> Option<(f64, f64, f64)> {
    let (q1, q2, q3) = quartiles(sorted)?;
    let den = q3 - q1;
    let skew = if den >= 10.0 && q2 != q1 && q2 != q3 {
        (q1 + q3 - 2.0 * q2) / den
    } else {
        0.0
    };
    let skew_score = 1.0 - skew.abs();
    let m = median(sorted)?;
    let dev = mad(sorted)?;
    let mut mad_score = if m >= 1.0 {
        (m - dev) / m
    } else {
        default_mad_score
    };
    if mad_score < 0.0 || mad_score.is_nan() {
        mad_score = 0.0;
    }
    Some((round3((skew_score + mad_score) / 2.0), skew, dev))
}

/// The timestamp part from connection times in seconds (sorted or not).
pub fn timestamp_score(ts: &[u32]) -> Result<f64, ScoreError> {
    if ts.len() < 4 {
        return Err(ScoreError::TooFew("at least 4 timestamps"));
    }
    let mut sorted = ts.to_vec();
    sorted.sort_unstable();
    let mut deltas: Vec<f64> = sorted.windows(2).map(|w| f64::from(w[1] - w[0])).collect();
    if deltas.iter().filter(|d| **d > 0.0).count() < 3 {
        return Err(ScoreError::TooFew("at least 3 non-zero intervals"));
    }
    deltas.sort_by(f64::total_cmp);
    let nonzero: Vec<f64> = deltas.into_iter().filter(|d| *d > 0.0).collect();
    statistical_score(&nonzero, 1.0)
        .map(|s| s.0)
        .ok_or(ScoreError::TooFew("intervals"))
}

/// The data size part from bytes sent per connection.
pub fn data_size_score(bytes: &[f64]) -> Result<f64, ScoreError> {
    if bytes.len() < 3 {
        return Err(ScoreError::TooFew("at least 3 sizes"));
    }
    let mut sorted = bytes.to_vec();
    sorted.sort_by(f64::total_cmp);
    statistical_score(&sorted, 0.0)
        .map(|s| s.0)
        .ok_or(ScoreError::TooFew("sizes"))
}

/// Connections per bin over `[min, max]` in `bins` equal bins; the last
/// timestamp on the upper edge counts in the last bin, earlier ones in the first.
pub fn histogram(min: i64, max: i64, ts: &[u32], bins: usize) -> Result<Vec<u32>, ScoreError> {
    if max <= min || bins == 0 {
        return Err(ScoreError::EmptyRange);
    }
    let step = (max - min) as f64 / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| min as f64 + i as f64 * step).collect();
    edges[bins] = max as f64;
    let mut sorted = ts.to_vec();
    sorted.sort_unstable();
    let mut hist = vec![0u32; bins];
    let mut bin = 0usize;
    for t in sorted {
        let t = f64::from(t);
        while bin + 1 < bins && t >= edges[bin + 1] {
            bin += 1;
        }
        hist[bin] += 1;
    }
    Ok(hist)
}

/// Bars, their frequency counts by height class, and the longest run of
/// non-empty bars (wrapping around once).
fn frequency_counts(hist: &[u32], sensitivity: f64) -> (FxHashMap<u64, u32>, usize, usize) {
    let total_bars = hist.iter().filter(|b| **b > 0).count();
    let largest = hist.iter().copied().max().unwrap_or(0);
    let bin_size = (f64::from(largest) * sensitivity).ceil().max(1.0);
    let mut freq: FxHashMap<u64, u32> = FxHashMap::default();
    let (mut longest, mut run) = (0usize, 0usize);
    for i in 0..hist.len() * 2 {
        let bar = hist[i % hist.len()];
        if bar > 0 {
            run += 1;
        } else {
            longest = longest.max(run);
            run = 0;
        }
        if i < hist.len() && bar > 0 {
            let class = ((f64::from(bar) / bin_size).floor() * bin_size) as u64;
            *freq.entry(class).or_default() += 1;
        }
    }
    longest = longest.max(run).min(hist.len());
    (freq, total_bars, longest)
}

/// The histogram part, and the bar count and longest run the duration part needs.
pub fn histogram_score(
    cfg: &BeaconConfig,
    min: i64,
    max: i64,
    ts: &[u32],
) -> Result<(f64, usize, usize), ScoreError> {
    if ts.is_empty() {
        return Err(ScoreError::TooFew("no timestamps"));
    }
    let hist = histogram(min, max, ts, 24)?;
    let (freq, total_bars, longest) = frequency_counts(&hist, cfg.hist_mode_sensitivity);
    // Flatness: one minus the coefficient of variation.
    let n = hist.len() as f64;
    let mean = hist.iter().map(|b| f64::from(*b)).sum::<f64>() / n;
    let sd = (hist
        .iter()
        .map(|b| (f64::from(*b) - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let cv = sd / mean.abs();
    let cv_score = if cv > 1.0 {
        0.0
    } else {
        round3(1.0 - cv).min(1.0)
    };
    // Bimodal fit: the share of bars in the two commonest height classes.
    let min_hours = if cfg.hist_bimodal_min_hours < 6 {
        11
    } else {
        cfg.hist_bimodal_min_hours
    };
    let mut fit = 0.0;
    if total_bars >= min_hours {
        let (mut first, mut second) = (0u32, 0u32);
        for v in freq.values() {
            if *v > first {
                second = first;
                first = *v;
            } else if *v > second {
                second = *v;
            }
        }
        let adjusted =
            (total_bars.saturating_sub(cfg.hist_bimodal_outlier_removal) as f64).max(1.0);
        fit = f64::from(first + second) / adjusted;
    }
    let bimodal = round3(fit).min(1.0);
    Ok((cv_score.max(bimodal), total_bars, longest))
}

/// The duration part.
#[allow(clippy::too_many_arguments)]
pub fn duration_score(
    cfg: &BeaconConfig,
    dataset_min: i64,
    dataset_max: i64,
    first: i64,
    last: i64,
    total_bars: usize,
    longest_run: usize,
) -> Result<f64, ScoreError> {
    if dataset_max <= dataset_min
        || last <= first
        || cfg.dur_min_hours < 1
        || cfg.dur_ideal_consistent_hours < 1
    {
        return Err(ScoreError::EmptyRange);
    }
    if total_bars < cfg.dur_min_hours {
        return Ok(0.0);
    }
    let coverage =
        (((last - first) as f64 / (dataset_max - dataset_min) as f64) * 1000.0).ceil() / 1000.0;
    let consistency =
        ((longest_run as f64 / cfg.dur_ideal_consistent_hours as f64) * 1000.0).ceil() / 1000.0;
    Ok(coverage.min(1.0).max(consistency.min(1.0)))
}

/// The weighted score.
pub fn weighted(weights: [f64; 4], parts: [f64; 4]) -> f64 {
    round3(weights.iter().zip(parts).map(|(w, p)| w * p).sum())
}

/// Scores one pair: its connection times (seconds) and bytes sent, within the
/// dataset's time range.
pub fn score(
    cfg: &BeaconConfig,
    ts: &[u32],
    bytes: &[f64],
    dataset_min: i64,
    dataset_max: i64,
) -> Result<BeaconScore, ScoreError> {
    let mut unique = ts.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() < cfg.min_unique_timestamps {
        return Err(ScoreError::TooFew("distinct connection times"));
    }
    let t = timestamp_score(ts)?;
    let d = data_size_score(bytes)?;
    let (h, bars, run) = histogram_score(cfg, dataset_min, dataset_max, ts)?;
    let first = i64::from(unique[0]);
    let last = i64::from(unique[unique.len() - 1]);
    let u = duration_score(cfg, dataset_min, dataset_max, first, last, bars, run)?;
    Ok(BeaconScore {
        score: weighted(cfg.weights, [t, d, u, h]),
        ts: t,
        ds: d,
        hist: h,
        dur: u,
    })
}

/// Jitter-tolerant period estimation: the period is the median interval;
/// the fit is the share of intervals within a quarter period of one, two or
/// three periods (a jittered beacon, also one that skips a beat, is near 1;
/// random arrivals are near 0.3, since exponential intervals fall in those
/// windows with probability 2^-0.75 - 2^-1.25 + 2^-1.75 - 2^-2.25 + 2^-2.75
/// - 2^-3.25 = 0.305). `gaps` are the positive intervals, sorted.
pub fn period_fit(gaps: &[f64]) -> (f64, f64) {
    let Some(period) = median(gaps).filter(|p| *p > 0.0) else {
        return (0.0, 0.0);
    };
    let fitting = gaps
        .iter()
        .filter(|g| {
            let r = *g / period;
            let k = r.round();
            (1.0..=3.0).contains(&k) && (r - k).abs() <= 0.25
        })
        .count();
    (period, fitting as f64 / gaps.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jittered beacons fit their period; random arrivals do not.
    #[test]
    fn period_fit_tolerates_jitter_and_missed_beats_but_not_randomness() {
        let mut x: u64 = 7;
        let mut uniform = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        // 300 s with ±20% jitter, every tenth beat missed.
        let mut gaps: Vec<f64> = (0..500)
            .map(|i| {
                let g = 300.0 * (0.8 + 0.4 * uniform());
                if i % 10 == 0 { g + 300.0 } else { g }
            })
            .collect();
        gaps.sort_by(f64::total_cmp);
        let (period, fit) = period_fit(&gaps);
        assert!((270.0..330.0).contains(&period), "{period}");
        assert!(fit > 0.95, "{fit}");
        // Exponential intervals (a Poisson process): fit near 0.305.
        let mut gaps: Vec<f64> = (0..5000).map(|_| -300.0 * (1.0 - uniform()).ln()).collect();
        gaps.sort_by(f64::total_cmp);
        let (_, fit) = period_fit(&gaps);
        assert!((0.25..0.36).contains(&fit), "{fit}");
    }

    /// A pair with RITA's strobe limit of connections is a strobe, not a beacon.
    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.001
    }

    /// Known answers from RITA's `TestGetTimestampScore`.
    #[test]
    fn timestamp_scores_match_rita() {
        let cases: &[(&[u32], f64)] = &[
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 1.0),
            (
                &[
                    1517338924, 1517338984, 1517339044, 1517339104, 1517339164, 1517339224,
                    1517339284, 1517339344, 1517339404, 1517339464,
                ],
                1.0,
            ),
            (
                &[
                    1517338924, 1517339022, 1517339121, 1517339220, 1517339320, 1517339420,
                    1517339520, 1517339621, 1517339722, 1517339824,
                ],
                0.995,
            ),
            (
                &[
                    1517338924, 1517339022, 1517339322, 1517339420, 1517339720, 1517339818,
                    1517340118, 1517340216, 1517340516, 1517340614, 1517340914,
                ],
                0.746,
            ),
            (
                &[
                    1517338924, 1517338925, 1517339224, 1517339249, 1517344224, 1517344314,
                    1517344316, 1517344358, 1517344858, 1517346358,
                ],
                0.083,
            ),
        ];
        for (ts, want) in cases {
            let got = timestamp_score(ts).unwrap();
            assert!(near(got, *want), "{ts:?}: {got} != {want}");
        }
        assert!(timestamp_score(&[60; 9]).is_err());
        assert!(timestamp_score(&[1517338924, 1517338925]).is_err());
    }

    /// Known answers from RITA's `TestGetDataSizeScore` and `TestCalculateStatisticalScore`.
    #[test]
    fn data_size_and_statistical_scores_match_rita() {
        let cases: &[(&[f64], f64)] = &[
            (&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.773),
            (&[60.0; 9], 1.0),
            (
                &[98.0, 99.0, 99.0, 100.0, 100.0, 100.0, 101.0, 101.0, 102.0],
                0.995,
            ),
            (
                &[524885.0, 1.0, 5000.0, 98654.0, 50.0, 41.0, 965842.0, 3.0],
                0.008,
            ),
            (&[0.0; 10], 0.5),
        ];
        for (b, want) in cases {
            let got = data_size_score(b).unwrap();
            assert!(near(got, *want), "{b:?}: {got} != {want}");
        }
        assert!(data_size_score(&[100.0, 200.0]).is_err());
        let sorted = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v
        };
        let s = statistical_score(
            &sorted(&[1.0, 299.0, 25.0, 4975.0, 90.0, 2.0, 42.0, 500.0, 1500.0]),
            1.0,
        )
        .unwrap();
        assert!(
            near(s.0, 0.083) && near(s.1, 0.845) && near(s.2, 89.0),
            "{s:?}"
        );
        assert_eq!(
            statistical_score(&sorted(&[7.0, 8.0, 7.0, 8.0, 7.0, 8.0, 7.0, 8.0, 7.0]), 1.0)
                .map(|s| s.0),
            Some(1.0)
        );
        assert_eq!(
            statistical_score(&sorted(&[1.0, 1.0, 2.0, 2.0, 2.0, 2.0]), 1.0).map(|s| s.0),
            Some(1.0)
        );
        assert_eq!(
            statistical_score(&sorted(&[0.0; 10]), 1.0).map(|s| s.0),
            Some(1.0)
        );
    }

    /// Known answers from RITA's `TestGetDurationScore` and `TestGetBeaconScore`.
    #[test]
    fn duration_and_weighted_scores_match_rita() {
        let cfg = BeaconConfig::default();
        let base = 1517338924i64;
        let day = base + 24 * 3600;
        let h = |n: i64| base + n * 3600;
        for (first, last, bars, run, want) in [
            (base, day, 24, 24, 1.0),
            (base, day, 6, 0, 1.0),
            (h(12), day, 6, 0, 0.5),
            (base, h(12), 6, 0, 0.5),
            (h(6), day, 6, 0, 0.75),
            (h(12), day, 12, 12, 1.0),
            (h(12), h(18), 6, 6, 0.5),
            (h(6), h(18), 12, 6, 0.5),
            (h(6), h(18), 5, 6, 0.0),
        ] {
            assert_eq!(
                duration_score(&cfg, base, day, first, last, bars, run),
                Ok(want),
                "{first} {last} {bars} {run}"
            );
        }
        assert!(near(
            weighted([0.2, 0.2, 0.3, 0.3], [0.8, 0.7, 0.6, 0.5]),
            0.63
        ));
        assert!(near(weighted([0.25; 4], [0.1, 0.2, 0.3, 0.4]), 0.25));
        assert!(near(
            weighted([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]),
            0.30
        ));
        assert!(near(
            weighted([0.173, 0.325, 0.299, 0.203], [0.111, 0.222, 0.333, 0.444]),
            0.281
        ));
    }

    #[test]
    fn histogram_parts() {
        let cfg = BeaconConfig::default();
        // Every minute for a day: flat, full.
        let ts: Vec<u32> = (0..1440).map(|i| 1_000_000 + i * 60).collect();
        let (h, bars, run) = histogram_score(&cfg, 1_000_000, 1_000_000 + 86_400, &ts).unwrap();
        assert_eq!((h, bars, run), (1.0, 24, 24));
        // Alternating 10 and 20 an hour: two modes, a perfect bimodal fit.
        let mut alt = Vec::new();
        for hour in 0..24u32 {
            let n = if hour % 2 == 0 { 10 } else { 20 };
            for k in 0..n {
                alt.push(1_000_000 + hour * 3600 + k * 60);
            }
        }
        let (h, _, _) = histogram_score(&cfg, 1_000_000, 1_000_000 + 86_400, &alt).unwrap();
        assert_eq!(h, 1.0);
        // Three hours of a day: neither flat nor bimodal enough.
        let short: Vec<u32> = (0..180).map(|i| 1_000_000 + i * 60).collect();
        let (h, bars, _) = histogram_score(&cfg, 1_000_000, 1_000_000 + 86_400, &short).unwrap();
        assert_eq!(bars, 3);
        assert!(h < 0.2, "{h}");
    }

    #[test]
    fn a_perfect_beacon_scores_one_and_noise_scores_low() {
        let cfg = BeaconConfig::default();
        let ts: Vec<u32> = (0..1440).map(|i| 1_000_000 + i * 60).collect();
        let bytes = vec![512.0; ts.len()];
        let s = score(&cfg, &ts, &bytes, 1_000_000, 1_000_000 + 86_400).unwrap();
        assert_eq!(s.score, 1.0, "{s:?}");
        let mut x: u64 = 12345;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u32
        };
        let mut noise: Vec<u32> = (0..200).map(|_| 1_000_000 + next() % 86_400).collect();
        noise.sort_unstable();
        let nb: Vec<f64> = (0..200).map(|_| f64::from(next() % 100_000)).collect();
        let n = score(&cfg, &noise, &nb, 1_000_000, 1_000_000 + 86_400).unwrap();
        assert!(n.score < 0.7, "{n:?}");
    }
}
