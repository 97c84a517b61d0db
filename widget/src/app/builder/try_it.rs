//! "Test on a lead": the unsaved rule dry-run on a lead picked by name or id.
//!
//! The admin searches leads (`GET /api/v1/entities/leads/search?q=`), picks one (which also
//! becomes the builder's preview lead for template fields, through its snapshot) and runs the
//! draft (`POST /api/v1/rules/dry-run` with the rule as edited). The answer shows which blocks
//! would fire, each condition's actual value against the expected one (green or red, and said in
//! words), the rendered texts, the Kommo requests the actions would send, and the timers. The
//! backend's dry run writes nothing.

use chrono::{DateTime, Utc};
use domain::api::EntityMatch;
use domain::eval::{BlockStatus, Outcome, Trace};
use serde::Deserialize;
use yew::prelude::*;

use super::template::{use_preview, PreviewLead};
use super::{use_builder, BuilderCtx};
use crate::components::controls::{Button, ButtonKind, TextInput};
use crate::components::trace::TraceView;
use crate::components::ErrorNotice;
use crate::services;
use crate::state::UiError;

/// One rendered text of a planned action.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RenderedText {
    /// The block, `None` for the else scenario.
    #[serde(default)]
    pub block: Option<usize>,
    /// The action's index in its list.
    pub action_index: usize,
    /// Which of the action's texts.
    pub field: String,
    /// The text as rendered for the lead.
    pub text: String,
}

/// One Kommo request an action would send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlannedRequest {
    /// `POST`, `PATCH`, …
    pub method: String,
    /// The path under the account's base URL.
    pub path: String,
    /// The JSON body.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// The requests of one planned action.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlannedCall {
    /// The block, `None` for the else scenario.
    #[serde(default)]
    pub block: Option<usize>,
    /// The action's index in its list.
    pub action_index: usize,
    /// The action kind.
    pub kind: String,
    /// When it would run; `None` at once.
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// The requests.
    #[serde(default)]
    pub requests: Vec<PlannedRequest>,
}

/// A delayed action or block and when it would run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlannedTimer {
    /// `action` or `block`.
    pub kind: String,
    /// The block, `None` for the else scenario.
    #[serde(default)]
    pub block: Option<usize>,
    /// The action's index, for an action.
    #[serde(default)]
    pub action_index: Option<usize>,
    /// When.
    pub run_at: DateTime<Utc>,
}

/// What `POST /api/v1/rules/dry-run` answers (the parts shown).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DryRunAnswer {
    /// Whether the rule ran.
    pub outcome: Outcome,
    /// Every block and condition as checked.
    pub trace: Trace,
    /// The rendered texts.
    #[serde(default)]
    pub texts: Vec<RenderedText>,
    /// The Kommo requests per planned action.
    #[serde(default)]
    pub requests: Vec<PlannedCall>,
    /// The timers.
    #[serde(default)]
    pub timers: Vec<PlannedTimer>,
}

fn block_label(block: Option<usize>, ctx: &BuilderCtx) -> String {
    match block {
        Some(b) => {
            let name = ctx
                .rule
                .blocks
                .get(b)
                .map(|x| x.name.clone())
                .filter(|n| !n.is_empty());
            match name {
                Some(n) => format!("{} {} «{n}»", ctx.t("try_block"), b + 1),
                None => format!("{} {}", ctx.t("try_block"), b + 1),
            }
        }
        None => ctx.t("builder_else"),
    }
}

fn outcome_text(outcome: Outcome, ctx: &BuilderCtx) -> String {
    ctx.t(match outcome {
        Outcome::Ran => "try_outcome_ran",
        Outcome::EventDoesNotMatch => "try_outcome_other_event",
        Outcome::Disabled => "try_outcome_disabled",
        Outcome::OutsideActiveHours => "try_outcome_hours",
        Outcome::FrequencyExceeded => "trace_frequency",
        Outcome::OnceAlreadyFired => "trace_once",
    })
}

