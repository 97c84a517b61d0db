//! The Links tab: the account's trigger links, auto (about one lead, contact or company of its
//! own) and manual (about whichever entity the rule that writes it runs for) — created, edited,
//! given a new URL and deleted, each after a confirmation where sent links stop working — with
//! their `{tglink:N}` variable and their URL (an auto link's own, a manual link's pattern), each
//! with a copy button, and how many clicks each had.
//!
//! A link runs a manual rule (the only rules a click may run), so the form offers those; links are
//! for administrators only (their URLs are secrets): a member's list answers 403 and the tab says
//! so.

use std::rc::Rc;

use domain::api::{FieldError, RuleSummary};
use yew::prelude::*;

use super::PageProps;
use crate::{
    components::controls::{Button, ButtonKind, Select, SelectOption, TextInput},
    components::copy::CopyButton,
    components::ErrorNotice,
    hooks::{use_remote, use_row_actions, RowAction},
    i18n::Texts,
    services::{self, TriggerLink},
    state::{Remote, UiError},
};

/// The longest link name, in characters (the backend's limit).
pub const MAX_NAME_CHARS: usize = 200;

/// A link as edited in the form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkDraft {
    /// The link changed; `None` for a new one.
    pub id: Option<i64>,
    /// The manual rule a click runs.
    pub rule_id: Option<i64>,
    /// An auto link (about one entity of its own) rather than a manual one.
    pub auto: bool,
    /// Its name.
    pub name: String,
    /// The page a click goes on to; empty for none.
    pub target_url: String,
    /// An auto link's entity id, as typed.
    pub entity_id: String,
}

impl LinkDraft {
    /// The draft of a stored link.
    pub fn of(link: &TriggerLink) -> Self {
        Self {
            id: Some(link.id),
            rule_id: Some(link.rule_id),
            auto: link.kind == "auto",
            name: link.name.clone().unwrap_or_default(),
            target_url: link.target_url.clone().unwrap_or_default(),
            entity_id: link.entity_id.map(|i| i.to_string()).unwrap_or_default(),
        }
    }
}

/// What is wrong with a draft, field by field, as text keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DraftProblems {
    /// The rule.
    pub rule: Option<&'static str>,
    /// The name.
    pub name: Option<&'static str>,
    /// The page it opens.
    pub target: Option<&'static str>,
    /// An auto link's entity.
    pub entity: Option<&'static str>,
}

impl DraftProblems {
    /// The first problem, for the disabled Save button's reason.
    pub fn first(&self) -> Option<&'static str> {
        self.rule.or(self.name).or(self.target).or(self.entity)
    }
}

/// The manual rules a link may run.
pub fn manual_rules(rules: &[RuleSummary]) -> impl Iterator<Item = &RuleSummary> {
    rules.iter().filter(|r| r.trigger == "manual")
}

/// The entity type in Kommo's URLs (`leads`) of a rule's entity (`lead`).
pub fn entity_path(entity: Option<&str>) -> Option<&'static str> {
    match entity? {
        "lead" => Some("leads"),
        "contact" => Some("contacts"),
        "company" => Some("companies"),
        _ => None,
    }
}

/// Checks a draft as the backend will, so each problem shows at its field as the user types.
pub fn check_draft(draft: &LinkDraft, rules: &[RuleSummary]) -> DraftProblems {
    let rule = draft
        .rule_id
        .and_then(|id| manual_rules(rules).find(|r| r.id == id));
    let target = draft.target_url.trim();
    let web = |scheme: &str| {
        target
            .strip_prefix(scheme)
            .is_some_and(|rest| !rest.is_empty())
    };
    let entity_ok = draft.entity_id.trim().parse::<i64>().is_ok_and(|id| id > 0);
    DraftProblems {
        rule: rule.is_none().then_some("links_rule_required"),
        name: (draft.name.trim().chars().count() > MAX_NAME_CHARS).then_some("links_name_too_long"),
        target: (!target.is_empty()
            && (!(web("http://") || web("https://")) || target.chars().any(char::is_whitespace)))
        .then_some("links_target_invalid"),
        entity: (draft.auto
            && (!entity_ok || entity_path(rule.and_then(|r| r.entity.as_deref())).is_none()))
        .then_some("links_entity_invalid"),
    }
}

