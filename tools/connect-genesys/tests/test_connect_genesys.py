"""connect-genesys against moto's server (AWS) and a local stand-in for
Genesys Cloud (tests/genesys_standin.py: a test double whose every request is
checked against the Genesys SDK's own models; see conftest.py)."""
import hashlib
import inspect
import json
import re
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
    unknown = tool("open-messaging", "--stack", d.name, "--integration-id", iid, "--integration", "nope")
    assert unknown.code == 1 and "no integration nope" in unknown.err
    assert json.loads(d.secret()) == doc
    assert len([p for p in standin.patches if p["id"] == iid]) == 1

