"""Real local parts for the tests: moto's server (CloudFormation, Secrets
Manager, EventBridge, STS) in this process on 127.0.0.1, and the Genesys Cloud
stand-in (tests/genesys_standin.py, a test double checked against the SDK's
models). The tool runs as its own process, `python -m connect_genesys`, with
boto3's AWS_ENDPOINT_URL pointing at moto and GENESYSCLOUD_API_REGION at the
stand-in."""
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

TOOL_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from genesys_standin import GenesysStandIn  # noqa: E402

CLIENT_ID = "standin-client"
CLIENT_SECRET = "standin-client-secret-" + uuid.uuid4().hex
REGION = "us-east-1"

# A plain CloudFormation template (no SAM transform) with the real stack's
# parameter and output names. moto's CloudFormation cannot create an
# AWS::SecretsManager::Secret, so the secret is made directly and passed in
# through ExistingSecretArn, exactly as the real template allows.
TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {
        "ExistingSecretArn": {"Type": "String", "Default": ""},
        "SignatureScheme": {"Type": "String", "Default": "open-messaging"},
        "PartnerEventBusName": {"Type": "String", "Default": ""},
        "AllowedSourceCidrs": {"Type": "String", "Default": ""},
        "SecretRefreshSeconds": {"Type": "Number", "Default": 300},
        "LogLevel": {"Type": "String", "Default": "INFO"},
        # Test-only: what the real template computes from its HTTP API and Function URL.
        "TestWebhookUrl": {"Type": "String", "Default": ""},
        "TestFunctionUrl": {"Type": "String", "Default": ""},
        # Test-only: the real template leaves SECRET_RECHECK_SECONDS at the function's default.
        "TestRecheckSeconds": {"Type": "String", "Default": "30"},
    },
    "Resources": {
        "FailedDeliveriesQueue": {"Type": "AWS::SQS::Queue"},
        "WebhookFunctionRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole"}]}}},
        # The function's configuration, which the tool reads; its code never runs here.
        "WebhookFunction": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "provided.al2023", "Handler": "bootstrap", "Code": {"ZipFile": "unused"},
            "Role": {"Fn::GetAtt": ["WebhookFunctionRole", "Arn"]},
            "Environment": {"Variables": {
                "SECRET_REFRESH_SECONDS": {"Ref": "SecretRefreshSeconds"},
                "SECRET_RECHECK_SECONDS": {"Ref": "TestRecheckSeconds"}}}}},
    },
    "Outputs": {
        "WebhookUrl": {"Value": {"Ref": "TestWebhookUrl"}},
        "FunctionUrlEndpoint": {"Value": {"Ref": "TestFunctionUrl"}},
        "SecretArn": {"Value": {"Ref": "ExistingSecretArn"}},
        "TableName": {"Value": "deliveries"},
        "FailedDeliveriesQueueUrl": {"Value": {"Ref": "FailedDeliveriesQueue"}},
    },
}


@pytest.fixture(scope="session")
def moto_endpoint():
    from moto.core.exceptions import JsonRESTError
    from moto.events.models import EventsBackend
    from moto.server import ThreadedMotoServer

    # moto answers DescribeEventSource for an unknown source with a 500 (a
    # KeyError inside moto); EventBridge answers ResourceNotFoundException.
    original = EventsBackend.describe_event_source

    def describe_event_source(self, name):
        if name not in self.event_sources:
            raise JsonRESTError("ResourceNotFoundException", f"Event source {name} does not exist.")
        return original(self, name)

    EventsBackend.describe_event_source = describe_event_source
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("AWS_"):
            del os.environ[key]
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION,
                      AWS_REGION=REGION)
    yield endpoint
    server.stop()
    EventsBackend.describe_event_source = original
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def standin():
    s = GenesysStandIn(CLIENT_ID, CLIENT_SECRET).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def no_violations(standin):
    before = len(standin.violations)
    yield
    assert standin.violations[before:] == []


@pytest.fixture
def aws(moto_endpoint):
    class Clients:
        cfn = boto3.client("cloudformation")
        sm = boto3.client("secretsmanager")
        events = boto3.client("events")
    return Clients


