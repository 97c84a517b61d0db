//! The trigger: every kind the domain has, each with its own controls.
//!
//! The kind picker lists [`TRIGGER_KINDS`] grouped as the manual groups them; choosing a kind starts
//! it from [`trigger_of_kind`]. A kind Kommo cannot serve stays listed, disabled, with the reason
//! (the backend refuses to save or enable it for the same reason). Every change goes out as one
//! `EditorAction::SetTrigger`; problems at `/trigger/...` show at their control.

use std::rc::Rc;

use chrono::{NaiveDate, NaiveTime, Weekday};
use domain::event::NoteType;
use domain::path::EntityType;
use domain::rule::{
    EntitySearch, MessageFilter, Recurrence, SearchCriterion, SearchField, StageEntry, Trigger,
};
use domain::template::Template;
use serde::Deserialize;
use yew::prelude::*;

use super::{pickers, use_builder, BuilderCtx};
use crate::components::controls::{Button, ButtonKind, Checkbox, Select, SelectOption, TextInput};
use crate::editor::kinds::{trigger_of_kind, TRIGGER_KINDS};
use crate::editor::EditorAction;
use crate::services;
use crate::state::UiError;

/// The i18n key of why a trigger kind cannot work through Kommo's public API, for the kinds the
/// backend refuses to save (`domain::unavailable`): Kommo tells integrations nothing when a client
/// reads a message.
pub fn unavailable_reason(kind: &str) -> Option<&'static str> {
    domain::unavailable::Unavailable::of_trigger_kind(kind)
        .map(crate::editor::kinds::unavailable_text)
}

/// The i18n key of the group a trigger kind is listed under.
fn kind_group(kind: &str) -> &'static str {
    match kind {
        "status_changed" | "relative_to_date_field" | "at_date_time" | "recurring" => {
            "trg_group_time"
        }
        "conversation_started"
        | "conversation_closed"
        | "incoming_message"
        | "outgoing_message_seen" => "trg_group_chats",
        "manual" | "inbound_webhook" => "trg_group_other",
        _ => "trg_group_entities",
    }
}

/// The kind picker's options: grouped, Kommo-unservable kinds disabled with their reason.
fn kind_options(ctx: &BuilderCtx) -> Vec<SelectOption> {
    let groups = [
        "trg_group_entities",
        "trg_group_time",
        "trg_group_chats",
        "trg_group_other",
    ];
    groups
        .iter()
        .flat_map(|g| {
            TRIGGER_KINDS
                .iter()
                .filter(move |k| kind_group(k) == *g)
                .map(|k| {
                    let label = ctx.t(&format!("trg_kind_{k}"));
                    match unavailable_reason(k) {
                        Some(_) => {
                            SelectOption::new(*k, format!("{label} ({})", ctx.t("trg_unavailable")))
                                .disabled(true)
                        }
                        None => SelectOption::new(*k, label),
                    }
                    .in_group(ctx.t(g))
                })
        })
        .collect()
}

fn entity_mut(t: &mut Trigger) -> Option<&mut EntityType> {
    match t {
        Trigger::EntityAdded { entity }
        | Trigger::EntityUpdated { entity }
        | Trigger::ResponsibleChanged { entity }
        | Trigger::NoteAdded { entity, .. }
        | Trigger::TagAdded { entity, .. }
        | Trigger::TagRemoved { entity, .. }
        | Trigger::FieldUpdated { entity, .. }
        | Trigger::RelativeToDateField { entity, .. }
        | Trigger::Manual { entity } => Some(entity),
        _ => None,
    }
}

fn channels_mut(t: &mut Trigger) -> Option<&mut Vec<String>> {
    match t {
        Trigger::ConversationStarted { channels, .. }
        | Trigger::ConversationClosed { channels, .. }
        | Trigger::IncomingMessage { channels, .. }
        | Trigger::OutgoingMessageSeen { channels, .. } => Some(channels),
        _ => None,
    }
}

fn tags_mut(t: &mut Trigger) -> Option<&mut Vec<String>> {
    match t {
        Trigger::TagAdded { tags, .. } | Trigger::TagRemoved { tags, .. } => Some(tags),
        _ => None,
    }
}

/// A change of the trigger by a control's text.
type Edit = Rc<dyn Fn(&mut Trigger, &str)>;

/// A callback that applies `edit` to a copy of the trigger and dispatches it.
fn editing(ctx: &BuilderCtx, trigger: &Trigger, edit: Edit) -> Callback<String> {
    let trigger = trigger.clone();
    ctx.on(move |v: String| {
        let mut next = trigger.clone();
        edit(&mut next, &v);
        EditorAction::SetTrigger(next)
    })
}

fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

fn parse_time(v: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(v, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(v, "%H:%M:%S"))
        .ok()
}

