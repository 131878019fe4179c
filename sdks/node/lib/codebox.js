'use strict';
// CodeBox: a SimpleBox for running Python code.

const fs = require('node:fs/promises');

const { ExecError } = require('./errors.js');
const { SimpleBox } = require('./simplebox.js');

/** Upstream's default image, pulled from Docker Hub (or a mirror configured for docker.io). */
const DEFAULT_IMAGE = 'python:slim';

/** Resolves to stdout when the command succeeded; rejects with `ExecError` otherwise. */
function stdoutOrThrow(what, result) {
  if (result.exitCode !== 0) {
    throw new ExecError(what, result.exitCode, result.stderr);
  }
  return result.stdout;
}

class CodeBox extends SimpleBox {
  /** SimpleBox options; `image` defaults to upstream's `python:slim`. */
  constructor(options = {}) {
    const { image, rootfsPath } = options;
    super(image === undefined && rootfsPath === undefined ? { ...options, image: DEFAULT_IMAGE } : options);
  }

  /** Runs Python `code` with the image's `python3`; resolves to its stdout. */
  async run(code) {
    return stdoutOrThrow('run()', await this.exec('python3', ['-c', code]));
  }

  /** Runs the Python script at `scriptPath` on the host; resolves to its stdout. */
  async runScript(scriptPath) {
    return this.run(await fs.readFile(scriptPath, 'utf8'));
  }

  /** `pip install`s one package (`requests`, `numpy==1.26`); resolves to pip's output. */
  async installPackage(packageName) {
    return this.installPackages(packageName);
  }

  /** `pip install`s several packages at once. */
  async installPackages(...packages) {
    const result = await this.exec('python3', ['-m', 'pip', 'install', ...packages]);
    return stdoutOrThrow(`installPackages(${packages.join(', ')})`, result);
  }
}

module.exports = { CodeBox, DEFAULT_IMAGE };
