// What the Node suites share: the server they talk to, and values that carry the leak-scan
// marker and are registered for the scans run.sh does after the server is stopped.
//
// Env: STRONGROOM_ENDPOINT, AWS_REGION; optional E2E_MARKER (put into every value a test
// makes) and E2E_REGISTRY (a file where those values are appended).
'use strict';
const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');

const endpoint = process.env.STRONGROOM_ENDPOINT;
assert.ok(endpoint, 'STRONGROOM_ENDPOINT must be set');
const region = process.env.AWS_REGION || 'us-east-1';
const MARKER = process.env.E2E_MARKER || 'E2E-SECRET-MARKER-5b7c';

/** A secret value carrying MARKER, registered for the leak scans. */
function secretValue(label) {
  const v = `${MARKER}-node-${label}-${crypto.randomBytes(6).toString('hex')}`;
  if (process.env.E2E_REGISTRY) fs.appendFileSync(process.env.E2E_REGISTRY, v + '\n');
  return v;
}

const unique = (prefix) => `${prefix}-${crypto.randomBytes(4).toString('hex')}`;

/** The promise must reject with the AWS error `code`. */
async function expectError(promise, code) {
  let got = null;
  try {
    await promise;
  } catch (e) {
    got = e.name || e.code;
  }
  assert.strictEqual(got, code, `expected ${code}, got ${got}`);
}

module.exports = { endpoint, region, MARKER, secretValue, unique, expectError };
