//! A copy button: puts a text (a URL, a `{variable}`) on the clipboard and says so in a live
//! region, or, where the browser refuses, says to select the text and copy it by hand.

use wasm_bindgen::{JsCast, JsValue};
use yew::prelude::*;

use crate::components::controls::{Button, ButtonKind};

/// Props of [`CopyButton`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct CopyButtonProps {
    /// What is copied.
    pub text: AttrValue,
    /// The button's accessible name and tooltip ("Copy {customer_name}").
    pub label: AttrValue,
    /// What the live region says after a copy ("Copied").
    pub done: AttrValue,
    /// What it says when the browser refused ("Select the text and press Ctrl+C").
    pub failed: AttrValue,
}

/// Whether a copy was tried and how it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copied {
    Not,
    Done,
    Failed,
}

/// An icon button that copies [`CopyButtonProps::text`]; its result is announced next to it.
#[function_component(CopyButton)]
pub fn copy_button(props: &CopyButtonProps) -> Html {
    let copied = use_state(|| Copied::Not);
    let onclick = {
        let (copied, text) = (copied.clone(), props.text.to_string());
        Callback::from(move |_| {
            let (copied, text) = (copied.clone(), text.clone());
            wasm_bindgen_futures::spawn_local(async move {
                copied.set(if write_clipboard(&text).await {
                    Copied::Done
                } else {
                    Copied::Failed
                });
            });
        })
    };
    let said = match *copied {
        Copied::Not => None,
        Copied::Done => Some(("rb-copied", props.done.clone())),
        Copied::Failed => Some(("rb-copy-failed", props.failed.clone())),
    };
    html! {
        <span class="rb-copy">
            <Button kind={ButtonKind::Icon} icon="copy" label={props.label.clone()} {onclick} />
            <span role="status" class={classes!("rb-copy-status", said.as_ref().map(|s| s.0))}>
                { said.map(|s| s.1).unwrap_or_default() }
            </span>
        </span>
    }
}

/// Writes `text` with `navigator.clipboard.writeText`; false when the browser has no clipboard
/// API here (an insecure page) or refuses.
async fn write_clipboard(text: &str) -> bool {
    let get = |target: &JsValue, key: &str| js_sys::Reflect::get(target, &JsValue::from_str(key));
    let Ok(navigator) = get(&gloo::utils::window().into(), "navigator") else {
        return false;
    };
    let Ok(clipboard) = get(&navigator, "clipboard") else {
        return false;
    };
    let Ok(write) = get(&clipboard, "writeText").map(|f| f.dyn_into::<js_sys::Function>()) else {
        return false;
    };
    let Ok(write) = write else {
        return false;
    };
    match write.call1(&clipboard, &JsValue::from_str(text)) {
        Ok(promise) => match promise.dyn_into::<js_sys::Promise>() {
            Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise).await.is_ok(),
            Err(_) => false,
        },
        Err(_) => false,
    }
}
