"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's ``tools/leaderelection``.

``election``: the configuration, the election record, the pure decisions and the elector, over
the ``LeaseLock`` and ``Clock`` protocols. ``lease_lock``: the Lease through the Kubernetes API.
"""