/// The body of `POST /api/v1/links` or `PUT /api/v1/links/{id}` for a draft that passed
/// [`check_draft`]: an auto link is about an entity of the rule's entity type.
pub fn link_body(draft: &LinkDraft, rules: &[RuleSummary]) -> serde_json::Value {
    let entity = draft
        .rule_id
        .and_then(|id| rules.iter().find(|r| r.id == id))
        .and_then(|r| entity_path(r.entity.as_deref()));
    let text = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    };
    let mut body = serde_json::json!({
        "rule_id": draft.rule_id,
        "kind": if draft.auto { "auto" } else { "manual" },
        "name": text(&draft.name),
        "target_url": text(&draft.target_url),
    });
    if draft.auto {
        body["entity_type"] = serde_json::json!(entity);
        body["entity_id"] = serde_json::json!(draft.entity_id.trim().parse::<i64>().ok());
    }
    body
}

/// The shape of the URLs a manual link's `{tglink:N}` writes: the entity's id, its type (1
/// contact, 2 lead, 3 company) and the signature that makes it work for that entity only.
pub fn manual_pattern(url: &str) -> String {
    format!("{url}/{{entity_id}}/{{type}}/{{signature}}")
}

/// The server's problems with a link, by field (`/name`, `/target_url`, `/entity_id`…).
fn server_problem(errors: &[FieldError], field: &str) -> Option<String> {
    errors
        .iter()
        .find(|e| e.path.trim_start_matches('/') == field)
        .map(|e| e.message.clone())
}

