//! `/api/v1/links`: the account's trigger links, for administrators only (a link's URL is a
//! secret). A link is `manual` when it has no entity of its own: `{tglink:N}` writes, for each
//! entity a rule runs for, a URL that names and signs that entity; or `auto` when it is about one
//! entity of its own, which every click runs the rule for. Each shows its `{tglink:N}` variable,
//! its URL and how many clicks it had.
//!
//! - `GET /api/v1/links[?rule_id=]`: the links, newest first, paged.
//! - `POST /api/v1/links` `{"rule_id", "kind"?, "name"?, "target_url"?, "entity_type"?,
//!   "entity_id"?}`: a new link (201); `POST /api/v1/rules/{id}/links` does the same for rule `id`.
//! - `PUT /api/v1/links/{id}` (the same body): the link changed; its URL and clicks stay.
//! - `POST /api/v1/links/{id}/rotate`: a new URL for the link; the old one stops working.
//! - `DELETE /api/v1/links/{id}`: the link is gone.

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};

use super::{
    body::{path_id, require_admin, ApiJson, ApiPath, ApiQuery},
    page::Paged,
    routes::{Route, Verb},
    ApiResult,
};
use crate::{
    auth::Caller,
    startup::AppState,
    store::{
        trigger_links::{self, NewTriggerLink, TriggerLink},
        InvalidInput, StoreError,
    },
};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::admin(Verb::Get, "/api/v1/links", list),
        Route::admin(Verb::Post, "/api/v1/links", create),
        Route::admin(Verb::Put, "/api/v1/links/{id}", edit),
        Route::admin(Verb::Post, "/api/v1/links/{id}/rotate", rotate),
        Route::admin(Verb::Delete, "/api/v1/links/{id}", delete),
    ]
}

/// A trigger link with its kind, its `{tglink:N}` variable and its full URL.
#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct LinkView {
    #[serde(flatten)]
    link: TriggerLink,
    kind: &'static str,
    variable: String,
    url: String,
}

pub(super) fn link_view(state: &AppState, link: TriggerLink) -> LinkView {
    let base = state.settings.public_url.as_str().trim_end_matches('/');
    LinkView {
        url: format!("{base}/t/{}", link.token),
        kind: if link.entity_type.is_some() {
            "auto"
        } else {
            "manual"
        },
        variable: format!("{{tglink:{}}}", link.id),
        link,
    }
}

/// The body of a create or an edit.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkBody {
    rule_id: i64,
    /// `auto` or `manual`; when given, it must agree with the entity.
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    target_url: Option<String>,
    #[serde(default)]
    entity_type: Option<String>,
    #[serde(default)]
    entity_id: Option<i64>,
}

/// The rule and the link a body asks for, checked.
pub(super) fn parse_link_body(body: LinkBody) -> Result<(i64, NewTriggerLink), StoreError> {
    let entity = match (body.entity_type, body.entity_id) {
        (Some(t), Some(id)) => Some((t, id)),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(InvalidInput::new(
                "/entity_id",
                "incomplete_entity",
                "A link's entity needs both entity_type and entity_id.",
            )
            .into())
        }
    };
    match (body.kind.as_deref(), &entity) {
        (None, _) | (Some("auto"), Some(_)) | (Some("manual"), None) => {}
        (Some("auto"), None) => {
            return Err(InvalidInput::new(
                "/entity_type",
                "entity_required",
                "An auto link is about one entity: give its entity_type and entity_id.",
            )
            .into())
        }
        (Some("manual"), Some(_)) => {
            return Err(InvalidInput::new(
                "/entity_type",
                "entity_not_allowed",
                "A manual link has no entity of its own: {tglink:N} names one in each URL.",
            )
            .into())
        }
        (Some(_), _) => {
            return Err(
                InvalidInput::new("/kind", "bad_kind", "A link's kind is auto or manual.").into(),
            )
        }
    }
    let link = NewTriggerLink {
        name: body.name,
        target_url: body.target_url,
        entity,
    };
    link.check()?;
    Ok((body.rule_id, link))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct LinkFilter {
    rule_id: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Paged(page): Paged,
    ApiQuery(filter): ApiQuery<LinkFilter>,
) -> ApiResult<Json<Vec<LinkView>>> {
    require_admin(&caller)?;
    let rule_id = filter
        .rule_id
        .map(|raw| path_id(&raw, "rule"))
        .transpose()?;
    let links = trigger_links::list_links(&state.db, caller.account_id, rule_id, page).await?;
    Ok(Json(
        links.into_iter().map(|l| link_view(&state, l)).collect(),
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<LinkBody>,
) -> ApiResult<(StatusCode, Json<LinkView>)> {
    require_admin(&caller)?;
    let (rule_id, link) = parse_link_body(body)?;
    let link = trigger_links::create_link(
        &state.db,
        caller.account_id,
        rule_id,
        &link,
        state.clock.now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(link_view(&state, link))))
}

async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LinkBody>,
) -> ApiResult<Json<LinkView>> {
    require_admin(&caller)?;
    let id = path_id(&id, "link")?;
    let (rule_id, link) = parse_link_body(body)?;
    let link = trigger_links::update_link(&state.db, caller.account_id, id, rule_id, &link).await?;
    Ok(Json(link_view(&state, link)))
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<LinkView>> {
    require_admin(&caller)?;
    let link =
        trigger_links::rotate_link(&state.db, caller.account_id, path_id(&id, "link")?).await?;
    Ok(Json(link_view(&state, link)))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    trigger_links::revoke_link(&state.db, caller.account_id, path_id(&id, "link")?).await?;
    Ok(StatusCode::NO_CONTENT)
}
