"""check: is a deployed stack connected and healthy? A read-only checklist,
one line per item as it is checked; any failure makes the command fail.

With --send it also posts one signed synthetic delivery (body `type`
genesys-webhook.check, so rules on Genesys's own types ignore it) and confirms
the 200 and the item the function recorded. Secrets never reach a message."""
import base64
import datetime
import hashlib
import hmac
import json
import math
import re
import time
import urllib.error
import urllib.request
import uuid

from botocore.exceptions import ClientError

from .aws import Secret, Stack, aws, client, fingerprint, region as aws_region, TOKEN_TAG_PREFIX
from .commands import EVENTBRIDGE_TYPE, cidr_set, find_eventbridge_integration, published_ranges
from .genesys import Genesys, genesys_aws_region
from .progress import ToolError

CHECK_TYPE = "genesys-webhook.check"
URL_OUTPUTS = ("WebhookUrl", "RestApiUrl", "FunctionUrlEndpoint")
REQUIRED_OUTPUTS = ("SecretArn", "TableName", "FailedDeliveriesQueueUrl", "RelayFunctionName")
PARTNER_BUS = re.compile(r"^aws\.partner/genesys\.com/cloud/(?P<org>[^/]+)/(?P<suffix>[^/]+)$")
# As RelayIteratorAgeAlarm: five minutes behind the stream.
DEFAULT_MAX_ITERATOR_AGE_SECONDS = 300
# As the template: the objects the function writes, and the TTL's default.
BODY_PREFIX = "bodies/"
DEFAULT_DEDUP_TTL_SECONDS = 604800
# TTL deletion lags up to two days, in which an item can still be replayed; one to spare.
TTL_LAG_DAYS = 3


class Failed(Exception):
    """One item of the checklist failed; the message says why."""


class Skipped(Exception):
    """One item does not apply to this stack; the message says why."""


class Checklist:
    def __init__(self) -> None:
        self.failed: list[str] = []
        self.passed = 0
        self.skipped = 0

    def item(self, name: str, check) -> None:
        """Runs `check` (returns a detail line or raises) and prints its line."""
        try:
            detail = check()
        except Skipped as e:
            self.skip(name, str(e))
        except (Failed, ToolError) as e:
            self.fail(name, str(e))
        else:
            self.passed += 1
            self.line("ok", name, detail)

    def fail(self, name: str, detail: str) -> None:
        self.failed.append(name)
        self.line("FAIL", name, detail)

    def skip(self, name: str, detail: str) -> None:
        self.skipped += 1
        self.line("skip", name, detail)

    @staticmethod
    def line(status: str, name: str, detail: str) -> None:
        print(f"[{status:>4}] {name}: {detail}", flush=True)


class Context:
    """What the checks share, each read once and only when one needs it."""

    def __init__(self, args) -> None:
        self.args = args
        self.stack = Stack(args.stack)
        self._secret = None
        self._genesys = None

    def secret(self) -> Secret:
        if self._secret is None:
            self._secret = Secret(self.stack.secret_arn())
        return self._secret

    def genesys(self) -> Genesys:
        if self._genesys is None:
            self._genesys = Genesys()
        return self._genesys

    def urls(self) -> list[str]:
        return [self.stack.output(k).rstrip("/") for k in URL_OUTPUTS if self.stack.output(k)]


def check(args) -> str:
    ctx = Context(args)
    checklist = Checklist()
    checklist.item("stack outputs", lambda: outputs(ctx))
    for integration_id in integration_ids(ctx, checklist):
        checklist.item(f"open messaging integration {integration_id}",
                       lambda i=integration_id: open_integration(ctx, i))
    checklist.item("allowlist", lambda: allowlist(ctx))
    checklist.item("eventbridge", lambda: eventbridge(ctx))
    checklist.item("alarms", lambda: alarms(ctx))
    checklist.item("failure queue", lambda: failure_queue(ctx))
    checklist.item("relay iterator age", lambda: iterator_age(ctx))
    checklist.item("body bucket", lambda: body_bucket(ctx))
    if args.send:
        checklist.item("synthetic delivery", lambda: send(ctx))
    total = checklist.passed + len(checklist.failed) + checklist.skipped
    summary = (f"check: {checklist.passed} of {total} passed, {len(checklist.failed)} failed, "
               f"{checklist.skipped} not applicable")
    if checklist.failed:
        raise ToolError(f"{summary} ({', '.join(checklist.failed)})")
    return summary


# the items ---------------------------------------------------------------

