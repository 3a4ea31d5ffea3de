//! The clock, and the three ways the drivers print it, all in UTC:
//! - k8s-file: RFC 3339 with exactly nine fraction digits and `+00:00`, as conmon writes it
//!   (`2026-12-05T12:11:17.909447435+00:00`); fixed width, so the files sort and align.
//! - json-file: Go's `time.RFC3339Nano`, as Docker writes it: trailing zeros of the fraction
//!   dropped (the dot too when nothing is left) and `Z` (`2026-12-05T12:11:17.90944Z`).
//! - syslog: Go's `time.Stamp`, RFC 3164's `Dec  5 12:11:17` (day padded with a space).
//!
//! Formatted by hand from the system clock: no date crate for three fixed layouts.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A point in time, seconds since the epoch (UTC) and nanoseconds within the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

/// A timestamp split into the fields of the Gregorian calendar, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
}

impl Timestamp {
    /// CLOCK_REALTIME (what `SystemTime` reads).
    pub fn now() -> Timestamp {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => Timestamp {
                secs: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
                nanos: since.subsec_nanos(),
            },
            // A clock set before 1970: count back, keeping nanos in 0..1e9.
            Err(before) => {
                let back = before.duration();
                let mut secs = -i64::try_from(back.as_secs()).unwrap_or(i64::MAX);
                let mut nanos = 0;
                if back.subsec_nanos() > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - back.subsec_nanos();
                }
                Timestamp { secs, nanos }
            }
        }
    }

    fn civil(self) -> Civil {
        let days = self.secs.div_euclid(86_400);
        let in_day = self.secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: in_day / 3600,
            minute: in_day / 60 % 60,
            second: in_day % 60,
            nanos: self.nanos,
        }
    }

    /// `2026-12-05T12:11:17.909447435+00:00` (conmon's k8s-file layout, in UTC).
    pub fn write_k8s(self, out: &mut Vec<u8>) {
        let c = self.civil();
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}+00:00",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.nanos
        );
    }

    /// `2026-12-05T12:11:17.90944Z` (Go's RFC3339Nano in UTC, as Docker's json-file).
    pub fn write_rfc3339_nano(self, out: &mut Vec<u8>) {
        let c = self.civil();
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        );
        if c.nanos > 0 {
            let mut digits = format!("{:09}", c.nanos);
            while digits.ends_with('0') {
                digits.pop();
            }
            out.push(b'.');
            out.extend_from_slice(digits.as_bytes());
        }
        out.push(b'Z');
    }

    /// `Dec  5 12:11:17` (Go's time.Stamp, RFC 3164's TIMESTAMP), in UTC.
    pub fn write_stamp(self, out: &mut Vec<u8>) {
        let c = self.civil();
        let month = MONTHS[(c.month as usize).saturating_sub(1) % 12];
        let _ = write!(
            out,
            "{month} {:>2} {:02}:{:02}:{:02}",
            c.day, c.hour, c.minute, c.second
        );
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian.
/// Counts in 400-year eras starting on March 1st, so that the leap day ends a year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01; 719_468 days separate it from 1970-01-01.
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146_096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0 = March .. 11 = February
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k8s(t: Timestamp) -> String {
        let mut out = Vec::new();
        t.write_k8s(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn nano(t: Timestamp) -> String {
        let mut out = Vec::new();
        t.write_rfc3339_nano(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn stamp(t: Timestamp) -> String {
        let mut out = Vec::new();
        t.write_stamp(&mut out);
        String::from_utf8(out).unwrap()
    }

    // 2026-12-05T12:11:17Z, checked with `date -u -d @1796472677`.
    const DEC_5_2026: i64 = 1_796_472_677;

    #[test]
    fn k8s_layout_has_nine_fraction_digits_and_a_utc_offset() {
        let t = Timestamp {
            secs: DEC_5_2026,
            nanos: 909_447_435,
        };
        assert_eq!(k8s(t), "2026-12-05T12:11:17.909447435+00:00");
        let t = Timestamp {
            secs: DEC_5_2026,
            nanos: 1,
        };
        assert_eq!(k8s(t), "2026-12-05T12:11:17.000000001+00:00");
    }

    #[test]
    fn rfc3339_nano_drops_trailing_zeros_as_go_does() {
        let at = |nanos| {
            nano(Timestamp {
                secs: DEC_5_2026,
                nanos,
            })
        };
        assert_eq!(at(909_447_435), "2026-12-05T12:11:17.909447435Z");
        assert_eq!(at(909_440_000), "2026-12-05T12:11:17.90944Z");
        assert_eq!(at(500_000_000), "2026-12-05T12:11:17.5Z");
        assert_eq!(at(0), "2026-12-05T12:11:17Z");
    }

    #[test]
    fn stamp_pads_the_day_with_a_space() {
        let t = Timestamp {
            secs: DEC_5_2026,
            nanos: 0,
        };
        assert_eq!(stamp(t), "Dec  5 12:11:17");
        let t = Timestamp {
            secs: DEC_5_2026 + 20 * 86_400,
            nanos: 0,
        };
        assert_eq!(stamp(t), "Dec 25 12:11:17");
    }

    #[test]
    fn calendar_edges_epoch_leap_days_and_centuries() {
        let day = |d: i64| {
            nano(Timestamp {
                secs: d * 86_400,
                nanos: 0,
            })
        };
        assert_eq!(day(0), "1970-01-01T00:00:00Z");
        assert_eq!(day(-1), "1969-12-31T00:00:00Z");
        assert_eq!(day(11_016), "2000-02-29T00:00:00Z"); // 400-year leap
        assert_eq!(day(11_017), "2000-03-01T00:00:00Z");
        assert_eq!(day(47_541), "2100-03-01T00:00:00Z"); // 2100 is not leap
        assert_eq!(day(47_540), "2100-02-28T00:00:00Z");
        assert_eq!(day(2_932_896), "9999-12-31T00:00:00Z");
    }

    #[test]
    fn calendar_agrees_with_a_day_by_day_walk() {
        let mut year = 1970;
        let mut month = 1;
        let mut day = 1;
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for days in 0..200_000 {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let len = match month {
                2 if leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > len {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }

    #[test]
    fn now_is_after_this_code_was_written() {
        let now = Timestamp::now();
        assert!(now.secs > DEC_5_2026 - 86_400 * 30);
        assert!(now.nanos < 1_000_000_000);
    }

    #[test]
    fn extreme_clocks_format_without_panicking() {
        for secs in [i64::MIN, i64::MIN / 2, -1, i64::MAX / 2, i64::MAX] {
            let t = Timestamp {
                secs,
                nanos: 999_999_999,
            };
            assert!(!k8s(t).is_empty());
            assert!(!nano(t).is_empty());
            assert!(!stamp(t).is_empty());
        }
    }
}
