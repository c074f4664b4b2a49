//! The call-control snapshot: devices with their line appearances, directory numbers with
//! their features, SIP trunks, and the dial plan, read in one transaction so they agree.
//! Call control compiles it once and never waits on SQL while a call is set up.

use std::collections::HashMap;

use dialtone_dialplan::PlanConfig;
use sqlx::{AnyConnection, Connection, Row};

use crate::{Store, StoreError};

/// A forwarding setting of a directory number: where to, searched with which CSS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forward {
    pub destination: String,
    pub css: Option<String>,
}

impl Forward {
    pub fn is_set(&self) -> bool {
        !self.destination.is_empty()
    }
}

/// A music-on-hold audio source as the node plays it (`moh-audio-sources`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HoldAudio {
    Melody,
    Silence,
    /// A WAV file's path on the node.
    File(String),
}

impl HoldAudio {
    /// From a source's `audio` and `file` columns (the catalogue sees the file is given with
    /// "file"; an unknown audio reads as the melody).
    fn from_columns(audio: Option<String>, file: Option<String>) -> Option<HoldAudio> {
        Some(match (audio?.as_str(), file) {
            ("silence", _) => HoldAudio::Silence,
            ("file", Some(path)) => HoldAudio::File(path),
            _ => HoldAudio::Melody,
        })
    }
}

/// A directory number as call control needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineConfig {
    pub pattern: String,
    pub partition: Option<String>,
    pub alerting_name: String,
    pub css: Option<String>,
    pub forward_all: Forward,
    pub forward_busy: Forward,
    pub forward_no_answer: Forward,
    pub forward_unregistered: Forward,
    /// Route points: where calls go when the owning application is lost mid-call.
    pub forward_cti_failure: Forward,
    /// Seconds a call rings before Call Forward No Answer applies.
    pub no_answer_timer: u32,
    pub dnd: bool,
    pub max_calls: u32,
    pub busy_trigger: u32,
    /// The audio a call this line holds plays to the held party; None: the device pool's.
    pub hold_audio: Option<HoldAudio>,
}

/// One button of a device: a directory number, by pattern and partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appearance {
    pub index: u32,
    pub pattern: String,
    pub partition: Option<String>,
    pub display_name: String,
    pub external_mask: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    pub name: String,
    pub model: String,
    pub digest_user: Option<String>,
    pub ha1_md5: Option<String>,
    pub ha1_sha256: Option<String>,
    pub css: Option<String>,
    pub device_pool: String,
    pub local_route_group: Option<String>,
    /// Do Not Disturb on this phone: it is not offered calls.
    pub dnd: bool,
    pub lines: Vec<Appearance>,
    /// The device profile the phone carries while nobody is logged in (Extension Mobility's
    /// logout profile); None: its own lines.
    pub logout_profile: Option<String>,
    /// The device pool's music-on-hold source; None: the node's `phones.hold_music`.
    pub hold_audio: Option<HoldAudio>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub transport: String,
    /// Inbound calls from this trunk are analysed with this CSS.
    pub css: Option<String>,
    /// What Dialtone answers the far end's digest challenge with.
    pub credentials: Option<TrunkCredentials>,
}

/// A trunk's digest credentials: HA1s for one realm, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkCredentials {
    pub username: String,
    pub realm: String,
    pub ha1_md5: Option<String>,
    pub ha1_sha256: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CallControlConfig {
    pub plan: PlanConfig,
    pub devices: Vec<DeviceConfig>,
    pub lines: Vec<LineConfig>,
    pub trunks: Vec<TrunkConfig>,
    /// Device profiles and their lines: what a device carries while a user is logged in to it
    /// with Extension Mobility.
    pub profiles: Vec<(String, Vec<Appearance>)>,
}

fn flag(r: &sqlx::any::AnyRow, i: usize) -> Result<bool, StoreError> {
    Ok(r.try_get::<i64, _>(i)? != 0)
}

