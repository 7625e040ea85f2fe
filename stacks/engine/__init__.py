"""The Pulumi Automation API and the state backend: workspace, stack program, locks, recovery.

Contract: owns every engine call, the DevServer program and its host keys,
and the backend's files (locks, checkpoints); imports :mod:`..base` and
:mod:`devservers.components`, never :mod:`..kube`, :mod:`..ssh` or an operation.
"""
