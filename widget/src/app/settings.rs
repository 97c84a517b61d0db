//! The Settings tab: the account's working hours, which the condition "inside working hours / day
//! off" reads (`GET/PUT /api/v1/account/settings`; Kommo's API does not share them). Each weekday
//! is a working day with one or more spans of hours, or a day off; times are in the account's
//! timezone (from its schema). Administrators edit, members read. The draft lives in the page
//! (see [`HoursDraft`]), so leaving the tab does not lose it; leaving the page with unsaved changes
//! asks first.

use chrono::{NaiveTime, Weekday};
use domain::api::{AccountSettings, FieldError};
use domain::snapshot::{DayInterval, WeeklyHours};
use yew::prelude::*;

use super::PageProps;
use crate::{
    components::controls::{Button, ButtonKind, Checkbox, TextInput},
    components::ErrorNotice,
    hooks::{use_me, use_remote},
    services,
    state::{Remote, UiError},
};

/// The weekdays in the order the form shows them.
pub const DAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// One span of hours as typed (`HH:MM`), kept as text so a half-typed time stays at its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanForm {
    /// The start.
    pub from: String,
    /// The end; not after the start: the span runs past midnight.
    pub to: String,
}

impl SpanForm {
    fn new(from: &str, to: &str) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
        }
    }
}

/// One weekday of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayForm {
    /// A working day; a day off keeps its spans (hidden), so ticking it again brings them back.
    pub working: bool,
    /// Its spans of hours.
    pub spans: Vec<SpanForm>,
}

/// The working-hours form: [`DAYS`] in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekForm {
    /// One per weekday, Monday first.
    pub days: Vec<DayForm>,
}

/// Which time of a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The start.
    From,
    /// The end.
    To,
}

/// A problem at a field of the form: the weekday's index, the span's index, which time, and
/// the text key of the sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Index into [`DAYS`].
    pub day: usize,
    /// Index into the day's spans.
    pub span: usize,
    /// Which time.
    pub end: End,
    /// The text key.
    pub key: &'static str,
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .ok()
}

fn minutes(t: NaiveTime) -> u32 {
    use chrono::Timelike;
    t.hour() * 60 + t.minute()
}

fn default_span() -> SpanForm {
    SpanForm::new("09:00", "18:00")
}

impl WeekForm {
    /// The form of saved hours: a weekday without hours is a day off (with 09:00–18:00 ready
    /// should it be ticked).
    pub fn from_hours(hours: &WeeklyHours) -> Self {
        let days = DAYS
            .iter()
            .map(|day| {
                let spans: Vec<SpanForm> = hours
                    .intervals
                    .iter()
                    .filter(|i| i.day == *day)
                    .map(|i| SpanForm {
                        from: i.from.format("%H:%M").to_string(),
                        to: i.to.format("%H:%M").to_string(),
                    })
                    .collect();
                DayForm {
                    working: !spans.is_empty(),
                    spans: if spans.is_empty() {
                        vec![default_span()]
                    } else {
                        spans
                    },
                }
            })
            .collect();
        Self { days }
    }

    /// The spans that will be saved, in the order of the request body's `intervals`: working
    /// days in weekday order, each day's spans in order.
    fn saved_spans(&self) -> impl Iterator<Item = (usize, usize, &SpanForm)> {
        self.days
            .iter()
            .enumerate()
            .filter(|(_, d)| d.working)
            .flat_map(|(di, d)| d.spans.iter().enumerate().map(move |(si, s)| (di, si, s)))
    }

