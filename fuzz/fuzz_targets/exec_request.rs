//! An exec request planned against a small hostile box root built from the same input; see
//! guest/src/fuzzing.rs for the input's format and what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // A refusal is a fine outcome; a finding is a panic in there.
    let _ = boxlite_guest::fuzzing::exec_request(input);
});
