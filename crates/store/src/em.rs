//! Extension Mobility logins: durable state, written before a login is acknowledged and read
//! back at start-up (so automatic logout at the maximum login time survives restarts). Not a
//! configuration change: writing a login does not bump [`Store::changes`].

use sqlx::{Connection, Row};

use crate::records::{query_with, Val};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Login {
    pub device: String,
    pub user: String,
    pub profile: String,
    pub login_at_ms: i64,
    /// When the login ends by itself (the maximum login time), if it does.
    pub expires_at_ms: Option<i64>,
}

/// Unified CM's Multiple Login Behavior.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipleLogins {
    Allowed,
    NotAllowed,
    /// The user's other login ends.
    AutoLogout,
}

impl MultipleLogins {
    pub fn from_parameter(v: &str) -> MultipleLogins {
        match v {
            "Multiple Logins Allowed" => MultipleLogins::Allowed,
            "Auto Logout" => MultipleLogins::AutoLogout,
            _ => MultipleLogins::NotAllowed,
        }
    }
}

/// Why a login was refused (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRefused {
    UnknownDevice,
    /// The device does not allow Extension Mobility (its Enable Extension Mobility is off, or
    /// it is a CTI route point or port).
    DeviceNotAllowed,
    UnknownUser,
    /// The user may not use Extension Mobility.
    Disabled,
    /// The user has no device profile (or not the one named).
    NoProfile,
    /// Somebody is logged in to the device.
    DeviceTaken {
        user: String,
    },
    /// Multiple logins are not allowed and the user is logged in elsewhere.
    UserElsewhere {
        device: String,
    },
}

const SELECT: &str = "SELECT d.name, u.user_id, p.name, l.login_at_ms, l.expires_at_ms \
     FROM em_login l JOIN device d ON d.id = l.device_id JOIN end_user u ON u.id = l.user_id \
     JOIN device_profile p ON p.id = l.device_profile_id";

fn login_of(r: &sqlx::any::AnyRow) -> Result<Login, StoreError> {
    Ok(Login {
        device: r.try_get(0)?,
        user: r.try_get(1)?,
        profile: r.try_get(2)?,
        login_at_ms: r.try_get(3)?,
        expires_at_ms: r.try_get(4)?,
    })
}

impl Store {
    /// Every login, by device name.
    pub async fn em_logins(&self) -> Result<Vec<Login>, StoreError> {
        let sql = format!("{SELECT} ORDER BY d.name");
        sqlx::query(&sql)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(login_of)
            .collect()
    }

