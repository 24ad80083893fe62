//! Untrusted bytes through every decoder: see `starling_codec::fuzzing::decode`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| starling_codec::fuzzing::decode(data));
