//! Generic records: create, read, update, delete and list any resource of the catalogue.
//!
//! Records travel as JSON objects. References are given and shown by the target's natural key
//! (a name, or `{"pattern": "1000", "partition": "Internal_PT"}` for a directory number), and
//! stored as ids. Everything is checked before anything is written, so a refused request changes
//! nothing; the database's own constraints stand behind these checks.

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::catalogue::{self, Default as Dflt, Field, Kind, Resource, SecretKind};
use crate::secrets;
use crate::StoreError;

mod checks;
pub use checks::device_name_problem;
use checks::{check_overlap, check_rules, check_text, invalid, reject_unknown, type_name};

/// What a write needs from outside the database.
#[derive(Debug, Clone)]
pub struct WriteContext {
    /// The SIP digest realm, baked into stored HA1 values.
    pub realm: String,
}

/// A value bound into SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind<'q>(q: AnyQuery<'q>, v: &Val) -> AnyQuery<'q> {
    match v {
        Val::Null => q.bind(Option::<String>::None),
        Val::Text(s) => q.bind(s.clone()),
        Val::Int(i) => q.bind(*i),
        Val::Bool(b) => q.bind(*b),
    }
}

pub(crate) fn query_with<'q>(sql: &'q str, vals: &[Val]) -> AnyQuery<'q> {
    vals.iter().fold(sqlx::query(sql), bind)
}

/// Which rows a list returns.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Exact matches on scalar fields (references by natural key).
    pub filters: Vec<(String, String)>,
    /// Prefix of the first key field.
    pub prefix: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Value>,
    pub total: i64,
}

// ---------------------------------------------------------------------------------------------
// Validation of single values

/// Validate a scalar (non-reference, non-list, non-secret) value.
fn scalar(field: &Field, v: &Value) -> Result<Val, StoreError> {
    let name = field.name;
    match (field.kind, v) {
        (_, Value::Null) => match field.default {
            Dflt::Null => Ok(Val::Null),
            _ => Err(invalid(name, "must not be null")),
        },
        (Kind::Text { max, rule }, Value::String(s)) => {
            check_text(field, max, rule, s)?;
            Ok(Val::Text(s.clone()))
        }
        (Kind::Int { min, max }, Value::Number(n)) => match n.as_i64() {
            Some(i) if (min..=max).contains(&i) => Ok(Val::Int(i)),
            _ => Err(invalid(
                name,
                format!("must be a whole number from {min} to {max}"),
            )),
        },
        (Kind::Bool, Value::Bool(b)) => Ok(Val::Bool(*b)),
        (Kind::Enum(values), Value::String(s)) => {
            if values.contains(&s.as_str()) {
                Ok(Val::Text(s.clone()))
            } else {
                Err(invalid(
                    name,
                    format!("must be one of: {}", values.join(", ")),
                ))
            }
        }
        (Kind::Text { .. }, other) | (Kind::Enum(_), other) => Err(invalid(
            name,
            format!("expected a string, got {}", type_name(other)),
        )),
        (Kind::Int { .. }, other) => Err(invalid(
            name,
            format!("expected a whole number, got {}", type_name(other)),
        )),
        (Kind::Bool, other) => Err(invalid(
            name,
            format!("expected true or false, got {}", type_name(other)),
        )),
        _ => unreachable!("scalar() is only called for scalar kinds"),
    }
}

fn default_json(field: &Field) -> Option<Value> {
    match field.default {
        Dflt::Required => None,
        Dflt::Null => Some(Value::Null),
        Dflt::Str(s) => Some(Value::String(s.into())),
        Dflt::Int(i) => Some(Value::from(i)),
        Dflt::Bool(b) => Some(Value::Bool(b)),
        Dflt::EmptyList => Some(Value::Array(vec![])),
    }
}

// ---------------------------------------------------------------------------------------------
// References

fn target(kind_target: &str) -> &'static Resource {
    catalogue::resource(kind_target).expect("catalogue references name real resources")
}

