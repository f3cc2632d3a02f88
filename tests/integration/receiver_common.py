"""Helpers shared by the receiver_*.py integration scripts.

Does: builds a Relay (no database) with receiver listeners of each TLS mode,
speaks raw SMTP over plain/TLS sockets (for what smtplib cannot do: smuggling,
pipelining, BDAT, partial lines), reads spool entries back (envelope parse +
checksum verification, data file, Received: split) and hashes passwords in
the receiver's `$pbkdf2-sha256$` format.
Does not: start PostgreSQL or a dispatcher.
Fails: assertions (AssertionError) with the reply that was wrong.
"""
import base64
import hashlib
import os
import re
import smtplib
import socket
import ssl
import subprocess
import time
import urllib.parse
import zlib

import relaytest
from relaytest import Relay, free_port, wait_for, wait_port  # noqa: F401 (re-exported)
from tlsutil import client_context, make_certs

QUEUED_RE = re.compile(r"queued as ([0-9A-Za-z]+)")
ENH_RE = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")


# ---------------------------------------------------------------- relay setup

def make_relay(overrides=None, extra_listeners=(), tls=False):
    """A Relay with one plain listener (r.port) plus one per mode in
    extra_listeners ('starttls', 'starttls-required', 'implicit', 'none');
    r.ports maps mode -> port. TLS material is generated when needed."""
    r = Relay(overrides, db=False)
    r.ports = {"none": r.port}
    if tls or extra_listeners:
        r.certs = make_certs(r.dir)
        r.cfg["receiver"].setdefault("tls", {})
        r.cfg["receiver"]["tls"].update({"cert_file": r.certs.cert, "key_file": r.certs.key})
    for mode in extra_listeners:
        p = free_port()
        r.cfg["receiver"]["listeners"].append({"address": f"127.0.0.1:{p}", "tls": mode})
        r.ports[mode] = p
    r.write_config()
    return r


def start(r):
    """Starts the receiver and waits for every listener."""
    p = r.start_receiver()
    for port in r.ports.values():
        wait_port(port)
    return p


def ctx(r, verify=True):
    return client_context(r.certs, verify)


# ----------------------------------------------------------- password hashes

def hash_password(password, iterations=20000):
    """`$pbkdf2-sha256$i=N$<salt b64>$<hash b64>` exactly as common/password.cpp
    makes and verifies it: PBKDF2-HMAC-SHA256, 16-byte salt, 32-byte key,
    standard base64 alphabet WITHOUT '=' padding."""
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, 32)
    b64 = lambda b: base64.b64encode(b).decode().rstrip("=")  # noqa: E731
    return f"$pbkdf2-sha256$i={iterations}${b64(salt)}${b64(dk)}"


def relayctl_hash(password):
    """The hash from `relayctl hash-password` if relayctl exists, else ours."""
    if os.path.exists(relaytest.RELAYCTL):
        try:
            p = subprocess.run([relaytest.RELAYCTL, "hash-password"], input=password + "\n",
                               capture_output=True, text=True, timeout=60)
            h = [ln for ln in p.stdout.split() if ln.startswith("$pbkdf2-sha256$")]
            if p.returncode == 0 and h:
                return h[-1]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return hash_password(password)


# ------------------------------------------------------------- raw SMTP client

class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines
        self.text = "\n".join(lines)
        m = ENH_RE.match(lines[-1]) if lines else None
        self.enh = m.group(1) if m else ""

    def qid(self):
        m = QUEUED_RE.search(self.text)
        return m.group(1) if m else None

    def __repr__(self):
        return f"<{self.code} {self.text!r}>"


