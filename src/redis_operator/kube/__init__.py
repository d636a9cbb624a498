"""The operator's seam to the Kubernetes API: the client, its errors, and an in-memory fake.

``client`` creates the API client and has the one call wrapper and paginator, the
:class:`~redis_operator.kube.client.KubeApi` protocol and its JSON implementation; ``errors``
the one rule on what an API failure means; ``fake`` an apiserver in memory for tests.
"""
