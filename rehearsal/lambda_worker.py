"""The Lambda runtime loop of one worker process (run as a script, never imported by the services).

Started with `python -S -E <this file> <handler> <path>...`: no site-packages and no PYTHONPATH, so
only the standard library and the given paths (the function's asset directory, its layers and
the packages the Lambda runtime provides) are importable, as in the deployed function.
Invocations arrive as JSON lines on stdin; results go out as JSON lines on the descriptor named by REHEARSAL_RESULTS_FD, so whatever the
handler prints (its logs) stays on stdout/stderr like in Lambda.
"""

import importlib
import json
import os
import sys
import time
import traceback
import uuid


class Context:
    """The parts of the Lambda context object handlers read."""

    def __init__(self, deadline: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.invoked_function_arn = os.environ["REHEARSAL_FUNCTION_ARN"]
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = "rehearsal"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def main() -> None:
    handler_path, paths = sys.argv[1], sys.argv[2:]
    sys.path[:0] = paths
    module_name, _, function_name = handler_path.rpartition(".")
    results = os.fdopen(int(os.environ.pop("REHEARSAL_RESULTS_FD")), "w", buffering=1)
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        results.write(json.dumps({"ready": True}) + "\n")
    except Exception as exc:  # Runtime.ImportModuleError in Lambda
        results.write(json.dumps({"ready": False, "errorType": "Runtime.ImportModuleError",
                                  "errorMessage": f"Unable to import module '{module_name}': {exc}"}) + "\n")
        return
    for line in sys.stdin:
        job = json.loads(line)
        try:
            payload = json.loads(job["payload"]) if job["payload"] else {}
            result = handler(payload, Context(job["deadline"]))
            out = {"ok": True, "payload": json.dumps(result)}
        except Exception as exc:
            out = {"ok": False, "payload": json.dumps({
                "errorMessage": str(exc), "errorType": type(exc).__name__,
                "stackTrace": traceback.format_exception(exc)[-5:]})}
        sys.stdout.flush()
        sys.stderr.flush()
        results.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
