"""connect-genesys: connect Genesys Cloud to a deployed genesys-webhook stack."""
import argparse
import sys

from . import __version__, check, commands
from .progress import ToolError

EPILOG = """environment:
  GENESYSCLOUD_OAUTHCLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET  a client-credentials OAuth client
  GENESYSCLOUD_REGION      mypurecloud.com, mypurecloud.ie, ... or us-east-1, eu-west-1, ...
  GENESYSCLOUD_API_REGION  full API base URL, overrides the region (https://api.mypurecloud.com)
  AWS credentials and region as for the AWS CLI; AWS_ENDPOINT_URL[_<SERVICE>] are honoured."""


STACK = "the deployed genesys-webhook stack's name"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="connect-genesys", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    om = sub.add_parser("open-messaging", help="point an Open Messaging integration at the stack")
    om.add_argument("--stack", required=True, help=STACK)
    om.add_argument("--integration-id", required=True, help="the Genesys Open Messaging integration id")
    om.add_argument("--integration", help="the name in the secret's integrations map (added "
                    "with a new token when missing); the URL gets /NAME appended")
    om.add_argument("--refresh-seconds", type=float, default=None,
                    help="the function's secret refresh interval (default: the function's "
                         "SECRET_REFRESH_SECONDS, else the stack's SecretRefreshSeconds, else 300)")
    om.add_argument("--recheck-seconds", type=float, default=None,
                    help="the function's secret recheck interval (default: the function's "
                         "SECRET_RECHECK_SECONDS, else 30; unused when the function cannot be read)")
    om.set_defaults(run=commands.open_messaging)

    eb = sub.add_parser("eventbridge", help="connect the Genesys EventBridge source to the stack")
    eb.add_argument("--stack", required=True, help=STACK)
    eb.add_argument("--suffix", required=True, help="the event source suffix")
    eb.add_argument("--topic", action="append",
                    help="a notification topic to send (repeatable; required when creating)")
    eb.add_argument("--name", help="the integration's name when creating it")
    eb.add_argument("--timeout", type=float, default=300,
                    help="seconds to wait for the partner event source (default 300)")
    eb.add_argument("--poll-seconds", type=float, default=5, help=argparse.SUPPRESS)
    eb.set_defaults(run=commands.eventbridge)

    ro = sub.add_parser("rotate", help="rotate the webhook secret without refusing a delivery")
    ro.add_argument("--stack", required=True, help=STACK)
    ro.add_argument("--integration-id", required=True,
                    help="the Genesys Open Messaging integration id whose secret is rotated")
    ro.add_argument("--integration", help="the name in the secret's integrations map to rotate "
                    "(required when the secret holds several integrations)")
    ro.add_argument("--refresh-seconds", type=float, default=None,
                    help="the function's secret refresh interval (default: the stack's "
                         "SecretRefreshSeconds, else 300)")
    ro.add_argument("--retry-window-seconds", type=float,
                    default=commands.GENESYS_RETRY_WINDOW_SECONDS,
                    help="how long Genesys retries a delivery (default 85)")
    ro.set_defaults(run=commands.rotate)

    al = sub.add_parser("allowlist", help="set AllowedSourceCidrs to Genesys's published ranges")
    al.add_argument("--stack", required=True, help=STACK)
    al.add_argument("--genesys-region", help="the organisation's Genesys region as an AWS "
                    "region name (default: from GENESYSCLOUD_REGION or the API host)")
    al.add_argument("--service", action="append",
                    help="a Genesys IP-range service to allow (repeatable; default open-messaging)")
    al.add_argument("--poll-seconds", type=float, default=5, help=argparse.SUPPRESS)
    al.set_defaults(run=commands.allowlist)

    ck = sub.add_parser("check", help="read-only checklist of a deployed stack and its integrations")
    ck.add_argument("--stack", required=True, help=STACK)
    ck.add_argument("--integration-id", action="append",
                    help="an Open Messaging integration to check besides those recorded on the "
                         "secret (repeatable)")
    ck.add_argument("--genesys-region", help="as for allowlist")
    ck.add_argument("--service", action="append", help="as for allowlist (default open-messaging)")
    ck.add_argument("--max-iterator-age-seconds", type=float,
                    default=check.DEFAULT_MAX_ITERATOR_AGE_SECONDS,
                    help="how far the relay may be behind the stream (default 300)")
    ck.add_argument("--send", action="store_true",
                    help="also post one signed synthetic delivery (type genesys-webhook.check) "
                         "and confirm it was recorded")
    ck.add_argument("--integration", help="with --send: the name in the secret's integrations map")
    ck.add_argument("--send-timeout", type=float, default=15, help=argparse.SUPPRESS)
    ck.set_defaults(run=check.check)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        summary = args.run(args)
    except ToolError as e:
        print(f"connect-genesys: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("connect-genesys: interrupted; run the same command again to continue",
              file=sys.stderr)
        return 130
    print(summary)
    return 0
