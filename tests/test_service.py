"""The systemd units and launchd agent: rendering, escaping, install, and systemd's verdict.

``systemd-analyze`` (package ``systemd``) checks the units: ``verify`` for syntax and
``security --offline=yes`` for the exposure score. Where it is missing those tests skip.
The last test runs the daemon under the unit's seccomp filters (system call allow list,
MemoryDenyWriteExecute, RestrictAddressFamilies), emulated with libseccomp, so a Python
upgrade or a new dependency that needs a denied call fails here and not on a user's box.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import plistlib
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from immich_backupd import service
from immich_backupd.config import AlbumSettings, Secret, ServerSettings, Settings
from immich_backupd.errors import ExitCode
from immich_backupd.service import (
    InstallResult,
    ServiceInstallError,
    default_command,
    default_target_dir,
    install,
    render_launchd,
    render_systemd,
    systemd_quote,
)

REPO = Path(__file__).resolve().parents[1]
SYSTEM_UNIT = REPO / "systemd" / "immich-backupd.service"
USER_UNIT = REPO / "systemd" / "immich-backupd-user.service"
PLIST = REPO / "launchd" / "org.immich-backupd.plist"
ANALYZE = shutil.which("systemd-analyze") or (
    "/usr/bin/systemd-analyze" if os.access("/usr/bin/systemd-analyze", os.X_OK) else None
)
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze not installed (Debian: apt-get install systemd)"
)
# Paths with what systemd treats specially: spaces, specifiers, variables (and quotes and
# backslashes, which systemd refuses in the executable's path but not in its arguments).
AWKWARD_EXE = "my bin %n $HOME"
AWKWARD = "my photos %n $HOME \"q\" it's \\ end"


def executable(folder: Path, name: str = "immich-backupd") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def settings_for(tmp: Path, *, state_dir: Path | None = None) -> Settings:
    photos = tmp / "Pictures"
    photos.mkdir(exist_ok=True)
    config = tmp / "config.yaml"
    config.write_text("# test\n")
    return Settings(
        source=config,
        server=ServerSettings(url="https://photos.example.com", api_key=Secret("k")),
        state_dir=state_dir or Path("/var/lib/immich-backupd"),
        albums=AlbumSettings(include=(photos,)),
    )


def analyze(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", **(env or {})},
    )


def verify(unit: Path, *, user: bool = False, env: dict[str, str] | None = None) -> None:
    args = ["--user"] if user else []
    proc = analyze(*args, "verify", "--man=no", str(unit), env=env)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def user_env(tmp: Path) -> dict[str, str]:
    """A user manager for ``verify --user``: a home and a runtime folder."""
    runtime = tmp / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {"HOME": str(tmp / "home"), "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(tmp / "home" / ".config")}


# --------------------------------------------------------------------------- shipped files


def test_shipped_files_are_what_render_produces():
    """One source of truth: the repository's files are the rendering of the defaults."""
    system = render_systemd(service.SYSTEM_CONFIG, service.SHIPPED_EXECUTABLE, user=False)
    assert SYSTEM_UNIT.read_text() == system
    user_unit = service.systemd._render_user_unit("ExecStart=" + service.SHIPPED_USER_EXEC_START)
    assert USER_UNIT.read_text() == user_unit
    home = service.SHIPPED_LAUNCHD_HOME
    plist = render_launchd(
        home / "Library/Application Support/immich-backupd/config.yaml",
        home / ".local/bin/immich-backupd",
        log_dir=home / "Library/Logs/immich-backupd",
    )
    assert PLIST.read_bytes() == plist


