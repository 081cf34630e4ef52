"""The long-running service: watch, debounce, wait for conditions, back up, report.

- ``sdnotify``: the systemd notification protocol (READY, STATUS, WATCHDOG, ...).
- ``core``: the daemon's event loop, signals and passes (it acts; it decides little).
- ``policy``: its decisions, pure: the waits after an error, a partial pass's folders,
  the files held back.
- ``publish``: what it shows (STATUS=, live.json) built from plain data.
- ``waiting``: the waits a stop cuts short (conditions, a pass's grace); the monitor.
- ``watching``: the file watcher started, reconfigured and probed.
- ``keepalive``: what systemd must keep hearing (start-up time, WATCHDOG=1).
- ``notified``, ``wake``, ``webui``: what was told, when to wake, the dashboard.
"""
