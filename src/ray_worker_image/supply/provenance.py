"""The SLSA v1 provenance predicate of a released image, and its comparison with the labels.

Source of the fields: SLSA ``spec/v1.0/provenance.md`` (predicate type
``https://slsa.dev/provenance/v1``): ``buildDefinition`` = {``buildType`` (a URI naming
how to read the parameters: :data:`BUILD_TYPE`, documented in docs/supply-chain.md),
``externalParameters`` (what the user chose: the definition file, the variant, the
repository, the revision), ``internalParameters`` (the engine), ``resolvedDependencies``
(ResourceDescriptors, in-toto ``spec/v1/resource_descriptor.md``: the source at its git
commit, the base image at its digest, each hash-locked requirement file, the variant's
normalised image definition)}; ``runDetails`` = {``builder.id`` (a URI: the CI workflow
when built in GitHub Actions, else :data:`LOCAL_BUILDER`), ``metadata.invocationId`` (the
CI run's URL, from GitHub's default variables ``GITHUB_SERVER_URL``,
``GITHUB_REPOSITORY``, ``GITHUB_RUN_ID``, ``GITHUB_RUN_ATTEMPT``, ``GITHUB_WORKFLOW_REF``:
docs.github.com "Variables reference")}.

Every value that is a property of the image is an image label too (the base digest and
revision labels of :mod:`.records`, the lock and definition digests of
:func:`.render.provenance_labels`), so :func:`label_checks` compares them. The CI run is
not a label: a release found by its inputs reuses an image an earlier run built, and a
per-run label would make two builds of one commit differ. Every function here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..records import BASE_DIGEST, BASE_NAME, REVISION
from ..render import BUILD_LOCK_FILE_SHA, DEFINITION_SHA, LOCK_FILE_SHA

BUILD_TYPE = (
    "https://github.com/swe-ai-fleet/ray-worker-image/blob/main/docs/supply-chain.md#build-type-v1"
)
LOCAL_BUILDER = (
    "https://github.com/swe-ai-fleet/ray-worker-image/blob/main/docs/supply-chain.md#builder-local"
)
# resolvedDependencies names -> the label holding the same digest
DEPENDENCY_LABELS = {
    "base": BASE_DIGEST,
    "requirements.lock": LOCK_FILE_SHA,
    "build-requirements.lock": BUILD_LOCK_FILE_SHA,
    "image-definition": DEFINITION_SHA,
}


def builder_and_run(env: Mapping[str, str]) -> tuple[str, str | None]:
    """(builder id, CI run URL or None) from the environment (GitHub Actions' variables)."""
    if env.get("GITHUB_ACTIONS") != "true":
        return LOCAL_BUILDER, None
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    workflow = env.get("GITHUB_WORKFLOW_REF", "")
    builder = f"{server}/{workflow}" if workflow else LOCAL_BUILDER
    run = None
    if env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        run = (
            f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
            f"/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}"
        )
    return builder, run


def _sha(value: str) -> dict[str, str]:
    return {"sha256": value.removeprefix("sha256:")}


def predicate(
    *,
    labels: Mapping[str, str],
    definition_path: str,
    variant: str,
    repository: str,
    source: str,
    engine: str,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """The SLSA v1 provenance predicate of an image whose config carries ``labels``.

    ``labels`` must hold the revision, base name/digest, lock and definition digests
    (KeyError names the first missing one). ``definition_path`` is relative to the root.
    """
    revision = labels[REVISION]
    commit = revision.removesuffix("-dirty")
    source_dependency: dict[str, Any] = {"name": "source", "uri": f"git+{source}@{commit}"}
    if len(commit) == 40:
        source_dependency["digest"] = {"gitCommit": commit}
    builder, run = builder_and_run(env)
    run_details: dict[str, Any] = {"builder": {"id": builder}}
    if run:
        run_details["metadata"] = {"invocationId": run}
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "definition": definition_path,
                "variant": variant,
                "repository": repository,
                "revision": revision,
            },
            "internalParameters": {"engine": engine},
            "resolvedDependencies": [
                source_dependency,
                {"name": "base", "uri": labels[BASE_NAME], "digest": _sha(labels[BASE_DIGEST])},
                *(
                    {"name": name, "digest": _sha(labels[label])}
                    for name, label in DEPENDENCY_LABELS.items()
                    if name != "base"
                ),
            ],
        },
        "runDetails": run_details,
    }


def label_checks(document: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """What differs between a provenance predicate and the image's labels ([] when
    nothing): each resolved dependency's sha256 and the revision."""
    try:
        definition = document["buildDefinition"]
        dependencies = {
            str(entry.get("name")): str((entry.get("digest") or {}).get("sha256", ""))
            for entry in definition["resolvedDependencies"]
        }
        revision = str(definition["externalParameters"]["revision"])
    except (KeyError, TypeError, AttributeError):
        return ["not a SLSA v1 provenance predicate (buildDefinition)"]
    problems = []
    for name, label in DEPENDENCY_LABELS.items():
        stated = "sha256:" + dependencies[name] if dependencies.get(name) else "missing"
        actual = labels.get(label) or "missing"
        if stated != actual or actual == "missing":
            problems.append(f"{name} {stated[:19]} but label {label} {actual[:19]}")
    if revision != labels.get(REVISION):
        problems.append(
            f"revision {revision[:12]} but label {labels.get(REVISION, 'missing')[:12]}"
        )
    return problems