def test_shipped_system_unit_has_the_contract():
    text = SYSTEM_UNIT.read_text()
    settings = {line.partition("=")[0]: line.partition("=")[2]
                for line in text.splitlines() if line and not line.startswith(("#", "["))}
    assert settings["Type"] == "notify"
    assert settings["NotifyAccess"] == "main"
    assert settings["ExecStart"] == (
        "/usr/bin/immich-backupd --config /etc/immich-backupd/config.yaml run")
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert settings["RestartPreventExitStatus"] == "78"
    assert settings["Restart"] == "on-failure"
    assert int(settings["TimeoutStopSec"]) > 30  # longer than the daemon's stop grace
    assert int(settings["WatchdogSec"]) == 120
    assert settings["StateDirectory"] == "immich-backupd"
    assert settings["StateDirectoryMode"] == "0700"
    assert settings["User"] == settings["Group"] == "immich-backupd"
    assert settings["ProtectSystem"] == "strict"
    assert settings["ProtectHome"] == "read-only"
    assert settings["CapabilityBoundingSet"] == ""
    assert "ProcSubset" not in settings  # /proc/sys/fs/inotify stays readable
    assert "#LoadCredential=immich-api-key:/etc/immich-backupd/api-key" in text


@needs_analyze
def test_shipped_system_unit_verifies(tmp_path):
    exe = executable(tmp_path / "bin")
    unit = tmp_path / "immich-backupd.service"
    unit.write_text(SYSTEM_UNIT.read_text().replace("/usr/bin/immich-backupd", str(exe)))
    verify(unit)


@needs_analyze
def test_shipped_user_unit_verifies(tmp_path):
    env = user_env(tmp_path)
    executable(tmp_path / "home" / ".local" / "bin")  # %h/.local/bin/immich-backupd
    unit = tmp_path / "immich-backupd.service"
    shutil.copy(USER_UNIT, unit)
    verify(unit, user=True, env=env)


@needs_analyze
def test_offline_security_score_of_the_system_unit(tmp_path):
    proc = analyze("security", "--offline=yes", "--no-pager", str(SYSTEM_UNIT))
    if "--offline" in proc.stderr and "unrecognized" in proc.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    # 1.3 with systemd 252; what is left is the network, /proc/sys, reading /home, users.
    assert float(match.group(1)) <= 2.0, proc.stdout


def test_plist_has_the_keys():
    plist = plistlib.loads(PLIST.read_bytes())
    assert plist["Label"] == "org.immich-backupd"
    assert plist["ProgramArguments"][-3:-1] == [
        "--config", "/Users/USERNAME/Library/Application Support/immich-backupd/config.yaml"]
    assert plist["ProgramArguments"][-1] == "run"
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["ThrottleInterval"] == 30
    assert plist["ExitTimeOut"] > 30  # launchd's default of 20 s would cut uploads short
    assert plist["ProcessType"] == "Background"
    assert plist["LowPriorityIO"] is True
    assert plist["Nice"] == 10
    assert plist["Umask"] == 0o077
    assert plist["StandardOutPath"] == plist["StandardErrorPath"]
    assert plist["StandardOutPath"].startswith("/Users/USERNAME/Library/Logs/immich-backupd/")
    assert "PATH" in plist["EnvironmentVariables"]


# --------------------------------------------------------------------------- quoting


@pytest.mark.parametrize(
    ("arg", "exec_line", "expected"),
    [
        ("/usr/bin/immich-backupd", True, "/usr/bin/immich-backupd"),
        ("/opt/my photos/x", True, '"/opt/my photos/x"'),
        ("/a/50%/b", True, '"/a/50%%/b"'),
        ("/a/$HOME", True, '"/a/$$HOME"'),
        ("/a/$HOME", False, '"/a/$HOME"'),
        ('/a/"q"\\b', True, '"/a/\\"q\\"\\\\b"'),
        ("/a/it's", True, "\"/a/it's\""),
        ("", True, '""'),
        (";", True, '";"'),
    ],
)
def test_systemd_quote(arg, exec_line, expected):
    assert systemd_quote(arg, exec_line=exec_line) == expected


@pytest.mark.parametrize("bad", ["/a\nb", "/a\tb", "/a\x7fb"])
def test_systemd_quote_refuses_control_characters(bad):
    with pytest.raises(ValueError, match="control characters"):
        systemd_quote(bad)


