"""connect-genesys check against moto (CloudFormation, DynamoDB, SQS,
CloudWatch, Secrets Manager, EventBridge, S3), the Genesys stand-in and, for
--send, the repository's own function under `cargo lambda watch`, which serves
it behind a Function URL style HTTP endpoint on 127.0.0.1."""
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from cfnlint.decode import decode

from conftest import REGION, TEMPLATE

ROOT = Path(__file__).resolve().parents[3]
URL = "https://abc123.execute-api.us-east-1.amazonaws.com/webhooks/genesys"
RANGES = [
    {"cidr": "52.1.1.0/24", "service": "open-messaging", "region": "us-east-1", "direction": "outbound"},
    {"cidr": "3.3.3.3/32", "service": "open-messaging", "region": "us-east-1", "direction": "both"},
    {"cidr": "34.4.4.0/24", "service": "data-actions", "region": "us-east-1", "direction": "outbound"},
]
ALLOWED = "3.3.3.3/32,52.1.1.0/24"

# The stand-in stack of conftest, with what check reads besides: the table,
# the relay's name, the TTL and the body bucket. moto's CloudFormation creates no
# alarms, so each stack's alarm is made directly, named as CloudFormation names
# the alarms it creates; the body bucket is made directly too, with the
# lifecycle rule and policy template.yaml gives it.
CHECK_TEMPLATE = json.loads(json.dumps(TEMPLATE))
CHECK_TEMPLATE["Parameters"].update({
    "TestRelayFunction": {"Type": "String", "Default": "relay"},
    "TestBodyBucket": {"Type": "String", "Default": ""},
    "DedupTtlSeconds": {"Type": "Number", "Default": 604800},
})
CHECK_TEMPLATE["Resources"].update({
    "DeliveriesTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}},
})
CHECK_TEMPLATE["Outputs"].update({
    "TableName": {"Value": {"Ref": "DeliveriesTable"}},
    "RelayFunctionName": {"Value": {"Ref": "TestRelayFunction"}},
    "BodyBucketName": {"Value": {"Ref": "TestBodyBucket"}},
})


def body_rule(days, prefix="bodies/"):
    return {"ID": "ExpireBodies", "Status": "Enabled", "Filter": {"Prefix": prefix},
            "Expiration": {"Days": days}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}