def expect(reply, code, enh=None, what=""):
    """Asserts reply code (int, or a 1-digit class like 4/5) and enhanced code."""
    ok = reply is not None and (reply.code == code if code >= 100 else reply.code // 100 == code)
    if ok and enh is not None:
        ok = reply.enh == enh
    if not ok:
        raise AssertionError(f"{what}: expected {code} {enh or ''}, got {reply!r}")
    return reply


class Smtp:
    """A line-level SMTP client on a raw socket. implicit=ssl context wraps at
    connect; source= binds a local loopback address (127.0.0.x)."""

    def __init__(self, port, host="127.0.0.1", source=None, implicit=None, timeout=10.0, greet=True):
        self.sock = socket.create_connection((host, port), timeout,
                                             source_address=(source, 0) if source else None)
        self.timeout = timeout
        if implicit is not None:
            self.sock = implicit.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def reply(self, timeout=None):
        """Next reply; EOFError if the server closed before a full reply."""
        lines = []
        timeout = self.timeout if timeout is None else timeout
        while True:
            while b"\r\n" not in self.buf and b"\n" not in self.buf:
                self._fill(timeout)
            i = self.buf.find(b"\n")
            raw, self.buf = self.buf[:i + 1], self.buf[i + 1:]
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if len(line) < 3 or not line[:3].isdigit():
                raise AssertionError(f"malformed reply line {line!r}")
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return Reply(int(line[:3]), lines)

    def try_reply(self, timeout=None):
        """Next reply, or None when the server closed (or reset) the connection."""
        try:
            return self.reply(timeout)
        except (EOFError, ConnectionResetError, BrokenPipeError):
            return None

    def cmd(self, line, timeout=None):
        self.send(line + "\r\n")
        return self.reply(timeout)

    def ehlo(self, name="client.test"):
        r = self.cmd(f"EHLO {name}")
        expect(r, 250, what="EHLO")
        return r

    def starttls(self, context):
        expect(self.cmd("STARTTLS"), 220, what="STARTTLS")
        assert self.buf == b"", f"server sent data after 220 STARTTLS: {self.buf!r}"
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")

    def closed_by_server(self, timeout=5.0):
        """True when the server closes the connection within timeout (drains data)."""
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                self.sock.settimeout(max(0.05, deadline - time.time()))
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, ssl.SSLError):
            return False
        except OSError:
            return True
        return False

    def all_replies(self, timeout=5.0):
        """Every reply until the server closes the connection or goes quiet."""
        out = []
        while True:
            try:
                out.append(self.reply(timeout))
            except (EOFError, ConnectionResetError, BrokenPipeError, socket.timeout, ssl.SSLError):
                return out

    def send_mail(self, mail_from, rcpts, body, params=""):
        """MAIL/RCPT/DATA with dot-stuffing of body (bytes with CRLF lines)."""
        expect(self.cmd(f"MAIL FROM:<{mail_from}>{' ' + params if params else ''}"), 250, what="MAIL")
        for rc in rcpts:
            expect(self.cmd(f"RCPT TO:<{rc}>"), 250, what="RCPT")
        expect(self.cmd("DATA"), 354, what="DATA")
        self.send(dot_stuff(body) + b".\r\n")
        return self.reply()


def dot_stuff(body):
    if isinstance(body, str):
        body = body.encode()
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    out = b"\r\n".join((b"." + ln if ln.startswith(b".") else ln) for ln in body.split(b"\r\n"))
    return out


def simple_message(token="hello", frm="app@example.com", to="user@example.org", subject="test"):
    return (f"From: <{frm}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{token}@test>\r\n\r\n"
            f"body {token}\r\n").encode()


# ------------------------------------------------------------------ the spool

def parse_envelope(raw):
    """Parses a `relay-envelope 1` file: returns dict key -> [values] (decoded
    str), plus '_crc_ok' and '_end'. Raises AssertionError when malformed."""
    assert raw.startswith(b"relay-envelope 1\n"), f"bad envelope head: {raw[:40]!r}"
    body = raw.rstrip(b"\n")
    i = body.rfind(b"\n")
    last = body[i + 1:]
    assert last.startswith(b"end "), f"envelope has no end line: {raw[-60:]!r}"
    crc_ok = zlib.crc32(raw[:i + 1]) == int(last[4:].strip(), 16)
    fields = {}
    for line in raw[:i + 1].split(b"\n")[1:]:
        if not line:
            continue
        k, _, v = line.partition(b":")
        if v.startswith(b" "):
            v = v[1:]
        if k == b"rcpt":
            fields.setdefault("_rcpt_raw", []).append(v)
        fields.setdefault(k.decode().strip(), []).append(
            urllib.parse.unquote_to_bytes(v).decode("utf-8", "replace"))
    fields["_crc_ok"] = crc_ok
    return fields


def env_get(fields, *keys):
    for k in keys:
        if k in fields and fields[k]:
            return fields[k][0]
    return None


def env_size(fields):
    v = env_get(fields, "size")
    return int(v) if v is not None else None


