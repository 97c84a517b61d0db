//! The Statistics tab: the queue (work due now, timers waiting apart), operations this month against
//! the previous month with a small chart of operations per day, errors, dead jobs with retry, and
//! each rule's runs, fires and errors.

use domain::api::{AccountStats, DayUsage, JobInfo, RuleStats};
use yew::prelude::*;

use super::PageProps;
use crate::{
    components::controls::{Button, ButtonKind},
    components::ErrorNotice,
    hooks::use_remote,
    services,
    state::{Remote, UiError},
};

/// The bars of the chart: (x, y, width, height, day, operations) in a 100-high box, one bar per day.
pub fn bars(days: &[DayUsage], width: f64) -> Vec<(f64, f64, f64, f64, String, i64)> {
    let max = days.iter().map(|d| d.operations).max().unwrap_or(0).max(1) as f64;
    let step = width / days.len().max(1) as f64;
    days.iter()
        .enumerate()
        .map(|(i, d)| {
            let h =
                (d.operations as f64 / max * 90.0).max(if d.operations > 0 { 1.0 } else { 0.0 });
            (
                i as f64 * step + 1.0,
                100.0 - h,
                (step - 2.0).max(1.0),
                h,
                d.day.clone(),
                d.operations,
            )
        })
        .collect()
}

/// The Statistics tab.
#[function_component(Statistics)]
pub fn statistics(props: &PageProps) -> Html {
    let t = &props.texts;
    let stats = use_remote(&props.backend, (), |b, ()| async move {
        services::request::<AccountStats>(&b, "GET", "/api/v1/account/stats", None).await
    });
    let rules = use_remote(&props.backend, (), |b, ()| async move {
        services::request::<Vec<RuleStats>>(&b, "GET", "/api/v1/rules/stats", None).await
    });
    let dead = use_remote(&props.backend, (), |b, ()| async move {
        services::request::<Vec<JobInfo>>(&b, "GET", "/api/v1/jobs/dead", None).await
    });
    let error = use_state(|| None::<UiError>);
    let summary = match &*stats.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(s) => {
            let idle = s.operations_by_day.iter().all(|d| d.operations == 0);
            let chart = bars(&s.operations_by_day, 600.0);
            html! {
                <>
                <dl class="rb-stats">
                    <div><dt>{ t.get("stats_queue") }</dt><dd>{ s.queue_length }</dd></div>
                    <div><dt>{ t.get("stats_delayed") }</dt><dd>{ s.delayed_jobs }</dd></div>
                    <div><dt>{ format!("{} ({})", t.get("stats_operations"), s.month) }</dt><dd>{ s.operations_this_month }</dd></div>
                    <div><dt>{ format!("{} ({})", t.get("stats_operations"), s.previous_month) }</dt><dd>{ s.operations_previous_month }</dd></div>
                    <div><dt>{ t.get("stats_errors") }</dt><dd class={classes!((s.errors_this_month > 0).then_some("rb-fail"))}>{ s.errors_this_month }</dd></div>
                    <div><dt>{ t.get("stats_dead") }</dt><dd>{ s.dead_jobs }</dd></div>
                </dl>
                <figure class="rb-chart">
                    <svg viewBox="0 0 600 100" preserveAspectRatio="none" role="img" aria-label={t.get("stats_chart").to_string()} width="100%" height="120">
                        { for chart.into_iter().map(|(x, y, w, h, day, ops)| html! {
                            <rect x={x.to_string()} y={y.to_string()} width={w.to_string()} height={h.to_string()} class="rb-bar">
                                <title>{ format!("{day}: {ops}") }</title>
                            </rect>
                        }) }
                    </svg>
                    <figcaption class="rb-hint">{ t.get("stats_chart") }</figcaption>
                    if idle { <p class="rb-empty">{ t.get("stats_chart_empty") }</p> }
                </figure>
                </>
            }
        }
    };
    let per_rule = match &*rules.state {
        Remote::Ready(list) if list.is_empty() => {
            html! { <p class="rb-empty">{ t.get("stats_no_runs") }</p> }
        }
        Remote::Ready(list) => html! {
            <table class="rb-table">
                <thead><tr><th>{ t.get("rule_name") }</th><th>{ t.get("stats_runs") }</th><th>{ t.get("stats_fires") }</th><th>{ t.get("stats_errors") }</th><th>{ t.get("stats_last_run") }</th></tr></thead>
                <tbody>{ for list.iter().map(|r| html! {
                    <tr><td>{ r.name.clone() }</td><td>{ r.runs }</td><td>{ r.fires }</td>
                        <td class={classes!((r.errors > 0).then_some("rb-fail"))}>{ r.errors }</td>
                        <td>{ r.last_run_at.map(super::format_millis).unwrap_or_default() }</td></tr>
                }) }</tbody>
            </table>
        },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
    };
    let dead_jobs = match &*dead.state {
        Remote::Ready(list) if list.is_empty() => {
            html! { <p class="rb-empty">{ t.get("stats_no_dead") }</p> }
        }
        Remote::Ready(list) => html! {
            <ul class="rb-jobs">{ for list.iter().map(|j| {
                let retry = {
                    let (backend, reload, reload_stats, error, id) =
                        (props.backend.clone(), dead.reload.clone(), stats.reload.clone(), error.clone(), j.id);
                    Callback::from(move |_| {
                        let (backend, reload, reload_stats, error) =
                            (backend.clone(), reload.clone(), reload_stats.clone(), error.clone());
                        wasm_bindgen_futures::spawn_local(async move {
                            let path = format!("/api/v1/jobs/{id}/retry");
                            match services::request::<serde_json::Value>(&backend, "POST", &path, None).await {
                                Ok(_) => { reload.emit(()); reload_stats.emit(()); }
                                Err(e) => error.set(Some(e)),
                            }
                        });
                    })
                };
                html! {
                    <li class="rb-job">
                        <span>{ format!("#{} {} · {}", j.id, j.kind.replace('_', " "), j.last_error.clone().unwrap_or_default()) }</span>
                        <Button kind={ButtonKind::Normal} label={format!("{} #{}", t.get("stats_retry"), j.id)} onclick={retry} />
                    </li>
                }
            }) }</ul>
        },
        // Members may not see dead jobs; the rest of the tab still helps them.
        Remote::Failed(UiError::Forbidden { .. }) => html! {},
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
    };
    html! {
        <div class="rb-statistics-tab">
            if let Some(e) = (*error).clone() { <ErrorNotice error={e} texts={props.texts.clone()} /> }
            <section class="rb-section"><h3>{ t.get("stats_account") }</h3>{ summary }</section>
            <section class="rb-section"><h3>{ t.get("stats_rules") }</h3>{ per_rule }</section>
            <section class="rb-section"><h3>{ t.get("stats_dead") }</h3>{ dead_jobs }</section>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_day_fills_the_chart_and_an_idle_day_has_no_bar() {
        let days = vec![
            DayUsage {
                day: "2026-12-01".into(),
                operations: 40,
                errors: 0,
            },
            DayUsage {
                day: "2026-12-02".into(),
                operations: 0,
                errors: 0,
            },
            DayUsage {
                day: "2026-12-03".into(),
                operations: 10,
                errors: 1,
            },
        ];
        let b = bars(&days, 300.0);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].3, 90.0);
        assert_eq!(b[1].3, 0.0);
        assert!((b[2].3 - 22.5).abs() < 1e-9);
        assert_eq!(b[2].0, 201.0);
    }
}
