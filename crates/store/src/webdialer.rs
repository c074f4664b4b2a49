//! WebDialer's durable state: what it needs to know of a user (password, devices, whether
//! they can use Extension Mobility), their saved preferences, and login sessions. A session
//! survives a restart (Unified CM forgets them; nothing a user was told is lost here).

use sqlx::Row;

use crate::records::{query_with, Val};
use crate::{secrets, Store, StoreError};

/// An end user as WebDialer sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebDialerUser {
    pub user_id: String,
    pub password_hash: Option<String>,
    /// Unified CM's "home cluster" flag: the Redirector's isClusterUser answers it.
    pub home_cluster: bool,
    /// Devices the user owns or controls, by name, with their descriptions.
    pub devices: Vec<(String, String)>,
    /// The user has a device profile to log in to phones with.
    pub has_profile: bool,
    /// The primary extension's number.
    pub primary_extension: Option<String>,
}

/// What the preferences page saves.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Preference {
    /// "Use Extension Mobility" rather than a permanent device.
    pub use_em: bool,
    pub device: Option<String>,
    pub line: Option<String>,
    pub dont_auto_close: bool,
    pub dont_show_call_conf: bool,
}

impl Store {
    pub async fn webdialer_user(&self, user: &str) -> Result<Option<WebDialerUser>, StoreError> {
        let Some(row) = query_with(
            "SELECT u.id, u.password_hash, CAST(CASE WHEN u.home_cluster THEN 1 ELSE 0 END AS BIGINT), n.pattern \
             FROM end_user u LEFT JOIN directory_number n ON n.id = u.primary_extension_id WHERE u.user_id = $1",
            &[Val::Text(user.into())],
        )
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let id: String = row.try_get(0)?;
        let devices = query_with(
            "SELECT name, description FROM device WHERE owner_id = $1 \
             UNION SELECT d.name, d.description FROM end_user_devices ud JOIN device d ON d.id = ud.target_id WHERE ud.owner_id = $1 \
             ORDER BY 1",
            &[Val::Text(id.clone())],
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<(String, String)>, StoreError>>()?;
        let profiles: i64 = query_with(
            "SELECT COUNT(*) FROM end_user_device_profiles WHERE owner_id = $1",
            &[Val::Text(id)],
        )
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        Ok(Some(WebDialerUser {
            user_id: user.to_string(),
            password_hash: row.try_get(1)?,
            home_cluster: row.try_get::<i64, _>(2)? != 0,
            devices,
            has_profile: profiles > 0,
            primary_extension: row.try_get(3)?,
        }))
    }

    pub async fn webdialer_preference(&self, user: &str) -> Result<Option<Preference>, StoreError> {
        let row = query_with(
            "SELECT p.use_em, p.device_name, p.line_number, p.dont_auto_close, p.dont_show_call_conf \
             FROM webdialer_preference p JOIN end_user u ON u.id = p.user_id WHERE u.user_id = $1",
            &[Val::Text(user.into())],
        )
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(Preference {
            use_em: r.try_get::<i64, _>(0)? != 0,
            device: r.try_get(1)?,
            line: r.try_get(2)?,
            dont_auto_close: r.try_get::<i64, _>(3)? != 0,
            dont_show_call_conf: r.try_get::<i64, _>(4)? != 0,
        }))
    }

    /// Save `user`'s preferences; false when there is no such user.
    pub async fn set_webdialer_preference(
        &self,
        user: &str,
        p: &Preference,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let opt = |v: &Option<String>| v.clone().map_or(Val::Null, Val::Text);
        let done = query_with(
            "INSERT INTO webdialer_preference (user_id, use_em, device_name, line_number, dont_auto_close, dont_show_call_conf) \
             SELECT id, $2, $3, $4, $5, $6 FROM end_user WHERE user_id = $1 \
             ON CONFLICT (user_id) DO UPDATE SET use_em = excluded.use_em, device_name = excluded.device_name, \
             line_number = excluded.line_number, dont_auto_close = excluded.dont_auto_close, \
             dont_show_call_conf = excluded.dont_show_call_conf",
            &[
                Val::Text(user.into()),
                Val::Int(p.use_em.into()),
                opt(&p.device),
                opt(&p.line),
                Val::Int(p.dont_auto_close.into()),
                Val::Int(p.dont_show_call_conf.into()),
            ],
        )
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Open a session for `user` ending at `expires_at_ms` (None: never); the token to hand
    /// out, or None when there is no such user.
    pub async fn webdialer_session_open(
        &self,
        user: &str,
        now_ms: i64,
        expires_at_ms: Option<i64>,
    ) -> Result<Option<String>, StoreError> {
        let _turn = self.write_turn().await;
        let (token, digest) = secrets::new_token();
        // Sessions that have ended go as new ones open, so the table does not grow forever.
        query_with(
            "DELETE FROM webdialer_session WHERE expires_at IS NOT NULL AND expires_at <= $1",
            &[Val::Int(now_ms)],
        )
        .execute(self.pool())
        .await?;
        // A NULL parameter travels as text, which PostgreSQL will not put in a BIGINT column.
        let sql = if expires_at_ms.is_some() {
            "INSERT INTO webdialer_session (token_hash, user_id, created_at, expires_at) \
             SELECT $1, id, $2, $4 FROM end_user WHERE user_id = $3"
        } else {
            "INSERT INTO webdialer_session (token_hash, user_id, created_at, expires_at) \
             SELECT $1, id, $2, NULL FROM end_user WHERE user_id = $3"
        };
        let mut vals = vec![Val::Text(digest), Val::Int(now_ms), Val::Text(user.into())];
        vals.extend(expires_at_ms.map(Val::Int));
        let done = query_with(sql, &vals).execute(self.pool()).await?;
        Ok((done.rows_affected() > 0).then_some(token))
    }

    /// The user a live session belongs to, with the session's start.
    pub async fn webdialer_session(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row = query_with(
            "SELECT u.user_id, s.created_at FROM webdialer_session s JOIN end_user u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND (s.expires_at IS NULL OR s.expires_at > $2)",
            &[Val::Text(secrets::token_digest(token)), Val::Int(now_ms)],
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// End a session; false when it was not open.
    pub async fn webdialer_session_close(&self, token: &str) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let done = query_with(
            "DELETE FROM webdialer_session WHERE token_hash = $1",
            &[Val::Text(secrets::token_digest(token))],
        )
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
