"""Signed attestations, provenance, identities, cosign v3 bundles and cosign keys (no engine).

The registry is an in-memory stand-in for :class:`ArtifactStore` (a boundary stub); the
real registry and the real cosign are in tests/engine/test_supply_chain.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ray_worker_image.definition import load_definition
from ray_worker_image.errors import PipelineError
from ray_worker_image.records import BASE_DIGEST, BASE_NAME, REVISION
from ray_worker_image.registry import content
from ray_worker_image.render import (
    BUILD_LOCK_FILE_SHA,
    DEFINITION_SHA,
    LOCK_FILE_SHA,
    provenance_labels,
    render_dockerfile,
)
from ray_worker_image.state import ResolvedBase
from ray_worker_image.supply import attest, bundle, identity, intoto, oci, provenance, sign
from ray_worker_image.supply.verify import attestation_checks, signature_check

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
ROOT = Path(__file__).resolve().parents[2]
SBOM = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
    {"name": "nats-py", "version": "2.11.0"}]}  # fmt: skip
LABELS = {
    REVISION: "1" * 40,
    BASE_NAME: "docker.io/rayproject/ray:2.49.2-py311",
    BASE_DIGEST: "sha256:" + "0b" * 32,
    LOCK_FILE_SHA: "sha256:" + "11" * 32,
    BUILD_LOCK_FILE_SHA: "sha256:" + "22" * 32,
    DEFINITION_SHA: "sha256:" + "33" * 32,
}


class _Store:
    """The part of a registry Repository the attestation code uses, in memory."""

    def __init__(self) -> None:
        self.access = dataclasses.make_dataclass("Access", ["registry"])("127.0.0.1:5000")
        self.repository = "swe-fleet/ray"
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {DIGEST: b'{"schemaVersion":2}'}
        self.index: dict[str, Any] | None = None

    def manifest(self, reference: str) -> tuple[bytes, dict[str, Any]] | None:
        found = self.manifests.get(reference)
        return None if found is None else (found, json.loads(found))

    def blob(self, digest: str) -> bytes:
        return self.blobs[digest]

    def push_blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        self.blobs[content.sha256(data)] = data
        return content.descriptor(media_type, data)

    def push_manifest(self, document: dict[str, Any], reference: str | None = None) -> str:
        body = content.canonical(document)
        self.manifests[content.sha256(body)] = body
        if reference:
            self.manifests[reference] = body
        return content.sha256(body)

    def put_tag(self, digest: str, tag: str) -> None:
        self.manifests[tag] = self.manifests[digest]

    def delete_manifest(self, digest: str) -> bool:
        names = [n for n, body in self.manifests.items() if content.sha256(body) == digest]
        for name in names:
            del self.manifests[name]
        return bool(names)

    def manifest_digest(self, reference: str) -> str | None:
        found = self.manifests.get(reference)
        return None if found is None else content.sha256(found)

    def referrers_api(self, digest: str) -> dict[str, Any] | None:
        return self.index


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _statements() -> list[tuple[str, dict[str, Any]]]:
    predicate = provenance.predicate(
        labels=LABELS,
        definition_path="images/ray-swe-fleet/image.yaml",
        variant="2.49.2",
        repository="swe-fleet/ray",
        source="https://github.com/swe-ai-fleet/ray-worker-image",
        engine="podman",
        env={},
    )
    return [(intoto.CYCLONEDX, SBOM), (intoto.SLSA_PROVENANCE_V1, predicate)]


# -- DSSE and in-toto shapes ---------------------------------------------------------------
def test_pae_is_dsse_v1s_encoding() -> None:
    """The example of DSSE ``protocol.md``."""
    assert intoto.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_statement_is_v1_and_both_versions_are_read() -> None:
    payload = intoto.statement("127.0.0.1:5000/swe-fleet/ray", DIGEST, intoto.CYCLONEDX, SBOM)
    document = json.loads(payload)
    assert document["_type"] == "https://in-toto.io/Statement/v1"
    assert document["subject"] == [
        {"name": "127.0.0.1:5000/swe-fleet/ray", "digest": {"sha256": "ab" * 32}}
    ]
    parsed = intoto.parse_statement(payload)
    assert parsed.subjects == (DIGEST,) and parsed.predicate == SBOM
    old = dict(document, _type="https://in-toto.io/Statement/v0.1")
    assert intoto.parse_statement(json.dumps(old).encode()).type == intoto.STATEMENT_V01
    with pytest.raises(ValueError, match="unknown Statement _type"):
        intoto.parse_statement(json.dumps(dict(document, _type="x")).encode())
    with pytest.raises(ValueError, match="not an in-toto Statement"):
        intoto.parse_statement(b"[]")


def test_envelope_verifies_only_untampered_with_its_key() -> None:
    key = _key()
    payload = intoto.statement("r/x", DIGEST, intoto.CYCLONEDX, SBOM)
    data = attest.signed_envelope(payload, key)
    envelope = json.loads(data)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64decode(envelope["payload"]) == payload
    statement, why = attest.open_envelope(data, key.public_key())
    assert statement is not None and why == ""
    assert attest.open_envelope(data, _key().public_key())[0] is None
    tampered = dict(envelope, payload=base64.b64encode(payload.replace(b"2.11", b"9.99")).decode())
    statement, why = attest.open_envelope(json.dumps(tampered).encode(), key.public_key())
    assert statement is None and "does not verify" in why
    # a signature over the payload alone (no PAE) is not a DSSE signature
    bare = dict(envelope, signatures=[{"keyid": "", "sig": sign.sign_payload(key, payload)}])
    assert attest.open_envelope(json.dumps(bare).encode(), key.public_key())[0] is None


# -- the .att manifest in the registry ------------------------------------------------------
def test_attest_writes_cosigns_layout_and_find_checks_each_envelope() -> None:
    store, key = _Store(), _key()
    attested = attest.attest_digest(store, DIGEST, key, _statements())  # type: ignore[arg-type]
    assert attested.tag == "sha256-" + "ab" * 32 + ".att" and attested.previous is None
    found = store.manifest(attested.tag)
    assert found is not None
    layers = found[1]["layers"]
    assert [layer["mediaType"] for layer in layers] == [intoto.DSSE_ENVELOPE] * 2
    assert [layer["annotations"] for layer in layers] == [
        {"dev.cosignproject.cosign/signature": "", "predicateType": intoto.CYCLONEDX},
        {"dev.cosignproject.cosign/signature": "", "predicateType": intoto.SLSA_PROVENANCE_V1},
    ]
    config = json.loads(store.blob(found[1]["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in layers]
    for predicate_type, _ in _statements():
        statement = attest.find_statement(store, DIGEST, predicate_type, key.public_key())  # type: ignore[arg-type]
        assert statement.predicate_type == predicate_type
    with pytest.raises(PipelineError, match="no valid cyclonedx attestation"):
        attest.find_statement(store, DIGEST, intoto.CYCLONEDX, _key().public_key())  # type: ignore[arg-type]


def test_attesting_again_replaces_this_keys_layers_and_keeps_others() -> None:
    store, key, other = _Store(), _key(), _key()
    attest.attest_digest(store, DIGEST, other, _statements()[:1])  # type: ignore[arg-type]
    first = attest.attest_digest(store, DIGEST, key, _statements())  # type: ignore[arg-type]
    second = attest.attest_digest(store, DIGEST, key, _statements())  # type: ignore[arg-type]
    assert second.previous == first.manifest_digest
    found = store.manifest(second.tag)
    assert found is not None and len(found[1]["layers"]) == 3  # other's SBOM + this key's two
    # a failed release puts the earlier manifest back: the other key's attestation stays
    attest.restore(store, DIGEST, second)  # type: ignore[arg-type]
    restored = store.manifest(second.tag)
    assert restored is not None and content.sha256(restored[0]) == first.manifest_digest
    attest.find_statement(store, DIGEST, intoto.CYCLONEDX, other.public_key())  # type: ignore[arg-type]


def test_restore_without_an_earlier_manifest_deletes_what_was_written() -> None:
    store, key = _Store(), _key()
    attested = attest.attest_digest(store, DIGEST, key, _statements())  # type: ignore[arg-type]
    attest.restore(store, DIGEST, attested)  # type: ignore[arg-type]
    assert store.manifest(attested.tag) is None


def _tamper(store: _Store, tag: str, index: int, envelope: bytes) -> None:
    """Replace layer ``index`` of the .att manifest with ``envelope`` (same annotations)."""
    found = store.manifest(tag)
    assert found is not None
    manifest = found[1]
    store.push_blob(envelope, intoto.DSSE_ENVELOPE)
    layer = dict(manifest["layers"][index], digest=content.sha256(envelope), size=len(envelope))
    manifest["layers"][index] = layer
    store.push_manifest(manifest, tag)


def test_verify_refuses_a_tampered_envelope_another_digest_and_an_unsigned_sbom() -> None:
    key = _key()
    public = key.public_key()
    good = _Store()
    attested = attest.attest_digest(good, DIGEST, key, _statements())  # type: ignore[arg-type]
    checks = attestation_checks(good, DIGEST, public, LABELS, "nats-py")  # type: ignore[arg-type]
    assert [(c.name, c.ok) for c in checks] == [
        ("attestation cyclonedx", True),
        ("attestation provenance", True),
        ("provenance labels", True),
    ], checks
    # tampered: the SBOM envelope's payload changed after signing
    tampered = _Store()
    attest.attest_digest(tampered, DIGEST, key, _statements())  # type: ignore[arg-type]
    envelope = json.loads(tampered.blob(tampered.manifest(attested.tag)[1]["layers"][0]["digest"]))  # type: ignore[index]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["components"][0]["version"] = "0.0.1"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    _tamper(tampered, attested.tag, 0, json.dumps(envelope).encode())
    failed = {c.name: c for c in attestation_checks(tampered, DIGEST, public, LABELS, "nats-py")}  # type: ignore[arg-type]
    assert not failed["attestation cyclonedx"].ok
    assert "envelope signature does not verify" in failed["attestation cyclonedx"].detail
    # a correctly signed statement about another digest, copied next to this one
    moved = _Store()
    moved.manifests[OTHER] = b'{"schemaVersion":2}'
    attest.attest_digest(moved, OTHER, key, _statements())  # type: ignore[arg-type]
    moved.manifests[attested.tag] = moved.manifests[intoto.attestation_tag(OTHER)]
    failed = {c.name: c for c in attestation_checks(moved, DIGEST, public, LABELS, "nats-py")}  # type: ignore[arg-type]
    assert not failed["attestation cyclonedx"].ok and "about another digest" in failed[
        "attestation cyclonedx"].detail  # fmt: skip
    assert not failed["attestation provenance"].ok
    # only an (unsigned) SBOM referrer, no attestation
    unsigned = _Store()
    failed = {c.name: c for c in attestation_checks(unsigned, DIGEST, public, LABELS, "nats-py")}  # type: ignore[arg-type]
    assert not failed["attestation cyclonedx"].ok and "no attestation" in failed[
        "attestation cyclonedx"].detail  # fmt: skip


def test_provenance_that_differs_from_the_labels_fails_naming_the_field() -> None:
    store, key = _Store(), _key()
    attest.attest_digest(store, DIGEST, key, _statements())  # type: ignore[arg-type]
    for label, name in ((BASE_DIGEST, "base"), (LOCK_FILE_SHA, "requirements.lock")):
        labels = dict(LABELS, **{label: "sha256:" + "99" * 32})
        checks = {
            c.name: c
            for c in attestation_checks(store, DIGEST, key.public_key(), labels, "nats-py")
        }  # type: ignore[arg-type]
        assert not checks["provenance labels"].ok
        assert checks["provenance labels"].detail.startswith(name), checks


# -- provenance -----------------------------------------------------------------------------
def test_provenance_states_builder_type_base_locks_definition_revision_and_ci_run() -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "swe-ai-fleet/ray-worker-image",
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_WORKFLOW_REF": "swe-ai-fleet/ray-worker-image/.github/workflows/release.yml"
        "@refs/tags/v1",
    }
    predicate = provenance.predicate(
        labels=LABELS, definition_path="images/x/image.yaml", variant="v", repository="r",
        source="https://github.com/swe-ai-fleet/ray-worker-image", engine="docker", env=env,
    )  # fmt: skip
    build = predicate["buildDefinition"]
    assert build["buildType"] == provenance.BUILD_TYPE
    assert build["externalParameters"]["revision"] == "1" * 40
    dependencies = {d["name"]: d for d in build["resolvedDependencies"]}
    assert dependencies["source"]["digest"] == {"gitCommit": "1" * 40}
    assert dependencies["base"]["digest"] == {"sha256": "0b" * 32}
    assert dependencies["requirements.lock"]["digest"] == {"sha256": "11" * 32}
    assert dependencies["build-requirements.lock"]["digest"] == {"sha256": "22" * 32}
    assert dependencies["image-definition"]["digest"] == {"sha256": "33" * 32}
    run = predicate["runDetails"]
    assert run["builder"]["id"] == "https://github.com/" + env["GITHUB_WORKFLOW_REF"]
    assert run["metadata"]["invocationId"] == (
        "https://github.com/swe-ai-fleet/ray-worker-image/actions/runs/42/attempts/2"
    )
    local = provenance.predicate(
        labels=LABELS, definition_path="d", variant="v", repository="r", source="s",
        engine="podman", env={},
    )  # fmt: skip
    assert local["runDetails"] == {"builder": {"id": provenance.LOCAL_BUILDER}}
    assert provenance.label_checks(predicate, LABELS) == []


def test_the_rendered_dockerfile_carries_the_provenance_labels() -> None:
    definition = load_definition(ROOT / "images/ray-swe-fleet/image.yaml", ROOT).variants[0]
    base = ResolvedBase(name="n", source="n", digest="sha256:" + "0" * 64, stand_in=False)
    dockerfile = render_dockerfile(definition, base, "f" * 64)
    for label, value in provenance_labels(definition).items():
        assert f'{label}="{value}"' in dockerfile
        assert value.startswith("sha256:") and len(value) == 71


# -- identities, bundles, keys --------------------------------------------------------------
@pytest.mark.parametrize(
    "spelling",
    ["ray", "library/ray", "docker.io/library/ray", "index.docker.io/library/ray:2.49.2",
     "docker.io/ray@" + DIGEST],
)  # fmt: skip
def test_docker_hub_spellings_are_one_repository(spelling: str) -> None:
    assert identity.same_repository(spelling, "docker.io/library/ray")
    assert not identity.same_repository(spelling, "ghcr.io/library/ray")


def test_registry_ports_and_localhost_are_kept() -> None:
    assert identity.normalize("127.0.0.1:5000/swe-fleet/ray:tag") == "127.0.0.1:5000/swe-fleet/ray"
    assert identity.normalize("localhost/x") == "localhost/x"
    assert identity.normalize("rayproject/ray") == "docker.io/rayproject/ray"


def test_a_signature_naming_docker_hub_another_way_verifies_and_a_mirror_is_named() -> None:
    store, key = _Store(), _key()
    store.access = dataclasses.make_dataclass("Access", ["registry"])("index.docker.io")
    store.repository = "rayproject/ray"
    payload = oci.simple_signing_payload("docker.io/rayproject/ray", DIGEST)
    store.push_blob(payload, oci.SIMPLE_SIGNING)
    store.push_manifest(
        oci.signature_manifest(payload, sign.sign_payload(key, payload)), oci.signature_tag(DIGEST)
    )
    assert "cosign signature" in sign.verify_digest(store, DIGEST, key.public_key())  # type: ignore[arg-type]
    store.access = dataclasses.make_dataclass("Access", ["registry"])("mirror.example:5000")
    with pytest.raises(PipelineError, match=r"signs repository docker\.io/rayproject/ray"):
        sign.verify_digest(store, DIGEST, key.public_key())  # type: ignore[arg-type]
    assert "cosign signature" in sign.verify_digest(
        store,
        DIGEST,
        key.public_key(),
        "rayproject/ray",  # type: ignore[arg-type]
    )


def _bundle_store(bundled: dict[str, Any]) -> _Store:
    store = _Store()
    data = json.dumps(bundled).encode()
    store.push_blob(data, bundle.BUNDLE_V03)
    manifest = {
        "schemaVersion": 2, "mediaType": content.OCI_MANIFEST, "artifactType": bundle.BUNDLE_V03,
        "config": content.descriptor(oci.EMPTY_CONFIG, oci.EMPTY_JSON),
        "layers": [content.descriptor(bundle.BUNDLE_V03, data)],
        "subject": content.subject_descriptor(content.OCI_MANIFEST, DIGEST, 19),
    }  # fmt: skip
    digest = store.push_manifest(manifest)
    store.index = {"manifests": [{"mediaType": content.OCI_MANIFEST, "digest": digest, "size": 1,
                                  "artifactType": bundle.BUNDLE_V03}]}  # fmt: skip
    return store


def test_a_cosign_v3_bundle_is_verified_or_named_never_no_signature() -> None:
    key = _key()
    payload = intoto.statement("r", DIGEST, "https://sigstore.dev/cosign/sign/v1", {})
    dsse = json.loads(attest.signed_envelope(payload, key))
    store = _bundle_store({"mediaType": bundle.BUNDLE_V03, "dsseEnvelope": dsse})
    check = signature_check(store, DIGEST, key.public_key(), None)  # type: ignore[arg-type]
    assert check.ok and "cosign v3 bundle" in check.detail, check
    wrong = signature_check(store, DIGEST, _key().public_key(), None)  # type: ignore[arg-type]
    assert not wrong.ok and "cosign v3 bundle" in wrong.detail
    message = _bundle_store({"messageSignature": {"messageDigest": {}, "signature": "AA=="}})
    named = signature_check(message, DIGEST, key.public_key(), None)  # type: ignore[arg-type]
    assert not named.ok and "cosign v3 bundle" in named.detail
    assert "messageSignature" in named.detail and "no signature" not in named.detail


COSIGN_KEY = """-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiJBQUFBIn0sImNpcGhlciI6eyJuYW1lIjoibmFjbC9z
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
"""


def test_a_cosign_encrypted_key_is_refused_naming_its_format(tmp_path: Path) -> None:
    path = tmp_path / "cosign.key"
    path.write_text(COSIGN_KEY)
    for value in (str(path), COSIGN_KEY):
        env = {sign.KEY_ENV: value, sign.PASSPHRASE_ENV: "pass"}
        with pytest.raises(PipelineError) as caught:
            sign.load_private_key(env)
        message = str(caught.value)
        assert "cosign-encrypted key (ENCRYPTED SIGSTORE PRIVATE KEY" in message
        assert "\n" not in message and "eyJr" not in message


def test_a_release_taken_back_restores_the_earlier_att_manifest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """release_supply._take_back_supply with the variant's ``supply`` part: the .att tag goes back
    to what it held before this release (another key's attestation), it is not deleted."""

    from ray_worker_image import release_supply, supply

    store, mine, theirs = _Store(), _key(), _key()
    before = attest.attest_digest(store, DIGEST, theirs, _statements()[:1])  # type: ignore[arg-type]
    part = {"attestations": supply.attestations_part(
        attest.attest_digest(store, DIGEST, mine, _statements()))}  # type: ignore[arg-type]  # fmt: skip
    session = SimpleNamespace(variant="v", build_dir=tmp_path, registry_access=lambda _r: None)
    plan = SimpleNamespace(
        registry="127.0.0.1:5000",
        destination=SimpleNamespace(repository=lambda _name: store),
        out=None,
        sessions=[session],
    )
    record = SimpleNamespace(repository="swe-fleet/ray", digest=DIGEST)
    release_supply._take_back_supply(plan, session, record, part)  # type: ignore[arg-type]
    found = store.manifest(intoto.attestation_tag(DIGEST))
    assert found is not None and content.sha256(found[0]) == before.manifest_digest
    attest.find_statement(store, DIGEST, intoto.CYCLONEDX, theirs.public_key())  # type: ignore[arg-type]
    with pytest.raises(PipelineError):
        attest.find_statement(store, DIGEST, intoto.SLSA_PROVENANCE_V1, mine.public_key())  # type: ignore[arg-type]


def test_no_provenance_is_stated_for_an_image_built_from_other_files() -> None:
    """The release reads the pushed image's labels; when their lock or definition digest is
    not the work tree's, it refuses in one line (rebuild) before making anything."""
    from ray_worker_image import supply

    definition = load_definition(ROOT / "images/ray-swe-fleet/image.yaml", ROOT).variants[0]
    store = _Store()
    current = provenance_labels(definition)
    store.labels = lambda _ref: dict(current)  # type: ignore[attr-defined]
    record = SimpleNamespace(digest=DIGEST)
    assert supply._provenance_labels(store, definition, record) == current  # type: ignore[arg-type]
    stale = dict(current, **{LOCK_FILE_SHA: "sha256:" + "99" * 32})
    store.labels = lambda _ref: stale  # type: ignore[attr-defined]
    with pytest.raises(PipelineError) as caught:
        supply._provenance_labels(store, definition, record)  # type: ignore[arg-type]
    message = str(caught.value)
    assert f"label {LOCK_FILE_SHA} is sha256:9999" in message and "rebuild" in message
    assert "\n" not in message


def test_a_blank_signed_identity_is_one_line(tmp_path: Path) -> None:
    """`invoke verify --signed-identity " "`: refused before the registry is asked."""
    import subprocess

    public = tmp_path / "cosign.pub"
    public.write_bytes(sign.public_pem(_key()))
    run = subprocess.run(
        [str(ROOT / ".venv/bin/invoke"), "verify", "127.0.0.1:1/x:y", "--public-key",
         str(public), "--signed-identity", " "],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 2  # bad input
    assert run.stderr.strip() == "error: --signed-identity is empty: give the signed REGISTRY/REPO"
