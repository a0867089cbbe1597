//! libFuzzer entry of target `siem_cef`; the body is `palisade_fuzz::siem_cef::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::siem_cef::run(data));
