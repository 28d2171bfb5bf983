"""The template's AllowedSourceCidrs pattern: it takes what the function reads
as a list of networks (or the empty string, which allows every address) and
refuses what would stop the function's init, and it takes every value
`connect-genesys allowlist` writes. The pattern is read from template.yaml
itself, so these are the rules CloudFormation applies."""
import ipaddress
import re
from pathlib import Path

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def template_pattern() -> re.Pattern:
    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !Sub, ...) do not matter here.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load(TEMPLATE.read_text(), Loader=Loader)
    return re.compile(template["Parameters"]["AllowedSourceCidrs"]["AllowedPattern"])


PATTERN = template_pattern()

ACCEPTED = [
    "",
    "52.0.0.0/8",
    "10.0.0.1",
    "0.0.0.0/0",
    "3.3.3.3/32,52.1.1.0/24,2600:1f18:aaaa::/56",
    "::/0",
    "::1",
    "2001:db8::1/128",
    "fe80::/10,1.2.3.4/32",
    "1:2:3:4:5:6:7:8/64",
    "1:2:3:4:5:6:7::",
]

REFUSED = [
    ",",
    " , ",
    " ",
    "52.0.0.0/8,",
    ",52.0.0.0/8",
    "52.0.0.0/8,,10.0.0.0/8",
    "52.0.0.0/8, 10.0.0.0/8",
    " 1.2.3.4",
    "1.2.3.4/33",
    "1.2.3.4/",
    "1.2.3.4/8/8",
    "1.2.3/8",
    "256.1.1.1",
    "01.2.3.4",
    "::/129",
    ":::",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "x",
    "52.0.0.0/8;10.0.0.0/8",
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_the_pattern_takes_empty_and_comma_separated_networks(value):
    assert PATTERN.fullmatch(value), value
    for entry in filter(None, value.split(",")):
        ipaddress.ip_network(entry, strict=False)  # what the function parses too


@pytest.mark.parametrize("value", REFUSED)
def test_the_pattern_refuses_anything_else(value):
    assert not PATTERN.fullmatch(value), value


def test_every_value_the_allowlist_command_writes_is_taken(tool, deploy, standin):
    standin.ip_ranges = [
        {"cidr": c, "service": "open-messaging", "region": "us-east-1", "direction": "outbound"}
        for c in ["52.1.1.7/24", "2600:1F18:AAAA:0000::/56", "3.3.3.3", "2a05:d018::/36"]
    ]
    d = deploy("s3cret-value-abcdefgh")
    r = tool("allowlist", "--stack", d.name, "--poll-seconds", "0.2")
    assert r.code == 0, r.err
    written = d.parameters()["AllowedSourceCidrs"]
    assert written == "3.3.3.3/32,52.1.1.0/24,2600:1f18:aaaa::/56,2a05:d018::/36"
    assert PATTERN.fullmatch(written), written