def test_render_quotes_every_word(tmp_path):
    exe = Path("/opt/100% $ure/bin/immich-backupd")
    config = Path("/etc/my $CONF/config.yaml")
    unit = render_systemd(config, exe, user=True)
    # The program's path knows no $VARs; its arguments do.
    assert ('ExecStart="/opt/100%% $ure/bin/immich-backupd" --config '
            '"/etc/my $$CONF/config.yaml" run') in unit.splitlines()


def test_render_with_python_module_command():
    unit = render_systemd(Path("/etc/c.yaml"), ["/opt/venv/bin/python", "-m", "immich_backupd"],
                          user=True)
    assert "ExecStart=/opt/venv/bin/python -m immich_backupd --config /etc/c.yaml run" in unit


@needs_analyze
@pytest.mark.parametrize("user", [False, True])
def test_rendered_units_with_awkward_paths_verify(tmp_path, user):
    """systemd finds the executable only if the quoting and escaping are right."""
    exe = executable(tmp_path / AWKWARD_EXE / "bin")
    config = tmp_path / AWKWARD / "config.yaml"
    unit = tmp_path / "immich-backupd.service"
    env = user_env(tmp_path) if user else None
    text = render_systemd(config, exe, user=user, photo_dirs=[tmp_path / AWKWARD / "photos"],
                          state_dir=None if user else tmp_path / AWKWARD / "state")
    unit.write_text(text)
    verify(unit, user=user, env=env)
    # The same unit with a path that does not exist fails: verify does look.
    unit.write_text(text.replace("bin/immich-backupd", "bin/missing"))
    proc = analyze(*(["--user"] if user else []), "verify", "--man=no", str(unit), env=env)
    assert proc.returncode != 0
    assert "missing" in proc.stderr


# --------------------------------------------------------------------------- system sandbox


def lines_of(unit: str, key: str) -> list[str]:
    return [line.partition("=")[2] for line in unit.splitlines() if line.startswith(key + "=")]


def test_default_state_dir_needs_no_extra_paths():
    unit = render_systemd(Path("/etc/c.yaml"), Path("/usr/bin/x"), user=False,
                          photo_dirs=[Path("/home/ann/Pictures"), Path("/srv/photos")],
                          state_dir=Path("/var/lib/immich-backupd"))
    # ProtectSystem=strict and ProtectHome=read-only already make every photo read-only.
    assert lines_of(unit, "ReadWritePaths") == []
    assert lines_of(unit, "ReadOnlyPaths") == []
    assert lines_of(unit, "PrivateTmp") == ["yes"]


def test_other_state_dir_is_writable_and_photos_inside_stay_read_only():
    unit = render_systemd(Path("/etc/c.yaml"), Path("/usr/bin/x"), user=False,
                          photo_dirs=[Path("/srv/photos"), Path("/srv/data/photos")],
                          state_dir=Path("/srv/data"))
    assert lines_of(unit, "ReadWritePaths") == ["/srv/data"]
    assert lines_of(unit, "ReadOnlyPaths") == ["/srv/data/photos"]


def test_folders_in_tmp_turn_private_tmp_off():
    unit = render_systemd(Path("/etc/c.yaml"), Path("/usr/bin/x"), user=False,
                          photo_dirs=[Path("/var/tmp/photos")])
    assert lines_of(unit, "PrivateTmp") == ["no"]


def test_folders_the_sandbox_replaces_are_refused():
    with pytest.raises(ValueError, match="/dev"):
        render_systemd(Path("/etc/c.yaml"), Path("/usr/bin/x"), user=False,
                       photo_dirs=[Path("/dev/shm/photos")])


