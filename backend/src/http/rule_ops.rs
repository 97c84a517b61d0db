//! Operations on whole rules: duplicate one, move one in the account's list, restore a version
//! from its history, export one or all of them as one JSON document (`domain::portable`), and
//! import such a document, with a preview (`?dry=true`) that writes nothing.
//!
//! An import matches what each rule names (custom fields, list values, users, pipelines and
//! stages, task types, Salesbots) by id when the document comes from this account and by code or
//! name otherwise (`domain::portable::match_document`), checks each rule as a save does
//! ([`check_definition`]), creates every rule disabled or none, and reports per rule what found
//! no match. A problem answers 422 at `/rules/{index}/…`.

use axum::{extract::State, http::StatusCode, Json};
use domain::{
    api::{FieldError, RuleRecord},
    portable::{
        match_document, references_for, Document, ImportReport, ImportedRule, PortableRule,
        ReferenceKind, FORMAT, FORMAT_VERSION,
    },
    rule::Rule,
    validate::Schema,
};
use serde::Deserialize;

use super::{
    body::{path_id, ApiJson, ApiPath, ApiQuery},
    routes::{Route, Verb},
    rules::{check_definition, record, shown_to},
    ApiError, ApiResult,
};
use crate::{
    auth::Caller,
    startup::AppState,
    store::{
        rules::{self, parse_rule_body, RuleBody, RuleEdit, RuleName, MAX_RULE_NAME_CHARS},
        StoreError,
    },
};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::admin(Verb::Post, "/api/v1/rules/{id}/duplicate", duplicate),
        Route::admin(Verb::Put, "/api/v1/rules/{id}/position", move_rule),
        Route::admin(
            Verb::Post,
            "/api/v1/rules/{id}/history/{version}/restore",
            restore,
        ),
        Route::read("/api/v1/rules/export", export),
        Route::admin(Verb::Post, "/api/v1/rules/import", import),
    ]
}

/// The body of a move: the rule's new place in the list, 0 first.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MoveRule {
    pub(super) position: u64,
}

/// Where a rule is after a move.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Moved {
    id: i64,
    position: i64,
}

/// `?id=` of an export: one rule, or all when absent.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportQuery {
    #[serde(default)]
    id: Option<i64>,
}

/// `?dry=true` of an import: a preview.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ImportQuery {
    #[serde(default)]
    dry: bool,
}

/// The first of `base`, `base (copy)`, `base (copy 2)`… (for `suffix` "copy") that `taken` does
/// not hold, within the longest name.
async fn free_name(
    state: &AppState,
    account_id: i64,
    base: &str,
    suffix: &str,
    also_taken: &[String],
    try_plain: bool,
) -> ApiResult<RuleName> {
    for n in 0..1000u32 {
        let tail = match n {
            0 if try_plain => String::new(),
            0 => continue,
            1 => format!(" ({suffix})"),
            n => format!(" ({suffix} {n})"),
        };
        let room = MAX_RULE_NAME_CHARS.saturating_sub(tail.chars().count());
        let candidate: String = base.chars().take(room).collect::<String>() + &tail;
        let name = RuleName::parse(&candidate).map_err(StoreError::from)?;
        if also_taken.iter().any(|t| t == name.as_str()) {
            continue;
        }
        if !rules::name_taken(&state.db, account_id, name.as_str()).await? {
            return Ok(name);
        }
    }
    Err(ApiError::conflict(
        "duplicate",
        "No free name was found for the rule; rename some rules first.",
    ))
}

/// A definition with its `name` and `enabled` set, as stored.
fn with_name(definition: &serde_json::Value, name: &RuleName, enabled: bool) -> serde_json::Value {
    let mut definition = definition.clone();
    if let Some(map) = definition.as_object_mut() {
        map.insert("name".into(), name.as_str().into());
        map.insert("enabled".into(), enabled.into());
    }
    definition
}

async fn duplicate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<RuleRecord>)> {
    let original = rules::get(&state.db, caller.account_id, path_id(&id, "rule")?).await?;
    let name = free_name(
        &state,
        caller.account_id,
        &original.name,
        "copy",
        &[],
        false,
    )
    .await?;
    let body =
        parse_rule_body(with_name(&original.rule, &name, false)).map_err(StoreError::from)?;
    let mut tx = state.db.pool.begin().await?;
    // Disabled: a copy that ran at once would do everything the original does a second time.
    let copy = rules::create_in(
        &mut tx,
        caller.account_id,
        caller.user_id,
        &name,
        &body,
        false,
        state.clock.now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(record(&state, &caller, copy).await?),
    ))
}

