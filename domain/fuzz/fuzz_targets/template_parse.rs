//! Fuzz target `template_parse`: the body is [`domain::fuzzing::template_parse`], which also runs on
//! stable as a test over `seeds/template_parse/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| domain::fuzzing::template_parse(data));
