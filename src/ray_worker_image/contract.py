"""The base contract: what KubeRay and Ray jobs rely on in ``rayproject/ray``, as a table.

Each :class:`Row` names one promise, why it matters and where the fact comes from. The
same rows are checked on the offline stand-in (``invoke standin`` after a rebuild), on the
built image (``tests/image/test_base_contract.py`` inside ``invoke test``) and on the real
base where a registry serves it (``invoke contract --image docker.io/rayproject/ray:2.49.2``).

Facts come from two places: the image config (``Shell``, ``Entrypoint``, ``Cmd``, ``User``,
``WorkingDir``, ``Env``) and one run of ``templates/contract-probe.sh.j2`` inside a container
of the image, which reads everything the way KubeRay meets it, through ``/bin/bash -lc``.
:func:`evaluate` is pure: facts in, verdicts out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

from jinja2 import Environment, StrictUndefined

from .engine import Engine
from .errors import CheckFailed
from .imageconfig import image_config

# Sources, cited by the rows below.
_POD_GO = "kuberay ray-operator/controllers/ray/common/pod.go BuildPod"
_POD_GO_LOGIN = _POD_GO + " (/bin/bash -lc -- with ENABLE_LOGIN_SHELL=true, and before KubeRay 1.4)"
_BASE_DEPS = "ray docker/base-deps/Dockerfile (FACTS.md section 1)"
_RAY_LAYER = "ray docker/ray/Dockerfile + ci/build/build-ray-docker.sh (FACTS.md section 1)"

EXPECTED_SHELL = ["/bin/bash", "-c"]
EXPECTED_CMD = ["/bin/bash"]
EXPECTED_GROUP = "users"  # Ubuntu's existing group 100; Ray creates no `ray` group
EXPECTED_ENV = {"TZ": "America/Los_Angeles", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
HOME_FILES = ("pip-freeze.txt", "requirements_compiled.txt")


class ContractError(CheckFailed):
    """An image breaks one or more rows of the base contract."""


@dataclass(frozen=True)
class Expected:
    """What the definition promises about the base: Python ``"3.9"``, Ray ``"2.49.2"``..."""

    python: str
    ray_version: str
    uid: int
    gid: int
    home: str
    bin_dir: str  # /home/ray/anaconda3/bin
    prefix: str  # /home/ray/anaconda3


def expected_for(base: Any) -> Expected:
    """From a definition's base: python, ray_version, user, home, python_path."""
    bin_dir = PurePosixPath(base.python_path).parent
    return Expected(
        python=base.python,
        ray_version=base.ray_version,
        uid=base.user.uid,
        gid=base.user.gid,
        home=base.home,
        bin_dir=str(bin_dir),
        prefix=str(bin_dir.parent),
    )


@dataclass(frozen=True)
class Outcome:
    row: str
    ok: bool
    detail: str


Config = Mapping[str, Any]
Facts = Mapping[str, str]
Check = Callable[[Config, Facts, Expected], str | None]  # None = holds; else what is wrong


@dataclass(frozen=True)
class Row:
    key: str
    promise: str
    source: str
    check: Check


def _env(config: Config) -> dict[str, str]:
    pairs = (item.partition("=") for item in (config.get("Env") or []))
    return {k: v for k, _, v in pairs}


def _path_check(mode: str) -> Check:
    """python, pip and ray resolve to the base's bin dir in a ``plain`` or ``login`` shell."""

    def check(_c: Config, f: Facts, e: Expected) -> str | None:
        wrong = [
            f"{tool} is {f.get(f'{mode}_{tool}') or 'not found'}"
            for tool in ("python", "pip", "ray")
            if f.get(f"{mode}_{tool}") != f"{e.bin_dir}/{tool}"
        ]
        first = (f.get(f"{mode}_path") or "").split(":")[0]
        if first != e.bin_dir:
            wrong.append(f"PATH starts with {first or '(empty)'}")
        return "; ".join(wrong) or None

    return check


def _equal(actual: object, expected: object, what: str) -> str | None:
    return None if actual == expected else f"{what} is {actual!r}, expected {expected!r}"


def _user(c: Config, f: Facts, e: Expected) -> str | None:
    problems = [
        _equal(str(c.get("User") or ""), str(e.uid), "config User"),
        _equal(f.get("uid"), str(e.uid), "uid"),
        _equal(f.get("gid"), str(e.gid), "gid"),
        _equal(f.get("group"), EXPECTED_GROUP, "group"),
    ]
    return "; ".join(p for p in problems if p) or None


def _home(c: Config, f: Facts, e: Expected) -> str | None:
    problems = [
        _equal(f.get("home"), e.home, "HOME"),
        _equal(c.get("WorkingDir"), e.home, "config WorkingDir"),
        _equal(f.get("pwd"), e.home, "working directory"),
    ]
    return "; ".join(p for p in problems if p) or None


def _locale(c: Config, f: Facts, _e: Expected) -> str | None:
    env = _env(c)
    problems = [_equal(env.get(k), v, f"config Env {k}") for k, v in EXPECTED_ENV.items()]
    problems += [
        _equal(f.get(k.lower()), v, f"{k} in the container") for k, v in EXPECTED_ENV.items()
    ]
    return "; ".join(p for p in problems if p) or None


