//! An action's timer: none; after N seconds to days; a date field ± days at a local time (or the
//! field's own time); yearly on a field's day at a time. The manual's range is 1 second to 99
//! years; `domain::validate` checks it and the problem shows at the amount.

use chrono::NaiveTime;
use domain::path::{EntityField, EntityRole, EntityType, Path};
use domain::rule::{TimeUnit, Timer};
use domain::schema::Schema;
use yew::prelude::*;

use super::{pickers, use_builder};
use crate::components::controls::{Checkbox, Select, SelectOption, TextInput};
use crate::editor::catalog::operand_label;
use crate::i18n::Texts;

/// Props of [`TimerForm`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct TimerFormProps {
    /// The timer.
    pub timer: Timer,
    /// The JSON pointer of the timer (`/blocks/0/actions/1/timer`), for its problems.
    pub pointer: String,
    /// Called with the changed timer.
    pub on_change: Callback<Timer>,
}

/// The value of a time unit in the unit select.
pub fn unit_value(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Seconds => "seconds",
        TimeUnit::Minutes => "minutes",
        TimeUnit::Hours => "hours",
        TimeUnit::Days => "days",
    }
}

/// Reads a [`unit_value`].
pub fn parse_unit(value: &str) -> Option<TimeUnit> {
    Some(match value {
        "seconds" => TimeUnit::Seconds,
        "minutes" => TimeUnit::Minutes,
        "hours" => TimeUnit::Hours,
        "days" => TimeUnit::Days,
        _ => return None,
    })
}

/// The choices of a time unit select, in the user's language.
pub fn unit_options(texts: &Texts) -> Vec<SelectOption> {
    [
        TimeUnit::Seconds,
        TimeUnit::Minutes,
        TimeUnit::Hours,
        TimeUnit::Days,
    ]
    .into_iter()
    .map(|u| {
        let v = unit_value(u);
        SelectOption::new(v, texts.get(&format!("tmr_unit_{v}")))
    })
    .collect()
}

/// Reads a time input's `HH:MM` (or `HH:MM:SS`).
pub fn parse_time(value: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(value, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(value, "%H:%M:%S"))
        .ok()
}

/// A time as a time input shows it.
pub fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

fn nine() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// The entity type whose fields a role reads; the event's own entity for the client.
fn role_entity(role: EntityRole, trigger_entity: Option<EntityType>) -> EntityType {
    match role {
        EntityRole::Lead => EntityType::Lead,
        EntityRole::Contact => EntityType::Contact,
        EntityRole::Company => EntityType::Company,
        EntityRole::Client => trigger_entity.unwrap_or(EntityType::Lead),
    }
}

/// The date values of a role's entity a timer can wait for: its date, date-time and birthday
/// fields by name, then when it was created, updated and (leads) closed. A value is the path.
pub fn date_paths(
    schema: &Schema,
    texts: &Texts,
    role: EntityRole,
    trigger_entity: Option<EntityType>,
) -> Vec<SelectOption> {
    let entity = role_entity(role, trigger_entity);
    let mut out: Vec<SelectOption> = pickers::fields(schema, entity, pickers::is_date_field)
        .into_iter()
        .filter_map(|o| {
            let id: i64 = o.value.parse().ok()?;
            Some(SelectOption::new(
                Path::Entity(role, EntityField::Custom(id)).to_string(),
                o.label,
            ))
        })
        .collect();
    let mut builtin = vec![EntityField::CreatedAt, EntityField::UpdatedAt];
    if entity == EntityType::Lead {
        builtin.push(EntityField::ClosedAt);
    }
    for f in builtin {
        let path = Path::Entity(role, f);
        out.push(SelectOption::new(
            path.to_string(),
            operand_label(&domain::rule::Operand::Path(path), schema, texts),
        ));
    }
    out
}

/// The first date field of the account, preferring birthdays (the yearly timer's usual field),
/// else the lead's creation date.
fn default_date_path(schema: &Schema, birthday_first: bool) -> Path {
    let role_of = |e: EntityType| match e {
        EntityType::Contact => EntityRole::Contact,
        EntityType::Company => EntityRole::Company,
        _ => EntityRole::Lead,
    };
    let birthday = schema
        .fields
        .iter()
        .find(|f| f.field_type == domain::snapshot::FieldType::Birthday);
    let any = schema
        .fields
        .iter()
        .find(|f| f.entity != EntityType::Task && pickers::is_date_field(f));
    let pick = if birthday_first {
        birthday.or(any)
    } else {
        any
    };
    pick.map_or(
        Path::Entity(EntityRole::Lead, EntityField::CreatedAt),
        |f| Path::Entity(role_of(f.entity), EntityField::Custom(f.id)),
    )
}

fn path_role(path: &Path) -> EntityRole {
    match path {
        Path::Entity(role, _) => *role,
        _ => EntityRole::Lead,
    }
}

