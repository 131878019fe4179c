//! A box's `exit.json`, as the host reads it when it settles a box whose shim is gone.
#![no_main]

use boxlite_core::fuzzing::ExitRecords;
use libfuzzer_sys::fuzz_target;

thread_local! {
    // One home for the whole run: opening a runtime costs more than settling a box.
    static RECORDS: ExitRecords = ExitRecords::new().expect("open a runtime for the exit records");
}

fuzz_target!(|record: &[u8]| {
    RECORDS.with(|records| {
        let _ = records.settle(record);
    });
});
