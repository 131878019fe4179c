// `import … from 'boxlite'`: the CommonJS entry's exports as named ESM exports (listed here,
// because Node cannot always see the names of a CommonJS module). Both entries share one
// module instance, so classes and `instanceof` are the same whichever way they are loaded.
import cjs from './index.js';

export const {
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
} = cjs;
export default cjs;
