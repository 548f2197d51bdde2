//! The 9P decoder and a 9P session over the null backend (see `ferry_fuzz::p9`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::p9::decode(data));
