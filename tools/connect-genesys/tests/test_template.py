"""template.yaml, read with cfn-lint's own decoder (which knows !Ref, !Sub,
!GetAtt...), and rendered for a set of parameters: each resource and wiring a
production review asks for."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = ROOT / "template.yaml"
NO_VALUE = {"Ref": "AWS::NoValue"}
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def template():
    decoded, errors = decode(str(TEMPLATE_PATH))
    assert not errors, errors
    return json.loads(json.dumps(decoded, default=str))


def render(template, **overrides):
    """The template's resources and outputs as CloudFormation would create them
    for these parameter values (defaults otherwise): conditions evaluated,
    Fn::If and parameter Refs resolved, AWS::NoValue dropped, conditional
    resources left out."""
    params = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    params.update({k: str(v) for k, v in overrides.items()})
    conditions = {}

    def value(x):
        if isinstance(x, dict) and set(x) == {"Ref"} and x["Ref"] in params:
            return params[x["Ref"]]
        return x

    def cond(expr):
        (op, args), = expr.items()
        if op == "Fn::Equals":
            return str(value(args[0])) == str(value(args[1]))
        if op == "Fn::Not":
            return not cond(args[0])
        if op == "Fn::And":
            return all(cond(a) for a in args)
        if op == "Fn::Or":
            return any(cond(a) for a in args)
        if op == "Condition":
            return named(args)
        raise AssertionError(f"unknown condition {op}")

    def named(name):
        if name not in conditions:
            conditions[name] = cond(template["Conditions"][name])
        return conditions[name]

    def resolve(x):
        if isinstance(x, dict):
            if set(x) == {"Fn::If"}:
                name, yes, no = x["Fn::If"]
                return resolve(yes if named(name) else no)
            if set(x) == {"Ref"} and x["Ref"] in params:
                return params[x["Ref"]]
            out = {k: resolve(v) for k, v in x.items()}
            return {k: v for k, v in out.items() if v != NO_VALUE}
        if isinstance(x, list):
            return [resolve(v) for v in x if resolve(v) != NO_VALUE]
        return x

    def kept(section):
        return {k: resolve(v) for k, v in template[section].items()
                if "Condition" not in v or named(v["Condition"])}

    return kept("Resources"), kept("Outputs")


def of_type(resources, kind):
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def test_cfn_lint_with_informational_checks_is_clean():
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--include-checks", "I",
                           "--", str(TEMPLATE_PATH)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_alarms_watch_lambda_errors_throttles_and_every_front_doors_5xx(template):
    resources, _ = render(template, EnableRestApi="true", EnableFunctionUrl="true",
                          AlarmTopicArn="arn:aws:sns:us-east-1:123456789012:ops")
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    watched = {(str(a["Properties"].get("Namespace")), a["Properties"].get("MetricName")): name
               for name, a in alarms.items()}
    for metric in [("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
                   ("AWS/ApiGateway", "5xx"), ("AWS/ApiGateway", "5XXError"),
                   ("AWS/Lambda", "Url5xxCount")]:
        assert metric in watched, metric
    webhook = {"Name": "FunctionName", "Value": {"Ref": "WebhookFunction"}}
    for metric in ["Errors", "Throttles", "Url5xxCount"]:
        assert alarms[watched[("AWS/Lambda", metric)]]["Properties"]["Dimensions"] == [webhook]
    assert {"Name": "ApiId", "Value": {"Ref": "HttpApi"}} in \
        alarms[watched[("AWS/ApiGateway", "5xx")]]["Properties"]["Dimensions"]
    assert {"Name": "Stage", "Value": {"Ref": "RestApiStage"}} in \
        alarms[watched[("AWS/ApiGateway", "5XXError")]]["Properties"]["Dimensions"]
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == ["arn:aws:sns:us-east-1:123456789012:ops"], name

    body = json.dumps(resources["Dashboard"]["Properties"]["DashboardBody"])
    for metric in ['\\"Errors\\", \\"FunctionName\\", \\"${WebhookFunction}\\"', '\\"Throttles\\"',
                   '\\"5xx\\", \\"ApiId\\", \\"${HttpApiId}\\"', '\\"5XXError\\"', '\\"Url5xxCount\\"']:
        assert metric in body, metric

    quiet, _ = render(template)
    assert not {"RestApi5xxAlarm", "FunctionUrl5xxAlarm"} & set(quiet)
    assert all("AlarmActions" not in a["Properties"]
               for a in of_type(quiet, "AWS::CloudWatch::Alarm").values())


def test_the_log_level_offers_nothing_that_drops_the_delivery_line(template):
    assert set(template["Parameters"]["LogLevel"]["AllowedValues"]) <= {"TRACE", "DEBUG", "INFO"}


def test_the_api_front_doors_are_throttled(template):
    resources, _ = render(template, EnableRestApi="true")
    assert resources["HttpApiStage"]["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": "200", "ThrottlingRateLimit": "100"}
    assert resources["RestApiStage"]["Properties"]["MethodSettings"] == [{
        "ResourcePath": "/*", "HttpMethod": "*",
        "ThrottlingBurstLimit": "200", "ThrottlingRateLimit": "100"}]


def test_each_function_logs_to_its_own_group_with_a_retention(template):
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30
    resources, _ = render(template, LogRetentionDays=90)
    for function, group in [("WebhookFunction", "WebhookLogGroup"), ("RelayFunction", "RelayLogGroup")]:
        assert resources[function]["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": group}
        assert resources[group]["Properties"]["RetentionInDays"] == "90"
    assert "SOURCE '${WebhookLogGroup}'" in json.dumps(resources["Dashboard"])


@pytest.mark.parametrize("door,stage,setting", [
    ("HttpApi", "HttpApiStage", "AccessLogSettings"), ("RestApi", "RestApiStage", "AccessLogSetting")])
def test_access_logs_are_json_with_operator_fields_and_no_body(template, door, stage, setting):
    off, _ = render(template, EnableRestApi="true")
    assert setting not in off[stage]["Properties"]
    assert f"{door}AccessLogGroup" not in off
    on, _ = render(template, EnableRestApi="true", EnableAccessLogs="true")
    logs = on[stage]["Properties"][setting]
    assert logs["DestinationArn"] == {"Fn::GetAtt": [f"{door}AccessLogGroup", "Arn"]}
    assert on[f"{door}AccessLogGroup"]["Properties"]["RetentionInDays"] == "30"
    fields = json.loads(logs["Format"])
    assert {"requestId", "ip", "requestTime", "httpMethod", "path", "status",
            "integrationLatency", "error"} <= set(fields)
    assert not re.search(r"\$input|body|header", logs["Format"], re.IGNORECASE)


ENCRYPTED = {
    "DeliveriesTable": lambda p: p["SSESpecification"] == {
        "SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY},
    "FailedDeliveriesQueue": lambda p: p["KmsMasterKeyId"] == KEY
    and "SqsManagedSseEnabled" not in p,
    "PartnerEventsQueue": lambda p: p["KmsMasterKeyId"] == KEY
    and "SqsManagedSseEnabled" not in p,
    "OutboxBus": lambda p: p["KmsKeyIdentifier"] == KEY,
    "WebhookSecret": lambda p: p["KmsKeyId"] == KEY,
    "BodyBucket": lambda p: p["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [{
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY},
        "BucketKeyEnabled": True}],
    "WebhookLogGroup": lambda p: p["KmsKeyId"] == KEY,
    "RelayLogGroup": lambda p: p["KmsKeyId"] == KEY,
    "HttpApiAccessLogGroup": lambda p: p["KmsKeyId"] == KEY,
    "RestApiAccessLogGroup": lambda p: p["KmsKeyId"] == KEY,
}


def inline_statements(function):
    """The statements of a function's inline policies; SAM policy templates
    (SQSPollerPolicy, say) hold none."""
    return [s for policy in function["Properties"]["Policies"] for s in policy.get("Statement", [])]


def key_statements(function):
    return [s for s in inline_statements(function)
            if any(str(a).startswith("kms:") for a in
                   (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))]


def test_a_customer_key_encrypts_every_store_and_functions_get_only_what_they_need(template):
    resources, _ = render(template, KmsKeyArn=KEY, EnableRestApi="true", EnableAccessLogs="true")
    for name, encrypted in ENCRYPTED.items():
        assert encrypted(resources[name]["Properties"]), name

    def via(statement):
        return statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]

    webhook = key_statements(resources["WebhookFunction"])
    assert sorted((tuple(sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])),
                   via(s)) for s in webhook) == [
        (("kms:Decrypt",), "secretsmanager.${AWS::Region}.amazonaws.com"),
        (("kms:Decrypt", "kms:GenerateDataKey"), "sqs.${AWS::Region}.amazonaws.com"),
        (("kms:GenerateDataKey",), "s3.${AWS::Region}.amazonaws.com")]
    relay = key_statements(resources["RelayFunction"])
    assert [(sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]]), via(s))
            for s in relay] == [
        (["kms:Decrypt", "kms:GenerateDataKey"], "sqs.${AWS::Region}.amazonaws.com"),
        (["kms:Decrypt"], "s3.${AWS::Region}.amazonaws.com")]
    for s in webhook + relay:
        assert s["Resource"] == KEY


def test_the_relay_may_only_read_bodies_under_the_prefix(template):
    resources, _ = render(template)
    s3 = [s for s in inline_statements(resources["RelayFunction"])
          if any(str(a).startswith("s3:") for a in
                 (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))]
    assert s3 == [{"Sid": "ReadBodies", "Effect": "Allow", "Action": "s3:GetObject",
                   "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BodyBucket}/bodies/*"}}]


def test_without_a_key_nothing_names_one(template):
    resources, _ = render(template, EnableRestApi="true", EnableAccessLogs="true")
    text = json.dumps(resources)
    for name in ["KmsKeyId", "KmsMasterKeyId", "KMSMasterKeyId", "KmsKeyIdentifier", "kms:"]:
        assert name not in text, name
    assert resources["DeliveriesTable"]["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    assert resources["FailedDeliveriesQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    assert resources["PartnerEventsQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    assert resources["BodyBucket"]["Properties"]["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def test_an_existing_secret_under_the_customer_key_can_be_read(template):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys-AbCdEf"
    resources, outputs = render(template, KmsKeyArn=KEY, ExistingSecretArn=arn)
    assert "WebhookSecret" not in resources
    statements = inline_statements(resources["WebhookFunction"])
    assert {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn} in statements
    assert any(s.get("Sid") == "SecretKey" for s in statements)
    assert outputs["SecretArn"]["Value"] == arn


def test_what_holds_deliveries_or_the_secret_survives_a_delete(template):
    resources, _ = render(template)
    for name in ["WebhookSecret", "FailedDeliveriesQueue", "PartnerEventsQueue", "DeliveriesTable",
                 "BodyBucket"]:
        assert template["Resources"][name]["DeletionPolicy"] == "Retain", name
        assert template["Resources"][name]["UpdateReplacePolicy"] == "Retain", name
    assert resources["DeliveriesTable"]["Properties"]["DeletionProtectionEnabled"] is True


def test_tracing_is_off_by_default_and_covers_both_functions_and_the_rest_api(template):
    off, _ = render(template, EnableRestApi="true")
    on, _ = render(template, EnableRestApi="true", Tracing="Active")
    for function in ["WebhookFunction", "RelayFunction"]:
        assert "Tracing" not in off[function]["Properties"]
        assert on[function]["Properties"]["Tracing"] == "Active"
    assert off["RestApiStage"]["Properties"]["TracingEnabled"] is False
    assert on["RestApiStage"]["Properties"]["TracingEnabled"] is True


def rest_routes(resources):
    """'POST /a/b' for each REST method, its path built from the resource tree."""
    def path(ref):
        if isinstance(ref, dict) and "Fn::GetAtt" in ref:
            return ""
        r = resources[ref["Ref"]]["Properties"]
        return path(r["ParentId"]) + "/" + r["PathPart"]
    routes = {}
    for m in of_type(resources, "AWS::ApiGateway::Method").values():
        p = m["Properties"]
        routes[f"{p['HttpMethod']} {path(p['ResourceId'])}"] = p["Integration"]
    return routes


def test_the_rest_api_is_regional_with_the_http_apis_routes(template):
    resources, outputs = render(template, EnableRestApi="true")
    assert resources["RestApi"]["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    http = {r["Properties"]["RouteKey"] for r in of_type(resources, "AWS::ApiGatewayV2::Route").values()}
    routes = rest_routes(resources)
    assert set(routes) == http == {"POST /webhooks/genesys", "POST /webhooks/genesys/{integration}"}
    for integration in routes.values():
        assert integration["Type"] == "AWS_PROXY"
        assert "${WebhookFunction.Arn}" in integration["Uri"]["Fn::Sub"]
    assert set(resources["RestApiDeployment"]["DependsOn"]) == {
        k for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::Method"}
    assert "${RestApi}/*/POST/webhooks/genesys*" in \
        resources["RestApiPermission"]["Properties"]["SourceArn"]["Fn::Sub"]
    assert "/${RestApiStage}/webhooks/genesys" in outputs["RestApiUrl"]["Value"]["Fn::Sub"]
    assert "RestApiWebAcl" not in resources

    acl = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/gw/abc"
    with_acl, _ = render(template, EnableRestApi="true", WebAclArn=acl)
    association = with_acl["RestApiWebAcl"]["Properties"]
    assert association["WebACLArn"] == acl
    assert "/restapis/${RestApi}/stages/${RestApiStage}" in association["ResourceArn"]["Fn::Sub"]
    without_rest, _ = render(template, WebAclArn=acl)
    assert not {"RestApi", "RestApiWebAcl", "RestApiStage"} & set(without_rest)


def test_outputs_name_what_check_reads(template):
    _, outputs = render(template)
    assert outputs["WebhookFunctionName"]["Value"] == {"Ref": "WebhookFunction"}
    assert outputs["RelayFunctionName"]["Value"] == {"Ref": "RelayFunction"}
    for key in ["SecretArn", "TableName", "FailedDeliveriesQueueUrl", "WebhookUrl"]:
        assert key in outputs


def test_the_sam_local_recipe_sets_only_variables_the_template_declares(template):
    page = (ROOT / "docs" / "template.md").read_text()
    recipe = re.search(r"cat > env\.json <<'JSON'\n(.*?)\nJSON\n", page, re.S)
    assert recipe, "docs/template.md has the sam local invoke recipe"
    env = json.loads(recipe.group(1))
    declared = template["Resources"]["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    assert env["WebhookFunction"] and set(env["WebhookFunction"]) <= set(declared)


def test_the_body_bucket_is_private_tls_only_and_expires_bodies_after_the_ttl_and_a_margin(template):
    resources, outputs = render(template)
    bucket = resources["BodyBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True,
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    webhook = resources["WebhookFunction"]["Properties"]
    prefix = webhook["Environment"]["Variables"]["BODY_PREFIX"]
    assert rule["Status"] == "Enabled" and rule["Prefix"] == prefix == "bodies/"
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    ttl_days = -(-int(template["Parameters"]["DedupTtlSeconds"]["Default"]) // 86400)
    assert int(rule["ExpirationInDays"]) == ttl_days + 3

    (statement,) = resources["BodyBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [{"Fn::GetAtt": ["BodyBucket", "Arn"]},
                                     {"Fn::Sub": "${BodyBucket.Arn}/*"}]
    assert resources["BodyBucketPolicy"]["Properties"]["Bucket"] == {"Ref": "BodyBucket"}

    assert webhook["Environment"]["Variables"]["BODY_BUCKET"] == {"Ref": "BodyBucket"}
    # The relay reads the bucket and key from each item's claim check.
    relay = resources["RelayFunction"]["Properties"]["Environment"]["Variables"]
    assert "BODY_BUCKET" not in relay and "BODY_PREFIX" not in relay
    s3 = [s for s in inline_statements(resources["WebhookFunction"])
          if any(str(a).startswith("s3:") for a in
                 (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))]
    assert s3 == [{"Effect": "Allow", "Action": "s3:PutObject",
                   "Resource": {"Fn::Sub": "${BodyBucket.Arn}/" + prefix + "*"}}]
    assert outputs["BodyBucketName"]["Value"] == {"Ref": "BodyBucket"}


def test_the_function_outlasts_a_secret_read_and_both_writes_inside_genesyss_timeout(template):
    """Defaults: SECRET_TIMEOUT_MS 1000, then the body's object and the item, each within
    STORE_TIMEOUT_MS 3000; Genesys gives up after 10 s."""
    resources, _ = render(template)
    timeout = int(resources["WebhookFunction"]["Properties"]["Timeout"])
    assert 1 + 2 * 3 <= timeout < 10
