//! libFuzzer entry of target `siem_syslog`; the body is `palisade_fuzz::siem_syslog::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::siem_syslog::run(data));
