//! Buffers the session hands the backend in place of guest memory (tests, in-process callers).

pub mod zerocopy;
