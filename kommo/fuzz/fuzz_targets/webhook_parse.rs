//! Fuzz target `webhook_parse`: the body is [`kommo::fuzzing::webhook_parse`], which also runs on
//! stable as a test over `seeds/webhook_parse/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kommo::fuzzing::webhook_parse(data));
