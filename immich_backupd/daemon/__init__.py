"""The long-running service: watch, debounce, wait for conditions, back up, report.

- ``sdnotify``: the systemd notification protocol (READY, STATUS, WATCHDOG, ...).
- ``core``: the daemon's event loop, signals and passes.
"""
