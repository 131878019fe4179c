'use strict';
// Options as upstream BoxLite's Node SDK spells them, turned into what the native module
// takes. Every key is either converted or refused: napi drops unknown object keys silently,
// so this is the one place an option can be caught before it would be ignored.

const path = require('node:path');

const { invalidArgument } = require('./errors.js');

/** Box options upstream has and this version does not implement yet. */
const NOT_IMPLEMENTED = new Set([
  'secrets',
  'security',
  'healthCheck',
  'advanced',
]);

/** The box's bounds, passed to the native module as they are (core checks the values). */
const BOUND_KEYS = [
  'cpus',
  'memoryMib',
  'pidsMax',
  'nofileSoft',
  'nofileHard',
  'tmpSizeMib',
  'logMaxSizeMib',
  'logMaxFiles',
  'diskSizeGb',
];

const BOX_KEYS = new Set([
  'image',
  'rootfsPath',
  ...BOUND_KEYS,
  'workingDir',
  'env',
  'autoRemove',
  'detach',
  'entrypoint',
  'cmd',
  'user',
  'capAdd',
  'capDrop',
  'userns',
  'seccomp',
  'network',
  'dns',
  'allowNet',
  'ports',
  'volumes',
]);

/** Unset, as upstream's optional fields are: `undefined` or `null`. */
function isUnset(value) {
  return value === undefined || value === null;
}

/**
 * Refuses every set key of `options` that is not in `known`; `what` names the options in the
 * message.
 */
function refuseUnknown(options, known, what) {
  for (const [key, value] of Object.entries(options)) {
    if (isUnset(value) || known.has(key)) continue;
    if (NOT_IMPLEMENTED.has(key)) {
      throw invalidArgument(`${what}: option ${key} is not implemented in this version of boxlite`);
    }
    throw invalidArgument(`${what}: unknown option ${key}`);
  }
}

function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An environment as `[name, value]` pairs, from any shape upstream code passes: an object
 * (`SimpleBox`), `{key, value}` objects (upstream's `BoxOptions.env`) or pairs (`Box.exec`).
 */
function envPairs(env, what) {
  if (isUnset(env)) return undefined;
  const pairs = isPlainObject(env) ? Object.entries(env) : env;
  if (!Array.isArray(pairs)) {
    throw invalidArgument(`${what}: env must be an object or an array of [name, value] pairs`);
  }
  return pairs.map((entry) => {
    const pair = isPlainObject(entry) ? [entry.key, entry.value] : entry;
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((s) => typeof s === 'string')) {
      throw invalidArgument(
        `${what}: env entry ${JSON.stringify(entry)} is not a [name, value] pair of strings`,
      );
    }
    return [pair[0], pair[1]];
  });
}

const PORT_KEYS = new Set(['hostPort', 'guestPort', 'protocol', 'hostIp']);

/**
 * `ports` as the native module takes them: `{hostPort, guestPort, protocol, hostIp}` objects,
 * each key checked here (napi would drop a misspelt one); core checks the values.
 */
function portSpecs(ports) {
  if (!Array.isArray(ports)) {
    throw invalidArgument('box options: ports must be an array of {hostPort, guestPort} objects');
  }
  return ports.map((port) => {
    if (!isPlainObject(port)) {
      throw invalidArgument(`box options: port ${JSON.stringify(port)} is not an object`);
    }
    refuseUnknown(port, PORT_KEYS, 'box options: port');
    const spec = { guestPort: port.guestPort };
    for (const key of ['hostPort', 'protocol', 'hostIp']) {
      if (!isUnset(port[key])) spec[key] = port[key];
    }
    return spec;
  });
}

const VOLUME_KEYS = new Set(['hostPath', 'guestPath', 'readOnly']);

/**
 * `volumes` as the native module takes them: `{hostPath, guestPath, readOnly}` objects, each
 * key checked here (napi would drop a misspelt `readonly`, and the volume would be writable);
 * core checks the paths.
 */
