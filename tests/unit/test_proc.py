"""Host commands outside the seams: bounded in time, and failing in one line."""

from __future__ import annotations

import pytest

from ray_worker_image import proc
from ray_worker_image.errors import PipelineError


def test_a_command_past_its_timeout_is_stopped_in_one_line() -> None:
    with pytest.raises(PipelineError) as caught:
        proc.run(["sleep", "30"], timeout=0.5, hint="rerun it")
    message = str(caught.value)
    assert message.startswith("`sleep` did not finish within") and message.endswith("; rerun it")
    assert "\n" not in message


def test_a_missing_program_is_one_line_naming_it() -> None:
    with pytest.raises(PipelineError) as caught:
        proc.run(["no-such-program-xyz"], timeout=5, hint="install it")
    assert str(caught.value).startswith("`no-such-program-xyz` could not run (")
    assert str(caught.value).endswith("; install it")


def test_a_failing_command_is_returned_not_raised() -> None:
    result = proc.run(["sh", "-c", "echo out; exit 3"], timeout=10, hint="", capture_output=True)
    assert result.returncode == 3 and result.stdout == b"out\n"


def test_file_lock_is_held_against_other_processes_until_the_block_ends(tmp_path) -> None:
    import subprocess
    import sys

    from ray_worker_image.proc import file_lock

    path = tmp_path / "x.lock"
    probe = (
        "import fcntl, sys; h = open(sys.argv[1], 'a')\n"
        "try:\n    fcntl.flock(h, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    sys.exit(1)"
    )
    with file_lock(path):
        held = subprocess.run([sys.executable, "-c", probe, str(path)], timeout=30, check=False)
    free = subprocess.run([sys.executable, "-c", probe, str(path)], timeout=30, check=False)
    assert (held.returncode, free.returncode) == (1, 0)
