//! Fuzz target `hook_token`: the body is [`rulebook::fuzzing::hook_token`], which also runs on stable as a
//! test over `seeds/hook_token/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rulebook::fuzzing::hook_token(data));
