//! Dates as Storage writes them: ISO 8601 with milliseconds (`lastModified`
//! in an object's metadata, as JavaScript's `toISOString`) and HTTP dates
//! (`Last-Modified`, `Expires`), from milliseconds since the Unix epoch.

/// (year, month 1–12, day 1–31) of a day count since 1970-01-01 (Howard
/// Hinnant's civil-from-days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parts(ms: u64) -> (i64, u32, u32, u64, u64, u64, u64) {
    let secs = ms / 1000;
    let (y, mo, d) = civil((secs / 86_400) as i64);
    let rem = secs % 86_400;
    (y, mo, d, rem / 3600, rem / 60 % 60, rem % 60, ms % 1000)
}

/// `2024-05-06T07:08:09.010Z`.
pub fn iso(ms: u64) -> String {
    let (y, mo, d, h, mi, s, milli) = parts(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mon, 06 May 2024 07:08:09 GMT`.
pub fn http_date(ms: u64) -> String {
    let (y, mo, d, h, mi, s, _) = parts(ms);
    let weekday = DAYS[((ms / 1000 / 86_400) % 7) as usize];
    format!(
        "{weekday}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        MONTHS[mo as usize - 1]
    )
}

/// An HTTP date (IMF-fixdate) in milliseconds, `None` when it is not one.
pub fn parse_http_date(s: &str) -> Option<u64> {
    // "Mon, 06 May 2024 07:08:09 GMT"
    let (_, rest) = s.trim().split_once(", ")?;
    let mut it = rest.split(' ');
    let d: u32 = it.next()?.parse().ok()?;
    let month = it.next()?;
    let mo = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let y: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let mi: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if it.next()? != "GMT" || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    (days >= 0).then(|| ((days as u64) * 86_400 + h * 3600 + mi * 60 + sec) * 1000)
}

/// A PostgreSQL `timestamptz` as text (`2024-05-06 07:08:09.010123+00`,
/// or with `T`), in milliseconds; `None` when it is not one.
pub fn parse_timestamp(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let mo: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    // Time, then an offset: +00, +02:00, -05, Z.
    let split = time.find(['+', '-', 'Z']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(split);
    let mut cp = clock.split(':');
    let h: i64 = cp.next()?.parse().ok()?;
    let mi: i64 = cp.next()?.parse().ok()?;
    let sec_text = cp.next().unwrap_or("0");
    let (whole, frac) = sec_text.split_once('.').unwrap_or((sec_text, ""));
    let sec: i64 = whole.parse().ok()?;
    let milli: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
    let offset_min: i64 = match zone.chars().next() {
        None | Some('Z') => 0,
        Some(sign) => {
            let z = &zone[1..];
            let (zh, zm) = z.split_once(':').unwrap_or((z.get(..2)?, z.get(2..).unwrap_or("")));
            let minutes = zh.parse::<i64>().ok()? * 60 + if zm.is_empty() { 0 } else { zm.parse::<i64>().ok()? };
            if sign == '-' {
                -minutes
            } else {
                minutes
            }
        }
    };
    let days = days_from_civil(y, mo, d);
    let ms = ((days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000) + milli;
    (ms >= 0).then_some(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_715_000_000_123), "2024-05-06T12:53:20.123Z");
        assert_eq!(http_date(1_715_000_000_123), "Mon, 06 May 2024 12:53:20 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(parse_http_date("Mon, 06 May 2024 12:53:20 GMT"), Some(1_715_000_000_000));
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(
            parse_timestamp("2024-05-06 12:53:20.123456+00"),
            Some(1_715_000_000_123)
        );
        assert_eq!(
            parse_timestamp("2024-05-06T14:53:20.123+02:00"),
            Some(1_715_000_000_123)
        );
        assert_eq!(parse_timestamp("2024-05-06 12:53:20+00"), Some(1_715_000_000_000));
        for ms in [0u64, 951_782_400_000, 1_709_164_800_000, 4_102_444_800_999] {
            assert_eq!(parse_http_date(&http_date(ms)), Some(ms / 1000 * 1000));
        }
    }
}