/// Splits a comma-separated list, dropping empty items.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn message_filters(ctx: &BuilderCtx) -> Vec<SelectOption> {
    ["incoming", "outgoing", "any"]
        .iter()
        .map(|v| SelectOption::new(*v, ctx.t(&format!("trg_messages_{v}"))))
        .collect()
}

fn filter_value(f: MessageFilter) -> &'static str {
    match f {
        MessageFilter::Incoming => "incoming",
        MessageFilter::Outgoing => "outgoing",
        MessageFilter::Any => "any",
    }
}

fn parse_filter(v: &str) -> MessageFilter {
    match v {
        "incoming" => MessageFilter::Incoming,
        "outgoing" => MessageFilter::Outgoing,
        _ => MessageFilter::Any,
    }
}

const DAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// Props of [`TriggerForm`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct TriggerFormProps {
    /// The rule's trigger.
    pub trigger: Trigger,
}

/// The trigger's kind and controls; changes go out as `EditorAction::SetTrigger`.
#[function_component(TriggerForm)]
pub fn trigger_form(props: &TriggerFormProps) -> Html {
    let ctx = use_builder();
    let trigger = &props.trigger;
    let kind = trigger.name();
    let on_kind = {
        let schema = ctx.schema.clone();
        let current = trigger.clone();
        ctx.on(move |k: String| {
            EditorAction::SetTrigger(
                trigger_of_kind(&k, &schema).unwrap_or_else(|| current.clone()),
            )
        })
    };
    let unavailable = unavailable_reason(kind).map(|reason| ctx.t(reason));
    let kind_error = ctx
        .error_at("/trigger")
        .or_else(|| ctx.error_at("/trigger/kind"));
    html! {
        <div class="rb-trigger">
            <Select class="rb-trigger-kind" label={ctx.t("trg_kind")} options={kind_options(&ctx)}
                value={Some(kind.to_owned())} error={kind_error} on_change={on_kind} />
            if let Some(reason) = unavailable { <p class="rb-warning" role="note">{ reason }</p> }
            <p class="rb-hint">{ ctx.t(&format!("trg_hint_{kind}")) }</p>
            <div class="rb-trigger-controls rb-row">{ controls(&ctx, trigger) }</div>
        </div>
    }
}

