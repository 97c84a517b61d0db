//! The digital-pipeline action modal: which rule this stage runs. The choice is written into the
//! action's hidden `rule_id` setting as the rule's DP key (`{rule id}-{mac}`, not its inbound
//! webhook key), which Kommo saves with the pipeline and sends back to our static `/hooks/dp` URL
//! with every lead that reaches the stage: the key both names the rule and proves the request is
//! genuine, and the backend runs exactly that rule.
//!
//! Only the rules a stage can run are offered (a lead's "added" or "updated" rule, a manual lead
//! rule: [`Trigger::runs_from`] with [`Source::DigitalPipeline`], the backend's own test); the
//! chosen rule is said in words; and a new manual lead rule can be created here and chosen at once.

use yew::prelude::*;

use super::PageProps;
use crate::{
    components::{
        controls::{Button, ButtonKind, TextInput},
        ErrorNotice,
    },
    editor::sentence,
    hooks::use_remote,
    i18n::Texts,
    services,
    state::{Remote, UiError},
};
use domain::{
    api::{RuleRecord, RuleSummary, SaveRule},
    rule::{Rule, Source, Trigger},
    schema::Schema,
};

/// The dp setting that carries the rule id.
pub const RULE_SETTING: &str = "rule_id";

/// The longest rule name the form accepts (the builder's limit).
const NAME_MAX_CHARS: usize = 200;

/// The digital-pipeline action settings.
#[function_component(DpSettings)]
pub fn dp_settings(props: &PageProps) -> Html {
    let t = &props.texts;
    let rules = use_remote(&props.backend, (), |b, ()| async move {
        services::rules(&b).await
    });
    let schema = use_remote(&props.backend, (), |b, ()| async move {
        services::schema(&b).await
    });
    // The rule id is the key's prefix.
    let chosen =
        use_state(|| rule_id_of_key(&props.backend.dp_setting(RULE_SETTING).unwrap_or_default()));
    let record = use_remote(
        &props.backend,
        (*chosen).clone(),
        |b, chosen: String| async move {
            match chosen.parse::<i64>() {
                Ok(id) => services::rule(&b, id).await.map(Some),
                Err(_) => Ok(None),
            }
        },
    );
    let new_name = use_state(String::new);
    let name_error = use_state(|| None::<String>);
    let create_error = use_state(|| None::<UiError>);
    let creating = use_state(|| false);

    // The chosen rule's DP key goes into Kommo's hidden input once the rule is read.
    {
        let backend = props.backend.clone();
        let key = match &*record.state {
            Remote::Ready(Some(r)) => Some(r.dp_key.clone()),
            Remote::Ready(None) => Some(String::new()),
            _ => None,
        };
        use_effect_with(key, move |key| {
            if let Some(key) = key {
                if backend.dp_setting(RULE_SETTING).as_deref() != Some(key.as_str()) {
                    backend.set_dp_setting(RULE_SETTING, key);
                }
            }
        });
    }

    let on_change = {
        let chosen = chosen.clone();
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            chosen.set(select.value());
        })
    };
    let on_name = {
        let (new_name, name_error) = (new_name.clone(), name_error.clone());
        Callback::from(move |v: String| {
            new_name.set(v);
            name_error.set(None);
        })
    };
    let on_create = {
        let (backend, texts) = (props.backend.clone(), props.texts.clone());
        let (new_name, name_error, create_error, creating, chosen, reload) = (
            new_name.clone(),
            name_error.clone(),
            create_error.clone(),
            creating.clone(),
            chosen.clone(),
            rules.reload.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let name = new_name.trim().to_string();
            if let Err(key) = check_name(&name) {
                name_error.set(Some(texts.get(key).to_string()));
                return;
            }
            let (backend, new_name, create_error, creating, chosen, reload) = (
                backend.clone(),
                new_name.clone(),
                create_error.clone(),
                creating.clone(),
                chosen.clone(),
                reload.clone(),
            );
            let body = new_manual_lead_rule(&name, texts.get("dp_new_block"));
            creating.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                match services::create_rule(&backend, &body).await {
                    Ok(created) => {
                        create_error.set(None);
                        new_name.set(String::new());
                        chosen.set(created.id.to_string());
                        reload.emit(());
                    }
                    Err(e) => create_error.set(Some(e)),
                }
                creating.set(false);
            });
        })
    };

    let picker = match &*rules.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(rules) => {
            let offered: Vec<&RuleSummary> = rules
                .iter()
                .filter(|r| runs_from_a_stage(r) || r.id.to_string() == *chosen)
                .collect();
            html! {
                <div class="rb-control">
                    <label class="rb-control-label" for="rb-dp-rule">{ t.get("dp_rule") }</label>
                    <div class="control--select rb-select">
                        <select id="rb-dp-rule" class="control--select--button rb-dp-rule" data-testid="dp-rule" onchange={on_change}>
                            <option value="" selected={chosen.is_empty()}>{ t.get("dp_rule_none") }</option>
                            { for offered.iter().map(|r| {
                                let id = r.id.to_string();
                                let off = if r.enabled { String::new() } else { format!(" ({})", t.get("dp_rule_off")) };
                                html! {
                                    <option value={id.clone()} selected={*chosen == id}>{ format!("{}{off}", r.name) }</option>
                                }
                            }) }
                        </select>
                    </div>
                    if offered.is_empty() { <em class="rb-hint" data-testid="dp-empty">{ t.get("dp_rules_empty") }</em> }
                    <small class="rb-hint">{ t.get("dp_rule_hint") }</small>
                </div>
            }
        }
    };
    let summary = match (&*record.state, &*schema.state) {
        (Remote::Ready(Some(record)), Remote::Ready(schema)) => rule_summary(record, schema, t),
        (Remote::Ready(Some(record)), Remote::Failed(_)) => {
            rule_summary(record, &Schema::default(), t)
        }
        (Remote::Failed(e), _) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        (Remote::Ready(None), _) => Html::default(),
        _ => html! { <p class="rb-loading">{ t.get("loading") }</p> },
    };
    html! {
        <section class="rb-page rb-dp-settings" data-location="digital_pipeline" aria-label={t.get("dp_title").to_string()}>
            <h2>{ t.get("dp_title") }</h2>
            { picker }
            { summary }
            <fieldset class="rb-dp-new" data-testid="dp-new">
                <legend>{ t.get("dp_new_title") }</legend>
                <TextInput label={t.get("dp_new_name").to_string()} value={(*new_name).clone()} on_change={on_name}
                    error={(*name_error).clone()} hint={Some(t.get("dp_new_hint").to_string())} />
                <Button label={t.get("dp_new_create").to_string()} kind={ButtonKind::Primary} disabled={*creating}
                    onclick={on_create} />
                if let Some(e) = (*create_error).clone() { <ErrorNotice error={e} texts={props.texts.clone()} /> }
            </fieldset>
        </section>
    }
}

