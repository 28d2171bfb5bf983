#!/usr/bin/env python3
"""moto's DynamoDB-compatible server on 127.0.0.1, for tests and local runs.

Prints the port it listens on, then serves until its standard input closes, so
it never outlives the test or script that started it.

Requests are served one at a time. DynamoDB applies conditional writes to an
item atomically; moto's threaded server checks the condition and writes in two
Python steps that concurrent requests can interleave, which would make moto,
not the code under test, accept a delivery twice.
"""
import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, app, threaded=False)
    os.environ.setdefault("MOTO_PORT", str(server.server_port))
    print(server.server_port, flush=True)

    def stop_when_parent_goes() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=stop_when_parent_goes, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
