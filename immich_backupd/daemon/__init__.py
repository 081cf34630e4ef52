"""The long-running service: watch, debounce, wait for conditions, back up, report.

- ``sdnotify``: the systemd notification protocol (READY, STATUS, WATCHDOG, ...).
- ``statusline``: the one-line status shown by systemctl, as a pure function.
- ``core``: the daemon's event loop, signals and passes.
"""