def test_run_as_and_credential():
    unit = render_systemd(Path("/etc/c.yaml"), Path("/usr/bin/x"), user=False, run_as="ann",
                          api_key_credential=Path("/etc/immich-backupd/50% key"))
    assert lines_of(unit, "User") == ["ann"]
    assert lines_of(unit, "Group") == []  # the user's primary group
    assert lines_of(unit, "LoadCredential") == ["immich-api-key:/etc/immich-backupd/50%% key"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"run_as": "not a user"},
        {"run_as": "ann", "user": True},
        {"api_key_credential": Path("relative/key")},
        {"photo_dirs": [Path("relative")]},
        {"executable": Path("immich-backupd")},
        {"executable": Path("/opt/it's/immich-backupd")},
        {"settings_path": Path("config.yaml")},
    ],
)
def test_render_refuses_bad_arguments(kwargs):
    args = {"settings_path": Path("/etc/c.yaml"), "executable": Path("/usr/bin/x"),
            "user": False, **kwargs}
    with pytest.raises(ValueError):
        render_systemd(args.pop("settings_path"), args.pop("executable"), **args)


def test_user_unit_has_no_namespace_options():
    unit = render_systemd(None, Path("/home/ann/.local/bin/immich-backupd"), user=True)
    assert "ExecStart=/home/ann/.local/bin/immich-backupd run" in unit
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "User", "StateDirectory"):
        assert lines_of(unit, key) == [], key
    assert lines_of(unit, "WantedBy") == ["default.target"]
    assert lines_of(unit, "RestartPreventExitStatus") == ["78"]


# --------------------------------------------------------------------------- install


def test_install_user_unit(tmp_path):
    settings = settings_for(tmp_path)
    exe = executable(tmp_path / "bin")
    target = tmp_path / "units"
    result = install(settings, user=True, target_dir=target, executable=exe, platform="linux")
    assert isinstance(result, InstallResult)
    assert result.path == target / "immich-backupd.service"
    assert result.changed
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o644
    text = result.path.read_text()
    assert f"ExecStart={exe} --config {tmp_path}/config.yaml run" in text
    assert result.commands == [
        "systemctl --user daemon-reload",
        "systemctl --user enable --now immich-backupd.service",
        "journalctl --user -u immich-backupd -f",
    ]
    assert not list(target.glob(".*tmp"))


def test_install_again_is_a_no_op_and_refuses_to_clobber(tmp_path):
    settings = settings_for(tmp_path)
    exe = executable(tmp_path / "bin")
    first = install(settings, user=True, target_dir=tmp_path, executable=exe, platform="linux")
    again = install(settings, user=True, target_dir=tmp_path, executable=exe, platform="linux")
    assert not again.changed
    first.path.write_text("[Service]\nExecStart=/bin/mine\n")
    with pytest.raises(ServiceInstallError, match="--force") as info:
        install(settings, user=True, target_dir=tmp_path, executable=exe, platform="linux")
    assert info.value.exit_code == ExitCode.USAGE
    assert first.path.read_text() == "[Service]\nExecStart=/bin/mine\n"
    forced = install(settings, user=True, target_dir=tmp_path, executable=exe, force=True,
                     platform="linux")
    assert forced.changed
    assert "ExecStart=/bin/mine" not in forced.path.read_text()


def test_install_into_a_folder_it_cannot_write(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ServiceInstallError) as info:
        install(settings_for(tmp_path), user=True, target_dir=locked,
                executable=executable(tmp_path / "bin"), platform="linux")
    assert info.value.exit_code == ExitCode.NOPERM


def test_install_system_unit(tmp_path):
    settings = settings_for(tmp_path, state_dir=tmp_path / "state")
    exe = executable(tmp_path / "bin")
    result = install(settings, user=False, target_dir=tmp_path / "units", executable=exe,
                     platform="linux")
    text = result.path.read_text()
    assert lines_of(text, "User") == ["immich-backupd"]
    assert lines_of(text, "ReadWritePaths") == [str(tmp_path / "state")]
    assert result.commands[0].startswith("sudo useradd --system")
    assert result.commands[1] == f"sudo install -d -o immich-backupd -m 0700 {tmp_path}/state"
    assert result.commands[-3:] == [
        "sudo systemctl daemon-reload",
        "sudo systemctl enable --now immich-backupd",
        "sudo journalctl -u immich-backupd -f",
    ]
    assert any("state_dir" in note for note in result.notes)


