//! The widget archive as Kommo receives it: `dist/widget.zip`, written by `cargo xtask package`.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read,
    path::PathBuf,
};

use serde_json::Value;

struct Archive(BTreeMap<String, Vec<u8>>);

impl Archive {
    fn open() -> Self {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/widget.zip");
        let file = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask package` first", path.display()));
        let mut zip = zip::ZipArchive::new(file).expect("a valid zip");
        let mut files = BTreeMap::new();
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).expect("entry");
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read entry");
            files.insert(entry.name().to_string(), bytes);
        }
        Self(files)
    }

    fn text(&self, name: &str) -> String {
        String::from_utf8(
            self.0
                .get(name)
                .unwrap_or_else(|| panic!("{name} is missing"))
                .clone(),
        )
        .expect("utf-8")
    }

    fn json(&self, name: &str) -> Value {
        serde_json::from_str(&self.text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

const LOCALES: [&str; 4] = ["en", "es", "pt", "ru"];

#[test]
fn the_manifest_sits_at_the_zip_root_with_every_location_and_block() {
    let zip = Archive::open();
    let m = zip.json("manifest.json");
    assert_eq!(m["widget"]["interface_version"], 2);
    assert_eq!(m["widget"]["version"], env!("CARGO_PKG_VERSION"));
    let locale: BTreeSet<&str> = m["widget"]["locale"]
        .as_array()
        .expect("locale")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(locale, LOCALES.into_iter().collect());
    let locations: BTreeSet<&str> = m["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for required in [
        "settings",
        "advanced_settings",
        "lcard-1",
        "ccard-1",
        "comcard-1",
        "llist-0",
        "digital_pipeline",
        "salesbot_designer",
    ] {
        assert!(locations.contains(required), "missing location {required}");
    }
    assert_eq!(m["advanced"]["title"], "advanced.title");
    let hook = m["dp"]["webhook_url"].as_str().expect("dp.webhook_url");
    assert!(
        hook.starts_with("http") && hook.ends_with("/hooks/dp") && !hook.contains("__"),
        "{hook}"
    );
    assert!(m["dp"]["settings"]["rule_id"].is_object());
    // The Salesbot step: one handler whose setting is the rule (script.js's SALESBOT_HANDLER).
    let step = &m["salesbot_designer"]["run_rule"];
    assert_eq!(step["name"], "salesbot.run_rule");
    assert_eq!(step["settings"]["rule_id"]["type"], "text");
}

/// Every string value of the manifest that looks like an i18n key (`a.b`), with where it was found.
fn i18n_keys(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s)
            if regex::Regex::new(r"^[a-z_]+(\.[a-z_]+)+$")
                .expect("re")
                .is_match(s) =>
        {
            out.push((at.to_string(), s.clone()))
        }
        Value::Object(map) => {
            for (k, v) in map {
                // URLs, versions and codes are not i18n keys.
                if !matches!(
                    k.as_str(),
                    "webhook_url" | "version" | "type" | "link" | "email"
                ) {
                    i18n_keys(v, &format!("{at}.{k}"), out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| i18n_keys(i, at, out)),
        _ => {}
    }
}

#[test]
fn every_i18n_key_the_manifest_names_exists_in_every_language() {
    let zip = Archive::open();
    let mut keys = Vec::new();
    i18n_keys(&zip.json("manifest.json"), "manifest", &mut keys);
    assert!(
        keys.iter().any(|(_, k)| k == "widget.name")
            && keys.iter().any(|(_, k)| k == "dp.settings.rule_id")
    );
    for lang in LOCALES {
        let file = zip.json(&format!("i18n/{lang}.json"));
        for (at, key) in &keys {
            let value = key.split('.').fold(&file, |v, part| &v[part]);
            assert!(
                value.as_str().is_some_and(|s| !s.is_empty()),
                "i18n/{lang}.json lacks {key} (named at {at})"
            );
        }
    }
}

#[test]
fn the_images_have_kommos_sizes_and_weights() {
    let zip = Archive::open();
    for (name, w, h) in [
        ("logo_main.png", 400, 272),
        ("logo_small.png", 108, 108),
        ("logo_medium.png", 240, 84),
        ("logo_min.png", 84, 84),
        ("logo.png", 130, 100),
        ("logo_dp.png", 174, 109),
    ] {
        let bytes = &zip.0[&format!("images/{name}")];
        assert!(
            bytes.len() <= 300 * 1024,
            "{name} weighs {} bytes",
            bytes.len()
        );
        let reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .expect("a PNG");
        let info = reader.info();
        assert_eq!((info.width, info.height), (w, h), "{name}");
    }
}

#[test]
fn script_js_is_an_amd_module_that_finds_the_app_in_the_archive() {
    let zip = Archive::open();
    let script = zip.text("script.js");
    let first_code = script
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"));
    assert!(
        first_code.is_some_and(|l| l.starts_with("define([")),
        "script.js must be an AMD module: define([...])"
    );
    assert!(
        !script.contains("__RULEBOOK_BACKEND_URL__"),
        "the backend URL was baked in"
    );
    let paths: Vec<String> = regex::Regex::new(r#"'(app/[^']+)'"#)
        .expect("re")
        .captures_iter(&script)
        .map(|c| c[1].to_string())
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with(".wasm")) && paths.iter().any(|p| p.ends_with(".js")),
        "{paths:?}"
    );
    for p in &paths {
        assert!(
            zip.0.contains_key(p),
            "script.js loads {p}, which is not in the archive"
        );
    }
    let glue = zip.text(paths.iter().find(|p| p.ends_with(".js")).expect("glue"));
    assert!(
        glue.contains("export function mount("),
        "the glue exports mount()"
    );
    assert_eq!(
        &zip.0[paths.iter().find(|p| p.ends_with(".wasm")).expect("wasm")][..4],
        b"\0asm"
    );
}