fn answer_view(a: &DryRunAnswer, ctx: &BuilderCtx) -> Html {
    let texts = a.texts.iter().map(|t| {
        html! {
            <li>
                <span class="rb-hint">{ format!("{} · {} {} · {}", block_label(t.block, ctx), ctx.t("try_action"), t.action_index + 1, t.field) }</span>
                <pre class="rb-rendered">{ t.text.clone() }</pre>
            </li>
        }
    });
    let calls = a.requests.iter().map(|c| {
        let requests = c.requests.iter().map(|r| {
            let body = r
                .body
                .as_ref()
                .and_then(|b| serde_json::to_string_pretty(b).ok())
                .unwrap_or_default();
            html! {
                <li>
                    <code>{ format!("{} {}", r.method, r.path) }</code>
                    if !body.is_empty() { <pre class="rb-request-body">{ body }</pre> }
                </li>
            }
        });
        html! {
            <li>
                <strong>{ format!("{} · {} {} ({})", block_label(c.block, ctx), ctx.t("try_action"), c.action_index + 1, c.kind) }</strong>
                if c.requests.is_empty() { <p class="rb-hint">{ ctx.t("try_no_requests") }</p> }
                <ul class="rb-requests">{ for requests }</ul>
            </li>
        }
    });
    let timers = a.timers.iter().map(|t| {
        let what = match t.action_index {
            Some(i) => format!(
                "{} · {} {}",
                block_label(t.block, ctx),
                ctx.t("try_action"),
                i + 1
            ),
            None => block_label(t.block, ctx),
        };
        html! { <li>{ format!("{what}: {}", t.run_at.format("%Y-%m-%d %H:%M UTC")) }</li> }
    });
    let fired = a
        .trace
        .blocks
        .iter()
        .filter(|b| matches!(b.status, BlockStatus::Completed))
        .count();
    html! {
        <div class="rb-try-result">
            <p class="rb-try-outcome" role="status">
                { outcome_text(a.outcome, ctx) }
                { format!(" · {}: {fired}", ctx.t("try_blocks_fire")) }
            </p>
            <h4>{ ctx.t("try_blocks") }</h4>
            <TraceView trace={a.trace.clone()} texts={ctx.texts.clone()} />
            <h4>{ ctx.t("try_texts") }</h4>
            if a.texts.is_empty() { <p class="rb-hint">{ ctx.t("try_none") }</p> } else { <ul class="rb-try-texts">{ for texts }</ul> }
            <h4>{ ctx.t("try_changes") }</h4>
            if a.requests.is_empty() { <p class="rb-hint">{ ctx.t("try_none") }</p> } else { <ul class="rb-try-changes">{ for calls }</ul> }
            <h4>{ ctx.t("try_timers") }</h4>
            if a.timers.is_empty() { <p class="rb-hint">{ ctx.t("try_none") }</p> } else { <ul class="rb-try-timers">{ for timers }</ul> }
            <p class="rb-hint">{ ctx.t("try_writes_nothing") }</p>
        </div>
    }
}

