//! Norwegian national identity numbers (fødselsnummer): synthetic ones for
//! the simulation, and validation of any.
//!
//! An 11-digit number `DDMMYYIIIKK`: birth date, individual number (whose
//! range encodes the century), and two mod-11 check digits. D-numbers add 40
//! to the day; synthetic test numbers add 80 to the month (Skatteetaten's
//! convention), so a synthetic number can never be a real person's.

/// What kind of identity number it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NinKind {
    /// An ordinary birth number.
    Birth,
    /// A D-number (day + 40).
    DNumber,
    /// A synthetic test number (month + 80).
    Synthetic,
    /// A synthetic D-number.
    SyntheticD,
}

const W1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

fn check(digits: &[u32], weights: &[u32]) -> Option<u32> {
    let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        k => Some(k),
    }
}

/// Why a number is not a valid identity number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NinError {
    /// Not eleven digits.
    #[error("not 11 digits")]
    Length,
    /// A check digit does not match.
    #[error("check digit {0} is wrong")]
    Check(u8),
    /// The date part is not a date.
    #[error("the date part is not a date")]
    Date,
}

/// Validates a number: both check digits and a plausible date; returns its kind.
pub fn validate(nin: &str) -> Result<NinKind, NinError> {
    let d: Vec<u32> = nin.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 11 || nin.len() != 11 {
        return Err(NinError::Length);
    }
    if check(&d[..9], &W1) != Some(d[9]) {
        return Err(NinError::Check(1));
    }
    if check(&d[..10], &W2) != Some(d[10]) {
        return Err(NinError::Check(2));
    }
    let mut day = d[0] * 10 + d[1];
    let mut month = d[2] * 10 + d[3];
    let dnum = day > 40;
    if dnum {
        day -= 40;
    }
    let synthetic = month > 80;
    if synthetic {
        month -= 80;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(NinError::Date);
    }
    Ok(match (dnum, synthetic) {
        (false, false) => NinKind::Birth,
        (true, false) => NinKind::DNumber,
        (false, true) => NinKind::Synthetic,
        (true, true) => NinKind::SyntheticD,
    })
}

/// A synthetic number for a birth date, with `individual` (0..=999) chosen so
/// that the check digits exist; tries the next individual numbers when the
/// first gives a check digit of 10. `None` if no individual in the century's
/// range works (it never happens in practice).
pub fn synthetic(year: i32, month: u32, day: u32, individual: u32) -> Option<String> {
    // Individual numbers 000-499 for 1900-1999, 500-999 for 2000-2039.
    let (lo, hi) = if year >= 2000 { (500, 999) } else { (0, 499) };
    let span = hi - lo + 1;
    let yy = (year.rem_euclid(100)) as u32;
    for step in 0..span {
        let i = lo + (individual + step) % span;
        let mut d = vec![
            day / 10,
            day % 10,
            (month + 80) / 10,
            (month + 80) % 10,
            yy / 10,
            yy % 10,
            i / 100,
            i / 10 % 10,
            i % 10,
        ];
        let Some(k1) = check(&d, &W1) else { continue };
        d.push(k1);
        let Some(k2) = check(&d, &W2) else { continue };
        d.push(k2);
        return Some(d.iter().map(|x| char::from(b'0' + *x as u8)).collect());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_numbers_validate() {
        for (i, (y, m, d)) in [(1950, 1, 31), (1999, 12, 1), (2005, 6, 15), (1980, 2, 29)]
            .into_iter()
            .enumerate()
        {
            let n = synthetic(y, m, d, i as u32 * 37).unwrap();
            assert_eq!(validate(&n), Ok(NinKind::Synthetic), "{n}");
            assert!(n[2..4].parse::<u32>().unwrap() > 80);
        }
    }

    #[test]
    fn invalid_numbers_are_told_apart() {
        let n = synthetic(1970, 5, 17, 123).unwrap();
        let mut bad = n.clone().into_bytes();
        bad[10] = if bad[10] == b'9' { b'0' } else { bad[10] + 1 };
        assert_eq!(
            validate(std::str::from_utf8(&bad).unwrap()),
            Err(NinError::Check(2))
        );
        assert_eq!(validate("123"), Err(NinError::Length));
        // A well-known published test number (ordinary birth number form).
        assert!(validate("01010112345").is_err());
    }
}
