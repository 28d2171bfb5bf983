#!/usr/bin/env python3
"""Side by side: this project's release binary, the usual Python handler and
the usual Node.js handler, through the same local Lambda Runtime API, against
the same local DynamoDB table, with the same signed events. A fourth, the
floor (bench/floor), makes the same HTTP exchanges and nothing else: the least
CPU any handler can use for a delivery here.

Per handler: CPU time per warm invocation (the handler process's own
user+sys), cold start to first response (median of COLD_RUNS fresh processes),
and peak RSS. Every invocation is a new delivery, so each one verifies the
signature and makes one conditional PutItem.
"""
import hashlib
import hmac
import http.server
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "genesys-webhook-test-secret"
TABLE = "genesys-webhook-bench"
COLD_RUNS = int(os.environ.get("COLD_RUNS", "7"))
WARM_INVOCATIONS = int(os.environ.get("WARM_INVOCATIONS", "1000"))
TICKS = os.sysconf("SC_CLK_TCK")


class RuntimeApi(http.server.ThreadingHTTPServer):
    """The Lambda Runtime API: the handler polls for events and posts answers."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.events = queue.Queue()
        self.pending = {}
        self.counter = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        """A handler killed mid-poll drops its connection; that is expected."""

    @property
    def address(self):
        return f"127.0.0.1:{self.server_address[1]}"

    def invoke(self, event):
        done = {"event": threading.Event()}
        self.events.put((event, done))
        if not done["event"].wait(120):
            raise RuntimeError("no answer within 120 s")
        return done


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's
        # algorithm and the client's delayed ACK add 40 ms to keep-alive clients.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        event, done = self.server.events.get()
        with self.server.lock:
            self.server.counter += 1
            request_id = f"req-{self.server.counter}"
            self.server.pending[request_id] = done
        deadline = str(int(time.time() * 1000) + 30_000)
        self.reply(200, json.dumps(event).encode(), [
            ("Lambda-Runtime-Aws-Request-Id", request_id),
            ("Lambda-Runtime-Deadline-Ms", deadline),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
            ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
        ])

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        parts = self.path.split("/")
        request_id, kind = parts[-2], parts[-1]
        with self.server.lock:
            done = self.server.pending.pop(request_id, None)
        if done is not None:
            done["at"] = time.perf_counter()
            done["answer"] = json.loads(body or b"null") if kind == "response" else {"error": body.decode()}
            done["event"].set()
        self.reply(202)


def body_of(size):
    """A Genesys-shaped JSON body of exactly `size` bytes."""
    head = json.dumps({"topicName": "v2.routing.queues.conversations", "pad": ""}).encode()
    return head[:-2] + b"x" * (size - len(head)) + head[-2:]


BODY = body_of(2048)


def event(delivery_id, body=BODY):
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/genesys",
        "rawPath": "/webhooks/genesys",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-genesys-signature": signature,
                    "x-genesys-delivery-id": delivery_id},
        "requestContext": {"domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                           "http": {"method": "POST", "path": "/webhooks/genesys"},
                           "requestId": delivery_id, "timeEpoch": int(time.time() * 1000)},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def cpu_seconds(pid):
    """User and system CPU time of the process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start(command, api, endpoint, extra_env=None):
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_LAMBDA_LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARN"),
        "WEBHOOK_SECRET": SECRET,
        "DEDUP_TABLE": TABLE,
        "SIGNATURE_SCHEME": "genesys",
        "PYTHONPATH": os.path.join(ROOT, "bench", "python"),
        **(extra_env or {}),
    }
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=os.path.join(ROOT, "bench"))


