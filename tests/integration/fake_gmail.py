"""A local fake of Google's OAuth 2.0 token endpoint and the Gmail API send
endpoints, over HTTPS with a test CA made by openssl at start.

It checks what the real services check (documented wire formats):
- POST /token (form encoded):
  * grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT:
    RS256 signature verified with the service account's PUBLIC key, header
    alg/typ/kid, claims iss = client_email, scope (space separated, each
    scope delegated to the client in "the Admin console" = self.delegated),
    aud = the token URL, iat within 5 min of now, exp - iat <= 3600, sub =
    an existing Workspace user (else invalid_grant).
  * grant_type=refresh_token: client_id/client_secret (401 invalid_client),
    refresh_token (400 invalid_grant "Token has been expired or revoked.").
  Answers {"access_token","expires_in","scope","token_type":"Bearer"}.
- Gmail API, Bearer checked (401 authError) and scope checked (403
  insufficientPermissions):
  * POST /upload/gmail/v1/users/{userId}/messages/send?uploadType=media,
    Content-Type message/rfc822, userId = "me" or the token's user; the raw
    message must have recipients in To/Cc/Bcc (400 invalidArgument), at most
    35 MB (413) and 100 recipients (400). 200 {"id","threadId","labelIds"}.
  * ?uploadType=resumable: X-Upload-Content-Type message/rfc822 and
    X-Upload-Content-Length; 200 + Location session URI. PUT session: the
    whole body, or "Content-Range: bytes a-b/N" continuing exactly where
    the stored bytes end; "bytes */N" = status query (308 + Range, or 200
    when complete). An upload that does not continue at the stored offset
    is a recorded violation.
  * GET users/{u}/profile, GET users/{u}/settings/sendAs (read scopes).
  Gmail rewrites a From that is not a verified send-as alias: recorded in
  sent[i]["from_rewritten"].
- Per-user concurrency (fault mode): concurrency_limit = N answers 429
  rateLimitExceeded to a media send above N in flight for one user;
  latency holds each send that long; max_inflight/throttled record it.
- Faults: add_fault(path_re, count=1, status=, reason=, message=,
  retry_after=, delay=, cut=True (close without answer), cut_after=K (PUT:
  keep K bytes then close), commit_then_cut=True (PUT: store everything,
  send, then close without answer), token_error="invalid_grant").
- Records: token_requests, sent, calls, violations.

Use in-process: FakeGmail(dir, sa_public_pem=..., client_email=...).start().
"""
import email
import email.parser
import email.policy
import email.utils
import json
import os
import re
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fake_https import FakeHttps, b64url_decode

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SEND = "https://www.googleapis.com/auth/gmail.send"
SCOPES_SEND = {SEND, "https://mail.google.com/", "https://www.googleapis.com/auth/gmail.compose",
               "https://www.googleapis.com/auth/gmail.modify"}
SCOPES_PROFILE = {"https://mail.google.com/", "https://www.googleapis.com/auth/gmail.readonly",
                  "https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.compose",
                  "https://www.googleapis.com/auth/gmail.metadata"}
SCOPES_SENDAS = {"https://mail.google.com/", "https://www.googleapis.com/auth/gmail.readonly",
                 "https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.settings.basic"}
MAX_MESSAGE = 35 * 1024 * 1024


