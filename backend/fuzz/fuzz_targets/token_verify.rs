//! Fuzz target `token_verify`: the body is [`rulebook::fuzzing::token_verify`], which also runs on stable as a
//! test over `seeds/token_verify/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rulebook::fuzzing::token_verify(data));