function volumeSpecs(volumes) {
  if (!Array.isArray(volumes)) {
    throw invalidArgument('box options: volumes must be an array of {hostPath, guestPath} objects');
  }
  return volumes.map((volume) => {
    if (!isPlainObject(volume)) {
      throw invalidArgument(`box options: volume ${JSON.stringify(volume)} is not an object`);
    }
    refuseUnknown(volume, VOLUME_KEYS, 'box options: volume');
    for (const key of ['hostPath', 'guestPath']) {
      if (typeof volume[key] !== 'string') {
        throw invalidArgument(`box options: volume ${JSON.stringify(volume)} has no ${key} string`);
      }
    }
    if (!isUnset(volume.readOnly) && typeof volume.readOnly !== 'boolean') {
      throw invalidArgument(`box options: volume readOnly must be a boolean`);
    }
    return { hostPath: volume.hostPath, guestPath: volume.guestPath, readOnly: volume.readOnly ?? false };
  });
}

/** The native image reference of `image` / `rootfsPath` (an OCI layout directory). */
function imageReference(options) {
  const { image, rootfsPath } = options;
  if (!isUnset(image) && !isUnset(rootfsPath)) {
    throw invalidArgument('box options: give image or rootfsPath, not both');
  }
  if (!isUnset(rootfsPath)) {
    if (typeof rootfsPath !== 'string' || rootfsPath === '') {
      throw invalidArgument('box options: rootfsPath must be a non-empty path');
    }
    return `oci:${path.resolve(rootfsPath)}`;
  }
  if (isUnset(image)) {
    throw invalidArgument('box options: image or rootfsPath is required');
  }
  return image;
}

/**
 * Upstream-style box options as the native `BoxOptions`. `autoRemove` defaults to true as
 * upstream's does (a stopped box is removed); `detach` needs `autoRemove: false`.
 */
function toNativeBoxOptions(options) {
  if (!isPlainObject(options)) {
    throw invalidArgument('box options must be an object');
  }
  refuseUnknown(options, BOX_KEYS, 'box options');
  const native = { image: imageReference(options), autoRemove: options.autoRemove ?? true };
  const passed = [...BOUND_KEYS, 'workingDir', 'detach', 'entrypoint', 'cmd', 'user'];
  const net = ['network', 'dns', 'allowNet'];
  for (const key of [...passed, 'capAdd', 'capDrop', 'userns', 'seccomp', ...net]) {
    if (!isUnset(options[key])) native[key] = options[key];
  }
  // A seccomp profile may be given as the object it is; the native layer takes its JSON text.
  if (isPlainObject(options.seccomp)) native.seccomp = JSON.stringify(options.seccomp);
  if (!isUnset(options.ports)) native.ports = portSpecs(options.ports);
  if (!isUnset(options.volumes)) native.volumes = volumeSpecs(options.volumes);
  const env = envPairs(options.env, 'box options');
  if (env !== undefined) native.env = env;
  return native;
}

/** The keys of `copyIn` / `copyOut` options: upstream's four and `preserveOwners`. */
const COPY_KEYS = new Set(['recursive', 'overwrite', 'followSymlinks', 'includeParent', 'preserveOwners']);

/** Copy options for the native module: unset keys left out (core's defaults apply). */
function toNativeCopyOptions(options, what) {
  if (isUnset(options)) return undefined;
  if (!isPlainObject(options)) throw invalidArgument(`${what}: options must be an object`);
  refuseUnknown(options, COPY_KEYS, what);
  const native = {};
  for (const key of COPY_KEYS) {
    if (isUnset(options[key])) continue;
    if (typeof options[key] !== 'boolean') {
      throw invalidArgument(`${what}: option ${key} must be a boolean`);
    }
    native[key] = options[key];
  }
  return native;
}

module.exports = { BOX_KEYS, toNativeCopyOptions, NOT_IMPLEMENTED, isUnset, refuseUnknown, envPairs, toNativeBoxOptions };
