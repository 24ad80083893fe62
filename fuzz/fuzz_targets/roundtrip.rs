//! Valid packets built from the bytes must encode and decode equal: see
//! `starling_codec::fuzzing::roundtrip`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| starling_codec::fuzzing::roundtrip(data));
