// Presigned GET URLs made by the AWS SDK for JavaScript v3's signer (@smithy/signature-v4
// `presign`, what @aws-sdk/s3-request-presigner uses): STS GetCallerIdentity — the URL
// "AWS IAM auth" logins (Vault, Kubernetes) hand to a verifier — and IAM ListUsers, fetched
// with a plain HTTP GET. Also with temporary credentials (X-Amz-Security-Token in the query),
// a tampered URL and an expired one. Plain node + assert.
//
// Env: STRONGROOM_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
'use strict';
const assert = require('assert');
const crypto = require('crypto');
const { SignatureV4 } = require('@smithy/signature-v4');
const { endpoint, region } = require('./common');

/** SHA-256 (and HMAC-SHA-256 with a secret) in the shape @smithy/signature-v4 expects. */
class Sha256 {
  constructor(secret) {
    this.hash = secret ? crypto.createHmac('sha256', secret) : crypto.createHash('sha256');
  }
  update(data) {
    this.hash.update(typeof data === 'string' ? Buffer.from(data) : data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

const url = new URL(endpoint);

async function presign(service, query, credentials, expiresIn = 60, signingDate = new Date()) {
  const signer = new SignatureV4({ service, region: service === 'iam' ? 'us-east-1' : region, credentials, sha256: Sha256 });
  const signed = await signer.presign({
    method: 'GET',
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    query,
    headers: { host: url.host },
  }, { expiresIn, signingDate });
  const qs = Object.entries(signed.query)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return `${endpoint}/?${qs}`;
}

const root = { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };
const tag = (xml, name) => (xml.match(new RegExp(`<${name}>([^<]*)</${name}>`)) || [])[1];

async function main() {
  // GetCallerIdentity as the root user.
  let r = await fetch(await presign('sts', { Action: 'GetCallerIdentity', Version: '2011-06-15' }, root));
  let body = await r.text();
  assert.strictEqual(r.status, 200, body);
  assert.match(tag(body, 'Arn'), /^arn:aws:iam::\d{12}:root$/);

  // IAM ListUsers (the global service, signed for us-east-1), with an empty parameter value.
  r = await fetch(await presign('iam', { Action: 'ListUsers', Version: '2010-05-08', PathPrefix: '/' }, root));
  body = await r.text();
  assert.strictEqual(r.status, 200, body);
  assert.ok(body.includes('<ListUsersResult>'), body);

  // Temporary credentials: a user's GetSessionToken, presigned with X-Amz-Security-Token.
  const user = `presign-${crypto.randomBytes(4).toString('hex')}`;
  const iamUrl = async (query) => {
    const res = await fetch(await presign('iam', { Version: '2010-05-08', ...query }, root));
    const text = await res.text();
    assert.strictEqual(res.status, 200, text);
    return text;
  };
  await iamUrl({ Action: 'CreateUser', UserName: user });
  const key = await iamUrl({ Action: 'CreateAccessKey', UserName: user });
  const userCreds = { accessKeyId: tag(key, 'AccessKeyId'), secretAccessKey: tag(key, 'SecretAccessKey') };
  r = await fetch(await presign('sts', { Action: 'GetSessionToken', Version: '2011-06-15', DurationSeconds: '900' }, userCreds));
  body = await r.text();
  assert.strictEqual(r.status, 200, body);
  const session = {
    accessKeyId: tag(body, 'AccessKeyId'),
    secretAccessKey: tag(body, 'SecretAccessKey'),
    sessionToken: tag(body, 'SessionToken'),
  };
  const signedUrl = await presign('sts', { Action: 'GetCallerIdentity', Version: '2011-06-15' }, session);
  assert.ok(signedUrl.includes('X-Amz-Security-Token='), signedUrl);
  r = await fetch(signedUrl);
  body = await r.text();
  assert.strictEqual(r.status, 200, body);
  assert.strictEqual(tag(body, 'Arn'), `arn:aws:iam::${tag(body, 'Account')}:user/${user}`);

  // Tampered: another action under the same signature.
  r = await fetch(signedUrl.replace('GetCallerIdentity', 'GetSessionToken'));
  body = await r.text();
  assert.strictEqual(r.status, 403, body);
  assert.strictEqual(tag(body, 'Code'), 'SignatureDoesNotMatch');
  assert.ok(!body.includes(session.sessionToken), 'the session token is echoed in the error');

  // Expired: signed 10 minutes ago for 60 s.
  r = await fetch(await presign('sts', { Action: 'GetCallerIdentity', Version: '2011-06-15' }, root, 60, new Date(Date.now() - 600_000)));
  body = await r.text();
  assert.strictEqual(r.status, 403, body);
  console.log('presign.test.js: all assertions passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