/// The controls of one trigger kind.
fn controls(ctx: &BuilderCtx, trigger: &Trigger) -> Html {
    let mut parts: Vec<Html> = Vec::new();
    if let Some(entity) = entity_mut(&mut trigger.clone()).copied() {
        let tasks = matches!(
            trigger,
            Trigger::EntityAdded { .. }
                | Trigger::EntityUpdated { .. }
                | Trigger::ResponsibleChanged { .. }
        );
        let on_change = editing(
            ctx,
            trigger,
            Rc::new(|t, v| {
                if let (Some(slot), Some(e)) = (entity_mut(t), pickers::parse_entity_type(v)) {
                    *slot = e;
                }
                // A field picked for another entity type would not exist on this one.
                if let Trigger::FieldUpdated { field_id, .. }
                | Trigger::RelativeToDateField { field_id, .. } = t
                {
                    *field_id = 0;
                }
            }),
        );
        parts.push(html! {
            <Select label={ctx.t("trg_entity")} options={pickers::entity_types(&ctx.texts, tasks)}
                value={Some(entity.as_str().to_owned())} error={ctx.error_at("/trigger/entity")} {on_change} />
        });
    }
    match trigger {
        Trigger::StatusChanged {
            pipeline_id,
            status_id,
            entry,
        } => parts.push(stage_controls(
            ctx,
            trigger,
            *pipeline_id,
            *status_id,
            *entry,
        )),
        Trigger::NoteAdded { note_types, .. } => {
            let boxes = [
                NoteType::Text,
                NoteType::Call,
                NoteType::Sms,
                NoteType::Email,
                NoteType::System,
            ]
            .into_iter()
            .map(|n| {
                let checked = note_types.contains(&n);
                let trigger = trigger.clone();
                let on_change = ctx.on(move |on: bool| {
                    let mut next = trigger.clone();
                    if let Trigger::NoteAdded { note_types, .. } = &mut next {
                        note_types.retain(|x| *x != n);
                        if on {
                            note_types.push(n);
                        }
                    }
                    EditorAction::SetTrigger(next)
                });
                html! { <Checkbox label={ctx.t(&format!("trg_note_{}", n.as_str()))} {checked} {on_change} /> }
            });
            parts.push(html! {
                <fieldset class="rb-fieldset">
                    <legend>{ ctx.t("trg_note_types") }</legend>
                    { for boxes }
                    <small class="rb-hint">{ ctx.t("trg_note_types_hint") }</small>
                </fieldset>
            });
        }
        Trigger::TagAdded { entity, tags } | Trigger::TagRemoved { entity, tags } => {
            parts.push(html! { <TagsPicker trigger={trigger.clone()} entity={*entity} tags={tags.clone()} /> });
        }
        Trigger::FieldUpdated { entity, field_id } => {
            parts.push(field_picker(ctx, trigger, *entity, *field_id, false));
        }
        Trigger::RelativeToDateField {
            entity,
            field_id,
            offset_hours,
        } => {
            parts.push(field_picker(ctx, trigger, *entity, *field_id, true));
            let side = if *offset_hours < 0 { "before" } else { "after" };
            let on_side = editing(
                ctx,
                trigger,
                Rc::new(|t, v| {
                    if let Trigger::RelativeToDateField { offset_hours, .. } = t {
                        let hours = offset_hours.abs();
                        *offset_hours = if v == "before" { -hours } else { hours };
                    }
                }),
            );
            let on_hours = editing(
                ctx,
                trigger,
                Rc::new(|t, v| {
                    if let Trigger::RelativeToDateField { offset_hours, .. } = t {
                        let hours: i32 = v
                            .trim()
                            .parse::<u32>()
                            .map_or(0, |h| i32::try_from(h).unwrap_or(i32::MAX));
                        *offset_hours = if *offset_hours < 0 { -hours } else { hours };
                    }
                }),
            );
            let sides = vec![
                SelectOption::new("before", ctx.t("trg_offset_before")),
                SelectOption::new("after", ctx.t("trg_offset_after")),
            ];
            parts.push(html! {
                <>
                    <TextInput input_type="number" min="0" label={ctx.t("trg_offset_hours")}
                        value={offset_hours.unsigned_abs().to_string()} error={ctx.error_at("/trigger/offset_hours")}
                        on_change={on_hours} />
                    <Select label={ctx.t("trg_offset_side")} options={sides} value={Some(side.to_owned())} on_change={on_side} />
                </>
            });
        }
        Trigger::AtDateTime { date, at } => {
            let on_date = editing(
                ctx,
                trigger,
                Rc::new(|t, v| {
                    if let (Trigger::AtDateTime { date, .. }, Ok(d)) =
                        (t, NaiveDate::parse_from_str(v, "%Y-%m-%d"))
                    {
                        *date = d;
                    }
                }),
            );
            let on_time = editing(
                ctx,
                trigger,
                Rc::new(|t, v| {
                    if let (Trigger::AtDateTime { at, .. }, Some(time)) = (t, parse_time(v)) {
                        *at = time;
                    }
                }),
            );
            parts.push(html! {
                <>
                    <TextInput input_type="date" label={ctx.t("trg_date")} value={date.format("%Y-%m-%d").to_string()}
                        error={ctx.error_at("/trigger/date")} on_change={on_date} />
                    <TextInput input_type="time" label={ctx.t("trg_time")} value={hhmm(*at)}
                        error={ctx.error_at("/trigger/at")} on_change={on_time} />
                </>
            });
        }
        Trigger::Recurring { schedule } => parts.push(recurrence_controls(ctx, trigger, *schedule)),
        Trigger::ConversationStarted { by, .. } => {
            let on_change = editing(
                ctx,
                trigger,
                Rc::new(|t, v| {
                    if let Trigger::ConversationStarted { by, .. } = t {
                        *by = parse_filter(v);
                    }
                }),
            );
            parts.push(html! {
                <Select label={ctx.t("trg_first_message")} options={message_filters(ctx)}
                    value={Some(filter_value(*by).to_owned())} {on_change} />
            });
        }
        Trigger::IncomingMessage {
            direction,
            cooldown_seconds,
            ..
        } => {
            let on_direction = editing(
                ctx,
                trigger,
                Rc::new(|t, v| {
                    if let Trigger::IncomingMessage { direction, .. } = t {
                        *direction = parse_filter(v);
                    }
                }),
            );
            let on_cooldown = editing(
                ctx,
                trigger,
                Rc::new(|t, v| {
                    if let Trigger::IncomingMessage {
                        cooldown_seconds, ..
                    } = t
                    {
                        *cooldown_seconds = v.trim().parse().unwrap_or(0);
                    }
                }),
            );
            parts.push(html! {
                <>
                    <Select label={ctx.t("trg_direction")} options={message_filters(ctx)}
                        value={Some(filter_value(*direction).to_owned())} on_change={on_direction} />
                    <TextInput input_type="number" min="0" label={ctx.t("trg_cooldown")} hint={ctx.t("trg_cooldown_hint")}
                        value={cooldown_seconds.to_string()} error={ctx.error_at("/trigger/cooldown_seconds")}
                        on_change={on_cooldown} />
                </>
            });
        }
        Trigger::InboundWebhook {
            hook_id,
            receiver_id,
            search,
        } => {
            parts.push(html! {
                <WebhookControls trigger={trigger.clone()} hook_id={hook_id.clone()} receiver_id={*receiver_id} />
            });
            parts.push(search_controls(ctx, trigger, search.as_ref()));
        }
        _ => {}
    }
    if let Trigger::ConversationClosed { delay_seconds, .. }
    | Trigger::OutgoingMessageSeen { delay_seconds, .. } = trigger
    {
        let on_change = editing(
            ctx,
            trigger,
            Rc::new(|t, v| {
                if let Trigger::ConversationClosed { delay_seconds, .. }
                | Trigger::OutgoingMessageSeen { delay_seconds, .. } = t
                {
                    *delay_seconds = v.trim().parse().unwrap_or(0);
                }
            }),
        );
        parts.push(html! {
            <TextInput input_type="number" min="0" label={ctx.t("trg_delay")} value={delay_seconds.to_string()}
                error={ctx.error_at("/trigger/delay_seconds")} {on_change} />
        });
    }
    if let Some(channels) = channels_mut(&mut trigger.clone()).cloned() {
        let trigger = trigger.clone();
        let on_change = ctx.on(move |list: Vec<String>| {
            let mut next = trigger.clone();
            if let Some(slot) = channels_mut(&mut next) {
                *slot = list;
            }
            EditorAction::SetTrigger(next)
        });
        parts.push(html! {
            <ListInput label={ctx.t("trg_channels")} hint={ctx.t("trg_channels_hint")}
                items={channels} error={ctx.error_at("/trigger/channels")} {on_change} />
        });
    }
    html! { <>{ for parts }</> }
}

