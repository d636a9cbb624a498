"""The validating admission webhook: the policy that needs the operator, not the CRD.

The CRD's schema and CEL rules (``api.py``) are the hard guarantees: the apiserver enforces them
even while the operator is down. This webhook adds what they cannot express:

- an optional allow-list of image registries (``--allowed-image-prefix``): a Redis whose
  ``spec.image`` starts with none of the prefixes is refused on CREATE, and on an UPDATE that
  changes ``spec.image``. An UPDATE that leaves the image alone always passes, so tightening the
  policy never wedges existing objects: they can still be scaled, relabelled, finalized and
  deleted, and the operator's own finalizer patches go through. Status writes are not reviewed
  at all (the configuration does not cover ``redis/status``; a request for it matches no
  handler and is allowed).
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

The rules are pure functions over object dicts; :func:`review` combines them with one read of
the namespace's pods; :func:`register` is the thin kopf wiring. Serving (TLS and kopf's
``WebhookServer``) is :class:`WebhookServing`; the ValidatingWebhookConfiguration is built by
:func:`webhook_configuration` (for ``deploy/`` and for local development) and never managed by
the operator at run time, so it needs no RBAC on ``admissionregistration.k8s.io``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import ipaddress
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import kopf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes_asyncio.client.exceptions import ApiException

from redis_operator import api
from redis_operator.api import is_being_deleted
from redis_operator.children import controller_name, is_owned_by, pod_name

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

#: kopf's handler id: the last path component of the webhook URL (kubebuilder's convention).
WEBHOOK_ID = f"validate-{api.GROUP.replace('.', '-')}-{api.VERSION}-{api.PLURAL}"
WEBHOOK_PATH = f"/{WEBHOOK_ID}"
#: The webhook's name inside the configuration (a qualified name, shown in refusals).
WEBHOOK_NAME = f"validate.{api.PLURAL}.{api.GROUP}"
CONFIGURATION_NAME = "redis-operator"
#: Ignore: a down or slow operator must not block Redis writes; the CRD's CEL rules are the
#: hard guarantees, this webhook only adds policy. See docs/operations.md.
FAILURE_POLICY = "Ignore"
#: The apiserver waits at most this long for a verdict (its default is 10, the maximum 30).
TIMEOUT_SECONDS = 5
#: Budget for the read behind the warnings, well inside TIMEOUT_SECONDS, so that the image
#: verdict always gets back in time even when the API is slow.
LOOKUP_TIMEOUT_SECONDS = 2.0
OPERATIONS = ("CREATE", "UPDATE")

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
    as a Warning Event by the operator), so most updates, including the operator's own
    finalizer patches, cost no API call at all.
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
    if meta.get("uid"):
        return is_owned_by(child, redis)
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
    lookup_timeout: float = LOOKUP_TIMEOUT_SECONDS,
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


#: Ask for metadata only (PartialObjectMetadata), as kube-controller-manager's metadata
#: informers do: names and owner references are all the warnings need.
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


class ApiChildLookup:
    """:class:`ChildLookup` over the API, with the operator's client and RBAC.

    Pods: one list of the namespace, metadata only, with ``resourceVersion=0`` so the apiserver
    answers from its watch cache without reading etcd. Pod names cannot be selected by prefix,
    and one list costs one round trip however many replicas are asked for (up to 100), where a
    GET per name would cost ``replicas`` round trips. Admission of a Redis is rare (a person or
    a pipeline applying it), so the list's size, proportional to the namespace's pods, is
    affordable. The Service is a single GET by name. RBAC: pods ``list``, services ``get``,
    both of which the operator has anyway.
    """

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    async def _get(self, path: str, accept: str, params: dict[str, str], **query: str) -> Any:
        return await self.api_client.call_api(
            path,
            "GET",
            path_params=params,
            query_params=list(query.items()),
            header_params={"Accept": accept},
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _request_timeout=LOOKUP_TIMEOUT_SECONDS,
        )

    async def pods(self, namespace: str) -> list[Obj]:
        listing = await self._get(
            "/api/v1/namespaces/{namespace}/pods",
            _METADATA_LIST,
            {"namespace": namespace},
            resourceVersion="0",
        )
        return list(listing.get("items") or [])

    async def service(self, namespace: str, name: str) -> Obj | None:
        try:
            found: Obj = await self._get(
                "/api/v1/namespaces/{namespace}/services/{name}",
                _METADATA,
                {"namespace": namespace, "name": name},
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found


# -- kopf wiring -------------------------------------------------------------------------


def _plain(body: Any) -> dict[str, Any] | None:
    """kopf's Body (a read-only mapping view) as a plain dict, or None."""
    return None if body is None else dict(body)


