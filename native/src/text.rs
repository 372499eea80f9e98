//! Text the rules compare and write: normalised codes, optional fields, dates, money, units.
//!
//! SPEC §3: codes are compared upper case without surrounding spaces (the ICD-10 dot is
//! handled where diagnoses are); a blank optional field (empty or only spaces) is absent.

use std::borrow::Cow;

/// A code as the rules compare it: surrounding white space dropped, upper case. Borrowed when
/// it already is (almost always), so the common case allocates nothing.
pub fn normalise(code: &str) -> Cow<'_, str> {
    // One pass over the bytes settles the common case (no space, no lower case, ASCII): the
    // Unicode trim and the scans below took ~8 % of `decide` (perf, 5-line claims).
    let plain = |b: &u8| b.is_ascii_graphic() && !b.is_ascii_lowercase();
    if code.as_bytes().iter().all(plain) {
        return Cow::Borrowed(code);
    }
    let code = code.trim();
    if code.is_ascii() {
        if code.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(code.to_ascii_uppercase())
        } else {
            Cow::Borrowed(code)
        }
    } else {
        Cow::Owned(code.to_uppercase())
    }
}

/// An optional text field as the rules see it: None when absent or blank, else trimmed.
pub fn present(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// (year, month, day) of a day number (days since 1970-01-01), proleptic Gregorian.
pub fn civil(days: i32) -> (i64, u32, u32) {
    // Howard Hinnant's civil_from_days.
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day number of a civil date (Hinnant's days_from_civil).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// "YYYY-MM-DD" (years 0001-9999) -> days since 1970-01-01.
pub fn parse_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (
        digits(&text[..4])?,
        digits(&text[5..7])?,
        digits(&text[8..])?,
    );
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) as i32)
}

/// "2026-07-01".
pub fn iso_date(days: i32) -> String {
    let (year, month, day) = civil(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A two-decimal amount given in cents: "125.00", "-0.05".
pub fn cents(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Units or a quantity as a person writes them: "3", "2.5", "NaN", "inf".
pub fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// A submitted value quoted for a message, control characters escaped: "12345-678".
pub fn quoted(text: &str) -> String {
    format!("{text:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_trimmed_and_upper_cased_borrowing_when_they_already_are() {
        assert!(matches!(normalise("J1569"), Cow::Borrowed("J1569")));
        assert_eq!(normalise(" j1569\t"), "J1569");
        assert_eq!(normalise("\u{a0}s9500\u{2003}"), "S9500");
        assert_eq!(normalise("jß"), "JSS");
    }

    #[test]
    fn blank_optional_text_is_absent() {
        assert_eq!(present(None), None);
        assert_eq!(present(Some("")), None);
        assert_eq!(present(Some(" \t ")), None);
        assert_eq!(present(Some(" 12 ")), Some("12"));
    }

    #[test]
    fn dates_round_trip_through_day_numbers() {
        for text in [
            "0001-01-01",
            "1970-01-01",
            "2024-02-29",
            "2026-06-14",
            "9999-12-31",
        ] {
            assert_eq!(iso_date(parse_date(text).unwrap()), text);
        }
        assert_eq!(parse_date("1970-01-02"), Some(1));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "0000-01-01",
            "2026-1-01",
            "20260101",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn money_and_units_read_naturally() {
        assert_eq!(cents(12_500), "125.00");
        assert_eq!(cents(-5), "-0.05");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "inf");
        assert_eq!(quoted("12-34\n"), "\"12-34\\n\"");
    }
}