fn count(r: &sqlx::any::AnyRow, i: usize) -> Result<u32, StoreError> {
    Ok(r.try_get::<i64, _>(i)?.clamp(0, u32::MAX as i64) as u32)
}

async fn lines(c: &mut AnyConnection) -> Result<Vec<LineConfig>, StoreError> {
    let css = |alias: &str| format!("(SELECT name FROM calling_search_space WHERE id = d.{alias})");
    let sql = format!(
        "SELECT d.pattern, p.name, d.alerting_name, {}, d.cfa_destination, {}, \
                d.cfb_destination, {}, d.cfna_destination, {}, d.cfur_destination, {}, \
                d.no_answer_timer, CAST(CASE WHEN d.dnd THEN 1 ELSE 0 END AS BIGINT), \
                d.max_calls, d.busy_trigger, d.cf_cti_failure_destination, {}, m.audio, m.file \
         FROM directory_number d LEFT JOIN partition p ON p.id = d.partition_id \
         LEFT JOIN moh_audio_source m ON m.id = d.hold_audio_source_id ORDER BY d.pattern",
        css("css_id"),
        css("cfa_css_id"),
        css("cfb_css_id"),
        css("cfna_css_id"),
        css("cfur_css_id"),
        css("cf_cti_failure_css_id"),
    );
    let forward = |r: &sqlx::any::AnyRow, i: usize| -> Result<Forward, StoreError> {
        Ok(Forward {
            destination: r.try_get(i)?,
            css: r.try_get(i + 1)?,
        })
    };
    let mut out = Vec::new();
    for r in sqlx::query(&sql).fetch_all(&mut *c).await? {
        out.push(LineConfig {
            pattern: r.try_get(0)?,
            partition: r.try_get(1)?,
            alerting_name: r.try_get(2)?,
            css: r.try_get(3)?,
            forward_all: forward(&r, 4)?,
            forward_busy: forward(&r, 6)?,
            forward_no_answer: forward(&r, 8)?,
            forward_unregistered: forward(&r, 10)?,
            no_answer_timer: count(&r, 12)?,
            dnd: flag(&r, 13)?,
            max_calls: count(&r, 14)?,
            busy_trigger: count(&r, 15)?,
            forward_cti_failure: forward(&r, 16)?,
            hold_audio: HoldAudio::from_columns(r.try_get(18)?, r.try_get(19)?),
        });
    }
    Ok(out)
}

/// Line appearances by owner (device or device profile id), in line order.
async fn appearances(
    c: &mut AnyConnection,
    owner: &str,
) -> Result<HashMap<String, Vec<Appearance>>, StoreError> {
    let mut appearances: HashMap<String, Vec<Appearance>> = HashMap::new();
    let sql = format!(
        "SELECT la.{owner}, la.line_index, dn.pattern, p.name, la.display_name, la.external_mask \
         FROM line_appearance la JOIN directory_number dn ON dn.id = la.directory_number_id \
         LEFT JOIN partition p ON p.id = dn.partition_id \
         WHERE la.{owner} IS NOT NULL ORDER BY la.{owner}, la.line_index"
    );
    for r in sqlx::query(&sql).fetch_all(&mut *c).await? {
        appearances
            .entry(r.try_get(0)?)
            .or_default()
            .push(Appearance {
                index: count(&r, 1)?,
                pattern: r.try_get(2)?,
                partition: r.try_get(3)?,
                display_name: r.try_get(4)?,
                external_mask: r.try_get(5)?,
            });
    }
    Ok(appearances)
}

async fn profiles(c: &mut AnyConnection) -> Result<Vec<(String, Vec<Appearance>)>, StoreError> {
    let mut lines = appearances(c, "device_profile_id").await?;
    let mut out = Vec::new();
    for r in sqlx::query("SELECT id, name FROM device_profile ORDER BY name")
        .fetch_all(&mut *c)
        .await?
    {
        let id: String = r.try_get(0)?;
        out.push((r.try_get(1)?, lines.remove(&id).unwrap_or_default()));
    }
    Ok(out)
}

