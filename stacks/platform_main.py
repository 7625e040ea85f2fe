"""Entry point of ``pulumi up`` in the repository root (``main:`` of ``Pulumi.yaml``).

The engine runs this file as ``__main__``; the program itself lives in
:mod:`devservers.stacks.platform`.
"""

from devservers.stacks.platform import platform_program

if __name__ == "__main__":
    platform_program()