/// The kind of a timer, as the mode select names it.
fn mode(timer: &Timer) -> &'static str {
    match timer {
        Timer::None => "none",
        Timer::After { .. } => "after",
        Timer::DateField { .. } => "date_field",
        Timer::YearlyFromField { .. } => "yearly",
    }
}

/// An action's timer.
#[function_component(TimerForm)]
pub fn timer_form(props: &TimerFormProps) -> Html {
    let ctx = use_builder();
    let timer = props.timer.clone();
    let at = props.pointer.clone();
    let on_change = props.on_change.clone();
    let trigger_entity = ctx.rule.trigger.entity_type();
    let modes: Vec<SelectOption> = ["none", "after", "date_field", "yearly"]
        .into_iter()
        .map(|m| SelectOption::new(m, ctx.t(&format!("tmr_mode_{m}"))))
        .collect();
    let schema = ctx.schema.clone();
    let on_mode = {
        let (on_change, timer) = (on_change.clone(), timer.clone());
        Callback::from(move |m: String| {
            if m == mode(&timer) {
                return;
            }
            let field = match &timer {
                Timer::DateField { field, .. } | Timer::YearlyFromField { field, .. } => *field,
                _ => default_date_path(&schema, m == "yearly"),
            };
            on_change.emit(match m.as_str() {
                "after" => Timer::After {
                    amount: 1,
                    unit: TimeUnit::Hours,
                },
                "date_field" => Timer::DateField {
                    field,
                    shift_days: 0,
                    at: None,
                },
                "yearly" => Timer::YearlyFromField { field, at: nine() },
                _ => Timer::None,
            })
        })
    };
    // A change of the timer's current kind.
    let edit = |f: fn(&mut Timer, &str)| {
        let (on_change, timer) = (on_change.clone(), timer.clone());
        Callback::from(move |v: String| {
            let mut t = timer.clone();
            f(&mut t, &v);
            on_change.emit(t);
        })
    };
    let err = |suffix: &str| ctx.error_at(&format!("{at}/{suffix}"));
    let body = match &timer {
        Timer::None => html! {},
        Timer::After { amount, unit } => html! {
            <>
                <TextInput class="rb-timer-amount" input_type="number" min="1" label={ctx.t("tmr_amount")}
                    value={amount.to_string()} error={err("amount")} hint={ctx.t("tmr_range_hint")}
                    on_change={edit(|t, v| if let Timer::After { amount, .. } = t { *amount = v.trim().parse().unwrap_or(0) })} />
                <Select label={ctx.t("tmr_unit")} options={unit_options(&ctx.texts)} lazy=true value={Some(unit_value(*unit).to_string())}
                    on_change={edit(|t, v| if let (Timer::After { unit, .. }, Some(u)) = (t, parse_unit(v)) { *unit = u })} />
            </>
        },
        Timer::DateField {
            field,
            shift_days,
            at: time,
        } => {
            let role = path_role(field);
            let own_time = time.is_none();
            html! {
                <>
                    { field_pickers(&ctx, role, *field, trigger_entity, err("field"), &timer, &on_change) }
                    <TextInput class="rb-timer-shift" input_type="number" label={ctx.t("tmr_shift_days")}
                        hint={ctx.t("tmr_shift_hint")} value={shift_days.to_string()} error={err("shift_days")}
                        on_change={edit(|t, v| if let Timer::DateField { shift_days, .. } = t { *shift_days = v.trim().parse().unwrap_or(0) })} />
                    <Checkbox label={ctx.t("tmr_own_time")} checked={own_time}
                        on_change={{
                            let (on_change, timer) = (on_change.clone(), timer.clone());
                            Callback::from(move |own: bool| {
                                let mut t = timer.clone();
                                if let Timer::DateField { at, .. } = &mut t {
                                    *at = if own { None } else { Some(nine()) };
                                }
                                on_change.emit(t);
                            })
                        }} />
                    if let Some(time) = time {
                        <TextInput input_type="time" label={ctx.t("tmr_at")} value={hhmm(*time)} error={err("at")}
                            on_change={edit(|t, v| if let (Timer::DateField { at, .. }, Some(n)) = (t, parse_time(v)) { *at = Some(n) })} />
                    }
                </>
            }
        }
        Timer::YearlyFromField { field, at: time } => {
            let role = path_role(field);
            html! {
                <>
                    { field_pickers(&ctx, role, *field, trigger_entity, err("field"), &timer, &on_change) }
                    <TextInput input_type="time" label={ctx.t("tmr_at")} value={hhmm(*time)} error={err("at")}
                        on_change={edit(|t, v| if let (Timer::YearlyFromField { at, .. }, Some(n)) = (t, parse_time(v)) { *at = n })} />
                </>
            }
        }
    };
    html! {
        <fieldset class={classes!("rb-timer", format!("rb-timer-{}", mode(&timer)))}>
            <legend class="rb-sr-only">{ ctx.t("tmr_legend") }</legend>
            <Select label={ctx.t("tmr_mode")} options={modes} lazy=true value={Some(mode(&timer).to_string())} on_change={on_mode}
                error={ctx.error_at(&at)} />
            { body }
        </fieldset>
    }
}