def outputs(ctx: Context) -> str:
    status = ctx.stack.desc.get("StackStatus", "")
    if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
        raise Failed(f"stack is {status}")
    missing = [k for k in REQUIRED_OUTPUTS if not ctx.stack.output(k)]
    if not ctx.urls():
        missing.append(" or ".join(URL_OUTPUTS))
    if missing:
        raise Failed(f"missing outputs: {', '.join(missing)}")
    return f"{status}; posting to {', '.join(ctx.urls())}"


def integration_ids(ctx: Context, checklist: Checklist) -> list[str]:
    """The integrations named with --integration-id, and every one whose token
    open-messaging or rotate recorded on the secret."""
    named = list(ctx.args.integration_id or [])
    try:
        tags = ctx.secret().tags()
    except ToolError as e:
        checklist.fail("webhook secret", str(e))
        return named
    recorded = sorted(k[len(TOKEN_TAG_PREFIX):] for k in tags if k.startswith(TOKEN_TAG_PREFIX))
    ids = named + [i for i in recorded if i not in named]
    if not ids:
        checklist.skip("open messaging integrations",
                       "none recorded on the secret (open-messaging records them) and none "
                       "named with --integration-id")
    return ids


def open_integration(ctx: Context, integration_id: str) -> str:
    integration = ctx.genesys().get_open_integration(integration_id)
    url = (integration.outbound_notification_webhook_url or "").rstrip("/")
    secret = ctx.secret()
    scope = None
    for base in ctx.urls():
        if url == base and not secret.has_integrations:
            break
        name = url[len(base) + 1:] if url.startswith(base + "/") else ""
        if name and name in secret.names():
            scope = name
            break
    else:
        raise Failed(f"outboundNotificationWebhookUrl is {url or '(none)'}, not the stack's "
                     f"URL; run open-messaging")
    current, previous = secret.pair(scope)
    recorded, _ = secret.token_record(integration_id)
    if recorded is None:
        raise Failed("no token recorded for it on the secret; run open-messaging")
    if recorded != fingerprint(current):
        hint = ("a rotation is in progress; finish it with rotate"
                if previous is not None and recorded == fingerprint(previous)
                else "run open-messaging")
        raise Failed(f"the token it was given is not the secret's current value: {hint}")
    where = f" (integration {scope})" if scope else ""
    return f"posts to {url} with the secret's current value{where}"


def allowlist(ctx: Context) -> str:
    value = ctx.stack.parameters.get("AllowedSourceCidrs", "")
    if not value.strip():
        raise Skipped("AllowedSourceCidrs is empty: every address may deliver")
    present = cidr_set(value)
    if present is None:
        raise Failed("AllowedSourceCidrs does not parse: the function cannot start")
    region = ctx.args.genesys_region or genesys_aws_region()
    if not region:
        raise Failed("cannot tell the organisation's Genesys region; pass --genesys-region")
    services = {s.lower() for s in (ctx.args.service or ["open-messaging"])}
    nets, _ = published_ranges(ctx.genesys(), region, services)
    missing, extra = set(nets) - present, present - set(nets)
    if missing or extra:
        raise Failed(f"differs from Genesys's published {'/'.join(sorted(services))} ranges for "
                     f"{region}: {len(missing)} missing, {len(extra)} no longer published; "
                     "run allowlist")
    return f"the {len(nets)} ranges Genesys publishes for {region}"


def eventbridge(ctx: Context) -> str:
    bus = ctx.stack.parameters.get("PartnerEventBusName", "")
    if not bus:
        raise Skipped("PartnerEventBusName is empty: no partner events")
    match = PARTNER_BUS.match(bus)
    if not match:
        raise Failed(f"PartnerEventBusName {bus} is not a Genesys partner event bus")
    genesys = ctx.genesys()
    if match["org"] != genesys.org_id():
        raise Failed(f"the bus is for organisation {match['org']}, not the one logged in")
    with aws("identify the AWS account"):
        account = client("sts").get_caller_identity()["Account"]
    region = aws_region()
    integration, _ = find_eventbridge_integration(genesys, account, region, match["suffix"])
    if integration is None:
        raise Failed(f"no {EVENTBRIDGE_TYPE} integration for account {account}, {region}, "
                     f"suffix {match['suffix']}; run eventbridge")
    if (integration.intended_state or "").upper() != "ENABLED":
        raise Failed(f"integration {integration.id} is {integration.intended_state}; "
                     "run eventbridge")
    events = client("events")
    with aws(f"look for the event source {bus}"):
        try:
            state = events.describe_event_source(Name=bus).get("State", "")
        except events.exceptions.ResourceNotFoundException:
            state = "missing"
    if state != "ACTIVE":
        raise Failed(f"the partner event source is {state}, not associated with a bus")
    with aws(f"look for the event bus {bus}"):
        try:
            events.describe_event_bus(Name=bus)
        except events.exceptions.ResourceNotFoundException:
            raise Failed(f"no event bus {bus}: the source is not associated; run eventbridge") \
                from None
    return f"integration {integration.id} enabled, its source associated with {bus}"


