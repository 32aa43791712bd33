"""Offline checks of .github/workflows/release.yml.

The workflow cannot run here (no GitHub), so what can go wrong with it is
checked statically: its schema (check-jsonschema), its security (zizmor), the
release policy it must keep (trigger, permissions, pins, secrets), and that
every `invoke` task it calls exists, so tasks.py and the workflow cannot drift.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.inprocess import run_invoke

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
VENV_BIN = REPO / ".venv" / "bin"
VERIFY_TAG_LINE = '.venv/bin/invoke verify-tag --tag "$GITHUB_REF_NAME"'


# --- reading the workflow ------------------------------------------------------


def load_workflow(path: Path = WORKFLOW) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: not a YAML mapping"
    # YAML 1.1 reads the bare key `on` as the boolean true.
    if True in data:
        data["on"] = data.pop(True)
    return data


def jobs(workflow: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    result = workflow["jobs"]
    assert isinstance(result, dict)
    return result


@dataclass(frozen=True)
class RunStep:
    job: str
    index: int
    name: str
    script: str
    env: Mapping[str, str]

    @property
    def where(self) -> str:
        return f"job {self.job!r} step {self.index + 1} ({self.name!r})"


def run_steps(workflow: Mapping[str, Any]) -> Iterator[RunStep]:
    for job_id, job in jobs(workflow).items():
        for index, step in enumerate(job.get("steps", [])):
            if "run" in step:
                yield RunStep(
                    job_id, index, str(step.get("name", "")), step["run"], step.get("env", {})
                )


def uses_refs(workflow: Mapping[str, Any]) -> list[str]:
    refs = []
    for job in jobs(workflow).values():
        if "uses" in job:  # a reusable workflow
            refs.append(job["uses"])
        refs.extend(step["uses"] for step in job.get("steps", []) if "uses" in step)
    return refs


# --- finding `invoke` calls in run: scripts -----------------------------------------

# Shell operators end one command and start the next; "(" and "`" start a
# command substitution, whose command is a call like any other.
_OPERATORS = ";&|()<>`"
_INVOKE_NAMES = {"invoke", "inv"}
# invoke's core options (invoke --help) that take a value before the task name.
_CORE_VALUE_OPTIONS = {
    "-D",
    "--list-depth",
    "-F",
    "--list-format",
    "-T",
    "--command-timeout",
    "--hide",
}
# Core options that make invoke run no task at all.
_NO_TASK_OPTIONS = {
    "-l",
    "--list",
    "-h",
    "--help",
    "-V",
    "--version",
    "--complete",
    "--print-completion-script",
}
# Core options that load another collection than the repository's tasks.py:
# the drift check would compare against the wrong list, so it refuses them.
_OTHER_COLLECTION_OPTIONS = {"-c", "--collection", "-r", "--search-root", "-f", "--config"}


def shell_commands(script: str) -> Iterator[list[str]]:
    """Yield the words of each simple command in ``script``.

    Handles line continuations, comments, several commands per line (``;``,
    ``&&``, ``||``, pipes), command substitution and quotes spanning lines.
    """
    pending = ""
    for line in script.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        lexer = shlex.shlex(pending, posix=True, punctuation_chars=_OPERATORS)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        pending = ""
        command: list[str] = []
        for token in tokens:
            if set(token) <= set(_OPERATORS):
                if command:
                    yield command
                command = []
                continue
            command.append(token)
            # A substitution inside double quotes still runs its command. The
            # lexer dropped the quotes, so one inside single quotes is parsed
            # too: that can only add calls to check, never hide one.
            for opener in ("$(", "`"):
                if opener in token:
                    yield from shell_commands(token.split(opener, 1)[1])
        if command:
            yield command
    if pending:
        raise ValueError(f"unbalanced quotes in run script: {pending!r}")


def tasks_in_command(words: list[str]) -> list[str]:
    """Return the tasks one command line asks invoke to run ([] if it runs no invoke).

    The first word after invoke's core options is a task. A later bare word is
    taken as a further task (``invoke build test``) unless it follows an option,
    as the option's value: invoke tasks have no positional arguments here.
    """
    start = next((i for i, w in enumerate(words) if PurePosixPath(w).name in _INVOKE_NAMES), None)
    if start is None:
        return []
    rest = words[start + 1 :]
    i = 0
    while i < len(rest) and rest[i].startswith("-"):
        option, has_value = rest[i].split("=", 1)[0], "=" in rest[i]
        if option in _NO_TASK_OPTIONS:
            return []
        if option in _OTHER_COLLECTION_OPTIONS:
            raise ValueError(f"{' '.join(words)!r}: {option} is not supported by the drift check")
        i += 2 if option in _CORE_VALUE_OPTIONS and not has_value else 1
    tasks: list[str] = []
    after_option = False
    for word in rest[i:]:
        if word.startswith("-"):
            after_option = "=" not in word
        elif after_option:
            after_option = False
        else:
            tasks.append(word)
    return tasks


@dataclass(frozen=True)
class TaskCall:
    task: str
    where: str


def invoke_calls(workflow: Mapping[str, Any]) -> list[TaskCall]:
    return [
        TaskCall(task, step.where)
        for step in run_steps(workflow)
        for command in shell_commands(step.script)
        for task in tasks_in_command(command)
    ]


# --- the tasks that exist ------------------------------------------------------------------


def task_names(listing: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Every name invoke accepts, from ``invoke --list --list-format=json`` output."""
    names: set[str] = set()
    for task in listing.get("tasks", []):
        names.add(prefix + task["name"])
        names.update(prefix + alias for alias in task.get("aliases", []))
    if prefix and listing.get("default"):
        names.add(prefix.rstrip("."))
    for sub in listing.get("collections", []):
        names |= task_names(sub, f"{prefix}{sub['name']}.")
    return names