def env_crc(fields):
    """The data checksum (hex or decimal) as int; None if absent."""
    for k in fields:
        if k.startswith("_") or "crc" not in k.lower() and "checksum" not in k.lower():
            continue
        v = fields[k][0].strip().lower()
        v = v.split(":")[-1]
        try:
            return int(v, 16)
        except ValueError:
            return None
    return None


def env_rcpt_records(fields):
    """Each `rcpt:` line as a dict (state, to, params, reply), %-decoded."""
    out = []
    for raw in fields.get("_rcpt_raw", []):
        rec = {}
        for tok in raw.split(b" "):
            k, _, v = tok.partition(b"=")
            rec[k.decode()] = urllib.parse.unquote_to_bytes(v).decode("utf-8", "replace")
        out.append(rec)
    return out


def env_rcpts(fields):
    """Recipient addresses in envelope order."""
    return [rec.get("to", "") for rec in env_rcpt_records(fields)]


def spool_ids(r, state="new"):
    return [f[:-4] for f in r.spool_entries(state)]


def entry(r, qid, state="new"):
    """(envelope fields, data bytes) of a committed entry; asserts integrity."""
    envp = r.spool_path(state, qid)
    datap = r.spool_path("data", qid, ".eml")
    assert os.path.exists(envp), f"{qid}: no {state}/{qid}.env"
    assert os.path.exists(datap), f"{qid}: no data/{qid}.eml"
    with open(envp, "rb") as f:
        fields = parse_envelope(f.read())
    with open(datap, "rb") as f:
        data = f.read()
    assert fields["_crc_ok"], f"{qid}: envelope end-line checksum wrong"
    size = env_size(fields)
    assert size == len(data), f"{qid}: envelope size {size} != data file size {len(data)}"
    crc = env_crc(fields)
    assert crc == zlib.crc32(data), f"{qid}: envelope crc {crc} != crc32 of data {zlib.crc32(data):08x}"
    return fields, data


def split_received(data):
    """(Received header bytes, rest). Asserts the data starts with Received:."""
    assert data.startswith(b"Received:"), f"data does not start with Received: {data[:80]!r}"
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        assert nl >= 0, "unterminated Received header"
        pos = nl + 1
        if data[pos:pos + 1] not in (b" ", b"\t"):
            return data[:pos], data[pos:]


def assert_spooled_body(r, qid, sent):
    """The entry's data is Received: + exactly `sent` (CRLF bytes, unstuffed)."""
    fields, data = entry(r, qid)
    hdr, rest = split_received(data)
    assert rest == sent, f"{qid}: body differs\n sent {sent[:300]!r}\n got  {rest[:300]!r}"
    return fields, hdr


# ------------------------------------------------------------ normal clients

def smtplib_send(port, token, frm="app@example.com", to="user@example.org", tls=None, implicit=None,
                 login=None, source=None):
    """Sends one message with smtplib; returns (code, text, qid)."""
    kw = {"source_address": (source, 0)} if source else {}
    if implicit is not None:
        s = smtplib.SMTP_SSL("localhost", port, context=implicit, timeout=10, **kw)
    else:
        s = smtplib.SMTP("127.0.0.1", port, timeout=10, **kw)
    try:
        s.ehlo("client.test")
        if tls is not None:
            s.starttls(context=tls)
            s.ehlo("client.test")
        if login:
            s.login(*login)
        code, text = s.mail(frm)
        assert code == 250, f"MAIL: {code} {text!r}"
        code, text = s.rcpt(to)
        assert code == 250, f"RCPT: {code} {text!r}"
        code, text = s.data(simple_message(token, frm, to))
        text = text.decode(errors="replace")
        m = QUEUED_RE.search(text)
        return code, text, (m.group(1) if m else None)
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            s.close()


def assert_serves(r, port=None, what="server still serves a normal client", frm="app@example.com"):
    """A normal client gets its message accepted and spooled."""
    token = "alive" + os.urandom(4).hex()
    code, text, qid = smtplib_send(port or r.port, token, frm=frm)
    assert code == 250 and qid, f"{what}: {code} {text}"
    fields, data = entry(r, qid)
    assert token.encode() in data, f"{what}: token missing from spooled data"
    return qid


def pids_alive(p):
    return p.poll() is None
