//! One layer's uncompressed tar stream, as an image (pulled or imported) delivers it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|tar: &[u8]| {
    let _ = boxlite_core::fuzzing::apply_layer(tar);
});
