//! What phone-facing HTTP needs, read in one transaction: devices with their lines, owners and
//! subscriptions; the IP phone services catalogue; the corporate and personal directories; the
//! enterprise parameters for phone URLs. Served from memory and re-read when the store changes,
//! so a phone pressing Services never waits on SQL.

use std::collections::HashMap;

use sqlx::{AnyConnection, Connection, Row};

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneLine {
    pub index: u32,
    pub pattern: String,
    pub display_name: String,
    pub label: String,
    /// The directory number's alerting name, used when the appearance has no display name.
    pub alerting_name: String,
    /// Other devices carry the same directory number.
    pub shared: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneDevice {
    pub name: String,
    pub model: String,
    pub description: String,
    pub device_pool: String,
    pub owner: Option<String>,
    pub digest_user: Option<String>,
    pub lines: Vec<PhoneLine>,
    /// Subscribed services by name, in the administrator's order.
    pub services: Vec<String>,
    /// The device's own parameter values: (service, parameter, value).
    pub parameter_values: Vec<(String, String, String)>,
    /// The device profile it carries while nobody is logged in (Extension Mobility).
    pub logout_profile: Option<String>,
    /// (index, number, label)
    pub speed_dials: Vec<(u32, String, String)>,
}

/// A device profile: the lines and services a device takes while its user is logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneProfile {
    pub name: String,
    pub lines: Vec<PhoneLine>,
    pub services: Vec<String>,
    /// (index, number, label)
    pub speed_dials: Vec<(u32, String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceParameter {
    pub name: String,
    pub default_value: String,
    /// A subscription must give a value (its own, or the default).
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneService {
    pub name: String,
    pub description: String,
    pub url: String,
    pub secure_url: String,
    /// "IP Phone Service", "Directories" or "Messages".
    pub service_type: String,
    /// "XML" or "Java MIDlet".
    pub category: String,
    pub enterprise_subscription: bool,
    pub enabled: bool,
    pub parameters: Vec<ServiceParameter>,
}

/// An end user as the corporate directory lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub user_id: String,
    pub first_name: String,
    pub last_name: String,
    pub department: String,
    /// The primary extension's number, if any.
    pub number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalEntry {
    pub nickname: String,
    pub first_name: String,
    pub last_name: String,
    pub work_number: String,
    pub home_number: String,
    pub mobile_number: String,
}

#[derive(Debug, Clone, Default)]
pub struct PhoneCatalog {
    pub devices: Vec<PhoneDevice>,
    pub services: Vec<PhoneService>,
    /// Sorted by last name, then first name.
    pub users: Vec<DirectoryUser>,
    /// By end user ID, sorted by nickname.
    pub personal: HashMap<String, Vec<PersonalEntry>>,
    /// Enterprise parameters by name, as stored or defaulted (services_provisioning, url_*).
    pub parameters: HashMap<String, String>,
    /// Device profiles by name (Extension Mobility).
    pub profiles: HashMap<String, PhoneProfile>,
}

fn flag(r: &sqlx::any::AnyRow, i: usize) -> Result<bool, StoreError> {
    Ok(r.try_get::<i64, _>(i)? != 0)
}

const BOOL: &str = "CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT)";

fn boolean(col: &str) -> String {
    BOOL.replace("{}", col)
}

/// Line appearances by owner (`device_id` or `device_profile_id`), in line order.
async fn phone_lines(
    c: &mut AnyConnection,
    owner: &str,
) -> Result<HashMap<String, Vec<PhoneLine>>, StoreError> {
    let mut lines: HashMap<String, Vec<PhoneLine>> = HashMap::new();
    let sql = format!(
        "SELECT la.{owner}, la.line_index, dn.pattern, la.display_name, la.label, dn.alerting_name, \
                COALESCE(c.n, 0) \
         FROM line_appearance la JOIN directory_number dn ON dn.id = la.directory_number_id \
         LEFT JOIN (SELECT directory_number_id, COUNT(*) AS n FROM line_appearance \
                    WHERE device_id IS NOT NULL GROUP BY directory_number_id) c \
                ON c.directory_number_id = la.directory_number_id \
         WHERE la.{owner} IS NOT NULL ORDER BY la.{owner}, la.line_index"
    );
    for r in sqlx::query(&sql).fetch_all(&mut *c).await? {
        lines.entry(r.try_get(0)?).or_default().push(PhoneLine {
            index: r.try_get::<i64, _>(1)?.clamp(0, u32::MAX as i64) as u32,
            pattern: r.try_get(2)?,
            display_name: r.try_get(3)?,
            label: r.try_get(4)?,
            alerting_name: r.try_get(5)?,
            shared: r.try_get::<i64, _>(6)? > 1,
        });
    }
    Ok(lines)
}

/// Subscribed services by owner, in order, from `table` (`device_services` or
/// `device_profile_services`).
async fn subscriptions(
    c: &mut AnyConnection,
    table: &str,
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut services: HashMap<String, Vec<String>> = HashMap::new();
    let sql = format!(
        "SELECT ds.owner_id, s.name FROM {table} ds JOIN ip_phone_service s ON s.id = ds.target_id \
         ORDER BY ds.owner_id, ds.position"
    );
    for r in sqlx::query(&sql).fetch_all(&mut *c).await? {
        services
            .entry(r.try_get(0)?)
            .or_default()
            .push(r.try_get(1)?);
    }
    Ok(services)
}

/// Speed dials by owner (`device_id` or `device_profile_id`), in index order.
async fn speed_dials(
    c: &mut AnyConnection,
    owner: &str,
) -> Result<HashMap<String, Vec<(u32, String, String)>>, StoreError> {
    let mut out: HashMap<String, Vec<(u32, String, String)>> = HashMap::new();
    let sql = format!(
        "SELECT {owner}, speed_index, number, label FROM speed_dial WHERE {owner} IS NOT NULL \
         ORDER BY {owner}, speed_index"
    );
    for r in sqlx::query(&sql).fetch_all(&mut *c).await? {
        out.entry(r.try_get(0)?).or_default().push((
            r.try_get::<i64, _>(1)?.clamp(0, u32::MAX as i64) as u32,
            r.try_get(2)?,
            r.try_get(3)?,
        ));
    }
    Ok(out)
}

async fn profiles(c: &mut AnyConnection) -> Result<HashMap<String, PhoneProfile>, StoreError> {
    let mut lines = phone_lines(c, "device_profile_id").await?;
    let mut services = subscriptions(c, "device_profile_services").await?;
    let mut dials = speed_dials(c, "device_profile_id").await?;
    let mut out = HashMap::new();
    for r in sqlx::query("SELECT id, name FROM device_profile")
        .fetch_all(&mut *c)
        .await?
    {
        let id: String = r.try_get(0)?;
        let name: String = r.try_get(1)?;
        out.insert(
            name.clone(),
            PhoneProfile {
                name,
                lines: lines.remove(&id).unwrap_or_default(),
                services: services.remove(&id).unwrap_or_default(),
                speed_dials: dials.remove(&id).unwrap_or_default(),
            },
        );
    }
    Ok(out)
}

async fn devices(c: &mut AnyConnection) -> Result<Vec<PhoneDevice>, StoreError> {
    let mut lines = phone_lines(c, "device_id").await?;
    let mut services = subscriptions(c, "device_services").await?;
    let mut dials = speed_dials(c, "device_id").await?;
    let mut values: HashMap<String, Vec<(String, String, String)>> = HashMap::new();
    for r in sqlx::query(
        "SELECT sp.device_id, s.name, p.name, sp.value FROM subscription_parameter sp \
         JOIN ip_phone_service_parameter p ON p.id = sp.parameter_id \
         JOIN ip_phone_service s ON s.id = p.service_id ORDER BY sp.device_id, s.name, p.name",
    )
    .fetch_all(&mut *c)
    .await?
    {
        values.entry(r.try_get(0)?).or_default().push((
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
        ));
    }
    let mut out = Vec::new();
    for r in sqlx::query(
        "SELECT d.id, d.name, d.model, d.description, dp.name, u.user_id, d.digest_user, lp.name \
         FROM device d JOIN device_pool dp ON dp.id = d.device_pool_id \
         LEFT JOIN end_user u ON u.id = d.owner_id \
         LEFT JOIN device_profile lp ON lp.id = d.logout_profile_id ORDER BY d.name",
    )
    .fetch_all(&mut *c)
    .await?
    {
        let id: String = r.try_get(0)?;
        out.push(PhoneDevice {
            name: r.try_get(1)?,
            model: r.try_get(2)?,
            description: r.try_get(3)?,
            device_pool: r.try_get(4)?,
            owner: r.try_get(5)?,
            digest_user: r.try_get(6)?,
            lines: lines.remove(&id).unwrap_or_default(),
            services: services.remove(&id).unwrap_or_default(),
            parameter_values: values.remove(&id).unwrap_or_default(),
            logout_profile: r.try_get(7)?,
            speed_dials: dials.remove(&id).unwrap_or_default(),
        });
    }
    Ok(out)
}

async fn services(c: &mut AnyConnection) -> Result<Vec<PhoneService>, StoreError> {
    let mut parameters: HashMap<String, Vec<ServiceParameter>> = HashMap::new();
    for r in sqlx::query(
        &format!(
            "SELECT service_id, name, default_value, {} FROM ip_phone_service_parameter ORDER BY service_id, name",
            boolean("required")
        ),
    )
    .fetch_all(&mut *c)
    .await?
    {
        parameters
            .entry(r.try_get(0)?)
            .or_default()
            .push(ServiceParameter {
                name: r.try_get(1)?,
                default_value: r.try_get(2)?,
                required: flag(&r, 3)?,
            });
    }
    let sql = format!(
        "SELECT id, name, description, url, secure_url, service_type, category, {}, {} \
         FROM ip_phone_service ORDER BY name",
        boolean("enterprise_subscription"),
        boolean("enabled")
    );
    let mut out = Vec::new();
    for r in sqlx::query(&sql).fetch_all(&mut *c).await? {
        let id: String = r.try_get(0)?;
        out.push(PhoneService {
            name: r.try_get(1)?,
            description: r.try_get(2)?,
            url: r.try_get(3)?,
            secure_url: r.try_get(4)?,
            service_type: r.try_get(5)?,
            category: r.try_get(6)?,
            enterprise_subscription: flag(&r, 7)?,
            enabled: flag(&r, 8)?,
            parameters: parameters.remove(&id).unwrap_or_default(),
        });
    }
    Ok(out)
}

async fn users(c: &mut AnyConnection) -> Result<Vec<DirectoryUser>, StoreError> {
    let mut out = Vec::new();
    for r in sqlx::query(
        "SELECT u.user_id, u.first_name, u.last_name, u.department, dn.pattern \
         FROM end_user u LEFT JOIN directory_number dn ON dn.id = u.primary_extension_id \
         ORDER BY u.last_name, u.first_name, u.user_id",
    )
    .fetch_all(&mut *c)
    .await?
    {
        out.push(DirectoryUser {
            user_id: r.try_get(0)?,
            first_name: r.try_get(1)?,
            last_name: r.try_get(2)?,
            department: r.try_get(3)?,
            number: r.try_get(4)?,
        });
    }
    Ok(out)
}

async fn personal(
    c: &mut AnyConnection,
) -> Result<HashMap<String, Vec<PersonalEntry>>, StoreError> {
    let mut out: HashMap<String, Vec<PersonalEntry>> = HashMap::new();
    for r in sqlx::query(
        "SELECT u.user_id, p.nickname, p.first_name, p.last_name, p.work_number, p.home_number, p.mobile_number \
         FROM personal_directory_entry p JOIN end_user u ON u.id = p.user_id ORDER BY u.user_id, p.nickname",
    )
    .fetch_all(&mut *c)
    .await?
    {
        out.entry(r.try_get(0)?).or_default().push(PersonalEntry {
            nickname: r.try_get(1)?,
            first_name: r.try_get(2)?,
            last_name: r.try_get(3)?,
            work_number: r.try_get(4)?,
            home_number: r.try_get(5)?,
            mobile_number: r.try_get(6)?,
        });
    }
    Ok(out)
}

impl Store {
    /// Everything phone-facing HTTP serves, as one consistent snapshot.
    pub async fn phone_catalog(&self) -> Result<PhoneCatalog, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        let catalog = PhoneCatalog {
            devices: devices(&mut tx).await?,
            services: services(&mut tx).await?,
            users: users(&mut tx).await?,
            personal: personal(&mut tx).await?,
            parameters: HashMap::new(),
            profiles: profiles(&mut tx).await?,
        };
        tx.commit().await?;
        drop(conn);
        let mut parameters = HashMap::new();
        for p in self.parameters().await? {
            if p["scope"] != "enterprise" {
                continue;
            }
            let text = match &p["value"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            parameters.insert(p["name"].as_str().unwrap_or_default().to_owned(), text);
        }
        Ok(PhoneCatalog {
            parameters,
            ..catalog
        })
    }

    /// An end user's PIN hash (Extension Mobility), if the user exists; None inside when the
    /// user has no PIN.
    pub async fn end_user_pin(&self, user_id: &str) -> Result<Option<Option<String>>, StoreError> {
        let row = crate::records::query_with(
            "SELECT pin_hash FROM end_user WHERE user_id = $1",
            &[crate::records::Val::Text(user_id.into())],
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// What the phones' Authentication URL checks: an end user's password hash and the devices
    /// they own or control.
    pub async fn end_user_phone_auth(
        &self,
        user_id: &str,
    ) -> Result<Option<(Option<String>, Vec<String>)>, StoreError> {
        let row = crate::records::query_with(
            "SELECT id, password_hash FROM end_user WHERE user_id = $1",
            &[crate::records::Val::Text(user_id.into())],
        )
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get(0)?;
        let hash: Option<String> = row.try_get(1)?;
        let devices = crate::records::query_with(
            "SELECT name FROM device WHERE owner_id = $1 \
             UNION SELECT d.name FROM end_user_devices ud JOIN device d ON d.id = ud.target_id WHERE ud.owner_id = $1",
            &[crate::records::Val::Text(id)],
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        Ok(Some((hash, devices)))
    }
}
