// Seed 000's flow — a Lambda reads Slack credentials from Secrets Manager through Parameter
// Store — and KMS, with the AWS SDK for JavaScript v3 (@aws-sdk/client-ssm, client-kms) and
// the v2 SDK Lambda code still commonly uses. Plain node + assert; exits non-zero on the first
// failed assertion.
//
// Env: as seed004.test.js (STRONGROOM_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION, E2E_MARKER, E2E_REGISTRY).
'use strict';
const assert = require('assert');
const { endpoint, region, MARKER, secretValue, unique, expectError } = require('./common');

async function main() {
  const sm = require('@aws-sdk/client-secrets-manager');
  const ssm = require('@aws-sdk/client-ssm');
  const kms = require('@aws-sdk/client-kms');
  const smClient = new sm.SecretsManagerClient({ endpoint, region, maxAttempts: 1 });
  const ssmClient = new ssm.SSMClient({ endpoint, region, maxAttempts: 1 });
  const kmsClient = new kms.KMSClient({ endpoint, region, maxAttempts: 1 });

  // Seed 000: Slack credentials in Secrets Manager, read at runtime through Parameter Store.
  const slackName = unique('slack-credentials');
  const slack = JSON.stringify({ SLACK_BOT_TOKEN: secretValue('bot'), SLACK_SIGNING_SECRET: secretValue('signing') });
  const created = await smClient.send(new sm.CreateSecretCommand({ Name: slackName, SecretString: slack }));
  const ref = `/aws/reference/secretsmanager/${slackName}`;
  const got = await ssmClient.send(new ssm.GetParameterCommand({ Name: ref, WithDecryption: true }));
  assert.strictEqual(got.Parameter.Value, slack);
  assert.strictEqual(got.Parameter.Type, 'SecureString');
  assert.strictEqual(got.Parameter.ARN, created.ARN);
  assert.strictEqual(JSON.parse(got.Parameter.Value).SLACK_BOT_TOKEN.startsWith(MARKER), true);
  await expectError(ssmClient.send(new ssm.GetParameterCommand({ Name: ref })), 'ValidationException');
  await expectError(
    ssmClient.send(new ssm.GetParameterCommand({ Name: `${ref}-missing`, WithDecryption: true })),
    'ParameterNotFound');

  // A customer managed key, its alias, and a SecureString under it.
  const key = (await kmsClient.send(new kms.CreateKeyCommand({ Description: 'seed 000 key' }))).KeyMetadata;
  const alias = `alias/${unique('chatbot')}`;
  await kmsClient.send(new kms.CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyId }));
  const prefix = `/${unique('chatbot')}`;
  const token = secretValue('param');
  const put = await ssmClient.send(new ssm.PutParameterCommand({
    Name: `${prefix}/slack/token`, Value: token, Type: 'SecureString', KeyId: alias,
  }));
  assert.strictEqual(put.Version, 1);
  await ssmClient.send(new ssm.PutParameterCommand({ Name: `${prefix}/slack/channel`, Value: 'general', Type: 'String' }));
  const plain = await ssmClient.send(new ssm.GetParameterCommand({ Name: `${prefix}/slack/token` }));
  assert.notStrictEqual(plain.Parameter.Value, token, 'SecureString without decryption is ciphertext');
  const dec = await ssmClient.send(new ssm.GetParameterCommand({ Name: `${prefix}/slack/token`, WithDecryption: true }));
  assert.strictEqual(dec.Parameter.Value, token);
  // The ciphertext is a KMS ciphertext bound to the parameter's ARN, as in AWS.
  const opened = await kmsClient.send(new kms.DecryptCommand({
    CiphertextBlob: Buffer.from(plain.Parameter.Value, 'base64'),
    EncryptionContext: { PARAMETER_ARN: dec.Parameter.ARN },
  }));
  assert.strictEqual(Buffer.from(opened.Plaintext).toString(), token);
  const byPath = await ssmClient.send(new ssm.GetParametersByPathCommand({ Path: prefix, Recursive: true, WithDecryption: true }));
  assert.deepStrictEqual(byPath.Parameters.map((p) => p.Name).sort(), [`${prefix}/slack/channel`, `${prefix}/slack/token`]);
  const described = await ssmClient.send(new ssm.DescribeParametersCommand({
    ParameterFilters: [{ Key: 'Path', Option: 'Recursive', Values: [prefix] }],
  }));
  assert.strictEqual(described.Parameters.find((p) => p.Type === 'SecureString').KeyId, alias);

  // KMS directly: envelope encryption the way applications do it.
  const dataKey = await kmsClient.send(new kms.GenerateDataKeyCommand({ KeyId: alias, KeySpec: 'AES_256' }));
  assert.strictEqual(dataKey.Plaintext.length, 32);
  const again = await kmsClient.send(new kms.DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob }));
  assert.deepStrictEqual(Buffer.from(again.Plaintext), Buffer.from(dataKey.Plaintext));
  await kmsClient.send(new kms.DisableKeyCommand({ KeyId: key.KeyId }));
  await expectError(kmsClient.send(new kms.EncryptCommand({ KeyId: alias, Plaintext: Buffer.from('x') })), 'DisabledException');
  await expectError(
    ssmClient.send(new ssm.PutParameterCommand({ Name: `${prefix}/slack/token`, Value: secretValue('v2'), Type: 'SecureString', KeyId: alias, Overwrite: true })),
    'InvalidKeyId');
  await kmsClient.send(new kms.EnableKeyCommand({ KeyId: key.KeyId }));

  // The v2 SDK (much Lambda code still uses it): SSM and KMS.
  const AWS = require('aws-sdk');
  const v2ssm = new AWS.SSM({ endpoint, region });
  const v2 = await v2ssm.getParameter({ Name: ref, WithDecryption: true }).promise();
  assert.strictEqual(v2.Parameter.Value, slack);
  const v2kms = new AWS.KMS({ endpoint, region });
  const enc = await v2kms.encrypt({ KeyId: alias, Plaintext: token }).promise();
  const back = await v2kms.decrypt({ CiphertextBlob: enc.CiphertextBlob }).promise();
  assert.strictEqual(back.Plaintext.toString(), token);
  await v2ssm.deleteParameters({ Names: [`${prefix}/slack/token`, `${prefix}/slack/channel`] }).promise();
  await expectError(v2ssm.getParameter({ Name: `${prefix}/slack/token` }).promise(), 'ParameterNotFound');

  console.log('seed000.test.js: all assertions passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
