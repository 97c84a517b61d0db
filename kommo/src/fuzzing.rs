//! The body of the fuzz target of `kommo/fuzz`, a plain function so that the same code runs under
//! libFuzzer (`cargo xtask fuzz webhook_parse`, nightly) and, on stable, as a test over the
//! target's committed seeds (`kommo/fuzz/seeds/webhook_parse/`).

use crate::incoming::{parse_account_webhook, parse_dp_request, parse_form, webhook_account_id};

/// `webhook_parse`: no input makes the parser of Kommo's incoming traffic (account webhooks,
/// digital-pipeline requests as a form or JSON) panic.
pub fn webhook_parse(data: &[u8]) {
    let _ = parse_form(data);
    let _ = parse_account_webhook(data);
    let _ = webhook_account_id(data);
    let _ = parse_dp_request(None, data);
    let _ = parse_dp_request(Some("application/x-www-form-urlencoded"), data);
    let _ = parse_dp_request(Some("application/json"), data);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Runs `target` over every file of its committed seeds; a seed that panics fails with its
    /// name, and a target without seeds fails too (it would test nothing).
    fn each_seed(target: &str, run: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a seed").path())
            .filter(|path| path.is_file())
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "{} holds no seed", dir.display());
        for seed in seeds {
            let data = std::fs::read(&seed).expect("a readable seed");
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                panic!("the {target} seed {} crashes", seed.display());
            }
        }
    }

    #[test]
    fn every_webhook_and_digital_pipeline_seed_is_parsed_or_refused_without_panicking() {
        each_seed("webhook_parse", super::webhook_parse);
    }
}
