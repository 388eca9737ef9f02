//! HTTP dates (RFC 9110 §5.6.7), written as IMF-fixdate and read in all three forms, as
//! seconds since the Unix epoch. Written here rather than taken from a crate: it is some
//! forty lines, and the example needs no dependency for it.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `secs` as an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format(secs: u64) -> String {
    Imf(secs).to_string()
}

/// Seconds since the epoch, displayed as an IMF-fixdate: written straight into a response's
/// head, with no string of its own.
pub struct Imf(pub u64);

impl fmt::Display for Imf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, time) = (self.0 / 86_400, self.0 % 86_400);
        let (year, month, day) = civil_from_days(days as i64);
        let weekday = DAYS[(days % 7) as usize];
        let (h, m, s) = (time / 3600, time / 60 % 60, time % 60);
        let month = MONTHS[month as usize - 1];
        write!(f, "{weekday}, {day:02} {month} {year:04} {h:02}:{m:02}:{s:02} GMT")
    }
}

/// The current second since the epoch (0 for a clock set before it).
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Now as an IMF-fixdate, for a response's `Date` field (RFC 9110 §6.6.1: a server with a
/// clock sends one in every 2xx, 3xx and 4xx). Formatted once a second per core thread,
/// as nginx caches its time strings, and shared, not copied, by each response.
pub fn now() -> Rc<str> {
    thread_local!(static LAST: RefCell<(u64, Option<Rc<str>>)> = const { RefCell::new((0, None)) });
    let secs = now_secs();
    LAST.with_borrow_mut(|(at, text)| match text {
        Some(text) if *at == secs => text.clone(),
        _ => {
            *at = secs;
            text.insert(Imf(secs).to_string().into()).clone()
        }
    })
}

/// The seconds an HTTP-date names: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the
/// obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime's
/// (`Sun Nov  6 08:49:37 1994`), which §5.6.7 says a recipient must all accept. The
/// weekday is not checked; `None` for anything else, or a date before 1970.
pub fn parse(text: &str) -> Option<u64> {
    let words: Vec<&str> = text.split([' ', ',', '-']).filter(|w| !w.is_empty()).collect();
    let (day, month, year, time) = match words[..] {
        [_, day, month, year, time, "GMT"] => (day, month, year, time),
        [_, month, day, time, year] => (day, month, year, time),
        _ => return None,
    };
    let month = MONTHS.iter().position(|&m| m == month)? as i64 + 1;
    let year: i64 = match (year.len(), year.parse().ok()?) {
        // RFC 850's two digits: 70-99 the 1900s, else the 2000s (no date here is older).
        (2, yy) if yy >= 70 => 1900 + yy,
        (2, yy) => 2000 + yy,
        (4, yyyy) => yyyy,
        _ => return None,
    };
    let day: i64 = two_digits(day, 1, 31)?;
    let mut hms = time.split(':');
    let (h, m, s) = (hms.next()?, hms.next()?, hms.next()?);
    let (h, m, s) = (two_digits(h, 0, 23)?, two_digits(m, 0, 59)?, two_digits(s, 0, 60)?);
    if hms.next().is_some() || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

/// One or two digits (asctime pads the day with a space, not a zero), within bounds.
fn two_digits(text: &str, min: i64, max: i64) -> Option<i64> {
    let ok = (1..=2).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| text.parse().ok()).flatten().filter(|n| (min..=max).contains(n))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm:
/// years start in March, so the leap day ends one).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1-12, day 1-31) `days` after 1970-01-01; the inverse of
/// [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}
