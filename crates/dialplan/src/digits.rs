//! Digit manipulation: discard instructions, transformation masks, prefixes.

use crate::pattern::Pattern;

/// Discard instructions Dialtone supports (the NANP-specific ones need `@`, which is not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Discard {
    #[default]
    None,
    PreDot,
    TrailingHash,
    PreDotTrailingHash,
}

impl Discard {
    pub fn parse(s: &str) -> Option<Discard> {
        Some(match s {
            "" | "None" => Discard::None,
            "PreDot" => Discard::PreDot,
            "Trailing-#" => Discard::TrailingHash,
            "PreDot Trailing-#" => Discard::PreDotTrailingHash,
            _ => return None,
        })
    }

    pub const NAMES: &'static [&'static str] =
        &["None", "PreDot", "Trailing-#", "PreDot Trailing-#"];
}

/// Apply a discard instruction to a number the pattern matched.
pub fn discard(pattern: &Pattern, number: &str, how: Discard) -> String {
    let mut out = number.to_string();
    if matches!(how, Discard::PreDot | Discard::PreDotTrailingHash) {
        if let Some(k) = pattern.predot_length(number) {
            out = number.chars().skip(k).collect();
        }
    }
    if matches!(how, Discard::TrailingHash | Discard::PreDotTrailingHash) && out.ends_with('#') {
        out.pop();
    }
    out
}

/// Apply a Cisco transformation mask: right-aligned; a digit (or * #) in the mask replaces the
/// number's, an `X` keeps it; a mask shorter than the number drops the number's leading digits,
/// and `X`s beyond the number's length are dropped. An empty mask changes nothing.
pub fn mask(number: &str, mask: &str) -> String {
    if mask.is_empty() {
        return number.to_string();
    }
    let num: Vec<char> = number.chars().collect();
    let m: Vec<char> = mask.chars().collect();
    let mut out = Vec::with_capacity(m.len());
    for (i, mc) in m.iter().enumerate() {
        // Position in the number aligned with mask position i (right alignment).
        let from_right = m.len() - i;
        let digit = num.len().checked_sub(from_right).map(|j| num[j]);
        match mc {
            'X' | 'x' => {
                if let Some(d) = digit {
                    out.push(d);
                }
            }
            other => out.push(*other),
        }
    }
    out.into_iter().collect()
}

/// A character a user dials: 0-9, `*`, `#`, and `+` (as E.164 numbers are written).
pub fn is_dialled_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | '+')
}

/// Whether `s` is digits as a user dials them (not a pattern).
pub fn is_dialled(s: &str) -> bool {
    s.chars().all(is_dialled_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_unified_cm() {
        assert_eq!(mask("1234", "408555XXXX"), "4085551234");
        assert_eq!(mask("5551212", "XXXX"), "1212");
        assert_eq!(mask("12", "XXXX"), "12");
        assert_eq!(mask("1000", ""), "1000");
        assert_eq!(mask("1000", "2XXX"), "2000");
    }

    #[test]
    fn discards() {
        let p = Pattern::parse("9.!").unwrap();
        assert_eq!(discard(&p, "95551234", Discard::PreDot), "5551234");
        let p = Pattern::parse("9.!#").unwrap();
        assert_eq!(
            discard(&p, "95551234#", Discard::PreDotTrailingHash),
            "5551234"
        );
        assert_eq!(discard(&p, "95551234#", Discard::None), "95551234#");
    }
}