def deny_without_tls(bucket):
    return {"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def test_the_test_body_bucket_has_the_rule_and_policy_of_the_template():
    decoded, errors = decode(str(ROOT / "template.yaml"))
    assert not errors, errors
    template = json.loads(json.dumps(decoded, default=str))
    retention = template["Parameters"]["BodyRetentionDays"]["Default"]
    rule, = template["Resources"]["BodyBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert (rule["Status"], rule["Prefix"], rule["ExpirationInDays"]) == \
        ("Enabled", "bodies/", {"Ref": "BodyRetentionDays"})
    assert body_rule(retention)["Expiration"] == {"Days": retention}
    assert body_rule(retention)["Filter"] == {"Prefix": rule["Prefix"]}
    statement, = template["Resources"]["BodyBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    written = deny_without_tls("b")
    for key in ("Sid", "Effect", "Principal", "Action", "Condition"):
        assert statement[key] == written[key], key


def set_lifecycle(bucket, *rules):
    boto3.client("s3").put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


def set_policy(bucket, *statements):
    boto3.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))


class Stack:
    """A deployed stand-in stack, its secret, and what Genesys holds for it."""

    def __init__(self, secret, webhook_url=URL, allowed="", partner_bus="", scheme="open-messaging",
                 body_bucket=True, ttl="604800"):
        self.cfn = boto3.client("cloudformation")
        self.sm = boto3.client("secretsmanager")
        self.name = "ck-" + uuid.uuid4().hex[:8]
        self.relay = self.name + "-relay"
        self.secret_arn = self.sm.create_secret(Name=self.name, SecretString=secret)["ARN"]
        self.bucket = self.name + "-bodies" if body_bucket else ""
        if self.bucket:
            boto3.client("s3").create_bucket(Bucket=self.bucket)
            set_lifecycle(self.bucket, body_rule(10))
            set_policy(self.bucket, deny_without_tls(self.bucket))
        params = {"ExistingSecretArn": self.secret_arn, "SignatureScheme": scheme,
                  "PartnerEventBusName": partner_bus, "AllowedSourceCidrs": allowed,
                  "SecretRefreshSeconds": "300", "LogLevel": "INFO", "TestWebhookUrl": webhook_url,
                  "TestFunctionUrl": "", "TestRelayFunction": self.relay,
                  "TestBodyBucket": self.bucket, "DedupTtlSeconds": ttl}
        self.cfn.create_stack(StackName=self.name, TemplateBody=json.dumps(CHECK_TEMPLATE),
                              Parameters=[{"ParameterKey": k, "ParameterValue": v}
                                          for k, v in params.items()])
        self.outputs = {o["OutputKey"]: o["OutputValue"]
                        for o in self.cfn.describe_stacks(StackName=self.name)["Stacks"][0]["Outputs"]}
        self.alarm = f"{self.name}-StoreErrorsAlarm-{uuid.uuid4().hex[:12].upper()}"
        boto3.client("cloudwatch").put_metric_alarm(
            AlarmName=self.alarm, Namespace="GenesysWebhook", MetricName="StoreErrors",
            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold")

    def iterator_age(self, ms):
        boto3.client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[{
            "MetricName": "IteratorAge", "Value": ms, "Unit": "Milliseconds",
            "Timestamp": datetime.datetime.now(datetime.timezone.utc),
            "Dimensions": [{"Name": "FunctionName", "Value": self.relay}]}])


def lines(out):
    """Checklist item name -> its status, from the tool's stdout."""
    found = {}
    for line in out.splitlines():
        if line.startswith("["):
            status, rest = line[1:].split("]", 1)
            found[rest.strip().split(":", 1)[0]] = status.strip()
    return found


@pytest.fixture
def connected(tool, standin, moto_endpoint):
    """A stack as a user leaves it after connect-genesys's commands: an Open
    Messaging integration pointed at it with its secret, the allowlist of
    Genesys's ranges, and the EventBridge integration enabled, its partner
    source associated with a bus. Genesys creating the partner source in the
    account is simulated through moto's partner API."""
    standin.ip_ranges = RANGES
    suffix = "ck-" + uuid.uuid4().hex[:8]
    bus = f"aws.partner/genesys.com/cloud/{standin.org_id}/{suffix}"
    events = boto3.client("events")
    events.create_partner_event_source(Name=bus, Account="123456789012")
    events.create_event_bus(Name=bus, EventSourceName=bus)
    integration = str(uuid.uuid4())
    standin.integrations[integration] = {
        "name": "EventBridge", "type": "amazon-eventbridge-source", "state": "ENABLED",
        "config": {"name": "EventBridge", "version": 2, "advanced": {}, "notes": "", "credentials": {},
                   "properties": {"awsAccountId": "123456789012", "awsAccountRegion": REGION,
                                  "eventSourceSuffix": suffix}}}
    secret = "check-secret-" + uuid.uuid4().hex
    stack = Stack(secret, allowed=ALLOWED, partner_bus=bus)
    iid = standin.add_open_integration("Chat")
    r = tool("open-messaging", "--stack", stack.name, "--integration-id", iid)
    assert r.code == 0, r.err
    stack.secret, stack.open_integration, stack.eventbridge = secret, iid, integration
    return stack


def test_check_passes_every_item_of_a_connected_healthy_stack(tool, connected):
    connected.iterator_age(2_000)
    r = tool("check", "--stack", connected.name)
    assert r.code == 0, r.out + r.err
    r.assert_no_secret(connected.secret)
    assert lines(r.out) == {
        "stack outputs": "ok", f"open messaging integration {connected.open_integration}": "ok",
        "allowlist": "ok", "eventbridge": "ok", "alarms": "ok", "failure queue": "ok",
        "relay iterator age": "ok", "body bucket": "ok"}, r.out
    assert "at most 2.0s behind" in r.out
    assert "keeps bodies 10 days, the TTL is 7; requests without TLS are denied" in r.out
    assert "8 of 8 passed, 0 failed" in r.out


def test_check_fails_each_item_that_is_out_of_step(tool, standin, connected):
    iid = connected.open_integration
    stale = standin.add_open_integration("Stale", url=URL)
    boto3.client("secretsmanager").tag_resource(SecretId=connected.secret_arn, Tags=[
        {"Key": f"genesys-webhook:token:{stale}", "Value": "sha256=" + "0" * 64 + " at=1"}])
    standin.open_integrations[iid]["url"] = "https://elsewhere.example.com/hook"
    standin.ip_ranges = RANGES + [{"cidr": "18.8.8.0/24", "service": "open-messaging",
                                   "region": "us-east-1", "direction": "outbound"}]
    standin.integrations[connected.eventbridge]["state"] = "DISABLED"
    boto3.client("cloudwatch").set_alarm_state(AlarmName=connected.alarm, StateValue="ALARM",
                                               StateReason="test")
    boto3.client("sqs").send_message(QueueUrl=connected.outputs["FailedDeliveriesQueueUrl"],
                                     MessageBody="{}")
    connected.iterator_age(900_000)
    set_lifecycle(connected.bucket, body_rule(9))

    r = tool("check", "--stack", connected.name)
    assert r.code == 1, r.out
    r.assert_no_secret(connected.secret)
    assert lines(r.out) == {
        "stack outputs": "ok", f"open messaging integration {iid}": "FAIL",
        f"open messaging integration {stale}": "FAIL", "allowlist": "FAIL", "eventbridge": "FAIL",
        "alarms": "FAIL", "failure queue": "FAIL", "relay iterator age": "FAIL",
        "body bucket": "FAIL"}, r.out
    for expected in ["https://elsewhere.example.com/hook, not the stack's URL",
                     "not the secret's current value", "1 missing, 0 no longer published",
                     "is DISABLED", f"in ALARM: {connected.alarm}", "1 message(s) wait",
                     "900s behind the stream",
                     "keeps bodies 9 days, fewer than the 10 the TTL of 7 days needs"]:
        assert expected in r.out, (expected, r.out)
    assert "1 of 9 passed, 8 failed" in r.err


def test_check_fails_a_partner_source_without_a_bus_and_a_missing_output(tool, standin, connected):
    suffix = "nobus-" + uuid.uuid4().hex[:6]
    bus = f"aws.partner/genesys.com/cloud/{standin.org_id}/{suffix}"
    boto3.client("events").create_partner_event_source(Name=bus, Account="123456789012")
    standin.integrations[str(uuid.uuid4())] = {
        "name": "EventBridge 2", "type": "amazon-eventbridge-source", "state": "ENABLED",
        "config": {"name": "EventBridge 2", "version": 2, "advanced": {}, "notes": "", "credentials": {},
                   "properties": {"awsAccountId": "123456789012", "awsAccountRegion": REGION,
                                  "eventSourceSuffix": suffix}}}
    stack = Stack("other-secret-" + uuid.uuid4().hex, webhook_url="", partner_bus=bus,
                  body_bucket=False)
    r = tool("check", "--stack", stack.name)
    assert r.code == 1
    found = lines(r.out)
    assert found["stack outputs"] == "FAIL" and "WebhookUrl or RestApiUrl" in r.out
    assert found["eventbridge"] == "FAIL" and "the source is not associated" in r.out
    assert found["allowlist"] == "skip" and found["open messaging integrations"] == "skip"
    assert found["body bucket"] == "skip" and "no BodyBucketName output" in r.out


def no_lifecycle_rule_on_bodies(stack):
    set_lifecycle(stack.bucket, body_rule(10, prefix="other/"))


def a_shorter_rule_on_some_bodies(stack):
    set_lifecycle(stack.bucket, body_rule(10), body_rule(2, prefix="bodies/ab"))


def no_policy(stack):
    boto3.client("s3").delete_bucket_policy(Bucket=stack.bucket)


def a_deny_narrowed_by_another_condition(stack):
    statement = deny_without_tls(stack.bucket)
    statement["Condition"]["IpAddress"] = {"aws:SourceIp": "10.0.0.0/8"}
    set_policy(stack.bucket, statement)


@pytest.mark.parametrize("ttl, change, reason", [
    ("1209600", None, "keeps bodies 10 days, fewer than the 17 the TTL of 14 days needs"),
    ("604800", no_lifecycle_rule_on_bodies, "no enabled lifecycle rule expires every object under bodies/"),
    ("604800", a_shorter_rule_on_some_bodies, "keeps bodies 2 days, fewer than the 10"),
    ("604800", no_policy, "no statement denying every request with aws:SecureTransport false"),
    ("604800", a_deny_narrowed_by_another_condition, "no statement denying every request"),
])
def test_check_fails_a_body_bucket_that_expires_bodies_too_soon_or_allows_plain_http(
        tool, moto_endpoint, ttl, change, reason):
    stack = Stack("body-secret-" + uuid.uuid4().hex, ttl=ttl)
    if change:
        change(stack)
    r = tool("check", "--stack", stack.name)
    assert r.code == 1
    assert lines(r.out)["body bucket"] == "FAIL", r.out
    assert reason in r.out, r.out


# --send through the function ----------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def function_url(moto_endpoint):
    """The webhook function under `cargo lambda watch` (Function URL events on
    /lambda-url/genesys-webhook/...), reading its secret and table from moto.
    Yields (url, start) where start(table, secret_arn) runs it once."""
    if shutil.which("cargo-lambda") is None:
        pytest.skip("cargo-lambda is not installed (pip install cargo-lambda)")
    port = free_port()
    url = f"http://127.0.0.1:{port}/lambda-url/genesys-webhook/webhooks/genesys"
    procs = []

    def start(table, secret_arn):
        local = {"AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
                 "SIGNATURE_SCHEME": "open-messaging", "WEBHOOK_SECRET_ARN": secret_arn,
                 "DEDUP_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint,
                 "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_endpoint}
        cmd = ["cargo", "lambda", "watch", "--bin", "genesys-webhook", "--ignore-changes",
               "-A", "127.0.0.1", "-P", str(port)]
        for k, v in local.items():
            cmd += ["--env-var", f"{k}={v}"]
        log = open(ROOT / "target" / f"check-function-{port}.log", "w")
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append((proc, log))
        # The first request builds and starts the function: wait for any answer.
        deadline = time.time() + 900
        while True:
            assert proc.poll() is None, "cargo lambda watch exited"
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"),
                                       timeout=900)
                break
            except urllib.error.HTTPError:
                break
            except (urllib.error.URLError, OSError):
                assert time.time() < deadline, "the function did not answer"
                time.sleep(0.5)

    yield url, start
    for proc, log in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()


def items(table):
    return boto3.client("dynamodb").scan(TableName=table)["Items"]


def test_check_send_posts_a_signed_delivery_and_finds_it_recorded(tool, function_url):
    url, start = function_url
    secret = "send-secret-" + uuid.uuid4().hex
    stack = Stack(secret, webhook_url=url)
    table = stack.outputs["TableName"]
    start(table, stack.secret_arn)

    r = tool("check", "--stack", stack.name, "--send")
    r.assert_no_secret(secret)
    assert r.code == 0, r.out + r.err
    assert lines(r.out)["synthetic delivery"] == "ok"
    recorded = items(table)
    assert len(recorded) == 1
    body = json.loads(recorded[0]["body"]["B"])
    assert body["type"] == "genesys-webhook.check"
    assert recorded[0]["pk"]["S"] in r.out

    # A stack whose secret is not the one the function verifies with.
    other = Stack("not-the-function-secret-" + uuid.uuid4().hex, webhook_url=url)
    wrong = tool("check", "--stack", other.name, "--send")
    assert wrong.code == 1
    assert lines(wrong.out)["synthetic delivery"] == "FAIL"
    assert "answered 401 invalid_signature" in wrong.out, wrong.out
    assert len(items(table)) == 1


def test_check_send_refuses_a_scheme_it_cannot_sign(tool):
    stack = Stack("s-" + uuid.uuid4().hex, scheme="genesys")
    r = tool("check", "--stack", stack.name, "--send")
    assert r.code == 1
    assert lines(r.out)["synthetic delivery"] == "FAIL"
    assert "open-messaging deliveries only; this stack uses genesys" in r.out
