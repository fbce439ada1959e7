"""The `civicdesk` command line: Django's management commands with our settings preset.

Audit entries written by a command say so ("cli: civicdesk backup ..."), and name the
operating-system account that ran it."""

import getpass
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicdesk.settings")
    from django.core.management import execute_from_command_line

    from civicdesk.audit.context import command_origin, origin

    command = " ".join(sys.argv[1:3])
    with origin(command_origin(command, os_user=_os_user())):
        execute_from_command_line(sys.argv)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


if __name__ == "__main__":
    main()
