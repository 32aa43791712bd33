"""SBOM and signature of a pushed image, against the real engines and the loopback registry.

Per engine: the built, tested image is pushed, the release hook makes its SBOM inside a
throwaway container, attaches it to the digest (referrers fallback tag on distribution
2.8) and signs the digest; the test pulls both back *by the digest* and checks them, runs
`invoke verify` as a user does, and shows a wrong key, an unsigned image and a moved tag
fail. Then a containers/image policy engine (Debian 13's skopeo, in a container) pulls with a
``sigstoreSigned`` policy. Everything created (registry manifests and tags, local names, the
verifier image) is removed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ray_worker_image import supply
from ray_worker_image.engine import Engine
from ray_worker_image.lock import parse_lock
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Destination, RegistryAccess, Repository, content
from ray_worker_image.state import PushRecord, TestRecord
from ray_worker_image.steps import do_push
from ray_worker_image.supply import artifacts, attest, intoto, oci, sign
from ray_worker_image.supply.sbom import packages, parse_sbom
from ray_worker_image.supply.verify import run_checks

from ..conftest import ROOT, Built

pytestmark = pytest.mark.engine
PASSPHRASE = "supply-test-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An ECDSA P-256 key pair as the README makes it (encrypted PKCS#8 + SPKI PEM)."""
    folder = tmp_path_factory.mktemp("keys")
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / "key.pem", folder / "pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    public.write_bytes(sign.public_pem(key))
    return private, public


def _delete_everything(store: Repository) -> None:
    """Every manifest a tag of the test repository holds, and what its indexes list."""
    for tag in store.tags():
        found = store.manifest(tag)
        if found is None:
            continue
        for entry in found[1].get("manifests") or []:
            store.delete_manifest(str(entry["digest"]))
        store.delete_manifest(content.sha256(found[0]))


@pytest.fixture
def released(
    built: Built,
    tested: TestRecord,
    registry: str,
    keys: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[PushRecord, Repository, dict[str, object], Path]]:
    """Pushed, then the release hook: SBOM made, attached, written, signed."""
    record = do_push(
        built.session, registry=registry, username=None, skip_tests=False, allow_stand_in=False
    )
    assert record is not None
    store = Destination(RegistryAccess(registry), None).repository(record.repository)
    try:
        monkeypatch.setenv(sign.KEY_ENV, str(keys[0]))
        monkeypatch.setenv(sign.PASSPHRASE_ENV, PASSPHRASE)
        s = built.session
        image_before = s.engine.image_attrs(record.image_id)["Id"]
        result = supply.after_push(
            s.definition,
            s.engine,
            record,
            Destination(RegistryAccess(registry)),
            ca_cert=s.ca_cert,
            out_dir=tmp_path / "out",
        )
        assert s.engine.image_attrs(record.image_id)["Id"] == image_before  # unchanged
        assert not s.engine.image_exists(f"{registry}/{record.repository}:sbom")
        yield record, store, result, tmp_path / "out"
    finally:
        _delete_everything(store)
        for tag in record.tags:
            built.session.engine.remove_image(f"{registry}/{record.repository}:{tag}")


def _locked_nats(built: Built) -> str:
    lock = parse_lock(built.session.definition.requirements.lock.read_text())
    return lock["nats-py"].version


