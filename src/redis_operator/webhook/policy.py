"""The webhook's rules, pure, and the review that applies them with one read of child names.

The CRD's schema and CEL rules (``api.py``) are the hard guarantees: the apiserver enforces them
even while the operator is down. These rules add what they cannot express:

- an optional allow-list of image registries (``--allowed-image-prefix``): a Redis whose
  ``spec.image`` starts with none of the prefixes is refused on CREATE, and on an UPDATE that
  changes ``spec.image``. An UPDATE that leaves the image alone always passes, so tightening the
  policy never wedges existing objects: they can still be scaled, relabelled, finalized and
  deleted, and the operator's release of the legacy finalizer goes through. Status writes are
  not reviewed at all (the configuration does not cover ``redis/status``; a request for it
  matches no handler and is allowed).
- a warning (``kubectl`` prints ``Warning: ...``) when a child's name is already taken by a pod
  or Service this Redis would not own: the operator never touches such an object, so that
  child will not exist until it is removed.

A prefix is a plain string prefix, matched against the image as written *and* against its
fully qualified form, the one a container runtime pulls: Docker Hub's short names are expanded
the way ``docker pull`` does (``redis:7`` is ``docker.io/library/redis:7``, ``bitnami/redis`` is
``docker.io/bitnami/redis``). So ``docker.io/library/`` admits ``redis:7``, while ``redis:``
admits ``redis:7`` but not ``docker.io/library/redis:7`` nor ``redis@sha256:...``. End a prefix
with ``/`` (or ``:``): ``registry.example.com`` alone would also admit
``registry.example.com.evil.io/redis``.

The rules are pure functions over object dicts; :func:`review` combines them with one read
through a :class:`ChildLookup` (``lookup.py`` reads the API, tests use a fake).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis_operator import api
from redis_operator.api import is_being_deleted
from redis_operator.children import controller_name, is_owned_by, pod_name
from redis_operator.webhook.configuration import OPERATIONS

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

# -- rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdmissionPolicy:
    """What the webhook enforces; empty prefixes mean any image (the CRD still checks syntax)."""

    allowed_image_prefixes: tuple[str, ...] = ()


DOCKER_HUB = "docker.io"
_LEGACY_DOCKER_HUB = "index.docker.io"


def qualified_image(image: str) -> str:
    """The fully qualified form of an image reference, as a container runtime resolves it.

    distribution/reference's rule: the part before the first ``/`` is a registry only if it
    contains ``.`` or ``:``, is ``localhost``, or has an upper-case letter; otherwise the image
    is on Docker Hub, where a name without ``/`` lives under ``library/``.
    """
    first, slash, rest = image.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first):
        domain, remainder = first, rest
    else:
        domain, remainder = DOCKER_HUB, image
    if domain == _LEGACY_DOCKER_HUB:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    return f"{domain}/{remainder}"


def image_is_allowed(image: str, prefixes: Sequence[str]) -> bool:
    """Whether the image, as written or fully qualified, starts with one of the prefixes."""
    if not prefixes:
        return True
    qualified = qualified_image(image)
    return any(image.startswith(p) or qualified.startswith(p) for p in prefixes)


def image_refusal(image: str, prefixes: Sequence[str]) -> str:
    """The message a refused image gets: the field, the value and what is allowed."""
    return (
        f"spec.image: {json.dumps(image)} is not from an allowed registry "
        f"(allowed: {', '.join(prefixes)})"
    )


def _image(obj: Obj | None) -> str | None:
    if obj is None:
        return None
    image = (obj.get("spec") or {}).get("image", api.DEFAULT_IMAGE)
    return image if isinstance(image, str) else None


def validation_error(
    operation: str | None,
    new: Obj | None,
    old: Obj | None,
    policy: AdmissionPolicy,
    subresource: str | None = None,
) -> str | None:
    """Why the request must be refused, or None to allow it.

    Only CREATE, and an UPDATE of the main resource that changes ``spec.image``, are judged:
    an object that predates a tightened allow-list stays updatable as long as its image stays.
    """
    prefixes = policy.allowed_image_prefixes
    if not prefixes or subresource or operation not in OPERATIONS:
        return None
    image = _image(new)
    if image is None:  # no object, or an image of the wrong type: the schema refuses that
        return None
    if operation == "UPDATE" and image == _image(old):
        return None
    return None if image_is_allowed(image, prefixes) else image_refusal(image, prefixes)


def _replicas(obj: Obj | None) -> int:
    replicas = ((obj or {}).get("spec") or {}).get("replicas", api.DEFAULT_REPLICAS)
    return replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else 0


@dataclass(frozen=True)
class ChildNames:
    """The child names a request could newly claim: pods by name, and maybe the Service."""

    pods: tuple[str, ...] = ()
    service: str | None = None

    def __bool__(self) -> bool:
        return bool(self.pods) or self.service is not None


def names_to_check(
    operation: str | None, new: Obj | None, old: Obj | None, subresource: str | None = None
) -> ChildNames:
    """Which child names to look up.

    CREATE: every pod ``<name>-<ordinal>`` and the Service ``<name>``. UPDATE: only the pods a
    scale-up adds (a conflict with an existing child was warned about on create and is reported
    as a Warning Event by the operator), so most updates, including the operator's release of
    the legacy finalizer, cost no API call at all. An object being deleted is not checked.
    """
    if subresource or new is None or is_being_deleted(new):
        return ChildNames()
    name = (new.get("metadata") or {}).get("name")
    if not name:
        return ChildNames()
    replicas = _replicas(new)
    if operation == "CREATE":
        return ChildNames(tuple(pod_name(name, i) for i in range(replicas)), name)
    if operation == "UPDATE":
        return ChildNames(tuple(pod_name(name, i) for i in range(_replicas(old), replicas)))
    return ChildNames()


def would_own(child: Obj, redis: Obj) -> bool:
    """Whether this Redis would count the child as its own.

    With a uid (UPDATE), exactly the operator's rule: a controller reference to that uid. On
    CREATE the Redis has no uid yet; a child controlled by a Redis of the same name is the
    leftover of a deleted namesake that garbage collection is removing, so it is not a conflict
    worth a warning either.
    """
    meta = redis.get("metadata") or {}
    uid = meta.get("uid")
    if uid:
        return is_owned_by(child, str(uid))
    return controller_name(child) == meta.get("name")


def conflict_warnings(
    redis: Obj, names: ChildNames, pods: Sequence[Obj], service: Obj | None
) -> list[str]:
    """One warning per wanted child name held by an object this Redis would not own.

    Objects already being deleted are skipped: their name frees up by itself.
    """
    warnings = []
    by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
    for name in names.pods:
        pod = by_name.get(name)
        if pod is not None and not is_being_deleted(pod) and not would_own(pod, redis):
            warnings.append(
                f"pod {json.dumps(name)} already exists and is not controlled by this Redis: "
                "the operator leaves it alone and will not run that replica until it is removed"
            )
    if (
        names.service is not None
        and service is not None
        and not is_being_deleted(service)
        and not would_own(service, redis)
    ):
        warnings.append(
            f"Service {json.dumps(names.service)} already exists and is not controlled by this "
            "Redis: the operator leaves it alone, so the pods get no DNS names from it"
        )
    return warnings


# -- the review: rules plus one read -----------------------------------------------------


class ChildLookup(Protocol):
    """Reads the objects that hold child names (metadata is enough)."""

    async def pods(self, namespace: str) -> list[Obj]: ...

    async def service(self, namespace: str, name: str) -> Obj | None: ...


@dataclass(frozen=True)
class Verdict:
    """A review's outcome: a refusal message (None: allowed) and warnings for the client."""

    refusal: str | None = None
    warnings: tuple[str, ...] = ()


async def review(
    operation: str | None,
    new: Obj | None,
    old: Obj | None,
    policy: AdmissionPolicy,
    lookup: ChildLookup,
    *,
    subresource: str | None = None,
    lookup_timeout: float,
) -> Verdict:
    """Judge one admission request.

    A refused request reads nothing. The lookup is best effort: when it fails or takes longer
    than ``lookup_timeout``, the request is allowed without warnings (and the failure logged), since
    warnings are advice and a refusal here would block writes for an unrelated reason.
    """
    refusal = validation_error(operation, new, old, policy, subresource)
    if refusal is not None or new is None:
        return Verdict(refusal)
    names = names_to_check(operation, new, old, subresource)
    if not names:
        return Verdict()
    namespace = str((new.get("metadata") or {}).get("namespace") or "")
    try:
        async with asyncio.timeout(lookup_timeout):
            pods = await lookup.pods(namespace) if names.pods else []
            service = (
                await lookup.service(namespace, names.service)
                if names.service is not None
                else None
            )
    except Exception as exc:  # advice only: never refuse or fail because the read failed
        log.warning("admission: cannot check child names in %s: %s", namespace, exc or repr(exc))
        return Verdict()
    return Verdict(warnings=tuple(conflict_warnings(new, names, pods, service)))
