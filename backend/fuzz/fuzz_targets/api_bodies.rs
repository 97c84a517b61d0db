//! Fuzz target `api_bodies`: the body is [`rulebook::fuzzing::api_bodies`], which also runs on stable as a
//! test over `seeds/api_bodies/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rulebook::fuzzing::api_bodies(data));
