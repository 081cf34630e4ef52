"""The daemon's journal stays English under any locale: a bad config on reload is
logged in English, while `check` shows the same problem in German (tests/ux)."""

from __future__ import annotations

import json
import signal

from .test_daemon import Daemon, wait_until

GERMAN = {"LC_ALL": "", "LANG": "de_DE.UTF-8", "LANGUAGE": ""}


def test_a_bad_reload_under_a_german_locale_is_logged_in_english(server, make_setup,
                                                                   tmp_path):
    setup = make_setup(server)
    d = Daemon(setup, tmp_path, env=GERMAN)
    try:
        d.wait_notify(lambda m: m == "READY=1")
        d.wait_notify(lambda m: m.startswith("STATUS=Sicherung vollständig"))
        cfg = json.loads(setup.config.read_text())
        cfg["backup"]["concurrency"] = 0
        cfg["log_level"] = "verbose"
        setup.config.write_text(json.dumps(cfg))
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "not reloaded" in d.stderr(), 20, "the reload to fail")
        log = d.stderr()
        assert "at 'backup.concurrency': must be between 1 and 16, got 0" in log
        assert "at 'log_level': expected one of debug, info, warning, error; got string " \
            "'verbose'" in log
        assert "muss zwischen" not in log and "erwartet" not in log
        assert d.proc.poll() is None
        # The locale did reach the daemon: what people read (its status line) is German.
        assert any(m.startswith("STATUS=Sicherung vollständig") for m in d.lines())
    finally:
        assert d.stop() == 0, d.stderr()
