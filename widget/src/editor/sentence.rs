//! Rules, triggers, blocks, conditions and actions as sentences in the user's language, for
//! collapsed blocks and the rules list: "If Name equals «WHOLESALE form order» → Change responsible
//! to Bruno Sales; Create task for Bruno Sales in 1 h".
//!
//! Sentences name things the way the account does (users, stages, fields, task types, Salesbots,
//! from the [`Schema`]), never by id; an id the schema does not know shows as `#id`, so a broken
//! reference is still visible. Each sentence is an interface text with `{placeholders}`, so every
//! language orders its words its own way.

use domain::path::{EntityField, EntityRole, EntityType, Path};
use domain::rule::{
    Action, ActionKind, Block, Condition, FieldTarget, Join, Literal, MessageFilter, Operand,
    Operator, Recurrence, StageEntry, TagChange, TaskScope, TimeUnit, Timer, Trigger, UserChoice,
    VariableChange,
};
use domain::schema::Schema;

use super::catalog::{operand_label, operator_label};
use crate::i18n::Texts;

/// The longest quoted text a sentence shows before cutting it with "…".
const QUOTE_CHARS: usize = 40;

/// A block as one sentence: "If <conditions> → <action>; <action>".
pub fn block(block: &Block, schema: &Schema, texts: &Texts) -> String {
    let actions: Vec<String> = block
        .actions
        .iter()
        .map(|a| action(a, schema, texts))
        .collect();
    let actions = if actions.is_empty() {
        texts.get("snt_nothing").to_string()
    } else {
        actions.join("; ")
    };
    format!(
        "{} → {actions}",
        conditions(&block.conditions, schema, texts)
    )
}

/// A block's conditions as "If a and b or c", or "Always" when there are none.
pub fn conditions(list: &[Condition], schema: &Schema, texts: &Texts) -> String {
    if list.is_empty() {
        return texts.get("snt_always").to_string();
    }
    let mut out = texts.get("sentence_if").to_string();
    for (i, c) in list.iter().enumerate() {
        if i > 0 {
            out.push(' ');
            out.push_str(texts.get(match c.join {
                Join::And => "snt_and",
                Join::Or => "snt_or",
            }));
        }
        out.push(' ');
        out.push_str(&condition(c, schema, texts));
    }
    out
}

/// One condition: "Name equals «WHOLESALE form order»", "Budget is between 10 and 20".
pub fn condition(c: &Condition, schema: &Schema, texts: &Texts) -> String {
    let left = operand_label(&c.left, schema, texts);
    let op = operator_label(&c.op, texts);
    if !c.op.needs_right() {
        return format!("{left} {op}");
    }
    let right = c
        .right
        .as_ref()
        .map_or_else(|| "…".to_string(), |r| value(r, &c.left, schema, texts));
    if c.op == Operator::Between {
        let upper = c
            .right_upper
            .as_ref()
            .map_or_else(|| "…".to_string(), |r| value(r, &c.left, schema, texts));
        return format!("{left} {op} {right} {} {upper}", texts.get("snt_and"));
    }
    format!("{left} {op} {right}")
}

