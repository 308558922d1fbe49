//! Fixed-offset time zones as fail2ban 1.0.2 understands them.
//!
//! fail2ban has no zone database: `logtimezone`, `--timezone` and the
//! `%z`/`%Z` fields of a log line are all read as "abbreviation and/or
//! `[+-]hh[[:]mm]`" and turned into an offset in minutes, with a fixed
//! table of abbreviations (no DST switching: CET is always +01:00).

use crate::py::{py_digit, py_int};

/// Abbreviation → offset in hours, fail2ban's table (zone names whose
/// spelling fail2ban's parser can never accept, e.g. `ChST`, are kept: a
/// lookup just never reaches them).
const ABBREVIATIONS: &[(f64, &[&str])] = &[
    (-12.0, &["Y"]),
    (-11.0, &["X", "NUT", "SST"]),
    (-10.0, &["W", "CKT", "HAST", "HST", "TAHT", "TKT"]),
    (-9.0, &["V", "AKST", "GAMT", "GIT", "HADT", "HNY"]),
    (-8.0, &["U", "AKDT", "CIST", "HAY", "HNP", "PST", "PT"]),
    (-7.0, &["T", "HAP", "HNR", "MST", "PDT"]),
    (-6.0, &["S", "CST", "EAST", "GALT", "HAR", "HNC", "MDT"]),
    (
        -5.0,
        &[
            "R", "CDT", "COT", "EASST", "ECT", "EST", "ET", "HAC", "HNE", "PET",
        ],
    ),
    (
        -4.0,
        &[
            "Q", "AST", "BOT", "CLT", "COST", "EDT", "FKT", "GYT", "HAE", "HNA", "PYT",
        ],
    ),
    (
        -3.0,
        &[
            "P", "ADT", "ART", "BRT", "CLST", "FKST", "GFT", "HAA", "PMST", "PYST", "SRT", "UYT",
            "WGT",
        ],
    ),
    (-2.0, &["O", "BRST", "FNT", "PMDT", "UYST", "WGST"]),
    (-1.0, &["N", "AZOT", "CVT", "EGT"]),
    (0.0, &["Z", "EGST", "GMT", "UTC", "WET", "WT"]),
    (1.0, &["A", "CET", "DFT", "WAT", "WEDT", "WEST"]),
    (2.0, &["B", "CAT", "CEDT", "CEST", "EET", "SAST", "WAST"]),
    (3.0, &["C", "EAT", "EEDT", "EEST", "IDT", "MSK"]),
    (
        4.0,
        &[
            "D", "AMT", "AZT", "GET", "GST", "KUYT", "MSD", "MUT", "RET", "SAMT", "SCT",
        ],
    ),
    (
        5.0,
        &[
            "E", "AMST", "AQTT", "AZST", "HMT", "MAWT", "MVT", "PKT", "TFT", "TJT", "TMT", "UZT",
            "YEKT",
        ],
    ),
    (
        6.0,
        &[
            "F", "ALMT", "BIOT", "BTT", "IOT", "KGT", "NOVT", "OMST", "YEKST",
        ],
    ),
    (
        7.0,
        &[
            "G", "CXT", "DAVT", "HOVT", "ICT", "KRAT", "NOVST", "OMSST", "THA", "WIB",
        ],
    ),
    (
        8.0,
        &[
            "H", "ACT", "AWST", "BDT", "BNT", "CAST", "HKT", "IRKT", "KRAST", "MYT", "PHT", "SGT",
            "ULAT", "WITA", "WST",
        ],
    ),
    (
        9.0,
        &[
            "I", "AWDT", "IRKST", "JST", "KST", "PWT", "TLT", "WDT", "WIT", "YAKT",
        ],
    ),
    (10.0, &["K", "AEST", "ChST", "PGT", "VLAT", "YAKST", "YAPT"]),
    (
        11.0,
        &[
            "L", "AEDT", "LHDT", "MAGT", "NCT", "PONT", "SBT", "VLAST", "VUT",
        ],
    ),
    (
        12.0,
        &[
            "M", "ANAST", "ANAT", "FJT", "GILT", "MAGST", "MHT", "NZST", "PETST", "PETT", "TVT",
            "WFT",
        ],
    ),
    (13.0, &["FJST", "NZDT"]),
    (11.5, &["NFT"]),
    (10.5, &["ACDT", "LHST"]),
    (9.5, &["ACST"]),
    (6.5, &["CCT", "MMT"]),
    (5.75, &["NPT"]),
    (5.5, &["SLT"]),
    (4.5, &["AFT", "IRDT"]),
    (3.5, &["IRST"]),
    (-2.5, &["HAT", "NDT"]),
    (-3.5, &["HNT", "NST", "NT"]),
    (-4.5, &["HLV", "VET"]),
    (-9.5, &["MART", "MIT"]),
];

