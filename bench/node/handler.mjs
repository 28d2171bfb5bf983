// The usual Node.js answer to "verify a Genesys webhook and deduplicate it".
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { ConditionalCheckFailedException, DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";

const ddb = new DynamoDBClient({});
const secret = process.env.WEBHOOK_SECRET;
const table = process.env.DEDUP_TABLE;

const respond = (statusCode, payload) => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(payload),
});

export async function handler(event) {
  const raw = Buffer.from(event.body ?? "", event.isBase64Encoded ? "base64" : "utf8");
  const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const signature = Buffer.from((headers["x-genesys-signature"] ?? "").replace(/^sha256=/, ""));
  const expected = Buffer.from(createHmac("sha256", secret).update(raw).digest("hex"));
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
    return respond(401, { error: "invalid_signature" });
  }
  const payload = JSON.parse(raw.toString("utf8"));
  const deliveryId = headers["x-genesys-delivery-id"] ?? "sha256:" + createHash("sha256").update(raw).digest("hex");
  try {
    await ddb.send(new PutItemCommand({
      TableName: table,
      Item: { pk: { S: deliveryId }, body: { B: raw }, topic: { S: String(payload.topicName ?? "") } },
      ConditionExpression: "attribute_not_exists(pk)",
    }));
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException) return respond(200, { status: "duplicate", deliveryId });
    throw e;
  }
  return respond(200, { status: "accepted", deliveryId });
}
