//! Revisions: how a user names a commit.
//!
//! `NAME` (a branch, else a tag, else a commit CID), then at most one of
//! `~N` (the N-th first-parent ancestor) or `@{TIME}`: walking back along
//! first parents, the first commit whose time is within or before TIME.
//! TIME is Unix seconds or `YYYY-MM-DDTHH:MM:SSZ` (that whole second) or a
//! date `YYYY-MM-DD` (that whole day), UTC, years 1970–9999: the log's
//! times, pasted back, find their commit. Times are the commits' own (as
//! their writers set them), not when a branch moved: over commits whose
//! times go back and forth, the walk stops at the first early one.

use crate::HistoryError;

/// A parsed revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The branch, tag or commit CID it starts from.
    pub name: String,
    /// How far back from it.
    pub back: Back,
}

/// How far back along the first parents a revision goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Back {
    /// The named commit itself.
    None,
    /// `~N`: N first parents back.
    Parents(u64),
    /// `@{TIME}`: the newest commit at or before this many milliseconds
    /// since the Unix epoch.
    AtOrBefore(u64),
}

impl std::str::FromStr for Revision {
    type Err = HistoryError;

    fn from_str(text: &str) -> Result<Revision, HistoryError> {
        let bad = |why: &str| HistoryError::BadRevision {
            revision: text.to_owned(),
            why: why.to_owned(),
        };
        let (name, back) = if let Some((name, rest)) = text.split_once("@{") {
            let time = rest
                .strip_suffix('}')
                .ok_or_else(|| bad("`@{` without its closing `}`"))?;
            let start = parse_time(time).ok_or_else(|| {
                bad("the time is not Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (1970-9999)")
            })?;
            // The whole second, or the whole day of a bare date.
            let span = if time.len() == 10 && time.contains('-') {
                86_400_000
            } else {
                1000
            };
            (name, Back::AtOrBefore(start + (span - 1)))
        } else if let Some((name, n)) = text.split_once('~') {
            let n = if n.is_empty() {
                Ok(1)
            } else if n.bytes().all(|b| b.is_ascii_digit()) {
                n.parse()
            } else {
                return Err(bad("`~` takes a count, and nothing after it"));
            };
            (
                name,
                Back::Parents(n.map_err(|_| bad("`~` takes a count"))?),
            )
        } else {
            (text, Back::None)
        };
        if name.is_empty() {
            return Err(bad("no branch, tag or commit before it"));
        }
        if name.contains(['~', '@', '{', '}']) {
            return Err(bad("one `~N` or `@{TIME}` at most, at the end"));
        }
        Ok(Revision {
            name: name.to_owned(),
            back,
        })
    }
}

/// Milliseconds since the Unix epoch of a time written as Unix seconds,
/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn parse_time(text: &str) -> Option<u64> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().ok()?.checked_mul(1000);
    }
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day).checked_mul(86_400)?;
    if let Some(time) = time {
        let mut hms = time.splitn(3, ':');
        let h: i64 = hms.next()?.parse().ok()?;
        let m: i64 = hms.next()?.parse().ok()?;
        let s: i64 = hms.next()?.parse().ok()?;
        if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&s) {
            return None;
        }
        seconds = seconds.checked_add(h * 3600 + m * 60 + s)?;
    }
    u64::try_from(seconds).ok()?.checked_mul(1000)
}

/// A time in milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`
/// (what [`parse_time`] reads back, to the second).
pub fn format_time(ms: u64) -> String {
    let seconds = ms / 1000;
    let (days, in_day) = (seconds / 86_400, seconds % 86_400);
    // Days since 1970-01-01 to a civil date: the inverse era arithmetic.
    let z = i64::try_from(days).unwrap_or(i64::MAX / 2) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (the well-known era arithmetic: 400-year eras of 146,097 days).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_parse() {
        let rev = |s: &str| s.parse::<Revision>();
        assert_eq!(rev("main").unwrap().back, Back::None);
        assert_eq!(rev("main~").unwrap().back, Back::Parents(1));
        assert_eq!(rev("main~12").unwrap().back, Back::Parents(12));
        assert_eq!(
            rev("v1@{86400}").unwrap().back,
            Back::AtOrBefore(86_400_999)
        );
        let day = rev("v1@{1970-01-02}").unwrap().back;
        assert_eq!(day, Back::AtOrBefore(2 * 86_400_000 - 1));
        assert_eq!(rev("v1@{86400}").unwrap().name, "v1");
        for bad in [
            "",
            "~1",
            "main~x",
            "main~+3",
            "main~1@{5}",
            "main@{",
            "main@{yesterday}",
            "@{1}",
            "main@{99999-01-01}",
        ] {
            assert!(
                matches!(rev(bad), Err(HistoryError::BadRevision { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn times_parse_as_utc() {
        assert_eq!(parse_time("0"), Some(0));
        assert_eq!(parse_time("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_time("2000-03-01"), Some(951_868_800_000));
        assert_eq!(parse_time("2026-12-07T23:59:59Z"), Some(1_796_687_999_000));
        assert_eq!(parse_time("2024-02-29"), Some(1_709_164_800_000));
        for text in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T12:34:56Z",
            "2026-12-07T23:59:59Z",
            "2400-03-01T00:00:01Z",
        ] {
            assert_eq!(format_time(parse_time(text).unwrap()), text);
        }
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-12-07T24:00:00Z",
            "2026-12-07T10:00:00",
            "x",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
