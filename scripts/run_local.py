#!/usr/bin/env python3
"""Runs the function locally over every sample event and prints each outcome.

Starts moto's DynamoDB server on 127.0.0.1, creates the table, then for each
signature scheme runs the function under `cargo lambda watch` bound to
127.0.0.1 and invokes that scheme's samples (re-signed at the current time, so
timestamped schemes are inside their tolerance), Genesys's partner event sample
on the EventBridge door and as the partner queue hands it over. Sends one event
twice to show the duplicate, and one delivery too large for its item, whose body
goes to a local S3 bucket while its item records the reference. Then relays what was recorded: reads the table's stream, hands
its records to the relay under `cargo lambda watch` as a stream mapping would,
and prints what arrived on the bus through a rule to a local queue. Stops
everything it started. Exits 1 if any answer differs from the expected one, or
if a recorded delivery did not arrive on the bus.
"""
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = "genesys-webhook-local"
GENESYS_SAMPLE = "eventbridge-user-presence.json"
# The same event as the partner queue hands it over; its answer lists no message.
QUEUED_SAMPLE = "sqs-partner-user-presence.json"
SECRETS = {
    "standard-webhooks": "whsec_Z2VuZXN5cy13ZWJob29rLXRlc3Qtc2VjcmV0",
}
TEST_SECRET = "genesys-webhook-test-secret"
BUS = "genesys-webhook-local"
BODY_BUCKET = "genesys-webhook-local-bodies"
# An Open Messaging message of about 1 MiB: too large for its item, so kept in the bucket.
LARGE_SAMPLE = "apigw-v2.open-messaging.large.json"
LARGE_TEXT_BYTES = 1024 * 1024
BUS_QUEUE = "genesys-webhook-local-bus"
# As the template's mapping: INSERT and MODIFY only, 20 records a batch.
RELAYED_EVENTS = ("INSERT", "MODIFY")
RELAY_BATCH = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the function runner exited early (status {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"nothing listened on 127.0.0.1:{port} after {seconds:.0f}s")


def start_dynamodb() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "scripts", "local_dynamodb.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    port = proc.stdout.readline().strip()
    if not port:
        sys.exit("moto's DynamoDB server did not start")
    return proc, f"http://127.0.0.1:{port}"


def create_table(endpoint: str) -> None:
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    ddb.update_time_to_live(
        TableName=TABLE,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )


def create_bucket(endpoint: str) -> None:
    aws("s3", endpoint).create_bucket(Bucket=BODY_BUCKET)


def write_large_sample(sign: str, events_dir: str) -> None:
    """A signed Open Messaging message of about 1 MiB in the HTTP API's event."""
    body = {"id": f"large-{int(time.time())}", "type": "Text", "direction": "Outbound",
            "channel": {"id": "local", "platform": "Open", "type": "Private", "messageId": "large"},
            "text": "x" * LARGE_TEXT_BYTES}
    body_file = os.path.join(events_dir, "large-body.json")
    with open(body_file, "w") as f:
        json.dump(body, f)
    event = subprocess.run([sign, "sign", "--scheme", "open-messaging", "--front-door", "apigw-v2", body_file],
                           check=True, capture_output=True, text=True).stdout
    with open(os.path.join(events_dir, LARGE_SAMPLE), "w") as f:
        f.write(event)


def show_kept_bodies(endpoint: str) -> int:
    """Prints each item that holds a reference and checks its object; returns how many fail."""
    import hashlib

    items = aws("dynamodb", endpoint).scan(TableName=TABLE)["Items"]
    kept = [i for i in items if "body_key" in i]
    print(f"\nin the bucket {BODY_BUCKET} (bodies too large for their item):\n")
    problems = 0 if kept else 1
    for item in kept:
        bucket, key = item["body_bucket"]["S"], item["body_key"]["S"]
        body = aws("s3", endpoint).get_object(Bucket=bucket, Key=key)["Body"].read()
        matches = (hashlib.sha256(body).hexdigest() == item["body_sha256"]["S"]
                   and len(body) == int(item["body_size"]["N"]) and "body" not in item)
        problems += not matches
        print(f"  {item['pk']['S'][:40]}  s3://{bucket}/{key[:24]}...  {len(body)} bytes, "
              + ("the item holds its reference and SHA-256" if matches else "<-- MISMATCH"))
    if not kept:
        print("  none  <-- the large delivery was not kept by reference")
    return problems


def catalog(sign: str) -> list[dict]:
    out = subprocess.run([sign, "catalog"], check=True, capture_output=True, text=True).stdout
    rows = [line.split("\t") for line in out.splitlines() if line]
    return [dict(zip(["file", "door", "scheme", "expect"], row)) for row in rows]


def invoke(port: int, event: dict) -> str:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/2015-03-31/functions/genesys-webhook/invocations",
        data=json.dumps(event).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            answer = json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        answer = json.loads(e.read() or b"null")
    if not isinstance(answer, dict):
        return f"? {answer!r}"
    if "errorType" in answer:
        return f"error:{answer['errorType']}"
    if isinstance(answer.get("batchItemFailures"), list):
        listed = [f.get("itemIdentifier") for f in answer["batchItemFailures"]]
        return "acknowledged" if not listed else "listed " + ",".join(map(str, listed))
    body = answer
    if isinstance(answer.get("body"), str):
        body = json.loads(answer["body"])
    for key in ("error", "reason", "status"):
        if isinstance(body.get(key), str):
            return body[key]
    return f"? {answer!r}"


def run_scheme(scheme: str, rows: list[dict], events_dir: str, endpoint: str, show_duplicate: bool) -> list[tuple]:
    variables = {
        "SIGNATURE_SCHEME": scheme,
        "WEBHOOK_SECRET": SECRETS.get(scheme, TEST_SECRET),
        "DEDUP_TABLE": TABLE,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "BODY_BUCKET": BODY_BUCKET,
        "AWS_ENDPOINT_URL_S3": endpoint,
    }
    results = []
    with watching("genesys-webhook", variables, os.path.join(events_dir, f"function-{scheme}.log")) as port:
        for row in rows:
            with open(os.path.join(events_dir, row["file"])) as f:
                event = json.load(f)
            results.append((row["file"], row["door"], scheme, row["expect"], invoke(port, event)))
            if show_duplicate and row["expect"] == "accepted":
                results.append((row["file"] + " (again)", row["door"], scheme, "duplicate", invoke(port, event)))
                show_duplicate = False
    return results


@contextlib.contextmanager
def watching(binary: str, variables: dict, log_path: str):
    """`cargo lambda watch` serving `binary` with `variables` and local credentials, on a free
    port it yields once the port answers; stopped, with its log closed, on leaving."""
    local = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
             "AWS_EC2_METADATA_DISABLED": "true"}
    port = free_port()
    env = dict(os.environ, **local)
    variables = dict(variables, **local)
    cmd = ["cargo", "lambda", "watch", "--bin", binary, "--ignore-changes", "-A", "127.0.0.1", "-P", str(port)]
    for name, value in variables.items():
        cmd += ["--env-var", f"{name}={value}"]
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, proc, 600)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def main() -> int:
    sign = os.path.join(ROOT, "target", "debug", "genesys-sign")
    rows = catalog(sign)
    rows.append({"file": GENESYS_SAMPLE, "door": "eventbridge", "scheme": "genesys", "expect": "accepted"})
    rows.append({"file": QUEUED_SAMPLE, "door": "partner-queue", "scheme": "genesys", "expect": "acknowledged"})
    rows.append({"file": LARGE_SAMPLE, "door": "apigw-v2", "scheme": "open-messaging", "expect": "accepted"})
    dynamodb, endpoint = start_dynamodb()
    try:
        create_table(endpoint)
        create_bucket(endpoint)
        with tempfile.TemporaryDirectory() as events_dir:
            subprocess.run([sign, "events", events_dir, "--at", str(int(time.time()))], check=True)
            for name in (GENESYS_SAMPLE, QUEUED_SAMPLE):
                with open(os.path.join(ROOT, "events", name)) as src, \
                        open(os.path.join(events_dir, name), "w") as dst:
                    dst.write(src.read())
            write_large_sample(sign, events_dir)
            results = []
            # Every scheme the catalogue signs for, pinned explicitly.
            for scheme in dict.fromkeys(r["scheme"] for r in rows):
                mine = [r for r in rows if r["scheme"] == scheme]
                print(f"running {len(mine)} events under SIGNATURE_SCHEME={scheme} ...", flush=True)
                results += run_scheme(scheme, mine, events_dir, endpoint, show_duplicate=not results)
            kept_problems = show_kept_bodies(endpoint)
            print("\nrelaying the recorded deliveries to the bus ...", flush=True)
            relayed = relay_to_bus(endpoint, events_dir)
    finally:
        dynamodb.stdin.close()
        dynamodb.wait(timeout=10)

    widths = [max(len(str(r[i])) for r in results + [("event", "front door", "scheme", "expected", "got")])
              for i in range(5)]
    line = lambda cols: "  ".join(str(c).ljust(w) for c, w in zip(cols, widths))
    print()
    print(line(("event", "front door", "scheme", "expected", "got")) + "  ")
    print(line(["-" * w for w in widths]))
    failures = 0
    for r in results:
        ok = r[3] == r[4]
        failures += not ok
        print(line(r) + ("" if ok else "  <-- MISMATCH"))
    print(f"\n{len(results) - failures} as expected, {failures} not")
    relay_problems = print_relayed(relayed)
    return 1 if failures or relay_problems or kept_problems else 0