fn stage_controls(
    ctx: &BuilderCtx,
    trigger: &Trigger,
    pipeline_id: Option<i64>,
    status_id: Option<i64>,
    entry: StageEntry,
) -> Html {
    let on_pipeline = editing(
        ctx,
        trigger,
        Rc::new(|t, v| {
            if let Trigger::StatusChanged {
                pipeline_id,
                status_id,
                ..
            } = t
            {
                *pipeline_id = v.parse().ok();
                *status_id = None;
            }
        }),
    );
    let on_stage = editing(
        ctx,
        trigger,
        Rc::new(|t, v| {
            if let Trigger::StatusChanged {
                pipeline_id,
                status_id,
                ..
            } = t
            {
                match pickers::parse_stage(v) {
                    Some((p, s)) => {
                        *pipeline_id = Some(p);
                        *status_id = Some(s);
                    }
                    None => *status_id = v.parse().ok(),
                }
            }
        }),
    );
    let on_entry = editing(
        ctx,
        trigger,
        Rc::new(|t, v| {
            if let Trigger::StatusChanged { entry, .. } = t {
                *entry = match v {
                    "created" => StageEntry::Created,
                    "moved" => StageEntry::Moved,
                    _ => StageEntry::CreatedOrMoved,
                };
            }
        }),
    );
    // With a pipeline chosen, its stages; else every stage, grouped by pipeline.
    let (stages, stage_value) = match pipeline_id {
        Some(p) => (
            pickers::stages(&ctx.schema, p),
            status_id.map(|s| s.to_string()),
        ),
        None => (
            pickers::all_stages(&ctx.schema),
            status_id.and_then(|s| {
                ctx.schema
                    .pipelines
                    .iter()
                    .flatten()
                    .find(|p| p.has_stage(s))
                    .map(|p| format!("{}:{s}", p.id))
            }),
        ),
    };
    let entries = vec![
        SelectOption::new("created_or_moved", ctx.t("trg_entry_both")),
        SelectOption::new("created", ctx.t("trg_entry_created")),
        SelectOption::new("moved", ctx.t("trg_entry_moved")),
    ];
    let entry_value = match entry {
        StageEntry::Created => "created",
        StageEntry::Moved => "moved",
        StageEntry::CreatedOrMoved => "created_or_moved",
    };
    html! {
        <>
            <Select label={ctx.t("trg_pipeline")} options={pickers::pipelines(&ctx.schema)} placeholder={ctx.t("trg_any_pipeline")}
                value={pipeline_id.map(|p| p.to_string())} error={ctx.error_at("/trigger/pipeline_id")} on_change={on_pipeline} />
            <Select label={ctx.t("trg_stage")} options={stages} placeholder={ctx.t("trg_any_stage")}
                value={stage_value} error={ctx.error_at("/trigger/status_id")} on_change={on_stage} />
            <Select label={ctx.t("trg_entry")} options={entries} value={Some(entry_value.to_owned())} on_change={on_entry} />
        </>
    }
}

fn field_picker(
    ctx: &BuilderCtx,
    trigger: &Trigger,
    entity: EntityType,
    field_id: i64,
    dates_only: bool,
) -> Html {
    let options = pickers::fields(&ctx.schema, entity, |f| {
        !dates_only || pickers::is_date_field(f)
    });
    let on_change = editing(
        ctx,
        trigger,
        Rc::new(|t, v| {
            if let Trigger::FieldUpdated { field_id, .. }
            | Trigger::RelativeToDateField { field_id, .. } = t
            {
                *field_id = v.parse().unwrap_or(0);
            }
        }),
    );
    let label = ctx.t(if dates_only {
        "trg_date_field"
    } else {
        "trg_field"
    });
    html! {
        <Select {label} {options} placeholder={ctx.t("trg_choose_field")}
            value={(field_id != 0).then(|| field_id.to_string())}
            error={ctx.error_at("/trigger/field_id")} {on_change} />
    }
}

