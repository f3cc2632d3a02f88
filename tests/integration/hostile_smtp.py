#!/usr/bin/python3
"""hostile_smtp.py - a scriptable, misbehaving SMTP server (raw asyncio
sockets) to test relay's smtp provider against broken or hostile upstreams.

It speaks just enough SMTP to get a client to the point where it misbehaves,
and records what it received:
  DIR/events.jsonl   one JSON object per line: {"conn": N, "cmd": "MAIL FROM:<a@b> SIZE=9"}
                     (AUTH arguments are never recorded), {"conn": N, "eod": CODE,
                     "rcpts": [...], "bytes": N}, {"conn": N, "event": "closed"}
  DIR/NNNNNN.eml/.json  each message answered 2xx at end of data (the .json,
                     written last, holds mail_from, rcpts, connection, tls)

The behaviour comes from a JSON script (--script '{...}' or --script-file F):
  greeting        reply text, default "220 hostile.test ESMTP"; null = never greet
  ehlo            list of EHLO keywords (default PIPELINING, 8BITMIME,
                  ENHANCEDSTATUSCODES, SIZE 52428800); "STARTTLS" needs tls_cert
  tls_cert/tls_key  certificate for STARTTLS
  starttls        "ok" (default) | "garbage" (220, then junk instead of a
                  handshake) | "close" (220, then close)
  reply           {VERB: R} for EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, EOD, RSET,
                  NOOP, QUIT; R is a reply text (lines joined with \\r\\n) or
                  a list used one per use (the last repeats), or an action object
  rcpt            {address: R}: replies per recipient (lower case); default 250
  max_rcpts       answer "452 4.5.3 Too many recipients" after N accepted per transaction
  split           "bytes": every reply written one byte per TCP segment
  drip            seconds between bytes of every reply (a slow server)
  data_action     {"after": N, "action": "reply"|"close"|"reset", "text": ...}:
                  while receiving DATA, after N bytes
  require_auth    MAIL before AUTH gets 530 5.7.0
  stall_data      after 354, never read the body (TCP flow control stops the client)
Action objects: {"action": "close"|"reset"|"hang"} (no reply; close, RST,
or never answer), {"delay": SECONDS, "then": R}, {"junk": BYTES, "line": LEN, "then": R} (BYTES of junk in
lines of LEN characters, 0 = no line ends, then reply R).
Stops on SIGTERM/SIGINT.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import struct
import sys

DEFAULT_EHLO = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 52428800"]


class Conn:
    def __init__(self, srv, reader, writer, n):
        self.srv, self.reader, self.writer, self.n = srv, reader, writer, n
        self.tls = False
        self.authed = False
        self.reset_txn()

    def reset_txn(self):
        self.mail_from = None
        self.rcpts = []

    # ---- output ----------------------------------------------------------
    async def send_raw(self, data):
        s = self.srv.script
        if s.get("split") == "bytes" or s.get("drip"):
            delay = float(s.get("drip") or 0.002)
            for i in range(len(data)):
                self.writer.write(data[i:i + 1])
                await self.writer.drain()
                await asyncio.sleep(delay)
        else:
            self.writer.write(data)
            await self.writer.drain()

    async def reply(self, r):
        """Sends reply R; returns False when the connection must end."""
        if isinstance(r, dict):
            if "delay" in r:
                await asyncio.sleep(float(r["delay"]))
                return await self.reply(r.get("then", "250 2.0.0 ok"))
            if "junk" in r:
                await self.junk(int(r["junk"]), int(r.get("line", 0)))
                return await self.reply(r.get("then", "250 2.0.0 ok"))
            act = r.get("action")
            if act == "close":
                self.writer.close()
                return False
            if act == "reset":
                self.rst()
                return False
            if act == "hang":
                await asyncio.sleep(3600)
                return False
            r = r.get("text", "250 ok")
        await self.send_raw(r.replace("\r\n", "\n").replace("\n", "\r\n").encode() + b"\r\n")
        return True

    async def junk(self, total, line):
        chunk = (b"x" * (line - 2) + b"\r\n") if line > 2 else b"x" * 65536
        sent = 0
        while sent < total:
            part = chunk[:max(1, min(len(chunk), total - sent))]
            self.writer.write(part)
            await self.writer.drain()
            sent += len(part)

    def rst(self):
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def pick(self, verb, default):
        r = self.srv.script.get("reply", {}).get(verb)
        if r is None:
            return default
        return self.srv.take(verb, r)

    # ---- commands ----------------------------------------------------------
    def ehlo_reply(self):
        kws = list(self.srv.script.get("ehlo", DEFAULT_EHLO))
        if self.tls:
            kws = [k for k in kws if k.upper() != "STARTTLS"]
        lines = ["hostile.test greets you"] + kws
        return "\r\n".join(("250-" if i < len(lines) - 1 else "250 ") + l for i, l in enumerate(lines))

    async def run(self):
        greeting = self.srv.script.get("greeting", "220 hostile.test ESMTP")
        if greeting is None:
            await asyncio.sleep(3600)
            return
        if not await self.reply(greeting):
            return
        while True:
            line = await self.reader.readline()
            if not line:
                return
            if len(line) > 4096:
                line = line[:4096]
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = text.split(" ", 1)[0].split(":", 1)[0].upper()
            self.srv.event({"conn": self.n, "cmd": "AUTH" if verb == "AUTH" else text})
            handler = getattr(self, "cmd_" + verb, None)
            ok = await handler(text) if handler else await self.reply("502 5.5.2 unknown command")
            if not ok:
                return

    async def cmd_EHLO(self, text):
        return await self.reply(self.pick("EHLO", self.ehlo_reply()))

    async def cmd_HELO(self, text):
        return await self.reply(self.pick("HELO", "250 hostile.test"))

    async def cmd_NOOP(self, text):
        return await self.reply(self.pick("NOOP", "250 2.0.0 ok"))

    async def cmd_RSET(self, text):
        self.reset_txn()
        return await self.reply(self.pick("RSET", "250 2.0.0 ok"))

    async def cmd_QUIT(self, text):
        await self.reply(self.pick("QUIT", "221 2.0.0 bye"))
        self.writer.close()
        return False

    async def cmd_STARTTLS(self, text):
        s = self.srv.script
        r = self.pick("STARTTLS", "220 2.0.0 go ahead")
        if not await self.reply(r) or not str(r).startswith("220"):
            return not isinstance(r, dict)
        mode = s.get("starttls", "ok")
        if mode == "close":
            self.writer.close()
            return False
        if mode == "garbage":
            await self.send_raw(b"this is not a TLS handshake\r\n" * 4)
            self.writer.close()
            return False
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(s["tls_cert"], s["tls_key"])
        try:
            await self.writer.start_tls(ctx)
        except (ssl.SSLError, OSError, ConnectionError) as e:
            self.srv.event({"conn": self.n, "event": "tls_failed", "why": str(e)[:200]})
            return False
        self.tls = True
        self.reset_txn()
        return True

    async def cmd_AUTH(self, text):
        r = self.pick("AUTH", None)
        if r is not None:
            return await self.reply(r)
        parts = text.split()
        if len(parts) < 3:  # no initial response: ask for it
            if not await self.reply("334 "):
                return False
            await self.reader.readline()
        self.authed = True
        return await self.reply("235 2.7.0 Authentication successful")

    async def cmd_MAIL(self, text):
        if self.srv.script.get("require_auth") and not self.authed:
            return await self.reply("530 5.7.0 Authentication required")
        r = self.pick("MAIL", "250 2.1.0 ok")
        if isinstance(r, str) and r.startswith("2"):
            arg = text[10:] if text.upper().startswith("MAIL FROM:") else ""
            self.mail_from = arg.split(">", 1)[0].lstrip("<")
            self.rcpts = []
        return await self.reply(r)

    async def cmd_RCPT(self, text):
        addr = text.split("<", 1)[1].split(">", 1)[0] if "<" in text else ""
        s = self.srv.script
        per = s.get("rcpt", {})
        if addr.lower() in per:
            r = self.srv.take("rcpt:" + addr.lower(), per[addr.lower()])
        elif s.get("max_rcpts") is not None and len(self.rcpts) >= int(s["max_rcpts"]):
            r = "452 4.5.3 Too many recipients"
        else:
            r = self.pick("RCPT", "250 2.1.5 ok")
        if isinstance(r, str) and r.startswith("2"):
            self.rcpts.append(addr)
        return await self.reply(r)

    async def cmd_DATA(self, text):
        r = self.pick("DATA", "354 End data with <CR><LF>.<CR><LF>")
        if not await self.reply(r):
            return False
        if not (isinstance(r, str) and r.startswith("354")):
            return True
        if self.srv.script.get("stall_data"):  # never read the body: the client's sends block
            await asyncio.sleep(3600)
            return False
        data, ok = await self.read_data()
        if not ok:
            return False
        eod = self.pick("EOD", "250 2.0.0 ok: queued")
        code = int(eod[:3]) if isinstance(eod, str) and eod[:3].isdigit() else 0
        self.srv.event({"conn": self.n, "eod": code, "rcpts": self.rcpts, "bytes": len(data)})
        if 200 <= code < 300:
            self.srv.record(self, data)
        self.reset_txn()
        return await self.reply(eod)

    async def read_data(self):
        act = self.srv.script.get("data_action")
        lines, size = [], 0
        while True:
            line = await self.reader.readline()
            if not line:
                return b"", False
            size += len(line)
            if act and size >= int(act.get("after", 0)):
                self.srv.event({"conn": self.n, "event": "data_action", "at": size})
                if act["action"] == "reset":
                    self.rst()
                    return b"", False
                if act["action"] == "close":
                    self.writer.close()
                    return b"", False
                await self.reply(act.get("text", "554 5.6.0 go away"))
                act = None
                # Keep reading (and dropping) what the client still sends.
                while True:
                    more = await self.reader.readline()
                    if not more or more == b".\r\n":
                        break
                return b"", not self.srv.script.get("close_after_early_reply", True) and bool(more)
            if line == b".\r\n":
                return b"".join(lines), True
            lines.append(line[1:] if line.startswith(b".") else line)


class Server:
    def __init__(self, args):
        self.dir = args.dir
        if args.script_file:
            with open(args.script_file) as f:
                self.script = json.load(f)
        else:
            self.script = json.loads(args.script or "{}")
        self.conns = 0
        self.msgs = 0
        self.used = {}
        os.makedirs(self.dir, exist_ok=True)

    def take(self, key, r):
        if isinstance(r, list):
            i = self.used.get(key, 0)
            self.used[key] = i + 1
            return r[min(i, len(r) - 1)]
        return r

    def event(self, e):
        with open(os.path.join(self.dir, "events.jsonl"), "a") as f:
            f.write(json.dumps(e) + "\n")

    def record(self, conn, data):
        self.msgs += 1
        base = os.path.join(self.dir, "%06d" % self.msgs)
        with open(base + ".eml", "wb") as f:
            f.write(data)
        with open(base + ".json.tmp", "w") as f:
            json.dump({"mail_from": conn.mail_from, "rcpts": conn.rcpts, "connection": conn.n, "tls": conn.tls}, f)
        os.rename(base + ".json.tmp", base + ".json")

    async def handle(self, reader, writer):
        self.conns += 1
        n = self.conns
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(self, reader, writer, n)
        try:
            await c.run()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError, ValueError):
            pass
        finally:
            self.event({"conn": n, "event": "closed"})
            try:
                writer.close()
            except Exception:
                pass


async def main_async(args):
    srv = Server(args)
    server = await asyncio.start_server(srv.handle, args.host, args.port, limit=1 << 20)
    if args.ready_file:
        open(args.ready_file, "w").close()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--dir", required=True)
    p.add_argument("--script")
    p.add_argument("--script-file")
    p.add_argument("--ready-file")
    asyncio.run(main_async(p.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
