"""A local stand-in for the handful of Genesys Cloud Platform API endpoints
connect-genesys calls. It is a test double, not Genesys Cloud.

It serves the login endpoint and the API on one address: with the API host
http://127.0.0.1:PORT the SDK derives the login host by replacing "//api." with
"//login.", which leaves this address as it is.

Every request is checked against the SDK's own models: the method and path
must be one the SDK's API classes use for the call, the Authorization header a
bearer token this server issued, and every field name of a JSON body one of the
request model's attribute_map values (recursively through nested models, by
the model's swagger_types). A request that fails a check is answered 400 and
recorded in `violations`; tests assert that list is empty. Responses are SDK
model instances serialized by the SDK's own ApiClient, so their field names are
the models' too.
"""
import base64
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import PureCloudPlatformClientV2 as gc
from PureCloudPlatformClientV2 import models

SERIALIZER = gc.ApiClient(host="http://unused")

# The properties of an amazon-eventbridge-source integration's configuration,
# as Genesys's own Terraform module for it sets them (the SDK types them as a
# free-form object).
EVENTBRIDGE_PROPERTIES = {"awsAccountId", "awsAccountRegion", "eventSourceSuffix", "eventFilter"}

PRIMITIVES = {"str", "int", "float", "bool", "date", "datetime", "object"}


def model_violations(data, type_name: str, where: str = "body") -> list[str]:
    """Field names in `data` that the SDK model `type_name` does not have."""
    if type_name in PRIMITIVES or data is None:
        return []
    m = re.match(r"list\[(.+)\]$", type_name)
    if m:
        if not isinstance(data, list):
            return [f"{where} is not a list"]
        return [v for i, item in enumerate(data) for v in model_violations(item, m.group(1), f"{where}[{i}]")]
    m = re.match(r"dict\(str, (.+)\)$", type_name)
    if m:
        if not isinstance(data, dict):
            return [f"{where} is not an object"]
        return [v for k, item in data.items() for v in model_violations(item, m.group(1), f"{where}.{k}")]
    cls = getattr(models, type_name)
    if not isinstance(data, dict):
        return [f"{where} is not a {type_name} object"]
    instance = cls()
    wire_to_attr = {wire: attr for attr, wire in instance.attribute_map.items()}
    out = []
    for key, value in data.items():
        if key not in wire_to_attr:
            out.append(f"{where}.{key} is not a field of {type_name}")
        else:
            out.extend(model_violations(value, instance.swagger_types[wire_to_attr[key]], f"{where}.{key}"))
    return out


def model(cls, **fields):
    """An SDK model instance from wire-named fields (checked), as JSON-ready data."""
    instance = cls()
    wire_to_attr = {wire: attr for attr, wire in instance.attribute_map.items()}
    for key, value in fields.items():
        setattr(instance, wire_to_attr[key], value)  # KeyError: not a field of the model
    return SERIALIZER.sanitize_for_serialization(instance)


