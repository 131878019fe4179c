'use strict';
// The error classes of the SDK. The native module rejects with plain `Error`s whose `code` is
// the core's stable code (errorCodes()); `fromNative` turns those into these classes by that
// code alone, never by message text.

const native = require('../native.js');

const CODES = new Set(native.errorCodes());

/** Every boxlite failure. `code` is one of `errorCodes()`. */
class BoxliteError extends Error {
  constructor(message, { code = 'internal', cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }

  get name() {
    return this.constructor.name;
  }
}

/** A command ran and failed (non-zero exit), where the caller asked for success. */
class ExecError extends BoxliteError {
  constructor(command, exitCode, stderr) {
    super(`command ${command} failed with exit code ${exitCode}: ${stderr}`, { code: 'exec' });
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** An operation ran past its deadline (core code `timeout`). */
class TimeoutError extends BoxliteError {
  constructor(message, { cause } = {}) {
    super(message, { code: 'timeout', cause });
  }
}

/** Output the SDK had to parse was malformed. */
class ParseError extends BoxliteError {
  constructor(message, { cause } = {}) {
    super(message, { code: 'internal', cause });
  }
}

/** The class of each core code that has its own. */
const CLASS_OF_CODE = { timeout: TimeoutError };

/**
 * `err` as the SDK's error: a native error carrying a core code becomes the class of that
 * code; anything else (napi's own argument errors such as `InvalidArg`, a bug in this layer)
 * is returned unchanged.
 */
function fromNative(err) {
  if (err instanceof BoxliteError || !(err instanceof Error) || !CODES.has(err.code)) {
    return err;
  }
  const Class = CLASS_OF_CODE[err.code];
  return Class ? new Class(err.message, { cause: err }) : new BoxliteError(err.message, { code: err.code, cause: err });
}

/** Awaits `promise`, rethrowing its rejection through `fromNative`. */
async function mapped(promise) {
  try {
    return await promise;
  } catch (err) {
    throw fromNative(err);
  }
}

/** Calls a synchronous native function, rethrowing through `fromNative`. */
function mappedSync(fn) {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/** An error of the JS layer itself that core would report with `code`. */
function invalidArgument(message) {
  return new BoxliteError(message, { code: 'invalid_argument' });
}

module.exports = {
  BoxliteError,
  ExecError,
  TimeoutError,
  ParseError,
  fromNative,
  mapped,
  mappedSync,
  invalidArgument,
};
