//! The checks a record passes before anything is written: each text field against its rule
//! (names, user IDs, patterns, masks, digits, URLs), the resource's cross-field rules (a
//! device's name by its model, exactly-one references), and no unknown fields.

use serde_json::{Map, Value};
use sqlx::{AnyConnection, Row};

use crate::catalogue::{Field, Kind, Resource, Rule, TextRule};
use crate::StoreError;

use super::query_with;

pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

pub(super) fn check_text(
    field: &Field,
    max: usize,
    rule: TextRule,
    s: &str,
) -> Result<(), StoreError> {
    let name = field.name;
    if s.chars().count() > max {
        return Err(invalid(name, format!("at most {max} characters")));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(invalid(name, "control characters are not allowed"));
    }
    match rule {
        TextRule::Any => {}
        TextRule::Name => {
            if s.is_empty() {
                return Err(invalid(name, "must not be empty"));
            }
            if s.trim() != s {
                return Err(invalid(name, "must not begin or end with white space"));
            }
        }
        TextRule::Identifier => {
            if s.is_empty() {
                return Err(invalid(name, "must not be empty"));
            }
            if s.trim() != s {
                return Err(invalid(name, "must not begin or end with white space"));
            }
            if let Some(c) = s
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_')))
            {
                return Err(invalid(
                    name,
                    format!("'{c}' is not allowed: use letters, digits, spaces, '.', '-' and '_'"),
                ));
            }
        }
        TextRule::UserId => {
            if s.is_empty() {
                return Err(invalid(name, "must not be empty"));
            }
            if let Some(c) = s
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')))
            {
                return Err(invalid(
                    name,
                    format!("'{c}' is not allowed in a user ID: use letters, digits, '.', '_', '-', '@' and '+'"),
                ));
            }
        }
        // Checked with the model, by the resource's rule.
        TextRule::DeviceName => {
            if s.is_empty() {
                return Err(invalid(name, "must not be empty"));
            }
        }
        TextRule::Pattern => {
            dialtone_dialplan::Pattern::parse(s).map_err(|e| invalid(name, e.to_string()))?;
        }
        TextRule::Mask => {
            if let Some(c) = s
                .chars()
                .find(|c| !(c.is_ascii_digit() || "*#Xx".contains(*c)))
            {
                return Err(invalid(
                    name,
                    format!("'{c}' is not a mask character (0-9 * # X)"),
                ));
            }
        }
        TextRule::Digits => {
            if let Some(c) = s.chars().find(|c| !dialtone_dialplan::is_dialled_char(*c)) {
                return Err(invalid(
                    name,
                    format!("'{c}' is not a digit (0-9, *, #, +)"),
                ));
            }
        }
        TextRule::DirectoryNumber => {
            if let Some(c) = s.chars().find(|c| matches!(c, '.' | '@')) {
                return Err(invalid(
                    name,
                    format!("'{c}' is not allowed in a directory number (digits, or a pattern with X, [ ], ! and ?)"),
                ));
            }
            // Digits as dialled (`+` included, as E.164 numbers are written) are a number;
            // anything else must read as a pattern.
            if !dialtone_dialplan::is_dialled(s) {
                dialtone_dialplan::Pattern::parse(s).map_err(|e| invalid(name, e.to_string()))?;
            }
        }
        TextRule::MulticastIpv4 => {
            let ip: std::net::Ipv4Addr = s
                .parse()
                .map_err(|_| invalid(name, format!("{s:?} is not an IPv4 address")))?;
            if ip.octets()[0] != 239 {
                return Err(invalid(
                    name,
                    format!("{ip} is not in 239.0.0.0/8, the administratively scoped multicast block pages use"),
                ));
            }
        }
        TextRule::AbsolutePath => {
            let path = std::path::Path::new(s);
            if !path.is_absolute()
                || path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
                || s.chars().any(char::is_control)
            {
                return Err(invalid(
                    name,
                    format!("{s:?} is not an absolute path without '..'"),
                ));
            }
        }
        TextRule::Weekdays => {
            if crate::calendar::weekdays(s).is_none() {
                return Err(invalid(
                    name,
                    format!("{s:?}: give days as mon,tue,wed,thu,fri,sat,sun (comma-separated) or daily"),
                ));
            }
        }
        TextRule::TimeOfDay => {
            if crate::calendar::time_of_day(s).is_none() {
                return Err(invalid(
                    name,
                    format!("{s:?} is not a time of day (HH:MM or HH:MM:SS)"),
                ));
            }
        }
        TextRule::Date => {
            if s.parse::<jiff::civil::Date>().is_err() || s.len() != 10 {
                return Err(invalid(name, format!("{s:?} is not a date (YYYY-MM-DD)")));
            }
        }
        TextRule::TimeZone => {
            if jiff::tz::db().get(s).is_err() {
                return Err(invalid(
                    name,
                    format!("{s:?} is not a time zone this node knows (an IANA name such as Europe/Berlin or UTC)"),
                ));
            }
        }
        TextRule::Url => {
            // `Application:Cisco/...` names an application built into the phone (the call
            // lists, the directories), as Unified CM's default services do.
            // A path (`/ccmcip/...`) is a page of this node, made a URL with the node's
            // address as phones reach it now, so it follows the node's host and ports.
            if !(s.is_empty()
                || s.starts_with("http://")
                || s.starts_with("https://")
                || (s.starts_with('/') && !s.starts_with("//"))
                || s.starts_with("Application:"))
            {
                return Err(invalid(
                    name,
                    "must be an http:// or https:// URL, a path on this node (/...), or Application:... for a phone's built-in application",
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why `name` is not a device name its `model` takes, if it is not (see `Rule::DeviceName`).
pub fn device_name_problem(name: &str, model: &str) -> Option<String> {
    let hex12 = |rest: &str| rest.len() == 12 && rest.chars().all(|c| c.is_ascii_hexdigit());
    if model.starts_with("CTI ") {
        let ok = (1..=15).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        return (!ok)
            .then(|| format!("a {model}'s name is up to 15 letters, digits, '.', '-' or '_'"));
    }
    let upper = name.to_ascii_uppercase();
    for jabber in ["CSF", "BOT", "TCT", "TAB"] {
        if let Some(rest) = upper.strip_prefix(jabber) {
            let ok =
                (1..=12).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_alphanumeric());
            return (!ok).then(|| {
                format!("a Jabber device's name is {jabber} and up to 12 letters or digits")
            });
        }
    }
    let mac = upper
        .strip_prefix("SEP")
        .or_else(|| upper.strip_prefix("ATA"));
    if mac.is_some_and(hex12) {
        return None;
    }
    Some(
        "a phone's name is SEP followed by the 12 hex digits of its MAC address (SEP001122334455); ATA for analog adapters, CSF/BOT/TCT/TAB for Jabber, or a CTI model for route points and ports"
            .to_string(),
    )
}

pub(super) fn check_rules(res: &Resource, merged: &Map<String, Value>) -> Result<(), StoreError> {
    let set = |name: &str| merged.get(name).is_some_and(|v| !v.is_null());
    for rule in res.rules {
        match rule {
            Rule::DeviceName(name_field, model_field) => {
                let text = |f: &str| merged.get(f).and_then(Value::as_str).unwrap_or("");
                if let Some(why) = device_name_problem(text(name_field), text(model_field)) {
                    return Err(invalid(*name_field, why));
                }
            }
            Rule::ExactlyOne(fields) => {
                let n = fields.iter().filter(|f| set(f)).count();
                if n != 1 {
                    return Err(invalid(
                        fields[0],
                        format!("give exactly one of {}", fields.join(", ")),
                    ));
                }
            }
            // Checked against the other records by `check_overlap`.
            Rule::NoOverlap { .. } => {}
            Rule::RequiredWhen {
                field,
                when,
                equals,
            } => {
                let chosen = merged.get(*when).and_then(Value::as_str) == Some(*equals);
                if chosen && !set(field) {
                    return Err(invalid(
                        *field,
                        format!("required when {when} is {equals:?}"),
                    ));
                }
                if !chosen && set(field) {
                    return Err(invalid(
                        *field,
                        format!("only given when {when} is {equals:?}"),
                    ));
                }
            }
            Rule::AtMostOneUnless(fields, unless) => {
                let n = fields.iter().filter(|f| set(f)).count();
                let exempt = merged
                    .get(*unless)
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if n > 1 {
                    return Err(invalid(
                        fields[1],
                        format!("give at most one of {}", fields.join(", ")),
                    ));
                }
                if n == 0 && !exempt {
                    return Err(invalid(
                        fields[0],
                        format!("give one of {} (or set {unless})", fields.join(", ")),
                    ));
                }
            }
        }
    }
    Ok(())
}

pub(super) fn reject_unknown(res: &Resource, body: &Map<String, Value>) -> Result<(), StoreError> {
    for k in body.keys() {
        if res.field(k).is_none() {
            let read_only = k == "id"
                || res
                    .fields
                    .iter()
                    .any(|f| matches!(f.kind, Kind::Secret(_)) && *k == format!("{}_set", f.name));
            return Err(if read_only {
                invalid(k.clone(), "is read-only")
            } else {
                invalid(
                    k.clone(),
                    format!("unknown field; {} has no such field", res.singular),
                )
            });
        }
    }
    Ok(())
}

/// A record's range as `Rule::NoOverlap` reads it: first and last address, as numbers.
fn range_of(first: &str, count: i64) -> Option<(u32, u32)> {
    let first = u32::from(first.parse::<std::net::Ipv4Addr>().ok()?);
    let last = first.checked_add(u32::try_from(count).ok()?.checked_sub(1)?)?;
    // The range stays in 239.0.0.0/8.
    (last >> 24 == 239).then_some((first, last))
}

/// `Rule::NoOverlap`: the record's range within 239/8, overlapping no other record's, and
/// the only record for its `one_per` reference.
pub(super) async fn check_overlap(
    conn: &mut AnyConnection,
    res: &'static Resource,
    merged: &Map<String, Value>,
    own_id: Option<&str>,
) -> Result<(), StoreError> {
    for rule in res.rules {
        let Rule::NoOverlap {
            first,
            count,
            one_per,
        } = rule
        else {
            continue;
        };
        let field = |f: &str| res.field(f).expect("rules name real fields");
        let start = merged.get(*first).and_then(Value::as_str).unwrap_or("");
        let n = merged.get(*count).and_then(Value::as_i64).unwrap_or(0);
        let Some((lo, hi)) = range_of(start, n) else {
            return Err(invalid(
                *count,
                format!("{n} addresses from {start} run past 239.255.255.255"),
            ));
        };
        let owner = match (&field(one_per).kind, merged.get(*one_per)) {
            (Kind::Ref { target: t, .. }, Some(key)) => {
                super::find_id(conn, super::target(t), key, one_per).await?
            }
            _ => None,
        };
        let sql = format!(
            "SELECT id, name, {}, {}, {} FROM {}",
            field(one_per).column,
            field(first).column,
            field(count).column,
            res.table
        );
        for row in query_with(&sql, &[]).fetch_all(&mut *conn).await? {
            let id: String = row.try_get(0)?;
            if Some(id.as_str()) == own_id {
                continue;
            }
            let other: String = row.try_get(1)?;
            let other_owner: Option<String> = row.try_get(2)?;
            if owner.is_some() && other_owner == owner {
                return Err(StoreError::Conflict {
                    field: one_per.to_string(),
                    message: format!("the {} {other} already has this {one_per}", res.singular),
                });
            }
            let other_first: String = row.try_get(3)?;
            let other_count: i64 = row.try_get(4)?;
            if let Some((a, b)) = range_of(&other_first, other_count) {
                if lo <= b && a <= hi {
                    return Err(StoreError::Conflict {
                        field: first.to_string(),
                        message: format!(
                            "{n} addresses from {start} overlap the {} {other} ({other_count} from {other_first})",
                            res.singular
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}