fn recurrence_controls(ctx: &BuilderCtx, trigger: &Trigger, schedule: Recurrence) -> Html {
    let at = match schedule {
        Recurrence::Daily { at }
        | Recurrence::Weekly { at, .. }
        | Recurrence::Monthly { at, .. }
        | Recurrence::Yearly { at, .. } => at,
    };
    let edit = |f: fn(Recurrence, &str) -> Recurrence| {
        editing(
            ctx,
            trigger,
            Rc::new(move |t, v| {
                if let Trigger::Recurring { schedule } = t {
                    *schedule = f(*schedule, v);
                }
            }),
        )
    };
    let on_every = edit(|s, v| {
        let at = match s {
            Recurrence::Daily { at }
            | Recurrence::Weekly { at, .. }
            | Recurrence::Monthly { at, .. }
            | Recurrence::Yearly { at, .. } => at,
        };
        match v {
            "weekly" => Recurrence::Weekly {
                weekday: Weekday::Mon,
                at,
            },
            "monthly" => Recurrence::Monthly { day: 1, at },
            "yearly" => Recurrence::Yearly {
                month: 1,
                day: 1,
                at,
            },
            _ => Recurrence::Daily { at },
        }
    });
    let on_time = edit(|s, v| match parse_time(v) {
        None => s,
        Some(at) => match s {
            Recurrence::Daily { .. } => Recurrence::Daily { at },
            Recurrence::Weekly { weekday, .. } => Recurrence::Weekly { weekday, at },
            Recurrence::Monthly { day, .. } => Recurrence::Monthly { day, at },
            Recurrence::Yearly { month, day, .. } => Recurrence::Yearly { month, day, at },
        },
    });
    let on_weekday = edit(|s, v| match (s, v.parse::<Weekday>()) {
        (Recurrence::Weekly { at, .. }, Ok(weekday)) => Recurrence::Weekly { weekday, at },
        _ => s,
    });
    let on_day = edit(|s, v| {
        let day = v.trim().parse().unwrap_or(0);
        match s {
            Recurrence::Monthly { at, .. } => Recurrence::Monthly { day, at },
            Recurrence::Yearly { month, at, .. } => Recurrence::Yearly { month, day, at },
            other => other,
        }
    });
    let on_month = edit(|s, v| match (s, v.parse::<u32>()) {
        (Recurrence::Yearly { day, at, .. }, Ok(month)) => Recurrence::Yearly { month, day, at },
        _ => s,
    });
    let every = match schedule {
        Recurrence::Daily { .. } => "daily",
        Recurrence::Weekly { .. } => "weekly",
        Recurrence::Monthly { .. } => "monthly",
        Recurrence::Yearly { .. } => "yearly",
    };
    let everies: Vec<SelectOption> = ["daily", "weekly", "monthly", "yearly"]
        .iter()
        .map(|e| SelectOption::new(*e, ctx.t(&format!("trg_every_{e}"))))
        .collect();
    let days: Vec<SelectOption> = DAYS
        .iter()
        .map(|d| {
            SelectOption::new(
                d.to_string(),
                ctx.t(&format!("day_{}", d.to_string().to_lowercase())),
            )
        })
        .collect();
    let months: Vec<SelectOption> = (1..=12)
        .map(|m| SelectOption::new(m.to_string(), ctx.t(&format!("trg_month_{m}"))))
        .collect();
    let error = ctx.error_at("/trigger/schedule");
    let day_input = |day: u32| {
        html! {
            <TextInput input_type="number" min="1" max="31" label={ctx.t("trg_day_of_month")} value={day.to_string()}
                error={error.clone()} on_change={on_day.clone()} />
        }
    };
    html! {
        <>
            <Select label={ctx.t("trg_every")} options={everies} value={Some(every.to_owned())} on_change={on_every} />
            {
                match schedule {
                    Recurrence::Daily { .. } => html! {},
                    Recurrence::Weekly { weekday, .. } => html! {
                        <Select label={ctx.t("trg_weekday")} options={days} value={Some(weekday.to_string())} on_change={on_weekday} />
                    },
                    Recurrence::Monthly { day, .. } => day_input(day),
                    Recurrence::Yearly { month, day, .. } => html! {
                        <>
                            <Select label={ctx.t("trg_month")} options={months} value={Some(month.to_string())} on_change={on_month} />
                            { day_input(day) }
                        </>
                    },
                }
            }
            <TextInput input_type="time" label={ctx.t("trg_time")} value={hhmm(at)} on_change={on_time} />
        </>
    }
}

