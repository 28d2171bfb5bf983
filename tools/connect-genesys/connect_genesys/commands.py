"""The four commands. Each reads what it needs, changes only what differs, and
returns a short summary for stdout. Secrets never reach a message."""
import ipaddress
import math
import re
import secrets
import time


from .aws import Secret, Stack, aws, client, fingerprint, region as aws_region
from .genesys import Genesys, genesys_aws_region
from .progress import ToolError, say, wait_until

NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
EVENTBRIDGE_TYPE = "amazon-eventbridge-source"
DEFAULT_REFRESH_SECONDS = 300
DEFAULT_RECHECK_SECONDS = 30
GENESYS_RETRY_WINDOW_SECONDS = 85


def check_name(kind: str, value: str) -> str:
    if not NAME.match(value):
        raise ToolError(f"{kind} must be 1 to 64 characters of A-Z a-z 0-9 . _ -")
    return value


# open-messaging ------------------------------------------------------------

def open_messaging(args) -> str:
    stack = Stack(args.stack)
    url = stack.webhook_url()
    if args.integration:
        url += "/" + check_name("--integration", args.integration)
    secret = Secret(stack.secret_arn())
    new_integration = bool(args.integration) and secret.has_integrations \
        and not secret.has(args.integration)
    if not new_integration:
        current, previous = secret.pair(args.integration)
        if previous is not None:
            raise ToolError("a secret rotation is in progress (the secret holds a previous value); "
                            "finish it with the same rotate command first")
    genesys = Genesys()
    integration = genesys.get_open_integration(args.integration_id)
    say(f"Open Messaging integration {args.integration_id} ({integration.name or 'unnamed'})")
    if new_integration:
        current = secrets.token_urlsafe(32)
        secret.put_pair(args.integration, current, None)
        say(f"added integration {args.integration} to the secret, with a new token")

    changed = []
    new_url = None
    if (integration.outbound_notification_webhook_url or "") != url:
        new_url = url
        changed.append(f"outboundNotificationWebhookUrl: "
                       f"{integration.outbound_notification_webhook_url or '(none)'} -> {url}")
    recorded, _ = secret.token_record(args.integration_id)
    new_token = None
    if recorded != fingerprint(current):
        new_token = current
        reason = "not set by this tool before" if recorded is None else "differs from the secret"
        changed.append(f"outboundNotificationWebhookSignatureSecretToken: set from the stack's "
                       f"secret ({reason})")
    if not changed:
        return (f"open-messaging: nothing to change; integration {args.integration_id} already "
                f"posts to {url} with the stack's secret")
    for line in changed:
        say(f"  {line}")
    # Genesys's first delivery must find every instance holding this version
    # of the secret: an unknown integration or a token an instance lacks is
    # answered 404 or 401, and Genesys gives up on both at once.
    hold, source = instance_hold_seconds(stack, args)
    wait_until(secret.created + hold + 1,
               f"every function instance to hold the secret ({hold:g}s, {source})")
    genesys.update_open_integration(args.integration_id, new_url, new_token)
    if new_token is not None:
        secret.record_token(args.integration_id, new_token, math.ceil(time.time()))
    fields = [c.split(":", 1)[0] for c in changed]
    return f"open-messaging: updated {', '.join(fields)} of integration {args.integration_id}"


def instance_hold_seconds(stack: Stack, args) -> tuple[float, str]:
    """How long after a secret is stored every warm instance holds it: the
    refresh interval, or the recheck interval where shorter (an instance reads
    the secret again on a delivery it cannot place, at most once per recheck
    interval). Without the function's own settings, only the refresh
    interval is sure."""
    env = stack.function_environment()
    if args.refresh_seconds is not None:
        refresh, source = args.refresh_seconds, "--refresh-seconds"
    elif env is not None:
        refresh, source = seconds(env.get("SECRET_REFRESH_SECONDS"), DEFAULT_REFRESH_SECONDS), \
            "the function's SECRET_REFRESH_SECONDS"
    else:
        refresh, source = refresh_parameter(stack), "the stack's SecretRefreshSeconds"
    if args.recheck_seconds is not None:
        recheck, recheck_source = args.recheck_seconds, "--recheck-seconds"
    elif env is not None:
        recheck, recheck_source = seconds(env.get("SECRET_RECHECK_SECONDS"),
                                          DEFAULT_RECHECK_SECONDS), \
            "the function's SECRET_RECHECK_SECONDS"
    else:
        return refresh, source
    if recheck < refresh:
        return recheck, recheck_source
    return refresh, source


def seconds(raw, default: float) -> float:
    raw = "" if raw is None else str(raw).strip()
    return float(raw) if raw.isdigit() else default


def refresh_parameter(stack: Stack) -> float:
    return seconds(stack.parameters.get("SecretRefreshSeconds"), DEFAULT_REFRESH_SECONDS)


