#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Install Wirewatch the way the Flatpak does and check the result.

    install-check.py SOURCE_ROOT

Configures a separate build with --prefix=/app (as flatpak-builder does)
in a temporary directory, installs it into a staging DESTDIR, checks that
every file the Flatpak manifest and the metainfo name is there, then
starts the staged binary headless, asks /healthz, and stops it with
SIGTERM by its PID.

Exit 0 when all of that passed, 1 on a failure, 77 (skip) when the layout
is right but this tree does not build the binary yet (the server layer
has not landed), so the smoke run could not happen.
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET

APP_ID = "io.github.wirewatch.Wirewatch"
PREFIX = "/app"
SKIP = 77
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10

problems = []


def problem(text):
    problems.append(text)
    print("FAIL: " + text, flush=True)


def step(argv, cwd=None, timeout=900):
    print("+ " + " ".join(argv), flush=True)
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        print(result.stdout[-4000:])
        print(result.stderr[-4000:])
        raise SystemExit(f"FAIL: {argv[0]} {argv[1]} exited {result.returncode}")
    return result


def expected_files(root, build):
    """Relative to the staged prefix: what the manifest, the metainfo and the
    desktop entry promise, and what the tree says it translates."""
    with open(os.path.join(root, "flatpak", APP_ID + ".json"), encoding="utf-8") as f:
        manifest = json.load(f)
    meta = ET.parse(os.path.join(root, "data", APP_ID + ".metainfo.xml.in")).getroot()

    files = {
        "share/applications/" + meta.findtext("launchable[@type='desktop-id']").strip(): "desktop entry",
        "share/metainfo/" + APP_ID + ".metainfo.xml": "metainfo",
        "share/icons/hicolor/scalable/apps/" + APP_ID + ".svg": "app icon",
        "share/icons/hicolor/symbolic/apps/" + APP_ID + "-symbolic.svg": "symbolic icon",
        "share/man/man1/wirewatch.1": "man page",
    }
    binaries = {"bin/" + manifest["command"]}
    binaries |= {"bin/" + b.text.strip() for b in meta.findall("provides/binary")}

    for schema in sorted(os.listdir(os.path.join(root, "data"))):
        if schema.endswith(".gschema.xml"):
            files["share/glib-2.0/schemas/" + schema] = "GSettings schema"

    domain = meta.findtext("translation[@type='gettext']").strip()
    linguas = os.path.join(root, "po", "LINGUAS")
    if os.path.exists(linguas):
        with open(linguas, encoding="utf-8") as f:
            for line in f:
                for lang in line.split("#", 1)[0].split():
                    files[f"share/locale/{lang}/LC_MESSAGES/{domain}.mo"] = f"{lang} translation"
    return files, binaries


def builds_binary(build):
    result = step(["meson", "introspect", "--targets", build])
    return any(t.get("name") == "wirewatch" and t.get("type") == "executable"
               for t in json.loads(result.stdout))


def smoke_run(stage, scratch):
    """Start the staged binary headless on an ephemeral port, GET /healthz,
    SIGTERM it by PID and expect exit status 0."""
    prefix = stage + PREFIX
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        p for p in [prefix + "/lib", env.get("LD_LIBRARY_PATH", "")] if p)
    env["XDG_DATA_DIRS"] = prefix + "/share:" + env.get("XDG_DATA_DIRS", "/usr/local/share:/usr/share")
    env["XDG_STATE_HOME"] = os.path.join(scratch, "state")
    env["XDG_CONFIG_HOME"] = os.path.join(scratch, "config")
    env["XDG_CACHE_HOME"] = os.path.join(scratch, "cache")
    env["GSETTINGS_SCHEMA_DIR"] = prefix + "/share/glib-2.0/schemas"
    argv = [prefix + "/bin/wirewatch", "--headless", "--port", "0", "--bind", "127.0.0.1",
            "--no-persist"]
    print("+ " + " ".join(argv), flush=True)
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = []
    try:
        url = None
        deadline = time.monotonic() + START_TIMEOUT_S
        buffered = b""
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stderr], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                log.append(text)
                match = re.search(r"Listening on (\S+)", text)
                if match:
                    url = match.group(1)
        if url is None:
            problem(f"no 'Listening on' within {START_TIMEOUT_S} s "
                    f"(exit status {proc.poll()}); log:\n" + "\n".join(log))
            return
        match = re.match(r"(https?|wss?)://127\.0\.0\.1:(\d+)/", url)
        if not match or match.group(2) == "0":
            problem(f"unexpected listening URL {url}")
            return
        port = int(match.group(2))
        health = f"http://127.0.0.1:{port}/healthz"
        # No proxy: a proxy from the environment must not see loopback traffic.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(health, timeout=5) as reply:
            body = reply.read().decode("utf-8", "replace").strip()
            if reply.status != 200 or body != "ok":
                problem(f"GET /healthz: {reply.status} {body!r}")
            else:
                print(f"GET {health}: 200 {body}")

        os.kill(proc.pid, signal.SIGTERM)
        try:
            status = proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            problem(f"did not exit within {STOP_TIMEOUT_S} s of SIGTERM")
            return
        if status != 0:
            problem(f"exit status {status} after SIGTERM, want 0")
        else:
            print("stopped by SIGTERM, exit status 0")
    except OSError as error:
        problem(f"smoke run: {error}")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT_S)
        for stream in (proc.stdout, proc.stderr):
            stream.close()


def main():
    root = os.path.abspath(sys.argv[1])
    scratch = tempfile.mkdtemp(prefix="ww-install-")
    try:
        build = os.path.join(scratch, "build")
        stage = os.path.join(scratch, "stage")
        # A build of its own: the test build's prefix is not /app.  Plain
        # buildtype and no tests keep it to the installed targets, compiled
        # quickly.
        step(["meson", "setup", build, root, "--prefix=" + PREFIX, "--libdir=lib",
              "--buildtype=plain", "-Dtests=false", "-Dbrowser_tests=false"])
        step(["ninja", "-C", build, "-j", "2"])
        step(["meson", "install", "-C", build, "--no-rebuild", "--destdir", stage])

        files, binaries = expected_files(root, build)
        have_binary = builds_binary(build)
        prefix = stage + PREFIX
        for rel, what in sorted(files.items()):
            if not os.path.isfile(os.path.join(prefix, rel)):
                problem(f"{what} {PREFIX}/{rel} was not installed")
        for rel in sorted(binaries):
            path = os.path.join(prefix, rel)
            if have_binary and not os.access(path, os.X_OK):
                problem(f"{PREFIX}/{rel} was not installed as an executable")
        if problems:
            return 1
        print(f"{len(files)} data files installed under DESTDIR{PREFIX}", flush=True)

        if not have_binary:
            print("SKIP: this tree does not build the wirewatch executable yet "
                  "(no server layer), so the smoke run cannot happen")
            return SKIP
        smoke_run(stage, scratch)
        return 1 if problems else 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
