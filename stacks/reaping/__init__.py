"""The reaper's stack operations: observe DevServers on the cluster, then destroy, stop or warn.

Observing costs two label-selected list calls whatever the number of
servers, read as plain JSON: the Deployments (expiry, replicas, what the reaper recorded) and
the ``<name>-sshd`` ConfigMaps, so a server whose Deployment was deleted by
hand is still found. A destroy killed midway may leave a stack whose
objects are all gone but whose lock is stale; with a ``file://`` backend
those stacks are found by listing the lock directory (see
:mod:`devservers.stacks.engine.locks`), and only they are opened. No other stack
is opened to find candidates. When some running server has an idle timeout,
:mod:`.signals` adds a bounded number of reads for the idle stop (one list of
Leases, one of pods, one kubelet Summary per node, one GPU metrics GET).

Acting on one server opens its stack only: the expiry is re-read from the
stack's outputs, and again under the stack's lock inside the operation (see
:func:`devservers.stacks.engine.programs.guarded`), so an ``extend`` that lands
before the lock wins. Only objects labelled ``app.kubernetes.io/managed-by=
devservers`` whose stack label parses as ``<user>.<server>`` (matching their
owner and server labels) are considered, and a stack is touched only if its
outputs name the same namespace and cluster as the objects that led to it.

Contract: an operation, beside those at the top of ``stacks`` (it stops
through :mod:`..lifecycle` and destroys through :mod:`..teardown`); imports
them, the concern packages and :mod:`..base`, and is imported by none of them.
:mod:`.observations` holds the records, :mod:`.signals` the idle stop's reads,
:mod:`.actions` the :class:`~.actions.Reaping`.
"""
