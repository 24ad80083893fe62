//! A script of raw bytes, generated packets, application commands and time steps through a
//! `ClientSession`: see `starling_session::fuzzing::client_session`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| starling_session::fuzzing::client_session(data));
