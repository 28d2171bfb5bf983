"""connect-genesys against moto's server (AWS) and a local stand-in for
Genesys Cloud (tests/genesys_standin.py: a test double whose every request is
checked against the Genesys SDK's own models; see conftest.py)."""
import hashlib
import inspect
import json
import re
import sys
import threading
import time

import PureCloudPlatformClientV2 as gc
import pytest

from conftest import wait_for

URL = "https://abc123.execute-api.us-east-1.amazonaws.com/webhooks/genesys"


def sha(value):
    return hashlib.sha256(value.encode()).hexdigest()


def accepted(secret_string, name=None):
    """The values the function accepts for this secret string (and integration)."""
    if not secret_string.lstrip().startswith("{"):
        return {secret_string}
    doc = json.loads(secret_string)
    if name is not None:
        doc = doc["integrations"][name]
        if isinstance(doc, str):
            return {doc}
    return {v for k, v in doc.items() if k in ("current", "previous") and v}


# The stand-in -------------------------------------------------------------

def test_standin_serves_exactly_the_sdk_calls_the_tool_makes(standin):
    """Each route of the stand-in is the method and path of an SDK operation."""
    sdk = set()
    for api in (gc.ConversationsApi, gc.IntegrationsApi, gc.OrganizationApi, gc.UtilitiesApi):
        for name, fn in inspect.getmembers(api, inspect.isfunction):
            src = inspect.getsource(fn)
            path = re.search(r"resource_path = '([^']+)'", src)
            method = re.search(r"call_api\(resource_path, '(\w+)'", src)
            if path and method:
                sdk.add((method.group(1), re.sub(r"\{\w+\}", "{}", path.group(1))))
    for method, pattern, _, _ in standin._routes():
        if pattern == "/oauth/token":
            continue  # the SDK's ApiClient.get_client_credentials_token
        path = re.sub(r"\(\?P<\w+>\[\^/\]\+\)", "{}", pattern)
        assert (method, path) in sdk, (method, path)


def test_standin_refuses_fields_the_sdk_model_lacks(standin):
    from genesys_standin import model_violations
    assert model_violations({"outboundNotificationWebhookUrl": "u"}, "OpenIntegrationUpdateRequest") == []
    assert model_violations({"webhookUrl": "u"}, "OpenIntegrationUpdateRequest") != []
    assert model_violations({"integrationType": {"id": "x", "bogus": 1}}, "CreateIntegrationRequest") != []


# the secret's forms ---------------------------------------------------------

def test_the_tool_checks_secrets_against_the_schema_as_its_examples_document():
    """docs/secret.examples.json is what tests/secrets.rs parses with the
    function's own reader; the tool's check must give the same verdicts."""
    from conftest import TOOL_DIR, WRITTEN
    sys.path.insert(0, str(TOOL_DIR))
    from connect_genesys.aws import secret_problem
    examples = json.loads((TOOL_DIR.parent.parent / "docs" / "secret.examples.json").read_text())
    for example in examples + json.loads(WRITTEN.read_text()):
        problem = secret_problem(example["secret"])
        assert (problem is None) == ("invalid" not in example), example["secret"]
        if problem is not None:
            for value in re.findall(r'"([^"]{6,})"', example["secret"]):
                if value not in ("current", "previous", "integrations"):
                    assert value not in problem, "a secret reached the message"


# open-messaging ------------------------------------------------------------

def test_open_messaging_sets_url_and_token_then_is_a_no_op(tool, deploy, standin):
    secret = "initial-secret-" + "x" * 20
    d = deploy(secret)
    iid = standin.add_open_integration("Chat", url="https://old.example.com/hook")

    r = tool("open-messaging", "--stack", d.name, "--integration-id", iid)
    assert r.code == 0, r.err
    r.assert_no_secret(secret)
    assert standin.open_integrations[iid]["url"] == URL
    assert standin.open_integrations[iid]["token"] == secret
    assert [p["fields"] for p in standin.patches if p["id"] == iid] == [
        ["outboundNotificationWebhookSignatureSecretToken", "outboundNotificationWebhookUrl"]]
    assert "outboundNotificationWebhookUrl" in r.err and URL in r.err
    assert "updated" in r.out
    assert d.tags()[f"genesys-webhook:token:{iid}"].startswith(f"sha256={sha(secret)} ")

    again = tool("open-messaging", "--stack", d.name, "--integration-id", iid)
    assert again.code == 0, again.err
    again.assert_no_secret(secret)
    assert "nothing to change" in again.out
    assert len([p for p in standin.patches if p["id"] == iid]) == 1
    assert d.secret() == secret


