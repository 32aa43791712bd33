"""Compatibility names: the pipeline now lives in session, steps, patching, release, output.

``from ray_worker_image.pipeline import Session, do_build`` keeps working for callers
(tests, bench, e2e) written before the split.
"""

from __future__ import annotations

from .output import print_json, print_rollout, print_summary
from .patching import ClusterOptions, do_patch, do_patch_variants, plan_patch, pushed_image_ref
from .push import credentials_from_env
from .release import ReleasePlan, VariantResult, execute, plan_release
from .report import do_report
from .session import Connection, Options, Session, entry, session, sessions
from .steps import (
    do_build,
    do_contract,
    do_e2e,
    do_lock,
    do_lock_check,
    do_push,
    do_push_all,
    do_render,
    do_standin,
    do_test,
    do_verify_tag,
)

__all__ = [
    "ClusterOptions",
    "Connection",
    "Options",
    "ReleasePlan",
    "Session",
    "VariantResult",
    "credentials_from_env",
    "do_build",
    "do_contract",
    "do_e2e",
    "do_lock",
    "do_lock_check",
    "do_patch",
    "do_patch_variants",
    "do_push",
    "do_push_all",
    "do_render",
    "do_report",
    "do_standin",
    "do_test",
    "do_verify_tag",
    "entry",
    "execute",
    "plan_patch",
    "plan_release",
    "print_json",
    "print_rollout",
    "print_summary",
    "pushed_image_ref",
    "session",
    "sessions",
]