class Deployment:
    """One stack and its secret in moto."""

    def __init__(self, aws, secret_string, webhook_url="https://abc123.execute-api.us-east-1.amazonaws.com/webhooks/genesys",
                 function_url="", refresh="300", recheck="1", function=True):
        self.aws = aws
        self.name = "gw-" + uuid.uuid4().hex[:8]
        created = aws.sm.create_secret(Name=self.name, SecretString=secret_string)
        self.secret_arn = created["ARN"]
        self.versions_seen = {created["VersionId"]}
        # Every parameter is passed at creation: moto resolves UsePreviousValue
        # only for parameters given explicitly.
        params = {"ExistingSecretArn": self.secret_arn, "SignatureScheme": "open-messaging",
                  "PartnerEventBusName": "", "AllowedSourceCidrs": "",
                  "SecretRefreshSeconds": refresh, "LogLevel": "INFO",
                  "TestWebhookUrl": webhook_url, "TestFunctionUrl": function_url,
                  "TestRecheckSeconds": recheck}
        template = json.loads(json.dumps(TEMPLATE))
        if not function:
            for name in ("WebhookFunction", "WebhookFunctionRole"):
                del template["Resources"][name]
        aws.cfn.create_stack(StackName=self.name, TemplateBody=json.dumps(template),
                             Parameters=[{"ParameterKey": k, "ParameterValue": v}
                                         for k, v in params.items()])

    def parameters(self):
        stack = self.aws.cfn.describe_stacks(StackName=self.name)["Stacks"][0]
        return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}

    def outputs(self):
        stack = self.aws.cfn.describe_stacks(StackName=self.name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def secret(self):
        return self.aws.sm.get_secret_value(SecretId=self.secret_arn)["SecretString"]

    def secret_versions(self):
        return len(self.aws.sm.list_secret_version_ids(SecretId=self.secret_arn)["Versions"])

    def secrets_written(self):
        """The SecretStrings stored since the last call (by the tool: a test
        writes only the first)."""
        ids = [v["VersionId"] for v in
               self.aws.sm.list_secret_version_ids(SecretId=self.secret_arn)["Versions"]]
        new = [i for i in ids if i not in self.versions_seen]
        self.versions_seen.update(new)
        return [self.aws.sm.get_secret_value(SecretId=self.secret_arn, VersionId=i)["SecretString"]
                for i in new]

    def tags(self):
        desc = self.aws.sm.describe_secret(SecretId=self.secret_arn)
        return {t["Key"]: t["Value"] for t in desc.get("Tags", [])}


@pytest.fixture
def deployments():
    return []


@pytest.fixture
def deploy(aws, deployments):
    def make(*a, **kw):
        deployments.append(Deployment(aws, *a, **kw))
        return deployments[-1]
    return make


SCHEMA = json.loads((TOOL_DIR.parent.parent / "docs" / "secret.schema.json").read_text())
WRITTEN = TOOL_DIR / "tests" / "fixtures" / "written-secrets.json"


def secret_shape(text):
    """A SecretString with every secret replaced by a placeholder and the
    integrations' names dropped: the form the function has to read."""
    def canon(v):
        if isinstance(v, dict):
            if set(v) == {"integrations"}:
                return ("integrations", frozenset(canon(e) for e in v["integrations"].values()))
            return tuple(sorted((k, canon(e)) for k, e in v.items()))
        return "secret" if isinstance(v, str) else repr(v)
    return canon(json.loads(text)) if text.lstrip().startswith("{") else "secret"


def check_written(secret_string):
    """What the tool stored follows docs/secret.schema.json, and its form is
    one of the fixtures the function's tests read (tests/secrets.rs)."""
    import jsonschema
    text = secret_string
    instance = json.loads(text) if text.lstrip().startswith("{") else text
    assert jsonschema.Draft202012Validator(SCHEMA).is_valid(instance), \
        f"the tool stored a secret of shape {secret_shape(text)} outside the schema"
    shapes = {secret_shape(f["secret"]) for f in json.loads(WRITTEN.read_text())}
    assert secret_shape(text) in shapes, \
        f"the tool stored a secret of shape {secret_shape(text)}: add one of that form to {WRITTEN.name}"


def tool_env(standin, client_secret=CLIENT_SECRET, home=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESYSCLOUD_")}
    env.update(GENESYSCLOUD_OAUTHCLIENT_ID=CLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET=client_secret,
               GENESYSCLOUD_REGION="us-east-1", GENESYSCLOUD_API_REGION=standin.url,
               PYTHONPATH=str(TOOL_DIR), PYTHONUNBUFFERED="1")
    if home:
        env["HOME"] = str(home)  # no ~/.genesyscloudpython/config of the machine's
    return env


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def assert_no_secret(self, *values):
        for value in values:
            if value:
                assert value not in self.out and value not in self.err, "a secret was printed"


@pytest.fixture
def tool(standin, moto_endpoint, tmp_path, deployments):
    """Runs the tool; every run is checked for the client secret in its output,
    and every secret it stored for being one the function reads."""

    def start(*args, client_secret=CLIENT_SECRET):
        return subprocess.Popen([sys.executable, "-m", "connect_genesys", *args],
                                env=tool_env(standin, client_secret, tmp_path),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(proc, timeout=120):
        out, err = proc.communicate(timeout=timeout)
        result = Result(proc.returncode, out, err)
        result.assert_no_secret(CLIENT_SECRET)
        for d in deployments:
            for written in d.secrets_written():
                check_written(written)
        return result

    def run(*args, client_secret=CLIENT_SECRET, timeout=120):
        return finish(start(*args, client_secret=client_secret), timeout)

    def kill(proc):
        proc.send_signal(signal.SIGKILL)
        return finish(proc)

    run.start, run.finish, run.kill = start, finish, kill
    return run


def wait_for(condition, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