def test_open_messaging_falls_back_to_the_function_url(tool, deploy, standin):
    d = deploy("s3cret-value-abcdefgh", webhook_url="", function_url="https://fn.lambda-url.us-east-1.on.aws/")
    iid = standin.add_open_integration("Fallback")
    r = tool("open-messaging", "--stack", d.name, "--integration-id", iid)
    assert r.code == 0, r.err
    assert standin.open_integrations[iid]["url"] == "https://fn.lambda-url.us-east-1.on.aws"


def test_open_messaging_with_several_integrations(tool, deploy, standin):
    doc = {"integrations": {"sales": {"current": "sales-secret-123456"},
                            "support": {"current": "support-secret-654321"}}}
    d = deploy(json.dumps(doc))
    iid = standin.add_open_integration("Support")

    r = tool("open-messaging", "--stack", d.name, "--integration-id", iid, "--integration", "support")
    assert r.code == 0, r.err
    r.assert_no_secret("sales-secret-123456", "support-secret-654321")
    assert standin.open_integrations[iid] == {"name": "Support", "url": URL + "/support",
                                              "token": "support-secret-654321"}
    again = tool("open-messaging", "--stack", d.name, "--integration-id", iid, "--integration", "support")
    assert again.code == 0 and "nothing to change" in again.out

    without = tool("open-messaging", "--stack", d.name, "--integration-id", iid)
    assert without.code == 1
    assert without.err.count("\n") == 1 and "--integration" in without.err
    assert json.loads(d.secret()) == doc
    assert len([p for p in standin.patches if p["id"] == iid]) == 1


def version_created(d):
    return d.aws.sm.get_secret_value(SecretId=d.secret_arn)["CreatedDate"].timestamp()


def test_open_messaging_adds_a_new_integration_and_points_genesys_only_once_instances_hold_it(
        tool, deploy, standin):
    doc = {"integrations": {"sales": "sales-secret-1234567890"}}
    # The function re-reads the secret for an unknown integration at most every 3 s.
    d = deploy(json.dumps(doc), recheck="3")
    iid = standin.add_open_integration("New")

    r = tool("open-messaging", "--stack", d.name, "--integration-id", iid, "--integration", "support")
    assert r.code == 0, r.err
    after = json.loads(d.secret())
    assert after["integrations"]["sales"] == "sales-secret-1234567890"
    token = after["integrations"]["support"]["current"]
    assert set(after["integrations"]["support"]) == {"current"} and len(token) >= 40
    assert standin.open_integrations[iid] == {"name": "New", "url": URL + "/support", "token": token}
    # Genesys was changed only once the version holding `support` was as old
    # as the function's recheck interval.
    mine = [p for p in standin.patches if p["id"] == iid]
    assert len(mine) == 1 and mine[0]["at"] >= version_created(d) + 3
    assert "added integration support" in r.err
    assert "waiting" in r.err and "SECRET_RECHECK_SECONDS" in r.err
    r.assert_no_secret(token, "sales-secret-1234567890")

    again = tool("open-messaging", "--stack", d.name, "--integration-id", iid, "--integration", "support")
    assert again.code == 0 and "nothing to change" in again.out
    assert json.loads(d.secret()) == after


def test_open_messaging_waits_the_refresh_interval_when_the_function_cannot_be_read(
        tool, deploy, standin):
    # Longer than the tool takes to start, so the secret is still young when it looks.
    d = deploy("s3cret-value-abcdefgh", refresh="15", function=False)
    iid = standin.add_open_integration("No function")
    r = tool("open-messaging", "--stack", d.name, "--integration-id", iid)
    assert r.code == 0, r.err
    assert "waiting" in r.err and "the stack's SecretRefreshSeconds" in r.err
    assert standin.patches[-1]["id"] == iid
    assert standin.patches[-1]["at"] >= version_created(d) + 15


