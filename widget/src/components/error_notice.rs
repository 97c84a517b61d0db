//! A failure shown to the user in words they can act on.

use yew::prelude::*;

use crate::{i18n::Texts, state::UiError};

/// Props of [`ErrorNotice`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ErrorNoticeProps {
    /// What went wrong.
    pub error: UiError,
    /// Interface texts.
    pub texts: Texts,
}

/// Shows a [`UiError`]; a 401 gets the "not authorized" message with the backend's reason.
#[function_component(ErrorNotice)]
pub fn error_notice(props: &ErrorNoticeProps) -> Html {
    let t = &props.texts;
    let (class, code, headline, detail) = match &props.error {
        UiError::NotAuthorized { detail } => (
            "rb-error rb-not-authorized",
            "not_authorized",
            t.get("not_authorized"),
            detail.clone(),
        ),
        UiError::Forbidden { detail } => (
            "rb-error rb-forbidden",
            "forbidden",
            t.get("forbidden"),
            detail.clone(),
        ),
        UiError::Invalid { detail, .. } => (
            "rb-error rb-invalid",
            "invalid",
            t.get("invalid"),
            detail.clone(),
        ),
        UiError::Unreachable => (
            "rb-error rb-unreachable",
            "unreachable",
            t.get("unreachable"),
            String::new(),
        ),
        UiError::Problem { code, detail } => {
            ("rb-error", code.as_str(), t.get("failed"), detail.clone())
        }
    };
    html! {
        <div class={class} role="alert" data-code={code.to_string()}>
            <strong>{ headline }</strong>
            if !detail.is_empty() { <p class="rb-error-detail">{ detail }</p> }
        </div>
    }
}
