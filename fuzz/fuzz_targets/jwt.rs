//! libFuzzer entry of target `jwt`; the body is `palisade_fuzz::jwt::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::jwt::run(data));