fn abbreviation_minutes(abbr: &str) -> Option<i32> {
    ABBREVIATIONS
        .iter()
        .find(|(_, names)| names.contains(&abbr))
        .map(|(hours, _)| (hours * 60.0) as i32)
}

/// Offset in minutes east of UTC for a zone text, or `None` where
/// fail2ban's `validateTimeZone` raises (bad syntax or unknown
/// abbreviation). Accepts `UTC`, `Z`, `CET`, `UTC+0200`, `+01`, `-05:30`,
/// `CEST-0100` and the empty string (offset 0, as fail2ban).
pub(crate) fn offset_minutes(tz: &str) -> Option<i32> {
    // Python's `$` also matches before one final newline.
    let tz = tz.strip_suffix('\n').unwrap_or(tz);
    let letters = tz.bytes().take_while(u8::is_ascii_uppercase).count();
    let (abbr, rest) = tz.split_at(letters);
    if !matches!(abbr.len(), 0 | 1 | 3..=5) {
        return None;
    }
    let base = if abbr.is_empty() {
        0
    } else {
        abbreviation_minutes(abbr)?
    };
    if rest.is_empty() {
        return Some(base);
    }
    let chars: Vec<char> = rest.chars().collect();
    let sign = match chars[0] {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    if chars.len() < 3 || !matches!(chars[1], '0' | '1') || py_digit(chars[2]).is_none() {
        return None;
    }
    let hours = py_int(&rest[..rest.char_indices().nth(3).map_or(rest.len(), |(i, _)| i)])?;
    let minutes_text: String = match chars.len() {
        3 => return Some(base + (hours * 60) as i32),
        5 => chars[3..5].iter().collect(),
        6 if chars[3] == ':' => chars[4..6].iter().collect(),
        _ => return None,
    };
    if minutes_text.chars().any(|c| py_digit(c).is_none()) {
        return None;
    }
    let hh = py_int(&chars[1..3].iter().collect::<String>())?;
    let mm = py_int(&minutes_text)?;
    Some(base + sign * (hh * 60 + mm) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!(offset_minutes("UTC"), Some(0));
        assert_eq!(offset_minutes("Z"), Some(0));
        assert_eq!(offset_minutes("GMT"), Some(0));
        assert_eq!(offset_minutes(""), Some(0));
        assert_eq!(offset_minutes("CET"), Some(60));
        assert_eq!(offset_minutes("UTC+0200"), Some(120));
        assert_eq!(offset_minutes("UTC-02"), Some(-120));
        assert_eq!(offset_minutes("+0100"), Some(60));
        assert_eq!(offset_minutes("-05:30"), Some(-330));
        assert_eq!(offset_minutes("-01"), Some(-60));
        assert_eq!(offset_minutes("CEST-0100"), Some(60));
        assert_eq!(offset_minutes("NPT"), Some(345));
        assert_eq!(offset_minutes("NST"), Some(-210));
        assert_eq!(offset_minutes("+0199"), Some(159));
    }

    #[test]
    fn rejected_forms() {
        for tz in [
            "Europe/Paris",
            "utc",
            "ABC",
            "AB",
            "ABCDEF",
            "+2",
            "+200",
            "+010",
            "+01:0",
            "+0100x",
            "UTC +01",
            "ChST",
        ] {
            assert_eq!(offset_minutes(tz), None, "{tz}");
        }
    }
}
