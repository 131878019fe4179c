// The ESM resolution of 'boxlite' (package.json "import" condition) has the same types.
import { SimpleBox, JsBoxlite, type SimpleExecResult } from 'boxlite';

const rt = JsBoxlite.withDefaultConfig();
const box = new SimpleBox({ image: 'oci:/layout', runtime: rt });
const result: SimpleExecResult = await box.exec('true');
console.log(result.exitCode);
