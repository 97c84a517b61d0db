//! The rule's versions: who saved each and when; open, compare and restore any of them.
//!
//! The history is `GET /api/v1/rules/{id}/history` (newest first). Opening a version shows it
//! read-only as its block sentences and its JSON; comparing shows a line diff of its pretty JSON
//! against the rule as edited now ([`line_diff`], DOM-free and unit-tested); restoring calls
//! `POST /api/v1/rules/{id}/history/{version}/restore` (a new version with the old content) and
//! reloads the editor with the stored record.

use domain::api::RuleRecord;
use domain::rule::Rule;
use serde::Deserialize;
use yew::prelude::*;

use super::use_builder;
use crate::components::controls::{Button, ButtonKind};
use crate::components::ErrorNotice;
use crate::editor::{sentence, EditorAction};
use crate::services;
use crate::state::UiError;

/// One stored version, as the history lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RuleVersion {
    /// The version number.
    pub version: i64,
    /// The rule's name at that version.
    pub name: String,
    /// The definition at that version.
    pub rule: serde_json::Value,
    /// The Kommo user who saved it.
    pub saved_by: i64,
    /// When, Unix milliseconds.
    pub saved_at: i64,
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    /// In both.
    Same(String),
    /// Only in the old text.
    Removed(String),
    /// Only in the new text.
    Added(String),
}

/// The longest texts [`line_diff`] compares line by line (lines each); longer ones are shown as
/// all removed and all added, so that a huge rule cannot stall the page.
const MAX_DIFF_LINES: usize = 4000;

/// A line diff of `old` against `new` (longest common subsequence of lines).
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len() > MAX_DIFF_LINES || b.len() > MAX_DIFF_LINES {
        return a
            .iter()
            .map(|l| DiffLine::Removed((*l).to_owned()))
            .chain(b.iter().map(|l| DiffLine::Added((*l).to_owned())))
            .collect();
    }
    // lcs[i][j]: the common lines of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(DiffLine::Same(a[i].to_owned()));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(DiffLine::Removed(a[i].to_owned()));
            i += 1;
        } else {
            out.push(DiffLine::Added(b[j].to_owned()));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| DiffLine::Removed((*l).to_owned())));
    out.extend(b[j..].iter().map(|l| DiffLine::Added((*l).to_owned())));
    out
}

/// The changed lines of a diff with `context` unchanged lines around each change; `None` stands
/// for a run of unchanged lines left out.
pub fn with_context(diff: &[DiffLine], context: usize) -> Vec<Option<&DiffLine>> {
    let changed: Vec<usize> = diff
        .iter()
        .enumerate()
        .filter(|(_, d)| !matches!(d, DiffLine::Same(_)))
        .map(|(i, _)| i)
        .collect();
    let near = |i: usize| {
        changed
            .iter()
            .any(|&c| i + context >= c && i <= c + context)
    };
    let mut out = Vec::new();
    let mut skipped = false;
    for (i, d) in diff.iter().enumerate() {
        if near(i) {
            if skipped {
                out.push(None);
                skipped = false;
            }
            out.push(Some(d));
        } else {
            skipped = true;
        }
    }
    if skipped && !out.is_empty() {
        out.push(None);
    }
    out
}

/// A definition as pretty JSON with its keys in a stable order, for reading and diffs.
pub fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Props of [`Versions`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct VersionsProps {
    /// The stored rule.
    pub rule_id: i64,
}

/// What is shown of one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Open(i64),
    Compare(i64),
}

