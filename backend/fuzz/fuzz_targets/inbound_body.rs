//! Fuzz target `inbound_body`: the body is [`rulebook::fuzzing::inbound_body`], which also runs on stable as a
//! test over `seeds/inbound_body/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rulebook::fuzzing::inbound_body(data));
