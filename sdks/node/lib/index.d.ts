// Types of `require('boxlite')`: re-exported from the generated ../native.d.ts, so they cannot
// drift from the binding.
export { Boxlite, Box, statusNames, errorCodes } from '../native';
export type { BoxInfo, BoxState, BoxOptions, RuntimeOptions, GetOrCreateResult } from '../native';
