//! Fuzz target `dp_request`: the body is [`rulebook::fuzzing::dp_request`], which also runs on stable as a
//! test over `seeds/dp_request/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rulebook::fuzzing::dp_request(data));