def stop(proc):
    """SIGTERM first, so that a wrapper (callgrind, perf) can write its file."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def check(done, want="accepted"):
    answer = done["answer"]
    body = json.loads(answer.get("body", "{}")) if isinstance(answer, dict) else {}
    if body.get("status") != want:
        raise RuntimeError(f"unexpected answer: {answer}")


def measure(name, command, endpoint, serial, body=BODY, invocations=WARM_INVOCATIONS,
            cold_runs=COLD_RUNS, extra_env=None):
    colds, peaks = [], []
    for run in range(cold_runs):
        api = RuntimeApi()
        started = time.perf_counter()
        proc = start(command, api, endpoint, extra_env)
        done = api.invoke(event(f"{name}-cold-{serial}-{run}", body))
        colds.append((done["at"] - started) * 1000)
        check(done)
        peaks.append(peak_rss_mb(proc.pid))
        stop(proc)
        api.shutdown()

    api = RuntimeApi()
    proc = start(command, api, endpoint, extra_env)
    for i in range(min(20, invocations)):
        check(api.invoke(event(f"{name}-warmup-{serial}-{i}", body)))
    before = cpu_seconds(proc.pid)
    began = time.perf_counter()
    for i in range(invocations):
        check(api.invoke(event(f"{name}-warm-{serial}-{i}", body)))
    wall = time.perf_counter() - began
    after = cpu_seconds(proc.pid)
    user, system = after[0] - before[0], after[1] - before[1]
    check(api.invoke(event(f"{name}-warm-{serial}-0", body)), want="duplicate")
    peaks.append(peak_rss_mb(proc.pid))
    stop(proc)
    api.shutdown()
    return {
        "handler": name,
        "cpu_us": (user + system) / invocations * 1e6,
        "user_us": user / invocations * 1e6,
        "sys_us": system / invocations * 1e6,
        "wall_ms": wall / invocations * 1e3,
        "cold_ms": statistics.median(colds),
        "cold_all": colds,
        "rss_mb": max(peaks),
    }


def main():
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from run_local import create_table, start_dynamodb
    import run_local

    run_local.TABLE = TABLE
    dynamodb, endpoint = start_dynamodb()
    serial = str(int(time.time()))
    try:
        create_table(endpoint)
        handlers = [
            ("rust", [os.environ.get("RUST_BINARY", os.path.join(ROOT, "target", "release", "genesys-webhook"))]),
            ("python", [sys.executable, os.path.join(ROOT, "bench", "python", "bootstrap.py")]),
            ("node", ["node", os.path.join(ROOT, "bench", "node", "bootstrap.mjs")]),
            ("floor", [os.environ.get("FLOOR_BINARY", os.path.join(ROOT, "bench", "floor", "target", "release", "floor"))]),
        ]
        only = os.environ.get("HANDLERS", "rust,python,node,floor").split(",")
        results = [measure(name, cmd, endpoint, serial) for name, cmd in handlers if name in only]
    finally:
        dynamodb.stdin.close()
        dynamodb.wait(timeout=10)

    rust = results[0]
    print(f"\n{WARM_INVOCATIONS} warm invocations and {COLD_RUNS} cold starts per handler, "
          f"2 KiB body, one conditional PutItem each\n")
    print("| handler | CPU per warm invocation | cold start to first response (median) | peak RSS |"
          " CPU vs rust | cold vs rust |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['handler']} | {r['cpu_us']:.0f} µs | {r['cold_ms']:.1f} ms | {r['rss_mb']:.1f} MB |"
              f" {r['cpu_us'] / rust['cpu_us']:.1f}× | {r['cold_ms'] / rust['cold_ms']:.1f}× |")
    print("\ncold starts (ms): " + "; ".join(
        f"{r['handler']}: " + ", ".join(f"{c:.0f}" for c in r["cold_all"]) for r in results))
    print("CPU per warm invocation, user + system (µs): " + ", ".join(
        f"{r['handler']} {r['user_us']:.0f} + {r['sys_us']:.0f}" for r in results))
    print("wall time per warm invocation, store round trip included (ms): " + ", ".join(
        f"{r['handler']} {r['wall_ms']:.2f}" for r in results))


if __name__ == "__main__":
    main()
