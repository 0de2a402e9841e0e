// Strongroom's Lambda runtime for Node rotation functions: calls `handler(event, context)`
// (async, or with a callback) as AWS Lambda does. Given by the runner: _HANDLER
// ("file.export"), LAMBDA_TASK_ROOT, the event on standard input,
// STRONGROOM_LAMBDA_DEADLINE_MS and STRONGROOM_LAMBDA_RESULT (where a failure's type is
// written). Standard output is the function's log, in Lambda's format: START, the handler's
// console lines (`time\trequestId\tLEVEL\tmessage`), END and REPORT — as the Python runtime.
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const util = require("util");
const { performance } = require("perf_hooks");

const name = process.env.AWS_LAMBDA_FUNCTION_NAME;
const deadline = Number(process.env.STRONGROOM_LAMBDA_DEADLINE_MS);
const context = {
  functionName: name,
  functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION || "$LATEST",
  invokedFunctionArn: process.env.STRONGROOM_LAMBDA_ARN,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || "128",
  // The runner's id for the invocation (it writes the timeout lines of one it stops).
  awsRequestId: process.env.STRONGROOM_LAMBDA_REQUEST_ID || crypto.randomUUID(),
  logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME || `/aws/lambda/${name}`,
  logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME || "strongroom",
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};

// Written at once (not buffered): a line must not be lost to process.exit.
const write = (line) => fs.writeSync(1, line + "\n");

// As Lambda's Node runtime: each console call is one line (its newlines become \r) with the
// time, the invocation's request id and the level; console.log is INFO.
const levels = { trace: "TRACE", debug: "DEBUG", info: "INFO", log: "INFO", warn: "WARN", error: "ERROR" };
for (const [method, level] of Object.entries(levels)) {
  console[method] = (...args) =>
    write(`${new Date().toISOString()}\t${context.awsRequestId}\t${level}\t${util.format(...args)}`
      .replace(/\n/g, "\r"));
}

// When the handler was called (ms since the process started: Lambda's init duration).
let started = null;
write(`START RequestId: ${context.awsRequestId} Version: ${context.functionVersion}`);

function end(code) {
  const now = performance.now();
  const init = started === null ? now : started;
  const ms = now - init;
  const maxMb = Math.ceil(process.resourceUsage().maxRSS / 1024);
  write(`END RequestId: ${context.awsRequestId}`);
  write(`REPORT RequestId: ${context.awsRequestId}\tDuration: ${ms.toFixed(2)} ms\t`
    + `Billed Duration: ${Math.ceil(ms)} ms\tMemory Size: ${context.memoryLimitInMB} MB\t`
    + `Max Memory Used: ${maxMb} MB\tInit Duration: ${init.toFixed(2)} ms\t`);
  process.exit(code);
}

// What Lambda logs of a failed invocation (the details stay in the function's log; the runner
// records only the type).
function fail(kind, e) {
  const err = e instanceof Error ? e : new Error(String(e));
  console.error("Invoke Error", "\t" + JSON.stringify({
    errorType: kind, errorMessage: err.message, stack: String(err.stack || "").split("\n"),
  }));
  fs.writeFileSync(process.env.STRONGROOM_LAMBDA_RESULT, JSON.stringify({ errorType: kind }));
  end(1);
}

const spec = process.env._HANDLER;
const dot = spec.lastIndexOf(".");
const file = spec.slice(0, dot);
const exported = spec.slice(dot + 1);
const event = JSON.parse(fs.readFileSync(0, "utf8"));

let handler;
try {
  handler = require(path.resolve(process.env.LAMBDA_TASK_ROOT, file))[exported];
  if (typeof handler !== "function") throw new TypeError(`${spec} is not a function`);
} catch (e) {
  fail(`Runtime.ImportModuleError (${(e && e.name) || "Error"})`, e);
}

started = performance.now();
const run = handler.length >= 3
  ? new Promise((resolve, reject) => handler(event, context, (err, out) => (err ? reject(err) : resolve(out))))
  : Promise.resolve().then(() => handler(event, context));
run.then(
  () => end(0),
  (e) => fail((e && e.name) || "Error", e),
);
