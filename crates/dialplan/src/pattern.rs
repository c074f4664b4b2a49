//! Cisco's route pattern language: parsing, matching and counting.
//!
//! Syntax: digits `0-9 * #`; `\+` (a literal plus); `X` (any digit 0-9); `[1-5]`, `[135]`,
//! `[^0-3]` (one symbol from a class; `^` complements it over `0-9 * #`); `!` (one or more
//! digits 0-9); `?` and `+` after an element (zero or more, one or more of it); `.` (the PreDot
//! delimiter: matches nothing, marks where PreDot discards up to). Anything else is refused
//! with the position it stands at.

use std::fmt;

/// Symbols a dialled string can hold: 0-9, then `*`, `#`, `+`.
pub const SYMBOLS: usize = 13;
const STAR: u8 = 10;
const HASH: u8 = 11;
const PLUS: u8 = 12;
/// The set of the digits 0-9.
pub const DIGITS: u16 = 0x3ff;
/// Every symbol a class may hold (0-9, *, #).
const CLASS_UNIVERSE: u16 = DIGITS | (1 << STAR) | (1 << HASH);

/// The symbol index of a dialled character, if it is one.
pub fn symbol(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(STAR),
        '#' => Some(HASH),
        '+' => Some(PLUS),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rep {
    One,
    ZeroOrMore,
    OneOrMore,
}

/// One position of a pattern: a set of symbols and how often it repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Element {
    pub set: u16,
    pub rep: Rep,
}

impl Element {
    pub fn accepts(&self, sym: u8) -> bool {
        self.set & (1 << sym) != 0
    }

