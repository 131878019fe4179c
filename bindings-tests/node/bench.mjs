// The exec round trip of `true` through the Node SDK, for `make bench` (scripts/bench-sdks.py
// puts it next to the core's). Prints one JSON object:
//   {"exec_true_box": {p50_us, p99_us, n}, "exec_true_simplebox": {p50_us, p99_us, n}}
// exec_true_box is `await box.exec('true')` + `wait()`; exec_true_simplebox is
// `SimpleBox.exec('true')` (both streams read, then wait). Usage: node bench.mjs [ITERATIONS]
// with the image in $BOXLITE_TEST_IMAGE. WARMUP iterations of each are run first and discarded.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Boxlite, SimpleBox } from 'boxlite';

const WARMUP = 10;
const iterations = Number(process.argv[2] ?? 30);
const image = process.env.BOXLITE_TEST_IMAGE;
if (!Number.isInteger(iterations) || iterations < 1) {
  throw new Error(`iterations must be a positive integer, got ${process.argv[2]}`);
}
if (!image) {
  throw new Error('$BOXLITE_TEST_IMAGE is unset: run eval "$(bash scripts/fixtures.sh)" first');
}

/** The q-quantile of sorted `values` (nearest rank). */
function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** Times `iterations` runs of `once` after WARMUP discarded ones, in microseconds. */
async function series(once) {
  for (let i = 0; i < WARMUP; i++) await once();
  const micros = [];
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    await once();
    micros.push(Number(process.hrtime.bigint() - start) / 1e3);
  }
  micros.sort((a, b) => a - b);
  return { p50_us: quantile(micros, 0.5), p99_us: quantile(micros, 0.99), n: micros.length };
}

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'boxlite-node-bench-'));
const rt = new Boxlite({ homeDir: home });
const results = {};
try {
  const box = await rt.create({ image, autoRemove: false });
  await box.start();
  results.exec_true_box = await series(async () => {
    const execution = await box.exec('true');
    const { exitCode } = await execution.wait();
    if (exitCode !== 0) throw new Error(`true exited ${exitCode}`);
  });

  const simple = new SimpleBox({ image, runtime: rt, autoRemove: false });
  await simple.start();
  results.exec_true_simplebox = await series(async () => {
    const { exitCode } = await simple.exec('true');
    if (exitCode !== 0) throw new Error(`true exited ${exitCode}`);
  });
} finally {
  for (const info of await rt.listInfo()) await rt.remove(info.id, true);
  await rt.shutdown();
  fs.rmSync(home, { recursive: true, force: true });
}
console.log(JSON.stringify(results));