def test_sbom_and_signature_pulled_back_by_digest(
    released: tuple[PushRecord, Repository, dict[str, object], Path],
    built: Built,
    keys: tuple[Path, Path],
    registry: str,
) -> None:
    record, _, result, out = released
    # a fresh client, as a user elsewhere would have: only the digest is known
    store = Destination(RegistryAccess(registry), None).repository(record.repository)
    assert store.referrers_api(record.digest) is None  # distribution 2.8: no referrers API
    found = artifacts.find_sbom(store, record.digest)
    assert found is not None
    data, source = found
    assert source.startswith(f"tag {content.fallback_tag(record.digest)}")
    names = packages(parse_sbom(data, "pulled SBOM"))
    assert names["nats-py"] == _locked_nats(built)
    assert "ray" in names and "aiohttp" in names  # the base's packages too
    # the referrer's subject is the image manifest exactly as the registry serves it
    index = store.manifest(content.fallback_tag(record.digest))
    assert index is not None and index[1]["mediaType"] == content.OCI_INDEX
    (entry,) = index[1]["manifests"]
    sbom_manifest = store.manifest(str(entry["digest"]))
    assert sbom_manifest is not None
    image_manifest = store.manifest(record.digest)
    assert image_manifest is not None
    assert sbom_manifest[1]["subject"]["size"] == len(image_manifest[0])
    assert sbom_manifest[1]["artifactType"] == "application/vnd.cyclonedx+json"
    # the release output folder ships the same file
    assert (out / f"sbom-{built.session.variant}.cdx.json").read_bytes() == data
    assert result["signature"] == oci.signature_tag(record.digest)
    # the signature verifies with the public key, by digest
    public = sign.load_public_key(str(keys[1]), {})
    assert "cosign signature" in sign.verify_digest(store, record.digest, public)
    digest, checks = run_checks(
        store, ImageRef(registry, record.repository, digest=record.digest), public
    )
    assert digest == record.digest and all(check.ok for check in checks), checks
    # two signed attestations under cosign's tag, found by the digest alone
    assert result["attestations"]["tag"] == intoto.attestation_tag(record.digest)  # type: ignore[index]
    att = store.manifest(intoto.attestation_tag(record.digest))
    assert att is not None
    assert [layer["annotations"]["predicateType"] for layer in att[1]["layers"]] == [
        intoto.CYCLONEDX,
        intoto.SLSA_PROVENANCE_V1,
    ]
    sbom_statement = attest.find_statement(store, record.digest, intoto.CYCLONEDX, public)
    assert sbom_statement.predicate == json.loads(data)  # the attached SBOM, signed
    stated = attest.find_statement(store, record.digest, intoto.SLSA_PROVENANCE_V1, public)
    labels = store.labels(ImageRef(registry, record.repository, digest=record.digest))
    resolved = {
        d["name"]: d.get("digest")
        for d in stated.predicate["buildDefinition"]["resolvedDependencies"]
    }
    assert "sha256:" + resolved["base"]["sha256"] == labels["org.opencontainers.image.base.digest"]


def _invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv/bin/invoke"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_invoke_verify_passes_the_release_and_fails_a_wrong_key_or_unsigned_image(
    released: tuple[PushRecord, Repository, dict[str, object], Path],
    built: Built,
    keys: tuple[Path, Path],
    registry: str,
    tmp_path: Path,
) -> None:
    record, _, _, _ = released
    tag_ref = f"{registry}/{record.repository}:{record.tags[0]}"
    good = _invoke("verify", tag_ref, "--public-key", str(keys[1]))
    assert good.returncode == 0, good.stdout + good.stderr
    lines = good.stdout.strip().splitlines()
    assert lines[0] == f"{registry}/{record.repository}@{record.digest}"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "ok   signature",
        "ok   sbom",
        "ok   attestation cyclonedx",
        "ok   attestation provenance",
        "ok   provenance labels",
        "ok   label revision",
        "ok   label base name",
        "ok   label base digest",
        "ok   label stand-in",
    ]
    other = tmp_path / "other.pem"
    other.write_bytes(sign.public_pem(ec.generate_private_key(ec.SECP256R1())))
    wrong = _invoke(
        "verify", f"{registry}/{record.repository}@{record.digest}", "--public-key", str(other)
    )
    assert wrong.returncode == 1
    assert "FAIL signature: no valid signature" in wrong.stdout
    assert "ok   sbom" in wrong.stdout
    # --json: the same checks as one document on stdout, the same exit code
    as_json = _invoke(
        "verify", f"{registry}/{record.repository}@{record.digest}", "--public-key", str(other),
        "--json",
    )  # fmt: skip
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["image"] == f"{registry}/{record.repository}@{record.digest}"
    assert document["ok"] is False
    assert {c["name"]: c["ok"] for c in document["checks"]}["signature"] is False
    # an image without SBOM or signature: the plain base, pushed into the test repository
    s = built.session
    unsigned = ImageRef(registry, record.repository, "unsigned")
    s.engine.tag(built.image.base.pinned, unsigned)
    try:
        s.engine.push(unsigned, auth=None, on_line=lambda _l: None, access=RegistryAccess(registry))
        bad = _invoke("verify", str(unsigned), "--public-key", str(keys[1]))
        assert bad.returncode == 1
        assert "FAIL signature" in bad.stdout and "FAIL sbom" in bad.stdout
        assert "FAIL attestation cyclonedx" in bad.stdout
        assert "FAIL attestation provenance" in bad.stdout
    finally:
        s.engine.untag(str(unsigned))