/// "Whose date" and "Date field" of a date or yearly timer.
fn field_pickers(
    ctx: &super::BuilderCtx,
    role: EntityRole,
    field: Path,
    trigger_entity: Option<EntityType>,
    error: Option<String>,
    timer: &Timer,
    on_change: &Callback<Timer>,
) -> Html {
    let set_field = |timer: &Timer, path: Path| -> Timer {
        let mut t = timer.clone();
        if let Timer::DateField { field, .. } | Timer::YearlyFromField { field, .. } = &mut t {
            *field = path;
        }
        t
    };
    let on_role = {
        let (on_change, timer, schema, texts) = (
            on_change.clone(),
            timer.clone(),
            ctx.schema.clone(),
            ctx.texts.clone(),
        );
        Callback::from(move |v: String| {
            let Some(role) = pickers::parse_role(&v) else {
                return;
            };
            // The new entity's first date value, so the timer never points across entities.
            let first = date_paths(&schema, &texts, role, trigger_entity)
                .first()
                .and_then(|o| o.value.parse::<Path>().ok())
                .unwrap_or(Path::Entity(role, EntityField::CreatedAt));
            on_change.emit(set_field(&timer, first));
        })
    };
    let on_field = {
        let (on_change, timer) = (on_change.clone(), timer.clone());
        Callback::from(move |v: String| {
            if let Ok(path) = v.parse::<Path>() {
                on_change.emit(set_field(&timer, path));
            }
        })
    };
    let mut options = date_paths(&ctx.schema, &ctx.texts, role, trigger_entity);
    let value = field.to_string();
    if !options.iter().any(|o| o.value == value) {
        // A field the account no longer has (or not a date) stays visible, with its problem.
        options.insert(
            0,
            SelectOption::new(
                value.clone(),
                operand_label(&domain::rule::Operand::Path(field), &ctx.schema, &ctx.texts),
            ),
        );
    }
    html! {
        <>
            <Select label={ctx.t("tmr_whose")} options={pickers::roles(&ctx.texts)}
                value={Some(pickers::role_value(role))} on_change={on_role} />
            <Select label={ctx.t("tmr_field")} {options} value={Some(value)} on_change={on_field} {error} />
        </>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::schema::SchemaField;
    use domain::snapshot::FieldType;

    fn field(entity: EntityType, id: i64, t: FieldType) -> SchemaField {
        SchemaField {
            entity,
            id,
            name: format!("F{id}"),
            field_type: t,
            kommo_type: String::new(),
            code: None,
            sort: id,
            enums: Vec::new(),
        }
    }

    #[test]
    fn a_timer_waits_for_the_date_fields_of_its_own_entity() {
        let schema = Schema {
            fields: vec![
                field(EntityType::Lead, 1, FieldType::Text),
                field(EntityType::Lead, 2, FieldType::Date),
                field(EntityType::Contact, 3, FieldType::Birthday),
            ],
            ..Schema::default()
        };
        let texts = Texts::default();
        let values: Vec<String> = date_paths(&schema, &texts, EntityRole::Lead, None)
            .into_iter()
            .map(|o| o.value)
            .collect();
        assert_eq!(
            values,
            vec![
                "lead.cf(2)",
                "lead.created_at",
                "lead.updated_at",
                "lead.closed_at"
            ]
        );
        let contact: Vec<String> = date_paths(&schema, &texts, EntityRole::Contact, None)
            .into_iter()
            .map(|o| o.value)
            .collect();
        assert_eq!(
            contact,
            vec!["contact.cf(3)", "contact.created_at", "contact.updated_at"]
        );
        assert_eq!(
            default_date_path(&schema, true).to_string(),
            "contact.cf(3)"
        );
        assert_eq!(default_date_path(&schema, false).to_string(), "lead.cf(2)");
        assert_eq!(
            default_date_path(&Schema::default(), true).to_string(),
            "lead.created_at"
        );
    }

    #[test]
    fn units_and_times_read_back_what_the_controls_show() {
        for o in unit_options(&Texts::default()) {
            let unit = parse_unit(&o.value).expect("unit");
            assert_eq!(unit_value(unit), o.value);
        }
        assert_eq!(parse_unit("weeks"), None);
        let t = parse_time("10:30").expect("time");
        assert_eq!(hhmm(t), "10:30");
        assert_eq!(parse_time("10:30:15").map(hhmm), Some("10:30".into()));
        assert_eq!(parse_time("25:00"), None);
    }
}
