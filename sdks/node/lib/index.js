'use strict';
// The public entry of `require('boxlite')`. The classes and functions are the native ones
// (sdks/node/src, generated loader ../native.js): this layer only picks what is public, and is
// where JS-only conveniences built on them belong, so the binding itself stays conversion only.
const native = require('../native.js');

module.exports = {
  Boxlite: native.Boxlite,
  Box: native.Box,
  statusNames: native.statusNames,
  errorCodes: native.errorCodes,
};
