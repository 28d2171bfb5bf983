#!/usr/bin/env python3
"""moto's DynamoDB-compatible server on 127.0.0.1, for tests, local runs and
benchmarks.

Prints the port it listens on, then serves until its standard input closes, so
it never outlives the test or script that started it.

Requests are answered one at a time, over kept-alive connections. DynamoDB
applies a conditional write to an item atomically; moto checks the condition
and writes in two Python steps that concurrent requests could interleave,
which would make moto, not the code under test, accept a delivery twice.
moto's own server also closes every connection after one answer, which no
DynamoDB client sees in production; waitress keeps them open. Its warning
that requests are queueing is what a test of concurrent writes expects, so it
is not printed.
"""
import logging
import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from waitress.server import create_server


def main() -> None:
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    app = DomainDispatcherApplication(create_backend_app)
    server = create_server(app, host="127.0.0.1", port=port, threads=1, connection_limit=2000,
                           channel_timeout=300, ident="local-dynamodb")
    os.environ.setdefault("MOTO_PORT", str(server.effective_port))
    print(server.effective_port, flush=True)

    def stop_when_parent_goes() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=stop_when_parent_goes, daemon=True).start()
    server.run()


if __name__ == "__main__":
    main()