/// Props of [`ListInput`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ListInputProps {
    /// The label.
    pub label: AttrValue,
    /// A hint under it.
    #[prop_or_default]
    pub hint: Option<String>,
    /// The items as stored.
    pub items: Vec<String>,
    /// A problem to show.
    #[prop_or_default]
    pub error: Option<String>,
    /// Called with the items after each keystroke.
    pub on_change: Callback<Vec<String>>,
}

/// A comma-separated free list (channels, tags). The text is kept as typed, so a trailing comma
/// or space does not vanish under the cursor; the items go out on every keystroke.
#[function_component(ListInput)]
pub fn list_input(props: &ListInputProps) -> Html {
    let text = use_state(|| props.items.join(", "));
    // A change from elsewhere (another kind, the source view) replaces the text.
    if split_list(&text) != props.items {
        let joined = props.items.join(", ");
        if *text != joined {
            text.set(joined);
        }
    }
    let on_change = {
        let (text, cb) = (text.clone(), props.on_change.clone());
        Callback::from(move |v: String| {
            cb.emit(split_list(&v));
            text.set(v);
        })
    };
    html! {
        <TextInput label={props.label.clone()} hint={props.hint.clone()} value={(*text).clone()}
            error={props.error.clone()} {on_change} />
    }
}

/// Props of [`TagsPicker`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct TagsPickerProps {
    /// The trigger (tag added or removed).
    pub trigger: Trigger,
    /// Whose tags.
    pub entity: EntityType,
    /// The chosen tags.
    pub tags: Vec<String>,
}

/// The tags of a tag trigger: the account's tags as checkboxes, and other tags typed in.
#[function_component(TagsPicker)]
pub fn tags_picker(props: &TagsPickerProps) -> Html {
    let ctx = use_builder();
    let known: Vec<String> = pickers::tags(&ctx.schema, props.entity)
        .into_iter()
        .map(|o| o.value)
        .collect();
    let set = {
        let trigger = props.trigger.clone();
        ctx.on(move |tags: Vec<String>| {
            let mut next = trigger.clone();
            if let Some(slot) = tags_mut(&mut next) {
                *slot = tags;
            }
            EditorAction::SetTrigger(next)
        })
    };
    let (chosen_known, other): (Vec<String>, Vec<String>) =
        props.tags.iter().cloned().partition(|t| known.contains(t));
    let boxes = known.iter().map(|tag| {
        let checked = chosen_known.contains(tag);
        let (set, tags, name) = (set.clone(), props.tags.clone(), tag.clone());
        let on_change = Callback::from(move |on: bool| {
            let mut next: Vec<String> = tags.iter().filter(|t| **t != name).cloned().collect();
            if on {
                next.push(name.clone());
            }
            set.emit(next);
        });
        html! { <Checkbox label={tag.clone()} {checked} {on_change} /> }
    });
    let on_other = {
        let (set, chosen_known) = (set.clone(), chosen_known.clone());
        Callback::from(move |typed: Vec<String>| {
            let mut next = chosen_known.clone();
            for t in typed {
                if !next.contains(&t) {
                    next.push(t);
                }
            }
            set.emit(next);
        })
    };
    html! {
        <fieldset class="rb-fieldset rb-tags">
            <legend>{ ctx.t("trg_tags") }</legend>
            { for boxes }
            <ListInput label={ctx.t("trg_other_tags")} hint={ctx.t("trg_tags_hint")} items={other}
                error={ctx.error_at("/trigger/tags")} on_change={on_other} />
        </fieldset>
    }
}

/// An inbound receiver as `GET /api/v1/receivers` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReceiverItem {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its full URL.
    #[serde(default)]
    pub url: String,
}

/// Where the receivers list stands.
#[derive(Debug, Clone, PartialEq)]
enum Receivers {
    Loading,
    Loaded(Vec<ReceiverItem>),
    /// Members may not list receivers (403).
    Forbidden,
    Failed(String),
}

/// Props of [`WebhookControls`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct WebhookControlsProps {
    /// The trigger.
    pub trigger: Trigger,
    /// The hook's label.
    pub hook_id: String,
    /// The chosen receiver.
    pub receiver_id: Option<i64>,
}