def test_install_launch_agent(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    settings = settings_for(tmp_path)
    exe = executable(tmp_path / "bin")
    result = install(settings, user=True, executable=exe, platform="darwin")
    assert result.path == tmp_path / "home/Library/LaunchAgents/org.immich-backupd.plist"
    plist = plistlib.loads(result.path.read_bytes())
    assert plist["ProgramArguments"] == [str(exe), "--config", str(settings.source), "run"]
    assert (tmp_path / "home/Library/Logs/immich-backupd").is_dir()
    assert result.commands[0] == f"launchctl bootstrap gui/$(id -u) {result.path}"


def test_default_target_dirs(tmp_path):
    env = {"HOME": "/home/ann"}
    assert default_target_dir(user=True, platform="linux", env=env) == Path(
        "/home/ann/.config/systemd/user")
    assert default_target_dir(user=True, platform="linux",
                              env={**env, "XDG_CONFIG_HOME": "/cfg"}) == Path("/cfg/systemd/user")
    assert default_target_dir(user=False, platform="linux", env=env) == Path(
        "/etc/systemd/system")
    assert default_target_dir(user=True, platform="darwin", env=env) == Path(
        "/home/ann/Library/LaunchAgents")


def test_default_command(tmp_path):
    bin_dir = tmp_path / "venv" / "bin"
    python = executable(bin_dir, "python")
    assert default_command(str(python), which="") == [str(python), "-m", "immich_backupd"]
    on_path = executable(tmp_path / "path")
    assert default_command(str(python), which=str(on_path)) == [str(on_path)]
    beside = executable(bin_dir)
    assert default_command(str(python), which=str(on_path)) == [str(beside)]


# --------------------------------------------------------------------------- the sandbox, run

SECCOMP = ctypes.util.find_library("seccomp")

# Loads the unit's seccomp filters into this process, then execs the command. Emulates
# systemd 252: the allow list (denied calls kill, stricter than the unit's EPERM, so
# nothing denied goes unnoticed), MemoryDenyWriteExecute and RestrictAddressFamilies.
SANDBOX = textwrap.dedent(
    """
    import ctypes, errno, json, os, sys
    spec, argv = json.loads(sys.argv[1]), sys.argv[2:]
    lib = ctypes.CDLL(spec["lib"], use_errno=True)
    class Cmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(Cmp)]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ALLOW, KILL, EQ, MASKED_EQ = 0x7FFF0000, 0x80000000, 4, 7
    def errno_action(e):
        return 0x00050000 | e
    def rule(ctx, action, name, *cmps):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            return
        arr = (Cmp * max(len(cmps), 1))(*[Cmp(*c) for c in cmps])
        if lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr) < 0:
            raise OSError(f"seccomp_rule_add {name}")
    def load(ctx):
        if lib.seccomp_load(ctx) < 0:
            raise OSError("seccomp_load")
    W, X, SHM_EXEC = 2, 4, 0o100000
    mdwe = lib.seccomp_init(ALLOW)
    rule(mdwe, errno_action(errno.EPERM), "mmap", (2, MASKED_EQ, W | X, W | X))
    for name in ("mprotect", "pkey_mprotect"):
        rule(mdwe, errno_action(errno.EPERM), name, (2, MASKED_EQ, X, X))
    rule(mdwe, errno_action(errno.EPERM), "shmat", (2, MASKED_EQ, SHM_EXEC, SHM_EXEC))
    load(mdwe)
    families = lib.seccomp_init(ALLOW)
    for family in range(64):
        if family not in spec["families"]:
            rule(families, errno_action(errno.EAFNOSUPPORT), "socket", (0, EQ, family, 0))
    load(families)
    allow = lib.seccomp_init(KILL)  # last: it denies seccomp() itself
    for name in spec["allow"]:
        rule(allow, ALLOW, name)
    for name in spec["eperm"]:
        rule(allow, errno_action(errno.EPERM), name)
    load(allow)
    os.execv(argv[0], argv)
    """
)

PROBE = textwrap.dedent(
    """
    import ctypes, mmap, socket, tempfile, time
    import aiohttp, blake3, dbus_fast, sqlite3
    import immich_backupd.cli
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer
    observer = Observer()
    observer.schedule(FileSystemEventHandler(), tempfile.mkdtemp(), recursive=True)
    observer.start(); time.sleep(0.1); observer.stop(); observer.join()
    assert ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)(41) == 42
    int(open("/proc/sys/fs/inotify/max_user_watches").read())
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        raise SystemExit("MemoryDenyWriteExecute is not in force")
    except PermissionError:
        pass
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)
        raise SystemExit("RestrictAddressFamilies is not in force")
    except OSError:
        pass
    socket.getaddrinfo("localhost", 80, flags=socket.AI_ADDRCONFIG)
    print("probe ok", type(observer).__name__)
    """
)


def unit_seccomp_spec(unit: str) -> dict[str, object]:
    """The system calls and address families the unit allows, from systemd-analyze."""
    groups: dict[str, list[str]] = {}
    current = None
    for line in analyze("syscall-filter").stdout.splitlines():
        word = line.strip().split(" ")[0]
        if not word or word.startswith("#"):
            continue
        if not line.startswith(" ") and word.startswith("@"):
            current = groups.setdefault(word, [])
        elif current is not None:
            current.append(word)

    def expand(name: str) -> set[str]:
        return {c for m in groups[name] for c in expand(m)} if name.startswith("@") else {name}

    allowed: set[str] = set()
    for value in lines_of(unit, "SystemCallFilter"):
        deny = value.startswith("~")
        names = {c for word in value.lstrip("~").split() for c in expand(word)}
        allowed = allowed - names if deny else allowed | names
    families = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}
    (restrict,) = lines_of(unit, "RestrictAddressFamilies")
    assert lines_of(unit, "MemoryDenyWriteExecute") == ["yes"]
    # SQLite, as root only, fchown()s its journal to the database's owner and ignores a
    # failure. The units run the daemon as a user; should one run it as root, the call
    # fails with EPERM (SystemCallErrorNumber=), which is what the emulation does too.
    eperm = ["fchown"] if os.geteuid() == 0 and "fchown" not in allowed else []
    return {"lib": SECCOMP, "allow": sorted(allowed), "eperm": eperm,
            "families": [families[f] for f in restrict.split()]}


