// Seed 004's Lambda handler, verbatim, against a real strongroom server (aws-sdk v2, endpoint set
// through AWS.config outside the handler); then the same and more with the AWS SDK for
// JavaScript v3. Plain node + assert; exits non-zero on the first failed assertion.
//
// Env: STRONGROOM_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION;
// optional E2E_MARKER (put into every value this test makes) and E2E_REGISTRY (a file where
// those values are appended, for the leak scans run.sh does after the server is stopped).
'use strict';
const assert = require('assert');
const { endpoint, region, secretValue, unique, expectError } = require('./common');

const AWS = require('aws-sdk');
AWS.config.update({ region, secretsmanager: { endpoint } });

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

/** Run the handler and capture what it logs (it reports errors only through console.error). */
async function invokeHandler() {
  const logged = [];
  const errors = [];
  const origLog = console.log;
  const origErr = console.error;
  console.log = (...a) => logged.push(a.join(' '));
  console.error = (...a) => errors.push(a.map(String).join(' '));
  try {
    await exports.handler({});
  } finally {
    console.log = origLog;
    console.error = origErr;
  }
  return { logged, errors };
}

async function main() {
  const {
    SecretsManagerClient, CreateSecretCommand, GetSecretValueCommand, DescribeSecretCommand,
    PutSecretValueCommand, ListSecretsCommand, DeleteSecretCommand,
  } = require('@aws-sdk/client-secrets-manager');
  const v3 = new SecretsManagerClient({ endpoint, region, maxAttempts: 1 });

  // Seed 004's secret (the CLI suite creates it first on the shared server; alone, we do).
  const seedValue = '{"username":"user","password":"password"}';
  try {
    await v3.send(new CreateSecretCommand({ Name: 'MySecret', SecretString: seedValue }));
  } catch (e) {
    assert.strictEqual(e.name, 'ResourceExistsException', `CreateSecret failed: ${e}`);
  }

  // The seed handler, with aws-sdk v2: reads MySecret and logs the username.
  const { logged, errors } = await invokeHandler();
  assert.deepStrictEqual(errors, [], `handler logged errors: ${errors}`);
  assert.deepStrictEqual(logged, ['Username: user'], `handler output: ${JSON.stringify(logged)}`);

  // v2 directly: the full response shape.
  const v2got = await secretsManager.getSecretValue({ SecretId: 'MySecret' }).promise();
  assert.strictEqual(JSON.parse(v2got.SecretString).password, 'password');
  assert.match(v2got.ARN, /^arn:aws:secretsmanager:us-east-1:123456789012:secret:MySecret-[A-Za-z0-9]{6}$/);
  assert.deepStrictEqual(v2got.VersionStages, ['AWSCURRENT']);
  assert.ok(v2got.CreatedDate instanceof Date, 'CreatedDate is a date');

  // The handler against a missing secret: its catch block reports the AWS error code.
  const missing = await new AWS.SecretsManager().getSecretValue({ SecretId: 'no-such-secret-node' })
    .promise().then(() => null, (e) => e.code);
  assert.strictEqual(missing, 'ResourceNotFoundException');

  // v3: the same read.
  const got = await v3.send(new GetSecretValueCommand({ SecretId: 'MySecret' }));
  assert.strictEqual(JSON.parse(got.SecretString).username, 'user');
  assert.deepStrictEqual(got.VersionStages, ['AWSCURRENT']);

  // v3: a secret of our own through its versions.
  const name = unique('node-v3');
  const first = secretValue('v1');
  const second = secretValue('v2');
  const created = await v3.send(new CreateSecretCommand({ Name: name, SecretString: first }));
  assert.strictEqual(created.Name, name);
  const put = await v3.send(new PutSecretValueCommand({ SecretId: name, SecretString: second }));
  assert.deepStrictEqual(put.VersionStages, ['AWSCURRENT']);
  assert.strictEqual((await v3.send(new GetSecretValueCommand({ SecretId: name }))).SecretString, second);
  const prev = await v3.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
  assert.strictEqual(prev.SecretString, first);
  assert.strictEqual(prev.VersionId, created.VersionId);
  const listed = await v3.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [name] }] }));
  assert.deepStrictEqual(listed.SecretList.map((s) => s.Name), [name]);
  const desc = await v3.send(new DescribeSecretCommand({ SecretId: created.ARN }));
  assert.deepStrictEqual(desc.VersionIdsToStages[put.VersionId], ['AWSCURRENT']);
  assert.deepStrictEqual(desc.VersionIdsToStages[created.VersionId], ['AWSPREVIOUS']);

  // Scheduled deletion: reads are refused, describe still works.
  await v3.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
  await expectError(v3.send(new GetSecretValueCommand({ SecretId: name })), 'InvalidRequestException');
  assert.ok((await v3.send(new DescribeSecretCommand({ SecretId: name }))).DeletedDate instanceof Date);

  await expectError(v3.send(new DescribeSecretCommand({ SecretId: 'no-such-secret-node' })),
    'ResourceNotFoundException');

  // Wrong secret key (v2 and v3): refused with AWS's code, not served.
  const bad = new AWS.SecretsManager({
    endpoint,
    credentials: new AWS.Credentials(process.env.AWS_ACCESS_KEY_ID, 'wrong-secret-key-wrong-secret-key-000000'),
    maxRetries: 0,
  });
  const code = await bad.getSecretValue({ SecretId: 'MySecret' }).promise().then(() => null, (e) => e.code);
  assert.strictEqual(code, 'InvalidSignatureException');
  const badV3 = new SecretsManagerClient({
    endpoint, region, maxAttempts: 1,
    credentials: { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'whatever-whatever-whatever-whatever-0000' },
  });
  await expectError(badV3.send(new GetSecretValueCommand({ SecretId: 'MySecret' })), 'UnrecognizedClientException');

  console.log('node e2e: ok (aws-sdk v2 seed handler, @aws-sdk v3 client)');
}

main().catch((e) => {
  console.error('node e2e: FAILED');
  console.error(e);
  process.exit(1);
});
