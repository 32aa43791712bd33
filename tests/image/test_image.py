"""What must be true of the Ray worker image. Fails on the plain base (nats-py absent)."""

from __future__ import annotations

import json
import shlex

from ray_worker_image.definition import ImageDefinition


def test_python_is_the_base_python(host, definition: ImageDefinition) -> None:
    """The variant's Python (from its name, e.g. 2.52.1-py311 -> 3.11), also in a login shell
    as KubeRay starts Ray (`bash -lc`)."""
    out = host.check_output(
        f"{definition.base.python_path} -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'"
    )
    assert out == definition.base.python == definition.ray_tag.python
    login = host.check_output("bash -lc 'python -V'")
    assert login.startswith(f"Python {definition.base.python}."), login


def test_runs_as_the_base_user(host, definition: ImageDefinition) -> None:
    user = definition.base.user
    assert host.check_output("id -u") == str(user.uid)
    assert host.check_output("id -g") == str(user.gid)
    assert host.check_output("sh -c 'echo $HOME'") == definition.base.home


def test_module_imports(host, definition: ImageDefinition, import_pair) -> None:
    _, module = import_pair
    result = host.run(f"{definition.base.python_path} -c 'import {module}'")
    assert result.rc == 0, result.stderr


def test_installed_versions_equal_the_lock(installed, locked) -> None:
    wrong = {n: (v, installed.get(n)) for n, v in locked.items() if installed.get(n) != v}
    assert not wrong, f"locked vs installed: {wrong}"


def test_base_packages_unchanged(installed, constraints) -> None:
    moved = {n: (v, installed.get(n)) for n, v in constraints.items() if installed.get(n) != v}
    assert not moved, f"constraints.txt vs installed: {moved}"


def test_ray_is_the_base_ray(installed, definition: ImageDefinition) -> None:
    assert installed.get("ray") == definition.base.ray_version == definition.ray_tag.ray_version


def test_pip_check_is_clean(host, definition: ImageDefinition) -> None:
    result = host.run(f"{definition.base.pip_path} check --disable-pip-version-check")
    assert result.rc == 0, result.stdout + result.stderr


def test_no_build_leftovers(host, definition: ImageDefinition) -> None:
    """Only installed files: no pip cache, no wheels or sdists, no CA bundle from the build."""
    home = definition.base.home
    leftovers = host.check_output(
        f"find {home}/.cache/pip /tmp/install /tmp/overlay /tmp/build-backend "
        "-maxdepth 0 2>/dev/null || true"
    )
    assert leftovers == ""
    site = definition.base.site_packages
    archives = host.check_output(
        f"find {site} -maxdepth 1 \\( -name '*.whl' -o -name '*.tar.gz' -o -name '*.pem' \\)"
    )
    assert archives == ""


RAY_TASK = """
import json, ray
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)

@ray.remote
def probe():
    import importlib.metadata, nats
    return {"nats": importlib.metadata.version("nats-py"), "file": nats.__file__}

print(json.dumps(ray.get(probe.remote(), timeout=120)))
ray.shutdown()
"""


def test_ray_task_imports_nats(host, definition: ImageDefinition, locked) -> None:
    result = host.run(f"{definition.base.python_path} -c {shlex.quote(RAY_TASK)}")
    assert result.rc == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["nats"] == locked["nats-py"]
    assert answer["file"].startswith(definition.base.site_packages)
