//! Image references as users type them: `boxlite run TEXT`, `pull TEXT`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    // References arrive as UTF-8 strings (CLI arguments, SDK strings); the corpus stays text.
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = boxlite_core::fuzzing::image_reference(text);
    }
});
