"""The expiry reaper: destroys DevServer stacks whose expiry has passed.

Contract: drives stacks only through ``devservers.stacks``; never imports
``devservers.cli``.
"""