/// Resolve a natural key (as given in JSON) to the target row's id.
/// `Ok(None)` when the key names no row.
async fn find_id(
    conn: &mut AnyConnection,
    res: &'static Resource,
    key: &Value,
    field: &str,
) -> Result<Option<String>, StoreError> {
    let mut wheres = Vec::new();
    let mut vals = Vec::new();
    match (res.key, key) {
        ([only], Value::String(s)) => {
            let f = res.field(only).expect("key fields exist");
            if let Kind::Ref { .. } = f.kind {
                return Err(invalid(field, "expected an object naming the key fields"));
            }
            vals.push(Val::Text(s.clone()));
            wheres.push(format!("{} = $1", f.column));
        }
        ([only], Value::Object(_))
            if !matches!(res.field(only).map(|f| &f.kind), Some(Kind::Ref { .. })) =>
        {
            // The OpenAPI document says a string: an object is refused, not read leniently.
            return Err(invalid(
                field,
                format!("give the {}'s {only} as a string", res.singular),
            ));
        }
        (keys, Value::Object(obj)) => {
            for k in obj.keys() {
                if !keys.contains(&k.as_str()) {
                    return Err(invalid(
                        format!("{field}.{k}"),
                        format!("not a key of {}; give {}", res.singular, keys.join(", ")),
                    ));
                }
            }
            for k in keys.iter() {
                let f = res.field(k).expect("key fields exist");
                let v = obj.get(*k).cloned().unwrap_or(Value::Null);
                let val = match f.kind {
                    Kind::Ref { target: t, .. } => {
                        if v.is_null() {
                            Val::Null
                        } else {
                            match Box::pin(find_id(conn, target(t), &v, &format!("{field}.{k}")))
                                .await?
                            {
                                Some(id) => Val::Text(id),
                                None => return Ok(None),
                            }
                        }
                    }
                    _ => {
                        if v.is_null() {
                            return Err(invalid(format!("{field}.{k}"), "is required"));
                        }
                        scalar(f, &v).map_err(|e| e.prefixed(field))?
                    }
                };
                if val == Val::Null {
                    wheres.push(format!("{} IS NULL", f.column));
                } else {
                    vals.push(val);
                    wheres.push(format!("{} = ${}", f.column, vals.len()));
                }
            }
        }
        ([_], other) => {
            return Err(invalid(
                field,
                format!(
                    "expected the {}'s name, got {}",
                    res.singular,
                    type_name(other)
                ),
            ))
        }
        (keys, other) => {
            return Err(invalid(
                field,
                format!(
                    "expected an object with {}, got {}",
                    keys.join(", "),
                    type_name(other)
                ),
            ))
        }
    }
    let sql = format!(
        "SELECT id FROM {} WHERE {}",
        res.table,
        wheres.join(" AND ")
    );
    let row = query_with(&sql, &vals).fetch_optional(&mut *conn).await?;
    Ok(row.map(|r| r.get::<String, _>(0)))
}

async fn resolve_ref(
    conn: &mut AnyConnection,
    target_name: &str,
    v: &Value,
    field: &str,
) -> Result<String, StoreError> {
    let t = target(target_name);
    match find_id(conn, t, v, field).await? {
        Some(id) => Ok(id),
        None => Err(invalid(
            field,
            format!("no {} {}", t.singular, describe_key(v)),
        )),
    }
}

fn describe_key(v: &Value) -> String {
    match v {
        Value::String(s) => format!("named '{s}'"),
        other => other.to_string(),
    }
}

