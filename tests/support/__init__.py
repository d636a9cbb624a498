"""Helpers any test may use against a cluster: ``kube`` (kubectl, waiting, Events, audit log),
``cluster`` (a throwaway test-bed cluster), ``tool`` (running a command-line tool).

Operator-specific end-to-end helpers stay in ``tests/e2e``; ``free_port`` is the test bed's
(``devcluster.ports``).
"""
