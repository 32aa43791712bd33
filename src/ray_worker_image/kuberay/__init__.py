"""What the project knows about KubeRay v1.7.0, in one package, used by the rollout and the e2e.

* :mod:`.crd`: the kinds (RayCluster, RayJob, RayService; ``ray.io/v1`` and ``v1alpha1``),
  where each keeps its Ray cluster spec, the head group name, the Ray container's index, the
  annotations and Service names the operator reads or makes;
* :mod:`.names`: the names KubeRay and Kubernetes accept (cluster, namespace, groupName);
* :mod:`.spec`: reading a cluster spec's fields as the CRD types them (one-line errors);
* :mod:`.params`: the ``ray start`` flags the operator generates (``rayStartParams`` rules);
* :mod:`.pod`: the Ray container's command, args and env, and the ``wait-gcs-ready`` step.

Every fact names its source: the operator file and function at the v1.7.0 tag, or
``docs/reference/kuberay/FACTS.md`` and the CRDs committed in ``tests/data/kuberay/``.
Pure: no I/O anywhere in the package.
"""
