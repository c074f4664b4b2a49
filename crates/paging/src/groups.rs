//! Recipient groups as the store describes them, and who is in one now: the phones named,
//! and the phones whose attributes match its rules (device pool, model, description, a
//! directory number pattern), read from the phones' configuration at the moment of the page,
//! so a group by attribute is never out of date. No 50-phone limit.

use std::time::Duration;

use dialtone_dialplan::Pattern;
use dialtone_provisioning::Phones;
use serde_json::Value;

/// One recipient group.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub dialcast_number: String,
    pub devices: Vec<String>,
    pub device_pool: Option<String>,
    pub model: String,
    pub description_contains: String,
    pub number_pattern: Option<Pattern>,
    pub skip_busy: bool,
    pub skip_dnd: bool,
    pub emergency: bool,
    pub join_deadline: Duration,
    /// 0: the phones' own volume.
    pub volume: u8,
}

/// Devices that are not phones: nothing to page there.
const NOT_PHONES: &[&str] = &["CTI Route Point", "CTI Port"];

impl Group {
    /// A group from its stored record (the store has checked every field).
    pub fn from_record(r: &Value) -> Option<Group> {
        let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let flag = |k: &str| r.get(k).and_then(Value::as_bool).unwrap_or(false);
        let pattern = text("number_pattern");
        Some(Group {
            name: r.get("name")?.as_str()?.to_string(),
            dialcast_number: r.get("dialcast_number")?.as_str()?.to_string(),
            devices: r
                .get("devices")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            device_pool: r
                .get("device_pool")
                .and_then(Value::as_str)
                .map(str::to_string),
            model: text("model"),
            description_contains: text("description_contains"),
            number_pattern: (!pattern.is_empty())
                .then(|| Pattern::parse(&pattern).ok())
                .flatten(),
            skip_busy: flag("skip_busy"),
            skip_dnd: flag("skip_dnd"),
            emergency: flag("emergency"),
            join_deadline: Duration::from_millis(
                r.get("join_deadline_ms")
                    .and_then(Value::as_u64)
                    .unwrap_or(3000),
            ),
            volume: r
                .get("volume")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(100) as u8,
        })
    }

    fn has_attribute_rule(&self) -> bool {
        self.device_pool.is_some()
            || !self.model.is_empty()
            || !self.description_contains.is_empty()
            || self.number_pattern.is_some()
    }

    /// The group's phones now: those named, then those its attribute rules match (every
    /// rule given must hold), each once, in that order.
    pub fn members(&self, phones: &Phones) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for d in &self.devices {
            if seen.insert(d.clone()) {
                out.push(d.clone());
            }
        }
        if !self.has_attribute_rule() {
            return out;
        }
        for d in &phones.catalog.devices {
            if NOT_PHONES.contains(&d.model.as_str()) {
                continue;
            }
            let pool = self
                .device_pool
                .as_ref()
                .is_none_or(|p| *p == d.device_pool);
            let model = self.model.is_empty() || self.model == d.model;
            let description = self.description_contains.is_empty()
                || d.description.contains(&self.description_contains);
            let number = self
                .number_pattern
                .as_ref()
                .is_none_or(|p| d.lines.iter().any(|l| p.matches(&l.pattern).0));
            if pool && model && description && number && seen.insert(d.name.clone()) {
                out.push(d.name.clone());
            }
        }
        out
    }
}