/// Show a reference by the target's natural key.
async fn show_ref(
    conn: &mut AnyConnection,
    target_name: &str,
    id: &str,
) -> Result<Value, StoreError> {
    let t = target(target_name);
    let cols: Vec<&str> = t
        .key
        .iter()
        .map(|k| t.field(k).expect("key fields exist").column)
        .collect();
    let sql = format!("SELECT {} FROM {} WHERE id = $1", cols.join(", "), t.table);
    let row = query_with(&sql, &[Val::Text(id.to_string())])
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(Value::Null);
    };
    let mut obj = Map::new();
    for (i, k) in t.key.iter().enumerate() {
        let f = t.field(k).expect("key fields exist");
        let v = match f.kind {
            Kind::Ref { target: tt, .. } => match row.try_get::<Option<String>, _>(i)? {
                Some(id) => Box::pin(show_ref(conn, tt, &id)).await?,
                None => Value::Null,
            },
            Kind::Int { .. } => Value::from(row.try_get::<i64, _>(i)?),
            _ => Value::String(row.try_get::<String, _>(i)?),
        };
        obj.insert((*k).to_string(), v);
    }
    if t.key.len() == 1 {
        Ok(obj
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or(Value::Null))
    } else {
        Ok(Value::Object(obj))
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

fn select_columns(res: &Resource) -> Vec<String> {
    let mut cols = vec!["id".to_string()];
    for f in res.fields {
        match f.kind {
            Kind::RefList { .. } | Kind::EnumList { .. } => {}
            Kind::Secret(SecretKind::Digest) => cols.push("digest_ha1_md5".into()),
            // sqlx's Any driver cannot decode SQLite booleans; a BIGINT reads the same on both.
            Kind::Bool => cols.push(format!(
                "CAST(CASE WHEN {0} THEN 1 ELSE 0 END AS BIGINT) AS {0}",
                f.column
            )),
            _ => cols.push(f.column.into()),
        }
    }
    cols
}

async fn show_row(
    conn: &mut AnyConnection,
    res: &Resource,
    row: &AnyRow,
) -> Result<Value, StoreError> {
    let id: String = row.try_get(0)?;
    let mut obj = Map::new();
    obj.insert("id".into(), Value::String(id.clone()));
    let mut i = 1;
    for f in res.fields {
        let v = match f.kind {
            Kind::RefList { target: t, table } => {
                let sql =
                    format!("SELECT target_id FROM {table} WHERE owner_id = $1 ORDER BY position");
                let ids: Vec<String> = query_with(&sql, &[Val::Text(id.clone())])
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect();
                let mut shown = Vec::with_capacity(ids.len());
                for tid in ids {
                    shown.push(show_ref(conn, t, &tid).await?);
                }
                obj.insert(f.name.into(), Value::Array(shown));
                continue;
            }
            Kind::EnumList { table, .. } => {
                let sql =
                    format!("SELECT value FROM {table} WHERE owner_id = $1 ORDER BY position");
                let values: Vec<Value> = query_with(&sql, &[Val::Text(id.clone())])
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| Value::String(r.get::<String, _>(0)))
                    .collect();
                obj.insert(f.name.into(), Value::Array(values));
                continue;
            }
            Kind::Secret(_) => {
                let set = row.try_get::<Option<String>, _>(i)?.is_some();
                i += 1;
                obj.insert(format!("{}_set", f.name), Value::Bool(set));
                continue;
            }
            Kind::Ref { target: t, .. } => match row.try_get::<Option<String>, _>(i)? {
                Some(tid) => show_ref(conn, t, &tid).await?,
                None => Value::Null,
            },
            Kind::Int { .. } => Value::from(row.try_get::<i64, _>(i)?),
            Kind::Bool => Value::Bool(row.try_get::<i64, _>(i)? != 0),
            Kind::Text { .. } | Kind::Enum(_) => match row.try_get::<Option<String>, _>(i)? {
                Some(s) => Value::String(s),
                None => Value::Null,
            },
        };
        i += 1;
        obj.insert(f.name.into(), v);
    }
    Ok(Value::Object(obj))
}

/// Find a row's id from a path key: its id, or for single-key resources its natural key.
pub async fn lookup(
    conn: &mut AnyConnection,
    res: &'static Resource,
    key: &str,
) -> Result<String, StoreError> {
    let by_id = format!("SELECT id FROM {} WHERE id = $1", res.table);
    if let Some(row) = query_with(&by_id, &[Val::Text(key.into())])
        .fetch_optional(&mut *conn)
        .await?
    {
        return Ok(row.get(0));
    }
    if res.key.len() == 1 {
        if let Some(id) = find_id(conn, res, &Value::String(key.into()), "key").await? {
            return Ok(id);
        }
    }
    Err(StoreError::NotFound {
        resource: res.singular,
        key: key.to_string(),
    })
}

pub async fn get(
    conn: &mut AnyConnection,
    res: &'static Resource,
    key: &str,
) -> Result<Value, StoreError> {
    let id = lookup(conn, res, key).await?;
    get_by_id(conn, res, &id).await
}

