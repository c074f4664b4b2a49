//! The calendar words schedules are written in, read one way for the checks before a write
//! and for whoever acts on the schedule (the paging server's bells).

use jiff::civil::{Time, Weekday};

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

/// `mon,wed,fri` (any case, spaces allowed) or `daily`: the days, none twice; None when any
/// word is not a day.
pub fn weekdays(text: &str) -> Option<Vec<Weekday>> {
    let text = text.trim().to_ascii_lowercase();
    if text == "daily" {
        return Some(DAYS.iter().map(|(_, d)| *d).collect());
    }
    let mut out = Vec::new();
    for word in text.split(',').map(str::trim) {
        let day = DAYS.iter().find(|(w, _)| *w == word)?.1;
        if !out.contains(&day) {
            out.push(day);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `HH:MM` or `HH:MM:SS`, 24-hour.
pub fn time_of_day(text: &str) -> Option<Time> {
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let n: Vec<i8> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    Time::new(n[0], n[1], n.get(2).copied().unwrap_or(0), 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times_read_as_an_administrator_writes_them() {
        assert_eq!(
            weekdays("Mon, fri,mon"),
            Some(vec![Weekday::Monday, Weekday::Friday])
        );
        assert_eq!(weekdays("daily").map(|d| d.len()), Some(7));
        assert_eq!(weekdays("funday"), None);
        assert_eq!(weekdays(""), None);
        assert_eq!(time_of_day("08:30"), Time::new(8, 30, 0, 0).ok());
        assert_eq!(time_of_day("23:59:59"), Time::new(23, 59, 59, 0).ok());
        assert_eq!(time_of_day("24:00"), None);
        assert_eq!(time_of_day("8:30"), None);
    }
}
