"""Direct calls to the Kubernetes API: cluster reads, the label sweep, flavors and capacity.

Contract: owns the cluster connection and what is read from objects as plain
JSON; imports :mod:`..base` and :mod:`devservers.components`, never
:mod:`..engine`, :mod:`..ssh` or the Pulumi SDK (``devctl list`` never loads it).
"""
