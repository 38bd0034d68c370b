"""`python -m bot`: load config, run, and turn failures into exit codes.

0 clean stop, 2 configuration error (one line naming the variable), 1 anything else.
`python -m bot doctor` checks the configuration against the real services instead of running;
`python -m bot backup` writes a consistent copy of the SQLite store.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from .config import ConfigError, load_settings, read_environment


def main() -> int:
    # Operator tools: each a subcommand with its own module, loaded only when asked for.
    if sys.argv[1:2] == ["doctor"]:
        from .doctor import main as doctor

        return doctor(sys.argv[2:])
    if sys.argv[1:2] == ["backup"]:
        from .backup import main as backup

        return backup(sys.argv[2:])
    try:
        settings = load_settings(read_environment())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    from .app import StartupError, run
    from .logs import setup_logging
    from .store import StoreError

    setup_logging(settings.log_level, settings.log_format, settings.secrets())
    log = logging.getLogger("bot")
    try:
        return asyncio.run(run(settings))
    except StoreError as exc:
        log.error("cannot start: %s", exc)
        return 1
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return 2 if str(exc).split(":", 1)[0].isupper() else 1
    except KeyboardInterrupt:
        return 0
    except Exception:
        log.exception("crashed")
        return 1


if __name__ == "__main__":
    sys.exit(main())