def make_service_account(directory, client_email="relay-sa@relay-test.iam.gserviceaccount.com", token_uri=""):
    """A throwaway service-account key file (RSA 2048). Returns (path, public_pem, info)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    info = {"type": "service_account", "project_id": "relay-test", "private_key_id": uuid.uuid4().hex,
            "private_key": pem, "client_email": client_email, "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri}
    path = os.path.join(directory, "sa.json")
    with open(path, "w") as f:
        json.dump(info, f)
    os.chmod(path, 0o600)
    return path, pub, info


def header_fields(raw):
    """The header block only: the fake reads recipients and From from it, and
    a hostile body (thousands of nested multiparts) cannot break the fake."""
    return email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)


class FakeGmail(FakeHttps):
    def __init__(self, d, sa_public_pem=None, sa_info=None, users=("relay@example.com", "scan@example.com"),
                 delegated=(SEND,), client_id="client-1.apps.googleusercontent.com", client_secret="gsecret",
                 refresh_token="1//refresh-abc", refresh_user="scan@example.com", refresh_scopes=(SEND,),
                 aliases=None, expires_in=3599):
        self.sa_key = serialization.load_pem_public_key(sa_public_pem) if sa_public_pem else None
        self.sa_info = sa_info or {}
        self.users = set(u.lower() for u in users)
        self.delegated = set(delegated)
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_token, self.refresh_user, self.refresh_scopes = refresh_token, refresh_user, set(refresh_scopes)
        self.aliases = {u: set() for u in self.users}  # user -> verified extra send-as addresses
        for u, a in (aliases or {}).items():
            self.aliases[u.lower()] = set(x.lower() for x in a)
        self.expires_in = expires_in
        self.tokens = {}          # token -> {"user", "scopes", "exp"}
        self.token_requests = []  # {"grant", "sub", "ok", "error"}
        self.sent = []            # {"user", "raw", "via", "id", "from_rewritten"}
        # self.calls (FakeHttps): {"method", "path", "status", "seq"} per answered request, in arrival order
        self.violations = []
        self.sessions = {}        # upload_id -> {"user", "total", "data", "done"}
        # Per-user concurrency on messages/send (media): Gmail answers 429
        # "Too many concurrent requests for user" above its limit.
        self.concurrency_limit = None  # None = no limit; N = 429 for the (N+1)th request in flight per user
        self.latency = 0.0        # seconds each media send takes (holds the user's slot)
        self.inflight = {}        # user -> requests in flight now
        self.max_inflight = {}    # user -> most ever in flight
        self.throttled = 0        # 429s answered for concurrency
        super().__init__(d, _handler(self))
        self.token_url = self.url + "/token"

    def expire_tokens(self):
        with self.lock:
            for t in self.tokens.values():
                t["exp"] = 0

    def violation(self, text):
        with self.lock:
            self.violations.append(text)

    def issue(self, user, scopes):
        tok = "ya29." + uuid.uuid4().hex
        with self.lock:
            self.tokens[tok] = {"user": user, "scopes": set(scopes), "exp": time.time() + self.expires_in}
        return tok

    # ---- token endpoint logic (returns (status, body))
    def check_assertion(self, jwt):
        """(user, scopes) or raises ValueError(error, description)."""
        parts = jwt.split(".")
        if len(parts) != 3:
            raise ValueError("invalid_grant", "Invalid JWT: not three segments")
        head, claims = json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))
        if head.get("alg") != "RS256" or head.get("typ") != "JWT":
            raise ValueError("invalid_grant", "Invalid JWT header")
        if head.get("kid") not in (None, self.sa_info.get("private_key_id")):
            raise ValueError("invalid_grant", "Invalid JWT Signature.")
        try:
            self.sa_key.verify(b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(),
                               hashes.SHA256())
        except InvalidSignature:
            raise ValueError("invalid_grant", "Invalid JWT Signature.")
        if claims.get("iss") != self.sa_info.get("client_email"):
            raise ValueError("invalid_client", "The OAuth client was not found.")
        if claims.get("aud") != self.token_url:
            raise ValueError("invalid_grant", "Invalid JWT: aud is not the token endpoint")
        now, iat, exp = time.time(), claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or abs(iat - now) > 300 or not (0 < exp - iat <= 3600):
            raise ValueError("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                                              "reasonable timeframe. Check your iat and exp values")
        scopes = set((claims.get("scope") or "").split())
        if not scopes:
            raise ValueError("invalid_scope", "Empty or missing scope not allowed.")
        sub = (claims.get("sub") or "").lower()
        if not sub:
            raise ValueError("invalid_grant", "service accounts have no Gmail mailbox: sub is required")
        if not scopes <= self.delegated:
            raise ValueError("unauthorized_client", "Client is unauthorized to retrieve access tokens using this "
                                                    "method, or client not authorized for any of the scopes requested.")
        if sub not in self.users:
            raise ValueError("invalid_grant", "Invalid email or User ID")
        return sub, scopes

    def token(self, form):
        grant = form.get("grant_type", "")
        rec = {"grant": grant, "sub": None, "ok": False, "error": None}
        try:
            if grant == JWT_BEARER:
                if set(form) != {"grant_type", "assertion"}:
                    raise ValueError("invalid_request", f"unexpected fields {sorted(form)}")
                user, scopes = self.check_assertion(form["assertion"])
                rec["sub"] = user
            elif grant == "refresh_token":
                if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                    raise ValueError("invalid_client", "Unauthorized")
                if form.get("refresh_token") != self.refresh_token:
                    raise ValueError("invalid_grant", "Token has been expired or revoked.")
                user, scopes = self.refresh_user, self.refresh_scopes
                rec["sub"] = user
            else:
                raise ValueError("unsupported_grant_type", "Invalid grant_type: " + grant)
        except ValueError as e:
            rec["error"] = e.args[0]
            with self.lock:
                self.token_requests.append(rec)
            return (401 if e.args[0] == "invalid_client" else 400), {"error": e.args[0], "error_description": e.args[1]}
        rec["ok"] = True
        with self.lock:
            self.token_requests.append(rec)
        tok = self.issue(user, scopes)
        return 200, {"access_token": tok, "expires_in": self.expires_in, "scope": " ".join(sorted(scopes)),
                     "token_type": "Bearer"}

    # ---- Gmail message checks
    def accept_message(self, user, raw, via):
        """(status, body) for a complete raw message sent as `user`."""
        if len(raw) > MAX_MESSAGE:
            return 413, api_error(413, "Request Entity Too Large", "REQUEST_ENTITY_TOO_LARGE", "uploadTooLarge")
        msg = header_fields(raw)
        rcpts = []
        for h in ("To", "Cc", "Bcc"):
            for v in msg.get_all(h) or []:
                rcpts += [a for _, a in email.utils.getaddresses([str(v)]) if a]
        if not rcpts:
            return 400, api_error(400, "Recipient address required", "INVALID_ARGUMENT", "invalidArgument")
        if len(set(a.lower() for a in rcpts)) > 100:
            return 400, api_error(400, "Too many recipients", "INVALID_ARGUMENT", "invalidArgument")
        if not raw.endswith(b"\n") and b"\r\n\r\n" not in raw:
            self.violation("message without header/body separator")
        frm = email.utils.parseaddr(str(msg["From"] or ""))[1].lower()
        rewritten = frm != user and frm not in self.aliases.get(user, set())
        mid = uuid.uuid4().hex[:16]
        with self.lock:
            self.sent.append({"user": user, "raw": raw, "via": via, "id": mid, "from_rewritten": rewritten,
                              "rcpts": rcpts})
        return 200, {"id": mid, "threadId": mid, "labelIds": ["SENT"]}


def api_error(code, message, status, reason, domain="global"):
    return {"error": {"code": code, "message": message, "status": status,
                      "errors": [{"message": message, "domain": domain, "reason": reason}]}}


def _handler(fg):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, status, obj=None, headers=None):
            self.status_sent = status
            body = json.dumps(obj).encode() if obj is not None else b""
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if obj is not None:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def cut(self):
            # A partial answer, then the connection drops: the client sees a
            # transport error (libcurl does not silently replay a request
            # once it got bytes back on a reused connection).
            self.status_sent = -1
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"partial\":")
                self.wfile.flush()
            except OSError:
                pass
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

        def do_GET(self):
            self.dispatch("GET")

        def do_POST(self):
            self.dispatch("POST")

        def do_PUT(self):
            self.dispatch("PUT")

        def dispatch(self, method):
            seq = fg.arrived()
            self.status_sent = 0
            try:
                self.route(method)
            finally:
                fg.record_call(seq, {"method": method, "path": self.path, "status": self.status_sent})

        def route(self, method):
            parsed = urllib.parse.urlsplit(self.path)
            path, query = parsed.path, dict(urllib.parse.parse_qsl(parsed.query))
            fault = fg.take_fault(method, self.path)
            if fault and fault.get("delay"):
                time.sleep(fault["delay"])
            if fault and fault.get("cut"):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                return self.cut()
            if fault and fault.get("cut_after") is not None:
                return self.upload_put(query, fault)
            n = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(n) if n else b""
            if fault and fault.get("token_error"):
                return self.reply(fault.get("status", 400), {"error": fault["token_error"],
                                                             "error_description": fault.get("message", "injected")})
            if fault and fault.get("status"):
                hdr = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") is not None else {}
                return self.reply(fault["status"], api_error(fault["status"], fault.get("message", "injected"),
                                                             fault.get("gstatus", "UNAVAILABLE"),
                                                             fault.get("reason", "backendError")), hdr)
            if path == "/token" and method == "POST":
                if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    fg.violation("token request not form encoded")
                form = dict(urllib.parse.parse_qsl(data.decode(), keep_blank_values=True))
                status, body = fg.token(form)
                return self.reply(status, body)
            m = re.match(r"^(/upload)?/gmail/v1/users/([^/]+)/(.*)$", path)
            if not m:
                return self.reply(404, api_error(404, "Not Found", "NOT_FOUND", "notFound"))
            return self.api(method, bool(m.group(1)), urllib.parse.unquote(m.group(2)).lower(), m.group(3), query,
                            data, fault)

        def auth(self, user_id, scopes_needed):
            """The token's user, or None after answering 401/403/400."""
            h = self.headers.get("Authorization", "")
            with fg.lock:
                t = fg.tokens.get(h[7:]) if h.startswith("Bearer ") else None
                t = dict(t) if t else None
            if not t or t["exp"] < time.time():
                self.reply(401, api_error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED",
                                          "authError"), {"WWW-Authenticate": "Bearer realm=\"https://accounts.google.com/\""})
                return None
            if not (t["scopes"] & scopes_needed):
                self.reply(403, api_error(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED",
                                          "insufficientPermissions"))
                return None
            if user_id not in ("me", t["user"]):
                self.reply(403, api_error(403, "Delegation denied for " + t["user"], "PERMISSION_DENIED", "forbidden"))
                return None
            return t["user"]

        def api(self, method, upload, user_id, rest, query, data, fault):
            if method == "PUT" and upload and query.get("upload_id"):
                return self.upload_put(query, fault, data)
            if method == "POST" and upload and rest == "messages/send":
                user = self.auth(user_id, SCOPES_SEND)
                if not user:
                    return
                kind = query.get("uploadType")
                if kind == "media":
                    if self.headers.get("Content-Type", "").split(";")[0].strip() != "message/rfc822":
                        fg.violation("media upload without Content-Type message/rfc822")
                        return self.reply(400, api_error(400, "Media type not supported", "INVALID_ARGUMENT",
                                                         "badContent"))
                    return self.reply(*self.media_send(user, data))
                if kind == "resumable":
                    return self.start_session(user, user_id)
                return self.reply(400, api_error(400, "uploadType missing", "INVALID_ARGUMENT", "invalidArgument"))
            if method == "GET" and not upload and rest == "profile":
                user = self.auth(user_id, SCOPES_PROFILE)
                if user:
                    self.reply(200, {"emailAddress": user, "messagesTotal": 3, "threadsTotal": 2, "historyId": "99"})
                return
            if method == "GET" and not upload and rest == "settings/sendAs":
                user = self.auth(user_id, SCOPES_SENDAS)
                if user:
                    lst = [{"sendAsEmail": user, "displayName": "", "isPrimary": True, "isDefault": True}]
                    lst += [{"sendAsEmail": a, "isPrimary": False, "verificationStatus": "accepted"}
                            for a in sorted(fg.aliases.get(user, ()))]
                    lst.append({"sendAsEmail": "pending@example.com", "verificationStatus": "pending"})
                    self.reply(200, {"sendAs": lst})
                return
            self.reply(404, api_error(404, "Requested entity was not found.", "NOT_FOUND", "notFound"))

        def media_send(self, user, data):
            with fg.lock:
                n = fg.inflight.get(user, 0) + 1
                fg.inflight[user] = n
                fg.max_inflight[user] = max(fg.max_inflight.get(user, 0), n)
            try:
                if fg.latency:
                    time.sleep(fg.latency)
                if fg.concurrency_limit is not None and n > fg.concurrency_limit:
                    with fg.lock:
                        fg.throttled += 1
                    return 429, api_error(429, "Too many concurrent requests for user.", "RESOURCE_EXHAUSTED",
                                          "rateLimitExceeded")
                return fg.accept_message(user, data, "media")
            finally:  # the slot is free once the answer is made, before it is sent
                with fg.lock:
                    fg.inflight[user] -= 1

        def start_session(self, user, user_id):
            if self.headers.get("X-Upload-Content-Type") != "message/rfc822":
                fg.violation("resumable start without X-Upload-Content-Type: message/rfc822")
                return self.reply(400, api_error(400, "Media type not supported", "INVALID_ARGUMENT", "badContent"))
            try:
                total = int(self.headers.get("X-Upload-Content-Length"))
            except (TypeError, ValueError):
                fg.violation("resumable start without X-Upload-Content-Length")
                total = None
            if total is not None and total > MAX_MESSAGE:
                return self.reply(413, api_error(413, "Request Entity Too Large", "REQUEST_ENTITY_TOO_LARGE",
                                                 "uploadTooLarge"))
            uid = uuid.uuid4().hex
            with fg.lock:
                fg.sessions[uid] = {"user": user, "total": total, "data": bytearray(), "done": None}
            loc = f"{fg.url}/upload/gmail/v1/users/{urllib.parse.quote(user_id)}/messages/send?uploadType=resumable" \
                  f"&upload_id={uid}"
            self.reply(200, None, {"Location": loc, "X-GUploader-UploadID": uid})

        def upload_put(self, query, fault, data=None):
            with fg.lock:
                s = fg.sessions.get(query.get("upload_id", ""))
            if s is None:
                if data is None:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                return self.reply(404, api_error(404, "upload session not found", "NOT_FOUND", "notFound"))
            if self.headers.get("Authorization", "").startswith("Bearer "):
                t = fg.tokens.get(self.headers["Authorization"][7:])
                if not t or t["exp"] < time.time():
                    fg.violation("PUT with an invalid bearer token")
            rng = self.headers.get("Content-Range", "")
            total = s["total"]
            if rng.startswith("bytes */"):
                if data is None:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if s["done"]:
                    return self.reply(*s["done"])
                have = len(s["data"])
                return self.reply(308, None, {"Range": f"bytes=0-{have - 1}"} if have else {})
            start = 0
            m = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", rng)
            if rng and not m:
                fg.violation(f"bad Content-Range {rng!r}")
                return self.reply(400, api_error(400, "bad Content-Range", "INVALID_ARGUMENT", "invalidArgument"))
            if m:
                start = int(m.group(1))
            if start != len(s["data"]):
                fg.violation(f"upload continues at {start}, stored {len(s['data'])}")
            if data is None:  # cut_after fault: keep K bytes of this PUT, then drop the connection
                n = int(self.headers.get("Content-Length") or 0)
                keep = self.rfile.read(min(n, fault["cut_after"]))
                with fg.lock:
                    s["data"] += keep
                return self.cut()
            with fg.lock:
                s["data"] = s["data"][:start] + data
            if total is not None and len(s["data"]) < total:
                return self.reply(308, None, {"Range": f"bytes=0-{len(s['data']) - 1}"})
            if total is not None and len(s["data"]) != total:
                fg.violation(f"upload of {len(s['data'])} bytes, announced {total}")
            s["done"] = fg.accept_message(s["user"], bytes(s["data"]), "resumable")
            if fault and fault.get("commit_then_cut"):
                return self.cut()
            return self.reply(*s["done"])
    return H