pub async fn get_by_id(
    conn: &mut AnyConnection,
    res: &Resource,
    id: &str,
) -> Result<Value, StoreError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE id = $1",
        select_columns(res).join(", "),
        res.table
    );
    let row = query_with(&sql, &[Val::Text(id.into())])
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            resource: res.singular,
            key: id.to_string(),
        })?;
    show_row(conn, res, &row).await
}

pub async fn list(
    conn: &mut AnyConnection,
    res: &'static Resource,
    q: &ListQuery,
) -> Result<ListPage, StoreError> {
    let mut wheres = Vec::new();
    let mut vals = Vec::new();
    for (name, raw) in &q.filters {
        let f = res.field(name).ok_or_else(|| {
            invalid(
                name.clone(),
                format!("unknown filter; {} has no such field", res.singular),
            )
        })?;
        let val = match f.kind {
            Kind::Ref { target: t, .. } => {
                if raw.is_empty() {
                    wheres.push(format!("{} IS NULL", f.column));
                    continue;
                }
                // A filter naming no row matches nothing.
                find_id(conn, target(t), &Value::String(raw.clone()), name)
                    .await?
                    .map(Val::Text)
                    .unwrap_or(Val::Text(String::new()))
            }
            Kind::Int { .. } => Val::Int(
                raw.parse()
                    .map_err(|_| invalid(name.clone(), "expected a whole number"))?,
            ),
            Kind::Bool => Val::Bool(match raw.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(invalid(name.clone(), "expected true or false")),
            }),
            Kind::Text { .. } | Kind::Enum(_) => Val::Text(raw.clone()),
            _ => {
                return Err(invalid(
                    name.clone(),
                    "lists and secrets cannot be filtered on",
                ))
            }
        };
        vals.push(val);
        wheres.push(format!("{} = ${}", f.column, vals.len()));
    }
    let first_key = res.field(res.key[0]).expect("key fields exist");
    if let Some(prefix) = &q.prefix {
        let escaped = prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        vals.push(Val::Text(format!("{escaped}%")));
        wheres.push(format!(
            "{} LIKE ${} ESCAPE '\\'",
            first_key.column,
            vals.len()
        ));
    }
    let where_sql = if wheres.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", wheres.join(" AND "))
    };
    let count_sql = format!("SELECT COUNT(*) FROM {}{}", res.table, where_sql);
    let total: i64 = query_with(&count_sql, &vals)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let sql = format!(
        "SELECT {} FROM {}{} ORDER BY {}, id LIMIT {} OFFSET {}",
        select_columns(res).join(", "),
        res.table,
        where_sql,
        first_key.column,
        q.limit.max(0),
        q.offset.max(0)
    );
    let rows = query_with(&sql, &vals).fetch_all(&mut *conn).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(show_row(conn, res, row).await?);
    }
    Ok(ListPage { items, total })
}

// ---------------------------------------------------------------------------------------------
// Writing