class _RefusalLogFilter(logging.Filter):
    """Drops kopf's ERROR "Webhook '...' failed permanently" for a refusal.

    A refusal is a verdict, not a fault (an ERROR per refused kubectl apply would page
    someone); the handler logs it at INFO instead, with the requesting user.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.ERROR
            and f"'{WEBHOOK_ID}' failed permanently" in record.getMessage()
        )


def register(registry: kopf.OperatorRegistry, policy: AdmissionPolicy, lookup: ChildLookup) -> None:
    """Register the validating handler (served only once a webhook server is configured)."""
    kopf_objects = logging.getLogger("kopf.objects")
    if not any(isinstance(f, _RefusalLogFilter) for f in kopf_objects.filters):
        kopf_objects.addFilter(_RefusalLogFilter())

    @kopf.on.validate(
        api.GROUP,
        api.VERSION,
        api.PLURAL,
        id=WEBHOOK_ID,
        operations=["CREATE", "UPDATE"],
        ignore_failures=True,
        registry=registry,
    )
    async def validate_redis(
        *,
        warnings: list[str],
        subresource: str | None,
        operation: str | None = None,
        new: Any = None,
        old: Any = None,
        userinfo: Mapping[str, Any] | None = None,
        dryrun: bool = False,
        **_: Any,
    ) -> None:
        try:
            verdict = await review(
                operation, _plain(new), _plain(old), policy, lookup, subresource=subresource
            )
        except Exception:  # a bug must not refuse writes: fail open, like failurePolicy
            log.exception("admission: the review failed; allowing the request")
            return
        warnings.extend(verdict.warnings)
        if verdict.refusal is not None:
            meta = (new or old or {}).get("metadata") or {}
            log.info(
                "admission: refused %s%s of %s/%s by %s: %s",
                operation,
                " (dry run)" if dryrun else "",
                meta.get("namespace"),
                meta.get("name"),
                (userinfo or {}).get("username"),
                verdict.refusal,
            )
            raise kopf.AdmissionError(verdict.refusal, code=403)


# -- the configuration -------------------------------------------------------------------


def webhook_configuration(
    client_config: Mapping[str, Any],
    *,
    name: str = CONFIGURATION_NAME,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    namespace_selector: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ValidatingWebhookConfiguration: only Redis CREATE/UPDATE, never pods or status.

    ``client_config`` is either ``{"service": {...}}`` (in a cluster) or ``{"url": ...}`` (an
    operator running outside it), with or without a ``caBundle``.
    """
    webhook: dict[str, Any] = {
        "name": WEBHOOK_NAME,
        "clientConfig": dict(client_config),
        "rules": [
            {
                "apiGroups": [api.GROUP],
                "apiVersions": [api.VERSION],
                "operations": list(OPERATIONS),
                # The main resource only: "redis/status" and "redis/scale" are not reviewed.
                "resources": [api.PLURAL],
                "scope": "Namespaced",
            }
        ],
        "failurePolicy": FAILURE_POLICY,
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "timeoutSeconds": TIMEOUT_SECONDS,
        "admissionReviewVersions": ["v1"],
    }
    if namespace_selector is not None:
        webhook["namespaceSelector"] = dict(namespace_selector)
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": metadata,
        "webhooks": [webhook],
    }


def local_configuration(
    url: str, ca_bundle: bytes, name: str = "redis-operator-dev"
) -> dict[str, Any]:
    """The configuration for an operator running on this machine (local development)."""
    return webhook_configuration(
        {
            "url": f"{url.rstrip('/')}{WEBHOOK_PATH}",
            "caBundle": base64.b64encode(ca_bundle).decode(),
        },
        name=name,
    )


# -- serving -----------------------------------------------------------------------------

#: Names a self-signed certificate is valid for: the loopback addresses and name, i.e. the
#: URL a local control plane calls (``https://127.0.0.1:<port>/...``).
SELF_SIGNED_NAMES = ("127.0.0.1", "::1", "localhost")
_SELF_SIGNED_VALIDITY = dt.timedelta(days=30)


def self_signed_certificate(names: Sequence[str]) -> tuple[bytes, bytes]:
    """A self-signed serving certificate (PEM) and its key (PEM) for these names (DNS or IP).

    It is its own CA (basicConstraints CA:TRUE), so it can go into a caBundle as is.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "redis-operator-webhook")])
    alt_names: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _SELF_SIGNED_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass(frozen=True)
class WebhookOptions:
    """``redis-operator run``'s webhook flags."""

    port: int
    address: str = "0.0.0.0"
    cert_file: Path | None = None
    key_file: Path | None = None
    config_out: Path | None = None
    policy: AdmissionPolicy = AdmissionPolicy()


