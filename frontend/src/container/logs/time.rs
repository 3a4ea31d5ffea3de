//! Times of log records and of `--since`/`--until`, in nanoseconds since the Unix epoch.
//!
//! `--since`/`--until` take what Docker's `GetTimestamp` takes: a Go duration (`10m`,
//! `1h30m`, `1.5h`: that long before now, whole seconds), an RFC 3339 time with or without
//! fraction, seconds, minutes or zone (`2024-01-02`, `2024-01-02T15:04`,
//! `2024-01-02T15:04:05.5+01:00`; without a zone, the local zone of now), or Unix seconds
//! with an optional fraction (`1704207845.25`).

const NANOS: i64 = 1_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time {value:?}: expected a duration (10m, 1h30m), an RFC 3339 time \
     (2024-01-02, 2024-01-02T15:04:05Z, 2024-01-02T15:04:05.5+01:00) or Unix seconds \
     (1704207845.25)"
)]
pub struct TimeArgError {
    pub value: String,
}

/// Nanoseconds since the Unix epoch now (0 if the clock is before 1970).
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A `--since`/`--until` value, relative to now and the local zone.
pub fn parse_time_arg(value: &str) -> Result<i64, TimeArgError> {
    let now = now_nanos();
    parse_time_arg_at(value, now, local_offset_seconds(now.div_euclid(NANOS)))
}

/// [`parse_time_arg`] with the reference time and the UTC offset of a time without a zone
/// given (Docker uses the zone of the reference time for those).
pub fn parse_time_arg_at(value: &str, now: i64, local_offset: i32) -> Result<i64, TimeArgError> {
    let bad = || TimeArgError {
        value: value.to_string(),
    };
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            // Docker turns the result into whole Unix seconds.
            let at = i128::from(now) - d;
            let secs = at.div_euclid(i128::from(NANOS));
            return i64::try_from(secs * i128::from(NANOS)).map_err(|_| bad());
        }
    }
    // As Docker decides: a zone when there is a Z or a +, or a third dash (`-07:00`).
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    if let Some(t) = parse_docker_time(value, zoned, local_offset) {
        return Ok(t);
    }
    // A dash means it was meant as a date: no fallback to Unix seconds (`-5` included).
    if value.contains('-') {
        return Err(bad());
    }
    parse_unix_seconds(value).ok_or_else(bad)
}

/// RFC 3339 as log records carry it: `2026-12-05T12:11:17.909447435Z` (json-file) or
/// `…+00:00` (k8s-file); any fraction length, `Z` or an offset.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let (date, rest) = text.split_at_checked(10)?;
    let rest = rest.strip_prefix(['T', 't'])?;
    let days = parse_date(date)?;
    let (clock, zone) = split_zone(rest)?;
    let offset = parse_zone(zone)?;
    let (secs, nanos) = parse_clock(clock, 3)?;
    to_nanos(days, secs, nanos, offset)
}