/// The receiver whose requests run the rule (or the rule's own URL), and the hook's label.
#[function_component(WebhookControls)]
pub fn webhook_controls(props: &WebhookControlsProps) -> Html {
    let ctx = use_builder();
    let receivers = use_state(|| Receivers::Loading);
    {
        let (receivers, backend) = (receivers.clone(), ctx.backend.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let answer: Result<Vec<ReceiverItem>, UiError> =
                    services::request(&backend, "GET", "/api/v1/receivers?limit=500", None).await;
                receivers.set(match answer {
                    Ok(list) => Receivers::Loaded(list),
                    Err(UiError::Forbidden { .. }) => Receivers::Forbidden,
                    Err(e) => Receivers::Failed(format!("{e:?}")),
                });
            });
        });
    }
    let on_receiver = editing(
        &ctx,
        &props.trigger,
        Rc::new(|t, v| {
            if let Trigger::InboundWebhook { receiver_id, .. } = t {
                *receiver_id = v.parse().ok();
            }
        }),
    );
    let on_label = editing(
        &ctx,
        &props.trigger,
        Rc::new(|t, v| {
            if let Trigger::InboundWebhook { hook_id, .. } = t {
                *hook_id = v.to_owned();
            }
        }),
    );
    let picker = match &*receivers {
        Receivers::Loading => {
            html! { <p class="rb-hint" role="status">{ ctx.t("trg_receivers_loading") }</p> }
        }
        Receivers::Loaded(list) => {
            let mut options: Vec<SelectOption> = list
                .iter()
                .map(|r| SelectOption::new(r.id.to_string(), r.name.clone()))
                .collect();
            if let Some(id) = props.receiver_id {
                if !list.iter().any(|r| r.id == id) {
                    options.push(SelectOption::new(
                        id.to_string(),
                        format!("#{id} ({})", ctx.t("trg_receiver_missing")),
                    ));
                }
            }
            let url = props
                .receiver_id
                .and_then(|id| list.iter().find(|r| r.id == id))
                .map(|r| r.url.clone());
            html! {
                <>
                    <Select label={ctx.t("trg_receiver")} {options} placeholder={ctx.t("trg_own_url")}
                        value={props.receiver_id.map(|r| r.to_string())}
                        error={ctx.error_at("/trigger/receiver_id")} on_change={on_receiver} />
                    if let Some(url) = url { <p class="rb-hint rb-url">{ url }</p> }
                </>
            }
        }
        Receivers::Forbidden => {
            html! { <p class="rb-hint" role="note">{ ctx.t("trg_receivers_forbidden") }</p> }
        }
        Receivers::Failed(e) => {
            html! { <p class="rb-field-error" role="alert">{ format!("{} {e}", ctx.t("trg_receivers_failed")) }</p> }
        }
    };
    html! {
        <>
            { picker }
            <TextInput label={ctx.t("trg_hook_label")} hint={ctx.t("trg_hook_label_hint")} value={props.hook_id.clone()}
                error={ctx.error_at("/trigger/hook_id")} on_change={on_label} />
        </>
    }
}

fn search_mut(t: &mut Trigger) -> Option<&mut Option<EntitySearch>> {
    match t {
        Trigger::InboundWebhook { search, .. } => Some(search),
        _ => None,
    }
}

fn search_field_value(field: SearchField) -> String {
    match field {
        SearchField::Id => "id".into(),
        SearchField::Name => "name".into(),
        SearchField::Phone => "phone".into(),
        SearchField::Email => "email".into(),
        SearchField::Custom(id) => format!("cf:{id}"),
    }
}

fn parse_search_field(value: &str) -> Option<SearchField> {
    match value {
        "id" => Some(SearchField::Id),
        "name" => Some(SearchField::Name),
        "phone" => Some(SearchField::Phone),
        "email" => Some(SearchField::Email),
        other => other
            .strip_prefix("cf:")
            .and_then(|id| id.parse().ok())
            .map(SearchField::Custom),
    }
}