def test_open_messaging_refuses_a_secret_the_function_cannot_read(tool, deploy, standin):
    d = deploy(json.dumps({"integrations": {"sales": "sales-secret-1234567890", "support": ""}}))
    iid = standin.add_open_integration("Unreadable")
    r = tool("open-messaging", "--stack", d.name, "--integration-id", iid, "--integration", "sales")
    assert r.code == 1 and "docs/secret.schema.json" in r.err
    assert "integrations.support" in r.err and r.err.count("\n") == 1
    r.assert_no_secret("sales-secret-1234567890")
    assert standin.open_integrations[iid]["token"] is None



# eventbridge ---------------------------------------------------------------

@pytest.fixture
def genesys_creates_event_sources(standin, aws):
    """Plays Genesys's part in AWS, which no local part can: once the
    integration is enabled with its configuration, Genesys creates the partner
    event source in the customer's account. The stand-in does that through
    moto's own partner API (CreatePartnerEventSource), a second later, so the
    tool has to wait for it. This step is simulated."""
    created = []

    def on_enabled(integration_id, properties):
        name = f"aws.partner/genesys.com/cloud/{standin.org_id}/{properties['eventSourceSuffix']}"
        if name in created:
            return

        def later():
            time.sleep(1.0)
            aws.events.create_partner_event_source(Name=name, Account=properties["awsAccountId"])
        created.append(name)
        threading.Thread(target=later, daemon=True).start()

    standin.on_eventbridge_enabled = on_enabled
    yield created
    standin.on_eventbridge_enabled = None


def test_eventbridge_creates_the_integration_waits_associates_and_updates_the_stack(
        tool, deploy, standin, aws, genesys_creates_event_sources):
    d = deploy("s3cret-value-abcdefgh")
    before = d.parameters()
    suffix = "gw-" + d.name[-8:]
    source = f"aws.partner/genesys.com/cloud/{standin.org_id}/{suffix}"

    r = tool("eventbridge", "--stack", d.name, "--suffix", suffix,
             "--topic", "v2.users.{id}.presence", "--poll-seconds", "0.2")
    assert r.code == 0, r.err
    assert "not there yet" in r.err  # it waited for the source to appear
    mine = [i for i in standin.integrations.values()
            if i["config"]["properties"].get("eventSourceSuffix") == suffix]
    assert len(mine) == 1
    assert mine[0]["type"] == "amazon-eventbridge-source" and mine[0]["state"] == "ENABLED"
    assert mine[0]["config"]["properties"] == {
        "awsAccountId": "123456789012", "awsAccountRegion": "us-east-1",
        "eventSourceSuffix": suffix, "eventFilter": ["v2.users.{id}.presence"]}
    assert aws.events.describe_event_bus(Name=source)["Name"] == source
    after = d.parameters()
    assert after["PartnerEventBusName"] == source
    assert {k: v for k, v in after.items() if k != "PartnerEventBusName"} == \
        {k: v for k, v in before.items() if k != "PartnerEventBusName"}
    assert source in r.out

    writes = len(standin.calls("POST", "/api/v2/integrations")) + \
        len(standin.calls("PUT", "/api/v2/integrations")) + len(standin.calls("PATCH", "/api/v2/integrations"))
    stack_time = aws.cfn.describe_stacks(StackName=d.name)["Stacks"][0].get("LastUpdatedTime")
    again = tool("eventbridge", "--stack", d.name, "--suffix", suffix, "--poll-seconds", "0.2")
    assert again.code == 0, again.err
    assert "nothing to change" in again.out
    assert len(standin.calls("POST", "/api/v2/integrations")) + \
        len(standin.calls("PUT", "/api/v2/integrations")) + \
        len(standin.calls("PATCH", "/api/v2/integrations")) == writes
    assert aws.cfn.describe_stacks(StackName=d.name)["Stacks"][0].get("LastUpdatedTime") == stack_time
    assert d.parameters() == after


