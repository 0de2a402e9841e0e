// CloudWatch over each wire protocol AWS offers it in, driven by real JavaScript SDKs:
//   - Smithy RPC v2 CBOR: @aws-sdk/client-cloudwatch v3 with AwsSmithyRpcV2CborProtocol
//   - JSON 1.0:           @aws-sdk/client-cloudwatch v3 as shipped (its default)
//   - Query:              @aws-sdk/client-cloudwatch v3 with AwsQueryProtocol, and aws-sdk v2
// Each runs seed 003's alarm (PutMetricAlarm as the seed writes it), DescribeAlarms,
// SetAlarmState, GetMetricStatistics, GetMetricData and ListMetrics over the API-call metrics, the errors
// clients branch on, and DeleteAlarms. Plain node + assert; exits non-zero on failure.
//
// Env: STRONGROOM_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION;
// optional E2E_MARKER / E2E_REGISTRY (as seed004.test.js).
'use strict';
const assert = require('assert');
const common = require('./common');

const { endpoint, region, unique } = common;
const secretValue = (label) => common.secretValue(`cw-${label}`);

const cw = require('@aws-sdk/client-cloudwatch');
const { AwsSmithyRpcV2CborProtocol, AwsQueryProtocol, AwsJson1_0Protocol } = require('@aws-sdk/core/protocols');
const sm = require('@aws-sdk/client-secrets-manager');
const AWS = require('aws-sdk');

/** Record what went over the wire, so each test proves which protocol it spoke. */
function wireRecorder(client) {
  const seen = [];
  client.middlewareStack.add((next) => async (args) => {
    const r = args.request;
    seen.push({ path: r.path, contentType: r.headers['content-type'], target: r.headers['x-amz-target'],
      smithy: r.headers['smithy-protocol'], body: typeof r.body === 'string' ? r.body : '' });
    return next(args);
  }, { step: 'finalizeRequest', name: 'wireRecorder' });
  return seen;
}

/** The v3 client, speaking `protocol` (undefined: the client's default). */
function v3Client(protocol) {
  const config = { endpoint, region, maxAttempts: 1 };
  if (protocol) {
    const settings = {
      defaultNamespace: 'com.amazonaws.cloudwatch',
      xmlNamespace: 'http://monitoring.amazonaws.com/doc/2010-08-01/',
      version: '2010-08-01',
      serviceTarget: 'GraniteServiceVersion20100801',
      awsQueryCompatible: true,
    };
    config.protocol = new protocol(settings);
  }
  return new cw.CloudWatchClient(config);
}

/** One interface over v3 (send(Command)) and v2 (method().promise()). */
function v3Api(client) {
  const call = (name) => (input) => client.send(new cw[`${name}Command`](input));
  return ['PutMetricAlarm', 'DescribeAlarms', 'SetAlarmState', 'GetMetricStatistics', 'GetMetricData', 'ListMetrics', 'DeleteAlarms', 'DescribeAlarmHistory']
    .reduce((api, n) => ({ ...api, [n]: call(n) }), {});
}
function v2Api(client) {
  const call = (name) => (input) => client[name[0].toLowerCase() + name.slice(1)](input).promise();
  return ['PutMetricAlarm', 'DescribeAlarms', 'SetAlarmState', 'GetMetricStatistics', 'GetMetricData', 'ListMetrics', 'DeleteAlarms', 'DescribeAlarmHistory']
    .reduce((api, n) => ({ ...api, [n]: call(n) }), {});
}

/** The Query error code (v3 keeps it in `Code` for query-compatible services; v2 in `code`). */
function errorCode(err) {
  return err.Code || err.code || err.name;
}

