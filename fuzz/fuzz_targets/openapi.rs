//! libFuzzer entry of target `openapi`; the body is `palisade_fuzz::openapi::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::openapi::run(data));
