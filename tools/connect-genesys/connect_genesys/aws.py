"""The AWS side through boto3: the stack's outputs and parameters, the secret
and its tags. Endpoints come from boto3's own AWS_ENDPOINT_URL[_<SERVICE>]."""
import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import boto3
import jsonschema
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from .progress import ToolError, say

# The stack's own capabilities plus these: the template is a SAM template
# (a transform) whose function role has a generated name.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]

TOKEN_TAG_PREFIX = "genesys-webhook:token:"

# The one definition of the secret's forms, shared with the function.
SECRET_SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "secret.schema.json"
WEBHOOK_FUNCTION = "WebhookFunction"


@contextmanager
def aws(what: str):
    try:
        yield
    except ClientError as e:
        err = e.response.get("Error", {})
        raise ToolError(f"AWS refused to {what}: {err.get('Code', '?')}: "
                        f"{err.get('Message', '')}".rstrip(": ")) from None
    except BotoCoreError as e:
        raise ToolError(f"could not {what}: {e}") from None


def region() -> str:
    """The region as the AWS CLI picks it: AWS_REGION, then AWS_DEFAULT_REGION,
    then the profile's. boto3 alone reads only the last two."""
    name = (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or boto3.session.Session().region_name)
    if not name:
        raise ToolError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION")
    return name


def client(service: str):
    try:
        return boto3.client(service, region_name=region())
    except NoRegionError:
        raise ToolError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION") from None
    except BotoCoreError as e:
        raise ToolError(f"could not set up the AWS {service} client: {e}") from None


class Stack:
    def __init__(self, name: str) -> None:
        self.name = name
        self.cfn = client("cloudformation")
        self.refresh()

    def refresh(self) -> None:
        with aws(f"describe stack {self.name}"):
            self.desc = self.cfn.describe_stacks(StackName=self.name)["Stacks"][0]
        self.outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in self.desc.get("Outputs", [])}
        self.parameters = {p["ParameterKey"]: p.get("ParameterValue", "")
                           for p in self.desc.get("Parameters", [])}

    def output(self, key: str) -> str:
        return self.outputs.get(key, "")

    def webhook_url(self) -> str:
        url = self.output("WebhookUrl") or self.output("FunctionUrlEndpoint")
        if not url:
            raise ToolError(f"stack {self.name} has neither a WebhookUrl nor a FunctionUrlEndpoint "
                            "output: enable the HTTP API or the Function URL")
        return url.rstrip("/")

    def function_environment(self) -> dict | None:
        """The webhook function's environment variables, or None when the stack
        has no such function or it cannot be read."""
        try:
            resource = self.cfn.describe_stack_resource(
                StackName=self.name, LogicalResourceId=WEBHOOK_FUNCTION)["StackResourceDetail"]
            conf = client("lambda").get_function_configuration(
                FunctionName=resource["PhysicalResourceId"])
        except (ClientError, BotoCoreError, KeyError):
            return None
        return conf.get("Environment", {}).get("Variables", {})

    def secret_arn(self) -> str:
        arn = self.output("SecretArn")
        if not arn:
            raise ToolError(f"stack {self.name} has no SecretArn output")
        return arn

    def set_parameter(self, key: str, value: str, timeout: float = 1800, poll: float = 5) -> bool:
        """Sets one parameter, every other one keeping its previous value, with
        the previous template. Returns False (and changes nothing) when the
        parameter already has that value."""
        if key not in self.parameters:
            raise ToolError(f"stack {self.name} has no parameter {key}: deploy a version of the "
                            "template that has it first")
        if self.parameters[key] == value:
            return False
        status = self.desc["StackStatus"]
        if status.endswith("_IN_PROGRESS"):
            raise ToolError(f"stack {self.name} is {status}; run again once it has finished")
        params = [{"ParameterKey": k, "UsePreviousValue": True} for k in self.parameters if k != key]
        params.append({"ParameterKey": key, "ParameterValue": value})
        caps = sorted(set(self.desc.get("Capabilities") or []) | set(CAPABILITIES))
        say(f"updating stack {self.name}: {key}")
        with aws(f"update stack {self.name}"):
            self.cfn.update_stack(StackName=self.name, UsePreviousTemplate=True,
                                  Parameters=params, Capabilities=caps)
        deadline = time.time() + timeout
        last = None
        while True:
            self.refresh()
            status = self.desc["StackStatus"]
            if status != last:
                say(f"  stack {self.name}: {status}")
                last = status
            if status == "UPDATE_COMPLETE":
                return True
            if not status.endswith("_IN_PROGRESS"):
                raise ToolError(f"stack update ended in {status}: "
                                f"{self.desc.get('StackStatusReason', 'see the stack events')}")
            if time.time() > deadline:
                raise ToolError(f"stack {self.name} still {status} after {int(timeout)}s")
            time.sleep(poll)


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def secret_problem(text: str) -> str | None:
    """Where `text` breaks docs/secret.schema.json, or None when the function
    reads it. Never the secret's value: only the place and the rule."""
    if text.lstrip().startswith("{"):
        try:
            instance = json.loads(text)
        except ValueError:
            return "it begins with { but is not JSON"
    else:
        instance = text
    schema = json.loads(SECRET_SCHEMA.read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(instance))
    if error is None:
        return None
    return f"at {error.json_path} it fails the schema's {error.validator!r} rule"