/// The versions panel.
#[function_component(Versions)]
pub fn versions(props: &VersionsProps) -> Html {
    let ctx = use_builder();
    let list = use_state(|| None::<Vec<RuleVersion>>);
    let error = use_state(|| None::<UiError>);
    let view = use_state(|| None::<View>);
    let reload = use_state(|| 0u32);
    let restored = use_state(|| None::<i64>);
    {
        let (backend, list, error) = (ctx.backend.clone(), list.clone(), error.clone());
        use_effect_with((props.rule_id, *reload), move |(id, _)| {
            let id = *id;
            wasm_bindgen_futures::spawn_local(async move {
                let path = format!("/api/v1/rules/{id}/history?limit=100");
                match services::request::<Vec<RuleVersion>>(&backend, "GET", &path, None).await {
                    Ok(v) => {
                        error.set(None);
                        list.set(Some(v));
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        });
    }
    let restore = {
        let (backend, error, reload, restored, dispatch, view, text) = (
            ctx.backend.clone(),
            error.clone(),
            reload.clone(),
            restored.clone(),
            ctx.dispatch.clone(),
            view.clone(),
            ctx.t("ver_restore_confirm"),
        );
        let id = props.rule_id;
        Callback::from(move |version: i64| {
            if !gloo::dialogs::confirm(&text.replace("{version}", &version.to_string())) {
                return;
            }
            let (backend, error, reload, restored, dispatch, view) = (
                backend.clone(),
                error.clone(),
                reload.clone(),
                restored.clone(),
                dispatch.clone(),
                view.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                let path = format!("/api/v1/rules/{id}/history/{version}/restore");
                match services::request::<RuleRecord>(&backend, "POST", &path, None).await {
                    Ok(record) => match crate::json::from_value::<Rule>(&record.rule) {
                        Ok(rule) => {
                            dispatch.dispatch(EditorAction::Load {
                                id: Some(record.id),
                                version: Some(record.version),
                                rule,
                            });
                            error.set(None);
                            view.set(None);
                            restored.set(Some(version));
                            reload.set(*reload + 1);
                        }
                        Err(e) => error.set(Some(UiError::Problem {
                            code: "rule_unreadable".into(),
                            detail: e.to_string(),
                        })),
                    },
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };

    let user_name = |id: i64| {
        ctx.schema
            .users
            .iter()
            .flatten()
            .find(|u| u.id == id)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };
    let current = serde_json::to_value(&*ctx.rule).unwrap_or_default();
    let rows = list.as_ref().map(|versions| {
        versions
            .iter()
            .map(|v| {
                let n = v.version;
                let set = |which: View| {
                    let view = view.clone();
                    Callback::from(move |_| {
                        view.set(if *view == Some(which) { None } else { Some(which) })
                    })
                };
                let on_restore = {
                    let restore = restore.clone();
                    Callback::from(move |_| restore.emit(n))
                };
                let detail = match *view {
                    Some(View::Open(x)) if x == n => Some(open_view(v, &ctx)),
                    Some(View::Compare(x)) if x == n => Some(compare_view(v, &current, &ctx)),
                    _ => None,
                };
                html! {
                    <li class="rb-version">
                        <div class="rb-version-head">
                            <strong>{ format!("{} {n}", ctx.t("ver_version")) }</strong>
                            { format!(" · «{}» · {} {} · {}", v.name, ctx.t("ver_saved_by"), user_name(v.saved_by), crate::app::format_millis(v.saved_at)) }
                        </div>
                        <div class="rb-version-actions">
                            <Button label={format!("{} {n}", ctx.t("ver_open"))} onclick={set(View::Open(n))} />
                            <Button label={format!("{} {n}", ctx.t("ver_compare"))} onclick={set(View::Compare(n))} />
                            <Button kind={ButtonKind::Danger} label={format!("{} {n}", ctx.t("ver_restore"))} onclick={on_restore} />
                        </div>
                        { detail.unwrap_or_default() }
                    </li>
                }
            })
            .collect::<Html>()
    });
    html! {
        <div class="rb-versions">
            <h3>{ ctx.t("builder_versions") }</h3>
            if let Some(v) = *restored { <p class="rb-saved" role="status">{ ctx.t("ver_restored").replace("{version}", &v.to_string()) }</p> }
            if let Some(e) = (*error).clone() { <ErrorNotice error={e} texts={ctx.texts.clone()} /> }
            {
                match rows {
                    None => html! { <p class="rb-loading">{ ctx.t("loading") }</p> },
                    Some(rows) => html! { <ol class="rb-version-list" aria-label={ctx.t("ver_history")}>{ rows }</ol> },
                }
            }
        </div>
    }
}

fn open_view(v: &RuleVersion, ctx: &super::BuilderCtx) -> Html {
    let sentences = crate::json::from_value::<Rule>(&v.rule)
        .map(|rule| {
            rule.blocks
                .iter()
                .map(|b| {
                    let name = if b.name.is_empty() {
                        String::new()
                    } else {
                        format!("{}: ", b.name)
                    };
                    html! { <li>{ name }{ sentence::block(b, &ctx.schema, &ctx.texts) }</li> }
                })
                .collect::<Html>()
        })
        .unwrap_or_default();
    html! {
        <div class="rb-version-open" role="region" aria-label={format!("{} {}", ctx.t("ver_version"), v.version)}>
            <ol class="rb-version-sentences">{ sentences }</ol>
            <pre class="rb-json" tabindex="0">{ pretty(&v.rule) }</pre>
        </div>
    }
}

fn compare_view(v: &RuleVersion, current: &serde_json::Value, ctx: &super::BuilderCtx) -> Html {
    let diff = line_diff(&pretty(&v.rule), &pretty(current));
    let changed = diff
        .iter()
        .filter(|d| !matches!(d, DiffLine::Same(_)))
        .count();
    let (removed, added) = (ctx.t("ver_removed"), ctx.t("ver_added"));
    let lines = with_context(&diff, 3).into_iter().map(|d| match d {
        None => html! { <div class="rb-diff-skip" aria-hidden="true">{ "  …" }</div> },
        Some(DiffLine::Same(l)) => html! { <div class="rb-diff-same">{ format!("  {l}") }</div> },
        Some(DiffLine::Removed(l)) => html! {
            <div class="rb-diff-removed"><span class="rb-sr-only">{ removed.clone() }</span>{ format!("- {l}") }</div>
        },
        Some(DiffLine::Added(l)) => html! {
            <div class="rb-diff-added"><span class="rb-sr-only">{ added.clone() }</span>{ format!("+ {l}") }</div>
        },
    });
    html! {
        <div class="rb-version-compare" role="region" aria-label={format!("{} {}", ctx.t("ver_compare"), v.version)}>
            <p class="rb-hint">{ if changed == 0 { ctx.t("ver_same") } else { ctx.t("ver_diff_hint") } }</p>
            <pre class="rb-diff" tabindex="0">{ for lines }</pre>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_keeps_common_lines_and_marks_the_rest() {
        let old = "a\nb\nc\nd";
        let new = "a\nc\nd\ne";
        assert_eq!(
            line_diff(old, new),
            vec![
                DiffLine::Same("a".into()),
                DiffLine::Removed("b".into()),
                DiffLine::Same("c".into()),
                DiffLine::Same("d".into()),
                DiffLine::Added("e".into()),
            ]
        );
        assert!(line_diff(old, old)
            .iter()
            .all(|d| matches!(d, DiffLine::Same(_))));
        assert_eq!(line_diff("", "x"), vec![DiffLine::Added("x".into())]);
    }

    #[test]
    fn a_changed_value_in_pretty_json_is_one_line_out_and_one_in() {
        // "name" comes last whether serde_json keeps insertion order (its `preserve_order` feature,
        // which other crates of the workspace switch on) or sorts the keys.
        let old = pretty(&serde_json::json!({"blocks": [1, 2], "name": "A"}));
        let new = pretty(&serde_json::json!({"blocks": [1, 2], "name": "B"}));
        let changed: Vec<_> = line_diff(&old, &new)
            .into_iter()
            .filter(|d| !matches!(d, DiffLine::Same(_)))
            .collect();
        assert_eq!(
            changed,
            vec![
                DiffLine::Removed("  \"name\": \"A\"".into()),
                DiffLine::Added("  \"name\": \"B\"".into()),
            ]
        );
    }

    #[test]
    fn only_the_changes_and_their_context_are_shown() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new = old.replace("10\n", "ten\n");
        let diff = line_diff(&old, &new);
        let shown: Vec<String> = with_context(&diff, 2)
            .into_iter()
            .map(|d| match d {
                None => "…".to_string(),
                Some(DiffLine::Same(l)) => l.clone(),
                Some(DiffLine::Removed(l)) => format!("-{l}"),
                Some(DiffLine::Added(l)) => format!("+{l}"),
            })
            .collect();
        assert_eq!(shown, vec!["…", "8", "9", "-10", "+ten", "11", "12", "…"]);
        let same = line_diff("a\nb", "a\nb");
        assert!(with_context(&same, 3).is_empty());
    }

    #[test]
    fn the_history_reads_the_backends_version_rows() {
        let v: RuleVersion = serde_json::from_value(serde_json::json!({
            "version": 3, "name": "R", "rule": {"name": "R"}, "saved_by": 1001, "saved_at": 1_700_000_000_000_i64
        }))
        .expect("a version row");
        assert_eq!((v.version, v.saved_by), (3, 1001));
    }
}
