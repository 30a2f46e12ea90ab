//! Norwegian national identity numbers (fødselsnummer) and D-numbers:
//! validation, and synthetic numbers for test data.
//!
//! An 11-digit number `DDMMYYIIIKK`: birth date, individual number (whose
//! range gives the century), and two mod-11 check digits. D-numbers (given
//! to people without a birth number) add 40 to the day; H-numbers (assigned
//! by health services) add 40 to the month; synthetic test numbers add 80 to
//! the month (Skatteetaten's convention), so a synthetic number can never be
//! a real person's.

/// What kind of identity number it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NinKind {
    /// An ordinary birth number.
    Birth,
    /// A D-number (day + 40).
    DNumber,
    /// An H-number (month + 40).
    HNumber,
    /// A synthetic test number (month + 80).
    Synthetic,
    /// A synthetic D-number (day + 40, month + 80).
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

/// The century of a two-digit year given the individual number, as the
/// population register assigns them; `None` for combinations not in use.
fn century(yy: u32, individual: u32) -> Option<i32> {
    match individual {
        0..=499 => Some(1900),
        500..=749 if yy >= 54 => Some(1800),
        500..=999 if yy <= 39 => Some(2000),
        900..=999 if yy >= 40 => Some(1900),
        _ => None,
    }
}

fn days_in(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Validates a number: both check digits, and a real date in the century
/// its individual number gives; returns its kind.
pub fn validate(nin: &str) -> Result<NinKind, NinError> {
    if nin.len() != 11 || !nin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NinError::Length);
    }
    let d: Vec<u32> = nin.bytes().map(|b| u32::from(b - b'0')).collect();
    if check(&d[..9], &W1) != Some(d[9]) {
        return Err(NinError::Check(1));
    }
    if check(&d[..10], &W2) != Some(d[10]) {
        return Err(NinError::Check(2));
    }
    let mut day = d[0] * 10 + d[1];
    let mut month = d[2] * 10 + d[3];
    let yy = d[4] * 10 + d[5];
    let individual = d[6] * 100 + d[7] * 10 + d[8];
    let dnum = day > 40;
    if dnum {
        day -= 40;
    }
    let (synthetic, hnum) = match month {
        81..=92 => (true, false),
        41..=52 => (false, true),
        _ => (false, false),
    };
    if synthetic {
        month -= 80;
    } else if hnum {
        month -= 40;
    }
    let year = century(yy, individual).ok_or(NinError::Date)? + yy as i32;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(year, month) {
        return Err(NinError::Date);
    }
    Ok(match (dnum, synthetic, hnum) {
        (true, true, _) => NinKind::SyntheticD,
        (false, true, _) => NinKind::Synthetic,
        (true, false, _) => NinKind::DNumber,
        (false, false, true) => NinKind::HNumber,
        (false, false, false) => NinKind::Birth,
    })
}

/// Whether a string looks like an identity number (eleven digits, alone):
/// what a scan for leaked identifiers looks for.
pub fn looks_like(s: &str) -> bool {
    s.len() == 11 && s.bytes().all(|b| b.is_ascii_digit())
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

    /// Appends both check digits to nine digits (`None` when one would be 10).
    fn complete(nine: &str) -> Option<String> {
        let mut d: Vec<u32> = nine.bytes().map(|b| u32::from(b - b'0')).collect();
        d.push(check(&d, &W1)?);
        d.push(check(&d, &W2)?);
        Some(d.iter().map(|x| char::from(b'0' + *x as u8)).collect())
    }

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
    fn kinds_dates_and_centuries() {
        // Birth number, 17 May 1970.
        let any = |date: &str| {
            (100..499)
                .find_map(|i| complete(&format!("{date}{i}")))
                .unwrap()
        };
        let b = any("170570");
        assert_eq!(validate(&b), Ok(NinKind::Birth));
        // D-number: day + 40.
        let dn = any("570570");
        assert_eq!(validate(&dn), Ok(NinKind::DNumber));
        // H-number: month + 40.
        let h = any("174570");
        assert_eq!(validate(&h), Ok(NinKind::HNumber));
        // Synthetic D-number.
        let sd = any("578570");
        assert_eq!(validate(&sd), Ok(NinKind::SyntheticD));
        // 29 February: 2000 was a leap year (individual 500+ with year 00), 1900 was not.
        let leap = (500..999)
            .find_map(|i| complete(&format!("290200{i}")))
            .unwrap();
        assert_eq!(validate(&leap), Ok(NinKind::Birth));
        let not_leap = (0..499)
            .find_map(|i| complete(&format!("290200{i:03}")))
            .unwrap();
        assert_eq!(validate(&not_leap), Err(NinError::Date));
        // 31 April never.
        let apr = (0..499)
            .find_map(|i| complete(&format!("310470{i:03}")))
            .unwrap();
        assert_eq!(validate(&apr), Err(NinError::Date));
        // Individual 750-899 with year 40-99 is not in use.
        let unused = (750..899)
            .find_map(|i| complete(&format!("010170{i}")))
            .unwrap();
        assert_eq!(validate(&unused), Err(NinError::Date));
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
        let mut bad1 = n.into_bytes();
        bad1[9] = if bad1[9] == b'9' { b'0' } else { bad1[9] + 1 };
        assert!(validate(std::str::from_utf8(&bad1).unwrap()).is_err());
        assert_eq!(validate("123"), Err(NinError::Length));
        assert_eq!(validate("1234567890a"), Err(NinError::Length));
        assert!(validate("01010112345").is_err());
        assert!(looks_like("01010112345") && !looks_like("0101011234"));
    }
}
