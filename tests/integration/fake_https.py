"""fake_https — what the local stand-ins for cloud endpoints (fake_graph.py,
fake_gmail.py) share: a per-run test CA and server certificate, base64url,
and FakeHttps, a threaded HTTPS server on 127.0.0.1 with a lock and a table
of injected faults that a test arms (add_fault) and the handler consumes
(take_fault). The wire formats themselves stay in each fake."""
import base64
import itertools
import os
import re
import ssl
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer


def make_ca(d):
    """Test CA + server certificate for 127.0.0.1/localhost; returns (ca, cert, key)."""
    ca, cakey = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    cert, key = os.path.join(d, "server.pem"), os.path.join(d, "server.key")
    if os.path.exists(cert):
        return ca, cert, key
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cakey, "-out", ca, "-days", "2",
        "-subj", "/CN=relay fake endpoint test CA")
    csr = os.path.join(d, "server.csr")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", ext)
    return ca, cert, key


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that timed out or a cut we injected: the peer is gone,
        # nothing to report. Anything else is a bug in the fake: print it.
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


class FakeHttps:
    """Base of the fakes: self.lock, self.faults, self.ca (the CA file a
    client must trust), self.port, self.url; start()/stop()."""

    def __init__(self, d, handler, port=0):
        self.lock = threading.Lock()
        self.faults = []
        self.calls = []  # answered requests, in the order they ARRIVED (see record_call)
        self._seq = itertools.count()
        self.ca, cert, key = make_ca(d)
        self.httpd = QuietServer(("127.0.0.1", port), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def arrived(self):
        """A number for a request that has just arrived (before it is answered)."""
        with self.lock:
            return next(self._seq)

    def record_call(self, seq, rec):
        """Adds an answered request's record in arrival order: a request cut
        or answered late must not appear after the one the client sent
        because of it (e.g. the status query after a cut upload)."""
        with self.lock:
            rec["seq"] = seq
            i = len(self.calls)
            while i > 0 and self.calls[i - 1]["seq"] > seq:
                i -= 1
            self.calls.insert(i, rec)

    def add_fault(self, path_re, count=1, **action):
        """The next COUNT requests whose "METHOD path" matches PATH_RE get
        ACTION instead of a normal answer (keys are the fake's own: status,
        retry_after, delay, cut, ...)."""
        with self.lock:
            self.faults.append({"re": re.compile(path_re), "count": count, **action})

    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f["count"] > 0 and f["re"].search(f"{method} {path}"):
                    f["count"] -= 1
                    return dict(f)
        return None