def list_tasks(root: Path) -> set[str]:
    """The tasks of ``root``/tasks.py, as the installed invoke sees them."""
    tasks_py = root / "tasks.py"
    if not tasks_py.is_file():
        pytest.fail(f"{tasks_py} does not exist: the workflow calls invoke tasks defined there")
    proc = subprocess.run(
        [str(venv_tool("invoke")), "--search-root", str(root), "--list", "--list-format=json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        pytest.fail(f"invoke --list failed in {root} (rc {proc.returncode}): {proc.stderr.strip()}")
    return task_names(json.loads(proc.stdout))


def missing_tasks(calls: Iterable[TaskCall], available: Collection[str]) -> list[str]:
    """One line per call of a task that does not exist; [] when nothing drifted."""
    return [
        f"{call.where} runs `invoke {call.task}`, which tasks.py does not define"
        for call in calls
        if call.task not in available
    ]


def venv_tool(name: str) -> Path:
    path = VENV_BIN / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: create the venv with scripts/setup-host.sh")
    return path


# --- (a) schema ----------------------------------------------------------------------------


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    # --builtin-schema uses the schema bundled with the package: no network.
    return subprocess.run(
        [
            str(venv_tool("check-jsonschema")),
            "--builtin-schema",
            "vendor.github-workflows",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_workflow_matches_github_schema() -> None:
    proc = check_jsonschema(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_does_reject_an_invalid_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: 1\n    steps: nope\n")
    assert check_jsonschema(bad).returncode != 0


# --- (b) security audit ------------------------------------------------------------------


def zizmor_findings(path: Path) -> list[dict[str, Any]]:
    # --offline: no GitHub here, and the result must not depend on it.
    # --persona auditor: every audit, down to pedantic and low-confidence ones.
    # --no-config --no-ignores: nothing may be silenced, by file or by comment.
    proc = subprocess.run(
        [
            str(venv_tool("zizmor")),
            "--offline",
            "--persona",
            "auditor",
            "--no-config",
            "--no-ignores",
            "--strict-collection",
            "--no-exit-codes",
            "--format",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, f"zizmor failed (rc {proc.returncode}): {proc.stderr}"
    findings = json.loads(proc.stdout)
    assert isinstance(findings, list)
    return findings


def test_zizmor_finds_nothing() -> None:
    findings = zizmor_findings(WORKFLOW)
    summary = [
        f"{f['ident']} ({f['determinations']['severity']}): {f['desc']} at "
        f"{f['locations'][0]['concrete']['location']['start_point']['row'] + 1}"
        for f in findings
    ]
    assert findings == [], "\n".join(summary)


def test_zizmor_does_audit_offline(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.head_commit.message }}"\n'
    )
    idents = {f["ident"] for f in zizmor_findings(bad)}
    assert {"unpinned-uses", "template-injection", "artipacked"} <= idents


# --- (c) drift between the workflow and tasks.py ------------------------------------------


def test_every_invoked_task_exists() -> None:
    calls = invoke_calls(load_workflow())
    assert calls, "the workflow calls no invoke task: the extraction is broken"
    problems = missing_tasks(calls, list_tasks(REPO))
    assert problems == [], "\n".join(problems)


def test_drift_is_reported_when_a_task_is_renamed() -> None:
    calls = invoke_calls(load_workflow())
    available = {call.task for call in calls}
    assert missing_tasks(calls, available) == []
    renamed = (available - {"push"}) | {"push-image"}
    problems = missing_tasks(calls, renamed)
    assert len(problems) == 1
    assert "`invoke push`" in problems[0]
    assert "'build-test-push'" in problems[0]


def test_drift_is_caught_through_real_invoke_list(tmp_path: Path) -> None:
    """The whole check, against a throwaway tasks.py where one task was renamed."""
    calls = invoke_calls(load_workflow())
    names = sorted({call.task for call in calls})

    def tasks_file(task_names: Iterable[str]) -> str:
        functions = "".join(
            f"\n\n@task\ndef {name.replace('-', '_')}(c):\n    pass\n" for name in task_names
        )
        return "from invoke import task" + functions

    (tmp_path / "tasks.py").write_text(tasks_file(names))
    assert missing_tasks(calls, list_tasks(tmp_path)) == []

    renamed = ["verify-release-tag" if n == "verify-tag" else n for n in names]
    (tmp_path / "tasks.py").write_text(tasks_file(renamed))
    problems = missing_tasks(calls, list_tasks(tmp_path))
    assert problems == [
        "job 'check' step 4 ('Refuse a tag that does not match the image definition') "
        "runs `invoke verify-tag`, which tasks.py does not define"
    ]


def test_workflow_calls_the_agreed_tasks() -> None:
    # The contract with tasks.py: a change here is a change the lead must make there.
    assert {call.task for call in invoke_calls(load_workflow())} == {
        "verify-tag",
        "lock",
        "lint",
        "unit",
        "build",
        "test",
        "push",
        "patch",
        "report",
        "sbom",
        "verify",
    }


@pytest.mark.parametrize(
    ("script", "tasks"),
    [
        (".venv/bin/invoke lint", ["lint"]),
        ("invoke lock --check", ["lock"]),
        ("inv unit", ["unit"]),
        ('invoke push --engine docker --registry "$R" --username "$U"', ["push"]),
        ("invoke push -e docker --registry=$R", ["push"]),
        ('.venv/bin/invoke patch --out dist/x \\\n  --name "$N" --namespace "$NS"', ["patch"]),
        ("invoke release --json > dist/r.json", ["release"]),
        ("invoke build && invoke test || echo no; invoke push", ["build", "test", "push"]),
        ("invoke build test", ["build", "test"]),
        ("invoke --echo -T 60 build --engine docker unit", ["build", "unit"]),
        ("X=1 time .venv/bin/invoke lint | tee log", ["lint"]),
        ("python -m invoke unit", ["unit"]),
        ('echo "$(invoke release --json)"', ["release"]),
        ('echo "digest: `inv release`"', ["release"]),
        ("d=$(invoke release --json)", ["release"]),
        ("r=`inv release`", ["release"]),
        ("invoke lint # then invoke unit", ["lint"]),
        ("printf '%s\n' \"a\nb\" && invoke unit\ninvoke lint", ["unit", "lint"]),
        ("invoke --list", []),
        ("invoke -l --list-format=json", []),
        ("echo invoked; ls invoke-logs", []),
        ("", []),
    ],
)
def test_extracts_invoke_calls(script: str, tasks: list[str]) -> None:
    found = [t for command in shell_commands(script) for t in tasks_in_command(command)]
    assert found == tasks


def test_refuses_calls_against_another_collection() -> None:
    with pytest.raises(ValueError, match="--search-root"):
        tasks_in_command(["invoke", "--search-root", "elsewhere", "lint"])


def test_task_names_cover_aliases_and_namespaces() -> None:
    listing = {
        "tasks": [{"name": "verify-tag", "aliases": ["vt"]}],
        "collections": [
            {
                "name": "img",
                "default": "build",
                "tasks": [{"name": "build", "aliases": ["b"]}],
                "collections": [],
            },
        ],
    }
    assert task_names(listing) == {"verify-tag", "vt", "img", "img.build", "img.b"}


# --- (d) release policy ----------------------------------------------------------------


def test_trigger_is_a_pushed_tag_only() -> None:
    on = load_workflow()["on"]
    assert isinstance(on, dict)
    assert set(on) == {"push"}, f"release.yml must run on pushed tags only, not {sorted(on)}"
    assert set(on["push"]) == {"tags"}
    assert on["push"]["tags"], "push: tags: needs a pattern"
    assert all(isinstance(p, str) and p for p in on["push"]["tags"])


def test_no_pull_request_target_anywhere() -> None:
    assert "pull_request_target" not in WORKFLOW.read_text(encoding="utf-8")


def test_permissions_are_explicit_and_minimal() -> None:
    workflow = load_workflow()
    assert workflow.get("permissions") == {}, "grant nothing at the workflow level"
    for job_id, job in jobs(workflow).items():
        assert isinstance(job.get("permissions"), dict), f"job {job_id!r}: no permissions"
        publishes = any("gh release" in s.script for s in run_steps({"jobs": {job_id: job}}))
        expected = {"contents": "write"} if publishes else {"contents": "read"}
        assert job["permissions"] == expected, f"job {job_id!r}"


def test_actions_are_pinned_by_commit_with_version_comment() -> None:
    refs = uses_refs(load_workflow())
    assert refs
    for ref in refs:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{ref}: pin by commit SHA"
    text = WORKFLOW.read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip().removeprefix("- ").startswith("uses:"):
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), f"{line.strip()}: # vX.Y.Z"


def test_checkout_does_not_persist_credentials() -> None:
    for job_id, job in jobs(load_workflow()).items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, job_id


def test_no_expression_in_run_scripts() -> None:
    for step in run_steps(load_workflow()):
        assert "${{" not in step.script, f"{step.where}: pass values through env:, not ${{{{ }}}}"


def test_one_release_at_a_time() -> None:
    concurrency = load_workflow().get("concurrency")
    assert isinstance(concurrency, dict)
    assert concurrency.get("group")
    assert "github.ref" not in str(concurrency["group"]), "one group for all tags, not per tag"
    assert concurrency.get("cancel-in-progress") is False


def test_every_task_uses_docker() -> None:
    # GitHub's runners ship Docker; the tasks default to podman otherwise.
    assert load_workflow().get("env", {}).get("RAY_IMAGE_ENGINE") == "docker"


def test_secrets_reach_the_registry_steps_only() -> None:
    """Registry secrets reach push, sbom (attach + sign) and verify; the signing key, sbom only."""
    workflow = load_workflow()
    assert "secrets." not in json.dumps(workflow.get("env", {})), "workflow env"
    for job_id, job in jobs(workflow).items():
        assert "secrets." not in json.dumps(job.get("env", {})), f"job {job_id!r} env"
        for step in job.get("steps", []):
            env = json.dumps(step.get("env", {}))
            run = step.get("run", "")
            if "secrets." in env:
                assert any(f"invoke {t}" in run for t in ("push", "sbom", "verify")), (
                    f"{job_id}: {step.get('name')}"
                )
            if "SIGNING_KEY" in env and "secrets." in env:
                assert "invoke sbom" in run and "--sign" in run, f"{job_id}: {step.get('name')}"
    sbom = next(s for s in run_steps(workflow) if "invoke sbom" in s.script)
    assert sbom.env.get("RAY_IMAGE_SIGNING_KEY") == "${{ secrets.SIGNING_KEY }}"
    assert "SIGNING_KEY" not in sbom.script, "the task reads the key from env"
    push = next(s for s in run_steps(workflow) if "invoke push" in s.script)
    assert push.env.get("RAY_IMAGE_REGISTRY_PASSWORD") == "${{ secrets.REGISTRY_PASSWORD }}"
    assert "RAY_IMAGE_REGISTRY_PASSWORD" not in push.script, "the task reads it from env"


def test_push_follows_the_tests_in_the_same_job() -> None:
    steps = list(run_steps(load_workflow()))
    push = next(s for s in steps if "invoke push" in s.script)
    build = next(s for s in steps if "invoke build" in s.script and s.job == push.job)
    test = next(s for s in steps if "invoke test" in s.script and s.job == push.job)
    assert build.index < test.index < push.index, "the pushed image must be the tested one"
    for step in (build, test, push):
        assert "--all-variants" in step.script, f"{step.where}: all variants pushed or none"
    job = jobs(load_workflow())[push.job]
    assert all("if" not in step for step in job["steps"]), "no step may run past a failure"
    # Escape hatches for developers' machines, never for a release.
    for step in steps:
        for flag in ("--skip-tests", "--stand-in", "--allow-stand-in", "--dry-run"):
            assert flag not in step.script, f"{step.where}: {flag}"


def test_the_matrix_builds_and_tests_every_variant_before_any_push() -> None:
    from ray_worker_image.definition import load_definition

    workflow = load_workflow()
    all_jobs = jobs(workflow)
    legs = [j for j in all_jobs.values() if "matrix" in j.get("strategy", {})]
    assert len(legs) == 1, "one matrix job over the variants"
    leg = legs[0]
    assert leg["strategy"]["matrix"]["variant"] == list(load_definition(root=REPO).names), (
        "the matrix must list exactly the definition's variants, in its order"
    )
    assert leg["strategy"].get("fail-fast") is True
    assert leg["env"]["VARIANT"] == "${{ matrix.variant }}"
    scripts = [s.script for s in run_steps({"jobs": {"leg": leg}})]
    assert any('invoke build --engine docker --variant "$VARIANT"' in s for s in scripts)
    assert any('invoke test --engine docker --variant "$VARIANT"' in s for s in scripts)
    assert not any("invoke push" in s for s in scripts), "a leg never pushes"
    leg_id = next(k for k, v in all_jobs.items() if v is leg)
    push_job = next(s.job for s in run_steps(workflow) if "invoke push" in s.script)
    needs = all_jobs[push_job]["needs"]
    assert leg_id in ([needs] if isinstance(needs, str) else needs)


def test_the_release_lists_every_variant() -> None:
    steps = list(run_steps(load_workflow()))
    report = next(s for s in steps if "invoke report" in s.script)
    assert "--all-variants" in report.script and "--json" in report.script
    publish = next(s for s in steps if "gh release create" in s.script)
    assert "all(.[]; .digest != null)" in publish.script
    assert ".variant" in publish.script and "rollout-$variant.sh" in publish.script


def test_tag_is_verified_before_anything_else() -> None:
    workflow = load_workflow()
    steps = list(run_steps(workflow))
    verify = [s for s in steps if s.script.strip() == VERIFY_TAG_LINE]
    assert len(verify) == 1, f"one step must run exactly: {VERIFY_TAG_LINE}"
    check = verify[0]
    assert "GITHUB_REF_NAME" not in check.env, "the runner sets it to the pushed tag"
    first_invoke = next(s for s in steps if s.job == check.job and "invoke" in s.script)
    assert first_invoke == check

    # Every other job must (transitively) wait for the job that checks the tag.
    all_jobs = jobs(workflow)

    def ancestors(job_id: str) -> set[str]:
        needs = all_jobs[job_id].get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        return set(needs).union(*(ancestors(n) for n in needs))

    for job_id in all_jobs:
        if job_id != check.job:
            assert check.job in ancestors(job_id), f"job {job_id!r} does not wait for the tag check"


def test_verify_tag_step_refuses_a_wrong_tag() -> None:
    """Run the workflow's own verify-tag line as the runner would, with a wrong tag."""
    list_tasks(REPO)  # fails with a clear message while tasks.py is missing
    from ray_worker_image.definition import load_variant

    image_tag = load_variant(root=REPO).target.tag  # the default variant's, e.g. 2.49.2-nats

    def run(tag: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", VERIFY_TAG_LINE],
            cwd=REPO,
            env={**os.environ, "GITHUB_REF_NAME": tag},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    wrong_tag = f"v{image_tag}"
    wrong = run(wrong_tag)
    assert wrong.returncode != 0
    output = wrong.stdout + wrong.stderr
    assert any(wrong_tag in line and "target.tag_suffix" in line for line in output.splitlines()), (
        f"no one-line message naming the tag and target.tag_suffix in:\n{output}"
    )
    right = run(f"v{image_tag}.1")
    assert right.returncode == 0, right.stdout + right.stderr


def test_the_lint_task_the_workflow_runs_passes_on_this_tree() -> None:
    """`invoke lint` (ruff, mypy --strict, hadolint on the rendered Dockerfile) as CI runs it."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "invoke"), "lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    for tool in ("ruff", "mypy", "hadolint"):
        assert f"==> {tool}" in result.stderr


# --- the options the workflow passes exist too ------------------------------------------------


def options_in_command(words: list[str]) -> list[tuple[str, str]]:
    """(task, --option) pairs of one command, each option belonging to the task before it."""
    tasks = tasks_in_command(words)
    if not tasks:
        return []
    start = next(i for i, w in enumerate(words) if PurePosixPath(w).name in _INVOKE_NAMES)
    pairs: list[tuple[str, str]] = []
    current: str | None = None
    remaining = list(tasks)
    for word in words[start + 1 :]:
        if remaining and word == remaining[0]:
            current = remaining.pop(0)
        elif word.startswith("--") and current is not None:
            pairs.append((current, word.split("=", 1)[0]))
    return pairs


def task_options(root: Path, task: str) -> set[str]:
    """The long options `invoke --help TASK` lists."""
    proc = run_invoke(["--search-root", str(root), "--help", task], root)
    assert proc.returncode == 0, proc.stderr
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", proc.stdout.split("Options:", 1)[-1]))


def unknown_options(
    workflow: Mapping[str, Any], options_of: Callable[[str], set[str]]
) -> list[str]:
    problems = []
    for step in run_steps(workflow):
        for command in shell_commands(step.script):
            for task, option in options_in_command(command):
                if option not in options_of(task):
                    problems.append(
                        f"{step.where} passes {option} to `invoke {task}`, which does not take it"
                    )
    return problems


def test_every_option_the_workflow_passes_exists() -> None:
    workflow = load_workflow()
    tasks = sorted(
        {
            task
            for step in run_steps(workflow)
            for command in shell_commands(step.script)
            for task, _ in options_in_command(command)
        }
    )
    helps = {task: task_options(REPO, task) for task in tasks}  # `invoke --help TASK` each

    assert unknown_options(workflow, helps.__getitem__) == []


def test_an_unknown_option_is_reported() -> None:
    workflow = {
        "jobs": {
            "j": {"steps": [{"name": "s", "run": '.venv/bin/invoke report --jsn --name "$N"'}]}
        }
    }
    problems = unknown_options(workflow, lambda task: {"--json", "--name"})
    assert len(problems) == 1 and "--jsn" in problems[0] and "invoke report" in problems[0]


def test_every_variant_is_attested_and_verified_before_anything_is_published() -> None:
    """Issue 22: the sbom step (every variant, --attach --sign) attests each digest (the
    task's own help says so, read through the real invoke), the verify step then checks
    every variant of release.json (signature, both attestations, provenance = labels),
    stopping at the first failure, all before the files are kept for the publish job."""
    workflow = load_workflow()
    steps = [s for s in run_steps(workflow) if s.job == "build-test-push"]
    sbom = next(s for s in steps if "invoke sbom" in s.script)
    assert {"--all-variants", "--attach", "--sign"} <= set(shlex.split(sbom.script))
    assert "attest" in sbom.name
    helped = run_invoke(["--help", "sbom"], REPO)
    assert helped.returncode == 0, helped.stderr
    sign_help = " ".join(helped.stdout.split()).split("--sign", 1)[1].strip()
    assert sign_help.startswith("require the signature and attestations"), sign_help[:80]
    verify = next(s for s in steps if "invoke verify --ref" in s.script)
    assert verify.index > sbom.index and "attestations" in verify.name
    assert "set -euo pipefail" in verify.script and "jq -r '.[]" in verify.script
    assert verify.env.get("RAY_IMAGE_VERIFY_KEY") == "${{ vars.SIGNING_PUBLIC_KEY }}"
    job = jobs(workflow)["build-test-push"]
    upload = next(
        i for i, step in enumerate(job["steps"]) if "upload-artifact" in str(step.get("uses"))
    )
    assert verify.index < upload
    assert "build-test-push" in str(jobs(workflow)["publish"]["needs"])
