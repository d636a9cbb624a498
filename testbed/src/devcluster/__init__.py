"""A local Kubernetes control plane for development, tests, benchmarks and the demo.

A sibling of the operator, not part of it: the operator never imports it and its image does
not contain it. ``DevCluster`` (``cluster.py``) is the entry point, ``dev-cluster`` its command
line, and ``free_port`` (``ports.py``) the helper tests and benchmarks borrow.
"""
