// Strongroom's Lambda runtime for Node rotation functions: calls `handler(event, context)`
// (async, or with a callback) as AWS Lambda does. Given by the runner: _HANDLER
// ("file.export"), LAMBDA_TASK_ROOT, the event on standard input,
// STRONGROOM_LAMBDA_DEADLINE_MS and STRONGROOM_LAMBDA_RESULT (where a failure's type is
// written). The handler's output and a failure's stack go to standard output/error.
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

function fail(kind) {
  fs.writeFileSync(process.env.STRONGROOM_LAMBDA_RESULT, JSON.stringify({ errorType: kind }));
  process.exit(1);
}

const spec = process.env._HANDLER;
const dot = spec.lastIndexOf(".");
const file = spec.slice(0, dot);
const exported = spec.slice(dot + 1);
const event = JSON.parse(fs.readFileSync(0, "utf8"));
const name = process.env.AWS_LAMBDA_FUNCTION_NAME;
const deadline = Number(process.env.STRONGROOM_LAMBDA_DEADLINE_MS);
const context = {
  functionName: name,
  functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION || "$LATEST",
  invokedFunctionArn: process.env.STRONGROOM_LAMBDA_ARN,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || "128",
  awsRequestId: crypto.randomUUID(),
  logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME || `/aws/lambda/${name}`,
  logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME || "strongroom",
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};

let handler;
try {
  handler = require(path.resolve(process.env.LAMBDA_TASK_ROOT, file))[exported];
  if (typeof handler !== "function") throw new TypeError(`${spec} is not a function`);
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  fail(`Runtime.ImportModuleError (${(e && e.name) || "Error"})`);
}

const run = handler.length >= 3
  ? new Promise((resolve, reject) => handler(event, context, (err, out) => (err ? reject(err) : resolve(out))))
  : Promise.resolve().then(() => handler(event, context));
run.then(
  () => process.exit(0),
  (e) => {
    console.error(e && e.stack ? e.stack : e);
    fail((e && e.name) || "Error");
  },
);
