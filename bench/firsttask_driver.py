"""The driver of the first-task benchmark, run by the image's Python in its own container.

Passed inline (``python -c``) as the container's command; keep it Python 3.9 and
standard-library-only at module level (Ray is imported in ``main``). Every figure is the
wall time from submitting one task to having its result in the driver, with the driver
already connected (``ray.init`` before the clock starts). Phases, in order:

1. ``first``: the first task of a connected driver on a worker that has never run one (a
   worker process starts; with ``runtime_env`` pip, the node's cache is cold: pip runs);
2. ``warm_worker``: the same task again in the same job on the same node: the worker
   process is up and has imported nats (the floor);
3. ``next_job``: reconnect (a new Ray job, as the next submission of an orchestrator) and
   run on that node again: a new worker process, the node's pip cache warm;
4. ``new_node``: print ``READY_MARKER``, wait until a worker node joins (the harness
   adds one, as an autoscaler does), run on it: a new node, its cache cold.

Prints one line ``RESULT_MARKER <json>``: the seconds per phase, the seconds ``import nats``
took inside the task, and any error.
"""
# The host venv has no Ray; this file runs on the image's Python.
# mypy: ignore-errors

from __future__ import annotations

import argparse
import json
import sys
import time

READY_MARKER = "FIRSTTASK_READY_FOR_NODE"
RESULT_MARKER = "FIRSTTASK_RESULT "


def probe():
    import time as clock

    started = clock.perf_counter()
    import nats  # noqa: F401  (what the fleet's agent tasks import)

    return {"import_s": clock.perf_counter() - started}


def _workers(ray, num_gpus):
    """Alive worker nodes that offer what the tasks ask for (GPUs, as job.py's tasks)."""
    return {
        n["NodeID"]
        for n in ray.nodes()
        if n["Alive"]
        and "node:__internal_head__" not in n["Resources"]
        and n["Resources"].get("GPU", 0) >= num_gpus
    }


def _timed(ray, task, node, runtime_env):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)}
    if runtime_env:
        options["runtime_env"] = runtime_env
    started = time.perf_counter()
    result = ray.get(task.options(**options).remote(), timeout=600)
    return {"seconds": round(time.perf_counter() - started, 3), "import_s": result["import_s"]}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--num-gpus", type=float, default=0)
    parser.add_argument("--runtime-env", default="{}")
    parser.add_argument("--node-timeout", type=float, default=300)
    args = parser.parse_args(argv)
    runtime_env = json.loads(args.runtime_env) or None
    demand = {"num_gpus": args.num_gpus} if args.num_gpus else {"num_cpus": 1}

    import ray

    figures = {}
    try:
        ray.init(address=args.address)
        task = ray.remote(max_retries=0, **demand)(probe)
        known = _workers(ray, args.num_gpus)
        node = sorted(known)[0]
        figures["first"] = _timed(ray, task, node, runtime_env)
        figures["warm_worker"] = _timed(ray, task, node, runtime_env)
        ray.shutdown()
        ray.init(address=args.address)
        task = ray.remote(max_retries=0, **demand)(probe)
        figures["next_job"] = _timed(ray, task, node, runtime_env)
        print(READY_MARKER, flush=True)
        deadline = time.time() + args.node_timeout
        added = set()
        while not added and time.time() < deadline:
            time.sleep(0.5)
            added = _workers(ray, args.num_gpus) - known
        if not added:
            raise RuntimeError(f"no worker node joined within {args.node_timeout:.0f} s")
        figures["new_node"] = _timed(ray, task, sorted(added)[0], runtime_env)
    except Exception as exc:  # reported as data: the harness turns it into one line
        figures["error"] = f"{type(exc).__name__}: {exc}"[:500]
    print(RESULT_MARKER + json.dumps(figures), flush=True)
    return 1 if "error" in figures else 0


if __name__ == "__main__":
    sys.exit(main())
