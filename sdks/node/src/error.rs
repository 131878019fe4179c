//! Core errors as JS errors: `err.code` is [`boxlite_core::ErrorKind::code`], `err.message` the
//! core's Display text.

use boxlite_core::{Error, ErrorKind};
use napi::bindgen_prelude::{JsError, ToNapiValue, Unknown};
use napi::sys;
use napi_derive::napi;

/// The result type of the binding's synchronous functions: napi-rs v3 turns an `Error<S>`'s
/// status string into the JS error's `code`, so carrying the core code as the status is the
/// whole mapping. Named `Result` because napi-derive recognises fallible returns by that name.
pub type Result<T> = std::result::Result<T, napi::Error<String>>;

/// The one conversion from a core error to a JS error.
pub fn to_napi(err: Error) -> napi::Error<String> {
    napi::Error::new(err.code().to_owned(), err.to_string())
}

/// Every stable error code, in core order (`ErrorKind::ALL`).
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    ErrorKind::ALL.iter().map(|k| k.code()).collect()
}

/// The result of an async call, turned into a JS value on the JS thread.
///
/// napi-rs rejects a failed `async fn` only with a `napi::Error<Status>`, whose `code` would be
/// a napi status ("GenericFailure"), not ours (napi-rs issue #1632). So async methods resolve to
/// a `Settled` instead; its conversion, which runs on the JS thread, builds the JS error with the
/// core code and hands it back as a reference to that object, which napi rejects the Promise
/// with unchanged.
pub struct Settled<T>(Result<T>);

impl<T> From<boxlite_core::Result<T>> for Settled<T> {
    fn from(result: boxlite_core::Result<T>) -> Self {
        Settled(result.map_err(to_napi))
    }
}

impl<T: ToNapiValue> ToNapiValue for Settled<T> {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        match val.0 {
            Ok(value) => unsafe { T::to_napi_value(env, value) },
            Err(err) => {
                let js_error = unsafe { JsError::from(err).into_value(env) };
                if js_error.is_null() {
                    // The environment is tearing down; nobody is left to see the rejection.
                    return Err(napi::Error::from_reason("boxlite: could not create a JS error"));
                }
                Err(napi::Error::from(unsafe { Unknown::from_raw_unchecked(env, js_error) }))
            }
        }
    }
}

/// Awaits an async core call (it runs on napi's tokio runtime, never on the JS thread).
pub async fn settle<T>(
    call: impl std::future::Future<Output = boxlite_core::Result<T>>,
) -> Settled<T> {
    Settled::from(call.await)
}

/// An argument the binding itself refuses (a JS number that is no valid duration or size),
/// reported with the same code core uses for malformed values.
pub fn invalid_argument(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// Runs a synchronous core call on tokio's blocking pool, keeping the JS thread free.
pub async fn blocking<T, F>(call: F) -> Settled<T>
where
    T: Send + 'static,
    F: FnOnce() -> boxlite_core::Result<T> + Send + 'static,
{
    let result = tokio::task::spawn_blocking(call).await.unwrap_or_else(|join_err| {
        // Only a panic in core gets here (nothing cancels the task): a bug, reported as such
        // rather than tearing down the Node process.
        Err(Error::new(ErrorKind::Internal, format!("boxlite call panicked: {join_err}")))
    });
    Settled::from(result)
}
