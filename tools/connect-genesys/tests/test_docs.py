"""The pages in docs/ that describe template.yaml, read against it: every
parameter with its default, every output, every alarm and their count, and
every page and heading an alarm's description points to."""
import json
import re
from pathlib import Path

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
COUNTS = {"one": 1, "two": 2, "three": 3}


@pytest.fixture(scope="module")
def template():
    decoded, errors = decode(str(ROOT / "template.yaml"))
    assert not errors, errors
    return json.loads(json.dumps(decoded, default=str))


def table(page, heading):
    """The rows of the first table after the line `heading`, as trimmed cells."""
    lines = (DOCS / page).read_text().splitlines()
    assert heading in lines, f"{page} has no heading {heading!r}"
    rows = []
    for line in lines[lines.index(heading) + 1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split(" | ")])
        elif rows:
            break
    assert len(rows) > 2, f"no table under {heading!r} in {page}"
    return rows[2:]


def name(cell):
    spans = re.findall(r"`([^`]*)`", cell)
    assert spans, f"no name in {cell!r}"
    return spans[0]


def alarms(template):
    return {
        k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_the_parameters_table_has_every_parameter_with_its_default(template):
    documented = {name(r[0]): r[1] for r in table("template.md", "## Parameters")}
    declared = template["Parameters"]
    assert sorted(documented) == sorted(declared)
    for param, default in documented.items():
        value = str(declared[param].get("Default", ""))
        expected = "empty" if value == "" else f"`{value}`"
        assert default == expected, f"{param}: documented {default}, template {expected}"


def test_the_outputs_table_has_every_output(template):
    documented = [name(r[0]) for r in table("template.md", "## Outputs")]
    assert sorted(documented) == sorted(template["Outputs"])


def test_the_alarms_table_and_count_match_the_alarms_the_template_creates(template):
    created = alarms(template)
    documented = [name(r[0]) for r in table("metrics.md", "## Alarms")]
    assert sorted(documented) == sorted(created)

    page = (DOCS / "metrics.md").read_text()
    said = re.search(r"The template creates (\d+) alarms: (\d+) always, and (\w+) 5xx alarm", page)
    assert said, "metrics.md says how many alarms the template creates"
    always = [k for k, v in created.items() if "Condition" not in v]
    assert int(said.group(1)) == len(created)
    assert int(said.group(2)) == len(always)
    assert COUNTS[said.group(3)] == 1, "one 5xx alarm per HTTP front door"
    front_door_alarms = [k for k in created if k not in always]
    assert all(k.endswith("5xxAlarm") for k in front_door_alarms), front_door_alarms


def headings(page):
    return {line.lstrip("#").strip() for line in page.read_text().splitlines() if line.startswith("#")}


def test_every_page_and_heading_the_template_points_to_exists(template):
    text = (ROOT / "template.yaml").read_text()
    pointers = re.findall(r'(docs/[\w.-]+\.md), ("[^"]+"(?: and "[^"]+")*)', text)
    assert len(pointers) >= len(alarms(template)), pointers
    for path, titles in pointers:
        page = ROOT / path
        assert page.is_file(), path
        for title in re.findall(r'"([^"]+)"', titles):
            assert title in headings(page), f'{path} has no heading "{title}"'


def test_the_dashboard_graphs_every_relay_count(template):
    relay_counts = [name(r[0]) for r in table("metrics.md", "## Metrics")
                    if r[2] == "relay" and r[1] == "Count"]
    assert "RelayBodyFaults" in relay_counts
    (dashboard,) = [v for v in template["Resources"].values()
                    if v["Type"] == "AWS::CloudWatch::Dashboard"]
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert [m for m in relay_counts if f'\\"{m}\\"' not in body] == []