/// `2026-12-05T12:11:17.909447435Z`: Go's RFC3339NanoFixed in UTC, the stamp `docker
/// logs -t` puts before each line (nine digits, zeros kept, so that lines align).
pub fn format_timestamp(nanos: i64) -> String {
    let secs = nanos.div_euclid(NANOS);
    let frac = nanos.rem_euclid(NANOS);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Go's `time.ParseDuration`: `[-+]` then one or more `NUMBER[.FRACTION]UNIT`, units
/// ns, us (µs, μs), ms, s, m, h. In nanoseconds.
fn parse_go_duration(value: &str) -> Option<i128> {
    let (negative, mut rest) = match value.as_bytes().first()? {
        b'-' => (true, &value[1..]),
        b'+' => (false, &value[1..]),
        _ => (false, value),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int, after) = rest.split_at(int_end);
        let (frac, after) = match after.strip_prefix('.') {
            Some(f) => {
                let end = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(end)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_end = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut part = whole.checked_mul(scale)?;
        // The fraction in the unit's nanoseconds, digits past nanoseconds dropped.
        let mut den: i128 = 1;
        let mut num: i128 = 0;
        for digit in frac.bytes().take(30) {
            num = num * 10 + i128::from(digit - b'0');
            den *= 10;
        }
        part += num * scale / den;
        total = total.checked_add(part)?;
        // Go's durations are an int64 of nanoseconds.
        if total > i128::from(i64::MAX) {
            return None;
        }
        rest = after;
    }
    Some(if negative { -total } else { total })
}

/// The forms Docker's `GetTimestamp` picks by the characters in the value.
fn parse_docker_time(value: &str, zoned: bool, local_offset: i32) -> Option<i64> {
    let (date, rest) = match value.find(['T']) {
        Some(i) => (&value[..i], Some(&value[i + 1..])),
        None => (value, None),
    };
    let (date, date_zone) = if rest.is_none() && zoned {
        // `2006-01-02Z07:00`: a date with a zone.
        let (d, z) = value.split_at_checked(10)?;
        (d, Some(z))
    } else {
        (date, None)
    };
    let days = parse_date(date)?;
    let (clock, zone) = match rest {
        None => ("00:00:00", date_zone),
        Some(rest) if zoned => {
            let (clock, zone) = split_zone(rest)?;
            (clock, Some(zone))
        }
        Some(rest) => (rest, None),
    };
    let offset = match zone {
        Some(z) => parse_zone(z)?,
        None => local_offset,
    };
    // With a fraction Docker wants seconds (RFC3339Nano); else an hour and optional
    // minutes and seconds.
    let min_parts = if clock.contains('.') { 3 } else { 1 };
    let (secs, nanos) = parse_clock(clock, min_parts)?;
    to_nanos(days, secs, nanos, offset)
}

/// `SECONDS[.FRACTION]` (Docker's `parseTimestamp`); a fraction past nine digits is cut.
fn parse_unix_seconds(value: &str) -> Option<i64> {
    let (secs, frac) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let secs: i64 = secs.strip_prefix('+').unwrap_or(secs).parse().ok()?;
    let nanos = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            let digits = &f[..f.len().min(9)];
            let n: i64 = digits.parse().ok()?;
            n * 10_i64.pow(9 - digits.len() as u32)
        }
        Some(_) => return None,
    };
    secs.checked_mul(NANOS)?.checked_add(nanos)
}

/// `HH[:MM[:SS[.FRACTION]]]`, at least `min_parts` of the three; (seconds of the day, nanos).
fn parse_clock(clock: &str, min_parts: usize) -> Option<(i64, i64)> {
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() < min_parts || parts.len() > 3 || (frac.is_some() && parts.len() != 3) {
        return None;
    }
    let mut values = [0_i64; 3];
    for (v, p) in values.iter_mut().zip(&parts) {
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *v = p.parse().ok()?;
    }
    let [h, m, s] = values;
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let nanos = match frac {
        None => 0,
        Some(f) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<i64>().ok()? * 10_i64.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
    };
    Some((h * 3600 + m * 60 + s, nanos))
}