async fn move_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MoveRule>,
) -> ApiResult<Json<Moved>> {
    let id = path_id(&id, "rule")?;
    let position = rules::move_to(&state.db, caller.account_id, id, body.position).await?;
    Ok(Json(Moved { id, position }))
}

async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, version)): ApiPath<(String, String)>,
) -> ApiResult<Json<RuleRecord>> {
    let id = path_id(&id, "rule")?;
    let version = path_id(&version, "version")?;
    let old = rules::version(&state.db, caller.account_id, id, version).await?;
    let name = RuleName::parse(&old.name).map_err(StoreError::from)?;
    let body = parse_rule_body(old.rule).map_err(StoreError::from)?;
    // A restore is a save: the version must still fit the account.
    check_definition(&state, caller.account_id, body.as_json()).await?;
    let edit = RuleEdit {
        name,
        body,
        expected_version: None,
    };
    let saved = rules::update(
        &state.db,
        caller.account_id,
        caller.user_id,
        id,
        &edit,
        state.clock.now_ms(),
    )
    .await?;
    state.engine.schedules_changed(caller.account_id);
    Ok(Json(record(&state, &caller, saved).await?))
}

/// The account's schema: the cached one (read from Kommo when older than the configured age), else
/// the last one stored however old, else unknown.
async fn account_schema(state: &AppState, account_id: i64) -> Option<Schema> {
    match state.engine.account_schema(account_id).await {
        Ok(cached) => Some((*cached.schema).clone()),
        Err(err) => {
            tracing::info!(account_id, error = %err, "the account's schema could not be read; the last stored one is used");
            match state.engine.stored_account_schema(account_id).await {
                Ok(stored) => stored.map(|cached| (*cached.schema).clone()),
                Err(_) => None,
            }
        }
    }
}

async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<Json<Document>> {
    let stored = match query.id {
        Some(id) => vec![rules::get(&state.db, caller.account_id, id).await?],
        None => rules::all(&state.db, caller.account_id).await?,
    };
    let parsed: Vec<Rule> = stored
        .iter()
        .filter_map(|r| Rule::from_json(&r.rule.to_string()).ok())
        .collect();
    let schema = account_schema(&state, caller.account_id)
        .await
        .unwrap_or_default();
    let references = references_for(&parsed, &schema);
    let rules = stored
        .into_iter()
        .map(|r| PortableRule {
            id: r.id,
            name: r.name,
            enabled: r.enabled,
            rule: shown_to(&caller, r.rule),
        })
        .collect();
    Ok(Json(Document {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        account_id: caller.account_id,
        exported_at: state.clock.now_ms(),
        rules,
        references,
    }))
}

/// A problem of rule `index` of the document, its path made a pointer into the document.
fn at_rule(index: usize, errors: &[FieldError], inner: &str) -> Vec<FieldError> {
    errors
        .iter()
        .map(|e| FieldError {
            path: format!("/rules/{index}{inner}{}", e.path),
            code: e.code.clone(),
            message: format!("rule {}: {}", index + 1, e.message),
        })
        .collect()
}

fn refuse(errors: Vec<FieldError>) -> ApiError {
    let detail = format!(
        "The document has {} at {}: {}.",
        if errors.len() == 1 {
            "a problem".to_owned()
        } else {
            format!("{} problems; the first", errors.len())
        },
        errors[0].path,
        errors[0].message.trim_end_matches('.')
    );
    ApiError::invalid(detail, errors)
}

fn one_problem(path: &str, code: &str, message: impl Into<String>) -> ApiError {
    refuse(vec![FieldError {
        path: path.into(),
        code: code.into(),
        message: message.into(),
    }])
}

/// Refuses a document of another format or version.
pub(super) fn check_format(document: &Document) -> ApiResult<()> {
    if document.format != FORMAT {
        return Err(one_problem(
            "/format",
            "bad_format",
            format!("This is not a Rulebook export: its format is not \"{FORMAT}\"."),
        ));
    }
    if document.format_version != FORMAT_VERSION {
        return Err(one_problem(
            "/format_version",
            "unsupported_version",
            format!(
                "This build reads exports of format version {FORMAT_VERSION}, not {}.",
                document.format_version
            ),
        ));
    }
    Ok(())
}