def test_verify_refuses_a_tampered_envelope_another_digests_statement_and_an_unsigned_sbom(
    released: tuple[PushRecord, Repository, dict[str, object], Path],
    built: Built,
    keys: tuple[Path, Path],
    registry: str,
) -> None:
    """On the registry, by `invoke verify`: (1) the release's SBOM envelope with its payload
    changed after signing; (2) another image carrying a copy of the release's `.att` (signed
    statements about the release's digest); (3) another image with an SBOM referrer and a
    valid signature but no attestation. Each exits 1 naming the failing check."""
    record, store, _, _ = released
    public = ["--public-key", str(keys[1])]
    tag = intoto.attestation_tag(record.digest)
    original = store.manifest(tag)
    assert original is not None
    envelope = json.loads(store.blob(original[1]["layers"][0]["digest"]))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["components"] = []
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    forged = json.dumps(envelope).encode()
    store.push_blob(forged, intoto.DSSE_ENVELOPE)
    manifest = json.loads(original[0])
    manifest["layers"][0] = dict(
        manifest["layers"][0], digest=content.sha256(forged), size=len(forged)
    )
    store.push_blob(intoto.layers_config(manifest["layers"]), oci.OCI_CONFIG)
    store.push_manifest(manifest, tag)
    try:
        tampered = _invoke("verify", f"{registry}/{record.repository}@{record.digest}", *public)
        assert tampered.returncode == 1
        assert "FAIL attestation cyclonedx: no valid cyclonedx attestation" in tampered.stdout
        assert "envelope signature does not verify" in tampered.stdout
        assert "ok   attestation provenance" in tampered.stdout
    finally:
        store.put_tag(content.sha256(original[0]), tag)
    s = built.session
    other = ImageRef(registry, record.repository, "other")
    s.engine.tag(built.image.base.pinned, other)
    try:
        s.engine.push(other, auth=None, on_line=lambda _l: None, access=RegistryAccess(registry))
        other_digest = store.manifest_digest(other)
        assert other_digest and other_digest != record.digest
        private = sign.load_private_key(
            {sign.KEY_ENV: str(keys[0]), sign.PASSPHRASE_ENV: PASSPHRASE}
        )
        sign.sign_digest(store, other_digest, private)
        store.push_manifest(json.loads(original[0]), intoto.attestation_tag(other_digest))
        copied = _invoke("verify", f"{registry}/{record.repository}@{other_digest}", *public)
        assert copied.returncode == 1, copied.stdout
        assert "ok   signature" in copied.stdout
        assert "a https://cyclonedx.org/bom statement about another digest" in copied.stdout
        assert "FAIL attestation provenance" in copied.stdout
        store.delete_manifest(content.sha256(original[0]))  # drops the copied tag, not the original
        store.push_manifest(json.loads(original[0]), tag)
        artifacts.attach_sbom(
            store, other_digest, json.dumps(SBOM_OF_OTHER).encode(), filename="sbom.cdx.json"
        )
        unsigned = _invoke("verify", f"{registry}/{record.repository}@{other_digest}", *public)
        assert unsigned.returncode == 1
        assert "ok   signature" in unsigned.stdout and "ok   sbom" in unsigned.stdout
        assert "FAIL attestation cyclonedx: no attestation" in unsigned.stdout
    finally:
        s.engine.untag(str(other))


SBOM_OF_OTHER = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "components": [{"name": "nats-py", "version": "2.11.0"}],
}


# -- cosign itself (Debian 13 packages cosign 2.5), reading the release's attestations -------
# One verifier image per xdist worker: each engine's lane imports its own and removes it at
# the end of its session, never the one the other lane is still running.
COSIGN = "localhost/ray-worker-image/cosign-verifier:trixie-" + os.environ.get(
    "PYTEST_XDIST_WORKER", "main"
)


