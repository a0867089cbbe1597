//! libFuzzer entry of target `path_template`; the body is `palisade_fuzz::path_template::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::path_template::run(data));
