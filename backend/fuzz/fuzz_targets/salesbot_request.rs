//! Fuzz target `salesbot_request`: the body is [`rulebook::fuzzing::salesbot_request`], which also runs on stable as a
//! test over `seeds/salesbot_request/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rulebook::fuzzing::salesbot_request(data));
