"""``python -m rxcdc.testing``: run the local services until Ctrl-C, printing their settings."""

from __future__ import annotations

import shlex
import signal

from rxcdc.testing.services import LocalServices, ServiceError


def main() -> int:
    """Start the services, print ``export`` lines for them and wait for a signal."""
    # Started in the background by a shell, SIGINT would be ignored: Ctrl-C must stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        services = LocalServices().start()
    except ServiceError as exc:
        print(f"rxcdc: {exc}")
        return 1
    try:
        for key, value in services.env().items():
            print(f"export {key}={shlex.quote(value)}", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        services.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