/// The "Test on a lead" panel.
#[function_component(TryIt)]
pub fn try_it() -> Html {
    let ctx = use_builder();
    let preview = use_preview();
    let query = use_state(String::new);
    let matches = use_state(|| None::<Vec<EntityMatch>>);
    let picked = use_state(|| None::<EntityMatch>);
    let answer = use_state(|| None::<DryRunAnswer>);
    let busy = use_state(|| false);
    let error = use_state(|| None::<UiError>);

    // The preview lead, when another part of the builder picked it first.
    {
        let picked = picked.clone();
        let lead = preview.as_ref().and_then(|p| p.lead.clone());
        use_effect_with(lead, move |lead| {
            if let Some(l) = lead {
                if picked.as_ref().map(|p| p.id) != Some(l.id) {
                    picked.set(Some(EntityMatch {
                        id: l.id,
                        name: l.name.clone(),
                    }));
                }
            }
        });
    }

    let search = {
        let (backend, query, matches, error, busy) = (
            ctx.backend.clone(),
            query.clone(),
            matches.clone(),
            error.clone(),
            busy.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let q = query.trim().to_string();
            if q.is_empty() {
                return;
            }
            let (backend, matches, error, busy) = (
                backend.clone(),
                matches.clone(),
                error.clone(),
                busy.clone(),
            );
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let path = format!(
                    "/api/v1/entities/leads/search?q={}",
                    String::from(js_sys::encode_uri_component(&q))
                );
                let found =
                    services::request::<Vec<EntityMatch>>(&backend, "GET", &path, None).await;
                busy.set(false);
                match found {
                    Ok(list) => {
                        error.set(None);
                        matches.set(Some(list));
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let pick = {
        let (backend, picked, matches, preview, error) = (
            ctx.backend.clone(),
            picked.clone(),
            matches.clone(),
            preview.clone(),
            error.clone(),
        );
        // The snapshot names the account's zone; the widget reads times in the schema's table.
        let zone = ctx.schema.zone();
        Callback::from(move |m: EntityMatch| {
            picked.set(Some(m.clone()));
            matches.set(None);
            let (backend, preview, error) = (backend.clone(), preview.clone(), error.clone());
            let zone = zone.clone();
            // The lead becomes the builder's preview lead too.
            wasm_bindgen_futures::spawn_local(async move {
                let path = format!("/api/v1/entities/leads/{}/snapshot", m.id);
                match services::request::<domain::snapshot::Snapshot>(&backend, "GET", &path, None)
                    .await
                {
                    Ok(mut snapshot) => {
                        snapshot.account.timezone = zone;
                        if let Some(p) = &preview {
                            p.set_lead.emit(Some(PreviewLead {
                                id: m.id,
                                name: m.name.clone(),
                                snapshot: std::rc::Rc::new(snapshot),
                            }));
                        }
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let run = {
        let (backend, picked, answer, busy, error, rule, preview) = (
            ctx.backend.clone(),
            picked.clone(),
            answer.clone(),
            busy.clone(),
            error.clone(),
            ctx.rule.clone(),
            preview.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let Some(lead) = (*picked).clone() else {
                return;
            };
            let body = serde_json::json!({
                "rule": &*rule,
                "entity_id": lead.id,
                "entity_type": "lead",
            });
            let (backend, answer, busy, error, preview) = (
                backend.clone(),
                answer.clone(),
                busy.clone(),
                error.clone(),
                preview.clone(),
            );
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let result = services::request::<DryRunAnswer>(
                    &backend,
                    "POST",
                    "/api/v1/rules/dry-run",
                    Some(body.to_string()),
                )
                .await;
                busy.set(false);
                match result {
                    Ok(a) => {
                        // Template previews read the clock the server evaluated at.
                        if let Some(p) = &preview {
                            p.set_now.emit(a.trace.evaluated_at);
                        }
                        error.set(None);
                        answer.set(Some(a));
                    }
                    Err(e) => {
                        answer.set(None);
                        error.set(Some(e));
                    }
                }
            });
        })
    };

    let found = matches.as_ref().map(|list| {
        if list.is_empty() {
            return html! { <p class="rb-hint" role="status">{ ctx.t("try_no_leads") }</p> };
        }
        let items = list.iter().map(|m| {
            let pick = pick.clone();
            let m2 = m.clone();
            html! {
                <li>
                    <button type="button" class="button-input rb-button rb-lead-choice" onclick={Callback::from(move |_| pick.emit(m2.clone()))}>
                        { format!("{} (#{})", m.name, m.id) }
                    </button>
                </li>
            }
        });
        html! { <ul class="rb-lead-matches" aria-label={ctx.t("try_matches")}>{ for items }</ul> }
    });
    let on_query = {
        let query = query.clone();
        Callback::from(move |v: String| query.set(v))
    };
    html! {
        <div class="rb-try">
            <h3>{ ctx.t("builder_try") }</h3>
            <p class="rb-hint">{ ctx.t("try_hint") }</p>
            <div class="rb-try-search">
                <TextInput label={ctx.t("try_lead_search")} value={(*query).clone()} on_change={on_query} />
                <Button label={ctx.t("try_find")} onclick={search} disabled={*busy || query.trim().is_empty()} />
            </div>
            { found.unwrap_or_default() }
            if let Some(lead) = &*picked {
                <p class="rb-try-picked">{ format!("{}: {} (#{})", ctx.t("try_picked"), lead.name, lead.id) }</p>
            }
            <Button kind={ButtonKind::Primary} label={ctx.t("try_run")} onclick={run}
                disabled={*busy || picked.is_none()} title={picked.is_none().then(|| ctx.t("try_pick_first"))} />
            if *busy { <p class="rb-loading" role="status">{ ctx.t("loading") }</p> }
            if let Some(e) = (*error).clone() { <ErrorNotice error={e} texts={ctx.texts.clone()} /> }
            if let Some(a) = &*answer { { answer_view(a, &ctx) } }
        </div>
    }
}
