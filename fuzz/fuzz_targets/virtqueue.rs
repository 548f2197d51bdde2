//! Raw virtqueue memory served by the transport's `serve_chain` (see `ferry_fuzz::virtqueue`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::virtqueue(data));
