"""The base every part of ``stacks`` shares: settings, the error tree, result records, logging.

Contract: plain data and validation, no call to the engine or the cluster;
imports :mod:`devservers.components` only, never another part of ``stacks``
and never the Pulumi SDK.
"""