def _files(_c: Config, f: Facts, e: Expected) -> str | None:
    missing = [name for name in HOME_FILES if f.get(f"file_{name}") != "yes"]
    return f"missing or empty in {e.home}: {', '.join(missing)}" if missing else None


ROWS: tuple[Row, ...] = (
    Row(
        "path",
        "bash -c finds python, pip and ray first on PATH, in the base's bin dir",
        _POD_GO + " (KubeRay >= 1.4: /bin/bash -c --); " + _BASE_DEPS + " (ENV PATH)",
        _path_check("plain"),
    ),
    Row(
        "login-path",
        "a login shell (bash -lc) finds python, pip and ray first on PATH, in the bin dir",
        _POD_GO_LOGIN + "; " + _BASE_DEPS + " (conda init in ~/.bashrc)",
        _path_check("login"),
    ),
    Row(
        "shell",
        "image config Shell is /bin/bash -c",
        _BASE_DEPS + " (SHELL)",
        lambda c, f, e: _equal(c.get("Shell"), EXPECTED_SHELL, "config Shell"),
    ),
    Row(
        "no-entrypoint",
        "no Entrypoint (KubeRay sets the container command)",
        _POD_GO,
        lambda c, f, e: None if not c.get("Entrypoint") else f"Entrypoint is {c['Entrypoint']}",
    ),
    Row(
        "cmd",
        "Cmd is /bin/bash (inherited from ubuntu:22.04)",
        _BASE_DEPS,
        lambda c, f, e: _equal(c.get("Cmd"), EXPECTED_CMD, "config Cmd"),
    ),
    Row(
        "user",
        "USER 1000 (numeric), uid 1000, gid 100 (group users)",
        _BASE_DEPS + " (ARG RAY_UID/RAY_GID, USER $RAY_UID)",
        _user,
    ),
    Row(
        "sudo",
        "passwordless sudo for the default user",
        _BASE_DEPS + " ('ray ALL=NOPASSWD: ALL')",
        lambda c, f, e: None if f.get("sudo") == "yes" else "sudo -n true fails",
    ),
    Row("home", "HOME and WORKDIR are the base's home", _BASE_DEPS + " (ENV HOME, WORKDIR)", _home),
    Row("locale", "TZ, LANG and LC_ALL as the base sets them", _BASE_DEPS + " (ENV)", _locale),
    Row(
        "prefix-owner",
        "the Python prefix is owned by the default user (pip install works without sudo)",
        _BASE_DEPS + " (Miniforge installed as USER 1000)",
        lambda c, f, e: _equal(f.get("prefix_owner"), str(e.uid), f"owner uid of {e.prefix}"),
    ),
    Row("home-files", "pip-freeze.txt and requirements_compiled.txt in HOME", _RAY_LAYER, _files),
    Row(
        "ray-version",
        "Ray is the definition's version",
        _RAY_LAYER,
        lambda c, f, e: _equal(f.get("ray_version"), e.ray_version, "ray.__version__"),
    ),
    Row(
        "python-minor",
        "Python major.minor is the definition's (ray-project/ray#44063: nodes must match)",
        _BASE_DEPS + " (ARG PYTHON_VERSION)",
        lambda c, f, e: _equal(f.get("python_minor"), e.python, "Python"),
    ),
)


def probe_script(expected: Expected) -> str:
    """The bash probe, rendered for this base's home and prefix (StrictUndefined)."""
    source = resources.files(__package__).joinpath("templates/contract-probe.sh.j2").read_text()
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701
    return env.from_string(source).render(home=expected.home, prefix=expected.prefix)


def parse_facts(output: str) -> dict[str, str]:
    """``key=value`` lines of the probe into a dict (other lines ignored)."""
    facts: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.replace("_", "").replace(".", "").replace("-", "").isalnum():
            facts[key] = value.strip()
    return facts


def evaluate(config: Config, facts: Facts, expected: Expected) -> list[Outcome]:
    """One :class:`Outcome` per row of :data:`ROWS`, in table order."""
    outcomes = []
    for row in ROWS:
        problem = row.check(config, facts, expected)
        outcomes.append(Outcome(row.key, problem is None, problem or row.promise))
    return outcomes


def failures(outcomes: Sequence[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if not o.ok]


def summary_error(image: str, outcomes: Sequence[Outcome]) -> ContractError:
    """One line naming every broken row: ``<image> breaks the base contract: login-path (...)``."""
    broken = "; ".join(f"{o.row} ({o.detail})" for o in failures(outcomes))
    return ContractError(f"{image} breaks the base contract: {broken}")


def check_image(engine: Engine, image: str, expected: Expected) -> list[Outcome]:
    """Inspect ``image``'s config, run the probe in a container of it, evaluate every row.

    The container runs ``sleep infinity`` as the image's default user and is always removed.
    Raises :class:`~.errors.EngineError` when the image is missing or cannot start.
    """
    config = image_config(engine, image)
    with engine.container(image, ["sleep", "infinity"], name_prefix="ray-image-contract") as box:
        _rc, output = box.exec(["/bin/bash", "-c", probe_script(expected)])
    return evaluate(config, parse_facts(output), expected)
