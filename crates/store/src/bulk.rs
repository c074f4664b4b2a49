//! Bulk CSV import and export (the administrator's Bulk Administration Tool).
//!
//! A CSV file's columns are the resource's field names, so the same catalogue that drives the
//! API drives the files. Composite references take one column per key (`primary_extension.pattern`,
//! `primary_extension.partition`), lists are `;`-separated, and devices and device profiles take
//! their lines as `line1.pattern`, `line1.partition`, `line1.label`, ... (a missing directory
//! number is created, as BAT does).
//!
//! An import is all or nothing: every row is checked, each failure is reported with its line and
//! column, and nothing is kept unless every row succeeded.

use serde_json::{Map, Value};
use sqlx::{AnyConnection, Connection};

use crate::catalogue::{self, Kind, Resource};
use crate::records::{self, WriteContext};
use crate::{Store, StoreError};

/// One thing wrong with one cell (or row) of an import file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// Line in the file (the header is line 1).
    pub line: u64,
    /// Column name, or empty when the whole row is at fault.
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(
                f,
                "line {}, column '{}': {}",
                self.line, self.column, self.message
            )
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} row error(s); nothing was imported", .0.len())]
    Rows(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The kinds a CSV file can hold: every resource of the catalogue.
pub fn kind(name: &str) -> Option<&'static Resource> {
    catalogue::resource(name)
}

fn has_lines(res: &Resource) -> bool {
    res.name == "devices" || res.name == "device-profiles"
}

const LINE_FIELDS: &[&str] = &[
    "pattern",
    "partition",
    "label",
    "display_name",
    "external_mask",
];

/// One parsed row: the record, its lines, and where it came from.
struct Row {
    line: u64,
    record: Map<String, Value>,
    lines: Vec<(i64, Map<String, Value>)>,
}

fn cell_error(line: u64, column: &str, message: impl Into<String>) -> RowError {
    RowError {
        line,
        column: column.to_string(),
        message: message.into(),
    }
}

fn parse_cell(field: &catalogue::Field, raw: &str) -> Result<Value, String> {
    Ok(match field.kind {
        Kind::Int { .. } => Value::from(
            raw.parse::<i64>()
                .map_err(|_| "expected a whole number".to_string())?,
        ),
        Kind::Bool => Value::Bool(match raw.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => true,
            "false" | "f" | "no" | "n" | "0" => false,
            _ => return Err("expected true or false".into()),
        }),
        Kind::RefList { .. } | Kind::EnumList { .. } => Value::Array(
            raw.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        _ => Value::String(raw.to_string()),
    })
}

