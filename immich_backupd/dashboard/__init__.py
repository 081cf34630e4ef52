"""The local dashboard and JSON API that the daemon serves (issue 17).

- ``tokens``: the files in ``state_dir/dashboard/`` through which the command line and
  the daemon agree on the address, one-time login tokens and the API token (no aiohttp:
  ``immich-backupd dashboard`` stays light).
- ``guard``: the security decisions (Host, Origin, CSRF, who is logged in), as plain
  functions and a session store.
- ``view``: the status and failed uploads as the page shows them, translated.
- ``server``: the aiohttp application: pages, ``/api/v1/``, server-sent events.

It sits below ``daemon`` and ``cli`` and imports neither: the daemon hands it a
``Controls`` object (back up now, pause, resume, the current settings).
"""
