# Strongroom's Lambda runtime for Python rotation functions: calls `handler(event, context)`
# as AWS Lambda does. Given by the runner: _HANDLER ("module.function"), LAMBDA_TASK_ROOT (the
# function's directory), the event on standard input, STRONGROOM_LAMBDA_DEADLINE_MS and
# STRONGROOM_LAMBDA_RESULT (where a failure's type is written). The handler's output and a
# failure's traceback go to standard output/error: the function's log, between Lambda's START,
# END and REPORT lines.
import importlib
import json
import logging
import os
import resource
import sys
import time
import traceback
import uuid


class LambdaContext:
    def __init__(self):
        name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ["STRONGROOM_LAMBDA_ARN"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        # The runner's id for the invocation (it writes the timeout lines of one it stops).
        self.aws_request_id = os.environ.get("STRONGROOM_LAMBDA_REQUEST_ID") or str(uuid.uuid4())
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "strongroom")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(os.environ["STRONGROOM_LAMBDA_DEADLINE_MS"])

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def fail(kind):
    with open(os.environ["STRONGROOM_LAMBDA_RESULT"], "w") as f:
        json.dump({"errorType": kind}, f)
    sys.exit(1)


class RequestId(logging.Filter):
    def __init__(self, request_id):
        super().__init__()
        self.request_id = request_id

    def filter(self, record):
        record.aws_request_id = self.request_id
        return True


def report(context, started):
    """Lambda's REPORT line: the call's duration, the memory used, and the init duration
    (from the runtime's start to the handler's call: every step is a cold start here)."""
    now = time.monotonic()
    called = started if started is not None else now
    ms = (now - called) * 1000
    init = (called - RUNTIME_START) * 1000
    max_mb = -(-resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    print(f"REPORT RequestId: {context.aws_request_id}\tDuration: {ms:.2f} ms\t"
          f"Billed Duration: {int(-(-ms // 1))} ms\tMemory Size: {context.memory_limit_in_mb} MB\t"
          f"Max Memory Used: {max_mb} MB\tInit Duration: {init:.2f} ms\t", flush=True)


RUNTIME_START = time.monotonic()


def main():
    context = LambdaContext()
    started = None
    # As Lambda's runtime: the root logger writes to the function's log in Lambda's format
    # (UTC time, the invocation's request id: it ties a step's lines together); the handler
    # picks the level (AWS's templates call logger.setLevel(logging.INFO)).
    log = logging.StreamHandler(sys.stdout)
    fmt = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                            "%Y-%m-%dT%H:%M:%S")
    fmt.converter = time.gmtime
    log.setFormatter(fmt)
    log.addFilter(RequestId(context.aws_request_id))
    logging.getLogger().addHandler(log)
    print(f"START RequestId: {context.aws_request_id} Version: {context.function_version}",
          flush=True)
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    event = json.loads(sys.stdin.read())
    try:
        module = importlib.import_module(module_name.replace("/", "."))
        handler = getattr(module, function_name)
    except Exception as e:  # noqa: BLE001 - reported as Lambda reports an import error
        traceback.print_exc()
        fail(f"Runtime.ImportModuleError ({type(e).__name__})")
    try:
        started = time.monotonic()
        handler(event, context)
    except Exception as e:  # noqa: BLE001 - any exception fails the step, as in Lambda
        traceback.print_exc()
        fail(type(e).__name__)
    finally:
        logging.shutdown()
        print(f"END RequestId: {context.aws_request_id}", flush=True)
        report(context, started)
    sys.stdout.flush()


main()
