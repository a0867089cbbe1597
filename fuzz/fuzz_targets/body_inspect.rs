//! libFuzzer entry of target `body_inspect`; the body is `palisade_fuzz::body_inspect::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: palisade_fuzz::init_engines(),
    |data: &[u8]| palisade_fuzz::body_inspect::run(data)
);
