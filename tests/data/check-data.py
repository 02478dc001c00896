#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline checks of Wirewatch's data files and Flatpak manifest.

    check-data.py manifest      SOURCE_ROOT
    check-data.py config-opts   SOURCE_ROOT
    check-data.py desktop       SOURCE_ROOT BUILT.desktop
    check-data.py metainfo      SOURCE_ROOT BUILT.metainfo.xml
    check-data.py schemas       SOURCE_ROOT
    check-data.py man           SOURCE_ROOT
    check-data.py icons         SOURCE_ROOT

Exit 0 on success, 1 with a message per problem, 77 (meson's skip) when a
tool the check needs is not installed.  Uses only the standard library so
it runs in the Flatpak SDK too.
"""

import configparser
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

APP_ID = "io.github.wirewatch.Wirewatch"
MANIFEST = "flatpak/" + APP_ID + ".json"
SKIP = 77

problems = []


def problem(text):
    problems.append(text)
    print("FAIL: " + text)


def need(tool):
    path = shutil.which(tool)
    if path is None:
        print(f"SKIP: {tool} is not installed")
        sys.exit(SKIP)
    return path


def run(argv, timeout=60, cwd=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def load_manifest(root):
    with open(os.path.join(root, MANIFEST), encoding="utf-8") as f:
        return json.load(f)


def app_module(manifest):
    for module in manifest.get("modules", []):
        if isinstance(module, dict) and module.get("name") == "wirewatch":
            return module
    problem("the manifest has no module named 'wirewatch'")
    return {}


def check_manifest(root):
    builder = need("flatpak-builder")
    # flatpak-builder fails only on broken JSON; an unknown key is just a
    # WARNING on stderr, so any stderr output counts as a failure here.
    # It leaves a .flatpak-builder/ state directory in its working directory.
    with tempfile.TemporaryDirectory(prefix="ww-flatpak-") as scratch:
        result = run([builder, "--show-manifest", os.path.abspath(os.path.join(root, MANIFEST))],
                     cwd=scratch)
    if result.returncode != 0:
        problem(f"flatpak-builder --show-manifest exited {result.returncode}")
    if result.stderr.strip():
        problem("flatpak-builder printed on stderr:\n" + result.stderr.strip())
    try:
        shown = json.loads(result.stdout)
    except ValueError:
        problem("flatpak-builder --show-manifest did not print JSON")
        return

    m = load_manifest(root)
    if shown.get("id") != APP_ID or m.get("id") != APP_ID:
        problem(f"id is not {APP_ID}")
    if m.get("runtime") != "org.gnome.Platform" or m.get("sdk") != "org.gnome.Sdk":
        problem("runtime/sdk must be org.gnome.Platform/org.gnome.Sdk")
    if not re.fullmatch(r"[0-9]+", str(m.get("runtime-version", ""))):
        problem("runtime-version must be a stable GNOME branch such as 51, not master/nightly")
    if m.get("command") != "wirewatch":
        problem("command must be wirewatch")
    finish = set(m.get("finish-args", []))
    for arg in ["--socket=wayland", "--socket=fallback-x11", "--share=ipc",
                "--device=dri", "--share=network"]:
        if arg not in finish:
            problem(f"finish-args lacks {arg}")
    for arg in finish:
        if arg in ("--socket=x11", "--filesystem=host", "--filesystem=home",
                   "--talk-name=org.freedesktop.Flatpak"):
            problem(f"finish-args grants more than the app needs: {arg}")
    cleanup = m.get("cleanup", [])
    for pattern in ["/include", "/lib/pkgconfig", "*.a"]:
        if pattern not in cleanup:
            problem(f"top-level cleanup lacks {pattern}")

    modules = {mod.get("name"): mod for mod in m.get("modules", []) if isinstance(mod, dict)}
    names = [mod.get("name") for mod in m.get("modules", []) if isinstance(mod, dict)]
    if "hiredis" not in modules:
        problem("hiredis is not in the GNOME SDK and needs its own module")
    elif "wirewatch" in names and names.index("hiredis") > names.index("wirewatch"):
        problem("hiredis must be built before wirewatch")
    for name, mod in modules.items():
        for source in mod.get("sources", []):
            kind = source.get("type")
            if kind in ("archive", "file"):
                if not str(source.get("url", "")).startswith("https://"):
                    problem(f"{name}: source url must be https")
                if not re.fullmatch(r"[0-9a-f]{64}", str(source.get("sha256", ""))):
                    problem(f"{name}: archive needs a sha256 (64 hex digits)")
            elif kind == "git":
                if not re.fullmatch(r"[0-9a-f]{40}", str(source.get("commit", ""))):
                    problem(f"{name}: git source must be pinned to a commit")

    app = app_module(m)
    if app.get("buildsystem") != "meson":
        problem("the wirewatch module must build with meson")
    if app.get("run-tests") is not True:
        problem("the wirewatch module must set run-tests")
    if not any(src.get("type") == "dir" and src.get("path") == ".."
               for src in app.get("sources", [])):
        problem("the wirewatch module must build from the repository (dir ..)")
    if not problems:
        print(f"manifest OK: runtime {m['runtime']}//{m['runtime-version']}, "
              f"modules {', '.join(names)}")


def meson_options(root):
    with open(os.path.join(root, "meson_options.txt"), encoding="utf-8") as f:
        text = f.read()
    return set(re.findall(r"option\s*\(\s*'([^']+)'", text))


def check_config_opts(root):
    known = meson_options(root)
    m = load_manifest(root)
    seen = 0
    for module in m.get("modules", []):
        if not isinstance(module, dict) or module.get("buildsystem") != "meson":
            continue
        for opt in module.get("config-opts", []):
            if not opt.startswith("-D"):
                continue
            seen += 1
            name = opt[2:].split("=", 1)[0]
            if name not in known:
                problem(f"{module.get('name')}: config-opt {opt} is not in meson_options.txt")
    if seen == 0:
        problem("the meson module passes no -D option (expected at least -Dbrowser_tests=false)")
    if not problems:
        print(f"{seen} -D options, all in meson_options.txt ({', '.join(sorted(known))})")


def check_desktop(root, path):
    tool = need("desktop-file-validate")
    result = run([tool, path])
    out = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or out:
        # Hints count too: they flag real mistakes such as two main categories.
        problem("desktop-file-validate:\n" + out)

    parser = configparser.RawConfigParser(interpolation=None, strict=True)
    parser.optionxform = str
    with open(path, encoding="utf-8") as f:
        parser.read_file(f)
    entry = parser["Desktop Entry"]
    for key in ["Name", "GenericName", "Comment", "Icon", "Exec", "Categories", "Keywords"]:
        if not entry.get(key, "").strip():
            problem(f"desktop file lacks {key}")
    if entry.get("Icon") != APP_ID:
        problem(f"Icon must be {APP_ID}")
    if entry.get("Exec", "").split(" ")[0] != "wirewatch":
        problem("Exec must run wirewatch")
    if entry.get("StartupNotify") != "true":
        problem("StartupNotify must be true")
    if entry.get("DBusActivatable") != "false":
        problem("DBusActivatable must be false (no D-Bus service file is installed)")
    if not problems:
        print(f"{os.path.basename(path)} OK")


# The <developer> element is AppStream 1.0; the 0.16 validator on Debian 12
# does not know it yet.  The id is the one DESIGN.md fixes, mixed case and
# all, so the pedantic "uppercase letter" hint cannot be helped either.
ALLOWED_NOTES = {
    ("I", "unknown-tag", "developer"),
    ("P", "cid-contains-uppercase-letter", APP_ID),
}


def check_metainfo(root, path):
    tool = need("appstreamcli")
    result = run([tool, "validate", "--no-net", "--pedantic", path])
    for line in (result.stdout + result.stderr).splitlines():
        match = re.match(r"^([EWIP]): [^:]+:(?:\d+:)? (\S+)(?: (.*))?$", line.strip())
        if not match:
            continue
        severity, tag, detail = match.group(1), match.group(2), (match.group(3) or "").strip()
        if (severity, tag, detail) in ALLOWED_NOTES:
            print(f"note (allowed): {line.strip()}")
            continue
        problem(f"appstreamcli: {line.strip()}")
    if result.returncode != 0:
        problem(f"appstreamcli validate exited {result.returncode}")

    tree = ET.parse(path).getroot()

    def text(xpath):
        node = tree.find(xpath)
        return node.text.strip() if node is not None and node.text else ""

    if tree.get("type") != "desktop-application":
        problem("component type must be desktop-application")
    expect = {
        "id": APP_ID,
        "metadata_license": "CC0-1.0",
        "project_license": "GPL-3.0-or-later",
        "launchable[@type='desktop-id']": APP_ID + ".desktop",
        "translation[@type='gettext']": "wirewatch",
        "provides/binary": "wirewatch",
        "developer[@id='io.github.wirewatch']/name": "Wirewatch developers",
        "requires/display_length[@compare='ge']": "360",
        "content_rating[@type='oars-1.1']/content_attribute[@id='social-chat']": "intense",
    }
    for xpath, want in expect.items():
        if text(xpath) != want:
            problem(f"<{xpath}> is {text(xpath)!r}, want {want!r}")
    for xpath in ["name", "summary", "description/p", "description/ul/li"]:
        if not text(xpath):
            problem(f"<{xpath}> is missing or empty")
    for kind in ["homepage", "bugtracker", "vcs-browser"]:
        if not text(f"url[@type='{kind}']").startswith("https://"):
            problem(f"<url type='{kind}'> is missing")
    for scheme in ["light", "dark"]:
        colour = text(f"branding/color[@type='primary'][@scheme_preference='{scheme}']")
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
            problem(f"branding colour for {scheme} is missing")
    shots = tree.findall("screenshots/screenshot")
    names = sorted(os.path.basename(s.findtext("image", "").strip()) for s in shots)
    if names != ["clients.png", "events.png", "log.png", "traffic.png"]:
        problem(f"screenshots are {names}")
    for shot in shots:
        url = shot.findtext("image", "").strip()
        if not url.startswith("https://github.com/wirewatch/wirewatch/raw/main/data/screenshots/"):
            problem(f"screenshot URL {url} is not in the repository's data/screenshots")
        if not shot.findtext("caption", "").strip():
            problem(f"screenshot {url} has no caption")
    if len([s for s in shots if s.get("type") == "default"]) != 1:
        problem("exactly one screenshot must be the default")
    release = tree.find("releases/release[@version='0.1.0']")
    if release is None or release.get("date") != "2026-11-23" or release.find("description") is None:
        problem("release 0.1.0 dated 2026-11-23 with a description is missing")
    controls = {c.text for c in tree.findall("supports/control")}
    if not {"keyboard", "pointing"} <= controls:
        problem(f"<supports> controls are {sorted(controls)}")
    if not problems:
        print(f"{os.path.basename(path)} OK")


def check_schemas(root):
    data = os.path.join(root, "data")
    schemas = glob.glob(os.path.join(data, "*.gschema.xml"))
    if not schemas:
        print("SKIP: no *.gschema.xml in data/ yet")
        sys.exit(SKIP)
    tool = shutil.which("glib-compile-schemas")
    if tool is None:
        need("glib-compile-schemas")
    result = run([tool, "--strict", "--dry-run", data])
    out = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or out:
        problem("glib-compile-schemas --strict:\n" + out)
    for schema in schemas:
        ids = [s.get("id") for s in ET.parse(schema).getroot().findall("schema")]
        if not ids or not all(i == APP_ID or i.startswith(APP_ID + ".") for i in ids):
            problem(f"{os.path.basename(schema)}: schema ids {ids} must start with {APP_ID}")
    if not problems:
        print(f"{len(schemas)} schema file(s) OK")


def check_man(root):
    with open(os.path.join(root, "src", "main.c"), encoding="utf-8") as f:
        main_c = f.read()
    options = re.findall(r'\{\s*"([a-z][a-z0-9-]*)",\s*(?:\'(.)\'|0)\s*,', main_c)
    if len(options) < 5:
        problem(f"found only {len(options)} GOptionEntry rows in src/main.c; parser out of date?")
    with open(os.path.join(root, "data", "wirewatch.1"), encoding="utf-8") as f:
        page = f.read()
    # Each option needs its own item: the tag line after a .TP.
    lines = page.replace("\\-", "-").splitlines()
    tags = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line.strip() == ".TP"]
    for long_name, short in options:
        mine = [t for t in tags if re.search(r"--" + re.escape(long_name) + r"(?![a-z0-9-])", t)]
        if not mine:
            problem(f"wirewatch.1 has no item for --{long_name}")
        elif short and not any(re.search(r"(?<![-\w])-" + re.escape(short) + r"\b", t)
                               for t in mine):
            problem(f"wirewatch.1 does not give -{short} with --{long_name}")
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "FILES",
                    "EXIT STATUS", "SIGNALS", "EXAMPLES"]:
        if not re.search(r"^\.SH \"?" + section + r"\"?$", page, re.M):
            problem(f"wirewatch.1 lacks the {section} section")

    groff = shutil.which("groff")
    if groff:
        # -ww: all warnings; -z: no output.  The page must typeset cleanly.
        result = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z"],
                                input=page, capture_output=True, text=True, timeout=60)
        if result.returncode != 0 or result.stderr.strip():
            problem("groff warnings:\n" + result.stderr.strip())
    else:
        print("note: groff not installed, typesetting not checked")
    if not problems:
        print(f"wirewatch.1 documents all {len(options)} options of src/main.c")


SVG = "{http://www.w3.org/2000/svg}"
COLOUR_ATTRS = ("fill", "stroke", "stop-color", "color", "flood-color", "lighting-color")


def svg_colours(node):
    colours = [node.get(a) for a in COLOUR_ATTRS if node.get(a)]
    for decl in (node.get("style") or "").split(";"):
        key, _, value = decl.partition(":")
        if key.strip() in COLOUR_ATTRS and value.strip():
            colours.append(value.strip())
    return colours


def check_icons(root):
    base = os.path.join(root, "data", "icons", "hicolor")
    icons = {
        "scalable": os.path.join(base, "scalable", "apps", APP_ID + ".svg"),
        "symbolic": os.path.join(base, "symbolic", "apps", APP_ID + "-symbolic.svg"),
    }
    for kind, path in icons.items():
        if not os.path.isfile(path):
            problem(f"{kind} icon {path} is missing")
            continue
        svg = ET.parse(path).getroot()
        size = "128" if kind == "scalable" else "16"
        if svg.tag != SVG + "svg" or svg.get("viewBox") != f"0 0 {size} {size}":
            problem(f"{os.path.basename(path)}: want an <svg> with viewBox 0 0 {size} {size}")
        for node in svg.iter():
            tag = node.tag.replace(SVG, "")
            # Text depends on installed fonts; bitmaps and links do not scale
            # or may be missing when the icon is installed.
            if tag in ("text", "image", "script", "foreignObject"):
                problem(f"{os.path.basename(path)}: <{tag}> does not belong in an icon")
            for attr, value in node.attrib.items():
                if attr.endswith("href") and not value.startswith("#"):
                    problem(f"{os.path.basename(path)}: external reference {value}")
            if kind == "symbolic":
                # GTK recolours symbolic icons by replacing this one colour;
                # strokes are not recoloured reliably, so only fills.
                for colour in svg_colours(node):
                    if colour.lower() not in ("#2e3436", "none"):
                        problem(f"{os.path.basename(path)}: colour {colour} (only #2e3436)")
                if node.get("stroke") not in (None, "none"):
                    problem(f"{os.path.basename(path)}: uses a stroke; draw filled paths")
    if not problems:
        print("both icons OK")


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    what, root = sys.argv[1], sys.argv[2]
    checks = {
        "manifest": lambda: check_manifest(root),
        "config-opts": lambda: check_config_opts(root),
        "desktop": lambda: check_desktop(root, sys.argv[3]),
        "metainfo": lambda: check_metainfo(root, sys.argv[3]),
        "schemas": lambda: check_schemas(root),
        "man": lambda: check_man(root),
        "icons": lambda: check_icons(root),
    }
    if what not in checks:
        print(__doc__)
        return 2
    checks[what]()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