def _import_trixie(factory: pytest.TempPathFactory, package: str, tag: str) -> None:
    """Debian 13 minbase + ``package`` (mmdebstrap, Debian's archive only) imported into
    podman as ``tag``; the tar is removed whether or not the import worked."""
    tar = factory.mktemp(package) / "trixie.tar"
    try:
        made = subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                '--aptopt=APT::Install-Recommends "false"',
                f"--include={package},ca-certificates",
                "trixie",
                str(tar),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert made.returncode == 0, made.stderr[-2000:]
        imported = _podman("import", str(tar), tag)
        assert imported.returncode == 0, imported.stderr
    finally:
        tar.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def cosign_verifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian 13 minbase + cosign (mmdebstrap, Debian's archive only), imported into podman
    for the session (whatever the engine under test: the verifier only reads the registry)
    and removed after it."""
    _import_trixie(tmp_path_factory, "cosign", COSIGN)
    try:
        # Debian's build says "GitVersion: devel"; the package version is the version
        version = _podman("run", "--rm", COSIGN, "dpkg-query", "-W", "-f", "${Version}", "cosign")
        assert version.stdout.startswith("2.5"), version.stdout + version.stderr
        yield COSIGN
    finally:
        _podman("rmi", "--force", COSIGN)


def test_cosign_verifies_our_attestations_and_we_read_cosigns(
    cosign_verifier: str,
    released: tuple[PushRecord, Repository, dict[str, object], Path],
    keys: tuple[Path, Path],
    registry: str,
    tmp_path: Path,
) -> None:
    """`cosign verify-attestation --key cosign.pub --insecure-ignore-tlog --type T` for
    T = cyclonedx and slsaprovenance1, on the release by digest; `cosign verify` too.
    Another public key is refused. Then the other way round
    (:func:`_cosigns_own_statements_and_keys`)."""
    record, _, _, _ = released
    (tmp_path / "cosign.pub").write_bytes(keys[1].read_bytes())
    (tmp_path / "other.pub").write_bytes(sign.public_pem(ec.generate_private_key(ec.SECP256R1())))
    ref = f"{registry}/{record.repository}@{record.digest}"

    def cosign(*args: str, key: str = "cosign.pub") -> subprocess.CompletedProcess[str]:
        return _podman(
            "run", "--rm", "--network", "host", "-v", f"{tmp_path}:/keys:ro", cosign_verifier,
            "cosign", *args, "--key", f"/keys/{key}", "--insecure-ignore-tlog",
            "--allow-insecure-registry", ref,
        )  # fmt: skip

    for kind, predicate_type in (
        ("cyclonedx", intoto.CYCLONEDX),
        ("slsaprovenance1", intoto.SLSA_PROVENANCE_V1),
    ):
        run = cosign("verify-attestation", "--type", kind)
        assert run.returncode == 0, run.stderr
        assert "The signatures were verified against the specified public key" in run.stderr
        envelopes = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
        statements = [json.loads(base64.b64decode(e["payload"])) for e in envelopes]
        assert predicate_type in {st["predicateType"] for st in statements}
        assert all(st["_type"] == intoto.STATEMENT_V1 for st in statements)
    signed = cosign("verify")
    assert signed.returncode == 0, signed.stderr
    refused = cosign("verify-attestation", "--type", "slsaprovenance1", key="other.pub")
    assert refused.returncode != 0
    # the same release (engine time: one release for both directions)
    _cosigns_own_statements_and_keys(cosign_verifier, released, keys, registry, tmp_path)


def _cosigns_own_statements_and_keys(
    cosign_verifier: str,
    released: tuple[PushRecord, Repository, dict[str, object], Path],
    keys: tuple[Path, Path],
    registry: str,
    tmp_path: Path,
) -> None:
    """The other way round: cosign 2.5 makes its own key pair (`cosign generate-key-pair`;
    Debian's build refuses `import-key-pair` of any EC key: "unsupported public key type")
    and attests an SBOM itself (`cosign attest`: an in-toto Statement v0.1 appended to the
    same `.att`); the release's layers are kept and our verifier reads cosign's v0.1
    statement with cosign's public key. The private key cosign wrote (`ENCRYPTED SIGSTORE
    PRIVATE KEY`) is refused by `invoke sign` in one line naming that format."""
    record, store, _, _ = released
    work = tmp_path / "cosign"
    work.mkdir()
    (work / "sbom.json").write_text(json.dumps(SBOM_OF_OTHER))
    ref = f"{registry}/{record.repository}@{record.digest}"
    secret = {"COSIGN_PASSWORD": PASSPHRASE}

    def cosign(*args: str) -> subprocess.CompletedProcess[str]:
        return _podman(
            "run", "--rm", "--network", "host", "-v", f"{work}:/work", "-w", "/work",
            "-e", "COSIGN_PASSWORD", cosign_verifier, "cosign", *args,
            env=secret,
        )  # fmt: skip

    generated = cosign("generate-key-pair")
    assert generated.returncode == 0, generated.stderr
    cosign_public = sign.load_public_key(str(work / "cosign.pub"), {})
    before = store.manifest(intoto.attestation_tag(record.digest))
    assert before is not None
    attested = cosign(
        "attest", "--key", "cosign.key", "--type", "cyclonedx", "--predicate", "sbom.json",
        "--tlog-upload=false", "--allow-insecure-registry", "--yes", ref,
    )  # fmt: skip
    assert attested.returncode == 0, attested.stderr
    after = store.manifest(intoto.attestation_tag(record.digest))
    assert after is not None
    assert after[1]["layers"][: len(before[1]["layers"])] == before[1]["layers"]  # kept
    (added,) = after[1]["layers"][len(before[1]["layers"]) :]
    envelope = store.blob(added["digest"])
    statement, why = attest.open_envelope(envelope, cosign_public)
    assert statement is not None, why
    assert statement.type == intoto.STATEMENT_V01 and record.digest in statement.subjects
    found = attest.find_statement(store, record.digest, intoto.CYCLONEDX, cosign_public)
    assert found.type == intoto.STATEMENT_V01 and found.predicate == SBOM_OF_OTHER
    ours = attest.find_statement(
        store, record.digest, intoto.CYCLONEDX, sign.load_public_key(str(keys[1]), {})
    )
    assert ours.type == intoto.STATEMENT_V1  # the release's own, still there
    refused = _invoke(
        "sign", ref, env={sign.KEY_ENV: str(work / "cosign.key"), sign.PASSPHRASE_ENV: "x"}
    )
    assert refused.returncode == 2  # a key in a format this tool does not read: an input error
    (line,) = refused.stderr.strip().splitlines()
    assert "cosign-encrypted key (ENCRYPTED SIGSTORE PRIVATE KEY" in line, line


def test_signing_errors_never_show_the_passphrase_or_key(
    released: tuple[PushRecord, Repository, dict[str, object], Path],
    keys: tuple[Path, Path],
    registry: str,
) -> None:
    record, _, _, _ = released
    ref = f"{registry}/{record.repository}@{record.digest}"
    pem = keys[0].read_text()
    for env in (
        {sign.KEY_ENV: str(keys[0]), sign.PASSPHRASE_ENV: "not-" + PASSPHRASE},
        {sign.KEY_ENV: pem, sign.PASSPHRASE_ENV: "not-" + PASSPHRASE},
    ):
        run = _invoke("sign", ref, env=env)
        assert run.returncode == 2  # a key that does not load is bad input
        err = run.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: $RAY_IMAGE_SIGNING_KEY"), run.stderr
        out = run.stdout + run.stderr
        assert PASSPHRASE not in out and pem.splitlines()[1] not in out and "Traceback" not in out


def test_signing_again_adds_no_layer_and_another_key_adds_one(
    released: tuple[PushRecord, Repository, dict[str, object], Path],
    keys: tuple[Path, Path],
    registry: str,
    tmp_path: Path,
) -> None:
    """The release signed once; `invoke sign` with the same key leaves the .sig manifest as
    it is (ECDSA signatures are randomized: re-signing would grow it on every run), a
    second key adds its layer, and each key's signature still verifies."""
    record, store, _, _ = released
    tag = oci.signature_tag(record.digest)
    ref = f"{registry}/{record.repository}@{record.digest}"
    before = store.manifest(tag)
    assert before is not None and len(before[1]["layers"]) == 1
    same = {sign.KEY_ENV: str(keys[0]), sign.PASSPHRASE_ENV: PASSPHRASE}
    again = _invoke("sign", ref, env=same)
    assert again.returncode == 0, again.stderr
    assert "already signed by this key" in again.stderr + again.stdout
    after = store.manifest(tag)
    assert after is not None and after[0] == before[0]  # the same bytes: nothing pushed
    second = ec.generate_private_key(ec.SECP256R1())
    second_file = tmp_path / "second.pem"
    second_file.write_bytes(
        second.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for _ in range(2):
        run = _invoke(
            "sign", "--ref", ref, env={sign.KEY_ENV: str(second_file), sign.PASSPHRASE_ENV: ""}
        )
        assert run.returncode == 0, run.stderr
    found = store.manifest(tag)
    assert found is not None and len(found[1]["layers"]) == 2
    assert found[1]["layers"][0] == before[1]["layers"][0]  # the first key's layer kept
    for public in (sign.load_public_key(str(keys[1]), {}), second.public_key()):
        assert "cosign signature" in sign.verify_digest(store, record.digest, public)


# -- a containers/image policy engine -----------------------------------------------------
# Debian 12's podman 4.3.1 and skopeo 1.9.3 are built with sigstore verification disabled
# ("Debian-local change: sigstore disabled"): they refuse *every* sigstoreSigned pull, so
# they cannot show the accept path. Debian 13's skopeo 1.18.0 (containers/image 5.34, the
# library podman 5 pulls with) is built with it. The test runs that skopeo, from Debian's
# archive, in a throwaway container; `skopeo copy docker://REF dir:…` is the same pull
# (policy evaluated on the manifest before any layer is fetched) that `podman pull` does.
VERIFIER = "localhost/ray-worker-image/policy-verifier:trixie"


def _podman(
    *args: str, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def podman_only(engine: Engine) -> None:
    """Skip before the session's build fixtures run (session fixtures go in argument order)."""
    if engine.name != "podman":
        pytest.skip("the policy test runs the verifier once, on podman")


@pytest.fixture(scope="session")
def policy_verifier(podman_only: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian 13 minbase + skopeo (mmdebstrap, Debian's archive only), imported into podman
    for the session and removed after it."""
    _import_trixie(tmp_path_factory, "skopeo", VERIFIER)
    try:
        version = _podman("run", "--rm", VERIFIER, "skopeo", "--version")
        assert version.stdout.startswith("skopeo version 1.18"), version.stdout + version.stderr
        yield VERIFIER
    finally:
        _podman("rmi", "--force", VERIFIER)


def test_policy_requires_the_signature(
    policy_verifier: str,
    released: tuple[PushRecord, Repository, dict[str, object], Path],
    built: Built,
    keys: tuple[Path, Path],
    registry: str,
    tmp_path: Path,
) -> None:
    """A policy.json requiring a sigstoreSigned signature by our key for the release's
    repository (use-sigstore-attachments, as cosign stores them): the signed release pulls
    by digest and by tag; an unsigned image, and the release tag moved to another digest
    (even with the real signature copied next to it), are refused. The host's own podman
    refuses all three (sigstore disabled in Debian 12), never accepting an unsigned image."""
    record, store, _, _ = released
    scope = f"{registry}/{record.repository}"
    (tmp_path / "pub.pem").write_bytes(keys[1].read_bytes())
    (tmp_path / "policy.json").write_text(
        json.dumps(
            {
                "default": [{"type": "insecureAcceptAnything"}],
                "transports": {
                    "docker": {
                        scope: [
                            {
                                "type": "sigstoreSigned",
                                "keyPath": "/policy/pub.pem",
                                "signedIdentity": {"type": "matchRepository"},
                            }
                        ]
                    }
                },
            }
        )
    )
    (tmp_path / "registries.d").mkdir()
    (tmp_path / "registries.d/release.yaml").write_text(
        f"docker:\n  {scope}:\n    use-sigstore-attachments: true\n"
    )

    def pull(ref: str) -> subprocess.CompletedProcess[str]:
        return _podman(
            "run", "--rm", "--network", "host", "-v", f"{tmp_path}:/policy:ro", policy_verifier,
            "skopeo", "--policy", "/policy/policy.json", "--registries.d", "/policy/registries.d",
            "copy", "--src-tls-verify=false", f"docker://{ref}", "dir:/tmp/pulled",
        )  # fmt: skip

    def host_pull(ref: str) -> subprocess.CompletedProcess[str]:
        return _podman(
            "pull", "--tls-verify=false", "--signature-policy", str(tmp_path / "policy.json"), ref
        )

    s = built.session
    moved = ImageRef(registry, record.repository, "moved")
    s.engine.tag(built.image.base.pinned, moved)
    try:
        s.engine.push(moved, auth=None, on_line=lambda _l: None, access=RegistryAccess(registry))
        unsigned = pull(str(moved))
        assert unsigned.returncode != 0, unsigned.stderr
        assert "A signature was required, but no signature exists" in unsigned.stderr
        by_digest = pull(f"{scope}@{record.digest}")
        assert by_digest.returncode == 0, by_digest.stderr
        by_tag = pull(f"{scope}:{record.tags[0]}")
        assert by_tag.returncode == 0, by_tag.stderr
        # the real signature copied onto the moved tag's digest does not make it pass
        moved_digest = store.manifest_digest(moved)
        assert moved_digest and moved_digest != record.digest
        sig = store.manifest(oci.signature_tag(record.digest))
        assert sig is not None
        store.push_manifest(sig[1], oci.signature_tag(moved_digest))
        retagged = pull(str(moved))
        assert retagged.returncode != 0 and "Source image rejected" in retagged.stderr
        # Debian 12's podman: never accepts the unsigned image under this policy
        assert host_pull(str(moved)).returncode != 0
    finally:
        s.engine.untag(str(moved))


# -- the release as a user runs it ----------------------------------------------------------
def test_invoke_release_attaches_writes_and_signs_then_verify_passes(
    engine: Engine, registry: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    """`invoke release` with a signing key in the environment: the SBOM lands in --out and
    on the digest, the digest is signed, and `invoke verify` passes the released image."""
    folder = tmp_path / "image"
    shutil.copytree(ROOT / "images/ray-swe-fleet", folder)
    raw = yaml.safe_load((folder / "image.yaml").read_text())
    raw["target"]["repository"] = f"swe-fleet/ray-supply-{uuid.uuid4().hex[:8]}"
    (folder / "image.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    result = _invoke(
        "release",
        "--engine",
        engine.name,
        "--stand-in",
        "--registry",
        registry,
        "--definition",
        str(folder / "image.yaml"),
        "--json",
        "--out",
        str(out),
        env={
            "RAY_IMAGE_BUILD_DIR": str(tmp_path / "build"),
            sign.KEY_ENV: str(keys[0]),
            sign.PASSPHRASE_ENV: PASSPHRASE,
        },
    )
    document = json.loads(result.stdout) if result.returncode == 0 else {}
    store = Destination(RegistryAccess(registry), None).repository(raw["target"]["repository"])
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        assert PASSPHRASE not in result.stdout + result.stderr
        digest = document["digest"]
        assert document["supply"]["signature"] == oci.signature_tag(digest)
        assert document["supply"]["sbom"]["fallback_tag"] == content.fallback_tag(digest)
        shipped = out / f"sbom-{document['variant']}.cdx.json"
        assert document["supply"]["sbom"]["path"] == str(shipped)
        found = artifacts.find_sbom(store, digest)
        assert found is not None and found[0] == shipped.read_bytes()
        verified = _invoke("verify", f"{document['image']}@{digest}", "--public-key", str(keys[1]))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert verified.stdout.count("\nok   ") == 9
        assert document["supply"]["attestations"]["tag"] == intoto.attestation_tag(digest)
    finally:
        if document:
            artifacts.remove_attachments(store, document["digest"])
            store.delete_manifest(document["digest"])
            for tag in document["tags"]:
                engine.remove_image(tag)
            engine.remove_image(document["image_id"])
        _delete_everything(store)
