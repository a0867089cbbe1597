//! libFuzzer entry of target `body_decode`; the body is `palisade_fuzz::body_decode::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::body_decode::run(data));