def test_eventbridge_gives_up_when_the_source_never_appears(tool, deploy, standin):
    d = deploy("s3cret-value-abcdefgh")
    r = tool("eventbridge", "--stack", d.name, "--suffix", "never-" + d.name[-8:],
             "--topic", "v2.users.{id}.presence", "--timeout", "1", "--poll-seconds", "0.2")
    assert r.code == 1
    assert "did not appear within 1s" in r.err
    assert d.parameters()["PartnerEventBusName"] == ""


# allowlist -----------------------------------------------------------------

RANGES = [
    {"cidr": "52.1.1.0/24", "service": "open-messaging", "region": "us-east-1", "direction": "outbound"},
    {"cidr": "2600:1f18:aaaa::/56", "service": "open-messaging", "region": "us-east-1", "direction": "both"},
    {"cidr": "3.3.3.3/32", "service": "open-messaging", "region": "us-east-1", "direction": "outbound"},
    {"cidr": "52.9.9.0/24", "service": "open-messaging", "region": "eu-west-1", "direction": "outbound"},
    {"cidr": "54.2.2.0/24", "service": "open-messaging", "region": "us-east-1", "direction": "inbound"},
    {"cidr": "34.4.4.0/24", "service": "data-actions", "region": "us-east-1", "direction": "outbound"},
    {"cidr": "18.5.5.0/24", "service": "api", "region": "us-east-1", "direction": "inbound"},
]


def test_allowlist_sets_the_regions_outbound_open_messaging_ranges(tool, deploy, standin, aws):
    standin.ip_ranges = RANGES
    d = deploy("s3cret-value-abcdefgh")
    before = d.parameters()
    r = tool("allowlist", "--stack", d.name, "--poll-seconds", "0.2")
    assert r.code == 0, r.err
    after = d.parameters()
    assert after["AllowedSourceCidrs"] == "3.3.3.3/32,52.1.1.0/24,2600:1f18:aaaa::/56"
    assert {k: v for k, v in after.items() if k != "AllowedSourceCidrs"} == \
        {k: v for k, v in before.items() if k != "AllowedSourceCidrs"}

    stack_time = aws.cfn.describe_stacks(StackName=d.name)["Stacks"][0].get("LastUpdatedTime")
    again = tool("allowlist", "--stack", d.name, "--poll-seconds", "0.2")
    assert again.code == 0, again.err
    assert "nothing to change" in again.out
    assert aws.cfn.describe_stacks(StackName=d.name)["Stacks"][0].get("LastUpdatedTime") == stack_time

    wider = tool("allowlist", "--stack", d.name, "--service", "open-messaging",
                 "--service", "data-actions", "--poll-seconds", "0.2")
    assert wider.code == 0, wider.err
    assert d.parameters()["AllowedSourceCidrs"] == \
        "3.3.3.3/32,34.4.4.0/24,52.1.1.0/24,2600:1f18:aaaa::/56"


@pytest.mark.parametrize("published", [
    pytest.param([r for r in RANGES if r["region"] != "us-east-1"], id="none-for-the-region"),
    pytest.param([], id="none-at-all"),
    pytest.param([r for r in RANGES if r["direction"] == "inbound"], id="inbound-only"),
])
def test_allowlist_refuses_to_empty_the_list(tool, deploy, standin, aws, published):
    # An empty list allows every address: the tool must never write one over a list
    # that holds networks.
    standin.ip_ranges = RANGES
    d = deploy("s3cret-value-abcdefgh")
    assert tool("allowlist", "--stack", d.name, "--poll-seconds", "0.2").code == 0
    held = d.parameters()["AllowedSourceCidrs"]
    assert held
    stack_time = aws.cfn.describe_stacks(StackName=d.name)["Stacks"][0].get("LastUpdatedTime")

    standin.ip_ranges = published
    r = tool("allowlist", "--stack", d.name, "--poll-seconds", "0.2")
    assert r.code == 1 and "no outbound open-messaging ranges for us-east-1" in r.err
    assert d.parameters()["AllowedSourceCidrs"] == held
    assert aws.cfn.describe_stacks(StackName=d.name)["Stacks"][0].get("LastUpdatedTime") == stack_time


# a wrong Genesys credential --------------------------------------------------