/// A checked write: column values and list contents, ready for SQL.
#[derive(Default)]
struct Prepared {
    columns: Vec<(&'static str, Val)>,
    lists: Vec<(&'static str, Vec<Val>)>,
    digest_password: Option<String>,
}

async fn prepare_field(
    conn: &mut AnyConnection,
    f: &'static Field,
    v: &Value,
    out: &mut Prepared,
) -> Result<(), StoreError> {
    match f.kind {
        Kind::Ref { target: t, .. } => {
            let val = if v.is_null() {
                if matches!(f.default, Dflt::Required) {
                    return Err(invalid(f.name, "is required"));
                }
                Val::Null
            } else {
                Val::Text(resolve_ref(conn, t, v, f.name).await?)
            };
            out.columns.push((f.column, val));
        }
        Kind::RefList { target: t, .. } => {
            let Value::Array(items) = v else {
                return Err(invalid(
                    f.name,
                    format!("expected an array, got {}", type_name(v)),
                ));
            };
            let mut ids = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let id = resolve_ref(conn, t, item, &format!("{}[{i}]", f.name)).await?;
                let id = Val::Text(id);
                if ids.contains(&id) {
                    return Err(invalid(format!("{}[{i}]", f.name), "listed twice"));
                }
                ids.push(id);
            }
            out.lists.push((f.name, ids));
        }
        Kind::EnumList { values, .. } => {
            let Value::Array(items) = v else {
                return Err(invalid(
                    f.name,
                    format!("expected an array, got {}", type_name(v)),
                ));
            };
            let mut got = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let name = format!("{}[{i}]", f.name);
                match item {
                    Value::String(s) if values.contains(&s.as_str()) => {
                        let val = Val::Text(s.clone());
                        if got.contains(&val) {
                            return Err(invalid(name, "listed twice"));
                        }
                        got.push(val);
                    }
                    _ => {
                        return Err(invalid(
                            name,
                            format!("must be one of: {}", values.join(", ")),
                        ))
                    }
                }
            }
            out.lists.push((f.name, got));
        }
        Kind::Secret(kind) => {
            let secret = match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => {
                    return Err(invalid(
                        f.name,
                        format!("expected a string, got {}", type_name(other)),
                    ))
                }
            };
            if let Some(s) = &secret {
                match kind {
                    SecretKind::Pin => {
                        if s.len() < 4 || s.len() > 32 || !s.chars().all(|c| c.is_ascii_digit()) {
                            return Err(invalid(f.name, "must be 4 to 32 digits"));
                        }
                    }
                    SecretKind::Password | SecretKind::Digest => {
                        if s.is_empty() || s.len() > 128 {
                            return Err(invalid(f.name, "must be 1 to 128 characters"));
                        }
                    }
                }
            }
            match kind {
                SecretKind::Digest => out.digest_password = secret,
                SecretKind::Password | SecretKind::Pin => {
                    let hashed = match secret {
                        // Hashing costs a millisecond; keep it off the async workers.
                        Some(s) => Val::Text(
                            tokio::task::spawn_blocking(move || secrets::hash_secret(&s))
                                .await
                                .map_err(|e| StoreError::Internal(e.to_string()))?,
                        ),
                        None => Val::Null,
                    };
                    out.columns.push((f.column, hashed));
                }
            }
        }
        _ => {
            let val = scalar(f, v)?;
            out.columns.push((f.column, val));
        }
    }
    Ok(())
}

/// Resources whose patterns share one namespace per partition.
const PATTERN_NAMESPACE: &[&str] = &[
    "directory-numbers",
    "route-patterns",
    "translation-patterns",
];

/// Refuse a write whose natural key another row already has.
async fn check_unique(
    conn: &mut AnyConnection,
    res: &'static Resource,
    merged: &Map<String, Value>,
    own_id: Option<&str>,
) -> Result<(), StoreError> {
    let mut key = Map::new();
    for k in res.key {
        key.insert(
            (*k).to_string(),
            merged.get(*k).cloned().unwrap_or(Value::Null),
        );
    }
    let key_value = if res.key.len() == 1 {
        key.values().next().cloned().unwrap_or(Value::Null)
    } else {
        Value::Object(key)
    };
    if let Some(id) = find_id(conn, res, &key_value, res.key[0]).await? {
        if Some(id.as_str()) != own_id {
            return Err(StoreError::Conflict {
                field: res.key[0].to_string(),
                message: format!(
                    "a {} {} already exists",
                    res.singular,
                    describe_key(&key_value)
                ),
            });
        }
    }
    // Numbers, route patterns and translation patterns share one namespace per partition, as
    // in Unified CM: the dial plan could not tell two equal patterns in a partition apart.
    if PATTERN_NAMESPACE.contains(&res.name) {
        for other in PATTERN_NAMESPACE.iter().filter(|n| **n != res.name) {
            let other = target(other);
            // A key the other resource could not even hold (9.! as a number) is not there.
            let found = match find_id(conn, other, &key_value, res.key[0]).await {
                Ok(found) => found,
                Err(StoreError::Invalid { .. }) => None,
                Err(e) => return Err(e),
            };
            if found.is_some() {
                return Err(StoreError::Conflict {
                    field: res.key[0].to_string(),
                    message: format!(
                        "a {} {} already exists in that partition",
                        other.singular,
                        describe_key(&key_value)
                    ),
                });
            }
        }
    }
    Ok(())
}