async function expectError(promise, codes) {
  try {
    await promise;
  } catch (err) {
    assert.ok(codes.includes(errorCode(err)), `expected one of ${codes}, got ${errorCode(err)}: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${codes}, but the call succeeded`);
}

async function exercise(label, api) {
  const name = unique(`prod-secret-access-alert-${label}`);
  // Seed 003's alarm, as the seed writes it (no --statistic: Sum), plus an action.
  await api.PutMetricAlarm({
    AlarmName: name, MetricName: 'GetSecretValue', Namespace: 'AWS/SecretsManager', Period: 300,
    Threshold: 10, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 1,
    AlarmActions: ['arn:aws:sns:us-east-1:123456789012:security-alerts'],
    Dimensions: [{ Name: 'Operation', Value: 'GetSecretValue' }],
  });
  let out = await api.DescribeAlarms({ AlarmNames: [name] });
  assert.strictEqual(out.MetricAlarms.length, 1, `${label}: one alarm`);
  const a = out.MetricAlarms[0];
  assert.strictEqual(a.AlarmName, name);
  assert.strictEqual(a.MetricName, 'GetSecretValue');
  assert.strictEqual(a.Namespace, 'AWS/SecretsManager');
  assert.strictEqual(a.Period, 300);
  assert.strictEqual(a.EvaluationPeriods, 1);
  assert.strictEqual(a.Threshold, 10);
  assert.strictEqual(a.ComparisonOperator, 'GreaterThanThreshold');
  assert.strictEqual(a.Statistic, 'Sum');
  assert.strictEqual(a.ActionsEnabled, true);
  assert.deepStrictEqual(a.AlarmActions, ['arn:aws:sns:us-east-1:123456789012:security-alerts']);
  assert.deepStrictEqual(a.Dimensions, [{ Name: 'Operation', Value: 'GetSecretValue' }]);
  assert.ok(['INSUFFICIENT_DATA', 'OK', 'ALARM'].includes(a.StateValue), a.StateValue);
  assert.ok(a.AlarmArn.startsWith('arn:aws:cloudwatch:us-east-1:'), a.AlarmArn);
  for (const t of [a.StateUpdatedTimestamp, a.AlarmConfigurationUpdatedTimestamp]) {
    assert.ok(t instanceof Date, `${label}: timestamps are dates (${t})`);
    assert.ok(Math.abs(Date.now() - t.getTime()) < 10 * 60 * 1000, `${label}: timestamp ${t.toISOString()} is now`);
  }

  await api.SetAlarmState({ AlarmName: name, StateValue: 'ALARM', StateReason: `${label} test` });
  out = await api.DescribeAlarms({ AlarmNames: [name], StateValue: 'ALARM' });
  assert.strictEqual(out.MetricAlarms.length, 1, `${label}: found by state`);
  assert.strictEqual(out.MetricAlarms[0].StateReason, `${label} test`);

  // The API-call metrics: the GetSecretValue calls made before this ran.
  const end = new Date(Date.now() + 60 * 1000);
  const start = new Date(Date.now() - 10 * 60 * 1000);
  const stats = await api.GetMetricStatistics({
    Namespace: 'AWS/SecretsManager', MetricName: 'GetSecretValue', StartTime: start, EndTime: end,
    Period: 60, Statistics: ['Sum'],
  });
  assert.strictEqual(stats.Label, 'GetSecretValue');
  const total = stats.Datapoints.reduce((s, d) => s + d.Sum, 0);
  assert.ok(total >= 3, `${label}: at least the 3 reads made, got ${total}`);
  for (const d of stats.Datapoints) assert.ok(d.Timestamp instanceof Date, `${label}: datapoint timestamps are dates`);

  const data = await api.GetMetricData({
    StartTime: start, EndTime: end,
    MetricDataQueries: [{ Id: 'reads', MetricStat: {
      Metric: { Namespace: 'AWS/SecretsManager', MetricName: 'GetSecretValue' }, Period: 60, Stat: 'Sum' } }],
  });
  assert.strictEqual(data.MetricDataResults.length, 1, `${label}: one result`);
  const r = data.MetricDataResults[0];
  assert.strictEqual(r.Id, 'reads');
  assert.strictEqual(r.Label, 'GetSecretValue');
  assert.strictEqual(r.StatusCode, 'Complete');
  assert.strictEqual(r.Timestamps.length, r.Values.length);
  assert.ok(r.Values.reduce((x, y) => x + y, 0) >= 3, `${label}: GetMetricData counts the reads`);
  assert.ok(r.Timestamps.every((t) => t instanceof Date), `${label}: GetMetricData timestamps are dates`);
  for (let i = 1; i < r.Timestamps.length; i++) {
    assert.ok(r.Timestamps[i - 1] > r.Timestamps[i], `${label}: newest first by default`);
  }
  await expectError(api.GetMetricData({
    StartTime: start, EndTime: end, MetricDataQueries: [{ Id: 'total', Expression: 'SUM(METRICS())' }],
  }), ['InvalidParameterValue']);

  const listed = await api.ListMetrics({ Namespace: 'AWS/SecretsManager' });
  assert.ok(listed.Metrics.some((m) => m.MetricName === 'GetSecretValue'), `${label}: ListMetrics has GetSecretValue`);

  // Errors clients branch on.
  // The error codes clients branch on; v3 also maps them to the model's exception classes.
  const missing = await expectError(api.SetAlarmState({ AlarmName: `${name}-missing`, StateValue: 'OK', StateReason: 'x' }),
    ['ResourceNotFound']);
  const bad = await expectError(api.PutMetricAlarm({
    AlarmName: unique('bad'), MetricName: 'GetSecretValue', Namespace: 'AWS/SecretsManager', Period: 300,
    Threshold: 10, ComparisonOperator: 'Sideways', EvaluationPeriods: 1,
  }), ['InvalidParameterValue']);
  if (label.includes('(v3')) {
    assert.ok(missing instanceof cw.ResourceNotFound, `${label}: ${missing.constructor.name}`);
    assert.ok(bad instanceof cw.InvalidParameterValueException, `${label}: ${bad.constructor.name}`);
    assert.strictEqual(missing.$metadata.httpStatusCode, 404);
  } else {
    assert.strictEqual(missing.statusCode, 404);
  }

  await api.DeleteAlarms({ AlarmNames: [name] });
  out = await api.DescribeAlarms({ AlarmNames: [name] });
  assert.strictEqual(out.MetricAlarms.length, 0, `${label}: deleted`);

  // The history outlives the alarm: its creation, the state set above, its deletion.
  const history = await api.DescribeAlarmHistory({ AlarmName: name });
  const summaries = history.AlarmHistoryItems.map((i) => i.HistorySummary);
  assert.strictEqual(summaries[0], `Alarm "${name}" deleted`, `${label}: ${summaries}`);
  assert.ok(summaries.includes(`Alarm "${name}" updated`), `${label}: ${summaries}`);
  assert.ok(summaries.some((s) => s.endsWith('to ALARM')), `${label}: ${summaries}`);
  for (const i of history.AlarmHistoryItems) {
    assert.strictEqual(i.AlarmName, name);
    assert.ok(i.Timestamp instanceof Date, `${label}: history timestamps are dates`);
    assert.ok(['ConfigurationUpdate', 'StateUpdate'].includes(i.HistoryItemType), i.HistoryItemType);
    JSON.parse(i.HistoryData);
  }
  const paged = await api.DescribeAlarmHistory({ AlarmName: name, MaxRecords: 1 });
  assert.strictEqual(paged.AlarmHistoryItems.length, 1, `${label}: one record`);
  assert.ok(paged.NextToken, `${label}: and a token for the rest`);
  console.log(`node e2e: CloudWatch over ${label}: ok`);
}

(async () => {
  // Some reads for the metrics to count.
  const secrets = new sm.SecretsManagerClient({ endpoint, region, maxAttempts: 1 });
  const secretName = unique('cw-node');
  await secrets.send(new sm.CreateSecretCommand({ Name: secretName, SecretString: secretValue('metric') }));
  for (let i = 0; i < 3; i++) await secrets.send(new sm.GetSecretValueCommand({ SecretId: secretName }));

  const cbor = v3Client(AwsSmithyRpcV2CborProtocol);
  const cborWire = wireRecorder(cbor);
  await exercise('rpc-v2-cbor (v3)', v3Api(cbor));
  assert.ok(cborWire.length > 0 && cborWire.every((r) =>
    r.path.startsWith('/service/GraniteServiceVersion20100801/operation/') && r.smithy === 'rpc-v2-cbor'),
  'the CBOR client spoke Smithy RPC v2 CBOR');

  const json = v3Client(undefined);
  const jsonWire = wireRecorder(json);
  await exercise('json-1.0 (v3 default)', v3Api(json));
  assert.ok(jsonWire.every((r) => (r.target || '').startsWith('GraniteServiceVersion20100801.')),
    'the default client spoke JSON 1.0');
  assert.ok(AwsJson1_0Protocol, 'the v3 default protocol class exists');

  const query = v3Client(AwsQueryProtocol);
  const queryWire = wireRecorder(query);
  await exercise('query (v3)', v3Api(query));
  assert.ok(queryWire.every((r) => !r.target && r.body.includes('Version=2010-08-01')), 'the Query client spoke Query');

  const v2 = new AWS.CloudWatch({ endpoint, region, maxRetries: 0 });
  assert.strictEqual(v2.api.protocol, 'query');
  await exercise('query (aws-sdk v2)', v2Api(v2));

  await secrets.send(new sm.DeleteSecretCommand({ SecretId: secretName, ForceDeleteWithoutRecovery: true }));
  console.log('node e2e: CloudWatch ok over rpc-v2-cbor, json-1.0 and query');
})().catch((err) => {
  console.error('node e2e: CloudWatch FAILED:', err);
  process.exit(1);
});
