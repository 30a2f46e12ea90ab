//! Robust statistics with the conventions RITA's scoring relies on (those of
//! the Go package `montanaflynn/stats`): the median of an even count is the
//! mean of the two middle values; quartiles are the medians of the lower and
//! upper halves, the middle value excluded when the count is odd.

/// The median of sorted values (`None` when empty).
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n.is_multiple_of(2) => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        _ => Some(sorted[n / 2]),
    }
}

/// Q1, Q2, Q3 of sorted values (`None` when empty).
pub fn quartiles(sorted: &[f64]) -> Option<(f64, f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let (lower_end, upper_start) = if n.is_multiple_of(2) {
        (n / 2, n / 2)
    } else {
        ((n - 1) / 2, (n - 1) / 2 + 1)
    };
    // With one value the halves are empty; the median stands for them.
    let q2 = median(sorted)?;
    let q1 = median(&sorted[..lower_end]).unwrap_or(q2);
    let q3 = median(&sorted[upper_start..]).unwrap_or(q2);
    Some((q1, q2, q3))
}

/// The median absolute deviation about the median of sorted values.
pub fn mad(sorted: &[f64]) -> Option<f64> {
    let m = median(sorted)?;
    let mut dev: Vec<f64> = sorted.iter().map(|x| (x - m).abs()).collect();
    dev.sort_by(f64::total_cmp);
    median(&dev)
}

/// Rounds to three decimals, as RITA reports scores.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions() {
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), Some(2.5));
        assert_eq!(
            quartiles(&[1.0, 2.0, 25.0, 42.0, 90.0, 299.0, 500.0, 1500.0, 4975.0]),
            Some((13.5, 90.0, 1000.0))
        );
        assert_eq!(
            quartiles(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
            Some((3.0, 5.5, 8.0))
        );
        assert_eq!(
            mad(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
            Some(2.5)
        );
        assert_eq!(median(&[]), None);
    }
}
