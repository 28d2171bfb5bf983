"""The usual Python answer to "verify a Genesys webhook and deduplicate it"."""
import hashlib
import hmac
import json
import os

import boto3

ddb = boto3.client("dynamodb")
SECRET = os.environ["WEBHOOK_SECRET"].encode()
TABLE = os.environ["DEDUP_TABLE"]


def respond(status, payload):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(payload)}


def handler(event, context):
    import base64

    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    signature = headers.get("x-genesys-signature", "").removeprefix("sha256=")
    expected = hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return respond(401, {"error": "invalid_signature"})
    payload = json.loads(raw)
    delivery_id = headers.get("x-genesys-delivery-id") or "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        ddb.put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": delivery_id},
                "body": {"B": raw},
                "topic": {"S": str(payload.get("topicName", ""))},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        return respond(200, {"status": "duplicate", "deliveryId": delivery_id})
    return respond(200, {"status": "accepted", "deliveryId": delivery_id})
