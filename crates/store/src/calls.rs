//! Call detail records: one row per call, written when it ends.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::records::query_with;
use crate::{Store, StoreError, Val};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub id: String,
    pub call_id: String,
    pub calling_number: String,
    pub calling_device: Option<String>,
    pub calling_trunk: Option<String>,
    pub dialled_number: String,
    pub called_number: String,
    pub called_device: Option<String>,
    pub called_trunk: Option<String>,
    /// The number first dialled when the call was forwarded, and why it left it.
    pub original_called_number: Option<String>,
    pub redirect_reason: Option<String>,
    /// The pattern that routed the call, and its partition.
    pub pattern: Option<String>,
    pub partition: Option<String>,
    pub authorization_code_name: Option<String>,
    pub authorization_level: Option<u32>,
    pub client_matter_code: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: i64,
    pub duration_seconds: i64,
    /// normal, busy, no_answer, cancelled, unavailable, rejected, failed, session_expired,
    /// no_ack (the caller never acknowledged the answer), max_duration, ...
    pub cause: String,
    /// The final SIP status the caller got (200 for an answered call).
    pub sip_status: u16,
    /// calling, called or system.
    pub ended_by: String,
}

const COLUMNS: &str =
    "id, call_id, calling_number, calling_device, calling_trunk, dialled_number, \
    called_number, called_device, called_trunk, original_called_number, redirect_reason, pattern, \
    partition_name, authorization_code_name, authorization_level, client_matter_code, started_at, \
    answered_at, ended_at, duration_seconds, cause, sip_status, ended_by";

impl Store {
    /// Write one call's record (durable before this returns).
    pub async fn record_call(&self, r: &CallRecord) -> Result<(), StoreError> {
        self.record_calls(std::slice::from_ref(r)).await
    }

    /// Write several calls' records in one transaction (one disk sync for all of them).
    pub async fn record_calls(&self, records: &[CallRecord]) -> Result<(), StoreError> {
        let placeholders: Vec<String> = (1..=23).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO call_detail_record ({COLUMNS}) VALUES ({})",
            placeholders.join(", ")
        );
        // Bound one by one with their own types: a NULL must reach PostgreSQL as the
        // column's type, not as text.
        let _turn = self.write_turn().await;
        let mut tx = self.pool().begin().await?;
        for r in records {
            let q = sqlx::query(&sql)
                .bind(r.id.clone())
                .bind(r.call_id.clone())
                .bind(r.calling_number.clone())
                .bind(r.calling_device.clone())
                .bind(r.calling_trunk.clone())
                .bind(r.dialled_number.clone())
                .bind(r.called_number.clone())
                .bind(r.called_device.clone())
                .bind(r.called_trunk.clone())
                .bind(r.original_called_number.clone())
                .bind(r.redirect_reason.clone())
                .bind(r.pattern.clone())
                .bind(r.partition.clone())
                .bind(r.authorization_code_name.clone())
                .bind(r.authorization_level.map(i64::from))
                .bind(r.client_matter_code.clone())
                .bind(r.started_at)
                .bind(r.answered_at)
                .bind(r.ended_at)
                .bind(r.duration_seconds)
                .bind(r.cause.clone())
                .bind(r.sip_status as i64)
                .bind(r.ended_by.clone());
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest records first; `limit` at most 1000.
    pub async fn call_records(&self, limit: u32) -> Result<Vec<CallRecord>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM call_detail_record ORDER BY ended_at DESC, id LIMIT $1");
        let rows = query_with(&sql, &[Val::Int(limit.clamp(1, 1000) as i64)])
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(CallRecord {
                id: r.try_get(0)?,
                call_id: r.try_get(1)?,
                calling_number: r.try_get(2)?,
                calling_device: r.try_get(3)?,
                calling_trunk: r.try_get(4)?,
                dialled_number: r.try_get(5)?,
                called_number: r.try_get(6)?,
                called_device: r.try_get(7)?,
                called_trunk: r.try_get(8)?,
                original_called_number: r.try_get(9)?,
                redirect_reason: r.try_get(10)?,
                pattern: r.try_get(11)?,
                partition: r.try_get(12)?,
                authorization_code_name: r.try_get(13)?,
                authorization_level: r.try_get::<Option<i64>, _>(14)?.map(|n| n as u32),
                client_matter_code: r.try_get(15)?,
                started_at: r.try_get(16)?,
                answered_at: r.try_get(17)?,
                ended_at: r.try_get(18)?,
                duration_seconds: r.try_get(19)?,
                cause: r.try_get(20)?,
                sip_status: r.try_get::<i64, _>(21)? as u16,
                ended_by: r.try_get(22)?,
            });
        }
        Ok(out)
    }
}