class GenesysStandIn:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.org_id = str(uuid.uuid4())
        self.tokens: set[str] = set()
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.violations: list[str] = []
        # Open Messaging integrations: id -> {"name", "url", "token"}. The token
        # is write-only in Genesys: it is never returned.
        self.open_integrations: dict[str, dict] = {}
        self.patches: list[dict] = []
        self.token_changes: list[tuple[str, float]] = []  # (integration id, when)
        # Integrations: id -> {"name", "type", "state", "config": {...}}
        self.integrations: dict[str, dict] = {}
        self.ip_ranges: list[dict] = []
        # Called with (integration id, config properties) when an EventBridge
        # integration is enabled with its configuration set: the tests use it
        # to play Genesys's part in AWS (creating the partner event source).
        self.on_eventbridge_enabled = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "GenesysStandIn":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_open_integration(self, name: str, url: str = "", token: str | None = None) -> str:
        integration_id = str(uuid.uuid4())
        self.open_integrations[integration_id] = {"name": name, "url": url, "token": token}
        return integration_id

    def calls(self, method: str, prefix: str = "") -> list[str]:
        with self.lock:
            return [p for m, p in self.requests if m == method and p.startswith(prefix)]

    # routing ---------------------------------------------------------------
    def _routes(self):
        oid = r"(?P<id>[^/]+)"
        return [
            ("POST", r"/oauth/token", None, self.token),
            ("GET", rf"/api/v2/conversations/messaging/integrations/open/{oid}", None, self.get_open),
            ("PATCH", rf"/api/v2/conversations/messaging/integrations/open/{oid}",
             "OpenIntegrationUpdateRequest", self.patch_open),
            ("GET", r"/api/v2/organizations/me", None, self.org),
            ("GET", r"/api/v2/ipranges", None, self.ipranges),
            ("GET", r"/api/v2/integrations", None, self.list_integrations),
            ("POST", r"/api/v2/integrations", "CreateIntegrationRequest", self.create_integration),
            ("GET", rf"/api/v2/integrations/{oid}", None, self.get_integration),
            ("PATCH", rf"/api/v2/integrations/{oid}", "Integration", self.patch_integration),
            ("GET", rf"/api/v2/integrations/{oid}/config/current", None, self.get_config),
            ("PUT", rf"/api/v2/integrations/{oid}/config/current", "IntegrationConfiguration",
             self.put_config),
        ]

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self, method):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with standin.lock:
                    standin.requests.append((method, parts.path))
                status, body = standin.dispatch(method, parts.path, parse_qs(parts.query),
                                                self.headers, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_PUT(self):
                self._serve("PUT")

            def do_PATCH(self):
                self._serve("PATCH")

            def do_DELETE(self):
                self._serve("DELETE")

        return Handler

    def violation(self, message: str, status: int = 400):
        with self.lock:
            self.violations.append(message)
        return status, model(models.ErrorBody, message=message, status=status, code="bad.request")

    def dispatch(self, method, path, query, headers, raw):
        for m, pattern, request_model, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if not match or m != method:
                continue
            if handler != self.token:
                auth = headers.get("Authorization", "")
                if not auth.startswith("Bearer ") or auth[len("Bearer "):] not in self.tokens:
                    return self.violation(f"{method} {path}: no bearer token this server issued", 401)
            body = None
            if request_model:
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    return self.violation(f"{method} {path}: body is not JSON")
                problems = model_violations(body, request_model)
                if problems:
                    return self.violation(f"{method} {path}: " + "; ".join(problems))
            elif raw and handler != self.token:
                return self.violation(f"{method} {path}: unexpected body")
            return handler(query=query, headers=headers, raw=raw, body=body, **match.groupdict())
        return self.violation(f"{method} {path}: not an endpoint the tool should call", 404)

    # endpoints -------------------------------------------------------------
    def token(self, headers, raw, **_):
        form = parse_qs(raw.decode())
        if form.get("grant_type") != ["client_credentials"]:
            return self.violation("POST /oauth/token: grant_type is not client_credentials")
        auth = headers.get("Authorization", "")
        try:
            user, _, password = base64.b64decode(auth.split(" ", 1)[1]).decode().partition(":")
        except (IndexError, ValueError):
            return self.violation("POST /oauth/token: no Basic authorization")
        if (user, password) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client", "description": "authentication failed",
                         "error_description": "authentication failed"}
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": 86399}

    def _open(self, integration_id):
        return model(models.OpenIntegration, id=integration_id,
                     name=self.open_integrations[integration_id]["name"],
                     outboundNotificationWebhookUrl=self.open_integrations[integration_id]["url"],
                     status="Active", createStatus="Completed",
                     selfUri=f"/api/v2/conversations/messaging/integrations/open/{integration_id}")

    def _not_found(self, what):
        return 404, model(models.ErrorBody, message=f"{what} not found", status=404, code="not.found")

    def get_open(self, id, **_):
        if id not in self.open_integrations:
            return self._not_found(f"open integration {id}")
        return 200, self._open(id)

    def patch_open(self, id, body, **_):
        if id not in self.open_integrations:
            return self._not_found(f"open integration {id}")
        with self.lock:
            token = body.get("outboundNotificationWebhookSignatureSecretToken")
            self.patches.append({"id": id, "fields": sorted(body), "at": time.time(),
                                 "token_sha256": hashlib.sha256(token.encode()).hexdigest()
                                 if token is not None else None})
            if "outboundNotificationWebhookUrl" in body:
                self.open_integrations[id]["url"] = body["outboundNotificationWebhookUrl"]
            if "outboundNotificationWebhookSignatureSecretToken" in body:
                self.open_integrations[id]["token"] = body["outboundNotificationWebhookSignatureSecretToken"]
                self.token_changes.append((id, time.time()))
        return 200, self._open(id)

    def org(self, **_):
        return 200, model(models.Organization, id=self.org_id, name="Stand-in org",
                          state="active", selfUri=f"/api/v2/organizations/{self.org_id}")

    def ipranges(self, **_):
        entities = [model(models.IpAddressRange, **r) for r in self.ip_ranges]
        return 200, {"entities": entities}

    def _integration(self, integration_id):
        i = self.integrations[integration_id]
        return model(models.Integration, id=integration_id, name=i["name"],
                     integrationType=model(models.IntegrationType, id=i["type"]),
                     intendedState=i["state"],
                     reportedState=model(models.IntegrationStatusInfo, code=i["state"]),
                     selfUri=f"/api/v2/integrations/{integration_id}")

    def list_integrations(self, query, **_):
        wanted = query.get("integrationType", [None])[0]
        size = int(query.get("pageSize", ["25"])[0])
        number = int(query.get("pageNumber", ["1"])[0])
        ids = [k for k, v in self.integrations.items() if wanted in (None, v["type"])]
        page = ids[(number - 1) * size: number * size]
        count = max(1, -(-len(ids) // size))
        return 200, model(models.IntegrationEntityListing,
                          entities=[self._integration(i) for i in page], pageSize=size,
                          pageNumber=number, total=len(ids), pageCount=count)

    def create_integration(self, body, **_):
        kind = (body.get("integrationType") or {}).get("id")
        if not kind:
            return self.violation("POST /api/v2/integrations: no integrationType.id")
        integration_id = str(uuid.uuid4())
        self.integrations[integration_id] = {
            "name": body.get("name") or kind, "type": kind, "state": "DISABLED",
            "config": {"name": body.get("name") or kind, "version": 1, "properties": {},
                       "advanced": {}, "notes": "", "credentials": {}}}
        return 200, self._integration(integration_id)

    def get_integration(self, id, **_):
        if id not in self.integrations:
            return self._not_found(f"integration {id}")
        return 200, self._integration(id)

    def patch_integration(self, id, body, **_):
        if id not in self.integrations:
            return self._not_found(f"integration {id}")
        if "intendedState" in body:
            self.integrations[id]["state"] = body["intendedState"]
        self._maybe_started(id)
        return 200, self._integration(id)

    def _config(self, integration_id):
        c = self.integrations[integration_id]["config"]
        return model(models.IntegrationConfiguration, id=integration_id, name=c["name"],
                     version=c["version"], properties=c["properties"], advanced=c["advanced"],
                     notes=c["notes"], credentials={},
                     selfUri=f"/api/v2/integrations/{integration_id}/config/current")

    def get_config(self, id, **_):
        if id not in self.integrations:
            return self._not_found(f"integration {id}")
        return 200, self._config(id)

    def put_config(self, id, body, **_):
        if id not in self.integrations:
            return self._not_found(f"integration {id}")
        current = self.integrations[id]["config"]
        if body.get("version") != current["version"]:
            return 409, model(models.ErrorBody, message="version conflict", status=409,
                              code="conflict")
        properties = body.get("properties") or {}
        if self.integrations[id]["type"] == "amazon-eventbridge-source":
            unknown = set(properties) - EVENTBRIDGE_PROPERTIES
            if unknown:
                return self.violation(f"PUT config: unknown properties {sorted(unknown)}")
        current.update(name=body.get("name") or current["name"], properties=properties,
                       advanced=body.get("advanced") or {}, notes=body.get("notes") or "",
                       version=current["version"] + 1)
        self._maybe_started(id)
        return 200, self._config(id)

    def _maybe_started(self, integration_id):
        i = self.integrations[integration_id]
        if i["type"] == "amazon-eventbridge-source" and i["state"] == "ENABLED" \
                and i["config"]["properties"] and self.on_eventbridge_enabled:
            self.on_eventbridge_enabled(integration_id, dict(i["config"]["properties"]))