/// The Links tab.
#[function_component(Links)]
pub fn links(props: &PageProps) -> Html {
    let t = &props.texts;
    let list = use_remote(&props.backend, (), |b, ()| async move {
        services::links(&b).await
    });
    let rules = use_remote(&props.backend, (), |b, ()| async move {
        services::rules(&b).await
    });
    let draft = use_state(|| None::<LinkDraft>);
    let error = use_state(|| None::<UiError>);
    let rule_list: Rc<Vec<RuleSummary>> = match &*rules.state {
        Remote::Ready(r) => Rc::new(r.clone()),
        _ => Rc::new(Vec::new()),
    };

    let save = {
        let (draft, backend, reload, error, rules) = (
            draft.clone(),
            props.backend.clone(),
            list.reload.clone(),
            error.clone(),
            rule_list.clone(),
        );
        Callback::from(move |_| {
            let Some(d) = (*draft).clone() else { return };
            if check_draft(&d, &rules).first().is_some() {
                return;
            }
            let body = link_body(&d, &rules);
            let (draft, backend, reload, error) = (
                draft.clone(),
                backend.clone(),
                reload.clone(),
                error.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match services::save_link(&backend, d.id, &body).await {
                    Ok(_) => {
                        error.set(None);
                        draft.set(None);
                        reload.emit(());
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    // Rotate and delete: each after its question, then the list again.
    let row_actions = use_row_actions(
        &props.backend,
        list.reload.clone(),
        error.clone(),
        |backend, action, id| async move {
            match action {
                RowAction::Rotate => services::rotate_link(&backend, id).await.map(drop),
                RowAction::Delete => services::delete_link(&backend, id).await,
            }
        },
    );

    if let Remote::Failed(UiError::Forbidden { .. }) = &*list.state {
        return html! {
            <div class="rb-links-tab">
                <p class="rb-note" role="note">{ t.get("links_admins_only") }</p>
            </div>
        };
    }
    let manual: Vec<RuleSummary> = manual_rules(&rule_list).cloned().collect();
    let server_errors = match &*error {
        Some(UiError::Invalid { errors, .. }) => errors.clone(),
        _ => Vec::new(),
    };
    let form = (*draft).clone().map(|d| {
        let problems = check_draft(&d, &rule_list);
        let edit = |f: fn(&mut LinkDraft, String)| {
            let (draft, d) = (draft.clone(), d.clone());
            Callback::from(move |v: String| {
                let mut next = d.clone();
                f(&mut next, v);
                draft.set(Some(next));
            })
        };
        let rule = d.rule_id.and_then(|id| manual.iter().find(|r| r.id == id));
        let entity_label = match rule.and_then(|r| r.entity.as_deref()) {
            Some("contact") => t.get("links_entity_contact"),
            Some("company") => t.get("links_entity_company"),
            _ => t.get("links_entity_lead"),
        };
        let rule_options: Vec<SelectOption> = manual
            .iter()
            .map(|r| SelectOption::new(r.id.to_string(), r.name.clone()))
            .collect();
        let kind_options = vec![
            SelectOption::new("auto", t.get("links_kind_auto")),
            SelectOption::new("manual", t.get("links_kind_manual")),
        ];
        let shown = |local: Option<&'static str>, field: &str, typed: bool| {
            local
                .filter(|_| typed)
                .map(|k| t.get(k).to_string())
                .or_else(|| server_problem(&server_errors, field))
        };
        let cancel = {
            let (draft, error) = (draft.clone(), error.clone());
            Callback::from(move |_| {
                error.set(None);
                draft.set(None);
            })
        };
        let title = if d.id.is_some() { t.get("links_form_edit") } else { t.get("links_new") };
        let blocked = problems.first();
        let onsubmit = {
            let save = save.clone();
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                save.emit(());
            })
        };
        html! {
            <form class="rb-section rb-link-form" aria-label={title.to_string()} {onsubmit}>
                <div class="rb-row">
                    <Select label={t.get("links_rule").to_string()} options={rule_options} value={d.rule_id.map(|i| i.to_string())}
                        placeholder={t.get("links_rule_pick").to_string()}
                        error={shown(problems.rule, "rule_id", d.rule_id.is_some())}
                        on_change={edit(|d, v| d.rule_id = v.parse().ok())} />
                    <Select label={t.get("links_kind").to_string()} options={kind_options}
                        value={Some(if d.auto { "auto" } else { "manual" }.to_string())}
                        on_change={edit(|d, v| d.auto = v == "auto")} />
                    if d.auto {
                        <TextInput label={entity_label.to_string()} input_type="number" min="1" value={d.entity_id.clone()}
                            error={shown(problems.entity, "entity_id", !d.entity_id.is_empty()).or_else(|| server_problem(&server_errors, "entity_type"))}
                            on_change={edit(|d, v| d.entity_id = v)} />
                    }
                </div>
                <div class="rb-row">
                    <TextInput label={t.get("links_name").to_string()} value={d.name.clone()}
                        error={shown(problems.name, "name", true)} on_change={edit(|d, v| d.name = v)} />
                    <TextInput label={t.get("links_target").to_string()} input_type="url" value={d.target_url.clone()}
                        placeholder="https://" hint={t.get("links_target_hint").to_string()}
                        error={shown(problems.target, "target_url", true)} on_change={edit(|d, v| d.target_url = v)} />
                </div>
                <p class="rb-hint">{ if d.auto { t.get("links_kind_auto_hint") } else { t.get("links_kind_manual_hint") } }</p>
                <div class="rb-toolbar">
                    <Button kind={ButtonKind::Primary} label={t.get("rule_save").to_string()} disabled={blocked.is_some()}
                        title={blocked.map(|k| t.get(k).to_string())} onclick={{ let s = save.clone(); Callback::from(move |_| s.emit(())) }} />
                    <Button label={t.get("rules_import_cancel").to_string()} onclick={cancel} />
                </div>
            </form>
        }
    });

    let table = match &*list.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(links) if links.is_empty() => {
            let key = if matches!(&*rules.state, Remote::Ready(_)) && manual.is_empty() {
                "links_no_manual_rules"
            } else {
                "links_empty"
            };
            html! { <p class="rb-empty">{ t.get(key) }</p> }
        }
        Remote::Ready(links) => {
            let rows = links.iter().map(|l| {
                let name = display_name(l, t);
                let rule = rule_list
                    .iter()
                    .find(|r| r.id == l.rule_id)
                    .map_or_else(|| format!("#{}", l.rule_id), |r| r.name.clone());
                let kind = match (l.kind.as_str(), &l.entity_type, l.entity_id) {
                    ("auto", Some(kind), Some(id)) => format!("{} · {} #{id}", t.get("links_kind_auto_short"), entity_word(kind, t)),
                    _ => t.get("links_kind_manual_short").to_string(),
                };
                let (url, url_label, url_hint) = if l.kind == "auto" {
                    (l.url.clone(), t.get("links_copy_url"), None)
                } else {
                    (manual_pattern(&l.url), t.get("links_copy_pattern"), Some(t.get("links_pattern_hint")))
                };
                let edit = {
                    let (draft, d, error) = (draft.clone(), LinkDraft::of(l), error.clone());
                    Callback::from(move |_| {
                        error.set(None);
                        draft.set(Some(d.clone()));
                    })
                };
                let rotate = row_actions.on_confirmed(
                    RowAction::Rotate,
                    l.id,
                    t.get("links_rotate_confirm").replace("{name}", &name),
                );
                let delete = row_actions.on_confirmed(
                    RowAction::Delete,
                    l.id,
                    t.get("links_delete_confirm").replace("{name}", &name),
                );
                html! {
                    <tr key={l.id}>
                        <td>{ name.clone() }
                            if let Some(target) = &l.target_url { <small class="rb-hint rb-link-target">{ format!("→ {target}") }</small> }
                        </td>
                        <td>{ rule }</td>
                        <td>{ kind }</td>
                        <td class="rb-nowrap">
                            <code>{ l.variable.clone() }</code>
                            <CopyButton text={l.variable.clone()} label={format!("{} «{name}»", t.get("links_copy_variable"))}
                                done={t.get("copy_done").to_string()} failed={t.get("copy_failed").to_string()} />
                        </td>
                        <td><div class="rb-url-cell">
                            <code class="rb-url-text">{ url.clone() }</code>
                            <CopyButton text={url.clone()} label={format!("{url_label} «{name}»")}
                                done={t.get("copy_done").to_string()} failed={t.get("copy_failed").to_string()} />
                            if let Some(h) = url_hint { <small class="rb-hint">{ h }</small> }
                        </div></td>
                        <td class="rb-clicks" aria-label={format!("{} «{name}»", t.get("links_clicks"))}>{ l.clicks }</td>
                        <td class="rb-row-tools">
                            <Button kind={ButtonKind::Icon} icon="edit" label={format!("{} «{name}»", t.get("links_edit"))} onclick={edit} />
                            <Button kind={ButtonKind::Icon} icon="↻" label={format!("{} «{name}»", t.get("links_rotate"))} onclick={rotate} />
                            <Button kind={ButtonKind::Icon} icon="✕" label={format!("{} «{name}»", t.get("links_delete"))} onclick={delete} />
                        </td>
                    </tr>
                }
            });
            html! {
                <table class="rb-table rb-links" data-testid="links">
                    <thead><tr>
                        <th>{ t.get("links_name") }</th><th>{ t.get("links_rule") }</th><th>{ t.get("links_kind") }</th>
                        <th>{ t.get("links_variable") }</th><th>{ t.get("links_url") }</th><th>{ t.get("links_clicks") }</th>
                        <th><span class="rb-sr-only">{ t.get("rules_tools") }</span></th>
                    </tr></thead>
                    <tbody>{ for rows }</tbody>
                </table>
            }
        }
    };
    let new_link = {
        let (draft, error, first) = (draft.clone(), error.clone(), manual.first().map(|r| r.id));
        Callback::from(move |_| {
            error.set(None);
            draft.set(Some(LinkDraft {
                rule_id: first,
                auto: true,
                ..LinkDraft::default()
            }))
        })
    };
    let refresh = {
        let (reload, reload_rules) = (list.reload.clone(), rules.reload.clone());
        Callback::from(move |_| {
            reload.emit(());
            reload_rules.emit(());
        })
    };
    let no_rules = manual.is_empty();
    html! {
        <div class="rb-links-tab">
            <p class="rb-lead">{ t.get("links_intro") }</p>
            <div class="rb-toolbar">
                <Button kind={ButtonKind::Primary} label={t.get("links_new").to_string()} onclick={new_link}
                    disabled={no_rules} title={no_rules.then(|| t.get("links_no_manual_rules").to_string())} />
                <Button label={t.get("links_refresh").to_string()} onclick={refresh} />
            </div>
            if let Some(e) = (*error).clone() {
                if !(matches!(e, UiError::Invalid { .. }) && draft.is_some()) { <ErrorNotice error={e} texts={props.texts.clone()} /> }
            }
            { form.unwrap_or_default() }
            { table }
        </div>
    }
}

/// A link's name, or "Link N" for one without.
fn display_name(link: &TriggerLink, t: &Texts) -> String {
    match link.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => format!("{} {}", t.get("links_unnamed"), link.id),
    }
}

/// `leads` as the user reads it.
fn entity_word<'a>(entity_type: &str, t: &'a Texts) -> &'a str {
    match entity_type {
        "contacts" => t.get("links_contact"),
        "companies" => t.get("links_company"),
        _ => t.get("links_lead"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: i64, trigger: &str, entity: Option<&str>) -> RuleSummary {
        RuleSummary {
            id,
            name: format!("rule {id}"),
            enabled: true,
            version: 1,
            updated_at: 0,
            trigger: trigger.into(),
            entity: entity.map(Into::into),
            trigger_definition: None,
        }
    }

    fn rules() -> Vec<RuleSummary> {
        vec![
            rule(1, "manual", Some("lead")),
            rule(2, "entity_added", Some("lead")),
            rule(3, "manual", Some("company")),
        ]
    }

    #[test]
    fn only_manual_rules_may_be_run_by_a_link() {
        let ids: Vec<i64> = manual_rules(&rules()).map(|r| r.id).collect();
        assert_eq!(ids, vec![1, 3]);
        let d = LinkDraft {
            rule_id: Some(2),
            ..LinkDraft::default()
        };
        assert_eq!(check_draft(&d, &rules()).rule, Some("links_rule_required"));
    }

    #[test]
    fn an_auto_link_is_about_an_entity_of_its_rules_type() {
        let d = LinkDraft {
            rule_id: Some(3),
            auto: true,
            name: " Catalogue ".into(),
            target_url: "https://shop.example/catalogue".into(),
            entity_id: "77".into(),
            ..LinkDraft::default()
        };
        assert_eq!(check_draft(&d, &rules()), DraftProblems::default());
        let body = link_body(&d, &rules());
        assert_eq!(body["kind"], "auto");
        assert_eq!(body["entity_type"], "companies");
        assert_eq!(body["entity_id"], 77);
        assert_eq!(body["name"], "Catalogue");
        assert_eq!(body["rule_id"], 3);
        let missing = LinkDraft {
            entity_id: "x".into(),
            ..d
        };
        assert_eq!(
            check_draft(&missing, &rules()).entity,
            Some("links_entity_invalid")
        );
    }

    #[test]
    fn a_manual_link_sends_no_entity_and_empty_fields_are_left_out() {
        let d = LinkDraft {
            rule_id: Some(1),
            auto: false,
            entity_id: "5".into(),
            ..LinkDraft::default()
        };
        assert_eq!(check_draft(&d, &rules()).first(), None);
        let body = link_body(&d, &rules());
        assert_eq!(body["kind"], "manual");
        assert!(body.get("entity_type").is_none());
        assert!(body["name"].is_null());
        assert!(body["target_url"].is_null());
    }

    #[test]
    fn the_page_a_link_opens_is_a_web_address() {
        let with = |url: &str| LinkDraft {
            rule_id: Some(1),
            target_url: url.into(),
            ..LinkDraft::default()
        };
        assert_eq!(
            check_draft(&with("http://a.example"), &rules()).target,
            None
        );
        for bad in ["ftp://a.example", "https://", "a.example", "https://a b"] {
            assert_eq!(
                check_draft(&with(bad), &rules()).target,
                Some("links_target_invalid"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_stored_link_opens_in_the_form_as_it_is() {
        let link = TriggerLink {
            id: 4,
            rule_id: 1,
            name: Some("Offer".into()),
            target_url: None,
            entity_type: Some("leads".into()),
            entity_id: Some(5001),
            clicks: 2,
            kind: "auto".into(),
            variable: "{tglink:4}".into(),
            url: "https://rb.example/t/4-s".into(),
        };
        let d = LinkDraft::of(&link);
        assert!(d.auto);
        assert_eq!(d.entity_id, "5001");
        assert_eq!(d.id, Some(4));
        assert_eq!(
            manual_pattern(&link.url),
            "https://rb.example/t/4-s/{entity_id}/{type}/{signature}"
        );
    }
}