async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ImportQuery>,
    ApiJson(document): ApiJson<Document>,
) -> ApiResult<(StatusCode, Json<ImportReport>)> {
    check_format(&document)?;
    let schema = account_schema(&state, caller.account_id).await;
    let matched = match_document(&document, caller.account_id, schema.as_ref());
    let mut problems = Vec::new();
    let mut planned: Vec<(RuleName, RuleBody, ImportedRule)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (index, (portable, result)) in document.rules.iter().zip(matched).enumerate() {
        let matched = match result {
            Ok(matched) => matched,
            Err(err) => {
                problems.push(FieldError {
                    path: format!("/rules/{index}/rule"),
                    code: "bad_shape".into(),
                    message: format!(
                        "rule {}: this is not a rule Rulebook can read: {err}",
                        index + 1
                    ),
                });
                continue;
            }
        };
        let base = match RuleName::parse(&portable.name) {
            Ok(name) => name,
            Err(invalid) => {
                problems.push(FieldError {
                    path: format!("/rules/{index}/name"),
                    code: invalid.code.into(),
                    message: format!("rule {}: {}", index + 1, invalid.message),
                });
                continue;
            }
        };
        let name = free_name(
            &state,
            caller.account_id,
            base.as_str(),
            "imported",
            &names,
            true,
        )
        .await?;
        names.push(name.as_str().to_owned());
        let definition = serde_json::from_str::<serde_json::Value>(&matched.rule.to_json())
            .map_err(ApiError::internal)?;
        let body = match parse_rule_body(with_name(&definition, &name, false)) {
            Ok(body) => body,
            Err(invalid) => {
                problems.extend(at_rule(
                    index,
                    &[FieldError {
                        path: invalid.path,
                        code: invalid.code.into(),
                        message: invalid.message,
                    }],
                    "/rule",
                ));
                continue;
            }
        };
        // The check of a save; what it names that found no match is reported, not refused.
        if let Err(refused) = check_definition(&state, caller.account_id, body.as_json()).await {
            let unmatched_kinds: Vec<ReferenceKind> =
                matched.unmatched.iter().map(|u| u.kind).collect();
            let reported = |e: &&FieldError| {
                let kind = match e.code.as_str() {
                    "unknown_field" => ReferenceKind::Field,
                    "unknown_user" => ReferenceKind::User,
                    "unknown_pipeline" => ReferenceKind::Pipeline,
                    "unknown_stage" => ReferenceKind::Stage,
                    "unknown_salesbot" => ReferenceKind::Salesbot,
                    _ => return false,
                };
                unmatched_kinds.contains(&kind)
            };
            let remaining: Vec<FieldError> = refused
                .field_errors()
                .iter()
                .filter(|e| !reported(e))
                .cloned()
                .collect();
            if refused.field_errors().is_empty() {
                return Err(refused);
            }
            problems.extend(at_rule(index, &remaining, "/rule"));
        }
        planned.push((
            name.clone(),
            body,
            ImportedRule {
                index,
                name: name.as_str().to_owned(),
                id: None,
                enabled: false,
                unmatched: matched.unmatched,
            },
        ));
    }
    if !problems.is_empty() {
        return Err(refuse(problems));
    }
    if query.dry {
        let rules = planned.into_iter().map(|(_, _, report)| report).collect();
        return Ok((StatusCode::OK, Json(ImportReport { dry: true, rules })));
    }
    let (to_create, mut reports): (Vec<(RuleName, RuleBody)>, Vec<ImportedRule>) = planned
        .into_iter()
        .map(|(name, body, report)| ((name, body), report))
        .unzip();
    let created = rules::create_disabled_all(
        &state.db,
        caller.account_id,
        caller.user_id,
        &to_create,
        state.clock.now_ms(),
    )
    .await?;
    for (report, rule) in reports.iter_mut().zip(&created) {
        report.id = Some(rule.id);
    }
    Ok((
        StatusCode::CREATED,
        Json(ImportReport {
            dry: false,
            rules: reports,
        }),
    ))
}