class Secret:
    """The webhook secret in Secrets Manager, in a form docs/secret.schema.json
    defines. A scope is None (the top-level secret) or an integration name.
    """

    def __init__(self, arn: str) -> None:
        self.arn = arn
        self.sm = client("secretsmanager")
        self.load()

    def load(self) -> None:
        with aws("read the webhook secret"):
            value = self.sm.get_secret_value(SecretId=self.arn)
        self.string = value.get("SecretString")
        if self.string is None:
            raise ToolError("the webhook secret has no SecretString")
        self.created = value["CreatedDate"].timestamp()
        problem = secret_problem(self.string)
        if problem is not None:
            raise ToolError(f"the webhook secret is in no form docs/secret.schema.json defines "
                            f"({problem}); the function cannot read it either: fix it first")
        self.doc = None
        text = self.string.strip()
        if text.startswith("{"):
            try:
                self.doc = json.loads(text)
            except ValueError:
                raise ToolError("the webhook secret looks like JSON but does not parse") from None
            if not isinstance(self.doc, dict):
                raise ToolError("the webhook secret's JSON is not an object")

    @property
    def has_integrations(self) -> bool:
        return self.doc is not None and "integrations" in self.doc

    def pair(self, scope: str | None) -> tuple[str, str | None]:
        """(current, previous) for the scope."""
        if scope is None:
            if self.has_integrations:
                raise ToolError("the secret holds several integrations ({\"integrations\": ...}): "
                                f"name one with --integration ({', '.join(self.names())})")
            if self.doc is None:
                return self.string, None
            entry = self.doc
        else:
            if not self.has_integrations:
                raise ToolError(f"--integration {scope} given, but the secret does not hold "
                                "several integrations ({\"integrations\": {...}})")
            entry = self.doc["integrations"].get(scope)
            if entry is None:
                raise ToolError(f"the secret has no integration {scope} "
                                f"(it has: {', '.join(self.names()) or 'none'})")
            if isinstance(entry, str):
                return entry, None
        return entry["current"], entry.get("previous") or None

    def has(self, scope: str) -> bool:
        return scope in self.names()

    def names(self) -> list[str]:
        return sorted(self.doc["integrations"]) if self.has_integrations else []

    def put_pair(self, scope: str | None, current: str, previous: str | None) -> None:
        """Stores the scope's secret, keeping every other integration as it is.
        Without a previous value the top-level secret becomes a plain string
        again, the form the stack creates."""
        if scope is None:
            if previous is None:
                text = current
            else:
                text = json.dumps({"current": current, "previous": previous})
        else:
            doc = json.loads(json.dumps(self.doc))
            entry = {"current": current}
            if previous is not None:
                entry["previous"] = previous
            doc["integrations"][scope] = entry
            text = json.dumps(doc)
        problem = secret_problem(text)
        if problem is not None:
            raise ToolError(f"refusing to store a secret the function could not read ({problem})")
        with aws("store the webhook secret"):
            self.sm.put_secret_value(SecretId=self.arn, SecretString=text)
        self.load()

    # Tags: what this tool last pushed to each Genesys integration.
    def tags(self) -> dict:
        with aws("read the webhook secret's tags"):
            desc = self.sm.describe_secret(SecretId=self.arn)
        return {t["Key"]: t["Value"] for t in desc.get("Tags", [])}

    def token_record(self, integration_id: str) -> tuple[str | None, float | None]:
        """(sha256 hex, epoch seconds) of the token last pushed to that Genesys
        integration, or (None, None)."""
        value = self.tags().get(TOKEN_TAG_PREFIX + integration_id)
        if not value:
            return None, None
        fields = dict(part.split("=", 1) for part in value.split() if "=" in part)
        try:
            at = float(fields["at"]) if "at" in fields else None
        except ValueError:
            at = None
        return fields.get("sha256"), at

    def record_token(self, integration_id: str, token: str, at: float) -> None:
        value = f"sha256={fingerprint(token)} at={int(at)}"
        with aws("tag the webhook secret"):
            self.sm.tag_resource(SecretId=self.arn,
                                 Tags=[{"Key": TOKEN_TAG_PREFIX + integration_id, "Value": value}])
