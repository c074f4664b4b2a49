//! The dial plan snapshot: everything the dial plan engine needs, read in one transaction so
//! the snapshot is consistent.

use std::collections::HashMap;

use dialtone_dialplan::{
    Discard, EntryDef, EntryKind, ForcedAuthorizationCode, Manipulation, PlanConfig, RouteGroupDef,
    RouteTarget,
};
use sqlx::{AnyConnection, Connection, Row};

use crate::{Store, StoreError};

async fn ordered_lists(
    conn: &mut AnyConnection,
    sql: &str,
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for r in sqlx::query(sql).fetch_all(&mut *conn).await? {
        out.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
    }
    Ok(out)
}

fn manipulation(
    r: &sqlx::any::AnyRow,
    base: usize,
    external: bool,
) -> Result<Manipulation, StoreError> {
    let discard: String = r.try_get(base)?;
    Ok(Manipulation {
        // The store only accepts the names the engine knows; fall back rather than fail a call.
        discard: Discard::parse(&discard).unwrap_or_default(),
        prefix: r.try_get(base + 1)?,
        called_mask: r.try_get(base + 2)?,
        calling_mask: r.try_get(base + 3)?,
        use_external_mask: external && r.try_get::<i64, _>(base + 4)? != 0,
    })
}

/// The dial plan configuration, read on a connection inside the caller's transaction.
pub(crate) async fn dial_plan_in(c: &mut AnyConnection) -> Result<PlanConfig, StoreError> {
    let mut cfg = PlanConfig::default();
    for r in sqlx::query("SELECT name FROM partition ORDER BY name")
        .fetch_all(&mut *c)
        .await?
    {
        cfg.partitions.push(r.try_get(0)?);
    }
    let css = ordered_lists(
        c,
        "SELECT s.name, p.name FROM calling_search_space s \
             JOIN calling_search_space_partitions m ON m.owner_id = s.id \
             JOIN partition p ON p.id = m.target_id ORDER BY s.name, m.position",
    )
    .await?;
    for r in sqlx::query("SELECT name FROM calling_search_space ORDER BY name")
        .fetch_all(&mut *c)
        .await?
    {
        let name: String = r.try_get(0)?;
        let parts = css.get(&name).cloned().unwrap_or_default();
        cfg.calling_search_spaces.push((name, parts));
    }
    let trunks = ordered_lists(
        c,
        "SELECT g.name, t.name FROM route_group g JOIN route_group_trunks m ON m.owner_id = g.id \
             JOIN sip_trunk t ON t.id = m.target_id ORDER BY g.name, m.position",
    )
    .await?;
    for r in sqlx::query(
            "SELECT name, CAST(CASE WHEN is_local THEN 1 ELSE 0 END AS BIGINT) FROM route_group ORDER BY name",
        )
        .fetch_all(&mut *c)
        .await?
        {
            let name: String = r.try_get(0)?;
            cfg.route_groups.push(RouteGroupDef {
                trunks: trunks.get(&name).cloned().unwrap_or_default(),
                local: r.try_get::<i64, _>(1)? != 0,
                name,
            });
        }
    let groups = ordered_lists(
            c,
            "SELECT l.name, g.name FROM route_list l JOIN route_list_route_groups m ON m.owner_id = l.id \
             JOIN route_group g ON g.id = m.target_id ORDER BY l.name, m.position",
        )
        .await?;
    for r in sqlx::query("SELECT name FROM route_list ORDER BY name")
        .fetch_all(&mut *c)
        .await?
    {
        let name: String = r.try_get(0)?;
        cfg.route_lists
            .push((name.clone(), groups.get(&name).cloned().unwrap_or_default()));
    }
    for r in sqlx::query(
            "SELECT d.pattern, p.name, \
                    CAST(CASE WHEN EXISTS (SELECT 1 FROM line_appearance la JOIN device v ON v.id = la.device_id \
                         WHERE la.directory_number_id = d.id AND v.model = 'CTI Route Point') THEN 1 ELSE 0 END AS BIGINT) \
             FROM directory_number d LEFT JOIN partition p ON p.id = d.partition_id ORDER BY d.pattern",
        )
        .fetch_all(&mut *c)
        .await?
        {
            // A number on a CTI Route Point device belongs to the application that owns it.
            let route_point = r.try_get::<i64, _>(2)? != 0;
            cfg.entries.push(EntryDef {
                pattern: r.try_get(0)?,
                partition: r.try_get(1)?,
                kind: if route_point {
                    EntryKind::RoutePoint
                } else {
                    EntryKind::DirectoryNumber
                },
            });
        }
    for r in sqlx::query(
            "SELECT rp.pattern, p.name, l.name, t.name, \
                    CAST(CASE WHEN rp.blocked THEN 1 ELSE 0 END AS BIGINT), \
                    CAST(CASE WHEN rp.urgent THEN 1 ELSE 0 END AS BIGINT), \
                    rp.discard_digits, rp.prefix_digits, rp.called_party_mask, rp.calling_party_mask, \
                    CAST(CASE WHEN rp.use_external_mask THEN 1 ELSE 0 END AS BIGINT), \
                    CAST(CASE WHEN rp.require_fac THEN 1 ELSE 0 END AS BIGINT), rp.authorization_level, \
                    CAST(CASE WHEN rp.require_cmc THEN 1 ELSE 0 END AS BIGINT) \
             FROM route_pattern rp LEFT JOIN partition p ON p.id = rp.partition_id \
             LEFT JOIN route_list l ON l.id = rp.route_list_id LEFT JOIN sip_trunk t ON t.id = rp.sip_trunk_id \
             ORDER BY rp.pattern",
        )
        .fetch_all(&mut *c)
        .await?
        {
            let list: Option<String> = r.try_get(2)?;
            let trunk: Option<String> = r.try_get(3)?;
            cfg.entries.push(EntryDef {
                pattern: r.try_get(0)?,
                partition: r.try_get(1)?,
                kind: EntryKind::Route {
                    target: list
                        .map(RouteTarget::RouteList)
                        .or(trunk.map(RouteTarget::Trunk)),
                    blocked: r.try_get::<i64, _>(4)? != 0,
                    urgent: r.try_get::<i64, _>(5)? != 0,
                    manipulation: manipulation(&r, 6, true)?,
                    fac_level: (r.try_get::<i64, _>(11)? != 0)
                        .then(|| r.try_get::<i64, _>(12).map(|l| l as u32))
                        .transpose()?,
                    cmc: r.try_get::<i64, _>(13)? != 0,
                },
            });
        }
    for r in sqlx::query(
            "SELECT tp.pattern, p.name, s.name, \
                    CAST(CASE WHEN tp.blocked THEN 1 ELSE 0 END AS BIGINT), \
                    CAST(CASE WHEN tp.urgent THEN 1 ELSE 0 END AS BIGINT), \
                    tp.discard_digits, tp.prefix_digits, tp.called_party_mask, tp.calling_party_mask \
             FROM translation_pattern tp LEFT JOIN partition p ON p.id = tp.partition_id \
             LEFT JOIN calling_search_space s ON s.id = tp.css_id ORDER BY tp.pattern",
        )
        .fetch_all(&mut *c)
        .await?
        {
            cfg.entries.push(EntryDef {
                pattern: r.try_get(0)?,
                partition: r.try_get(1)?,
                kind: EntryKind::Translation {
                    css: r.try_get(2)?,
                    blocked: r.try_get::<i64, _>(3)? != 0,
                    urgent: r.try_get::<i64, _>(4)? != 0,
                    manipulation: manipulation(&r, 5, false)?,
                },
            });
        }
    for r in sqlx::query("SELECT code, name, authorization_level FROM forced_authorization_code")
        .fetch_all(&mut *c)
        .await?
    {
        cfg.forced_authorization_codes
            .push(ForcedAuthorizationCode {
                code: r.try_get(0)?,
                name: r.try_get(1)?,
                level: r.try_get::<i64, _>(2)? as u32,
            });
    }
    for r in sqlx::query("SELECT code FROM client_matter_code")
        .fetch_all(&mut *c)
        .await?
    {
        cfg.client_matter_codes.push(r.try_get(0)?);
    }
    Ok(cfg)
}

impl Store {
    /// Read the dial plan configuration as one consistent snapshot.
    pub async fn dial_plan(&self) -> Result<PlanConfig, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        let cfg = dial_plan_in(&mut tx).await?;
        tx.commit().await?;
        Ok(cfg)
    }

    /// The route group a device pool binds to the Standard Local Route Group.
    pub async fn local_route_group(&self, device_pool: &str) -> Result<Option<String>, StoreError> {
        let row = crate::records::query_with(
            "SELECT g.name FROM device_pool d JOIN route_group g ON g.id = d.local_route_group_id WHERE d.name = $1",
            &[crate::Val::Text(device_pool.into())],
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.get(0)))
    }
}