async fn write_lists(
    conn: &mut AnyConnection,
    res: &Resource,
    id: &str,
    lists: &[(&'static str, Vec<Val>)],
) -> Result<(), StoreError> {
    for (name, vals) in lists {
        let f = res.field(name).expect("prepared lists name fields");
        let (table, col) = match f.kind {
            Kind::RefList { table, .. } => (table, "target_id"),
            Kind::EnumList { table, .. } => (table, "value"),
            _ => unreachable!("only list kinds are prepared as lists"),
        };
        query_with(
            &format!("DELETE FROM {table} WHERE owner_id = $1"),
            &[Val::Text(id.into())],
        )
        .execute(&mut *conn)
        .await?;
        let sql = format!("INSERT INTO {table} (owner_id, {col}, position) VALUES ($1, $2, $3)");
        for (pos, v) in vals.iter().enumerate() {
            query_with(
                &sql,
                &[Val::Text(id.into()), v.clone(), Val::Int(pos as i64)],
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// HA1 columns for a digest password: for the record's own `digest_realm` (a trunk's far
/// end) or else this node's realm (a device).
fn digest_columns(
    ctx: &WriteContext,
    merged: &Map<String, Value>,
    digest_user: &str,
    password: &str,
) -> [(&'static str, Val); 2] {
    let realm = digest_realm(merged).unwrap_or_else(|| ctx.realm.clone());
    let (md5, sha) = secrets::digest_ha1(digest_user, &realm, password);
    [
        ("digest_ha1_md5", Val::Text(md5)),
        ("digest_ha1_sha256", Val::Text(sha)),
    ]
}

fn digest_realm(merged: &Map<String, Value>) -> Option<String> {
    merged
        .get("digest_realm")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

fn effective_digest_user(merged: &Map<String, Value>) -> Option<String> {
    merged
        .get("digest_user")
        .and_then(Value::as_str)
        .or_else(|| merged.get("name").and_then(Value::as_str))
        .map(str::to_string)
}

/// Create a record from a JSON object; returns the stored record as shown.
pub async fn create(
    conn: &mut AnyConnection,
    ctx: &WriteContext,
    res: &'static Resource,
    body: &Value,
) -> Result<Value, StoreError> {
    let Value::Object(body) = body else {
        return Err(invalid("", "expected a JSON object"));
    };
    reject_unknown(res, body)?;
    let mut merged = Map::new();
    let mut prep = Prepared::default();
    for f in res.fields {
        let v = match body.get(f.name) {
            Some(v) => v.clone(),
            None => default_json(f).ok_or_else(|| invalid(f.name, "is required"))?,
        };
        prepare_field(conn, f, &v, &mut prep).await?;
        merged.insert(f.name.to_string(), v);
    }
    check_rules(res, &merged)?;
    check_unique(conn, res, &merged, None).await?;
    check_overlap(conn, res, &merged, None).await?;
    if let Some(pw) = &prep.digest_password {
        let user = effective_digest_user(&merged).unwrap_or_default();
        prep.columns.extend(digest_columns(ctx, &merged, &user, pw));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut cols = vec!["id"];
    let mut vals = vec![Val::Text(id.clone())];
    for (c, v) in prep.columns {
        cols.push(c);
        vals.push(v);
    }
    let placeholders: Vec<String> = (1..=vals.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        res.table,
        cols.join(", "),
        placeholders.join(", ")
    );
    query_with(&sql, &vals).execute(&mut *conn).await?;
    write_lists(conn, res, &id, &prep.lists).await?;
    get_by_id(conn, res, &id).await
}

/// Change the fields a JSON object names; the others keep their values.
pub async fn update(
    conn: &mut AnyConnection,
    ctx: &WriteContext,
    res: &'static Resource,
    key: &str,
    body: &Value,
) -> Result<Value, StoreError> {
    let Value::Object(body) = body else {
        return Err(invalid("", "expected a JSON object"));
    };
    reject_unknown(res, body)?;
    let id = lookup(conn, res, key).await?;
    let Value::Object(mut merged) = get_by_id(conn, res, &id).await? else {
        unreachable!("records are objects")
    };
    let before_digest_user = effective_digest_user(&merged);
    let before_digest_realm = digest_realm(&merged);
    let digest_was_set = merged
        .get("digest_password_set")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut prep = Prepared::default();
    for f in res.fields {
        if let Some(v) = body.get(f.name) {
            prepare_field(conn, f, v, &mut prep).await?;
            merged.insert(f.name.to_string(), v.clone());
        }
    }
    check_rules(res, &merged)?;
    if res.key.iter().any(|k| body.contains_key(*k)) {
        check_unique(conn, res, &merged, Some(&id)).await?;
    }
    check_overlap(conn, res, &merged, Some(&id)).await?;
    if res
        .fields
        .iter()
        .any(|f| matches!(f.kind, Kind::Secret(SecretKind::Digest)))
    {
        let user = effective_digest_user(&merged);
        let realm_changed = digest_realm(&merged) != before_digest_realm;
        match &prep.digest_password {
            Some(pw) => prep.columns.extend(digest_columns(
                ctx,
                &merged,
                user.as_deref().unwrap_or(""),
                pw,
            )),
            None if digest_was_set && (user != before_digest_user || realm_changed) => {
                return Err(invalid(
                    "digest_password",
                    "is required when the digest user name or realm changes (the stored digest depends on them)",
                ))
            }
            None => {}
        }
    }
    if !prep.columns.is_empty() {
        let mut vals = Vec::new();
        let mut sets = Vec::new();
        for (c, v) in prep.columns {
            vals.push(v);
            sets.push(format!("{c} = ${}", vals.len()));
        }
        vals.push(Val::Text(id.clone()));
        let sql = format!(
            "UPDATE {} SET {} WHERE id = ${}",
            res.table,
            sets.join(", "),
            vals.len()
        );
        query_with(&sql, &vals).execute(&mut *conn).await?;
    }
    write_lists(conn, res, &id, &prep.lists).await?;
    get_by_id(conn, res, &id).await
}

/// Rows built into every database that administrators may not remove.
const BUILT_IN: &[&str] = &[
    "00000000-0000-0000-0000-00000000017c",
    "00000000-0000-0000-0000-0000000000d0",
];

/// Delete a record, refusing when anything still uses it (and naming what).
pub async fn delete(
    conn: &mut AnyConnection,
    res: &'static Resource,
    key: &str,
) -> Result<(), StoreError> {
    let id = lookup(conn, res, key).await?;
    if BUILT_IN.contains(&id.as_str()) {
        return Err(StoreError::InUse {
            message: format!(
                "the {} '{key}' is built in and cannot be deleted",
                res.singular
            ),
        });
    }
    let users = users_of(conn, res, &id).await?;
    if !users.is_empty() {
        return Err(StoreError::InUse {
            message: format!("the {} is in use by {}", res.singular, users.join("; ")),
        });
    }
    query_with(
        &format!("DELETE FROM {} WHERE id = $1", res.table),
        &[Val::Text(id)],
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What refers to a row (other than rows it owns), as up to a few named examples per place.
async fn users_of(
    conn: &mut AnyConnection,
    res: &Resource,
    id: &str,
) -> Result<Vec<String>, StoreError> {
    const SHOWN: i64 = 3;
    let mut found = Vec::new();
    for other in catalogue::RESOURCES {
        for f in other.fields {
            let sql = match f.kind {
                Kind::Ref {
                    target: t,
                    owner: false,
                } if t == res.name => format!(
                    "SELECT id FROM {} WHERE {} = $1 LIMIT {SHOWN}",
                    other.table, f.column
                ),
                Kind::RefList { target: t, table } if t == res.name => {
                    format!("SELECT owner_id FROM {table} WHERE target_id = $1 LIMIT {SHOWN}")
                }
                _ => continue,
            };
            let rows = query_with(&sql, &[Val::Text(id.into())])
                .fetch_all(&mut *conn)
                .await?;
            for r in rows {
                let uid: String = r.get(0);
                let shown = show_ref(conn, other.name, &uid).await?;
                found.push(format!(
                    "{} {} (field {})",
                    other.singular,
                    match shown {
                        Value::String(s) => s,
                        v => v.to_string(),
                    },
                    f.name
                ));
            }
        }
    }
    Ok(found)
}

impl StoreError {
    fn prefixed(self, prefix: &str) -> StoreError {
        match self {
            StoreError::Invalid { field, message } => StoreError::Invalid {
                field: format!("{prefix}.{field}"),
                message,
            },
            other => other,
        }
    }
}
