//! Box and runtime options from C. C has no options structs: the options arrive as the JSON
//! that core's `BoxOptions` (and, for the runtime, `ImageRegistry`) deserializes (unknown
//! fields refused here), so a new core option needs no new C function.

use std::path::PathBuf;

use boxlite_core::{BoxOptions, Error, ImageRegistry, RuntimeOptions};

use crate::ffi::invalid_argument;

/// Parses `json` (the C parameter `param`) into options; malformed JSON or an unknown field
/// is an `InvalidArgument` error naming the parameter. Field values are checked by core at
/// create time.
pub(crate) fn from_json(json: &str, param: &str) -> Result<BoxOptions, Error> {
    let options: BoxOptions = serde_json::from_str(json)
        .map_err(|e| invalid_argument(param, format!("is not valid box options JSON: {e}")))?;
    // Core keeps unknown fields of stored rows (a newer version wrote them); from a caller
    // they are a typo or an option this version lacks. Refused here, not only by core's
    // create, so that `boxlite_box_get_or_create` of an existing box refuses them too.
    if !options.unknown.is_empty() {
        let names: Vec<&str> = options.unknown.keys().map(String::as_str).collect();
        return Err(invalid_argument(
            param,
            format!("has unknown option(s): {}", names.join(", ")),
        ));
    }
    Ok(options)
}

/// Parses `json` (the C parameter `param`) into runtime options: an object with `home_dir`
/// (a string, or null for the default home) and `image_registries` (a list of core's
/// `ImageRegistry` entries). Any other key, or a malformed entry, is an `InvalidArgument`
/// error naming the parameter; the entries' values are checked by core when the runtime opens.
pub(crate) fn runtime_from_json(json: &str, param: &str) -> Result<RuntimeOptions, Error> {
    let bad = |problem: String| invalid_argument(param, problem);
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| bad(format!("is not valid runtime options JSON: {e}")))?;
    let serde_json::Value::Object(fields) = value else {
        return Err(bad("is not a JSON object".into()));
    };
    let mut options = RuntimeOptions::default();
    for (key, value) in fields {
        match key.as_str() {
            "home_dir" => match value {
                serde_json::Value::Null => {}
                serde_json::Value::String(dir) if !dir.is_empty() => {
                    options.home_dir = Some(PathBuf::from(dir))
                }
                _ => return Err(bad("has a home_dir that is not a non-empty string".into())),
            },
            "image_registries" => {
                options.image_registries = serde_json::from_value::<Vec<ImageRegistry>>(value)
                    .map_err(|e| bad(format!("has invalid image_registries: {e}")))?;
            }
            other => {
                return Err(bad(format!(
                    "has an unknown field {other:?} (known: home_dir, image_registries)"
                )))
            }
        }
    }
    Ok(options)
}
