#!/usr/bin/python3
"""docs/operator-guide.md stays true of the code: every `relayctl COMMAND`
it uses is a command of `relayctl help`, and every message it quotes in its
tables of notices, log lines and relayctl errors (sections 7 and 8) is still
in the sources (each literal piece between placeholders such as ID, FILE,
X or `...` must occur in a string literal of admin-cli/, spool/, common/,
dispatcher/ or receiver/). Section 12 (features documented elsewhere) is
not checked. Each check is also run on an edited copy to show it fails.
"""
import glob
import os
import re
import subprocess

from relaytest import BUILD, SRC, run_tests

GUIDE = os.path.join(SRC, "docs", "operator-guide.md")
PLACEHOLDER = re.compile(r"\b(?:[A-Z][A-Z0-9_]*[A-Z0-9]|[A-Z])\b|\.\.\.|<[^>]*>")
SEPARATORS = re.compile(r': |, |"|\(|\)|\[|\]|\||\\')


def guide_text():
    with open(GUIDE) as f:
        text = f.read()
    return text[:text.index("## 12 Features documented elsewhere")]


def source_text():
    out = []
    for d in ["admin-cli", "spool", "common", "dispatcher", "receiver"]:
        for f in glob.glob(os.path.join(SRC, d, "**", "*.[ch]pp"), recursive=True):
            with open(f) as fh:
                out.append(fh.read())
    # "a" "b" across lines is one literal; \" is a quote.
    return re.sub(r'"\s*\n\s*"', "", "\n".join(out)).replace('\\"', '"')


def fragments(message):
    """Literal pieces of a quoted message (at least 6 characters)."""
    out = []
    for part in PLACEHOLDER.split(message.replace("\\|", "|")):
        for piece in SEPARATORS.split(part):
            piece = piece.strip(" ,'/")
            if len(piece) >= 6:
                out.append(piece)
    return out


def quoted_messages(text):
    """Backticked text in the first column of the tables of sections 7 and 8."""
    section = text[text.index("## 7 Notices"):text.index("## 9 Monitoring")]
    out = []
    for line in section.splitlines():
        if line.startswith("| `"):
            out += re.findall(r"`([^`]+)`", line.split(" | ")[0][2:])
    return out


def missing_messages(text, code):
    return [(f, m) for m in quoted_messages(text) for f in fragments(m) if f not in code]


def relayctl_commands():
    r = subprocess.run([os.path.join(BUILD, "admin-cli", "relayctl"), "help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return {line.strip().split(" [")[0].split(" --")[0].split(" ID")[0].split(" NAME")[0]
            for line in r.stdout.splitlines() if line.startswith("  ") and not line.startswith("      ")
            and not line.strip().startswith("-c")}


def unknown_commands(text, commands):
    used = set()
    # relayctl as written in code: in backticks, at the start of a shell line, after sudo.
    pattern = r"(?:`|^|sudo (?:-u relay )?)relayctl (?:-c \S+ )?([a-z][a-z-]*)(?: ([a-z][a-z-]*))?"
    for m in re.finditer(pattern, text, re.M):
        one, two = m.group(1), f"{m.group(1)} {m.group(2)}" if m.group(2) else None
        if two in commands or one in commands:
            continue
        if any(c.startswith(one + " ") for c in commands) and m.group(2) is None:
            continue  # "relayctl queue" as a family name
        used.add(two or one)
    return sorted(used)


def test_quoted_messages_are_in_the_code():
    text, code = guide_text(), source_text()
    msgs = quoted_messages(text)
    assert len(msgs) >= 50, len(msgs)
    missing = missing_messages(text, code)
    assert not missing, "quoted in the guide but not in the code:\n" + "\n".join(f"  {f!r} of {m!r}" for f, m in missing)
    edited = text.replace("relayctl: passwords do not match", "relayctl: the passwords differ")
    assert ("the passwords differ", "relayctl: the passwords differ") in missing_messages(edited, code)


def test_relayctl_commands_exist():
    commands = relayctl_commands()
    assert {"queue list", "config check", "hash-password", "secrets", "provider test", "config keys"} <= commands, commands
    text = guide_text()
    assert not unknown_commands(text, commands), unknown_commands(text, commands)
    assert unknown_commands(text + "\nrun `relayctl queue purge`\nsudo relayctl frobnicate\n", commands) == [
        "frobnicate", "queue purge"]


if __name__ == "__main__":
    run_tests([test_quoted_messages_are_in_the_code, test_relayctl_commands_exist])