/// What the chosen rule does, in words: its trigger, then each block and the else scenario.
fn rule_summary(record: &RuleRecord, schema: &Schema, t: &Texts) -> Html {
    let rule = match crate::json::from_value::<Rule>(&record.rule) {
        Ok(rule) => rule,
        Err(_) => return html! { <p class="rb-hint">{ t.get("dp_rule_unreadable") }</p> },
    };
    let lines = rule_sentences(&rule, schema, t);
    html! {
        <div class="rb-dp-summary" data-testid="dp-summary" aria-live="polite">
            <p class="rb-dp-trigger">{ sentence::trigger(&rule.trigger, schema, t) }</p>
            <ul class="rb-dp-blocks">{ for lines.into_iter().map(|l| html! { <li>{ l }</li> }) }</ul>
            if !record.enabled { <p class="rb-hint rb-dp-off">{ t.get("dp_rule_off_hint") }</p> }
        </div>
    }
}

/// Each block as a sentence, then the else scenario's actions; "does nothing yet" for an empty rule.
fn rule_sentences(rule: &Rule, schema: &Schema, t: &Texts) -> Vec<String> {
    let mut lines: Vec<String> = rule
        .blocks
        .iter()
        .map(|b| {
            let s = sentence::block(b, schema, t);
            if b.name.is_empty() {
                s
            } else {
                format!("{}: {s}", b.name)
            }
        })
        .collect();
    if let Some(other) = rule
        .else_scenario
        .as_ref()
        .filter(|e| !e.actions.is_empty())
    {
        let actions: Vec<String> = other
            .actions
            .iter()
            .map(|a| sentence::action(a, schema, t))
            .collect();
        lines.push(format!("{}: {}", t.get("builder_else"), actions.join("; ")));
    }
    if lines.is_empty() {
        lines.push(t.get("dp_rule_does_nothing").to_string());
    }
    lines
}

/// A new rule's name, or the text key of what is wrong with it.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("dp_new_name_empty")
    } else if name.chars().count() > NAME_MAX_CHARS {
        Err("dp_new_name_long")
    } else {
        Ok(())
    }
}