# eventbridge ---------------------------------------------------------------

def eventbridge(args) -> str:
    suffix = check_name("--suffix", args.suffix)
    stack = Stack(args.stack)
    if "PartnerEventBusName" not in stack.parameters:
        raise ToolError(f"stack {args.stack} has no parameter PartnerEventBusName")
    with aws("identify the AWS account"):
        account = client("sts").get_caller_identity()["Account"]
    region = aws_region()
    genesys = Genesys()
    org = genesys.org_id()
    source = f"aws.partner/genesys.com/cloud/{org}/{suffix}"
    say(f"account {account}, region {region}, event source {source}")

    changes = []
    integration, config = find_eventbridge_integration(genesys, account, region, suffix)
    wanted = {"awsAccountId": account, "awsAccountRegion": region, "eventSourceSuffix": suffix}
    if integration is None:
        if not args.topic:
            raise ToolError("no Amazon EventBridge Source integration exists for this account, "
                            "region and suffix yet: name its topics with --topic")
        name = args.name or f"Amazon EventBridge Source {suffix}"
        say(f"creating the Genesys integration {name!r}")
        integration = genesys.create_integration(EVENTBRIDGE_TYPE, name)
        config = genesys.get_config(integration.id)
        properties = dict(wanted, eventFilter=list(args.topic))
        genesys.put_config(integration.id, config, name, properties, "genesys-webhook")
        changes.append(f"created integration {integration.id}")
    else:
        say(f"found integration {integration.id} ({integration.name})")
        properties = dict(config.properties or {})
        if args.topic and sorted(properties.get("eventFilter") or []) != sorted(args.topic):
            properties["eventFilter"] = list(args.topic)
            say("  updating its topics")
            genesys.put_config(integration.id, config, config.name or integration.name,
                               properties, config.notes or "genesys-webhook")
            changes.append("updated its topics")
    if (integration.intended_state or "").upper() != "ENABLED":
        say("  enabling it")
        genesys.enable_integration(integration.id)
        changes.append("enabled it")

    events = client("events")
    wait_for_event_source(events, source, args.timeout, args.poll_seconds)
    with aws(f"look for the event bus {source}"):
        try:
            events.describe_event_bus(Name=source)
            bus_exists = True
        except events.exceptions.ResourceNotFoundException:
            bus_exists = False
    if not bus_exists:
        say(f"associating the event source with a new partner event bus {source}")
        with aws(f"create the event bus {source}"):
            events.create_event_bus(Name=source, EventSourceName=source)
        changes.append("created the partner event bus")
    if stack.set_parameter("PartnerEventBusName", source, poll=args.poll_seconds):
        changes.append("set the stack's PartnerEventBusName")
    if not changes:
        return f"eventbridge: nothing to change; {source} is connected to stack {args.stack}"
    return f"eventbridge: {'; '.join(changes)}; bus {source}"


def find_eventbridge_integration(genesys, account, region, suffix):
    for integration in genesys.list_integrations(EVENTBRIDGE_TYPE):
        config = genesys.get_config(integration.id)
        p = config.properties or {}
        if (p.get("awsAccountId"), p.get("awsAccountRegion"), p.get("eventSourceSuffix")) \
                == (account, region, suffix):
            return genesys.get_integration(integration.id), config
    return None, None


def wait_for_event_source(events, source, timeout, poll) -> None:
    deadline = time.time() + timeout
    say(f"waiting up to {int(timeout)}s for the partner event source to appear in this account")
    while True:
        with aws(f"look for the event source {source}"):
            try:
                state = events.describe_event_source(Name=source).get("State", "")
            except events.exceptions.ResourceNotFoundException:
                state = None
        if state in ("PENDING", "ACTIVE"):
            say(f"  event source is {state}")
            return
        if state == "DELETED":
            raise ToolError(f"the event source {source} was deleted; delete and recreate the "
                            "Genesys integration")
        left = deadline - time.time()
        if left <= 0:
            raise ToolError(f"the event source {source} did not appear within {int(timeout)}s; "
                            "check the integration in Genesys Cloud, then run again")
        say(f"  not there yet, {int(left)}s left")
        time.sleep(min(poll, max(left, 0.1)))


# rotate --------------------------------------------------------------------

