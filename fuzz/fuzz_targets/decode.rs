//! The FUSE decoder and the whole session over the null backend (see `ferry_fuzz::decode`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::decode(data));
