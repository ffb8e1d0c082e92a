//! Wall-clock time and the timestamp formats identity endpoints use (RFC 3339 and the
//! compact ISO 8601 form of AWS's `X-Amz-Date`), in whole seconds since the Unix epoch, UTC.

/// Seconds since the Unix epoch now (natively, inside `Scripted::run`, the fake's clock).
pub fn now() -> u64 {
    #[cfg(feature = "testing")]
    if let Some(now) = crate::effects::Scripted::try_installed(|host| host.now) {
        return now;
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A UTC date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl DateTime {
    /// The date and time `seconds` after the epoch.
    pub fn from_unix(seconds: u64) -> DateTime {
        let days = (seconds / 86_400) as i64;
        let rest = seconds % 86_400;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        DateTime {
            year,
            month,
            day,
            hour: (rest / 3600) as u32,
            minute: (rest / 60 % 60) as u32,
            second: (rest % 60) as u32,
        }
    }

    /// Seconds since the epoch (`None` before 1970).
    pub fn to_unix(self) -> Option<u64> {
        let (y, m) = if self.month <= 2 { (self.year - 1, self.month + 9) } else { (self.year, self.month - 3) };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let doy = (153 * i64::from(m) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let seconds = days * 86_400 + i64::from(self.hour * 3600 + self.minute * 60 + self.second);
        u64::try_from(seconds).ok()
    }

    /// `20150830T123600Z`.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2015-08-30T12:36:00Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Parses an RFC 3339 timestamp (`2026-08-21T12:00:00Z`, fractional seconds and numeric
/// offsets allowed) into seconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let text = text.trim();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let datetime = DateTime {
        year: i64::from(number(0..4)?),
        month: number(5..7)?,
        day: number(8..10)?,
        hour: number(11..13)?,
        minute: number(14..16)?,
        second: number(17..19)?,
    };
    if !(1..=12).contains(&datetime.month)
        || !(1..=31).contains(&datetime.day)
        || datetime.hour > 23
        || datetime.minute > 59
        || datetime.second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && &rest[3..4] == ":" => {
            let hours: i64 = rest[1..3].parse().ok()?;
            let minutes: i64 = rest[4..6].parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    u64::try_from(datetime.to_unix()? as i64 - offset).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_both_ways() {
        let date = DateTime::from_unix(1_440_938_160);
        assert_eq!(date.compact(), "20150830T123600Z");
        assert_eq!(date.rfc3339(), "2015-08-30T12:36:00Z");
        assert_eq!(date.to_unix(), Some(1_440_938_160));
        assert_eq!(DateTime::from_unix(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(DateTime::from_unix(951_782_400).rfc3339(), "2000-02-29T00:00:00Z");
        for seconds in (0..4_102_444_800).step_by(86_399 * 37) {
            assert_eq!(DateTime::from_unix(seconds).to_unix(), Some(seconds));
        }
    }

    #[test]
    fn rfc3339_parses_the_forms_endpoints_send() {
        assert_eq!(parse_rfc3339("2015-08-30T12:36:00Z"), Some(1_440_938_160));
        assert_eq!(parse_rfc3339("2015-08-30T12:36:00.123456Z"), Some(1_440_938_160));
        assert_eq!(parse_rfc3339("2015-08-30T14:36:00+02:00"), Some(1_440_938_160));
        assert_eq!(parse_rfc3339("2015-08-30T11:36:00-01:00"), Some(1_440_938_160));
        for bad in
            ["", "2015-08-30", "2015-13-30T12:36:00Z", "2015-08-30T12:36:00", "2015-08-30T12:36:00.Z", "yesterday"]
        {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
