//! Scheduled pages (`paging-schedules`): a tone or a recording sent to groups at a time of day,
//! weekly on chosen days or once on a date, in the schedule's time zone, so a bell rings at
//! 08:00 local time on both sides of a daylight-saving change. Each is started as a recorded
//! page is (`broadcast::start`), its record naming the schedule as the caller.
//!
//! A page whose moment passed while the node was down, or more than `LATE` ago (a suspended
//! machine), is not sent late: a bell after the fact is wrong. One sleeping task serves every
//! schedule; it wakes at the next moment, when the schedules change, and at least every
//! `RECHECK` (a clock set forward or back is noticed).

use std::sync::Arc;
use std::time::Duration;

use dialtone_store::calendar;
use dialtone_store::live::Live;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;

use crate::broadcast::{self, Recording};
use crate::Http;

/// The latest a scheduled page is still sent after its moment.
const LATE: Duration = Duration::from_secs(60);
/// The longest the task sleeps without looking at the clock again.
const RECHECK: Duration = Duration::from_secs(30);

/// What a schedule plays.
#[derive(Debug, Clone)]
pub enum Audio {
    Tone(String),
    /// A WAV file's path, read when the page starts.
    File(String),
}

#[derive(Debug, Clone)]
pub enum Days {
    Weekly(Vec<Weekday>),
    Once(Date),
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub groups: Vec<String>,
    pub audio: Audio,
    pub days: Days,
    pub time: Time,
    pub zone: TimeZone,
    pub repeat: u32,
    pub preamble: bool,
    pub enabled: bool,
}

impl Schedule {
    /// A schedule from its stored record (the store has checked every field).
    pub fn from_record(r: &Value) -> Option<Schedule> {
        let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        let audio = match (text("tone"), text("file")) {
            (Some(t), _) => Audio::Tone(t),
            (None, Some(f)) => Audio::File(f),
            _ => return None,
        };
        let days = match (text("days"), text("date")) {
            (Some(d), _) => Days::Weekly(calendar::weekdays(&d)?),
            (None, Some(d)) => Days::Once(d.parse().ok()?),
            _ => return None,
        };
        Some(Schedule {
            name: text("name")?,
            groups: r
                .get("groups")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|g| g.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            audio,
            days,
            time: calendar::time_of_day(&text("time")?)?,
            zone: jiff::tz::db().get(&text("time_zone")?).ok()?,
            repeat: r.get("repeat").and_then(Value::as_u64).unwrap_or(1) as u32,
            preamble: r.get("preamble").and_then(Value::as_bool).unwrap_or(true),
            enabled: r.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        })
    }

    /// The schedule's first moment after `after` (None: disabled, or a date gone by).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        if !self.enabled {
            return None;
        }
        let at = |date: Date| {
            date.to_datetime(self.time)
                .to_zoned_datetime(self.zone.clone())
                .ok()
                .map(|z| z.timestamp())
                .filter(|t| *t > after)
        };
        match &self.days {
            Days::Once(date) => at(*date),
            Days::Weekly(days) => {
                let today = after.to_zoned_datetime(self.zone.clone()).date();
                (0..=7)
                    .filter_map(|d| today.checked_add(jiff::Span::new().days(d)).ok())
                    .filter(|date| days.contains(&date.weekday()))
                    .find_map(at)
            }
        }
    }
}

/// Send each schedule's pages at their moments, for as long as the node runs.
pub async fn keep(
    http: Arc<Http>,
    schedules: Arc<Live<Vec<Schedule>>>,
    changed: Arc<tokio::sync::Notify>,
) {
    // Moments up to here have been seen to.
    let mut seen = Timestamp::now();
    loop {
        let now = Timestamp::now();
        let all = schedules.get();
        for s in all.iter() {
            let Some(at) = s.next_after(seen).filter(|at| *at <= now) else {
                continue;
            };
            let late = Duration::try_from(now.duration_since(at)).unwrap_or_default();
            if late > LATE {
                tracing::warn!(schedule = %s.name, late_s = late.as_secs(), "scheduled page missed");
                continue;
            }
            send(&http, s);
        }
        seen = now;
        let next = all.iter().filter_map(|s| s.next_after(now)).min();
        let wait = next
            .and_then(|at| Duration::try_from(at.duration_since(now)).ok())
            .unwrap_or(RECHECK)
            .min(RECHECK);
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Start one scheduled page; what stops it is logged (the record shows the pages sent).
fn send(http: &Http, s: &Schedule) {
    let recording = || match &s.audio {
        Audio::Tone(name) => broadcast::recording(Recording::Tone(name), "tone"),
        Audio::File(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                dialtone_web::ApiError::field(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "file",
                    format!("cannot read {path:?}: {e}"),
                )
            })?;
            broadcast::recording(Recording::Wav(bytes), "file")
        }
    };
    let caller = format!("schedule:{}", s.name);
    match broadcast::start(http, &s.groups, recording, s.repeat, s.preamble, &caller) {
        Ok((id, phones, _)) => {
            tracing::info!(schedule = %s.name, page = id, phones, "scheduled page sent")
        }
        Err(e) => tracing::warn!(schedule = %s.name, error = %e.message, "scheduled page not sent"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bell(days: Days, zone: &str) -> Schedule {
        Schedule {
            name: "Bell".into(),
            groups: vec![],
            audio: Audio::Tone("go-ahead".into()),
            days,
            time: Time::new(8, 0, 0, 0).unwrap(),
            zone: jiff::tz::db().get(zone).unwrap(),
            repeat: 1,
            preamble: true,
            enabled: true,
        }
    }

    #[test]
    fn a_weekday_bell_rings_at_local_time_across_daylight_saving() {
        // Fri 2026-03-27 12:00 UTC; Berlin goes to summer time on Sunday the 29th.
        let after: Timestamp = "2026-03-27T12:00:00Z".parse().unwrap();
        let s = bell(
            Days::Weekly(vec![Weekday::Friday, Weekday::Monday]),
            "Europe/Berlin",
        );
        let monday = s.next_after(after).unwrap();
        // 08:00 CEST is 06:00 UTC (before the change it was 07:00 UTC).
        assert_eq!(monday.to_string(), "2026-03-30T06:00:00Z");
        let friday_before: Timestamp = "2026-03-27T06:59:00Z".parse().unwrap();
        assert_eq!(
            s.next_after(friday_before).unwrap().to_string(),
            "2026-03-27T07:00:00Z"
        );
    }

    #[test]
    fn a_date_rings_once_and_a_disabled_schedule_never() {
        let mut s = bell(Days::Once("2026-12-24".parse().unwrap()), "UTC");
        let before: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            s.next_after(before).unwrap().to_string(),
            "2026-12-24T08:00:00Z"
        );
        let after: Timestamp = "2026-12-24T08:00:00Z".parse().unwrap();
        assert_eq!(s.next_after(after), None);
        s.enabled = false;
        assert_eq!(s.next_after(before), None);
    }
}
