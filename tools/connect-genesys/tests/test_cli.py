"""The command line itself: the AWS region as the AWS CLI picks it, and help
text on every option."""
import argparse

import pytest

from conftest import REGION


def options(parser):
    """(command, option) for every option of the parser and its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for _, option in options(sub):
                    yield name, option
        elif action.option_strings:
            yield None, action


def test_every_option_of_every_command_has_help():
    from connect_genesys.cli import parser

    found = list(options(parser()))
    assert any(cmd == "rotate" and "--integration" in o.option_strings for cmd, o in found)
    missing = [(cmd, o.option_strings[0]) for cmd, o in found
               if o.help != argparse.SUPPRESS and not (o.help or "").strip()]
    assert missing == []


@pytest.mark.parametrize("region, default_region", [
    pytest.param(REGION, None, id="only-AWS_REGION"),
    pytest.param(None, REGION, id="only-AWS_DEFAULT_REGION"),
    pytest.param(REGION, "eu-west-1", id="AWS_REGION-first"),
])
def test_the_region_comes_from_AWS_REGION_then_AWS_DEFAULT_REGION(
        tool, deploy, standin, monkeypatch, region, default_region):
    d = deploy("a-secret-" + "x" * 20)
    iid = standin.add_open_integration("Chat", url="https://old.example.com/hook")
    for var, value in (("AWS_REGION", region), ("AWS_DEFAULT_REGION", default_region)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)

    # moto keeps stacks per region: the stack is found only in the right one.
    r = tool("open-messaging", "--stack", d.name, "--integration-id", iid)
    assert r.code == 0, r.err


def test_no_region_at_all_is_one_clear_error(tool, deploy, monkeypatch):
    d = deploy("a-secret-" + "x" * 20)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)

    r = tool("open-messaging", "--stack", d.name, "--integration-id", "any")
    assert r.code == 1
    assert r.err.strip() == "connect-genesys: error: no AWS region: set AWS_REGION or AWS_DEFAULT_REGION"


@pytest.mark.parametrize("flag", ["--help", "-h", "--version"])
def test_help_and_version_exit_0_on_stdout(flag, capsys):
    from connect_genesys import __version__
    from connect_genesys.cli import parser

    with pytest.raises(SystemExit) as exit:
        parser().parse_args([flag])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert (f"connect-genesys {__version__}" if flag == "--version" else "usage: connect-genesys") in out


def test_the_version_is_the_workspaces():
    import pathlib
    import tomllib

    from connect_genesys import __version__

    cargo = pathlib.Path(__file__).resolve().parents[3] / "Cargo.toml"
    assert tomllib.loads(cargo.read_text())["package"]["version"] == __version__
