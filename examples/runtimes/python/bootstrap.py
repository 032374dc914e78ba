#!/usr/bin/env python3
"""A small Lambda runtime for Python handlers, standard library only.

It speaks the Lambda Runtime API (http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/) like the
managed Python runtime does: GET invocation/next, import the handler module from
LAMBDA_TASK_ROOT once, call handler(event, context), POST invocation/{id}/response with the JSON
result, or invocation/{id}/error with {errorMessage, errorType, stackTrace} when the handler
raises; an import failure is reported with POST init/error.

usage: bootstrap.py [module.function]     (default: $_HANDLER, e.g. "app.handler")
"""
import http.client
import importlib
import json
import os
import sys
import time
import traceback

API_VERSION = "2018-06-01"


class LambdaContext:
    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0") or 0)
        cc = headers.get("Lambda-Runtime-Client-Context")
        ci = headers.get("Lambda-Runtime-Cognito-Identity")
        self.client_context = json.loads(cc) if cc else None
        self.identity = json.loads(ci) if ci else None

    def get_remaining_time_in_millis(self):
        if not self._deadline_ms:
            return 0
        return max(0, self._deadline_ms - int(time.time() * 1000))


class RuntimeClient:
    def __init__(self, address):
        self.address = address
        self.conn = None

    def _request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                host, _, port = self.address.rpartition(":")
                self.conn = http.client.HTTPConnection(host, int(port))
            try:
                self.conn.request(method, "/%s/runtime/%s" % (API_VERSION, path), body=body,
                                  headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, resp.headers, data
            except (ConnectionError, http.client.HTTPException, OSError):
                # keep-alive connection closed by the peer: reconnect once
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def next(self):
        status, headers, body = self._request("GET", "invocation/next")
        if status != 200:
            raise RuntimeError("invocation/next answered %d" % status)
        return headers, body

    def post(self, path, payload, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        try:
            status, _, body = self._request("POST", path, payload, h)
        except OSError as exc:
            sys.stderr.write("runtime: the Runtime API is gone (%s): exiting\n" % exc)
            sys.exit(1)
        if status >= 300 and status != 413:
            sys.stderr.write("runtime: POST %s answered %d: %s\n" % (path, status, body[:200]))
        return status


def error_payload(exc):
    return json.dumps({
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__)[1:],
    }).encode()


def load_handler(spec):
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    module_name, _, func_name = spec.rpartition(".")
    if not module_name:
        raise ValueError("handler '%s' is not module.function" % spec)
    module = importlib.import_module(module_name.replace("/", "."))
    return getattr(module, func_name)


def main():
    spec = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("_HANDLER", "")
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = load_handler(spec)
    except Exception as exc:  # report the init failure the way Lambda expects
        client.post("init/error", error_payload(exc),
                    {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"})
        sys.exit(1)
    while True:
        try:
            headers, body = client.next()
        except OSError as exc:
            sys.stderr.write("runtime: the Runtime API is gone (%s): exiting\n" % exc)
            sys.exit(1)
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        try:
            event = json.loads(body) if body else None
            result = handler(event, LambdaContext(headers))
            payload = json.dumps(result).encode()
        except Exception as exc:
            client.post("invocation/%s/error" % request_id, error_payload(exc),
                        {"Lambda-Runtime-Function-Error-Type": "Runtime.UnhandledException"})
            continue
        client.post("invocation/%s/response" % request_id, payload)


if __name__ == "__main__":
    main()