async fn devices(c: &mut AnyConnection) -> Result<Vec<DeviceConfig>, StoreError> {
    let mut appearances = appearances(c, "device_id").await?;
    let mut out = Vec::new();
    for r in sqlx::query(
        "SELECT d.id, d.name, d.model, d.digest_user, d.digest_ha1_md5, d.digest_ha1_sha256, \
                s.name, dp.name, g.name, CAST(CASE WHEN d.dnd THEN 1 ELSE 0 END AS BIGINT), lp.name, \
                m.audio, m.file \
         FROM device d JOIN device_pool dp ON dp.id = d.device_pool_id \
         LEFT JOIN moh_audio_source m ON m.id = dp.hold_audio_source_id \
         LEFT JOIN calling_search_space s ON s.id = d.css_id \
         LEFT JOIN device_profile lp ON lp.id = d.logout_profile_id \
         LEFT JOIN route_group g ON g.id = dp.local_route_group_id ORDER BY d.name",
    )
    .fetch_all(&mut *c)
    .await?
    {
        let id: String = r.try_get(0)?;
        out.push(DeviceConfig {
            name: r.try_get(1)?,
            model: r.try_get(2)?,
            digest_user: r.try_get(3)?,
            ha1_md5: r.try_get(4)?,
            ha1_sha256: r.try_get(5)?,
            css: r.try_get(6)?,
            device_pool: r.try_get(7)?,
            local_route_group: r.try_get(8)?,
            dnd: flag(&r, 9)?,
            lines: appearances.remove(&id).unwrap_or_default(),
            logout_profile: r.try_get(10)?,
            hold_audio: HoldAudio::from_columns(r.try_get(11)?, r.try_get(12)?),
        });
    }
    Ok(out)
}

/// `realm`: the node's, which a trunk's digest was stored for when it names none.
async fn trunks(c: &mut AnyConnection, realm: &str) -> Result<Vec<TrunkConfig>, StoreError> {
    let mut out = Vec::new();
    for r in sqlx::query(
        "SELECT t.name, t.destination_host, t.destination_port, t.transport, s.name, \
                t.digest_user, t.digest_realm, t.digest_ha1_md5, t.digest_ha1_sha256 \
         FROM sip_trunk t LEFT JOIN calling_search_space s ON s.id = t.css_id ORDER BY t.name",
    )
    .fetch_all(&mut *c)
    .await?
    {
        let name: String = r.try_get(0)?;
        let ha1_md5: Option<String> = r.try_get(7)?;
        let ha1_sha256: Option<String> = r.try_get(8)?;
        let credentials = (ha1_md5.is_some() || ha1_sha256.is_some()).then(|| TrunkCredentials {
            username: r
                .try_get::<Option<String>, _>(5)
                .ok()
                .flatten()
                .unwrap_or_else(|| name.clone()),
            realm: r
                .try_get::<Option<String>, _>(6)
                .ok()
                .flatten()
                .unwrap_or_else(|| realm.to_string()),
            ha1_md5,
            ha1_sha256,
        });
        out.push(TrunkConfig {
            name,
            host: r.try_get(1)?,
            port: r.try_get::<i64, _>(2)?.clamp(0, u16::MAX as i64) as u16,
            transport: r.try_get(3)?,
            css: r.try_get(4)?,
            credentials,
        });
    }
    Ok(out)
}

impl Store {
    /// Everything call control needs, as one consistent snapshot.
    pub async fn call_control_config(&self) -> Result<CallControlConfig, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        let c: &mut AnyConnection = &mut tx;
        let out = CallControlConfig {
            plan: crate::plan::dial_plan_in(c).await?,
            devices: devices(c).await?,
            lines: lines(c).await?,
            trunks: trunks(c, &self.write_context().realm).await?,
            profiles: profiles(c).await?,
        };
        tx.commit().await?;
        Ok(out)
    }
}