def alarms(ctx: Context) -> str:
    """The stack's alarms: its alarm resources, and every alarm named as
    CloudFormation names the ones it creates (`<stack>-<logical id>-<suffix>`)."""
    cfn, cloudwatch = client("cloudformation"), client("cloudwatch")
    names = set()
    with aws(f"list the resources of stack {ctx.stack.name}"):
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=ctx.stack.name):
            names |= {r["PhysicalResourceId"] for r in page["StackResourceSummaries"]
                      if r["ResourceType"] == "AWS::CloudWatch::Alarm"}
    states = {}
    with aws("read the stack's alarms"):
        pages = cloudwatch.get_paginator("describe_alarms")
        for page in pages.paginate(AlarmNamePrefix=ctx.stack.name + "-"):
            states.update({a["AlarmName"]: a["StateValue"] for a in page["MetricAlarms"]})
        for name in sorted(names - set(states)):
            for a in cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
                states[a["AlarmName"]] = a["StateValue"]
    if not states:
        raise Failed("the stack has no alarms")
    firing = sorted(n for n, s in states.items() if s == "ALARM")
    if firing:
        raise Failed(f"in ALARM: {', '.join(firing)}")
    return f"none of {len(states)} in ALARM"


def failure_queue(ctx: Context) -> str:
    url = ctx.stack.output("FailedDeliveriesQueueUrl")
    if not url:
        raise Failed("no FailedDeliveriesQueueUrl output")
    with aws("read the failure queue"):
        attrs = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    waiting = sum(int(v) for v in attrs.values())
    if waiting:
        raise Failed(f"{waiting} message(s) wait in it; see docs/operations.md, \"Replay\"")
    return "empty"


def iterator_age(ctx: Context) -> str:
    relay = ctx.stack.output("RelayFunctionName")
    if not relay:
        raise Failed("no RelayFunctionName output")
    now = datetime.datetime.now(datetime.timezone.utc)
    with aws("read the relay's IteratorAge"):
        points = client("cloudwatch").get_metric_statistics(
            Namespace="AWS/Lambda", MetricName="IteratorAge",
            Dimensions=[{"Name": "FunctionName", "Value": relay}],
            StartTime=now - datetime.timedelta(minutes=15), EndTime=now,
            Period=60, Statistics=["Maximum"])["Datapoints"]
    if not points:
        return "no stream records in the last 15 minutes"
    worst = max(p["Maximum"] for p in points) / 1000
    limit = ctx.args.max_iterator_age_seconds
    if worst > limit:
        raise Failed(f"the relay was {worst:.0f}s behind the stream (limit {limit:g}s)")
    return f"at most {worst:.1f}s behind the stream in the last 15 minutes"


