// A minimal Lambda runtime loop for handler.mjs: what a custom runtime does,
// without the runtime interface client's extra work.
import { handler } from "./handler.mjs";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation`;

for (;;) {
  const next = await fetch(`${api}/next`);
  const requestId = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json();
  const answer = await handler(event);
  await (await fetch(`${api}/${requestId}/response`, { method: "POST", body: JSON.stringify(answer) })).text();
}
