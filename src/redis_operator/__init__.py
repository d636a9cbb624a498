"""A Kubernetes operator for Redis.

The generated client packages are stood in for first (``lazy_client``), before any module of
the operator imports kubernetes_asyncio.
"""

from redis_operator import lazy_client

lazy_client.install()
