//! Norwegian counties by number: a municipality number's first two digits
//! name its county. Numbers of 2018 (the simulated period), of the 2020
//! reform and of the 2024 split are all known, so that addresses of any
//! period resolve.

/// The county's name for a county number.
pub fn name(number: u8) -> Option<&'static str> {
    Some(match number {
        1 => "Østfold",
        2 => "Akershus",
        3 => "Oslo",
        4 => "Hedmark",
        5 => "Oppland",
        6 => "Buskerud",
        7 => "Vestfold",
        8 => "Telemark",
        9 => "Aust-Agder",
        10 => "Vest-Agder",
        11 => "Rogaland",
        12 => "Hordaland",
        14 => "Sogn og Fjordane",
        15 => "Møre og Romsdal",
        16 => "Sør-Trøndelag",
        17 => "Nord-Trøndelag",
        18 => "Nordland",
        19 => "Troms",
        20 => "Finnmark",
        30 => "Viken",
        31 => "Østfold",
        32 => "Akershus",
        33 => "Buskerud",
        34 => "Innlandet",
        38 => "Vestfold og Telemark",
        39 => "Vestfold",
        40 => "Telemark",
        42 => "Agder",
        46 => "Vestland",
        50 => "Trøndelag",
        54 => "Troms og Finnmark",
        55 => "Troms",
        56 => "Finnmark",
        _ => return None,
    })
}

/// The county of a municipality number (`301` → Oslo), or "unknown".
pub fn of_municipality(municipality: Option<u16>) -> &'static str {
    municipality
        .and_then(|m| name((m / 100) as u8))
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn municipalities_resolve_to_counties() {
        assert_eq!(of_municipality(Some(301)), "Oslo");
        assert_eq!(of_municipality(Some(219)), "Akershus");
        assert_eq!(of_municipality(Some(3024)), "Viken");
        assert_eq!(of_municipality(Some(9999)), "unknown");
        assert_eq!(of_municipality(None), "unknown");
    }
}
