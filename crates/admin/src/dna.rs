//! The Dialed Number Analyzer: how the stored dial plan routes a number, and why.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use dialtone_dialplan::{Mode, Plan, Request};
use serde_json::{json, Value};

use crate::AdminState;
use dialtone_web::accounts::Admin;
use dialtone_web::ApiError;

/// What the analyzer was asked.
#[derive(Debug, Default)]
pub struct Question {
    pub digits: String,
    pub css: Vec<String>,
    pub calling: String,
    pub device_pool: Option<String>,
    pub external_mask: Option<String>,
    pub mode: Option<Mode>,
}

impl Question {
    fn from_query(params: Vec<(String, String)>) -> Result<Question, ApiError> {
        let bad = |f: &str, m: &str| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, f, m);
        let mut q = Question {
            calling: "0".into(),
            ..Default::default()
        };
        for (k, v) in params {
            match k.as_str() {
                "digits" => q.digits = v,
                "css" => q.css.push(v),
                "calling" => q.calling = v,
                "device_pool" => q.device_pool = Some(v),
                "external_mask" => q.external_mask = Some(v),
                "mode" => {
                    q.mode = Some(match v.as_str() {
                        "enbloc" => Mode::EnBloc,
                        "overlap" => Mode::Overlap,
                        _ => return Err(bad("mode", "must be enbloc or overlap")),
                    })
                }
                other => return Err(bad(other, "unknown parameter")),
            }
        }
        if q.digits.is_empty() {
            return Err(bad("digits", "is required"));
        }
        Ok(q)
    }
}

/// Analyse a number against the stored plan; the answer and the explanation as JSON.
pub async fn analyse(store: &dialtone_store::Store, q: &Question) -> Result<Value, ApiError> {
    let config = store.dial_plan().await?;
    let plan = Plan::compile(&config).map_err(|e| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("the stored dial plan does not compile: {e}"),
        )
    })?;
    let lrg = match &q.device_pool {
        Some(dp) => store.local_route_group(dp).await?,
        None => None,
    };
    let css: Vec<&str> = q.css.iter().map(String::as_str).collect();
    let (outcome, explanation) = plan.explain(&Request {
        dialled: &q.digits,
        calling: &q.calling,
        css: &css,
        local_route_group: lrg.as_deref(),
        external_mask: q.external_mask.as_deref(),
        mode: q.mode.unwrap_or(Mode::EnBloc),
    });
    Ok(json!({ "result": outcome, "explanation": explanation }))
}

/// `GET /api/v1/dna?digits=91555123&css=Internal_CSS[&css=...][&calling=1000][&device_pool=P]`
pub async fn handler(
    _caller: Admin,
    State(st): State<AdminState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let q = Question::from_query(params)?;
    Ok(Json(analyse(&st.store, &q).await?))
}
