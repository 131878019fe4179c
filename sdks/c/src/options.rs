//! Box options from C. C has no `BoxOptions` struct: the options arrive as the JSON that core's
//! `BoxOptions` deserializes (unknown fields rejected), so a new core option needs no new C
//! function.

use boxlite_core::{BoxOptions, Error};

use crate::ffi::invalid_argument;

/// Parses `json` (the C parameter `param`) into options; malformed JSON or an unknown field
/// is an `InvalidArgument` error naming the parameter. Field values are checked by core at
/// create time.
pub(crate) fn from_json(json: &str, param: &str) -> Result<BoxOptions, Error> {
    serde_json::from_str(json)
        .map_err(|e| invalid_argument(param, format!("is not valid box options JSON: {e}")))
}
