"""`invoke policy --format policy-controller`: ClusterImagePolicy documents valid against the
committed CRD (tests/data/sigstore/, its source in SOURCES.md), and one-line refusals."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from ray_worker_image.errors import PipelineError
from ray_worker_image.supply import policy, sign
from tests.inprocess import Ran, run_invoke

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "tests/data/sigstore/policy.sigstore.dev_clusterimagepolicies.yaml"


def _schema(version: str) -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    assert served["served"] is True
    schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
    return schema


def _invoke(*args: str, env: dict[str, str] | None = None) -> Ran:
    return run_invoke(args, ROOT, {**os.environ, **(env or {})})


@pytest.fixture
def public_key(tmp_path: Path) -> Path:
    path = tmp_path / "cosign.pub"
    path.write_bytes(sign.public_pem(ec.generate_private_key(ec.SECP256R1())))
    return path


def test_policy_validates_against_the_crd_and_says_what_it_admits(
    public_key: Path, tmp_path: Path
) -> None:
    out = tmp_path / "policy.yaml"
    run = _invoke(
        "policy", "--format", "policy-controller", "--public-key", str(public_key),
        "--mode", "warn", "--out", str(out), "--registry", "registry.example:5000",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    documents = list(yaml.safe_load_all(out.read_text()))
    assert len(documents) == 2
    for document in documents:
        assert document["apiVersion"] == "policy.sigstore.dev/v1beta1"
        assert document["kind"] == "ClusterImagePolicy"
        jsonschema.validate(document, _schema("v1beta1"))
        spec = document["spec"]
        assert spec["mode"] == "warn"
        # one glob covers every variant (they are tags of one repository)
        assert spec["images"] == [{"glob": "registry.example:5000/swe-fleet/ray*"}]
        (authority,) = spec["authorities"]
        assert authority["key"]["data"] == public_key.read_text()
        assert "ctlog" not in authority  # offline signatures: no Rekor entry asked for
    signature, attested = (document["spec"]["authorities"][0] for document in documents)
    assert "attestations" not in signature
    assert attested["attestations"] == [
        {"name": "provenance", "predicateType": "https://slsa.dev/provenance/v1"}
    ]


def test_policy_defaults_to_enforce_on_standard_output(public_key: Path) -> None:
    run = _invoke(
        "policy", "--public-key", str(public_key), env={"RAY_IMAGE_REGISTRY": "127.0.0.1:5000"}
    )
    assert run.returncode == 0, run.stderr
    documents = list(yaml.safe_load_all(run.stdout))
    assert {d["spec"]["mode"] for d in documents} == {"enforce"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--format", "kyverno"], "error: --format kyverno: unknown; choose policy-controller"),
        (["--mode", "audit"], "error: --mode audit: unknown; choose enforce or warn"),
        (["--public-key", "/nonexistent.pem"], "error: --public-key: no such file"),
        (["--out", "/"], "error: --out / is a folder"),
    ],
)
def test_bad_input_is_one_line(
    args: list[str], expected: str, public_key: Path, tmp_path: Path
) -> None:
    given = ["--registry", "127.0.0.1:5000"]
    if "--public-key" not in args:
        given += ["--public-key", str(public_key)]
    run = _invoke("policy", *given, *args)
    assert run.returncode == 2  # bad input
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), run.stderr
    assert "Traceback" not in run.stderr and not run.stdout


def test_glob_for_docker_hub_is_how_policy_controller_names_it() -> None:
    assert policy.image_glob("docker.io", "acme/ray") == "index.docker.io/acme/ray*"
    assert policy.image_glob("127.0.0.1:5000", "swe-fleet/ray") == "127.0.0.1:5000/swe-fleet/ray*"
    assert policy.policy_name("swe-fleet/ray") == "ray-worker-image-swe-fleet-ray"
    with pytest.raises(PipelineError, match="--mode"):
        policy.check_options(None, "audit")
