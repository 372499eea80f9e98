//! The vocabulary of the rule-set files: code ranges, lines of business, code kinds.

use crate::claim::{lob_index, LINES_OF_BUSINESS};
use crate::text::normalise;

/// Ranges in the data are short (J9000-J9999 is the widest); J0000-J9999 is a typo.
pub const MAX_RANGE_SIZE: u32 = 2000;

fn is_code(text: &str) -> bool {
    text.len() == 5
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `"S9500"` -> `["S9500"]`; `"S9325-S9328"` -> the four codes. The message of an error says
/// what is wrong with `spec` (the rule-set validator shows it with the file and key).
pub fn expand_codes(spec: &str) -> Result<Vec<String>, String> {
    let spec = normalise(spec);
    let Some((first, last)) = spec.split_once('-') else {
        if !is_code(&spec) {
            return Err(format!("'{spec}' is not a 5-character HCPCS/CPT code"));
        }
        return Ok(vec![spec.into_owned()]);
    };
    let split = |code: &str| {
        let at = code.find(|c: char| c.is_ascii_digit())?;
        let (prefix, digits) = code.split_at(at);
        (is_code(code) && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| (prefix.to_owned(), digits.to_owned()))
    };
    let (Some((prefix, low)), Some((end_prefix, high))) = (split(first), split(last)) else {
        return Err(format!("'{spec}' is not a code range like S9325-S9379"));
    };
    if prefix != end_prefix || low.len() != high.len() {
        return Err(format!(
            "'{spec}': both ends of a range need the same letter and length"
        ));
    }
    let (low_n, high_n): (u32, u32) = (low.parse().unwrap_or(0), high.parse().unwrap_or(0));
    if high_n < low_n {
        return Err(format!("'{spec}': the range ends before it starts"));
    }
    if high_n - low_n >= MAX_RANGE_SIZE {
        return Err(format!(
            "'{spec}': a range of more than {MAX_RANGE_SIZE} codes looks like a typo"
        ));
    }
    let width = low.len();
    Ok((low_n..=high_n)
        .map(|n| format!("{prefix}{n:0width$}"))
        .collect())
}

/// The index of a line of business named in a file.
pub fn lob(name: &str) -> Result<usize, String> {
    lob_index(name)
        .map(usize::from)
        .ok_or_else(|| format!("unknown line of business {name}"))
}

/// Lines of business named in a file, "ALL" meaning every one (UNKNOWN included, so a claim
/// with an unknown plan is never let through a rule that applies everywhere).
pub fn lobs(name: &str) -> Result<Vec<usize>, String> {
    if name == "ALL" {
        Ok((0..LINES_OF_BUSINESS.len()).collect())
    } else {
        Ok(vec![lob(name)?])
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Drug,
    PerDiem,
    HitProfessional,
    Nursing,
    Equipment,
    Supply,
    Other,
}

impl Kind {
    pub fn parse(name: &str) -> Result<Kind, String> {
        Ok(match name {
            "drug" => Kind::Drug,
            "per_diem" => Kind::PerDiem,
            "hit_professional" => Kind::HitProfessional,
            "nursing" => Kind::Nursing,
            "equipment" => Kind::Equipment,
            "supply" => Kind::Supply,
            "other" => Kind::Other,
            _ => return Err(format!("unknown code kind {name}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_inclusively_and_normalise() {
        assert_eq!(expand_codes(" s9325-S9328 ").unwrap().len(), 4);
        assert_eq!(expand_codes("99601").unwrap(), ["99601"]);
        assert_eq!(
            expand_codes("J1554-J1556").unwrap(),
            ["J1554", "J1555", "J1556"]
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let err = |spec| expand_codes(spec).unwrap_err();
        assert!(err("S93799").contains("not a 5-character"));
        assert!(err("S9325-S93799").contains("not a code range"));
        assert!(err("S9325-J9330").contains("same letter"));
        assert!(err("S9330-S9325").contains("ends before"));
        assert!(err("J0000-J9999").contains("looks like a typo"));
    }
}