def aws(service: str, endpoint: str):
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def create_bus_to_queue(endpoint: str) -> str:
    """A bus whose one rule sends every delivery event to a local queue."""
    sqs, events = aws("sqs", endpoint), aws("events", endpoint)
    url = sqs.create_queue(QueueName=BUS_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.create_event_bus(Name=BUS)
    events.put_rule(Name="all-deliveries", EventBusName=BUS,
                    EventPattern=json.dumps({"source": ["genesys-webhook"]}))
    events.put_targets(Rule="all-deliveries", EventBusName=BUS, Targets=[{"Id": "local-queue", "Arn": arn}])
    return url


def lambda_attribute(value: dict) -> dict:
    """A stream attribute as Lambda's event shows it: binary as base64."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {k: lambda_attribute(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [lambda_attribute(v) for v in inner]}
    return {kind: inner}


def stream_records(endpoint: str) -> list[dict]:
    """Every record on the table's stream, shaped as in a stream mapping's event."""
    streams = aws("dynamodbstreams", endpoint)
    arn = aws("dynamodb", endpoint).describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for r in streams.get_records(ShardIterator=iterator)["Records"]:
            change = dict(r["dynamodb"])
            change["ApproximateCreationDateTime"] = change["ApproximateCreationDateTime"].timestamp()
            for image in ("Keys", "NewImage", "OldImage"):
                if image in change:
                    change[image] = {k: lambda_attribute(v) for k, v in change[image].items()}
            records.append({"eventID": r["eventID"], "eventName": r["eventName"], "eventVersion": "1.1",
                            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                            "eventSourceARN": arn, "dynamodb": change})
    return records


def invoke_json(port: int, function: str, event: dict):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(event).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"null")


def relay_to_bus(endpoint: str, events_dir: str) -> dict:
    """Runs the relay over the table's stream and returns what reached the bus."""
    queue = create_bus_to_queue(endpoint)
    records = [r for r in stream_records(endpoint) if r["eventName"] in RELAYED_EVENTS]
    variables = {
        "OUTBOX_BUS_NAME": BUS,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": endpoint,
        "AWS_ENDPOINT_URL_SQS": endpoint,
        # Where the relay finds the bodies items hold by reference.
        "BODY_BUCKET": BODY_BUCKET,
        "AWS_ENDPOINT_URL_S3": endpoint,
    }
    failed = []
    with watching("genesys-relay", variables, os.path.join(events_dir, "relay.log")) as port:
        for start in range(0, len(records), RELAY_BATCH):
            answer = invoke_json(port, "genesys-relay", {"Records": records[start:start + RELAY_BATCH]})
            if not isinstance(answer, dict) or "errorType" in answer:
                failed += [r["dynamodb"]["SequenceNumber"] for r in records[start:start + RELAY_BATCH]]
            else:
                failed += [f["itemIdentifier"] for f in answer.get("batchItemFailures", [])]
    sqs = aws("sqs", endpoint)
    arrived = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        for m in got:
            event = json.loads(m["Body"])
            body = "by reference" if "bodyRef" in event["detail"] else "inline"
            arrived.append((event["detail"]["deliveryId"], event["detail-type"], event["detail"]["frontDoor"], body))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return {"records": len(records), "failed": failed, "arrived": arrived}


def print_relayed(relayed: dict) -> int:
    """Prints what arrived on the bus; returns how many recorded deliveries did not."""
    rows = sorted(relayed["arrived"], key=lambda r: (r[2], r[0]))
    header = ("delivery id", "detail-type", "front door", "body")
    widths = [min(72, max(len(r[i]) for r in rows + [header])) for i in range(4)]
    line = lambda cols: "  ".join(str(c)[:w].ljust(w) for c, w in zip(cols, widths))
    print(f"\non the bus {BUS} (a rule sends every event to the queue {BUS_QUEUE}):\n")
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    missing = relayed["records"] - len(rows)
    print(f"\n{len(rows)} of {relayed['records']} recorded deliveries arrived on the bus, "
          f"{len(relayed['failed'])} reported failed by the relay")
    return max(0, missing, len(relayed["failed"]))


if __name__ == "__main__":
    sys.exit(main())
