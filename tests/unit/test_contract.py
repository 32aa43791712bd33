"""The base contract table: every row holds on good facts and each fails on its own break."""

from __future__ import annotations

import pytest

from ray_worker_image.contract import (
    ROWS,
    Expected,
    evaluate,
    failures,
    parse_facts,
    probe_script,
    summary_error,
)

EXPECTED = Expected(
    python="3.9",
    ray_version="2.49.2",
    uid=1000,
    gid=100,
    home="/home/ray",
    bin_dir="/home/ray/anaconda3/bin",
    prefix="/home/ray/anaconda3",
)
GOOD_CONFIG = {
    "User": "1000",
    "WorkingDir": "/home/ray",
    "Shell": ["/bin/bash", "-c"],
    "Entrypoint": None,
    "Cmd": ["/bin/bash"],
    "Env": [
        "PATH=/home/ray/anaconda3/bin:/usr/bin:/bin",
        "TZ=America/Los_Angeles",
        "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8",
    ],
}
GOOD_FACTS = {
    "plain_path": "/home/ray/anaconda3/bin:/usr/local/bin:/usr/bin:/bin",
    "plain_python": "/home/ray/anaconda3/bin/python",
    "plain_pip": "/home/ray/anaconda3/bin/pip",
    "plain_ray": "/home/ray/anaconda3/bin/ray",
    "login_path": "/home/ray/anaconda3/bin:/usr/local/bin:/usr/bin:/bin",
    "login_python": "/home/ray/anaconda3/bin/python",
    "login_pip": "/home/ray/anaconda3/bin/pip",
    "login_ray": "/home/ray/anaconda3/bin/ray",
    "python_minor": "3.9",
    "ray_version": "2.49.2",
    "uid": "1000",
    "gid": "100",
    "group": "users",
    "sudo": "yes",
    "home": "/home/ray",
    "pwd": "/home/ray",
    "tz": "America/Los_Angeles",
    "lang": "C.UTF-8",
    "lc_all": "C.UTF-8",
    "prefix_owner": "1000",
    "file_pip-freeze.txt": "yes",
    "file_requirements_compiled.txt": "yes",
}


def test_every_row_holds_on_the_good_facts() -> None:
    outcomes = evaluate(GOOD_CONFIG, GOOD_FACTS, EXPECTED)
    assert [o.row for o in outcomes] == [r.key for r in ROWS]
    assert failures(outcomes) == []


BREAKS = [
    ("path", {}, {"plain_pip": "/usr/bin/pip"}),
    ("login-path", {}, {"login_python": "", "login_path": "/usr/local/bin:/usr/bin:/bin"}),
    ("login-path", {}, {"login_ray": "/usr/local/bin/ray"}),
    ("shell", {"Shell": None}, {}),
    ("no-entrypoint", {"Entrypoint": ["/entrypoint.sh"]}, {}),
    ("cmd", {"Cmd": ["python"]}, {}),
    ("user", {"User": "ray"}, {}),
    ("user", {}, {"gid": "1000", "group": "ray"}),
    ("sudo", {}, {"sudo": "no"}),
    ("home", {"WorkingDir": "/"}, {}),
    ("locale", {"Env": ["PATH=/usr/bin"]}, {}),
    ("prefix-owner", {}, {"prefix_owner": "0"}),
    ("home-files", {}, {"file_pip-freeze.txt": "no"}),
    ("ray-version", {}, {"ray_version": "2.52.1"}),
    ("python-minor", {}, {"python_minor": "3.11"}),
]


@pytest.mark.parametrize(("row", "config", "facts"), BREAKS, ids=[b[0] for b in BREAKS])
def test_each_break_fails_exactly_its_row(row: str, config: dict, facts: dict) -> None:
    outcomes = evaluate(GOOD_CONFIG | config, GOOD_FACTS | facts, EXPECTED)
    assert [o.row for o in failures(outcomes)] == [row]


def test_every_row_has_a_break_case_and_a_source() -> None:
    assert {b[0] for b in BREAKS} == {r.key for r in ROWS}
    assert all(r.source and r.promise for r in ROWS)


def test_summary_is_one_line_naming_rows() -> None:
    outcomes = evaluate(GOOD_CONFIG, GOOD_FACTS | {"login_pip": "", "sudo": "no"}, EXPECTED)
    message = str(summary_error("img", outcomes))
    assert "\n" not in message
    assert message.startswith("img breaks the base contract: login-path (pip is not found)")
    assert "sudo (sudo -n true fails)" in message


def test_probe_renders_and_parses() -> None:
    script = probe_script(EXPECTED)
    assert "/home/ray/anaconda3" in script and "{{" not in script
    assert parse_facts("uid=1000\nnoise\nlogin_path=/a:/b\n") == {
        "uid": "1000",
        "login_path": "/a:/b",
    }