    /// A single literal symbol matched exactly once.
    pub fn literal(&self) -> Option<u8> {
        (self.rep == Rep::One && self.set.count_ones() == 1)
            .then(|| self.set.trailing_zeros() as u8)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Character position (from 0) in the pattern text.
    pub position: usize,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for PatternError {}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
    pub elements: Vec<Element>,
    /// How many elements stand before the `.`, if there is one.
    pub predot: Option<usize>,
}

/// The longest pattern accepted, in elements (state sets are 64-bit).
pub const MAX_ELEMENTS: usize = 62;

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let err = |position: usize, message: String| Err(PatternError { position, message });
        let chars: Vec<char> = text.chars().collect();
        let mut elements: Vec<Element> = Vec::new();
        let mut predot = None;
        let mut i = 0;
        if chars.is_empty() {
            return err(0, "the pattern is empty".into());
        }
        while i < chars.len() {
            let c = chars[i];
            match c {
                '0'..='9' | '*' | '#' => {
                    let s = symbol(c).expect("dialable");
                    elements.push(Element {
                        set: 1 << s,
                        rep: Rep::One,
                    });
                }
                '\\' => {
                    if chars.get(i + 1) == Some(&'+') {
                        elements.push(Element {
                            set: 1 << PLUS,
                            rep: Rep::One,
                        });
                        i += 1;
                    } else {
                        return err(i, "'\\' may only escape '+' (write \\+)".into());
                    }
                }
                'X' | 'x' => elements.push(Element {
                    set: DIGITS,
                    rep: Rep::One,
                }),
                '!' => elements.push(Element {
                    set: DIGITS,
                    rep: Rep::OneOrMore,
                }),
                '[' => {
                    let start = i;
                    let mut j = i + 1;
                    let negate = chars.get(j) == Some(&'^');
                    if negate {
                        j += 1;
                    }
                    let mut set: u16 = 0;
                    loop {
                        let Some(&d) = chars.get(j) else {
                            return err(start, "'[' is never closed".into());
                        };
                        if d == ']' {
                            break;
                        }
                        let Some(s) = symbol(d).filter(|s| *s != PLUS) else {
                            return err(j, format!("'{d}' cannot stand in a [...] class"));
                        };
                        if chars.get(j + 1) == Some(&'-') && chars.get(j + 2) != Some(&']') {
                            let Some(&e) = chars.get(j + 2) else {
                                return err(start, "'[' is never closed".into());
                            };
                            let (Some(lo), Some(hi)) = (d.to_digit(10), e.to_digit(10)) else {
                                return err(j, "ranges are of digits, e.g. [2-9]".into());
                            };
                            if lo > hi {
                                return err(j, format!("the range {d}-{e} is backwards"));
                            }
                            for v in lo..=hi {
                                set |= 1 << v;
                            }
                            j += 3;
                        } else {
                            set |= 1 << s;
                            j += 1;
                        }
                    }
                    if negate {
                        set = CLASS_UNIVERSE & !set;
                    }
                    if set == 0 {
                        return err(start, "the class matches nothing".into());
                    }
                    elements.push(Element { set, rep: Rep::One });
                    i = j;
                }
                '?' | '+' => {
                    let after_dot = predot == Some(elements.len());
                    let Some(last) = elements.last_mut() else {
                        return err(i, format!("'{c}' must follow something to repeat"));
                    };
                    if last.rep != Rep::One || after_dot {
                        return err(i, format!("'{c}' cannot repeat this"));
                    }
                    last.rep = if c == '?' {
                        Rep::ZeroOrMore
                    } else {
                        Rep::OneOrMore
                    };
                }
                '.' => {
                    if predot.is_some() {
                        return err(i, "only one '.' is allowed".into());
                    }
                    predot = Some(elements.len());
                }
                '@' => return err(
                    i,
                    "'@' (the national numbering plan) is not supported; spell the patterns out"
                        .into(),
                ),
                other => return err(i, format!("'{other}' is not a pattern character")),
            }
            i += 1;
        }
        if elements.is_empty() {
            return err(0, "the pattern matches nothing".into());
        }
        if elements.len() > MAX_ELEMENTS {
            return err(
                MAX_ELEMENTS,
                format!("at most {MAX_ELEMENTS} elements are allowed"),
            );
        }
        Ok(Pattern {
            text: text.to_string(),
            elements,
            predot,
        })
    }

    /// Whether the pattern matches strings of more than one length.
    pub fn is_variable(&self) -> bool {
        self.elements.iter().any(|e| e.rep != Rep::One)
    }

    fn closure(&self, mut s: u64) -> u64 {
        // A ZeroOrMore element can be skipped; positions only move forward, so one pass works.
        for (i, e) in self.elements.iter().enumerate() {
            if s & (1 << i) != 0 && e.rep == Rep::ZeroOrMore {
                s |= 1 << (i + 1);
            }
        }
        s
    }

    fn start(&self) -> u64 {
        self.closure(1)
    }

    fn step(&self, s: u64, sym: u8) -> u64 {
        let mut next = 0u64;
        for (i, e) in self.elements.iter().enumerate() {
            if s & (1 << i) != 0 && e.accepts(sym) {
                next |= 1 << (i + 1);
                if e.rep != Rep::One {
                    next |= 1 << i;
                }
            }
        }
        self.closure(next)
    }

    /// Match a whole dialled string: (it matches completely, more digits could still match).
    pub fn matches(&self, dialled: &str) -> (bool, bool) {
        let n = self.elements.len();
        let mut s = self.start();
        for c in dialled.chars() {
            let Some(sym) = symbol(c) else {
                return (false, false);
            };
            s = self.step(s, sym);
            if s == 0 {
                return (false, false);
            }
        }
        (s & (1 << n) != 0, s & ((1u64 << n) - 1) != 0)
    }

    /// How many distinct strings of exactly `len` symbols the pattern matches (saturating).
    /// This is the "closest match" measure: fewer is closer.
    pub fn count_at(&self, len: usize) -> u128 {
        if !self.is_variable() {
            if len != self.elements.len() {
                return 0;
            }
            return self.elements.iter().fold(1u128, |acc, e| {
                acc.saturating_mul(e.set.count_ones() as u128)
            });
        }
        // Subset construction: count strings, not paths, so ambiguous patterns count right.
        let n = self.elements.len();
        let mut layer: Vec<(u64, u128)> = vec![(self.start(), 1)];
        for _ in 0..len {
            let mut next: Vec<(u64, u128)> = Vec::new();
            for (s, count) in &layer {
                for sym in 0..SYMBOLS as u8 {
                    let t = self.step(*s, sym);
                    if t == 0 {
                        continue;
                    }
                    match next.iter_mut().find(|(u, _)| *u == t) {
                        Some((_, c)) => *c = c.saturating_add(*count),
                        None => next.push((t, *count)),
                    }
                }
            }
            layer = next;
        }
        layer
            .iter()
            .filter(|(s, _)| s & (1 << n) != 0)
            .fold(0u128, |acc, (_, c)| acc.saturating_add(*c))
    }

    /// For a string the pattern matches, how many of its leading characters the elements
    /// before the `.` consumed (None without a dot or without a match). The shortest such
    /// PreDot part wins, like Cisco's leftmost reading.
    pub fn predot_length(&self, dialled: &str) -> Option<usize> {
        let cut = self.predot?;
        let n = self.elements.len();
        let mut syms = [0u8; 64];
        let mut len = 0;
        for c in dialled.chars() {
            *syms.get_mut(len)? = symbol(c)?;
            len += 1;
        }
        let syms = &syms[..len];
        // Walk the whole pattern once; wherever the PreDot part can end (position `cut` is
        // reachable), try whether the rest matches from there.
        let mut s = self.start();
        for k in 0..=len {
            if s & (1 << cut) != 0 {
                let mut t = self.closure(1 << cut);
                for &sym in &syms[k..] {
                    t = self.step(t, sym);
                }
                if t & (1 << n) != 0 {
                    return Some(k);
                }
            }
            if k < len {
                s = self.step(s, syms[k]);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> Pattern {
        Pattern::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    #[test]
    fn parses_cisco_syntax() {
        assert_eq!(p("1000").elements.len(), 4);
        assert_eq!(p("9.!").predot, Some(1));
        assert_eq!(p("[2-9]XX").elements[0].set.count_ones(), 8);
        assert_eq!(p("[^0-3]").elements[0].set.count_ones(), 8, "4-9, * and #");
        assert_eq!(p("\\+1X").elements[0].literal(), Some(PLUS));
        assert_eq!(p("1X?").elements[1].rep, Rep::ZeroOrMore);
        assert_eq!(p("1X+").elements[1].rep, Rep::OneOrMore);
        assert_eq!(p("[135]").elements[0].set, 0b10_1010);
    }

    #[test]
    fn refuses_with_the_position() {
        let cases = [
            ("", 0),
            ("12Y4", 2),
            ("9.1.2", 3),
            ("?1", 0),
            ("1[2-", 1),
            ("[5-2]", 1),
            ("[]", 0),
            ("91@", 2),
            ("1\\2", 1),
            ("X??", 2),
            ("[1+]", 2),
        ];
        for (text, pos) in cases {
            let e = Pattern::parse(text).unwrap_err();
            assert_eq!(e.position, pos, "{text}: {e}");
        }
    }

    #[test]
    fn matches_completely_or_partially() {
        assert_eq!(p("1XXX").matches("1234"), (true, false));
        assert_eq!(p("1XXX").matches("12"), (false, true));
        assert_eq!(p("1XXX").matches("12345"), (false, false));
        assert_eq!(p("9.!").matches("9"), (false, true));
        assert_eq!(p("9.!").matches("91"), (true, true));
        assert_eq!(p("9.!").matches("9#"), (false, false));
        assert_eq!(p("\\+1X").matches("+15"), (true, false));
        assert_eq!(p("12X?").matches("12"), (true, true));
        assert_eq!(p("12X?").matches("1299"), (true, true));
        assert_eq!(p("*6X").matches("*61"), (true, false));
    }

    #[test]
    fn counts_strings_not_paths() {
        assert_eq!(p("1XXX").count_at(4), 1000);
        assert_eq!(p("12XX").count_at(4), 100);
        assert_eq!(p("1XXX").count_at(3), 0);
        assert_eq!(p("9.!").count_at(5), 10_000);
        assert_eq!(p("X?X?").count_at(1), 10, "ambiguous, yet ten strings");
        assert_eq!(p("[2-9]XX").count_at(3), 800);
    }

    #[test]
    fn predot_consumption() {
        assert_eq!(p("9.!").predot_length("95551234"), Some(1));
        assert_eq!(p("8[1-3].XXXX").predot_length("821234"), Some(2));
        assert_eq!(p("1XXX").predot_length("1234"), None);
    }
}
