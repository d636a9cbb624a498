"""The validating admission webhook: the policy that needs the operator, not the CRD.

The CRD's schema and CEL rules are the hard guarantees; the webhook adds an image allow-list and
warnings for taken child names. One module per job, imports pointing down the list:

- ``configuration``: the ValidatingWebhookConfiguration builder and the webhook's names (pure;
  all that ``manifests.py`` needs);
- ``policy``: the rules, pure, and ``review()``, which applies them with one read through a
  ``ChildLookup``;
- ``lookup``: ``ApiChildLookup``, that read over the API client;
- ``handler``: one AdmissionReview judged by the policy and answered (pure but for the
  lookup);
- ``certificates``: the operator's certificate builder (CA, serving certificate, PEM);
- ``renewal``: the managed certificate's decisions, pure (what its Secret holds, when to
  renew, the CA rotation's order, the caBundle patch);
- ``keeper``: the managed certificate's I/O (its Secret, the caBundle, the file served);
- ``serving``: the HTTPS listener (aiohttp), from certificate files, the keeper's, or
  self-signed, reloaded when they change.

This package imports nothing itself, so that importing ``configuration`` stays cheap.
"""
