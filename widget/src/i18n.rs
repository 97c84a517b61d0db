//! Interface texts. They live in the repository's `i18n/<lang>.json` under `ui`, which script.js
//! passes in (Kommo's `i18n('ui')`, the user's language).
//!
//! Native builds (the unit tests, which have no script.js) also compile English in from the same
//! file and fall back to it. The wasm does not carry it: script.js always passes a whole `ui`
//! section, and every language has every key (`all_four_languages_have_the_same_non_empty_keys_in_every_section`),
//! so there a text is the translation, else its key.

use std::collections::BTreeMap;
use std::rc::Rc;

/// The English texts, read once from `i18n/en.json` (native builds).
#[cfg(not(target_arch = "wasm32"))]
fn english() -> &'static BTreeMap<String, String> {
    static EN: std::sync::OnceLock<BTreeMap<String, String>> = std::sync::OnceLock::new();
    EN.get_or_init(|| {
        let file: serde_json::Value = serde_json::from_str(include_str!("../../i18n/en.json"))
            .unwrap_or(serde_json::Value::Null);
        file.get("ui")
            .and_then(|ui| crate::json::from_value(ui).ok())
            .unwrap_or_default()
    })
}

/// No fallback texts in the wasm: see the module's documentation.
#[cfg(target_arch = "wasm32")]
fn english() -> &'static BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    &EMPTY
}

/// Texts for one language. Every screen part holds a copy, so the map is shared: a clone is a
/// reference count, and comparing two copies of one map is a pointer comparison.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Texts {
    messages: Rc<BTreeMap<String, String>>,
}

impl Texts {
    /// Texts from the `ui` section script.js passed.
    pub fn new(messages: BTreeMap<String, String>) -> Self {
        Self {
            messages: Rc::new(messages),
        }
    }

    /// The text for `key`: the translation, else English (native builds), else the key itself (so
    /// a missing text is visible rather than blank).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.messages
            .get(key)
            .or_else(|| english().get(key))
            .map_or(key, String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_translation_falls_back_to_english_then_to_the_key() {
        let texts = Texts::new(BTreeMap::from([(
            "title".to_string(),
            "Reglas".to_string(),
        )]));
        assert_eq!(texts.get("title"), "Reglas");
        assert_eq!(
            texts.get("not_authorized"),
            english()["not_authorized"].as_str()
        );
        assert_eq!(texts.get("no.such.key"), "no.such.key");
    }

    #[test]
    fn every_language_has_every_english_ui_key() {
        for (lang, file) in [
            ("es", include_str!("../../i18n/es.json")),
            ("pt", include_str!("../../i18n/pt.json")),
            ("ru", include_str!("../../i18n/ru.json")),
        ] {
            let v: serde_json::Value = serde_json::from_str(file).expect("valid json");
            for key in english().keys() {
                assert!(v["ui"][key].is_string(), "{lang}.json lacks ui.{key}");
            }
        }
    }

    /// Every text of every section (the `ui` texts and those Kommo reads itself: `widget`,
    /// `settings`, `advanced`, `dp`, …) is in all four languages, none empty, and no language has a
    /// key English lacks (a stale or misspelt key): a key missing anywhere fails here.
    #[test]
    fn all_four_languages_have_the_same_non_empty_keys_in_every_section() {
        fn keys(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        keys(&format!("{prefix}{k}."), v, out);
                    }
                }
                other => {
                    let text = other.as_str().unwrap_or_default().trim().to_owned();
                    out.insert(prefix.trim_end_matches('.').to_owned(), text);
                }
            }
        }
        let read = |file: &str| {
            let mut out = BTreeMap::new();
            keys(
                "",
                &serde_json::from_str(file).expect("valid json"),
                &mut out,
            );
            out
        };
        let en = read(include_str!("../../i18n/en.json"));
        assert!(en.contains_key("ui.title") && en.contains_key("widget.name"));
        for (lang, file) in [
            ("en", include_str!("../../i18n/en.json")),
            ("es", include_str!("../../i18n/es.json")),
            ("pt", include_str!("../../i18n/pt.json")),
            ("ru", include_str!("../../i18n/ru.json")),
        ] {
            let texts = read(file);
            let missing: Vec<_> = en.keys().filter(|k| !texts.contains_key(*k)).collect();
            let extra: Vec<_> = texts.keys().filter(|k| !en.contains_key(*k)).collect();
            let empty: Vec<_> = texts
                .iter()
                .filter(|(_, v)| v.is_empty())
                .map(|(k, _)| k)
                .collect();
            assert!(missing.is_empty(), "{lang}.json lacks {missing:?}");
            assert!(
                extra.is_empty(),
                "{lang}.json has keys English lacks: {extra:?}"
            );
            assert!(empty.is_empty(), "{lang}.json has empty texts: {empty:?}");
        }
    }

    /// Every literal key the app's code asks for (`t("…")`, `.get("…")`) is in English, so no screen
    /// shows a bare key; the test above then holds it in every language.
    #[test]
    fn every_key_the_code_uses_is_in_english() {
        fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("widget/src").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut missing = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source");
            // `t("…")` as a word (a closure or `ctx.t`), and `t.get("…")` / `texts.get("…")`.
            for opener in ["t(\"", "t.get(\"", "texts.get(\""] {
                for (at, _) in text.match_indices(opener) {
                    let before = text[..at].chars().next_back().unwrap_or(' ');
                    if before.is_alphanumeric()
                        || before == '_'
                        || (opener == "t(\"" && before == '.' && !text[..at].ends_with("ctx."))
                    {
                        continue;
                    }
                    let rest = &text[at + opener.len()..];
                    let Some(end) = rest.find('"') else { continue };
                    let key = &rest[..end];
                    let is_key = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if is_key && !english().contains_key(key) {
                        missing.push(format!("{}: {key}", file.display()));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from i18n/en.json: {missing:#?}"
        );
    }
}