def rotate(args) -> str:
    stack = Stack(args.stack)
    if args.integration:
        check_name("--integration", args.integration)
    refresh = args.refresh_seconds
    if refresh is None:
        refresh = refresh_parameter(stack)
    retry = args.retry_window_seconds
    secret = Secret(stack.secret_arn())
    current, previous = secret.pair(args.integration)
    # Log in and read the integration before changing anything, so a wrong
    # credential or id leaves AWS as it was.
    genesys = Genesys()
    genesys.get_open_integration(args.integration_id)
    recorded, switched_at = secret.token_record(args.integration_id)

    if previous is None:
        if recorded is not None and recorded != fingerprint(current):
            raise ToolError("the token Genesys holds (as this tool last set it) is not the "
                            "secret's current value; run open-messaging first")
        if recorded is None:
            say("no record of the token Genesys holds; assuming it is the secret's current "
                "value (open-messaging sets and records it)")
        new = secrets.token_urlsafe(32)
        secret.put_pair(args.integration, new, current)
        say("stored a new secret as current, the old one as previous (the function accepts both)")
        current, previous = new, current
    else:
        say("resuming the rotation in progress")

    if recorded == fingerprint(current):
        phase = "switched"
    elif recorded is None or recorded == fingerprint(previous):
        phase = "stored"
    else:
        raise ToolError("the token Genesys holds (as this tool last set it) is neither the "
                        "secret's current nor its previous value; fix the secret by hand")

    if phase == "stored":
        # Every instance that read the secret before it was stored has read it
        # again within one refresh interval (+1 s for a CreatedDate in whole
        # seconds).
        wait_until(secret.created + refresh + 1,
                   f"every function instance to load the new secret (refresh interval {refresh:g}s)")
        say(f"switching Genesys integration {args.integration_id} to the new secret")
        genesys.update_open_integration(args.integration_id, None, current)
        switched_at = math.ceil(time.time())
        secret.record_token(args.integration_id, current, switched_at)
    if switched_at is None:
        switched_at = math.ceil(time.time())
        secret.record_token(args.integration_id, current, switched_at)
    wait_until(switched_at + retry + refresh,
               f"Genesys's retries signed with the old secret ({retry:g}s) and the refresh "
               f"interval ({refresh:g}s)")
    secret.put_pair(args.integration, current, None)
    say("dropped the previous secret")
    scope = f" of integration {args.integration}" if args.integration else ""
    return f"rotate: the secret{scope} is rotated; Genesys integration {args.integration_id} " \
           "signs with the new one"


# allowlist -----------------------------------------------------------------

def allowlist(args) -> str:
    stack = Stack(args.stack)
    if "AllowedSourceCidrs" not in stack.parameters:
        raise ToolError(f"stack {args.stack} has no parameter AllowedSourceCidrs: deploy a "
                        "version of the template that has it first")
    genesys = Genesys()
    region = args.genesys_region or genesys_aws_region()
    if not region:
        raise ToolError("cannot tell the organisation's Genesys region from GENESYSCLOUD_REGION "
                        "or GENESYSCLOUD_API_REGION; pass --genesys-region (e.g. us-east-1)")
    services = {s.lower() for s in (args.service or ["open-messaging"])}
    nets, published = published_ranges(genesys, region, services)
    if not nets:
        raise ToolError(f"Genesys publishes no outbound {'/'.join(sorted(services))} ranges for "
                        f"{region}; leaving the allowlist as it is")
    value = ",".join(str(n) for n in nets)
    say(f"{len(nets)} range(s) for {'/'.join(sorted(services))} outbound from {region} "
        f"(of {published} published)")
    if len(value) > 4096:
        raise ToolError("the ranges do not fit in one CloudFormation parameter (4096 characters)")
    present_nets = cidr_set(stack.parameters["AllowedSourceCidrs"])
    if present_nets == set(nets):
        return f"allowlist: nothing to change; AllowedSourceCidrs already holds these {len(nets)} ranges"
    stack.set_parameter("AllowedSourceCidrs", value, poll=args.poll_seconds)
    added = len(set(nets) - (present_nets or set()))
    removed = len((present_nets or set()) - set(nets))
    return f"allowlist: set AllowedSourceCidrs to {len(nets)} ranges (+{added} -{removed})"


def cidr_set(value: str) -> set | None:
    """The networks of a comma-separated CIDR list, or None if one does not parse."""
    try:
        return {ipaddress.ip_network(c.strip(), strict=False) for c in value.split(",") if c.strip()}
    except ValueError:
        return None


def published_ranges(genesys, region: str, services: set) -> tuple[list, int]:
    """The outbound ranges Genesys publishes for `services` from `region`,
    sorted, and how many ranges it publishes in all."""
    ranges = genesys.ip_ranges()
    kept = set()
    for r in ranges:
        if (r.region or "").lower() != region.lower():
            continue
        if (r.service or "").lower() not in services:
            continue
        if r.direction is not None and r.direction.lower() not in ("outbound", "both"):
            continue
        try:
            kept.add(ipaddress.ip_network(r.cidr.strip(), strict=False))
        except (ValueError, AttributeError):
            raise ToolError(f"Genesys published an invalid CIDR: {r.cidr!r}") from None
    return sorted(kept, key=lambda n: (n.version, n.network_address, n.prefixlen)), len(ranges)