/// A manual lead rule named `name` with one empty block, ready to be given its actions in the
/// builder; enabled, so the stage runs it once it does something.
fn new_manual_lead_rule(name: &str, block_name: &str) -> SaveRule {
    SaveRule {
        name: name.to_string(),
        rule: serde_json::json!({
            "schema_version": 2,
            "name": name,
            "trigger": {"kind": "manual", "entity": "lead"},
            "blocks": [{"name": block_name, "conditions": [], "actions": []}],
        }),
        expected_version: None,
    }
}

/// Whether a digital-pipeline stage may run the rule (a manual lead rule, a lead's "added" or
/// "updated" rule), as the backend decides ([`Trigger::runs_from`]); only those are offered.
fn runs_from_a_stage(rule: &RuleSummary) -> bool {
    let trigger = match &rule.trigger_definition {
        Some(trigger) => Some(trigger.clone()),
        None => crate::json::from_value::<Trigger>(
            &serde_json::json!({"kind": rule.trigger, "entity": rule.entity}),
        )
        .ok(),
    };
    trigger.is_some_and(|t| t.runs_from(Source::DigitalPipeline))
}

/// The rule id a stored key names (`"17-s3cr3t"` → `"17"`), or empty.
fn rule_id_of_key(key: &str) -> String {
    key.split_once('-')
        .map(|(id, _)| id)
        .filter(|id| id.parse::<i64>().is_ok())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{path::EntityType, rule::StageEntry};

    fn summary(trigger: &str, entity: Option<&str>) -> RuleSummary {
        RuleSummary {
            id: 1,
            name: "r".into(),
            enabled: true,
            version: 1,
            updated_at: 0,
            trigger: trigger.into(),
            entity: entity.map(str::to_owned),
            trigger_definition: None,
        }
    }

    #[test]
    fn a_stage_offers_only_the_rules_it_may_run() {
        assert!(runs_from_a_stage(&summary("manual", Some("lead"))));
        assert!(runs_from_a_stage(&summary("entity_updated", Some("lead"))));
        assert!(runs_from_a_stage(&summary("entity_added", Some("lead"))));
        assert!(!runs_from_a_stage(&summary("manual", Some("contact"))));
        assert!(!runs_from_a_stage(&summary(
            "entity_added",
            Some("contact")
        )));
        assert!(!runs_from_a_stage(&summary("tag_added", Some("lead"))));
        assert!(!runs_from_a_stage(&summary("status_changed", Some("lead"))));
        assert!(!runs_from_a_stage(&summary("inbound_webhook", None)));
    }

    #[test]
    fn the_whole_trigger_decides_when_the_summary_has_it() {
        let mut s = summary("status_changed", None);
        s.trigger_definition = Some(Trigger::StatusChanged {
            pipeline_id: Some(1),
            status_id: Some(2),
            entry: StageEntry::Moved,
        });
        assert!(!runs_from_a_stage(&s));
        s.trigger_definition = Some(Trigger::Manual {
            entity: EntityType::Lead,
        });
        assert!(runs_from_a_stage(&s));
    }

    #[test]
    fn the_rule_is_read_from_the_keys_prefix() {
        assert_eq!(rule_id_of_key("17-abcDEF"), "17");
        assert_eq!(rule_id_of_key(""), "");
        assert_eq!(rule_id_of_key("x-17"), "");
        assert_eq!(rule_id_of_key("17"), "");
    }

    #[test]
    fn a_new_rule_is_a_valid_manual_lead_rule_the_stage_may_run() {
        let body = new_manual_lead_rule("Call back", "Block 1");
        let rule: Rule = serde_json::from_value(body.rule).expect("a rule");
        assert_eq!(rule.name, "Call back");
        assert!(rule.trigger.runs_from(Source::DigitalPipeline));
        assert_eq!(rule.blocks.len(), 1);
        assert_eq!(check_name(""), Err("dp_new_name_empty"));
        assert_eq!(check_name(&"x".repeat(201)), Err("dp_new_name_long"));
        assert_eq!(check_name("Call back"), Ok(()));
    }

    #[test]
    fn an_empty_rule_says_it_does_nothing_yet() {
        let t = Texts::default();
        let rule: Rule = serde_json::from_value(serde_json::json!({
            "schema_version": 2, "name": "x", "trigger": {"kind": "manual", "entity": "lead"}
        }))
        .expect("rule");
        assert_eq!(
            rule_sentences(&rule, &Schema::default(), &t),
            vec![t.get("dp_rule_does_nothing").to_string()]
        );
        let with_block = new_manual_lead_rule("x", "First");
        let rule: Rule = serde_json::from_value(with_block.rule).expect("rule");
        let lines = rule_sentences(&rule, &Schema::default(), &t);
        assert!(lines[0].starts_with("First: "), "{lines:?}");
    }
}
