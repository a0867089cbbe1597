//! libFuzzer entry of target `sig_engine`; the body is `palisade_fuzz::sig_engine::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: palisade_fuzz::init_engines(),
    |data: &[u8]| palisade_fuzz::sig_engine::run(data)
);