@pytest.mark.parametrize("command", [
    ["open-messaging"], ["rotate", "--refresh-seconds", "0", "--retry-window-seconds", "0"],
    ["eventbridge", "--suffix", "wrong-cred", "--topic", "v2.users.{id}.presence"], ["allowlist"]])
def test_a_wrong_credential_fails_clearly_and_changes_nothing_in_aws(tool, deploy, standin, command):
    standin.ip_ranges = RANGES
    secret = "the-secret-" + "y" * 20
    d = deploy(secret)
    iid = standin.add_open_integration("Wrong")
    args = command[:1] + ["--stack", d.name] + command[1:]
    if command[0] in ("open-messaging", "rotate"):
        args += ["--integration-id", iid]
    params, versions, tags = d.parameters(), d.secret_versions(), d.tags()

    r = tool(*args, client_secret="not-the-client-secret")
    assert r.code == 1
    assert r.err.startswith("connect-genesys: error: Genesys Cloud refused to log in")
    assert "401" in r.err and r.err.count("\n") == 1 and r.out == ""
    r.assert_no_secret(secret, "not-the-client-secret")
    assert d.secret() == secret and d.secret_versions() == versions and d.tags() == tags
    assert d.parameters() == params
    assert standin.open_integrations[iid] == {"name": "Wrong", "url": "", "token": None}


# rotate ----------------------------------------------------------------------

class Invariant:
    """Watches, while a rotation runs, that a delivery Genesys signs is never
    refused. A delivery may be signed with the token Genesys holds now, or,
    being retried, with any token it held in the last `retry` seconds (its
    retry window). Each such token must always be the secret's current or
    previous value, and one that every simulated function instance accepts;
    each instance reloads the secret every `refresh` seconds (at staggered
    phases), as the function does every SECRET_REFRESH_SECONDS."""

    def __init__(self, d, standin, iid, refresh, retry=1, name=None, instances=4):
        self.d, self.standin, self.iid, self.refresh, self.name = d, standin, iid, refresh, name
        self.retry = retry
        self.replaced = {}  # token -> when Genesys stopped signing with it
        now = time.time()
        start = accepted(d.secret(), name)
        self.instances = [[now - refresh * i / instances, start] for i in range(instances)]
        self.failures, self.checks, self.tokens = [], 0, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        assert self.failures == [], self.failures[:3]
        assert self.checks > 20

    def watch(self):
        while not self.stop.is_set():
            token = self.standin.open_integrations[self.iid]["token"]  # read the token first
            now_accepted = accepted(self.d.secret(), self.name)
            now = time.time()
            for instance in self.instances:
                if now - instance[0] >= self.refresh:
                    instance[0], instance[1] = now, now_accepted
            if self.tokens and self.tokens[-1] != token:
                # When the stand-in changed it, not when this loop noticed.
                with self.standin.lock:
                    changed = [t for i, t in self.standin.token_changes if i == self.iid]
                self.replaced[self.tokens[-1]] = changed[-1] if changed else now
            if not self.tokens or self.tokens[-1] != token:
                self.tokens.append(token)
            signing = {token} | {t for t, until in self.replaced.items()
                                 if now - until <= self.retry}
            if not signing <= now_accepted:
                self.failures.append("Genesys signs with a token the secret does not have")
            for loaded_at, values in self.instances:
                if not signing <= values:
                    self.failures.append("a function instance would refuse a delivery")
            self.checks += 1
            time.sleep(0.05)


def rotate_args(d, iid, *extra):
    return ("rotate", "--stack", d.name, "--integration-id", iid,
            "--refresh-seconds", "1", "--retry-window-seconds", "1", *extra)


def connected(tool, deploy, standin, secret_string, *extra, refresh="300"):
    d = deploy(secret_string, refresh=refresh)
    iid = standin.add_open_integration("Rotating")
    r = tool("open-messaging", "--stack", d.name, "--integration-id", iid, *extra)
    assert r.code == 0, r.err
    return d, iid


