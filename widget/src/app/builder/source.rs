//! "View source": the rule's JSON for power users; an edit round-trips to the form or is refused
//! with the error at its line.
//!
//! The text area shows the rule as edited, pretty-printed. "Apply" reads the text with
//! `domain::rule::Rule::from_json` (the same reading a save and an import do, old schema versions
//! included) and replaces the rule in the editor; text that is not a rule changes nothing and the
//! error, with its line and column, shows at the text area, whose cursor moves to that line.

use domain::rule::{Rule, RuleParseError};
use yew::prelude::*;

use super::use_builder;
use crate::components::controls::{use_control_id, Button, ButtonKind};
use crate::editor::EditorAction;

/// Why the source cannot be applied, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// The rule as pretty JSON.
pub fn rule_source(rule: &Rule) -> String {
    serde_json::to_string_pretty(rule).unwrap_or_default()
}

/// Reads the source as a rule, or says where it is wrong.
pub fn parse_source(text: &str) -> Result<Rule, SourceError> {
    match Rule::from_json(text) {
        Ok(rule) => Ok(rule),
        Err(RuleParseError::Syntax {
            message,
            line,
            column,
        }) => Err(SourceError {
            line: Some(line),
            column: Some(column),
            message: without_position(&message),
        }),
        Err(other) => {
            // A shape error has no position; reading the text straight into a rule finds it
            // (for rules of the current schema version, which is what this view writes).
            let at = serde_json::from_str::<Rule>(text)
                .err()
                .filter(|e| e.line() > 0)
                .map(|e| (e.line(), e.column()));
            Err(SourceError {
                line: at.map(|a| a.0),
                column: at.map(|a| a.1),
                message: without_position(&other.to_string()),
            })
        }
    }
}

/// A JSON parser's message without its trailing " at line L column C" (the view says where).
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_owned(),
        _ => message.to_owned(),
    }
}

/// The byte offset where 1-based `line` starts in `text`.
pub fn line_start(text: &str, line: usize) -> usize {
    if line <= 1 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line - 2)
        .map_or(text.len(), |(i, _)| i + 1)
}

/// The source panel.
#[function_component(SourceView)]
pub fn source_view() -> Html {
    let ctx = use_builder();
    let id = use_control_id("source");
    let err_id = format!("{id}-error");
    let node = use_node_ref();
    // The text being edited; `None` shows the rule as it is now.
    let draft = use_state(|| None::<String>);
    let error = use_state(|| None::<SourceError>);
    let applied = use_state(|| false);
    let text = draft
        .as_ref()
        .cloned()
        .unwrap_or_else(|| rule_source(&ctx.rule));

    let oninput = {
        let (draft, applied) = (draft.clone(), applied.clone());
        Callback::from(move |e: InputEvent| {
            if let Some(t) = e.target_dyn_into::<web_sys::HtmlTextAreaElement>() {
                draft.set(Some(t.value()));
                applied.set(false);
            }
        })
    };
    let apply = {
        let (draft, error, applied, dispatch, node, text) = (
            draft.clone(),
            error.clone(),
            applied.clone(),
            ctx.dispatch.clone(),
            node.clone(),
            text.clone(),
        );
        Callback::from(move |_: MouseEvent| match parse_source(&text) {
            Ok(rule) => {
                dispatch.dispatch(EditorAction::Replace(rule));
                draft.set(None);
                error.set(None);
                applied.set(true);
            }
            Err(e) => {
                // The cursor goes to the line at fault.
                if let (Some(line), Some(area)) =
                    (e.line, node.cast::<web_sys::HtmlTextAreaElement>())
                {
                    let start = line_start(&text, line);
                    let at = text[..start].chars().map(char::len_utf16).sum::<usize>() as u32;
                    let _ = area.focus();
                    let _ = area.set_selection_range(at, at);
                    // Scroll the line into view, two lines below the top edge.
                    let total = text.lines().count().max(1) as i32;
                    let per_line = area.scroll_height() / total;
                    area.set_scroll_top(per_line * (line as i32 - 3).max(0));
                }
                applied.set(false);
                error.set(Some(e));
            }
        })
    };
    let reset = {
        let (draft, error) = (draft.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            draft.set(None);
            error.set(None);
        })
    };
    let message = error.as_ref().map(|e| match (e.line, e.column) {
        (Some(l), Some(c)) => {
            ctx.t("src_error_at")
                .replace("{line}", &l.to_string())
                .replace("{column}", &c.to_string())
                + &e.message
        }
        _ => e.message.clone(),
    });
    let lines = text.lines().count().clamp(12, 40);
    html! {
        <div class="rb-source">
            <h3>{ ctx.t("builder_source") }</h3>
            <p class="rb-hint">{ ctx.t("src_hint") }</p>
            <div class="rb-control">
                <label for={id.clone()} class="rb-control-label">{ ctx.t("rule_json") }</label>
                <textarea id={id.clone()} ref={node} spellcheck="false"
                    class={classes!("text-input", "rb-textarea", "rb-json", error.is_some().then_some("rb-invalid"))}
                    rows={lines.to_string()} value={text.clone()} {oninput}
                    aria-invalid={error.is_some().then_some("true")}
                    aria-describedby={error.is_some().then_some(err_id.clone())} />
                if let Some(m) = message { <em class="rb-field-error" id={err_id} role="alert">{ m }</em> }
            </div>
            <div class="rb-source-actions">
                <Button kind={ButtonKind::Primary} label={ctx.t("src_apply")} onclick={apply} disabled={draft.is_none()} />
                <Button label={ctx.t("src_reset")} onclick={reset} disabled={draft.is_none()} />
            </div>
            if *applied { <p class="rb-saved" role="status">{ ctx.t("src_applied") }</p> }
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::editor::kinds::new_rule;

    #[test]
    fn the_pretty_source_reads_back_as_the_same_rule() {
        let rule = new_rule();
        assert_eq!(parse_source(&rule_source(&rule)), Ok(rule));
    }

    #[test]
    fn broken_json_is_refused_at_its_line_and_column() {
        let mut text = rule_source(&new_rule());
        // Line 3 loses its colon.
        let third = line_start(&text, 3);
        let colon = third + text[third..].find(':').expect("a colon on line 3");
        text.replace_range(colon..colon + 1, " ");
        let err = parse_source(&text).expect_err("broken");
        assert_eq!(err.line, Some(3), "{err:?}");
        assert!(err.column.is_some());
        assert!(
            !err.message.contains("line 3"),
            "the position is said once: {err:?}"
        );
    }

    #[test]
    fn json_that_is_not_a_rule_is_refused_with_where_when_known() {
        let text = rule_source(&new_rule()).replace("\"entity_added\"", "\"teleported\"");
        let err = parse_source(&text).expect_err("not a rule");
        assert!(err.line.is_some(), "{err:?}");
        let err = parse_source("[1, 2]").expect_err("not an object");
        assert!(err.message.contains("object"), "{err:?}");
    }

    #[test]
    fn line_starts_are_byte_offsets() {
        assert_eq!(line_start("a\nbc\nd", 1), 0);
        assert_eq!(line_start("a\nbc\nd", 2), 2);
        assert_eq!(line_start("a\nbc\nd", 3), 5);
        assert_eq!(line_start("a", 9), 1);
    }
}
