//! `boxlite-testkit mark-failed HOME BOX REASON`: persists `failed` with REASON through core's
//! store, from a process separate from the binding under test, so each suite checks that it
//! reads a failure written by someone else.

use std::process::ExitCode;

use boxlite_core::{Runtime, RuntimeOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [verb, home, key, reason] = args.as_slice() else {
        eprintln!("usage: boxlite-testkit mark-failed HOME BOX REASON");
        return ExitCode::from(2);
    };
    if verb != "mark-failed" {
        eprintln!("boxlite-testkit: unknown command {verb:?}");
        return ExitCode::from(2);
    }
    let result =
        Runtime::open(RuntimeOptions { home_dir: Some(home.into()), ..Default::default() })
            .and_then(|rt| boxlite_core::testing::persist_failed(&rt, key, reason));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("boxlite-testkit: {e}");
            ExitCode::FAILURE
        }
    }
}