    /// Log `user` in to `device` with `profile` (the user's default profile when None), in one
    /// transaction. Returns the login and the logins it ended (Auto Logout of the user's
    /// other device), or why it was refused.
    pub async fn em_login(
        &self,
        device: &str,
        user: &str,
        profile: Option<&str>,
        multiple: MultipleLogins,
        now_ms: i64,
        expires_at_ms: Option<i64>,
    ) -> Result<Result<(Login, Vec<Login>), LoginRefused>, StoreError> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        let Some(d) = query_with(
            "SELECT id, model, CAST(CASE WHEN extension_mobility THEN 1 ELSE 0 END AS BIGINT) \
             FROM device WHERE name = $1",
            &[Val::Text(device.into())],
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Err(LoginRefused::UnknownDevice));
        };
        let device_id: String = d.try_get(0)?;
        let model: String = d.try_get(1)?;
        if d.try_get::<i64, _>(2)? == 0 || model.starts_with("CTI ") {
            return Ok(Err(LoginRefused::DeviceNotAllowed));
        }
        let Some(u) = query_with(
            "SELECT id, CAST(CASE WHEN em_enabled THEN 1 ELSE 0 END AS BIGINT) FROM end_user WHERE user_id = $1",
            &[Val::Text(user.into())],
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Err(LoginRefused::UnknownUser));
        };
        let user_id: String = u.try_get(0)?;
        if u.try_get::<i64, _>(1)? == 0 {
            return Ok(Err(LoginRefused::Disabled));
        }
        let profiles = query_with(
            "SELECT p.id, p.name FROM end_user_device_profiles up JOIN device_profile p ON p.id = up.target_id \
             WHERE up.owner_id = $1 ORDER BY up.position",
            &[Val::Text(user_id.clone())],
        )
        .fetch_all(&mut *tx)
        .await?;
        let chosen = profiles.iter().find(|r| {
            profile.is_none_or(|want| r.try_get::<String, _>(1).is_ok_and(|n| n == want))
        });
        let Some(chosen) = chosen else {
            return Ok(Err(LoginRefused::NoProfile));
        };
        let profile_id: String = chosen.try_get(0)?;
        let profile_name: String = chosen.try_get(1)?;
        let taken = format!("{SELECT} WHERE l.device_id = $1");
        if let Some(r) = query_with(&taken, &[Val::Text(device_id.clone())])
            .fetch_optional(&mut *tx)
            .await?
        {
            let current = login_of(&r)?;
            return Ok(Err(LoginRefused::DeviceTaken { user: current.user }));
        }
        let elsewhere = format!("{SELECT} WHERE l.user_id = $1 ORDER BY d.name");
        let others: Vec<Login> = query_with(&elsewhere, &[Val::Text(user_id.clone())])
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(login_of)
            .collect::<Result<_, _>>()?;
        let ended = match (multiple, others.first()) {
            (MultipleLogins::NotAllowed, Some(o)) => {
                return Ok(Err(LoginRefused::UserElsewhere {
                    device: o.device.clone(),
                }))
            }
            (MultipleLogins::AutoLogout, Some(_)) => {
                query_with(
                    "DELETE FROM em_login WHERE user_id = $1",
                    &[Val::Text(user_id.clone())],
                )
                .execute(&mut *tx)
                .await?;
                others
            }
            _ => Vec::new(),
        };
        // Bound as typed values: a NULL expiry must arrive as a BIGINT on PostgreSQL.
        sqlx::query(
            "INSERT INTO em_login (device_id, user_id, device_profile_id, login_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(device_id)
        .bind(user_id)
        .bind(profile_id)
        .bind(now_ms)
        .bind(expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok((
            Login {
                device: device.to_owned(),
                user: user.to_owned(),
                profile: profile_name,
                login_at_ms: now_ms,
                expires_at_ms,
            },
            ended,
        )))
    }

    /// End the login on `device`; the login that ended, if there was one.
    pub async fn em_logout(&self, device: &str) -> Result<Option<Login>, StoreError> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        let sql = format!("{SELECT} WHERE d.name = $1");
        let Some(r) = query_with(&sql, &[Val::Text(device.into())])
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let login = login_of(&r)?;
        query_with(
            "DELETE FROM em_login WHERE device_id = (SELECT id FROM device WHERE name = $1)",
            &[Val::Text(device.into())],
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(login))
    }

    /// A user's wrong-PIN count and lockout end, if any failure is on record.
    pub async fn em_pin_state(&self, user: &str) -> Result<Option<(i64, Option<i64>)>, StoreError> {
        let row = query_with(
            "SELECT l.failures, l.locked_until_ms FROM em_pin_lockout l JOIN end_user u ON u.id = l.user_id \
             WHERE u.user_id = $1",
            &[Val::Text(user.into())],
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// Count a wrong PIN; past `limit` failures (0: never) the user is locked out for
    /// `lockout_ms`. A lockout that has ended starts the count again. Returns the lockout's end
    /// when this failure starts one. Unknown users have nothing to count.
    pub async fn em_pin_failed(
        &self,
        user: &str,
        limit: u32,
        lockout_ms: i64,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        let Some(u) = query_with(
            "SELECT id FROM end_user WHERE user_id = $1",
            &[Val::Text(user.into())],
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let id: String = u.try_get(0)?;
        let current =
            sqlx::query("SELECT failures, locked_until_ms FROM em_pin_lockout WHERE user_id = $1")
                .bind(id.clone())
                .fetch_optional(&mut *tx)
                .await?;
        let (mut failures, until): (i64, Option<i64>) = match current {
            Some(r) => (r.try_get(0)?, r.try_get(1)?),
            None => (0, None),
        };
        if until.is_some_and(|t| t <= now_ms) {
            failures = 0;
        }
        failures += 1;
        let locked = (limit > 0 && failures >= i64::from(limit)).then_some(now_ms + lockout_ms);
        sqlx::query("DELETE FROM em_pin_lockout WHERE user_id = $1")
            .bind(id.clone())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO em_pin_lockout (user_id, failures, locked_until_ms) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(failures)
        .bind(locked.or(until.filter(|t| *t > now_ms)))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(locked)
    }

    /// A right PIN: the count starts again.
    pub async fn em_pin_cleared(&self, user: &str) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        query_with(
            "DELETE FROM em_pin_lockout WHERE user_id = (SELECT id FROM end_user WHERE user_id = $1)",
            &[Val::Text(user.into())],
        )
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
