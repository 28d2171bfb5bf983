#!/usr/bin/env python3
"""Time, memory and cost of one delivery by body size: a 2 KiB body kept in
its item next to 1 MiB and 4 MiB bodies that go to the body bucket first.

The release binary runs behind the same local Lambda Runtime API as
bench/compare.py, against moto's DynamoDB and S3 on 127.0.0.1. Every
invocation is a new delivery; the last one is sent again and must be answered
`duplicate`.

Cost per million deliveries is computed, not measured: Lambda arm64 at 128 MB
in us-east-1, with the billed duration taken as the CPU time scaled to the
share of a vCPU a 128 MB function gets (128/1769). That is a floor: time spent
waiting on S3 and DynamoDB in a region is billed too and is not seen here.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))

import compare  # noqa: E402
import run_local  # noqa: E402

BUCKET = "genesys-webhook-bench-bodies"
SIZES = [int(s) for s in os.environ.get("BODY_SIZES", "2048,1048576,4194304").split(",")]
SMALL_INVOCATIONS = int(os.environ.get("WARM_INVOCATIONS", "1000"))
LARGE_INVOCATIONS = int(os.environ.get("LARGE_INVOCATIONS", "40"))
# The template's BodyRetentionDays: how long an object is stored, and billed.
RETENTION_DAYS = 10
INLINE_LIMIT = 400 * 1024 - 4 * 1024

# us-east-1 list prices, USD.
LAMBDA_GB_SECOND_ARM = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1e6
VCPU_SHARE_128MB = 128 / 1769
S3_PUT = 0.005 / 1000
S3_GB_MONTH = 0.023
DYNAMODB_WRITE_UNIT = 0.625 / 1e6


def cost_per_million(size, cpu_us):
    billed_ms = max(1.0, round(cpu_us / 1000 / VCPU_SHARE_128MB))
    lambda_cost = LAMBDA_REQUEST + billed_ms / 1000 * 0.125 * LAMBDA_GB_SECOND_ARM
    if size > INLINE_LIMIT:
        item_bytes, s3 = 400, S3_PUT + size / 2**30 * S3_GB_MONTH * RETENTION_DAYS / 30
    else:
        item_bytes, s3 = size + 200, 0.0
    dynamodb = -(-item_bytes // 1024) * DYNAMODB_WRITE_UNIT
    return billed_ms, (lambda_cost + s3 + dynamodb) * 1e6, s3 * 1e6


def main():
    import boto3

    binary = os.environ.get("RUST_BINARY", os.path.join(compare.ROOT, "target", "release", "genesys-webhook"))
    run_local.TABLE = compare.TABLE
    dynamodb, endpoint = run_local.start_dynamodb()
    serial = str(int(time.time()))
    results = []
    try:
        run_local.create_table(endpoint)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                     aws_secret_access_key="bench").create_bucket(Bucket=BUCKET)
        env = {"AWS_ENDPOINT_URL_S3": endpoint, "BODY_BUCKET": BUCKET}
        for size in SIZES:
            invocations = SMALL_INVOCATIONS if size <= INLINE_LIMIT else LARGE_INVOCATIONS
            print(f"{size:,} B: {invocations} warm invocations, 3 cold starts", file=sys.stderr, flush=True)
            r = compare.measure(f"b{size}", [binary], endpoint, serial, body=compare.body_of(size),
                                invocations=invocations, cold_runs=3, extra_env=env)
            results.append((size, invocations, r))
    finally:
        dynamodb.stdin.close()
        dynamodb.wait(timeout=10)

    print("\n| body | kept | warm invocations | CPU per invocation | wall per invocation (local) |"
          " cold start | peak RSS | billed at 128 MB (floor) | cost per million (floor) | of which S3 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size, invocations, r in results:
        billed_ms, cost, s3 = cost_per_million(size, r["cpu_us"])
        kept = "S3 + reference" if size > INLINE_LIMIT else "in the item"
        print(f"| {size:,} B | {kept} | {invocations} | {r['cpu_us'] / 1000:.2f} ms | {r['wall_ms']:.1f} ms |"
              f" {r['cold_ms']:.0f} ms | {r['rss_mb']:.1f} MB | {billed_ms:.0f} ms | ${cost:.2f} | ${s3:.2f} |")


if __name__ == "__main__":
    main()
