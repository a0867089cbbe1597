//! libFuzzer entry of target `config`; the body is `palisade_fuzz::config::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::config::run(data));
