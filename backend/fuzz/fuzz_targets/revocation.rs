//! Fuzz target `revocation`: the body is [`rulebook::fuzzing::revocation`], which also runs on stable as a
//! test over `seeds/revocation/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rulebook::fuzzing::revocation(data));
