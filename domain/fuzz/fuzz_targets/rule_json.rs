//! Fuzz target `rule_json`: the body is [`domain::fuzzing::rule_json`], which also runs on stable as
//! a test over `seeds/rule_json/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| domain::fuzzing::rule_json(data));
