// `import { … } from 'boxlite'` as ESM users write it: every name is a named export, and the
// classes are the very ones `require('boxlite')` gives (one module instance).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import boxliteDefault, {
  Boxlite,
  JsBoxlite,
  Box,
  ImageHandle,
  Execution,
  ExecOutput,
  ExecStdin,
  SimpleBox,
  CodeBox,
  BoxliteError,
  ExecError,
  TimeoutError,
  ParseError,
  statusNames,
  errorCodes,
} from 'boxlite';

const require = createRequire(import.meta.url);

test('esm: named imports are the CommonJS exports', () => {
  const cjs = require('boxlite');
  const named = {
    Boxlite, JsBoxlite, Box, ImageHandle, Execution, ExecOutput, ExecStdin, SimpleBox, CodeBox,
    BoxliteError, ExecError, TimeoutError, ParseError, statusNames, errorCodes,
  };
  for (const [name, value] of Object.entries(named)) {
    assert.equal(typeof value, 'function', name);
    assert.equal(value, cjs[name], name);
  }
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(named).sort(), 'ESM lists every CommonJS export');
  assert.equal(boxliteDefault, cjs);
  assert.equal(JsBoxlite, Boxlite);
});

test('esm: errors thrown through ESM are the same classes', () => {
  assert.throws(() => new Boxlite({ imageRegistries: [{}] }), (err) => err instanceof BoxliteError && err.name === 'BoxliteError');
});
