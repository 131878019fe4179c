'use strict';
// `require('boxlite')`: upstream BoxLite's Node API over the native module (../native.js,
// built from sdks/node/src). The native classes only convert types and errors; everything an
// SDK user calls is defined in this directory. ESM imports come through ./index.mjs.

const native = require('../native.js');
const { BoxliteError, ExecError, TimeoutError, ParseError } = require('./errors.js');
const { Boxlite, Box } = require('./runtime.js');
const { Execution, ExecOutput, ExecStdin } = require('./execution.js');
const { SimpleBox } = require('./simplebox.js');
const { ImageHandle } = require('./images.js');
const { CodeBox } = require('./codebox.js');

exports.Boxlite = Boxlite;
// Upstream's name for the runtime class.
exports.JsBoxlite = Boxlite;
exports.Box = Box;
exports.ImageHandle = ImageHandle;
exports.Execution = Execution;
exports.ExecOutput = ExecOutput;
exports.ExecStdin = ExecStdin;
exports.SimpleBox = SimpleBox;
exports.CodeBox = CodeBox;
exports.BoxliteError = BoxliteError;
exports.ExecError = ExecError;
exports.TimeoutError = TimeoutError;
exports.ParseError = ParseError;
exports.statusNames = native.statusNames;
exports.errorCodes = native.errorCodes;