def body_bucket(ctx: Context) -> str:
    bucket = ctx.stack.output("BodyBucketName")
    if not bucket:
        raise Skipped("no BodyBucketName output: the stack predates the body bucket")
    try:
        ttl = int(ctx.stack.parameters.get("DedupTtlSeconds") or DEFAULT_DEDUP_TTL_SECONDS)
    except ValueError:
        raise Failed("DedupTtlSeconds is not a number") from None
    ttl_days = math.ceil(ttl / 86400)
    needed = ttl_days + TTL_LAG_DAYS
    s3 = client("s3")
    rules = s3_document("read the body bucket's lifecycle", "NoSuchLifecycleConfiguration", [],
                        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"])
    days = body_expiration_days(rules)
    if days is None:
        raise Failed(f"no enabled lifecycle rule expires every object under {BODY_PREFIX} "
                     "after a number of days")
    if days < needed:
        raise Failed(f"keeps bodies {days} days, fewer than the {needed} the TTL of {ttl_days} "
                     f"days needs (plus {TTL_LAG_DAYS}): replay may find an item whose body "
                     "expired; raise BodyRetentionDays")
    policy = s3_document("read the body bucket's policy", "NoSuchBucketPolicy", "{}",
                         lambda: s3.get_bucket_policy(Bucket=bucket)["Policy"])
    if not denies_plain_http(policy, bucket):
        raise Failed("its policy has no statement denying every request with "
                     "aws:SecureTransport false")
    return f"keeps bodies {days} days, the TTL is {ttl_days}; requests without TLS are denied"


def s3_document(what: str, missing: str, default, read):
    """What `read` returns, or `default` when S3 answers `missing` (the bucket
    has no such configuration)."""
    with aws(what):
        try:
            return read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == missing:
                return default
            raise


def body_expiration_days(rules: list) -> int | None:
    """The fewest days after which an enabled rule expires objects under
    BODY_PREFIX, or None when no rule expires all of them. A narrower rule
    (a longer prefix, a tag or a size) still counts when it expires some
    sooner; a rule expiring on a date counts as 0 days."""
    whole, sooner = None, None
    for rule in rules:
        expiration = rule.get("Expiration") or {}
        if rule.get("Status") != "Enabled" or not ({"Days", "Date"} & set(expiration)):
            continue
        days = int(expiration.get("Days", 0))
        scope = rule.get("Filter") or {}
        narrowed = bool(set(scope) - {"Prefix"})
        prefix = rule.get("Prefix", scope.get("Prefix", scope.get("And", {}).get("Prefix", "")))
        if BODY_PREFIX.startswith(prefix) and not narrowed:
            whole = days if whole is None else min(whole, days)
        elif prefix.startswith(BODY_PREFIX) or BODY_PREFIX.startswith(prefix):
            sooner = days if sooner is None else min(sooner, days)
    if whole is None:
        return None
    return whole if sooner is None else min(whole, sooner)


def denies_plain_http(policy: str, bucket: str) -> bool:
    """Whether a statement of `policy` denies every action on the bucket's
    objects to everyone whenever aws:SecureTransport is false."""
    try:
        statements = json.loads(policy).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    objects = re.compile(rf"\*|arn:[\w-]+:s3:::{re.escape(bucket)}/\*")
    for s in statements if isinstance(statements, list) else [statements]:
        if not isinstance(s, dict) or s.get("Effect") != "Deny":
            continue
        principal = s.get("Principal")
        if principal != "*" and principal != {"AWS": "*"}:
            continue
        if not {"*", "s3:*"} & {str(a).lower() for a in listed(s.get("Action"))}:
            continue
        if not any(objects.fullmatch(str(r)) for r in listed(s.get("Resource"))):
            continue
        if only_plain_http(s.get("Condition")):
            return True
    return False


def only_plain_http(condition) -> bool:
    """Whether `condition` holds exactly when aws:SecureTransport is false: a
    second condition would narrow the denial."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return False
    (operator, keys), = condition.items()
    if operator.lower() not in ("bool", "boolifexists") or not isinstance(keys, dict) \
            or len(keys) != 1:
        return False
    (key, value), = keys.items()
    return key.lower() == "aws:securetransport" and \
        [str(v).lower() for v in listed(value)] == ["false"]


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


# --send ------------------------------------------------------------------

def send(ctx: Context) -> str:
    scheme = ctx.stack.parameters.get("SignatureScheme", "")
    if scheme != "open-messaging":
        raise Failed(f"--send signs open-messaging deliveries only; this stack uses {scheme}")
    secret = ctx.secret()
    url = ctx.urls()[0] if ctx.urls() else ""
    if not url:
        raise Failed("the stack has no URL to post to")
    name = ctx.args.integration
    if name:
        url += "/" + name
    current, _ = secret.pair(name)
    body = json.dumps({
        "id": f"check-{uuid.uuid4()}", "type": CHECK_TYPE, "direction": "Outbound",
        "text": "connect-genesys check", "channel": {"platform": "Open",
                                                     "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                           time.gmtime())},
    }, separators=(",", ":")).encode()
    digest = hmac.new(current.encode(), body, hashlib.sha256).digest()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + base64.b64encode(digest).decode()})
    try:
        with urllib.request.urlopen(request, timeout=ctx.args.send_timeout) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        raise Failed(f"could not post to {url}: {getattr(e, 'reason', e)}") from None
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {}
    if status != 200 or answer.get("status") != "accepted":
        verdict = answer.get("error") or answer.get("reason") or answer.get("status") or "?"
        raise Failed(f"{url} answered {status} {verdict}")
    delivery_id = answer.get("deliveryId", "")
    with aws("read the recorded delivery"):
        item = client("dynamodb").get_item(
            TableName=ctx.stack.output("TableName"), Key={"pk": {"S": delivery_id}},
            ConsistentRead=True).get("Item")
    if item is None or item.get("body", {}).get("B") != body:
        raise Failed(f"answered 200 but no item {delivery_id} with the body sent is in the table")
    return f"{url} answered 200 and recorded {delivery_id} (type {CHECK_TYPE})"
