"""Pure parts of the supply chain: OCI shapes, the signing payload, keys, label checks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ray_worker_image.definition import load_definition
from ray_worker_image.errors import PipelineError
from ray_worker_image.registry import content
from ray_worker_image.supply import oci, sign
from ray_worker_image.supply.sbom import packages, parse_sbom, sbom_lock, script
from ray_worker_image.supply.verify import label_checks

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"


def test_sbom_manifest_refers_to_its_subject() -> None:
    subject = content.subject_descriptor(content.OCI_MANIFEST, DIGEST, 1234)
    sbom = b'{"bomFormat":"CycloneDX"}'
    manifest = oci.sbom_manifest(subject, sbom, filename="sbom.json", annotations={"a": "b"})
    assert manifest["artifactType"] == "application/vnd.cyclonedx+json"
    assert manifest["subject"] == {
        "mediaType": content.OCI_MANIFEST,
        "digest": DIGEST,
        "size": 1234,
    }
    assert manifest["config"] == {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "size": 2,
    }
    (layer,) = manifest["layers"]
    assert layer["digest"] == content.sha256(sbom) and layer["size"] == len(sbom)
    assert layer["annotations"] == {"org.opencontainers.image.title": "sbom.json"}


def test_fallback_and_signature_tags() -> None:
    assert content.fallback_tag(DIGEST) == "sha256-" + "ab" * 32
    assert oci.signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"
    with pytest.raises(ValueError, match="not a sha256 digest"):
        content.fallback_tag("sha256:xyz")


def test_referrers_index_appends_once_and_keeps_others() -> None:
    manifest = oci.sbom_manifest(
        content.subject_descriptor(content.OCI_MANIFEST, DIGEST, 1),
        b"{}",
        filename="f",
        annotations={},
    )
    entry = content.referrer_descriptor(content.canonical(manifest), manifest)
    assert entry["artifactType"] == oci.CYCLONEDX_JSON
    other = {"mediaType": content.OCI_MANIFEST, "digest": OTHER, "size": 3, "artifactType": "x/y"}
    index = content.referrers_index({"manifests": [other]}, entry)
    assert index["mediaType"] == content.OCI_INDEX and index["manifests"] == [other, entry]
    again = content.referrers_index(index, entry)
    assert again["manifests"] == [other, entry]
    assert content.referrers_of(again, oci.CYCLONEDX_JSON) == [entry]
    assert content.referrers_index(None, entry)["manifests"] == [entry]


def test_referrer_without_artifact_type_takes_the_config_media_type() -> None:
    manifest = {"mediaType": content.OCI_MANIFEST, "config": {"mediaType": "a/b"}, "layers": []}
    assert content.referrer_descriptor(b"x", manifest)["artifactType"] == "a/b"


def test_payload_is_cosigns_simple_signing_shape() -> None:
    payload = oci.simple_signing_payload("127.0.0.1:5000/swe-fleet/ray", DIGEST)
    assert json.loads(payload) == {
        "critical": {
            "identity": {"docker-reference": "127.0.0.1:5000/swe-fleet/ray"},
            "image": {"docker-manifest-digest": DIGEST},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    assert oci.parse_payload(payload) == ("127.0.0.1:5000/swe-fleet/ray", DIGEST)
    with pytest.raises(ValueError, match="payload type"):
        oci.parse_payload(b'{"critical": {"type": "atomic container signature"}}')
    with pytest.raises(ValueError, match="not a cosign simple-signing payload"):
        oci.parse_payload(b'{"critical": {}}')


def test_signature_manifest_carries_the_signature_annotation() -> None:
    payload = oci.simple_signing_payload("r/x", DIGEST)
    manifest = oci.signature_manifest(payload, "c2ln")
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert layer["digest"] == content.sha256(payload)
    assert layer["annotations"] == {"dev.cosignproject.cosign/signature": "c2ln"}
    assert manifest["config"]["mediaType"] == oci.OCI_CONFIG


def _key_files(tmp_path: Path) -> tuple[Path, Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = tmp_path / "key.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    public = tmp_path / "pub.pem"
    public.write_bytes(sign.public_pem(key))
    return private, public, key


def test_sign_and_verify_round_trip(tmp_path: Path) -> None:
    private, public, _ = _key_files(tmp_path)
    key = sign.load_private_key({sign.KEY_ENV: str(private), sign.PASSPHRASE_ENV: PASSPHRASE})
    payload = oci.simple_signing_payload("r/x", DIGEST)
    signature = sign.sign_payload(key, payload)
    verifier = sign.load_public_key(str(public), {})
    assert sign.signature_valid(verifier, payload, signature)
    assert not sign.signature_valid(verifier, oci.simple_signing_payload("r/x", OTHER), signature)
    other_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert not sign.signature_valid(other_key, payload, signature)
    assert not sign.signature_valid(verifier, payload, "not base64!")
    # the key may also come as PEM text (a CI secret), and the public key from the env
    pem = private.read_text()
    assert sign.load_private_key({sign.KEY_ENV: pem, sign.PASSPHRASE_ENV: PASSPHRASE})
    assert sign.load_public_key(None, {sign.VERIFY_KEY_ENV: str(public)})


def test_key_errors_name_variables_never_material(tmp_path: Path) -> None:
    private, _, _ = _key_files(tmp_path)
    pem = private.read_text()
    cases = [
        {},
        {sign.KEY_ENV: str(private)},  # passphrase missing
        {sign.KEY_ENV: str(private), sign.PASSPHRASE_ENV: "wrong " + PASSPHRASE},
        {sign.KEY_ENV: pem, sign.PASSPHRASE_ENV: "wrong " + PASSPHRASE},
        {sign.KEY_ENV: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
        {sign.KEY_ENV: str(tmp_path / "absent.pem")},
    ]
    for env in cases:
        with pytest.raises(PipelineError) as caught:
            sign.load_private_key(env)
        message = str(caught.value)
        assert "\n" not in message and sign.KEY_ENV in message
        assert PASSPHRASE not in message and "BEGIN" not in message
        assert pem.splitlines()[1][:16] not in message


def test_a_non_p256_key_is_refused(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / "p384.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(PipelineError, match="P-256"):
        sign.load_private_key({sign.KEY_ENV: str(path)})


def test_public_key_is_required() -> None:
    with pytest.raises(PipelineError, match=r"--public-key FILE or export \$RAY_IMAGE_VERIFY_KEY"):
        sign.load_public_key(None, {})


def test_label_checks() -> None:
    good = {
        "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
        "org.opencontainers.image.base.name": "docker.io/rayproject/ray:2.49.2",
        "org.opencontainers.image.base.digest": DIGEST,
        "io.github.ray-worker-image.stand-in": "false",
    }
    assert all(check.ok for check in label_checks(good))
    bad = label_checks({"org.opencontainers.image.base.digest": "latest"})
    assert [check.ok for check in bad] == [False, False, False, False]
    assert bad[0].line() == "FAIL label revision: missing"
    dirty = label_checks({"org.opencontainers.image.revision": "0123456789ab-dirty"})[0]
    assert dirty.ok and "uncommitted" in dirty.detail
    assert not label_checks({"org.opencontainers.image.revision": "main"})[0].ok


def test_sbom_parsing_and_packages() -> None:
    document = parse_sbom(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "components": [
                    {"name": "Nats_Py", "version": "2.10.0"},
                    {"name": "aiohttp", "version": "3.11.16"},
                    {"name": "no-version"},
                ],
            }
        ).encode(),
        "x",
    )
    assert packages(document) == {"nats-py": "2.10.0", "aiohttp": "3.11.16"}
    with pytest.raises(PipelineError, match="not a CycloneDX"):
        parse_sbom(b'{"spdxVersion": "SPDX-2.3"}', "x")
    with pytest.raises(PipelineError, match="not JSON"):
        parse_sbom(b"<xml/>", "x")


def test_sbom_script_installs_with_hashes_and_points_at_the_base_python() -> None:
    text = script("/home/ray/anaconda3/bin/python", with_ca=True)
    assert "--require-hashes" in text and "--no-deps" in text
    assert text.startswith("export PIP_CERT=/tmp/sbom/ca-bundle.pem; ")
    assert text.endswith(
        "environment --output-reproducible --output-format JSON "
        "--output-file /tmp/sbom/bom.json /home/ray/anaconda3/bin/python"
    )
    assert "PIP_CERT" not in script("/p/python", with_ca=False)


def test_every_variant_has_an_sbom_lock_and_a_missing_one_is_named() -> None:
    every = load_definition(root=ROOT)
    for name in every.names:
        lock = sbom_lock(every.variant(name))
        assert "--hash=sha256:" in lock.read_text() and "cyclonedx-bom==" in lock.read_text()
    odd = dataclasses.replace(
        every.variant(every.names[0]),
        base=dataclasses.replace(every.variant(every.names[0]).base, python="3.10"),
    )
    with pytest.raises(PipelineError, match=r"requirements/sbom-py3.10.txt: missing"):
        sbom_lock(odd)


def _plain_key_file(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unset", r"^\$RAY_IMAGE_SIGNING_KEY is not set: "),
        ("blank", r"^\$RAY_IMAGE_SIGNING_KEY is empty: "),
        ("absent", r"^\$RAY_IMAGE_SIGNING_KEY: no such file .*/absent\.pem; "),
        ("folder", r"^\$RAY_IMAGE_SIGNING_KEY: .* is a folder, not a key file"),
        ("empty-file", r"^\$RAY_IMAGE_SIGNING_KEY: .*/empty\.pem is empty"),
        ("passphrase-unencrypted", r"RAY_IMAGE_SIGNING_KEY_PASSPHRASE is set but .* not encrypted"),
        ("passphrase-missing", r"is encrypted: export its passphrase in \$RAY_IMAGE_SIGNING_KEY_"),
        ("public-as-private", r"^\$RAY_IMAGE_SIGNING_KEY is a public key"),
    ],
)
def test_each_private_key_mistake_is_named(tmp_path: Path, case: str, expected: str) -> None:
    private, public, _ = _key_files(tmp_path)
    plain = _plain_key_file(tmp_path / "plain.pem", ec.generate_private_key(ec.SECP256R1()))
    (tmp_path / "empty.pem").write_bytes(b"")
    env = {
        "unset": {},
        "blank": {sign.KEY_ENV: ""},
        "absent": {sign.KEY_ENV: str(tmp_path / "absent.pem")},
        "folder": {sign.KEY_ENV: str(tmp_path)},
        "empty-file": {sign.KEY_ENV: str(tmp_path / "empty.pem")},
        "passphrase-unencrypted": {sign.KEY_ENV: str(plain), sign.PASSPHRASE_ENV: PASSPHRASE},
        "passphrase-missing": {sign.KEY_ENV: str(private)},
        "public-as-private": {sign.KEY_ENV: str(public)},
    }[case]
    with pytest.raises(PipelineError, match=expected) as caught:
        sign.load_private_key(env)
    _assert_no_material(str(caught.value), [private, public, plain])


def test_the_passphrase_case_holds_for_pem_text_too(tmp_path: Path) -> None:
    """The key as PEM text (a CI secret): the same messages, the text never echoed."""
    plain = _plain_key_file(tmp_path / "plain.pem", ec.generate_private_key(ec.SECP256R1()))
    pem = plain.read_text()
    with pytest.raises(PipelineError, match=r"is set but .* not encrypted") as caught:
        sign.load_private_key({sign.KEY_ENV: pem, sign.PASSPHRASE_ENV: PASSPHRASE})
    _assert_no_material(str(caught.value), [plain])
    assert sign.load_private_key({sign.KEY_ENV: pem})  # without the passphrase it loads


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("absent", r"^--public-key: no such file .*/absent\.pem; "),
        ("folder", r"^--public-key: .* is a folder, not a key file"),
        ("empty-file", r"^--public-key: .*/empty\.pem is empty"),
        ("private", r"^--public-key is a private key; give the public key \(openssl ec -in KEY "),
        ("private-pem", r"^--public-key is a private key; give the public key"),
        ("env-private", r"^\$RAY_IMAGE_VERIFY_KEY is a private key; give the public key"),
        ("env-absent", r"^\$RAY_IMAGE_VERIFY_KEY: no such file .*/absent\.pem"),
        ("not-pem", r"^--public-key: not a PEM public key$"),
    ],
)
def test_each_public_key_mistake_is_named(tmp_path: Path, case: str, expected: str) -> None:
    private, public, _ = _key_files(tmp_path)
    plain = _plain_key_file(tmp_path / "plain.pem", ec.generate_private_key(ec.SECP256R1()))
    (tmp_path / "empty.pem").write_bytes(b"")
    (tmp_path / "junk.pem").write_text(
        "-----BEGIN PUBLIC KEY-----\nAAAAsecret\n-----END PUBLIC KEY-----\n"
    )
    option, env = {
        "absent": (str(tmp_path / "absent.pem"), {}),
        "folder": (str(tmp_path), {}),
        "empty-file": (str(tmp_path / "empty.pem"), {}),
        "private": (str(private), {}),
        "private-pem": (plain.read_text(), {}),
        "env-private": (None, {sign.VERIFY_KEY_ENV: str(plain)}),
        "env-absent": (None, {sign.VERIFY_KEY_ENV: str(tmp_path / "absent.pem")}),
        "not-pem": (str(tmp_path / "junk.pem"), {}),
    }[case]
    with pytest.raises(PipelineError, match=expected) as caught:
        sign.load_public_key(option, env)
    _assert_no_material(str(caught.value), [private, public, plain, tmp_path / "junk.pem"])


def _assert_no_material(message: str, pem_files: list[Path]) -> None:
    """One line; no line of any PEM file (nor its BEGIN/END armour) in the message."""
    assert "\n" not in message and "BEGIN" not in message and "-----" not in message
    assert PASSPHRASE not in message
    for path in pem_files:
        for line in path.read_text().splitlines():
            if line and not line.startswith("-----"):
                assert line not in message
                assert line[:12] not in message


class _Store:
    """The part of a registry Repository sign_digest uses, in memory (blobs by digest, manifests by
    tag or digest); the real registry is exercised in tests/engine/test_supply_chain.py."""

    def __init__(self) -> None:
        self.access = dataclasses.make_dataclass("Access", ["registry"])("127.0.0.1:5000")
        self.repository = "ray/worker"
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, dict[str, object]] = {DIGEST: {"schemaVersion": 2}}
        self.manifest_pushes = 0

    def manifest(self, reference: str) -> tuple[bytes, dict[str, object]] | None:
        found = self.manifests.get(reference)
        return None if found is None else (content.canonical(found), found)

    def blob(self, digest: str) -> bytes:
        return self.blobs[digest]

    def push_blob(self, data: bytes, media_type: str) -> dict[str, object]:
        self.blobs[content.sha256(data)] = data
        return content.descriptor(media_type, data)

    def push_manifest(self, document: dict[str, object], reference: str | None = None) -> str:
        assert reference
        self.manifests[reference] = json.loads(content.canonical(document))
        self.manifest_pushes += 1
        return content.sha256(content.canonical(document))


def test_signing_twice_with_one_key_adds_no_second_layer() -> None:
    store = _Store()
    first, second = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    tag = sign.sign_digest(store, DIGEST, first)  # type: ignore[arg-type]
    assert sign.sign_digest(store, DIGEST, first) == tag  # type: ignore[arg-type]
    assert store.manifest_pushes == 1
    assert len(store.manifests[tag]["layers"]) == 1  # type: ignore[arg-type]
    sign.sign_digest(store, DIGEST, second)  # type: ignore[arg-type]
    sign.sign_digest(store, DIGEST, second)  # type: ignore[arg-type]
    assert store.manifest_pushes == 2
    assert len(store.manifests[tag]["layers"]) == 2  # type: ignore[arg-type]
    for key in (first, second):
        assert "cosign signature" in sign.verify_digest(store, DIGEST, key.public_key())  # type: ignore[arg-type]


def test_a_signature_by_this_key_for_another_repository_does_not_count() -> None:
    """Same key, same digest, another docker-reference (copied manifest): sign again."""
    store = _Store()
    key = ec.generate_private_key(ec.SECP256R1())
    payload = oci.simple_signing_payload("127.0.0.1:5000/elsewhere", DIGEST)
    store.push_blob(payload, oci.SIMPLE_SIGNING)
    tag = oci.signature_tag(DIGEST)
    store.manifests[tag] = oci.signature_manifest(payload, sign.sign_payload(key, payload))
    sign.sign_digest(store, DIGEST, key)  # type: ignore[arg-type]
    assert len(store.manifests[tag]["layers"]) == 2  # type: ignore[arg-type]
    sign.sign_digest(store, DIGEST, key)  # type: ignore[arg-type]
    assert len(store.manifests[tag]["layers"]) == 2  # type: ignore[arg-type]


@pytest.mark.registry  # planning asks the loopback registry whether it listens
def test_sbom_of_several_variants_checks_every_push_before_making_any(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`invoke sbom --all-variants`: a variant that was never pushed stops the task before
    the first SBOM is made or attached (plan first, then execute)."""
    from types import SimpleNamespace

    from ray_worker_image.supply import steps

    made: list[str] = []
    monkeypatch.setattr(steps, "generate_sbom", lambda *a, **k: made.append("sbom") or b"{}")
    monkeypatch.setattr(steps, "after_push", lambda *a, **k: made.append("attach"))

    def session(variant: str, pushed: bool) -> SimpleNamespace:
        def find(registry: str, credentials: object = None) -> object:
            if not pushed:
                raise PipelineError(f"{variant}: not in the registry; run `invoke push`")
            return SimpleNamespace(image_id="sha256:" + "1" * 64, registry=registry)

        return SimpleNamespace(variant=variant, pushed=find, build_dir=tmp_path / variant)

    sessions = [session("2.49.2", True), session("2.52.1-py311", False)]
    for attach in (False, True):
        with pytest.raises(PipelineError, match=r"2\.52\.1-py311: not in the registry"):
            steps.do_sbom(
                sessions,  # type: ignore[arg-type]
                username=None, out=str(tmp_path / "out"), attach=attach,
                require_signature=False, registry="127.0.0.1:5000",
            )  # fmt: skip
    assert made == [] and not (tmp_path / "out").exists()