/// `YYYY-MM-DD`, checked against the calendar; days since the epoch.
fn parse_date(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = &date[r];
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Splits `CLOCK` from a trailing `Z` or `±HH:MM`.
fn split_zone(text: &str) -> Option<(&str, &str)> {
    let at = text.find(['Z', 'z', '+', '-'])?;
    Some(text.split_at(at))
}

/// `Z` or `±HH:MM`: seconds east of UTC.
fn parse_zone(zone: &str) -> Option<i32> {
    if zone == "Z" || zone == "z" {
        return Some(0);
    }
    let b = zone.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = |s: &str| -> Option<i32> {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (h, m) = (digits(&zone[1..3])?, digits(&zone[4..6])?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

fn to_nanos(days: i64, secs: i64, nanos: i64, offset: i32) -> Option<i64> {
    let unix = days * 86_400 + secs - i64::from(offset);
    unix.checked_mul(NANOS)?.checked_add(nanos)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Seconds east of UTC of the local zone at `unix` (TZ, /etc/localtime); 0 when unknown.
fn local_offset_seconds(unix: i64) -> i32 {
    // time_t is 64 bits on every target berth builds for.
    let t: nix::libc::time_t = unix;
    let mut tm = std::mem::MaybeUninit::<nix::libc::tm>::zeroed();
    // SAFETY: localtime_r reads `t` and writes only into `tm`; both outlive the call.
    let filled = unsafe { nix::libc::localtime_r(&t, tm.as_mut_ptr()) };
    if filled.is_null() {
        return 0;
    }
    // SAFETY: tm was zero-initialised (a valid `tm`) and localtime_r filled it in.
    let tm = unsafe { tm.assume_init() };
    i32::try_from(tm.tm_gmtoff).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-02T03:04:05Z
    const T: i64 = 1_704_164_645 * NANOS;

    fn at(value: &str) -> Result<i64, TimeArgError> {
        parse_time_arg_at(value, T + 123_456_789, 3600)
    }

    #[test]
    fn a_duration_is_that_long_before_now_in_whole_seconds() {
        assert_eq!(at("10m"), Ok(T - 600 * NANOS));
        assert_eq!(at("1h30m"), Ok(T - 5400 * NANOS));
        assert_eq!(at("1.5h"), Ok(T - 5400 * NANOS));
        assert_eq!(at("90s"), Ok(T - 90 * NANOS));
        assert_eq!(at("500ms"), Ok(T - NANOS));
        assert_eq!(at("-1m"), Ok(T + 60 * NANOS));
    }

    #[test]
    fn rfc3339_forms_with_a_zone() {
        assert_eq!(at("2024-01-02T03:04:05Z"), Ok(T));
        assert_eq!(at("2024-01-02T04:04:05+01:00"), Ok(T));
        assert_eq!(at("2024-01-02T02:04:05-01:00"), Ok(T));
        assert_eq!(at("2024-01-02T03:04:05.25Z"), Ok(T + NANOS / 4));
        assert_eq!(at("2024-01-02T03:04Z"), Ok(T - 5 * NANOS));
        assert_eq!(at("2024-01-02T03Z"), Ok(T - 245 * NANOS));
        assert_eq!(at("2024-01-02Z"), Ok(T - 11_045 * NANOS));
        assert_eq!(at("2024-01-02+01:00"), Ok(T - 14_645 * NANOS));
    }

    #[test]
    fn rfc3339_forms_without_a_zone_are_local() {
        // The local zone here is UTC+1.
        assert_eq!(at("2024-01-02T04:04:05"), Ok(T));
        assert_eq!(at("2024-01-02T04:04:05.5"), Ok(T + NANOS / 2));
        assert_eq!(at("2024-01-02T04:04"), Ok(T - 5 * NANOS));
        assert_eq!(at("2024-01-02T04"), Ok(T - 245 * NANOS));
        assert_eq!(at("2024-01-02"), Ok(T - 14_645 * NANOS));
    }

    #[test]
    fn unix_seconds_with_or_without_a_fraction() {
        assert_eq!(at("1704164645"), Ok(T));
        assert_eq!(at("1704164645.5"), Ok(T + NANOS / 2));
        assert_eq!(at("1704164645.000000001"), Ok(T + 1));
        assert_eq!(at("0"), Ok(0));
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        for value in [
            "",
            "yesterday",
            "10x",
            "2024-13-01",
            "2024-02-30T00:00:00Z",
            "2024-01-02T25:00:00Z",
            "-5",
            "12.ab",
            "m",
        ] {
            let err = at(value).expect_err(value);
            assert_eq!(err.value, value);
            assert!(err.to_string().contains(&format!("{value:?}")), "{err}");
        }
    }

    #[test]
    fn record_times_parse_in_both_formats() {
        let k8s = parse_rfc3339("2024-01-02T03:04:05.909447435+00:00");
        assert_eq!(k8s, Some(T + 909_447_435));
        assert_eq!(
            parse_rfc3339("2024-01-02T03:04:05.9094Z"),
            Some(T + 909_400_000)
        );
        assert_eq!(parse_rfc3339("2024-01-02T03:04:05Z"), Some(T));
        assert_eq!(parse_rfc3339("2024-01-02 03:04:05Z"), None);
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn timestamps_print_as_docker_logs_t_prints_them() {
        assert_eq!(format_timestamp(T), "2024-01-02T03:04:05.000000000Z");
        assert_eq!(
            format_timestamp(T + 909_447_430),
            "2024-01-02T03:04:05.909447430Z"
        );
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000000000Z");
    }
}
