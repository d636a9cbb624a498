"""The controller: a watch-fed store, the work queue, and the reconciler that runs passes.

``store`` (the informer's cache), ``expectations`` (own writes not yet observed),
``workqueue``, ``handlers`` (watch events -> store -> queue; the initial sync) and
``reconciler`` (one pass per key, and the workers). The manager assembles them.
"""
