//! libFuzzer entry of target `query_cookie`; the body is `palisade_fuzz::query_cookie::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: palisade_fuzz::init_engines(),
    |data: &[u8]| palisade_fuzz::query_cookie::run(data)
);
