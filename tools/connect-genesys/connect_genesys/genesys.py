"""Genesys Cloud through its official Python SDK (PureCloudPlatformClientV2).

Every Platform API call goes through the SDK. Credentials and region come from
the variables Genesys's SDKs and CLI use:

- GENESYSCLOUD_OAUTHCLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET: a client
  credentials OAuth client;
- GENESYSCLOUD_REGION: a Genesys domain (`mypurecloud.com`, `mypurecloud.ie`,
  `api.mypurecloud.de`) or the AWS region Genesys runs the organisation in
  (`us-east-1`, `eu-west-1`, ...);
- GENESYSCLOUD_API_REGION: the full API base URL, overriding the region's
  (`https://api.mypurecloud.com`).
"""
import json
import os
import re
from contextlib import contextmanager

import PureCloudPlatformClientV2 as gc
from PureCloudPlatformClientV2.logger import LogLevel
from PureCloudPlatformClientV2.rest import ApiException

from .progress import ToolError

AWS_REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


def region_hosts() -> dict:
    """AWS region name -> API base URL, from the SDK's own table."""
    return {m.name.replace("_", "-"): m.value for m in gc.PureCloudRegionHosts}


def api_host() -> str:
    override = os.environ.get("GENESYSCLOUD_API_REGION", "").strip()
    if override:
        if "://" not in override:
            override = "https://" + override
        return override.rstrip("/")
    region = os.environ.get("GENESYSCLOUD_REGION", "").strip()
    if not region:
        raise ToolError("set GENESYSCLOUD_REGION (e.g. mypurecloud.com or us-east-1) "
                        "or GENESYSCLOUD_API_REGION")
    if AWS_REGION_NAME.match(region):
        hosts = region_hosts()
        if region not in hosts:
            raise ToolError(f"GENESYSCLOUD_REGION {region} is not a Genesys Cloud region "
                            f"this SDK knows ({', '.join(sorted(hosts))})")
        return hosts[region]
    domain = region.split("://")[-1].strip("/")
    if not domain.startswith("api."):
        domain = "api." + domain
    return "https://" + domain


def genesys_aws_region() -> str | None:
    """The AWS region the organisation runs in, when it can be told from the
    environment (GENESYSCLOUD_REGION as a region name, or a known API host)."""
    region = os.environ.get("GENESYSCLOUD_REGION", "").strip()
    if AWS_REGION_NAME.match(region):
        return region
    host = api_host()
    for name, url in region_hosts().items():
        if url.rstrip("/") == host:
            return name
    return None


def describe(e: ApiException) -> str:
    detail = ""
    try:
        body = json.loads(e.body) if e.body else {}
        if isinstance(body, dict):
            detail = body.get("message") or body.get("error_description") or body.get("error") or ""
    except (ValueError, TypeError):
        pass
    text = f"{e.status} {e.reason or ''}".strip()
    return f"{text}: {detail}" if detail else text


@contextmanager
def calling(what: str):
    """Turns an SDK failure into one line naming the call (never a body we sent)."""
    try:
        yield
    except ApiException as e:
        raise ToolError(f"Genesys Cloud refused to {what}: {describe(e)}") from None
    except OSError as e:
        raise ToolError(f"could not reach Genesys Cloud to {what}: {e.__class__.__name__}") from None


class Genesys:
    """A logged-in SDK client and the handful of calls the tool makes."""

    def __init__(self) -> None:
        client_id = os.environ.get("GENESYSCLOUD_OAUTHCLIENT_ID", "")
        client_secret = os.environ.get("GENESYSCLOUD_OAUTHCLIENT_SECRET", "")
        if not client_id or not client_secret:
            raise ToolError("set GENESYSCLOUD_OAUTHCLIENT_ID and GENESYSCLOUD_OAUTHCLIENT_SECRET "
                            "(a client-credentials OAuth client)")
        host = api_host()
        config = gc.Configuration()  # the SDK's singleton
        # The SDK can log request bodies and headers (the token we set, the
        # bearer token); keep it silent whatever its config file says.
        config.logger.log_level = LogLevel.LNone
        config.logger.log_request_body = False
        config.logger.log_response_body = False
        config.host = host
        self.host = host
        self.client = gc.ApiClient(host=host)
        with calling("log in with the client credentials in GENESYSCLOUD_OAUTHCLIENT_ID/SECRET"):
            self.client.get_client_credentials_token(client_id, client_secret)
        self.conversations = gc.ConversationsApi(self.client)
        self.integrations = gc.IntegrationsApi(self.client)
        self.organization = gc.OrganizationApi(self.client)
        self.utilities = gc.UtilitiesApi(self.client)

    # Open Messaging
    def get_open_integration(self, integration_id: str):
        with calling(f"read Open Messaging integration {integration_id}"):
            return self.conversations.get_conversations_messaging_integrations_open_integration_id(
                integration_id)

    def update_open_integration(self, integration_id: str, url: str | None, token: str | None):
        body = gc.OpenIntegrationUpdateRequest()
        if url is not None:
            body.outbound_notification_webhook_url = url
        if token is not None:
            body.outbound_notification_webhook_signature_secret_token = token
        with calling(f"update Open Messaging integration {integration_id}"):
            return self.conversations.patch_conversations_messaging_integrations_open_integration_id(
                integration_id, body)

    # Organisation and IP ranges
    def org_id(self) -> str:
        with calling("read the organisation"):
            return self.organization.get_organizations_me().id

    def ip_ranges(self) -> list:
        with calling("read the published IP ranges"):
            return list(self.utilities.get_ipranges().entities or [])

    # Integrations (Amazon EventBridge Source)
    def list_integrations(self, type_id: str) -> list:
        found, page = [], 1
        while True:
            with calling("list integrations"):
                listing = self.integrations.get_integrations(
                    page_size=100, page_number=page, integration_type=type_id)
            entities = listing.entities or []
            found.extend(i for i in entities
                         if i.integration_type is None or i.integration_type.id == type_id)
            if not entities or not listing.page_count or page >= listing.page_count:
                return found
            page += 1

    def create_integration(self, type_id: str, name: str):
        body = gc.CreateIntegrationRequest()
        body.name = name
        kind = gc.IntegrationType()
        kind.id = type_id
        body.integration_type = kind
        with calling(f"create a {type_id} integration"):
            return self.integrations.post_integrations(body=body)

    def get_integration(self, integration_id: str):
        with calling(f"read integration {integration_id}"):
            return self.integrations.get_integration(integration_id)

    def get_config(self, integration_id: str):
        with calling(f"read the configuration of integration {integration_id}"):
            return self.integrations.get_integration_config_current(integration_id)

    def put_config(self, integration_id: str, current, name: str, properties: dict, notes: str):
        body = gc.IntegrationConfiguration()
        body.name = name
        body.version = current.version
        body.properties = properties
        body.advanced = current.advanced if current.advanced is not None else {}
        body.notes = notes
        body.credentials = current.credentials if current.credentials is not None else {}
        with calling(f"configure integration {integration_id}"):
            return self.integrations.put_integration_config_current(integration_id, body=body)

    def enable_integration(self, integration_id: str):
        body = gc.Integration()
        body.intended_state = "ENABLED"
        with calling(f"enable integration {integration_id}"):
            return self.integrations.patch_integration(integration_id, body=body)