    /// The problems at the fields of working days: a time that is not `HH:MM`, a span that ends
    /// when it starts, a span that overlaps an earlier one of the same day.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (di, day) in self.days.iter().enumerate().filter(|(_, d)| d.working) {
            // Each span's minutes on its own day: past midnight it covers the rest of the day.
            let mut seen: Vec<(u32, u32)> = Vec::new();
            for (si, span) in day.spans.iter().enumerate() {
                let at = |end, key| Problem {
                    day: di,
                    span: si,
                    end,
                    key,
                };
                let (from, to) = (parse_time(&span.from), parse_time(&span.to));
                if from.is_none() {
                    problems.push(at(End::From, "hours_time_missing"));
                }
                if to.is_none() {
                    problems.push(at(End::To, "hours_time_missing"));
                }
                let (Some(from), Some(to)) = (from, to) else {
                    continue;
                };
                if from == to {
                    problems.push(at(End::To, "hours_same_time"));
                    continue;
                }
                let range = (minutes(from), if from < to { minutes(to) } else { 24 * 60 });
                if seen.iter().any(|(a, b)| range.0 < *b && *a < range.1) {
                    problems.push(at(End::From, "hours_overlap"));
                }
                seen.push(range);
            }
        }
        problems
    }

    /// Whether a working day's span runs past midnight (its end is before its start).
    pub fn overnight(&self, day: usize, span: usize) -> bool {
        let Some(s) = self.days.get(day).and_then(|d| d.spans.get(span)) else {
            return false;
        };
        matches!((parse_time(&s.from), parse_time(&s.to)), (Some(f), Some(t)) if t < f)
    }

    /// The hours to save, or `None` while a field has a problem.
    pub fn to_hours(&self) -> Option<WeeklyHours> {
        if !self.problems().is_empty() {
            return None;
        }
        let intervals = self
            .saved_spans()
            .map(|(di, _, s)| {
                Some(DayInterval {
                    day: DAYS[di],
                    from: parse_time(&s.from)?,
                    to: parse_time(&s.to)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(WeeklyHours { intervals })
    }

    /// The field a server's pointer (`/working_hours/intervals/{i}/from|to`) names, through the
    /// order [`WeekForm::to_hours`] sent the spans in.
    pub fn field_of(&self, pointer: &str) -> Option<(usize, usize, End)> {
        let rest = pointer.strip_prefix("/working_hours/intervals/")?;
        let mut parts = rest.split('/');
        let index: usize = parts.next()?.parse().ok()?;
        let end = match parts.next() {
            Some("from") => End::From,
            _ => End::To,
        };
        let (di, si, _) = self.saved_spans().nth(index)?;
        Some((di, si, end))
    }
}

/// The working hours being edited and those last saved; kept by the page so that switching tabs
/// keeps unsaved changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursDraft {
    /// As saved on the backend.
    pub saved: WeekForm,
    /// As edited.
    pub form: WeekForm,
}

impl HoursDraft {
    /// A draft of saved hours, unchanged.
    pub fn of(hours: &WeeklyHours) -> Self {
        let form = WeekForm::from_hours(hours);
        Self {
            saved: form.clone(),
            form,
        }
    }

    /// Whether the form differs from what is saved.
    pub fn dirty(&self) -> bool {
        self.form != self.saved
    }
}

/// Props of [`Settings`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct SettingsProps {
    /// The page's props.
    pub page: PageProps,
    /// The draft, kept by the page.
    pub draft: UseStateHandle<Option<HoursDraft>>,
}

/// Where the last save stands.
#[derive(Debug, Clone, PartialEq)]
enum Saving {
    Idle,
    Busy,
    Done,
    /// Refused or failed; a 422's pointers are shown at their fields.
    Failed(UiError),
    /// The form has problems; nothing was sent.
    Blocked,
}

fn day_key(d: Weekday) -> String {
    format!("day_{}", d.to_string().to_lowercase())
}

/// The Settings tab.
#[function_component(Settings)]
pub fn settings(props: &SettingsProps) -> Html {
    let page = &props.page;
    let t = &page.texts;
    let me = use_me(&page.backend);
    let loaded = use_remote(&page.backend, (), |b, ()| async move {
        services::account_settings(&b).await
    });
    let schema = use_remote(&page.backend, (), |b, ()| async move {
        services::schema(&b).await
    });
    let saving = use_state(|| Saving::Idle);
    let draft = props.draft.clone();

    // What the backend holds becomes the draft, unless the admin has unsaved changes.
    {
        let draft = draft.clone();
        use_effect_with((*loaded.state).clone(), move |state| {
            if let Remote::Ready(s) = state {
                if !(*draft).as_ref().is_some_and(HoursDraft::dirty) {
                    draft.set(Some(HoursDraft::of(&s.working_hours)));
                }
            }
        });
    }
    // Leaving the page with unsaved changes asks first.
    {
        let dirty = (*draft).as_ref().is_some_and(HoursDraft::dirty);
        use_effect_with(dirty, move |dirty| {
            let listener = dirty.then(|| {
                gloo::events::EventListener::new(&gloo::utils::window(), "beforeunload", |e| {
                    e.prevent_default();
                    if let Some(e) = wasm_bindgen::JsCast::dyn_ref::<web_sys::BeforeUnloadEvent>(e)
                    {
                        e.set_return_value("unsaved");
                    }
                })
            });
            move || drop(listener)
        });
    }

    let timezone = match &*schema.state {
        Remote::Ready(s) if !s.timezone.is_empty() => s.timezone.clone(),
        Remote::Ready(_) | Remote::Failed(_) => t.get("hours_timezone_unknown").to_string(),
        Remote::Loading => t.get("loading").to_string(),
    };
    let head = html! {
        <>
            <h3>{ t.get("hours_title") }</h3>
            <p class="rb-hint">{ t.get("hours_intro") }</p>
            <p class="rb-hours-timezone" data-testid="hours-timezone">
                { t.get("hours_timezone") }{ " " }<strong>{ timezone }</strong>
            </p>
        </>
    };
    let Some(current) = (*draft).clone() else {
        let body = match &*loaded.state {
            Remote::Failed(e) => {
                html! { <ErrorNotice error={e.clone()} texts={page.texts.clone()} /> }
            }
            _ => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        };
        return html! { <section class="rb-section rb-settings-tab">{ head }{ body }</section> };
    };
    let is_admin = matches!(&*me, Remote::Ready(m) if m.is_admin);
    let form = current.form.clone();
    let problems = form.problems();
    let server_errors: Vec<FieldError> = match &*saving {
        Saving::Failed(UiError::Invalid { errors, .. }) => errors.clone(),
        _ => Vec::new(),
    };
    let error_at = |day: usize, span: usize, end: End| -> Option<String> {
        problems
            .iter()
            .find(|p| p.day == day && p.span == span && p.end == end)
            .map(|p| t.get(p.key).to_string())
            .or_else(|| {
                server_errors
                    .iter()
                    .find(|e| form.field_of(&e.path) == Some((day, span, end)))
                    .map(|e| e.message.clone())
            })
    };
    // A change of the form: the draft moves on and the last save's outcome no longer holds.
    let edit = |f: std::rc::Rc<dyn Fn(&mut WeekForm)>| {
        let (draft, saving) = (draft.clone(), saving.clone());
        Callback::from(move |()| {
            if let Some(mut d) = (*draft).clone() {
                f(&mut d.form);
                draft.set(Some(d));
                saving.set(Saving::Idle);
            }
        })
    };
    let days = DAYS.iter().enumerate().map(|(di, day)| {
        let name = t.get(&day_key(*day)).to_string();
        let d = &form.days[di];
        let on_working = {
            let (draft, saving) = (draft.clone(), saving.clone());
            Callback::from(move |working: bool| {
                if let Some(mut dr) = (*draft).clone() {
                    dr.form.days[di].working = working;
                    draft.set(Some(dr));
                    saving.set(Saving::Idle);
                }
            })
        };
        let spans = d.spans.iter().enumerate().map(|(si, s)| {
            let n = if d.spans.len() > 1 { format!(" ({})", si + 1) } else { String::new() };
            let set_time = |end: End| {
                let (draft, saving) = (draft.clone(), saving.clone());
                Callback::from(move |v: String| {
                    if let Some(mut dr) = (*draft).clone() {
                        let span = &mut dr.form.days[di].spans[si];
                        match end {
                            End::From => span.from = v,
                            End::To => span.to = v,
                        }
                        draft.set(Some(dr));
                        saving.set(Saving::Idle);
                    }
                })
            };
            let remove = edit(std::rc::Rc::new(move |f: &mut WeekForm| {
                f.days[di].spans.remove(si);
            }));
            let overnight = form.overnight(di, si).then(|| t.get("hours_overnight").to_string());
            html! {
                <li class="rb-row rb-interval">
                    <TextInput input_type="time" label={format!("{name}, {}{n}", t.get("builder_from").to_lowercase())} hide_label=true
                        value={s.from.clone()} error={error_at(di, si, End::From)} on_change={set_time(End::From)} />
                    <span aria-hidden="true" class="rb-hours-dash">{ "–" }</span>
                    <TextInput input_type="time" label={format!("{name}, {}{n}", t.get("builder_to").to_lowercase())} hide_label=true
                        value={s.to.clone()} error={error_at(di, si, End::To)} hint={overnight} on_change={set_time(End::To)} />
                    if d.spans.len() > 1 {
                        <Button kind={ButtonKind::Icon} icon="✕" label={format!("{name}: {}{n}", t.get("builder_remove_interval").to_lowercase())}
                            onclick={remove.reform(|_| ())} />
                    }
                </li>
            }
        });
        let add = edit(std::rc::Rc::new(move |f: &mut WeekForm| {
            let spans = &mut f.days[di].spans;
            // The next span starts where the last one ends, an hour long.
            let next = spans
                .last()
                .and_then(|s| parse_time(&s.to))
                .map(|to| {
                    let end = to + chrono::Duration::hours(1);
                    SpanForm::new(&to.format("%H:%M").to_string(), &end.format("%H:%M").to_string())
                })
                .unwrap_or_else(default_span);
            spans.push(next);
        }));
        html! {
            <li class={classes!("rb-hours-day", (!d.working).then_some("rb-hours-off"))} data-testid={format!("hours-{}", day.to_string().to_lowercase())}>
                <div class="rb-hours-name">
                    <Checkbox label={format!("{name}: {}", t.get("hours_working_day"))} checked={d.working} on_change={on_working} />
                </div>
                if d.working {
                    <ul class="rb-intervals">{ for spans }</ul>
                    <Button label={format!("{} ({name})", t.get("builder_add_interval"))} onclick={add.reform(|_| ())} />
                } else {
                    <p class="rb-hint rb-hours-dayoff">{ t.get("hours_day_off") }</p>
                }
            </li>
        }
    });

    let save = {
        let (draft, saving, backend) = (draft.clone(), saving.clone(), page.backend.clone());
        Callback::from(move |_: MouseEvent| {
            let Some(current) = (*draft).clone() else {
                return;
            };
            let Some(hours) = current.form.to_hours() else {
                saving.set(Saving::Blocked);
                return;
            };
            let (draft, saving, backend) = (draft.clone(), saving.clone(), backend.clone());
            saving.set(Saving::Busy);
            wasm_bindgen_futures::spawn_local(async move {
                let body = AccountSettings {
                    working_hours: hours,
                };
                match services::save_account_settings(&backend, &body).await {
                    Ok(kept) => {
                        draft.set(Some(HoursDraft::of(&kept.working_hours)));
                        saving.set(Saving::Done);
                    }
                    Err(e) => saving.set(Saving::Failed(e)),
                }
            });
        })
    };
    let discard = {
        let (draft, saving) = (draft.clone(), saving.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(d) = (*draft).clone() {
                draft.set(Some(HoursDraft {
                    form: d.saved.clone(),
                    ..d
                }));
                saving.set(Saving::Idle);
            }
        })
    };
    let dirty = current.dirty();
    let status = match &*saving {
        Saving::Busy => html! { <span>{ t.get("hours_saving") }</span> },
        Saving::Done => html! { <span class="rb-saved">{ t.get("hours_saved") }</span> },
        Saving::Blocked => {
            html! { <span class="rb-save-blocked">{ t.get("hours_fix_fields") }</span> }
        }
        Saving::Failed(UiError::Invalid { .. }) => {
            html! { <span class="rb-save-blocked">{ t.get("hours_fix_fields") }</span> }
        }
        Saving::Idle | Saving::Failed(_) if dirty => {
            html! { <span class="rb-unsaved">{ t.get("hours_unsaved") }</span> }
        }
        _ => html! {},
    };
    // A refusal that names no field of the form (403, 5xx, unreachable) is shown above it.
    let general_error = match &*saving {
        Saving::Failed(UiError::Invalid { errors, .. })
            if errors.iter().all(|e| form.field_of(&e.path).is_some()) =>
        {
            None
        }
        Saving::Failed(e) => Some(e.clone()),
        _ => None,
    };
    let reason = (!is_admin).then(|| t.get("hours_admins_only").to_string());
    html! {
        <section class="rb-section rb-settings-tab">
            { head }
            if let Some(r) = &reason { <p class="rb-hint rb-admins-only" data-testid="hours-admins-only">{ r.clone() }</p> }
            if let Some(e) = general_error { <ErrorNotice error={e} texts={page.texts.clone()} /> }
            <fieldset class="rb-hours" disabled={!is_admin} aria-label={t.get("hours_title").to_string()}>
                <ul class="rb-hours-days">{ for days }</ul>
            </fieldset>
            <div class="rb-row rb-hours-actions">
                <Button kind={ButtonKind::Primary} label={t.get("hours_save").to_string()}
                    disabled={!is_admin || !dirty || *saving == Saving::Busy} title={reason.clone()} onclick={save} />
                <Button label={t.get("hours_discard").to_string()} disabled={!is_admin || !dirty} title={reason} onclick={discard} />
                <p class="rb-hours-status" role="status" aria-live="polite" data-testid="hours-status">{ status }</p>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("a time")
    }

    fn weekdays_nine_to_six() -> WeeklyHours {
        WeeklyHours {
            intervals: DAYS[..5]
                .iter()
                .map(|d| DayInterval {
                    day: *d,
                    from: t(9, 0),
                    to: t(18, 0),
                })
                .collect(),
        }
    }

    #[test]
    fn saved_hours_become_the_form_and_back_unchanged() {
        let hours = weekdays_nine_to_six();
        let form = WeekForm::from_hours(&hours);
        assert!(form.days[..5].iter().all(|d| d.working));
        assert!(!form.days[5].working && !form.days[6].working);
        assert_eq!(form.days[0].spans, vec![SpanForm::new("09:00", "18:00")]);
        assert_eq!(form.to_hours(), Some(hours));
    }

    #[test]
    fn no_saved_hours_is_a_week_of_days_off_that_saves_as_no_intervals() {
        let form = WeekForm::from_hours(&WeeklyHours::default());
        assert!(form.days.iter().all(|d| !d.working));
        assert_eq!(form.to_hours(), Some(WeeklyHours::default()));
    }

    #[test]
    fn a_day_off_keeps_its_spans_but_saves_none() {
        let mut form = WeekForm::from_hours(&weekdays_nine_to_six());
        form.days[4].working = false;
        let hours = form.to_hours().expect("valid");
        assert_eq!(hours.intervals.len(), 4);
        assert!(hours.intervals.iter().all(|i| i.day != Weekday::Fri));
        form.days[4].working = true;
        assert_eq!(form.to_hours(), Some(weekdays_nine_to_six()));
    }

    #[test]
    fn problems_are_at_their_fields_and_block_saving() {
        let mut form = WeekForm::from_hours(&weekdays_nine_to_six());
        form.days[0].spans[0].to = "09:00".into();
        form.days[1].spans[0].from = String::new();
        form.days[2].spans.push(SpanForm::new("17:00", "19:00"));
        // A day off's spans are not checked.
        form.days[5].spans[0].to = "nonsense".into();
        assert_eq!(
            form.problems(),
            vec![
                Problem {
                    day: 0,
                    span: 0,
                    end: End::To,
                    key: "hours_same_time"
                },
                Problem {
                    day: 1,
                    span: 0,
                    end: End::From,
                    key: "hours_time_missing"
                },
                Problem {
                    day: 2,
                    span: 1,
                    end: End::From,
                    key: "hours_overlap"
                },
            ]
        );
        assert_eq!(form.to_hours(), None);
    }

    #[test]
    fn a_span_that_ends_before_it_starts_runs_past_midnight() {
        let mut form = WeekForm::from_hours(&WeeklyHours::default());
        form.days[4].working = true;
        form.days[4].spans[0] = SpanForm::new("22:00", "06:00");
        assert!(form.overnight(4, 0));
        assert!(!form.overnight(0, 0));
        let hours = form.to_hours().expect("valid");
        assert!(hours.contains(Weekday::Sat, t(5, 0)));
        assert!(!hours.contains(Weekday::Sat, t(7, 0)));
    }

    #[test]
    fn a_servers_pointer_names_the_field_through_the_order_the_spans_were_sent_in() {
        let mut form = WeekForm::from_hours(&weekdays_nine_to_six());
        form.days[0].working = false;
        form.days[1].spans.push(SpanForm::new("19:00", "20:00"));
        // Sent: Tue 09–18, Tue 19–20, Wed, Thu, Fri.
        assert_eq!(
            form.field_of("/working_hours/intervals/1/to"),
            Some((1, 1, End::To))
        );
        assert_eq!(
            form.field_of("/working_hours/intervals/2/from"),
            Some((2, 0, End::From))
        );
        assert_eq!(form.field_of("/working_hours/intervals/9/to"), None);
        assert_eq!(form.field_of("/working_hours/intervals"), None);
    }

    #[test]
    fn a_draft_is_dirty_until_saved_or_undone() {
        let mut draft = HoursDraft::of(&weekdays_nine_to_six());
        assert!(!draft.dirty());
        draft.form.days[6].working = true;
        assert!(draft.dirty());
        draft.form = draft.saved.clone();
        assert!(!draft.dirty());
    }
}