_WEBHOOK_FLAGS = {
    "webhook_cert_file": "--webhook-cert-file",
    "webhook_key_file": "--webhook-key-file",
    "webhook_config_out": "--webhook-config-out",
    "allowed_image_prefix": "--allowed-image-prefix",
}


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {text!r}")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``redis-operator run``'s webhook flags; the webhook is off unless --webhook-port."""
    group = parser.add_argument_group("admission webhook (off unless --webhook-port is given)")
    group.add_argument(
        "--webhook-port",
        type=_port,
        metavar="PORT",
        help="serve the validating admission webhook over HTTPS on this port (e.g. 9443)",
    )
    group.add_argument(
        "--webhook-address",
        default="0.0.0.0",
        metavar="ADDR",
        help="address to listen on (default: 0.0.0.0, all IPv4 interfaces, as a pod needs)",
    )
    group.add_argument(
        "--webhook-cert-file",
        type=Path,
        metavar="PEM",
        help="serving certificate (e.g. tls.crt of a cert-manager Secret; re-read when it "
        "changes); default: a self-signed one for 127.0.0.1/localhost, for local development",
    )
    group.add_argument(
        "--webhook-key-file", type=Path, metavar="PEM", help="private key of --webhook-cert-file"
    )
    group.add_argument(
        "--webhook-config-out",
        type=Path,
        metavar="FILE",
        help="once serving, write a ValidatingWebhookConfiguration for this local process "
        "(url https://127.0.0.1:PORT/..., caBundle of its certificate) to FILE, for "
        "`kubectl apply -f FILE` (local development)",
    )
    group.add_argument(
        "--allowed-image-prefix",
        action="append",
        default=[],
        metavar="PREFIX",
        help="refuse a Redis whose spec.image starts with none of these (repeatable), matched "
        "as written and fully qualified: docker.io/library/ admits redis:7; default: any image",
    )


def options_from_args(args: argparse.Namespace) -> WebhookOptions | None:
    """The webhook options of parsed arguments; ValueError for inconsistent flags."""
    if args.webhook_port is None:
        given = [flag for attr, flag in _WEBHOOK_FLAGS.items() if getattr(args, attr)]
        if given:
            raise ValueError(f"{', '.join(given)} needs --webhook-port (the webhook is off)")
        return None
    if (args.webhook_cert_file is None) != (args.webhook_key_file is None):
        raise ValueError("--webhook-cert-file and --webhook-key-file go together")
    for path in (args.webhook_cert_file, args.webhook_key_file):
        if path is not None and not path.is_file():
            raise ValueError(f"no such file: {path}")
    prefixes = tuple(args.allowed_image_prefix)
    if "" in prefixes:
        raise ValueError("--allowed-image-prefix must not be empty (it would allow any image)")
    for prefix in prefixes:
        if not prefix.endswith(("/", ":", "@")):
            log.warning(
                "--allowed-image-prefix=%s does not end with '/' or ':': it also admits "
                "images such as %s-other/redis",
                prefix,
                prefix,
            )
    return WebhookOptions(
        port=args.webhook_port,
        address=args.webhook_address,
        cert_file=args.webhook_cert_file,
        key_file=args.webhook_key_file,
        config_out=args.webhook_config_out,
        policy=AdmissionPolicy(prefixes),
    )


def _is_unspecified(address: str) -> bool:
    try:
        return not address or ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def local_url(address: str, port: int) -> str:
    """The base URL a client on this machine reaches the server at (127.0.0.1 for 0.0.0.0)."""
    host = "127.0.0.1" if _is_unspecified(address) else address
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{port}"


class WebhookServing:
    """kopf's HTTPS ``WebhookServer`` on the configured address, with our certificate.

    With ``cert_file``/``key_file`` (e.g. a cert-manager Secret mounted into the pod) kopf
    serves those and re-reads them every 60 s, restarting the listener when they change, so
    certificate renewal needs no restart. Without them a self-signed certificate for the
    loopback names is generated (kopf's own generator needs an extra package; this one uses
    ``cryptography``) into a private temporary directory removed by :meth:`close`: that is for
    local development, where the configuration from ``config_out`` carries it as caBundle.
    """

    def __init__(self, options: WebhookOptions) -> None:
        self.options = options
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if options.cert_file is not None and options.key_file is not None:
            cert_file, key_file = options.cert_file, options.key_file
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="redis-operator-webhook-")
            names = [*SELF_SIGNED_NAMES]
            if not _is_unspecified(options.address):
                names.append(options.address)
            cert_pem, key_pem = self_signed_certificate(names)
            cert_file = Path(self._tmp.name) / "tls.crt"
            key_file = Path(self._tmp.name) / "tls.key"
            cert_file.write_bytes(cert_pem)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key_pem)
        self.cert_file = cert_file
        if not log.isEnabledFor(logging.DEBUG):
            # kopf's aiohttp server logs every admission request at INFO; keep them for debug.
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
        self.server = kopf.WebhookServer(
            addr=options.address or None,
            port=options.port,
            certfile=cert_file,
            pkeyfile=key_file,
        )
        self.url = local_url(options.address, options.port)

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        """kopf's server protocol: serve, and announce each (re)start once listening."""
        async with self.server:
            async for client_config in self.server(fn):
                log.info("admission webhook serving at %s%s", self.url, WEBHOOK_PATH)
                if self.options.config_out is not None:
                    self._write_config(self.options.config_out)
                yield client_config

    def _write_config(self, path: Path) -> None:
        config = local_configuration(self.url, self.cert_file.read_bytes())
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)  # appears whole: a reader never sees half a file

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
