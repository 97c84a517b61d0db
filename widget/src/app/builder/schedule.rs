//! Run frequency ("no more than once per N s per entity", at least 5 s; "once") and active hours
//! (the weekdays and hours, in the account's timezone, the rule may run in).

use chrono::{NaiveTime, Weekday};
use domain::rule::{Frequency, MIN_RUN_INTERVAL_SECONDS};
use domain::snapshot::{DayInterval, WeeklyHours};
use yew::prelude::*;

use super::use_builder;
use crate::components::controls::{Button, ButtonKind, Checkbox, Select, SelectOption, TextInput};
use crate::editor::EditorAction;

/// Props of [`FrequencyForm`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct FrequencyFormProps {
    /// The rule's frequency.
    pub frequency: Frequency,
}

/// Run frequency.
#[function_component(FrequencyForm)]
pub fn frequency_form(props: &FrequencyFormProps) -> Html {
    let ctx = use_builder();
    let f = props.frequency;
    let interval = ctx.on(move |v: String| {
        EditorAction::SetFrequency(Frequency {
            min_interval_seconds: v.trim().parse().unwrap_or(0),
            ..f
        })
    });
    let once = ctx.on(move |once_per_entity| {
        EditorAction::SetFrequency(Frequency {
            once_per_entity,
            ..f
        })
    });
    html! {
        <div class="rb-row">
            <TextInput input_type="number" min={MIN_RUN_INTERVAL_SECONDS.to_string()} label={ctx.t("builder_interval")}
                hint={ctx.t("builder_interval_hint")} value={f.min_interval_seconds.to_string()}
                error={ctx.error_at("/frequency/min_interval_seconds").or_else(|| ctx.error_at("/frequency"))}
                on_change={interval} />
            <Checkbox label={ctx.t("builder_once")} checked={f.once_per_entity} on_change={once} />
        </div>
    }
}

/// Props of [`ActiveHoursForm`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ActiveHoursFormProps {
    /// The rule's active hours; `None`: at any time.
    pub hours: Option<WeeklyHours>,
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

/// A change of one interval by a control's value.
type EditInterval = std::rc::Rc<dyn Fn(&mut DayInterval, &str)>;

fn day_key(d: Weekday) -> String {
    format!("day_{}", d.to_string().to_lowercase())
}

fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

fn working_week() -> WeeklyHours {
    let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN);
    let six = NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(NaiveTime::MIN);
    WeeklyHours {
        intervals: DAYS[..5]
            .iter()
            .map(|d| DayInterval {
                day: *d,
                from: nine,
                to: six,
            })
            .collect(),
    }
}

/// Active hours: off (any time), or a list of weekday intervals.
#[function_component(ActiveHoursForm)]
pub fn active_hours_form(props: &ActiveHoursFormProps) -> Html {
    let ctx = use_builder();
    let toggle = ctx.on(|on: bool| EditorAction::SetActiveHours(on.then(working_week)));
    let Some(hours) = props.hours.clone() else {
        return html! { <Checkbox label={ctx.t("builder_active_hours")} checked=false on_change={toggle} /> };
    };
    let day_options: Vec<SelectOption> = DAYS
        .iter()
        .map(|d| SelectOption::new(d.to_string(), ctx.t(&day_key(*d))))
        .collect();
    let rows = hours.intervals.iter().enumerate().map(|(i, iv)| {
        let set = |f: EditInterval| {
            let hours = hours.clone();
            ctx.on(move |v: String| {
                let mut h = hours.clone();
                if let Some(iv) = h.intervals.get_mut(i) {
                    f(iv, &v);
                }
                EditorAction::SetActiveHours(Some(h))
            })
        };
        let on_day = set(std::rc::Rc::new(|iv, v| {
            if let Ok(d) = v.parse() {
                iv.day = d;
            }
        }));
        let on_from = set(std::rc::Rc::new(|iv, v| {
            if let Ok(t) = NaiveTime::parse_from_str(v, "%H:%M") {
                iv.from = t;
            }
        }));
        let on_to = set(std::rc::Rc::new(|iv, v| {
            if let Ok(t) = NaiveTime::parse_from_str(v, "%H:%M") {
                iv.to = t;
            }
        }));
        let remove = {
            let hours = hours.clone();
            ctx.on(move |_| {
                let mut h = hours.clone();
                h.intervals.remove(i);
                EditorAction::SetActiveHours(Some(h))
            })
        };
        let n = i + 1;
        html! {
            <li class="rb-row rb-interval">
                <Select label={format!("{} {n}", ctx.t("builder_day"))} hide_label=true options={day_options.clone()}
                    value={Some(iv.day.to_string())} on_change={on_day} />
                <TextInput input_type="time" label={format!("{} {n}", ctx.t("builder_from"))} hide_label=true value={hhmm(iv.from)} on_change={on_from} />
                <span aria-hidden="true">{ "–" }</span>
                <TextInput input_type="time" label={format!("{} {n}", ctx.t("builder_to"))} hide_label=true value={hhmm(iv.to)} on_change={on_to} />
                <Button kind={ButtonKind::Icon} icon="✕" label={format!("{} {n}", ctx.t("builder_remove_interval"))} onclick={remove} />
            </li>
        }
    });
    let add = {
        let hours = hours.clone();
        ctx.on(move |_| {
            let mut h = hours.clone();
            let last = h
                .intervals
                .last()
                .cloned()
                .unwrap_or_else(|| working_week().intervals[0].clone());
            h.intervals.push(DayInterval {
                day: last.day.succ(),
                ..last
            });
            EditorAction::SetActiveHours(Some(h))
        })
    };
    html! {
        <div class="rb-active-hours">
            <Checkbox label={ctx.t("builder_active_hours")} checked=true on_change={toggle} />
            <p class="rb-hint">{ ctx.t("builder_active_hours_hint") }</p>
            <ul class="rb-intervals">{ for rows }</ul>
            <Button label={ctx.t("builder_add_interval")} onclick={add} />
            if let Some(e) = ctx.error_at("/active_hours") { <em class="rb-field-error">{ e }</em> }
        </div>
    }
}
