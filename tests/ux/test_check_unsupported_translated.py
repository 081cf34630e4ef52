"""`check` on a server of an unsupported version: the why-and-what line follows the
locale like the rest of the screen (issue 14: no English text inside a German check)."""

from __future__ import annotations

import pytest

from immich_backupd import i18n
from immich_standin import StandinServer

from .test_check_and_errors import check, write_config


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.use({"LANG": "C"})


@pytest.mark.parametrize(("version", "english", "german"), [
    ("1.106.0", "Immich 1.106.0 is not supported (supported: v2.x, v3.x): upgrade the "
                "Immich server", "aktualisieren Sie den Immich-Server"),
    ("4.0.0", "Immich 4.0.0 is not supported yet (supported: v2.x, v3.x): upgrade "
              "immich-backupd", "aktualisieren Sie immich-backupd"),
])
async def test_an_unsupported_version_is_said_in_the_users_language(tmp_path, version,
                                                                    english, german):
    with StandinServer(version=version) as srv:
        config = write_config(tmp_path, srv.url, srv.api_key)
        code, out = await check(config)
        assert code == 69 and english in out
        i18n.use({"LANG": "de_DE.UTF-8"})
        code, out = await check(config)
    assert code == 69 and german in out
    assert "is not supported" not in out and "upgrade" not in out