/// Turn the CSV text into checked rows, collecting every shape error.
fn parse(res: &'static Resource, text: &str) -> Result<Vec<Row>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![cell_error(1, "", e.to_string())]),
    };
    let mut errors = Vec::new();
    // Check the header once: every column must mean something.
    for h in headers.iter() {
        let known = match h.split_once('.') {
            None => res.field(h).is_some(),
            Some((base, sub)) => {
                let line_col = has_lines(res)
                    && base
                        .strip_prefix("line")
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                    && LINE_FIELDS.contains(&sub);
                let composite = res.field(base).is_some_and(|f| match f.kind {
                    Kind::Ref { target, .. } => catalogue::resource(target)
                        .is_some_and(|t| t.key.len() > 1 && t.key.contains(&sub)),
                    _ => false,
                });
                line_col || composite
            }
        };
        if !known {
            errors.push(cell_error(
                1,
                h,
                format!("{} has no such field", res.singular),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    for result in reader.records() {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(cell_error(line, "", e.to_string()));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let mut obj = Map::new();
        let mut lines: std::collections::BTreeMap<i64, Map<String, Value>> = Default::default();
        for (h, raw) in headers.iter().zip(record.iter()) {
            if raw.is_empty() {
                continue;
            }
            match h.split_once('.') {
                None => {
                    let f = res.field(h).expect("header checked");
                    match parse_cell(f, raw) {
                        Ok(v) => {
                            obj.insert(h.to_string(), v);
                        }
                        Err(m) => errors.push(cell_error(line, h, m)),
                    }
                }
                Some((base, sub)) if base.starts_with("line") && has_lines(res) => {
                    let idx: i64 = base[4..].parse().expect("header checked");
                    lines
                        .entry(idx)
                        .or_default()
                        .insert(sub.to_string(), Value::String(raw.to_string()));
                }
                Some((base, sub)) => {
                    let entry = obj
                        .entry(base.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(m) = entry {
                        m.insert(sub.to_string(), Value::String(raw.to_string()));
                    }
                }
            }
        }
        for (idx, l) in &lines {
            if !l.contains_key("pattern") {
                errors.push(cell_error(
                    line,
                    &format!("line{idx}.pattern"),
                    "is required",
                ));
            }
        }
        rows.push(Row {
            line,
            record: obj,
            lines: lines.into_iter().collect(),
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

fn column_of(field: &str) -> String {
    // `primary_extension.partition` is a column as it stands; `devices[2]` is the `devices` column.
    field.split('[').next().unwrap_or(field).to_string()
}

async fn apply_row(
    conn: &mut AnyConnection,
    ctx: &WriteContext,
    res: &'static Resource,
    row: &Row,
) -> Result<(), RowError> {
    let at = |e: StoreError, prefix: &str| -> RowError {
        match e {
            StoreError::Invalid { field, message } | StoreError::Conflict { field, message } => {
                cell_error(row.line, &format!("{prefix}{}", column_of(&field)), message)
            }
            other => cell_error(row.line, "", other.to_string()),
        }
    };
    let created = records::create(conn, ctx, res, &Value::Object(row.record.clone()))
        .await
        .map_err(|e| at(e, ""))?;
    let owner_key = created["name"].clone();
    let dn_res = catalogue::resource("directory-numbers").expect("catalogued");
    let la_res = catalogue::resource("line-appearances").expect("catalogued");
    for (idx, l) in &row.lines {
        let prefix = format!("line{idx}.");
        let dn_key = serde_json::json!({
            "pattern": l.get("pattern").cloned().unwrap_or(Value::Null),
            "partition": l.get("partition").cloned().unwrap_or(Value::Null),
        });
        let exists = records::list(
            conn,
            dn_res,
            &records::ListQuery {
                filters: vec![
                    ("pattern".into(), l["pattern"].as_str().unwrap_or("").into()),
                    (
                        "partition".into(),
                        l.get("partition")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .into(),
                    ),
                ],
                prefix: None,
                limit: 1,
                offset: 0,
            },
        )
        .await
        .map_err(|e| at(e, &prefix))?
        .total
            > 0;
        if !exists {
            records::create(conn, ctx, dn_res, &dn_key)
                .await
                .map_err(|e| at(e, &prefix))?;
        }
        let mut la = Map::new();
        let owner_field = if res.name == "devices" {
            "device"
        } else {
            "device_profile"
        };
        la.insert(owner_field.into(), owner_key.clone());
        la.insert("directory_number".into(), dn_key);
        la.insert("index".into(), Value::from(*idx));
        for k in ["label", "display_name", "external_mask"] {
            if let Some(v) = l.get(k) {
                la.insert(k.into(), v.clone());
            }
        }
        records::create(conn, ctx, la_res, &Value::Object(la))
            .await
            .map_err(|e| at(e, &prefix))?;
    }
    Ok(())
}

impl Store {
    /// Import a CSV file of `res` records. `progress(done, total)` is called after each row.
    /// Returns the number of records created.
    pub async fn import_csv(
        &self,
        res: &'static Resource,
        text: &str,
        mut progress: impl FnMut(usize, usize) + Send,
    ) -> Result<usize, ImportError> {
        let rows = parse(res, text).map_err(ImportError::Rows)?;
        let total = rows.len();
        let ctx = self.write_context().clone();
        let _turn = self.write_turn().await;
        let mut conn = self.pool().acquire().await.map_err(StoreError::from)?;
        let mut tx = conn.begin().await.map_err(StoreError::from)?;
        let mut errors = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            // A savepoint per row: a failed row is undone alone, so later rows are still
            // checked and every error is reported at once.
            let mut sp = tx.begin().await.map_err(StoreError::from)?;
            match apply_row(&mut sp, &ctx, res, row).await {
                Ok(()) => sp.commit().await.map_err(StoreError::from)?,
                Err(e) => {
                    sp.rollback().await.map_err(StoreError::from)?;
                    errors.push(e);
                }
            }
            progress(i + 1, total);
        }
        if errors.is_empty() {
            tx.commit().await.map_err(StoreError::from)?;
            self.changed();
            Ok(total)
        } else {
            tx.rollback().await.map_err(StoreError::from)?;
            Err(ImportError::Rows(errors))
        }
    }

    /// Export every `res` record as CSV in the import format.
    pub async fn export_csv(&self, res: &'static Resource) -> Result<String, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let mut records = Vec::new();
        let mut offset = 0;
        loop {
            let page = records::list(
                &mut conn,
                res,
                &records::ListQuery {
                    filters: vec![],
                    prefix: None,
                    limit: 1000,
                    offset,
                },
            )
            .await?;
            let n = page.items.len() as i64;
            records.extend(page.items);
            if n < 1000 {
                break;
            }
            offset += n;
        }
        let mut flat_rows: Vec<Vec<(String, String)>> = Vec::new();
        let la_res = catalogue::resource("line-appearances").expect("catalogued");
        for rec in &records {
            let mut cols = Vec::new();
            for f in res.fields {
                let v = &rec[f.name];
                match (f.kind, v) {
                    (Kind::Secret(_), _) => {}
                    (_, Value::Object(m)) => {
                        for (k, sub) in m {
                            cols.push((format!("{}.{k}", f.name), cell_text(sub)));
                        }
                    }
                    (Kind::Ref { target, .. }, Value::Null)
                        if catalogue::resource(target).is_some_and(|t| t.key.len() > 1) =>
                    {
                        let t = catalogue::resource(target).expect("checked");
                        for k in t.key {
                            cols.push((format!("{}.{k}", f.name), String::new()));
                        }
                    }
                    _ => cols.push((f.name.to_string(), cell_text(v))),
                }
            }
            if has_lines(res) {
                let owner = if res.name == "devices" {
                    "device"
                } else {
                    "device_profile"
                };
                let lines = records::list(
                    &mut conn,
                    la_res,
                    &records::ListQuery {
                        filters: vec![(owner.into(), rec["name"].as_str().unwrap_or("").into())],
                        prefix: None,
                        limit: 64,
                        offset: 0,
                    },
                )
                .await?;
                for la in lines.items {
                    let idx = la["index"].as_i64().unwrap_or(0);
                    let dn = &la["directory_number"];
                    cols.push((format!("line{idx}.pattern"), cell_text(&dn["pattern"])));
                    cols.push((format!("line{idx}.partition"), cell_text(&dn["partition"])));
                    for k in ["label", "display_name", "external_mask"] {
                        cols.push((format!("line{idx}.{k}"), cell_text(&la[k])));
                    }
                }
            }
            flat_rows.push(cols);
        }
        // The header is the union of every row's columns, in first-seen order.
        let mut header: Vec<String> = Vec::new();
        for row in &flat_rows {
            for (c, _) in row {
                if !header.contains(c) {
                    header.push(c.clone());
                }
            }
        }
        if header.is_empty() {
            header = res
                .fields
                .iter()
                .filter(|f| !matches!(f.kind, Kind::Secret(_)))
                .map(|f| f.name.to_string())
                .collect();
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&header)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        for row in &flat_rows {
            let cells: Vec<&str> = header
                .iter()
                .map(|h| {
                    row.iter()
                        .find(|(c, _)| c == h)
                        .map(|(_, v)| v.as_str())
                        .unwrap_or("")
                })
                .collect();
            w.write_record(&cells)
                .map_err(|e| StoreError::Internal(e.to_string()))?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| StoreError::Internal(e.to_string()))
    }
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell_text).collect::<Vec<_>>().join(";"),
        other => other.to_string(),
    }
}