/// The right side of a condition: a literal written readably (a user's or stage's name when the
/// left side holds ids), or another operand.
fn value(right: &Operand, left: &Operand, schema: &Schema, texts: &Texts) -> String {
    let Operand::Literal(literal) = right else {
        return operand_label(right, schema, texts);
    };
    let field = match left {
        Operand::Path(Path::Entity(_, f)) => Some(*f),
        _ => None,
    };
    let named = |n: f64| -> Option<String> {
        let id = n as i64;
        if id as f64 != n {
            return None;
        }
        match field? {
            EntityField::ResponsibleUserId => Some(user_name(id, schema)),
            EntityField::StatusId => Some(stage_name_any(id, schema)),
            EntityField::PipelineId => Some(pipeline_name(id, schema)),
            _ => None,
        }
    };
    match literal {
        Literal::Bool(b) => texts.get(if *b { "snt_yes" } else { "snt_no" }).into(),
        Literal::Number(n) => named(*n).unwrap_or_else(|| number(*n)),
        Literal::Text(t) => quote(t),
        Literal::List(items) => items
            .iter()
            .map(|i| quote(i))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A number without a needless ".0".
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// Text in «guillemets», cut after [`QUOTE_CHARS`] characters.
fn quote(text: &str) -> String {
    let text = text.trim();
    let mut out: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().count() > QUOTE_CHARS {
        out.push('…');
    }
    format!("«{out}»")
}

/// Fills `{name}` placeholders of an interface text.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

fn user_name(id: i64, schema: &Schema) -> String {
    schema
        .user(id)
        .flatten()
        .map_or_else(|| format!("#{id}"), |u| u.name.clone())
}

fn user_choice(choice: Option<&UserChoice>, schema: &Schema, texts: &Texts) -> String {
    match choice {
        None | Some(UserChoice::Responsible) => texts.get("snt_the_responsible").to_string(),
        Some(UserChoice::User(id)) => user_name(*id, schema),
    }
}

fn pipeline_name(id: i64, schema: &Schema) -> String {
    schema
        .pipeline(id)
        .flatten()
        .map_or_else(|| format!("#{id}"), |p| p.name.clone())
}

/// "Pipeline / Stage"; 142 and 143 are every pipeline's won and lost stages.
fn stage_name(pipeline_id: i64, status_id: i64, schema: &Schema) -> String {
    let pipeline = schema.pipeline(pipeline_id).flatten();
    let stage = pipeline
        .and_then(|p| p.stages.iter().find(|s| s.id == status_id))
        .map_or_else(|| format!("#{status_id}"), |s| s.name.clone());
    match pipeline {
        Some(p) => format!("{} / {stage}", p.name),
        None => format!("#{pipeline_id} / {stage}"),
    }
}

/// A stage of whichever pipeline has it.
fn stage_name_any(status_id: i64, schema: &Schema) -> String {
    schema
        .pipelines
        .iter()
        .flatten()
        .find_map(|p| {
            p.stages
                .iter()
                .find(|s| s.id == status_id)
                .map(|s| format!("{} / {}", p.name, s.name))
        })
        .unwrap_or_else(|| format!("#{status_id}"))
}

fn task_type_name(id: i64, schema: &Schema) -> String {
    schema
        .task_types
        .iter()
        .find(|t| t.id == id)
        .map_or_else(|| format!("#{id}"), |t| t.name.clone())
}

fn bot_name(id: i64, schema: &Schema) -> String {
    schema
        .salesbots
        .iter()
        .flatten()
        .find(|b| b.id == id)
        .map_or_else(|| format!("#{id}"), |b| b.name.clone())
}

/// The entity an action works on, as "the lead", "the contact"…
fn role(role: EntityRole, texts: &Texts) -> String {
    let key = match role {
        EntityRole::Lead => "snt_the_lead",
        EntityRole::Contact => "snt_the_contact",
        EntityRole::Company => "snt_the_company",
        EntityRole::Client => "snt_the_client",
    };
    texts.get(key).to_string()
}

/// The entity type a role's fields belong to (the client's is unknown here: any).
fn role_entity(role: EntityRole) -> Option<EntityType> {
    match role {
        EntityRole::Lead => Some(EntityType::Lead),
        EntityRole::Contact => Some(EntityType::Contact),
        EntityRole::Company => Some(EntityType::Company),
        EntityRole::Client => None,
    }
}

/// A field an action sets, by its name.
pub fn field_target(
    target: FieldTarget,
    entity: Option<EntityType>,
    schema: &Schema,
    texts: &Texts,
) -> String {
    match target {
        FieldTarget::Name => texts.get("act_target_name").to_string(),
        FieldTarget::Price => texts.get("act_target_price").to_string(),
        FieldTarget::Custom(id) => schema
            .field(entity, id)
            .or_else(|| schema.field(None, id))
            .map_or_else(|| format!("#{id}"), |f| f.name.clone()),
    }
}

/// A span of seconds in its largest whole unit: "1 h", "90 min", "2 d".
pub fn duration(seconds: u64, texts: &Texts) -> String {
    let (n, unit) = if seconds == 0 {
        (0, "snt_unit_s")
    } else if seconds.is_multiple_of(86_400) {
        (seconds / 86_400, "snt_unit_d")
    } else if seconds.is_multiple_of(3600) {
        (seconds / 3600, "snt_unit_h")
    } else if seconds.is_multiple_of(60) {
        (seconds / 60, "snt_unit_min")
    } else {
        (seconds, "snt_unit_s")
    };
    format!("{n} {}", texts.get(unit))
}

/// How many seconds `amount` units make.
pub fn unit_seconds(unit: TimeUnit) -> u64 {
    match unit {
        TimeUnit::Seconds => 1,
        TimeUnit::Minutes => 60,
        TimeUnit::Hours => 3600,
        TimeUnit::Days => 86_400,
    }
}

/// An action's timer as words after the action ("after 1 h"); empty for "at once".
pub fn timer(timer: &Timer, schema: &Schema, texts: &Texts) -> String {
    match timer {
        Timer::None => String::new(),
        Timer::After { amount, unit } => fill(
            texts.get("snt_timer_after"),
            &[(
                "time",
                &duration(u64::from(*amount) * unit_seconds(*unit), texts),
            )],
        ),
        Timer::DateField {
            field,
            shift_days,
            at,
        } => {
            let field = operand_label(&Operand::Path(*field), schema, texts);
            let mut out = fill(texts.get("snt_timer_date"), &[("field", &field)]);
            if *shift_days != 0 {
                let sign = if *shift_days > 0 { "+" } else { "−" };
                out.push_str(&format!(
                    " {sign}{}",
                    duration(u64::from(shift_days.unsigned_abs()) * 86_400, texts)
                ));
            }
            if let Some(at) = at {
                out.push(' ');
                out.push_str(&fill(
                    texts.get("snt_at_time"),
                    &[("time", &at.format("%H:%M").to_string())],
                ));
            }
            out
        }
        Timer::YearlyFromField { field, at } => {
            let field = operand_label(&Operand::Path(*field), schema, texts);
            fill(
                texts.get("snt_timer_yearly"),
                &[("field", &field), ("time", &at.format("%H:%M").to_string())],
            )
        }
    }
}

/// One action as a short sentence, with its timer: "Create task for Bruno Sales in 1 h".
pub fn action(action: &Action, schema: &Schema, texts: &Texts) -> String {
    let what = action_kind(&action.kind, schema, texts);
    let when = timer(&action.timer, schema, texts);
    if when.is_empty() {
        what
    } else {
        format!("{what} {when}")
    }
}

fn template_quote(t: &domain::template::Template) -> String {
    quote(t.source())
}

fn action_kind(kind: &ActionKind, schema: &Schema, texts: &Texts) -> String {
    let t = |k: &str| texts.get(k).to_string();
    let f = |k: &str, values: &[(&str, &str)]| fill(texts.get(k), values);
    let names = |fields: &[domain::rule::FieldAssignment], entity: Option<EntityType>| {
        fields
            .iter()
            .map(|a| field_target(a.field, entity, schema, texts))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        ActionKind::ChangeFields { entity, fields } => f(
            "snt_change_fields",
            &[
                ("entity", &role(*entity, texts)),
                ("fields", &names(fields, role_entity(*entity))),
            ],
        ),
        ActionKind::ChangeStatus {
            pipeline_id,
            status_id,
        } => f(
            "snt_change_status",
            &[("stage", &stage_name(*pipeline_id, *status_id, schema))],
        ),
        ActionKind::ChangeResponsible { user, .. } => f(
            "snt_change_responsible",
            &[("user", &user_choice(Some(user), schema, texts))],
        ),
        ActionKind::CreateTask {
            responsible,
            task_type_id,
            complete_in_seconds,
            ..
        } => f(
            "snt_create_task",
            &[
                ("type", &task_type_name(*task_type_id, schema)),
                ("user", &user_choice(responsible.as_ref(), schema, texts)),
                ("time", &duration(u64::from(*complete_in_seconds), texts)),
            ],
        ),
        ActionKind::ChangeTask {
            entity,
            task_type_id,
            scope,
            completed,
            ..
        } => {
            let which = match scope {
                TaskScope::All => t("snt_tasks_all"),
                TaskScope::Last => t("snt_tasks_last"),
            };
            let kind = task_type_id.map_or_else(String::new, |id| {
                format!(" «{}»", task_type_name(id, schema))
            });
            let mut out = f(
                "snt_change_task",
                &[
                    ("which", &format!("{which}{kind}")),
                    ("entity", &role(*entity, texts)),
                ],
            );
            match completed {
                Some(true) => out.push_str(&format!(": {}", t("snt_task_close"))),
                Some(false) => out.push_str(&format!(": {}", t("snt_task_reopen"))),
                None => {}
            }
            out
        }
        ActionKind::AddNote { entity, text, .. } => f(
            "snt_add_note",
            &[
                ("entity", &role(*entity, texts)),
                ("text", &template_quote(text)),
            ],
        ),
        ActionKind::ChangeTags {
            entity,
            change,
            tags,
        } => {
            let tags = tags.as_ref().map(template_quote).unwrap_or_default();
            let key = match change {
                TagChange::Add => "snt_tags_add",
                TagChange::Remove => "snt_tags_remove",
                TagChange::RemoveAll => "snt_tags_remove_all",
            };
            f(key, &[("tags", &tags), ("entity", &role(*entity, texts))])
        }
        ActionKind::CreateLead {
            name,
            pipeline_id,
            status_id,
            ..
        } => {
            let mut out = f("snt_create_lead", &[("name", &template_quote(name))]);
            match (pipeline_id, status_id) {
                (Some(p), Some(s)) => {
                    out.push_str(&format!(" → {}", stage_name(*p, *s, schema)));
                }
                (Some(p), None) => out.push_str(&format!(" → {}", pipeline_name(*p, schema))),
                _ => {}
            }
            out
        }
        ActionKind::CreateContact { name, .. } => {
            f("snt_create_contact", &[("name", &template_quote(name))])
        }
        ActionKind::CreateCompany { name, .. } => {
            f("snt_create_company", &[("name", &template_quote(name))])
        }
        ActionKind::CopyLead { .. } => t("snt_copy_lead"),
        ActionKind::ExecuteRule { entity, rule_id } => f(
            "snt_execute_rule",
            &[
                ("rule", &format!("#{rule_id}")),
                ("entity", &role(*entity, texts)),
            ],
        ),
        ActionKind::RunSalesbot { bot_id, .. } => {
            f("snt_run_salesbot", &[("bot", &bot_name(*bot_id, schema))])
        }
        ActionKind::SendWebhook { method, url, .. } => {
            let method = serde_json::to_value(method)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            f(
                "snt_send_webhook",
                &[("method", &method), ("url", &template_quote(url))],
            )
        }
        ActionKind::SendEmail {
            sender_user_id,
            template_id,
            ..
        } => f(
            "snt_send_email",
            &[
                ("template", &format!("#{template_id}")),
                ("user", &user_name(*sender_user_id, schema)),
            ],
        ),
        ActionKind::ChatSubscription {
            subscribe,
            user_ids,
            user_ids_from,
        } => {
            let mut users: Vec<String> = user_ids.iter().map(|id| user_name(*id, schema)).collect();
            if let Some(from) = user_ids_from {
                users.push(template_quote(from));
            }
            f(
                if *subscribe {
                    "snt_chat_subscribe"
                } else {
                    "snt_chat_unsubscribe"
                },
                &[("users", &users.join(", "))],
            )
        }
        ActionKind::CancelDelayed { rule_id, .. } => match rule_id {
            None => t("snt_cancel_delayed"),
            Some(id) => f("snt_cancel_delayed_of", &[("rule", &format!("#{id}"))]),
        },
        ActionKind::ChangeGlobalVariable {
            name,
            change,
            value,
        } => {
            let key = match change {
                VariableChange::Set => "snt_var_set",
                VariableChange::Append => "snt_var_append",
                VariableChange::Calculate => "snt_var_calc",
            };
            f(key, &[("name", name), ("value", &template_quote(value))])
        }
    }
}

/// An entity type as the subject of a trigger sentence ("a lead").
fn a_entity(entity: EntityType, texts: &Texts) -> String {
    texts.get(&format!("snt_a_{}", entity.as_str())).to_string()
}

fn channels(list: &[String], texts: &Texts) -> String {
    if list.is_empty() {
        String::new()
    } else {
        format!(" ({}: {})", texts.get("snt_channels"), list.join(", "))
    }
}

/// A trigger as "When …", for the rules list: "When a lead moves to Sales / Negotiation".
pub fn trigger(trigger: &Trigger, schema: &Schema, texts: &Texts) -> String {
    let f = |k: &str, values: &[(&str, &str)]| fill(texts.get(k), values);
    let e = |entity: &EntityType| a_entity(*entity, texts);
    match trigger {
        Trigger::EntityAdded { entity } => f("snt_trg_added", &[("entity", &e(entity))]),
        Trigger::EntityUpdated { entity } => f("snt_trg_updated", &[("entity", &e(entity))]),
        Trigger::ResponsibleChanged { entity } => {
            f("snt_trg_responsible", &[("entity", &e(entity))])
        }
        Trigger::StatusChanged {
            pipeline_id,
            status_id,
            entry,
        } => {
            let stage = match (pipeline_id, status_id) {
                (Some(p), Some(s)) => stage_name(*p, *s, schema),
                (None, Some(s)) => stage_name_any(*s, schema),
                (Some(p), None) => pipeline_name(*p, schema),
                (None, None) => texts.get("snt_any_stage").to_string(),
            };
            let key = match entry {
                StageEntry::Created => "snt_trg_stage_created",
                StageEntry::Moved => "snt_trg_stage_moved",
                StageEntry::CreatedOrMoved => "snt_trg_stage_either",
            };
            f(key, &[("stage", &stage)])
        }
        Trigger::NoteAdded { entity, note_types } => {
            let mut out = f("snt_trg_note", &[("entity", &e(entity))]);
            if !note_types.is_empty() {
                let types: Vec<String> = note_types
                    .iter()
                    .map(|n| texts.get(&format!("snt_note_{}", n.as_str())).to_string())
                    .collect();
                out.push_str(&format!(" ({})", types.join(", ")));
            }
            out
        }
        Trigger::TagAdded { entity, tags } | Trigger::TagRemoved { entity, tags } => {
            let key = if matches!(trigger, Trigger::TagAdded { .. }) {
                "snt_trg_tag_added"
            } else {
                "snt_trg_tag_removed"
            };
            let tags = if tags.is_empty() {
                texts.get("snt_any_tag").to_string()
            } else {
                tags.iter().map(|t| quote(t)).collect::<Vec<_>>().join(", ")
            };
            f(key, &[("entity", &e(entity)), ("tags", &tags)])
        }
        Trigger::FieldUpdated { entity, field_id } => {
            let field = field_target(FieldTarget::Custom(*field_id), Some(*entity), schema, texts);
            f(
                "snt_trg_field",
                &[("entity", &e(entity)), ("field", &field)],
            )
        }
        Trigger::RelativeToDateField {
            entity,
            field_id,
            offset_hours,
        } => {
            let field = field_target(FieldTarget::Custom(*field_id), Some(*entity), schema, texts);
            let time = duration(u64::from(offset_hours.unsigned_abs()) * 3600, texts);
            let key = if *offset_hours < 0 {
                "snt_trg_before_date"
            } else {
                "snt_trg_after_date"
            };
            f(
                key,
                &[("entity", &e(entity)), ("field", &field), ("time", &time)],
            )
        }
        Trigger::AtDateTime { date, at } => f(
            "snt_trg_at",
            &[
                ("date", &date.format("%Y-%m-%d").to_string()),
                ("time", &at.format("%H:%M").to_string()),
            ],
        ),
        Trigger::Recurring { schedule } => {
            let time = |at: &chrono::NaiveTime| at.format("%H:%M").to_string();
            match schedule {
                Recurrence::Daily { at } => f("snt_trg_daily", &[("time", &time(at))]),
                Recurrence::Weekly { weekday, at } => {
                    let day = texts
                        .get(&format!("day_{}", weekday.to_string().to_lowercase()))
                        .to_string();
                    f("snt_trg_weekly", &[("day", &day), ("time", &time(at))])
                }
                Recurrence::Monthly { day, at } => f(
                    "snt_trg_monthly",
                    &[("day", &day.to_string()), ("time", &time(at))],
                ),
                Recurrence::Yearly { month, day, at } => f(
                    "snt_trg_yearly",
                    &[
                        ("date", &format!("{day:02}.{month:02}")),
                        ("time", &time(at)),
                    ],
                ),
            }
        }
        Trigger::ConversationStarted { by, channels: c } => {
            let key = match by {
                MessageFilter::Incoming => "snt_trg_conv_started_in",
                MessageFilter::Outgoing => "snt_trg_conv_started_out",
                MessageFilter::Any => "snt_trg_conv_started",
            };
            format!("{}{}", texts.get(key), channels(c, texts))
        }
        Trigger::ConversationClosed { channels: c, .. } => {
            format!("{}{}", texts.get("snt_trg_conv_closed"), channels(c, texts))
        }
        Trigger::IncomingMessage {
            direction,
            channels: c,
            ..
        } => {
            let key = match direction {
                MessageFilter::Incoming => "snt_trg_message_in",
                MessageFilter::Outgoing => "snt_trg_message_out",
                MessageFilter::Any => "snt_trg_message",
            };
            format!("{}{}", texts.get(key), channels(c, texts))
        }
        Trigger::OutgoingMessageSeen { channels: c, .. } => {
            format!("{}{}", texts.get("snt_trg_seen"), channels(c, texts))
        }
        Trigger::Manual { entity } => f("snt_trg_manual", &[("entity", &e(entity))]),
        Trigger::InboundWebhook { hook_id, .. } => {
            let mut out = texts.get("snt_trg_webhook").to_string();
            if !hook_id.trim().is_empty() {
                out.push_str(&format!(" {}", quote(hook_id)));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use domain::rule::{FieldAssignment, KeyValue};
    use domain::schema::{
        SchemaField, SchemaPipeline, SchemaSalesbot, SchemaStage, SchemaTaskType, SchemaUser,
    };
    use domain::snapshot::FieldType;
    use domain::template::Template;

    fn schema() -> Schema {
        Schema {
            pipelines: Some(vec![SchemaPipeline {
                id: 10,
                name: "Sales".into(),
                sort: 0,
                is_main: true,
                stages: vec![SchemaStage {
                    id: 101,
                    name: "Negotiation".into(),
                    color: "#fffeb2".into(),
                    sort: 0,
                    kind: Default::default(),
                }],
            }]),
            users: Some(vec![SchemaUser {
                id: 7,
                name: "Bruno Sales".into(),
                active: true,
                admin: false,
                group_id: None,
            }]),
            fields: vec![SchemaField {
                entity: EntityType::Lead,
                id: 55,
                name: "Order type".into(),
                field_type: FieldType::Text,
                kommo_type: "text".into(),
                code: None,
                sort: 0,
                enums: Vec::new(),
            }],
            task_types: vec![SchemaTaskType {
                id: 1,
                name: "Follow-up".into(),
                color: None,
                icon_id: None,
                code: None,
            }],
            salesbots: Some(vec![SchemaSalesbot {
                id: 3,
                name: "Greeter".into(),
                active: true,
            }]),
            ..Schema::default()
        }
    }

    fn act(kind: ActionKind) -> Action {
        Action {
            id: 1,
            name: String::new(),
            timer: Timer::None,
            replace_pending: false,
            kind,
        }
    }

    fn texts() -> Texts {
        Texts::default()
    }

    #[test]
    fn the_wholesale_block_reads_as_the_issue_writes_it() {
        let block = Block {
            id: 1,
            name: "If wholesale".into(),
            delay_seconds: 0,
            conditions: vec![Condition {
                join: Join::And,
                left: Operand::Path("lead.name".parse().expect("path")),
                op: Operator::Equals,
                right: Some(Operand::Literal(Literal::Text(
                    "WHOLESALE form order".into(),
                ))),
                right_upper: None,
            }],
            actions: vec![
                act(ActionKind::ChangeResponsible {
                    entity: EntityRole::Lead,
                    user: UserChoice::User(7),
                    in_contacts: false,
                    in_companies: false,
                    in_open_tasks: false,
                }),
                act(ActionKind::CreateTask {
                    entity: EntityRole::Lead,
                    responsible: Some(UserChoice::User(7)),
                    task_type_id: 1,
                    complete_in_seconds: 3600,
                    text: Template::new("Call"),
                    results: Vec::new(),
                }),
            ],
        };
        let s = block_sentence(&block);
        // The operand and operator come from the catalog; what is ours is the frame around them.
        let left = operand_label(&block.conditions[0].left, &schema(), &texts());
        let op = operator_label(&Operator::Equals, &texts());
        assert_eq!(
            s,
            format!(
                "If {left} {op} «WHOLESALE form order» → Change responsible to Bruno Sales; \
                 Create task for Bruno Sales in 1 h"
            )
        );
    }

    fn block_sentence(b: &Block) -> String {
        block(b, &schema(), &texts())
    }

    #[test]
    fn a_block_without_conditions_always_runs_and_joins_are_words() {
        let mut b = Block {
            id: 1,
            name: String::new(),
            delay_seconds: 0,
            conditions: Vec::new(),
            actions: Vec::new(),
        };
        assert_eq!(block_sentence(&b), "Always → nothing");
        let cond = |join, n: f64| Condition {
            join,
            left: Operand::Path("lead.price".parse().expect("path")),
            op: Operator::Greater,
            right: Some(Operand::Literal(Literal::Number(n))),
            right_upper: None,
        };
        b.conditions = vec![cond(Join::And, 1000.0), cond(Join::Or, 2.5)];
        let s = block_sentence(&b);
        assert!(s.contains(" 1000 or "), "{s}");
        assert!(s.ends_with(" 2.5 → nothing"), "{s}");
    }

    #[test]
    fn literals_read_as_names_and_words_not_json() {
        let s = schema();
        let c = Condition {
            join: Join::And,
            left: Operand::Path("lead.responsible_user_id".parse().expect("path")),
            op: Operator::Equals,
            right: Some(Operand::Literal(Literal::Number(7.0))),
            right_upper: None,
        };
        assert!(condition(&c, &s, &texts()).ends_with(" Bruno Sales"));
        let c = Condition {
            left: Operand::Path("lead.status_id".parse().expect("path")),
            right: Some(Operand::Literal(Literal::Number(101.0))),
            ..c
        };
        assert!(condition(&c, &s, &texts()).ends_with(" Sales / Negotiation"));
        let c = Condition {
            left: Operand::Path("lead.tags".parse().expect("path")),
            op: Operator::HasAny,
            right: Some(Operand::Literal(Literal::List(vec![
                "vip".into(),
                "b2b".into(),
            ]))),
            ..c
        };
        assert!(condition(&c, &s, &texts()).ends_with(" «vip», «b2b»"));
        let c = Condition {
            op: Operator::Between,
            right: Some(Operand::Literal(Literal::Number(10.0))),
            right_upper: Some(Operand::Literal(Literal::Number(20.0))),
            ..c
        };
        assert!(condition(&c, &s, &texts()).ends_with(" 10 and 20"));
        let c = Condition {
            op: Operator::IsEmpty,
            ..c
        };
        assert!(!condition(&c, &s, &texts()).contains("10"));
    }

    #[test]
    fn every_action_kind_reads_with_names_never_ids() {
        let s = schema();
        let t = texts();
        let cases: Vec<(ActionKind, &str)> = vec![
            (
                ActionKind::ChangeFields {
                    entity: EntityRole::Lead,
                    fields: vec![
                        FieldAssignment {
                            field: FieldTarget::Custom(55),
                            value: Template::new("WHOLESALE"),
                        },
                        FieldAssignment {
                            field: FieldTarget::Price,
                            value: Template::new("1000"),
                        },
                    ],
                },
                "Change fields of the lead: Order type, Budget",
            ),
            (
                ActionKind::ChangeStatus {
                    pipeline_id: 10,
                    status_id: 101,
                },
                "Move to Sales / Negotiation",
            ),
            (
                ActionKind::ChangeTask {
                    entity: EntityRole::Lead,
                    task_type_id: Some(1),
                    scope: TaskScope::Last,
                    responsible: None,
                    new_task_type_id: None,
                    completed: Some(true),
                    text: None,
                },
                "Change the last task «Follow-up» of the lead: close",
            ),
            (
                ActionKind::AddNote {
                    entity: EntityRole::Contact,
                    text: Template::new("Hello {{lead.name}}"),
                    system: false,
                },
                "Add a note to the contact: «Hello {{lead.name}}»",
            ),
            (
                ActionKind::ChangeTags {
                    entity: EntityRole::Lead,
                    change: TagChange::RemoveAll,
                    tags: None,
                },
                "Remove all tags of the lead",
            ),
            (
                ActionKind::CreateLead {
                    name: Template::new("Repeat order"),
                    tags: None,
                    responsible: None,
                    pipeline_id: Some(10),
                    status_id: Some(101),
                    fields: Vec::new(),
                    attach_company_contacts: false,
                },
                "Create lead «Repeat order» → Sales / Negotiation",
            ),
            (
                ActionKind::RunSalesbot {
                    entity: EntityRole::Lead,
                    bot_id: 3,
                },
                "Run Salesbot Greeter",
            ),
            (
                ActionKind::SendWebhook {
                    method: domain::rule::HttpMethod::Post,
                    url: Template::new("https://example.com/hook"),
                    headers: vec![KeyValue {
                        key: "X-A".into(),
                        value: Template::new("1"),
                    }],
                    body: Vec::new(),
                    parse_response: false,
                    follow_up_rule_id: None,
                },
                "Send POST to «https://example.com/hook»",
            ),
            (
                ActionKind::ChatSubscription {
                    subscribe: true,
                    user_ids: vec![7, 99],
                    user_ids_from: None,
                },
                "Subscribe to the chat: Bruno Sales, #99",
            ),
            (
                ActionKind::ChangeGlobalVariable {
                    name: "missed_calls".into(),
                    change: VariableChange::Calculate,
                    value: Template::new("{{ ({missed_calls}+1):calc }}"),
                },
                "Calculate variable missed_calls: «{{ ({missed_calls}+1):calc }}»",
            ),
        ];
        for (kind, want) in cases {
            assert_eq!(action(&act(kind), &s, &t), want);
        }
        // Every starting value of every kind makes a sentence without a placeholder left over.
        for kind in super::super::kinds::ACTION_KINDS {
            let a = super::super::kinds::action_of_kind(kind, &s).expect("kind");
            let text = action(&a, &s, &t);
            assert!(!text.contains('{') || text.contains("{{"), "{kind}: {text}");
            assert!(!text.contains("snt_"), "{kind}: {text}");
        }
    }

    #[test]
    fn timers_follow_the_action() {
        let s = schema();
        let t = texts();
        let mut a = act(ActionKind::CopyLead { name: None });
        a.timer = Timer::After {
            amount: 10,
            unit: TimeUnit::Minutes,
        };
        assert_eq!(action(&a, &s, &t), "Copy the lead after 10 min");
        a.timer = Timer::DateField {
            field: "lead.cf(55)".parse().expect("path"),
            shift_days: -2,
            at: NaiveTime::from_hms_opt(10, 30, 0),
        };
        let field = operand_label(&Operand::Path("lead.cf(55)".parse().expect("path")), &s, &t);
        assert_eq!(
            action(&a, &s, &t),
            format!("Copy the lead on {field} −2 d at 10:30")
        );
        a.timer = Timer::YearlyFromField {
            field: "contact.cf(55)".parse().expect("path"),
            at: NaiveTime::from_hms_opt(9, 0, 0).expect("time"),
        };
        assert!(action(&a, &s, &t).ends_with(" at 09:00"));
        assert_eq!(duration(5400, &t), "90 min");
        assert_eq!(duration(172_800, &t), "2 d");
        assert_eq!(duration(61, &t), "61 s");
    }

    #[test]
    fn triggers_read_as_when_sentences() {
        let s = schema();
        let t = texts();
        let moved = Trigger::StatusChanged {
            pipeline_id: Some(10),
            status_id: Some(101),
            entry: StageEntry::Moved,
        };
        assert_eq!(
            trigger(&moved, &s, &t),
            "When a lead moves to Sales / Negotiation"
        );
        assert_eq!(
            trigger(
                &Trigger::FieldUpdated {
                    entity: EntityType::Lead,
                    field_id: 55
                },
                &s,
                &t
            ),
            "When Order type of a lead changes"
        );
        assert_eq!(
            trigger(
                &Trigger::RelativeToDateField {
                    entity: EntityType::Lead,
                    field_id: 55,
                    offset_hours: -24
                },
                &s,
                &t
            ),
            "1 d before Order type of a lead"
        );
        for kind in super::super::kinds::TRIGGER_KINDS {
            let tr = super::super::kinds::trigger_of_kind(kind, &s).expect("kind");
            let text = trigger(&tr, &s, &t);
            assert!(
                !text.contains('{') && !text.contains("snt_"),
                "{kind}: {text}"
            );
        }
    }
}
