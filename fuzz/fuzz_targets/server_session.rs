//! A script of raw bytes, generated packets, broker commands and time steps through a
//! `ServerSession`: see `starling_session::fuzzing::server_session`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| starling_session::fuzzing::server_session(data));