/// The inbound webhook's search for its entity: what is searched (or nothing), the fields tried
/// in order (the first that finds wins), and whether a missing entity is created.
fn search_controls(ctx: &BuilderCtx, trigger: &Trigger, search: Option<&EntitySearch>) -> Html {
    let entity_value = search.map_or_else(|| "none".to_owned(), |s| s.entity.as_str().to_owned());
    let mut entities = vec![SelectOption::new("none", ctx.t("trg_search_none"))];
    entities.extend(pickers::entity_types(&ctx.texts, false));
    let on_entity = editing(
        ctx,
        trigger,
        Rc::new(|t, v| {
            if let Some(search) = search_mut(t) {
                *search = pickers::parse_entity_type(v).map(|entity| EntitySearch {
                    entity,
                    by: search.take().map(|s| s.by).unwrap_or_else(|| {
                        vec![SearchCriterion {
                            field: SearchField::Phone,
                            value: Template::new("{phone}"),
                        }]
                    }),
                    create_if_not_found: false,
                    name: None,
                });
            }
        }),
    );
    let entity_select = html! {
        <Select label={ctx.t("trg_search_entity")} options={entities} value={Some(entity_value)}
            error={ctx.error_at("/trigger/search/entity")} on_change={on_entity} />
    };
    let Some(search) = search else {
        return html! {
            <fieldset class="rb-fieldset">
                <legend>{ ctx.t("trg_search") }</legend>
                { entity_select }
                <small class="rb-hint">{ ctx.t("trg_search_hint") }</small>
            </fieldset>
        };
    };
    let mut field_options: Vec<SelectOption> = ["id", "name", "phone", "email"]
        .iter()
        .map(|f| SelectOption::new(*f, ctx.t(&format!("trg_search_field_{f}"))))
        .collect();
    field_options.extend(
        pickers::fields(&ctx.schema, search.entity, |_| true)
            .into_iter()
            .map(|o| SelectOption::new(format!("cf:{}", o.value), o.label)),
    );
    let rows = search.by.iter().enumerate().map(|(i, criterion)| {
        let n = (i + 1).to_string();
        let on_field = editing(
            ctx,
            trigger,
            Rc::new(move |t, v| {
                if let (Some(Some(search)), Some(field)) = (search_mut(t), parse_search_field(v)) {
                    if let Some(c) = search.by.get_mut(i) {
                        c.field = field;
                    }
                }
            }),
        );
        let on_value = editing(
            ctx,
            trigger,
            Rc::new(move |t, v| {
                if let Some(Some(search)) = search_mut(t) {
                    if let Some(c) = search.by.get_mut(i) {
                        c.value = Template::new(v);
                    }
                }
            }),
        );
        let on_remove = {
            let trigger = trigger.clone();
            ctx.on(move |_: MouseEvent| {
                let mut next = trigger.clone();
                if let Some(Some(search)) = search_mut(&mut next) {
                    if i < search.by.len() {
                        search.by.remove(i);
                    }
                }
                EditorAction::SetTrigger(next)
            })
        };
        let at = format!("/trigger/search/by/{i}");
        html! {
            <div class="rb-row">
                <Select label={format!("{} {n}", ctx.t("trg_search_field"))} options={field_options.clone()}
                    value={Some(search_field_value(criterion.field))}
                    error={ctx.error_at(&format!("{at}/field"))} on_change={on_field} />
                <TextInput label={format!("{} {n}", ctx.t("trg_search_value"))} value={criterion.value.source().to_owned()}
                    placeholder={AttrValue::from("{phone}")}
                    error={ctx.error_at(&format!("{at}/value"))} on_change={on_value} />
                <Button kind={ButtonKind::Icon} icon="✕" label={format!("{} {n}", ctx.t("trg_search_remove"))}
                    onclick={on_remove} />
            </div>
        }
    });
    let on_add = {
        let trigger = trigger.clone();
        ctx.on(move |_: MouseEvent| {
            let mut next = trigger.clone();
            if let Some(Some(search)) = search_mut(&mut next) {
                search.by.push(SearchCriterion {
                    field: SearchField::Email,
                    value: Template::new("{email}"),
                });
            }
            EditorAction::SetTrigger(next)
        })
    };
    let on_create = {
        let trigger = trigger.clone();
        ctx.on(move |on: bool| {
            let mut next = trigger.clone();
            if let Some(Some(search)) = search_mut(&mut next) {
                search.create_if_not_found = on;
            }
            EditorAction::SetTrigger(next)
        })
    };
    html! {
        <fieldset class="rb-fieldset">
            <legend>{ ctx.t("trg_search") }</legend>
            { entity_select }
            { for rows }
            if let Some(error) = ctx.error_at("/trigger/search/by") {
                <p class="rb-field-error" role="alert">{ error }</p>
            }
            <Button label={ctx.t("trg_search_add")} onclick={on_add} />
            <Checkbox label={ctx.t("trg_search_create")} checked={search.create_if_not_found} on_change={on_create} />
            <small class="rb-hint">{ ctx.t("trg_search_hint") }</small>
        </fieldset>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_commas_and_drop_blanks() {
        assert_eq!(
            split_list(" whatsapp, telegram ,, "),
            vec!["whatsapp".to_string(), "telegram".to_string()]
        );
        assert!(split_list("").is_empty());
    }

    #[test]
    fn every_kind_is_in_a_group_and_unavailable_kinds_are_real_kinds() {
        for u in domain::unavailable::Unavailable::ALL {
            if u.is_trigger() {
                assert!(TRIGGER_KINDS.contains(&u.kind()));
                assert!(unavailable_reason(u.kind()).is_some());
            } else {
                assert!(crate::editor::kinds::ACTION_KINDS.contains(&u.kind()));
            }
        }
        let groups: std::collections::HashSet<_> =
            TRIGGER_KINDS.iter().map(|k| kind_group(k)).collect();
        assert_eq!(groups.len(), 4);
    }

    #[test]
    fn every_kind_has_a_name_and_a_hint_in_english() {
        let texts = crate::i18n::Texts::default();
        for kind in TRIGGER_KINDS {
            for key in [format!("trg_kind_{kind}"), format!("trg_hint_{kind}")] {
                assert_ne!(texts.get(&key), key, "en.json lacks ui.{key}");
            }
        }
        for u in domain::unavailable::Unavailable::ALL {
            let reason = crate::editor::kinds::unavailable_text(u);
            assert_ne!(texts.get(reason), reason, "en.json lacks ui.{reason}");
        }
    }
}