@needs_analyze
@pytest.mark.skipif(SECCOMP is None or not sys.platform.startswith("linux"),
                    reason="needs Linux and libseccomp (Debian: libseccomp2)")
@pytest.mark.parametrize("unit", [SYSTEM_UNIT, USER_UNIT], ids=["system", "user"])
def test_the_daemon_runs_under_the_units_seccomp_filters(unit, tmp_path):
    from immich_standin import StandinServer
    from immich_standin.library import make_library

    spec = json.dumps(unit_seccomp_spec(unit.read_text()))
    sandbox = [sys.executable, "-c", SANDBOX, spec, sys.executable]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("IMMICH_API_KEY", None)
    probe = subprocess.run([*sandbox, "-c", PROBE], capture_output=True, text=True,
                           env=env, timeout=120, check=False)
    assert probe.returncode == 0, probe.stderr
    assert "probe ok" in probe.stdout

    lib = make_library(tmp_path / "lib", photos=3)
    with StandinServer(version="3.1.0") as srv:
        key = tmp_path / "api-key"
        key.write_text(srv.api_key)
        key.chmod(0o600)
        config = tmp_path / "config.yaml"
        config.write_text(json.dumps({
            "server": {"url": srv.url, "api_key_file": str(key)},
            "state_dir": str(tmp_path / "state"),
            "albums": {"include": [str(p) for p in lib.include], "exclude": lib.exclude},
        }))
        config.chmod(0o600)
        once = subprocess.run([*sandbox, "-m", "immich_backupd", "--config", str(config), "once"],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
        assert once.returncode == 0, once.stderr
        assert srv.state.counters.created == len(lib.expected)