def test_rotate_end_to_end(tool, deploy, standin):
    old = "old-secret-" + "z" * 24
    d, iid = connected(tool, deploy, standin, old)
    patches = len(standin.patches)
    with Invariant(d, standin, iid, refresh=1) as watch:
        r = tool(*rotate_args(d, iid))
    assert r.code == 0, r.err
    new = d.secret()
    assert new != old and not new.startswith("{") and len(new) >= 40
    assert standin.open_integrations[iid]["token"] == new
    assert watch.tokens == [old, new]
    assert [p["fields"] for p in standin.patches[patches:]] == [
        ["outboundNotificationWebhookSignatureSecretToken"]]
    assert d.tags()[f"genesys-webhook:token:{iid}"].startswith(f"sha256={sha(new)} ")
    r.assert_no_secret(old, new)
    for step in ("stored a new secret", "waiting", "switching Genesys", "dropped the previous"):
        assert step in r.err
    # The stack's SecretRefreshSeconds (300 here) is what the tool waits without the flag.
    assert tool("open-messaging", "--stack", d.name, "--integration-id", iid).out.startswith(
        "open-messaging: nothing to change")


@pytest.mark.parametrize("stop_when", ["stored", "switched"])
def test_rotate_resumes_after_being_killed(tool, deploy, standin, stop_when):
    old = "old-secret-" + "w" * 24
    d, iid = connected(tool, deploy, standin, old)
    patches = len(standin.patches)
    with Invariant(d, standin, iid, refresh=1) as watch:
        proc = tool.start(*rotate_args(d, iid))
        if stop_when == "stored":
            wait_for(lambda: d.secret().startswith("{"), what="the new secret to be stored")
        else:
            wait_for(lambda: standin.open_integrations[iid]["token"] != old, what="the switch")
        killed = tool.kill(proc)
        mid = json.loads(d.secret())
        assert mid["previous"] == old
        new = mid["current"]
        killed.assert_no_secret(old, new)
        versions = d.secret_versions()

        resumed = tool(*rotate_args(d, iid))
        assert resumed.code == 0, resumed.err
        assert "resuming the rotation in progress" in resumed.err
        resumed.assert_no_secret(old, new)
    # The new secret is the one made before the interruption: none was made again.
    assert d.secret() == new
    assert d.secret_versions() == versions + 1  # only the final "drop previous" write
    assert standin.open_integrations[iid]["token"] == new
    assert watch.tokens == [old, new]
    # Every update set the new token. Killed right after the switch, the tool
    # may not have recorded it yet; the resumed run then sets it again.
    mine = standin.patches[patches:]
    assert {p["token_sha256"] for p in mine} == {sha(new)}
    assert len(mine) == 1 if stop_when == "stored" else len(mine) in (1, 2)


def test_rotate_one_of_several_integrations(tool, deploy, standin):
    doc = {"integrations": {"sales": {"current": "sales-secret-abcdefghij"},
                            "support": {"current": "support-secret-klmnopqrst"}}}
    # This stack's SecretRefreshSeconds is 1, and the tool waits that without --refresh-seconds.
    d, iid = connected(tool, deploy, standin, json.dumps(doc), "--integration", "support", refresh="1")
    with Invariant(d, standin, iid, refresh=1, name="support"):
        r = tool("rotate", "--stack", d.name, "--integration-id", iid, "--integration", "support",
                 "--retry-window-seconds", "1", timeout=60)
    assert "refresh interval 1s" in r.err
    assert r.code == 0, r.err
    after = json.loads(d.secret())
    assert after["integrations"]["sales"] == doc["integrations"]["sales"]
    new = after["integrations"]["support"]["current"]
    assert set(after["integrations"]["support"]) == {"current"}
    assert new != "support-secret-klmnopqrst"
    assert standin.open_integrations[iid]["token"] == new
    assert standin.open_integrations[iid]["url"] == URL + "/support"
    r.assert_no_secret("sales-secret-abcdefghij", "support-secret-klmnopqrst", new)


def test_open_messaging_refuses_during_a_rotation(tool, deploy, standin):
    d = deploy(json.dumps({"current": "new-secret-1234567890", "previous": "old-secret-0987654321"}))
    iid = standin.add_open_integration("Mid-rotation")
    r = tool("open-messaging", "--stack", d.name, "--integration-id", iid)
    assert r.code == 1 and "rotation is in progress" in r.err
    assert standin.open_integrations[iid]["token"] is None
