"""`python -m bot`: load config, run, and turn failures into exit codes.

0 clean stop, 2 configuration error (one line naming the variable; a store that cannot be opened is
one too: DATABASE_URL points at it), 1 anything else.

`python -m bot doctor` checks the configuration against the real services instead of running;
`python -m bot backup` writes a consistent copy of the SQLite store;
`python -m bot copy-store --from sqlite:///… --to postgresql://…` moves a SQLite store to PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from .config import ConfigError, load_settings, read_environment


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Operator tools: each a subcommand with its own module, loaded only when asked for.
    if argv[:1] == ["doctor"]:
        from .doctor import main as doctor

        return doctor(argv[1:])
    if argv[:1] == ["backup"]:
        from .backup import main as backup

        return backup(argv[1:])
    if argv[:1] == ["copy-store"]:
        from .store.copy import main as copy_store

        return copy_store(argv[1:])
    try:
        settings = load_settings(read_environment())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    from .app import StartupError, run
    from .logs import RedactSecrets, setup_logging
    from .store.base import StoreError

    setup_logging(settings.log_level, settings.log_format, settings.secrets())
    log = logging.getLogger("bot")
    try:
        return asyncio.run(run(settings))
    except StoreError as exc:
        # Like any configuration error: one plain line, scrubbed as a log line would be, as a driver's
        # message could in principle quote the PostgreSQL password.
        line = RedactSecrets(settings.secrets()).scrub(str(exc))
        print(f"configuration error: DATABASE_URL: {line}", file=sys.stderr)
        return 2
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
