// Seed 004's Lambda handler, verbatim, against a real strongroom server; then the same read
// with the AWS SDK for JavaScript v3. Only the endpoint is configured, outside the handler.
// Env: STRONGROOM_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
'use strict';
const assert = require('assert');

const endpoint = process.env.STRONGROOM_ENDPOINT;
assert.ok(endpoint, 'STRONGROOM_ENDPOINT must be set');

const AWS = require('aws-sdk');
AWS.config.update({ region: process.env.AWS_REGION || 'us-east-1', secretsmanager: { endpoint } });

// ---- seed 004, unchanged ----
const secretsManager = new AWS.SecretsManager();
exports.handler = async (event) => {
const secretName = "MySecret";
try {
const data = await secretsManager.getSecretValue({ SecretId: secretName }).promise();
const secret = JSON.parse(data.SecretString);
console.log("Username:", secret.username);
// Use secret.username and secret.password as needed.
} catch (err) {
console.error("Error retrieving secret:", err);
}
};
// ---- end of seed 004 ----

async function main() {
  const { SecretsManagerClient, CreateSecretCommand, GetSecretValueCommand, DescribeSecretCommand } =
    require('@aws-sdk/client-secrets-manager');
  const v3 = new SecretsManagerClient({ endpoint, region: process.env.AWS_REGION || 'us-east-1' });

  const name = 'MySecret';
  try {
    await v3.send(new CreateSecretCommand({ Name: name, SecretString: '{"username":"user","password":"password"}' }));
  } catch (e) {
    // The CLI suite may have created it already; anything else is a failure.
    assert.strictEqual(e.name, 'ResourceExistsException', `CreateSecret failed: ${e}`);
  }

  const logged = [];
  const errors = [];
  const origLog = console.log, origErr = console.error;
  console.log = (...a) => logged.push(a.join(' '));
  console.error = (...a) => errors.push(a.join(' '));
  try {
    await exports.handler({});
  } finally {
    console.log = origLog;
    console.error = origErr;
  }
  assert.deepStrictEqual(errors, [], `handler logged errors: ${errors}`);
  assert.ok(logged.includes('Username: user'), `handler output: ${JSON.stringify(logged)}`);

  const got = await v3.send(new GetSecretValueCommand({ SecretId: name }));
  assert.strictEqual(JSON.parse(got.SecretString).username, 'user');
  assert.deepStrictEqual(got.VersionStages, ['AWSCURRENT']);

  let notFound = null;
  try {
    await v3.send(new DescribeSecretCommand({ SecretId: 'no-such-secret-node' }));
  } catch (e) {
    notFound = e.name;
  }
  assert.strictEqual(notFound, 'ResourceNotFoundException');

  // v2 error mapping: a wrong secret key is refused with AWS's code.
  const bad = new AWS.SecretsManager({
    endpoint,
    credentials: new AWS.Credentials(process.env.AWS_ACCESS_KEY_ID, 'wrong-secret-key-wrong-secret-key-000000'),
    maxRetries: 0,
  });
  let code = null;
  try {
    await bad.getSecretValue({ SecretId: name }).promise();
  } catch (e) {
    code = e.code;
  }
  assert.strictEqual(code, 'InvalidSignatureException');
  origLog('node e2e: ok (aws-sdk v2 seed handler, @aws-sdk v3 client)');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
