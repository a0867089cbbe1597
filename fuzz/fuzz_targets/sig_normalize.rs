//! libFuzzer entry of target `sig_normalize`; the body is `palisade_fuzz::sig_normalize::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::sig_normalize::run(data));
