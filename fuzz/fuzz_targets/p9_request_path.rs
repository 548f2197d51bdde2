//! A 9P session over ferry's Linux backend, confined to a tmpfs in its own mount namespace
//! (see `ferry_fuzz::p9` and `ferry_fuzz::contain`).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: ferry_fuzz::contain::enter(),
    |data: &[u8]| ferry_fuzz::p9::request_path(data)
);
