//! Text exactly as the Python engine writes it, so a reason message does not depend on which
//! path decided the claim: `str.strip()`, `repr(float)`, `str(Decimal)`, `date.isoformat()`
//! and `repr(str)` (for printable ASCII; callers hand anything else to the Python path).

use std::borrow::Cow;
use std::fmt::Write;

/// Python's `str.isspace()`: Rust's White_Space plus the four ASCII separators 0x1C..=0x1F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `text.strip()`.
pub fn strip(text: &str) -> &str {
    text.trim_matches(is_py_space)
}

/// `(text.strip() or None) if text else None`.
pub fn stripped(text: Option<&str>) -> Option<&str> {
    text.map(strip).filter(|t| !t.is_empty())
}

/// `text.strip().upper()` for ASCII text (None otherwise: Unicode case mapping is left to
/// Python, where e.g. 'ı'.upper() is 'I').
pub fn normalise_ascii(text: &str) -> Option<Cow<'_, str>> {
    if !text.is_ascii() {
        return None;
    }
    let text = strip(text);
    // Codes mostly arrive as they should be: borrow them rather than copy.
    Some(if text.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(text.to_ascii_uppercase())
    } else {
        Cow::Borrowed(text)
    })
}

/// `repr(value)` for a float.
pub fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits, as Python's repr does: "-1.25e3".
    let sci = format!("{value:e}");
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponents are integers");
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let point = exponent + 1; // digits before the decimal point
    let mut out = String::from(sign);
    if point <= -4 || point > 16 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        write!(out, "e{exp_sign}{:02}", exponent.abs()).unwrap();
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else if digits.len() as i32 <= point {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n(
            '0',
            (point - digits.len() as i32) as usize,
        ));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    out
}

/// `str(Decimal)` of a two-decimal amount given in cents: "125.00", "-0.05".
pub fn cents(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// (year, month, day) of a day number (days since 1970-01-01), proleptic Gregorian.
pub fn civil(days: i32) -> (i64, u32, u32) {
    // Howard Hinnant's days_from_civil inverse.
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

/// `date.isoformat()`.
pub fn iso_date(days: i32) -> String {
    let (year, month, day) = civil(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `repr(text)` for printable ASCII text; None for anything else.
pub fn str_repr(text: &str) -> Option<String> {
    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        if c == quote || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(quote);
    Some(out)
}
