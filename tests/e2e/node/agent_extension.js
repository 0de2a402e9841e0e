// A Lambda function's code for the AWS Parameters and Secrets Lambda Extension, written as
// AWS's Lambda and Systems Manager docs show it: plain `http` and `fetch` to localhost on
// PARAMETERS_SECRETS_EXTENSION_HTTP_PORT (2773 by default), the function's AWS_SESSION_TOKEN
// as the X-Aws-Parameters-Secrets-Token header. Run by tests/e2e/test_agent.py against
// `strongroom agent`; prints what it got as one JSON document.
//
// Env: AGENT_SECRET_ID, AGENT_PARAMETER_NAME (plus the two the extension docs use).
'use strict';
const http = require('http');

const port = process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT || 2773;
const headers = { 'X-Aws-Parameters-Secrets-Token': process.env.AWS_SESSION_TOKEN };

// The Secrets Manager example: http.get, the secret's JSON in the body.
function getSecret(secretName) {
  const options = {
    hostname: 'localhost',
    port,
    path: `/secretsmanager/get?secretId=${encodeURIComponent(secretName)}`,
    headers,
  };
  return new Promise((resolve, reject) => {
    http.get(options, (res) => {
      let data = '';
      res.on('data', (chunk) => { data += chunk; });
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(new Error(`status ${res.statusCode}: ${data}`));
          return;
        }
        resolve(JSON.parse(data));
      });
    }).on('error', reject);
  });
}

// The Parameter Store example: fetch, withDecryption for a SecureString.
async function getParameter(name) {
  const url = `http://localhost:${port}/systemsmanager/parameters/get?name=${encodeURIComponent(name)}&withDecryption=true`;
  const response = await fetch(url, { method: 'GET', headers });
  if (!response.ok) {
    throw new Error(`status ${response.status}: ${await response.text()}`);
  }
  return response.json();
}

exports.handler = async () => {
  const secret = await getSecret(process.env.AGENT_SECRET_ID);
  const parameter = await getParameter(process.env.AGENT_PARAMETER_NAME);
  return { secret, parameter };
};

if (require.main === module) {
  exports.handler({}).then(
    (out) => { process.stdout.write(JSON.stringify(out)); },
    (err) => { console.error(String(err)); process.exit(1); },
  );
}
