"""Cheap checks before any slow step (preflight.py), invoke.yaml's schema (settings.py),
the definition loader's refusals and verify-tag's variant: each a one-line PipelineError."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ray_worker_image import preflight, settings
from ray_worker_image.definition import DEFAULT_DEFINITION, load_definition
from ray_worker_image.errors import DefinitionError, PipelineError
from ray_worker_image.registry import RegistryAccess
from ray_worker_image.release_tag import variant_for_tag
from ray_worker_image.rollout import ClusterOptions
from ray_worker_image.rollout import inputs as rollout_inputs

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "0" * 64


# -- --registry ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "good",
    [
        "127.0.0.1:5000",
        "registry.example.com",
        "localhost:5001",
        "[::1]:5000",
        "[fe80::1]",
        "[2001:db8::7]:443",
        "reg:65535",
    ],
)
def test_registry_accepts_host_port_and_bracketed_ipv6(good: str) -> None:
    preflight.check_registry(good)


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ("127.0.0.1:99999", "port 99999 is out of range"),
        ("reg:0", "port 0 is out of range"),
        ("::1:5000", r"give HOST\[:PORT\] only"),
        ("[::1", r"give HOST\[:PORT\] only"),
        ("https://reg.example.com", r"give HOST\[:PORT\] only"),
        ("reg.example.com/team", r"give HOST\[:PORT\] only"),
        ("régistry.example.com", r"give HOST\[:PORT\] only"),
        ("", "no registry to push to"),
        ("reg.example.com\n", r"give HOST\[:PORT\] only"),
    ],
)
def test_registry_refuses_what_the_reference_grammar_refuses(bad: str, said: str) -> None:
    with pytest.raises(PipelineError, match=said):
        preflight.check_registry(bad)


def test_an_ipv6_loopback_registry_is_plain_http_like_127_0_0_1() -> None:
    access = RegistryAccess("[::1]:5000")
    assert access.loopback and access.scheme == "http"
    assert not RegistryAccess("[2001:db8::7]:5000").loopback


# -- files: --registry-ca, --out, --write ---------------------------------------------------


def test_registry_ca_must_hold_a_pem_certificate(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"--registry-ca /etc/passwd: holds no PEM"):
        preflight.check_pem("/etc/passwd", "--registry-ca")
    with pytest.raises(PipelineError, match=r"no such file"):
        preflight.check_pem(str(tmp_path / "nope.pem"), "--registry-ca")
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    preflight.check_pem(str(pem), "--registry-ca")
    preflight.check_pem(None, "--registry-ca")


def test_out_must_be_a_folder_we_can_write(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"--out /etc/passwd: is not a folder"):
        preflight.check_out_dir("/etc/passwd")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(PipelineError, match=r"file is not a folder"):
        preflight.check_out_dir(str(a_file / "below"))
    with pytest.raises(PipelineError, match=r"cannot write in /sys"):
        preflight.check_out_dir("/sys/ray-worker-image-out")  # even root cannot
    preflight.check_out_dir(str(tmp_path / "new" / "deeper"))  # created later, not now
    assert not (tmp_path / "new").exists()
    preflight.check_out_dir(str(tmp_path))


def test_write_must_be_a_file_we_can_replace(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"--write .*: no such file"):
        rollout_inputs.check_writable_file(str(tmp_path / "missing.yaml"))
    with pytest.raises(PipelineError, match=r"--write .*: is a folder"):
        rollout_inputs.check_writable_file(str(tmp_path))
    with pytest.raises(PipelineError, match=r"--write /sys/kernel/notes: cannot write it"):
        rollout_inputs.check_writable_file("/sys/kernel/notes")
    manifest = tmp_path / "rc.yaml"
    manifest.write_text("kind: RayCluster\n")
    rollout_inputs.check_writable_file(str(manifest))
    assert manifest.read_text() == "kind: RayCluster\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rc.yaml"]  # the probe left nothing


# -- --groups, --image, --tasks, conflicting flags --------------------------------------------


@pytest.mark.parametrize("bad", ["a b", "gpu/workers", "-gpu", "gpu-", "x" * 64, "grüppe"])
def test_groups_must_be_kuberay_group_names(bad: str) -> None:
    with pytest.raises(PipelineError, match=r"--groups '.*' is not a valid label value"):
        preflight.check_groups(("gpu-workers", bad))


def test_valid_group_names_pass() -> None:
    preflight.check_groups(("gpu-workers", "cpu_group.2", "G", "x" * 63))
    preflight.check_groups(None)
    preflight.check_groups(())


def test_image_references_are_checked_ids_allowed_where_asked() -> None:
    with pytest.raises(PipelineError, match=r"--image 'Not A Ref': repository"):
        preflight.check_image("Not A Ref")
    with pytest.raises(PipelineError, match=r"--image 'ray:2\.49\.2 nats': tag"):
        preflight.check_image("ray:2.49.2 nats", allow_id=True)
    preflight.check_image("sha256:" + "a" * 64, allow_id=True)
    preflight.check_image("0123456789ab", allow_id=True)
    preflight.check_image(f"reg.example.com/swe-fleet/ray:2.49.2-nats@{DIGEST}")
    preflight.check_image(None)


@pytest.mark.parametrize("bad", ["many", "0", "-1", "2.5", ""])
def test_tasks_is_a_positive_whole_number(bad: str) -> None:
    with pytest.raises(PipelineError, match=r"--tasks .*: give a whole number of 1 or more"):
        preflight.positive_int(bad, "--tasks")


def test_tasks_parses() -> None:
    assert preflight.positive_int("4", "--tasks") == 4
    assert preflight.positive_int(7, "--tasks") == 7


def test_variant_and_all_variants_exclude_each_other() -> None:
    with pytest.raises(PipelineError, match=r"--variant 2.49.2 and --all-variants"):
        preflight.check_variant_flags("2.49.2", True)
    preflight.check_variant_flags("2.49.2", False)
    preflight.check_variant_flags(None, True)


def test_patch_refuses_image_with_all_variants(tmp_path: Path) -> None:
    cluster = ClusterOptions(source="rc.yaml", images=(f"reg.example.com/r@{DIGEST}",))
    with pytest.raises(PipelineError, match=r"--image with --all-variants"):
        rollout_inputs.check_patch_inputs(
            cluster, all_variants=True, out=None, write=None, check=False
        )
    rollout_inputs.check_patch_inputs(
        cluster, all_variants=False, out=None, write=None, check=False
    )
    with pytest.raises(PipelineError, match=r"--out /etc/passwd: is not a folder"):
        rollout_inputs.check_patch_inputs(
            ClusterOptions(), all_variants=False, out="/etc/passwd", write=None, check=False
        )


def test_stand_in_push_to_a_remote_registry_needs_allow_stand_in() -> None:
    with pytest.raises(PipelineError, match=r"STAND-IN .* --allow-stand-in"):
        preflight.check_stand_in_push(
            stand_in=True, registry="registry.example.com", allow_stand_in=False
        )
    preflight.check_stand_in_push(stand_in=True, registry="reg.example.com", allow_stand_in=True)
    preflight.check_stand_in_push(stand_in=True, registry="127.0.0.1:5000", allow_stand_in=False)
    preflight.check_stand_in_push(stand_in=False, registry="reg.example.com", allow_stand_in=False)


# -- invoke.yaml: validated by a JSON schema ---------------------------------------------


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ({"enigne": "docker"}, r"field 'ray_image.enigne': unknown field.*did you mean 'engine'"),
        (
            {"cluster": {"nmespace": "x"}},
            r"field 'ray_image.cluster.nmespace': unknown field.*did you mean 'namespace'",
        ),
        (
            {"cluster": {"groups": "gpu-workers"}},
            r"field 'ray_image.cluster.groups': expected a list of group names, e.g. groups: "
            r"\[gpu-workers\], got str",
        ),
        ({"cluster": {"groups": 5}}, r"field 'ray_image.cluster.groups': expected a list"),
        (
            {"cluster": {"groups": ["ok", "a b"]}},
            r"field 'ray_image.cluster.groups\[1\]': 'a b' is not a valid label value",
        ),
        ([1, 2], r"field 'ray_image': expected a mapping of settings"),
        (5, r"field 'ray_image': expected a mapping of settings"),
        ({"engine": "dockr"}, r"field 'ray_image.engine': expected one of podman, docker, auto"),
        ({"cluster": {"kind": "Pod"}}, r"field 'ray_image.cluster.kind': expected one of Ray"),
        ({"registry": 5000}, r"field 'ray_image.registry': expected"),
    ],
)
def test_invoke_yaml_errors_name_the_file_the_field_and_the_fix(raw: object, said: str) -> None:
    with pytest.raises(PipelineError, match=r"^invoke\.yaml: " + said):
        settings.config_section(raw)


def test_the_projects_invoke_yaml_is_valid() -> None:
    raw = yaml.safe_load((ROOT / "invoke.yaml").read_text())["ray_image"]
    section = settings.config_section(raw)
    assert section["cluster"]["groups"] == ["gpu-workers"]
    assert settings.config_section(None) == {}


def test_a_broken_invoke_yaml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "invoke.yaml").write_text("ray_image:\n  engine: [podman\n")
    with pytest.raises(PipelineError, match=r"invoke\.yaml: line \d+: not valid YAML"):
        settings.check_project_file(tmp_path)
    (tmp_path / "invoke.yaml").write_text("ray_image:\n  engine: podman\n")
    settings.check_project_file(tmp_path)


def test_definition_flag_and_env_resolve_from_the_current_directory(tmp_path: Path) -> None:
    root, cwd = Path("/repo"), tmp_path

    def where(flag: str | None, env: dict[str, str], config: dict[str, str]) -> Path:
        return settings.definition_path(
            flag, env, config, root=root, cwd=cwd, default=DEFAULT_DEFINITION
        )

    assert where("x/image.yaml", {}, {}) == cwd / "x/image.yaml"
    assert where(None, {"RAY_IMAGE_DEFINITION": "y.yaml"}, {}) == cwd / "y.yaml"
    assert where(None, {}, {"definition": "z.yaml"}) == root / "z.yaml"  # invoke.yaml: the repo
    assert where(None, {}, {}) == root / DEFAULT_DEFINITION
    assert where("/abs/image.yaml", {}, {}) == Path("/abs/image.yaml")


# -- the definition loader ----------------------------------------------------------------


def test_a_definition_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"is a folder; pass the definition file itself"):
        load_definition(tmp_path, root=ROOT)


@pytest.mark.parametrize("field", ["input", "build_input"])
def test_a_missing_requirements_input_is_refused_at_load(tmp_path: Path, field: str) -> None:
    raw = yaml.safe_load((ROOT / DEFAULT_DEFINITION).read_text())
    raw["requirements"][field] = "requirements/missing.in"
    path = tmp_path / "image.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(
        DefinitionError,
        match=rf"field 'requirements\.{field}': requirements/missing\.in is not a file",
    ):
        load_definition(path, root=ROOT)


# -- verify-tag: the variant the tag names ---------------------------------------------------


def test_verify_tag_finds_the_variant_the_tag_carries() -> None:
    targets = {v.variant: v.target.tag for v in load_definition(root=ROOT).variants}
    assert variant_for_tag("v2.52.1-py311-nats.3", targets) == "2.52.1-py311"
    assert variant_for_tag("v2.49.2-nats.1", targets) == "2.49.2"
    assert variant_for_tag("v9.9.9-nats.1", targets) is None
    assert variant_for_tag("v2.49.2-nats.01", targets) is None


def test_verify_tag_asks_for_variant_only_when_ambiguous() -> None:
    with pytest.raises(PipelineError, match=r"fits variants a, b; pass --variant"):
        variant_for_tag("vx-nats.1", {"a": "x-nats", "b": "x-nats"})
