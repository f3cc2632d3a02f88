"""A local fake of the Microsoft identity platform token endpoint and Microsoft
Graph mail APIs, over HTTPS with a test CA made by openssl at start.

It checks what the real services check (documented wire formats):
- POST /{tenant}/oauth2/v2.0/token: form encoding, grant_type=client_credentials,
  scope https://graph.microsoft.com/.default, client_secret (right / wrong /
  expired) or a client assertion (RS256 signature by the registered
  certificate, x5t/x5t#S256, aud/iss/sub/jti/nbf/exp); errors as Entra sends
  them ({"error","error_description":"AADSTSnnnn: ...","error_codes":[n]}).
- Graph: Bearer validity and expiry (401 InvalidAuthenticationToken), roles
  (the token is a JWT whose "roles" claim lists the granted application
  permissions: Mail.Send for sendMail and draft send, Mail.ReadWrite for
  drafts, attachments and upload sessions; else 403 ErrorAccessDenied),
  POST /v1.0/users/{id}/sendMail with Content-Type text/plain and a
  base64 MIME body (202; always kept in Sent Items) or application/json
  {"message", "saveToSentItems"} (message resource: recipients as
  {"emailAddress": {"address", "name"}}, body {"contentType", "content"},
  internetMessageHeaders only x-/X- names and at most 5 -> else 400
  InvalidInternetMessageHeaderCollection, fileAttachments with name and
  contentBytes), drafts from MIME or JSON (201 + id; a JSON draft with
  singleValueExtendedProperties Boolean 0x0E01 = PidTagDeleteAfterSubmit
  is not kept in Sent Items after send), fileAttachment JSON,
  createUploadSession + PUT ranges in order WITHOUT Authorization (200 with
  nextExpectedRanges, 201 at the end), /send (202), DELETE, GET /users/{id},
  GET /applications(appId='..')?$select=passwordCredentials, 4 concurrent
  requests per mailbox (more = 429 and a recorded violation), 4 MB bodies (413).
- Faults: add_fault(path_re, status=..., retry_after=..., code=..., delay=...,
  cut=True, count=n) or POST /_control/fault with the same JSON; expire_tokens().
  Upload PUTs also take accept=True (store the range, then answer `status`)
  and ranges=[...] (store, answer 200 with these nextExpectedRanges); GET on
  an upload URL answers the session's nextExpectedRanges.
- Records: token_requests, sent (mailbox, mime or json, attachments with
  name/contentType/isInline/contentId/bytes and, for uploads, the ranges
  received, saved), sent_items, violations,
  calls (method, path, status, start/end time of every answered request).

Use in-process (FakeGraph(dir).start()) or as a CLI:
  fake_graph.py --dir D [--port P] [--mailboxes a,b] [--latency S]
  (prints "READY <port>", runs until killed; GET /_control/state for counts)
"""
import base64
import binascii
import email
import email.parser
import email.policy
import email.utils
import hashlib
import hmac
import json
import os
import re
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler

from fake_https import FakeHttps, b64url, b64url_decode

SCOPE = "https://graph.microsoft.com/.default"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_BODY = 4 * 1024 * 1024


def strict_json(data):
    """A JSON request body as Graph reads it: UTF-8 only (json.loads on bytes
    would let encoded surrogates through) and no raw control characters in
    strings (RFC 8259 sections 7 and 8.1). None when it is not valid JSON."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def header_fields(mime):
    """The header block only: the fake reads recipients and From from it, and
    a hostile body (thousands of nested multiparts) cannot break the fake."""
    return email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(mime)


class FakeGraph(FakeHttps):
    def __init__(self, d, tenant="tenant-1", client_id="app-1", secret="s3cr3t-value", secret_expires="2099-12-31",
                 mailboxes=("relay@example.com", "scan@example.com"), roles=("Mail.Send", "Mail.ReadWrite"), expires_in=3599,
                 port=0):
        self.dir = d
        self.tenant, self.client_id = tenant, client_id
        self.secrets = {secret: secret_expires}     # secret -> YYYY-MM-DD
        self.cert_pem = None                         # registered certificate (bytes) for assertions
        self.mailboxes = set(m.lower() for m in mailboxes)
        self.disabled = set()                        # MailboxNotEnabledForRESTAPI
        self.send_as = {}                            # mailbox -> extra From addresses allowed
        self.roles = list(roles)
        self.expires_in = expires_in
        self.scope = SCOPE                           # the one scope the token endpoint grants (smtp_oauth.py: Outlook's)
        self.key = os.urandom(32)
        self.tokens = {}                             # token -> expiry (unix)
        self.token_requests = []                     # dict per request (grant, auth kind, ok)
        self.sent = []                               # {"mailbox","mime"|"json","attachments","via","saved"}
        self.sent_items = []                         # copies Exchange would keep in Sent Items (mailbox, via)
        self.requests = []                           # (method, path, had_auth)
        # self.calls (FakeHttps): {"method","path","status","t0","t1","seq"} per answered request, in arrival order
        self.violations = []
        self.inflight = {}
        self.max_inflight = {}
        self.drafts = {}
        self.sessions = {}
        self.used_jti = set()
        self.latency = 0.0                           # seconds added to every answer
        # Mailbox requests wait (holding their slot) until this many were in
        # flight for the mailbox at once, or gather_timeout passes: a test of
        # the concurrency a client reaches then does not depend on how fast
        # the machine lets its requests overlap (0 = off).
        self.gather_inflight = 0
        self.gather_timeout = 10.0
        super().__init__(d, _handler(self), port)

    # ---- control
    def provider_config(self, **kw):
        # save_to_sent_items true: the MIME paths (sendMail, MIME drafts) that most
        # tests read back byte for byte; m365_json.py tests the JSON path (false,
        # relay's default) by passing save_to_sent_items=False.
        cfg = {"type": "m365", "tenant_id": self.tenant, "client_id": self.client_id,
               "client_secret": next(iter(self.secrets)), "login_url": self.url, "graph_url": self.url,
               "ca_file": self.ca, "timeout": "30s", "save_to_sent_items": True}
        cfg.update(kw)
        return cfg

    # add_fault(path_re, count, **action) (FakeHttps): action keys here are
    # status, code, message, retry_after, delay, cut, body.

    def expire_tokens(self):
        with self.lock:
            for t in self.tokens:
                self.tokens[t] = 0

    def state(self):
        with self.lock:
            return {"token_requests": list(self.token_requests), "sent": len(self.sent),
                    "sent_items": len(self.sent_items), "via": sorted(set(s["via"] for s in self.sent)),
                    "violations": list(self.violations), "max_inflight": dict(self.max_inflight)}

    # ---- helpers used by the handler
    def issue_token(self):
        now = int(time.time())
        payload = {"aud": "https://graph.microsoft.com", "tid": self.tenant, "appid": self.client_id,
                   "roles": self.roles, "iat": now, "exp": now + self.expires_in, "jti": uuid.uuid4().hex}
        head = b64url(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        body = b64url(json.dumps(payload).encode())
        sig = b64url(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        tok = f"{head}.{body}.{sig}"
        with self.lock:
            self.tokens[tok] = now + self.expires_in
        return tok

    def token_valid(self, tok):
        with self.lock:
            exp = self.tokens.get(tok)
        return exp is not None and exp > time.time()


def _handler(fg):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        # ---- plumbing
        def release_slot(self):
            # The server is done with a request once its answer is produced:
            # free the mailbox slot before the bytes go out, or a client that
            # starts its next request on receipt races our bookkeeping.
            mailbox, self.slot = getattr(self, "slot", None), None
            if mailbox is not None:
                with fg.lock:
                    fg.inflight[mailbox] -= 1

        def reply(self, status, obj=None, headers=None, raw=None):
            self.release_slot()
            self.status_sent = status
            body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else b"")
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if obj is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def graph_error(self, status, code, message, headers=None):
            self.reply(status, {"error": {"code": code, "message": message,
                                          "innerError": {"request-id": str(uuid.uuid4()), "date": "now"}}}, headers)

        def token_error(self, status, error, code, desc):
            self.reply(status, {"error": error, "error_description": f"AADSTS{code}: {desc}\r\nTrace ID: "
                                f"{uuid.uuid4()}\r\nCorrelation ID: {uuid.uuid4()}\r\nTimestamp: now",
                                "error_codes": [code], "timestamp": "now", "trace_id": str(uuid.uuid4()),
                                "correlation_id": str(uuid.uuid4())})

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def do_GET(self):
            self.dispatch("GET")

        def do_POST(self):
            self.dispatch("POST")

        def do_PUT(self):
            self.dispatch("PUT")

        def do_DELETE(self):
            self.dispatch("DELETE")

        def dispatch(self, method):
            seq, t0 = fg.arrived(), time.time()
            self.status_sent = 0
            try:
                self.route(method)
            finally:
                fg.record_call(seq, {"method": method, "path": urllib.parse.unquote(self.path.split("?")[0]),
                                     "status": self.status_sent, "t0": t0, "t1": time.time()})

        def route(self, method):
            path = self.path
            data = self.body()
            with fg.lock:
                fg.requests.append((method, path, "Authorization" in self.headers))
            if path.startswith("/_control/"):
                return self.control(path, data)
            fault = fg.take_fault(method, urllib.parse.unquote(path))
            self.delay = fg.latency + ((fault or {}).get("delay") or 0)
            if self.delay and not path.startswith("/v1.0/users/"):
                time.sleep(self.delay)
            if fault and fault.get("cut"):
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"{\"partial\":")
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault and fault.get("status") and not fault.get("accept"):
                hdr = {}
                if fault.get("retry_after") is not None:
                    hdr["Retry-After"] = str(fault["retry_after"])
                if fault.get("token"):
                    return self.token_error(fault["status"], fault.get("error", "invalid_client"),
                                            fault["token"], fault.get("message", "injected"))
                return self.graph_error(fault["status"], fault.get("code", "InjectedError"),
                                        fault.get("message", "injected fault"), hdr)
            if re.match(r"^/[^/]+/oauth2/v2\.0/token$", path) and method == "POST":
                return self.token(path.split("/")[1], data)
            if path.startswith("/upload/") and method == "PUT":
                return self.upload(path, data, fault)
            if path.startswith("/upload/") and method == "GET":
                return self.upload_status(path)
            if path.startswith("/v1.0/"):
                return self.graph(method, path, data)
            self.graph_error(404, "BadRequest", f"Resource not found for the segment '{path}'.")

        def control(self, path, data):
            if path == "/_control/fault":
                a = json.loads(data or b"{}")
                fg.add_fault(a.pop("path_re"), a.pop("count", 1), **a)
                return self.reply(200, {"ok": True})
            if path == "/_control/expire_tokens":
                fg.expire_tokens()
                return self.reply(200, {"ok": True})
            return self.reply(200, fg.state())

        # ---- token endpoint
        def token(self, tenant, data):
            rec = {"tenant": tenant, "ok": False}
            with fg.lock:
                fg.token_requests.append(rec)
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
                return self.token_error(400, "invalid_request", 900144, "The request body must contain grant_type.")
            try:
                form = urllib.parse.parse_qs(data.decode(), strict_parsing=True, keep_blank_values=True)
            except ValueError:
                return self.token_error(400, "invalid_request", 900144, "Malformed form body.")
            if any(len(v) != 1 for v in form.values()):
                return self.token_error(400, "invalid_request", 90014, "Duplicate parameter.")
            f = {k: v[0] for k, v in form.items()}
            rec["form_keys"] = sorted(f)
            if tenant != fg.tenant:
                return self.token_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check to make "
                                        "sure you have the correct tenant ID and are signing into the correct cloud.")
            if f.get("grant_type") != "client_credentials":
                return self.token_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
            if f.get("client_id") != fg.client_id:
                return self.token_error(400, "unauthorized_client", 700016,
                                        f"Application with identifier '{f.get('client_id')}' was not found in the directory.")
            if f.get("scope") != fg.scope:
                return self.token_error(400, "invalid_scope", 1002012, f"The provided value for scope {f.get('scope')} is not valid.")
            if "client_secret" in f:
                rec["auth"] = "secret"
                exp = fg.secrets.get(f["client_secret"])
                if exp is None:
                    return self.token_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
                if exp < time.strftime("%Y-%m-%d", time.gmtime()):
                    return self.token_error(401, "invalid_client", 7000222,
                                            f"The provided client secret keys for app '{fg.client_id}' are expired.")
            elif f.get("client_assertion_type") == JWT_BEARER and "client_assertion" in f:
                rec["auth"] = "assertion"
                err = self.check_assertion(tenant, f["client_assertion"])
                if err:
                    return self.token_error(401, "invalid_client", 700027, err)
            else:
                return self.token_error(401, "invalid_client", 7000218,
                                        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
            rec["ok"] = True
            self.reply(200, {"token_type": "Bearer", "expires_in": fg.expires_in, "ext_expires_in": fg.expires_in,
                             "access_token": fg.issue_token()})

        def check_assertion(self, tenant, jwt):
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding
            if not fg.cert_pem:
                return "No certificate is registered for the application."
            try:
                h, c, s = jwt.split(".")
                header, claims = json.loads(b64url_decode(h)), json.loads(b64url_decode(c))
                cert = x509.load_pem_x509_certificate(fg.cert_pem)
                der = cert.public_bytes(serialization.Encoding.DER)
                cert.public_key().verify(b64url_decode(s), f"{h}.{c}".encode(), padding.PKCS1v15(), hashes.SHA256())
            except Exception as e:  # noqa: BLE001
                return f"Client assertion contains an invalid signature. ({type(e).__name__})"
            if header.get("alg") != "RS256" or header.get("typ") != "JWT":
                return "Client assertion header alg/typ invalid."
            if header.get("x5t") != b64url(hashlib.sha1(der).digest()) or \
                    header.get("x5t#S256") != b64url(hashlib.sha256(der).digest()):
                return "Client assertion thumbprint does not match a registered certificate."
            now = time.time()
            if claims.get("aud") != f"{fg.url}/{tenant}/oauth2/v2.0/token":
                return f"Client assertion audience claim does not match ({claims.get('aud')})."
            if claims.get("iss") != fg.client_id or claims.get("sub") != fg.client_id:
                return "Client assertion iss/sub must be the client id."
            if not (claims.get("nbf", now + 999) <= now + 60 and claims.get("exp", 0) > now):
                return "Client assertion is not within its valid time range."
            if not claims.get("jti") or claims["jti"] in fg.used_jti:
                return "Client assertion jti missing or replayed."
            fg.used_jti.add(claims["jti"])
            return None

        # ---- Graph
        def authorised(self):
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not fg.token_valid(auth[7:]):
                self.graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
                return None
            return json.loads(b64url_decode(auth[7:].split(".")[1]))

        def graph(self, method, path, data):
            claims = self.authorised()
            if claims is None:
                return
            u = urllib.parse.urlsplit(path)
            p = urllib.parse.unquote(u.path)
            m = re.match(r"^/v1\.0/applications\(appId='([^']+)'\)$", p)
            if m and method == "GET":
                if "Application.Read.All" not in claims["roles"]:
                    return self.graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
                creds = [{"keyId": str(uuid.uuid4()), "hint": s[:3], "endDateTime": e + "T00:00:00Z",
                          "displayName": "relay"} for s, e in fg.secrets.items()]
                return self.reply(200, {"passwordCredentials": creds})
            m = re.match(r"^/v1\.0/users/([^/]+)(/.*)?$", p)
            if not m:
                return self.graph_error(400, "BadRequest", "Unsupported segment.")
            mailbox, rest = m.group(1).lower(), m.group(2) or ""
            with fg.lock:
                n = fg.inflight.get(mailbox, 0) + 1
                fg.inflight[mailbox] = n
                fg.max_inflight[mailbox] = max(fg.max_inflight.get(mailbox, 0), n)
                if n > 4:
                    fg.violations.append(f"more than 4 concurrent requests for {mailbox}")
                self.slot = mailbox
            try:
                self.gather(mailbox)
                if self.delay:
                    time.sleep(self.delay)  # slow answers hold the mailbox slot, as real ones do
                if n > 4:
                    return self.graph_error(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                                            {"Retry-After": "1"})
                self.mailbox_call(method, mailbox, rest, u.query, data, claims)
            finally:
                self.release_slot()

        def gather(self, mailbox):
            end = time.time() + fg.gather_timeout
            while fg.gather_inflight and time.time() < end:
                with fg.lock:
                    if fg.max_inflight.get(mailbox, 0) >= fg.gather_inflight:
                        return
                time.sleep(0.005)

        def mailbox_call(self, method, mailbox, rest, query, data, claims):
            if rest == "" and method == "GET":
                if "User.Read.All" not in claims["roles"]:
                    return self.graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
                if mailbox not in fg.mailboxes:
                    return self.graph_error(404, "Request_ResourceNotFound", f"Resource '{mailbox}' does not exist.")
                return self.reply(200, {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, mailbox)), "mail": mailbox})
            draft_op = rest.startswith("/messages") and not rest.endswith("/send")
            need = "Mail.ReadWrite" if draft_op else "Mail.Send"
            if need not in claims["roles"]:
                return self.graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            if mailbox not in fg.mailboxes:
                return self.graph_error(404, "ErrorInvalidUser", f"The requested user '{mailbox}' is invalid.")
            if mailbox in fg.disabled:
                return self.graph_error(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
            if len(data) > MAX_BODY:
                return self.graph_error(413, "RequestEntityTooLarge", "The request entity is too large.")
            if rest == "/sendMail" and method == "POST":
                if self.headers.get("Content-Type", "").split(";")[0].strip() == "application/json":
                    return self.send_mail_json(mailbox, data)
                return self.send_mail(mailbox, data)
            if rest == "/messages" and method == "POST":
                return self.create_draft(mailbox, data)
            m = re.match(r"^/messages/([^/]+)(/.*)?$", rest)
            if m and m.group(1) in fg.drafts:
                return self.draft_call(method, mailbox, m.group(1), m.group(2) or "", data)
            self.graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")

        def decode_mime(self, data):
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "text/plain":
                self.graph_error(400, "ErrorInvalidRequest", "MIME content must be sent with Content-Type text/plain.")
                return None
            try:
                return base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                self.graph_error(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
                return None

        def check_message(self, mailbox, mime):
            msg = header_fields(mime)
            rcpts = [a for _, a in email.utils.getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []) +
                                                             msg.get_all("Bcc", [])) if a]
            if not rcpts:
                self.graph_error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
                return None
            frm = email.utils.parseaddr(msg.get("From", ""))[1].lower()
            if frm and frm != mailbox and frm not in fg.send_as.get(mailbox, ()):
                self.graph_error(403, "ErrorSendAsDenied", "The user account which was used to submit this request "
                                 "does not have the right to send mail on behalf of the specified sending account.")
                return None
            return rcpts

        def send_mail(self, mailbox, data):
            mime = self.decode_mime(data)
            if mime is None:
                return
            rcpts = self.check_message(mailbox, mime)
            if rcpts is None:
                return
            self.record_sent({"mailbox": mailbox, "mime": mime, "rcpts": rcpts, "attachments": [], "via": "sendMail",
                              "saved": True})  # Graph keeps every MIME send in Sent Items
            self.reply(202)

        def record_sent(self, entry):
            with fg.lock:
                fg.sent.append(entry)
                if entry["saved"]:
                    fg.sent_items.append({"mailbox": entry["mailbox"], "via": entry["via"]})

        def check_json_message(self, mailbox, msg):
            """The message resource as Graph reads it; None after an error answer."""
            if not isinstance(msg, dict):
                self.graph_error(400, "ErrorInvalidRequest", "message is required.")
                return None
            rcpts = []
            for prop in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo"):
                for r in msg.get(prop, []):
                    addr = ((r or {}).get("emailAddress") or {}).get("address")
                    if not isinstance(addr, str) or "@" not in addr:
                        self.graph_error(400, "ErrorInvalidRecipients", f"Invalid recipient in {prop}.")
                        return None
                    if prop != "replyTo":
                        rcpts.append(addr)
            if not rcpts:
                self.graph_error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
                return None
            hdrs = msg.get("internetMessageHeaders", [])
            if len(hdrs) > 5:
                self.graph_error(400, "InvalidInternetMessageHeaderCollection",
                                 "Maximum number of headers in one message should be less than or equal to 5.")
                return None
            for h in hdrs:
                if not str(h.get("name", "")).lower().startswith("x-"):
                    self.graph_error(400, "InvalidInternetMessageHeader",
                                     f"The internet message header name '{h.get('name')}' should start with 'x-' or 'X-'.")
                    return None
            body = msg.get("body", {"contentType": "text", "content": ""})
            if body.get("contentType", "text").lower() not in ("text", "html"):
                self.graph_error(400, "ErrorInvalidRequest", "body contentType must be text or html.")
                return None
            frm = (((msg.get("from") or {}).get("emailAddress") or {}).get("address") or "").lower()
            if frm and frm != mailbox and frm not in fg.send_as.get(mailbox, ()):
                self.graph_error(403, "ErrorSendAsDenied", "The user account which was used to submit this request "
                                 "does not have the right to send mail on behalf of the specified sending account.")
                return None
            return rcpts

        def json_attachment(self, a):
            """A fileAttachment as recorded; None after an error answer."""
            if a.get("@odata.type") != "#microsoft.graph.fileAttachment" or "contentBytes" not in a or not a.get("name"):
                self.graph_error(400, "ErrorInvalidRequest", "Invalid attachment.")
                return None
            try:
                data = base64.b64decode(a["contentBytes"], validate=True)
            except (binascii.Error, ValueError):
                self.graph_error(400, "ErrorInvalidRequest", "contentBytes is not base64.")
                return None
            return {"name": a["name"], "bytes": data, "contentType": a.get("contentType"),
                    "isInline": bool(a.get("isInline")), "contentId": a.get("contentId")}

        def send_mail_json(self, mailbox, data):
            req = strict_json(data)
            if not isinstance(req, dict):
                return self.graph_error(400, "BadRequest", "Unable to read JSON request payload.")
            msg = req.get("message")
            rcpts = self.check_json_message(mailbox, msg)
            if rcpts is None:
                return
            atts = []
            for a in msg.get("attachments", []):
                rec = self.json_attachment(a)
                if rec is None:
                    return
                atts.append(rec)
            saved = req.get("saveToSentItems", True) is not False  # Graph's default is true
            self.record_sent({"mailbox": mailbox, "json": msg, "mime": None, "rcpts": rcpts, "attachments": atts,
                              "via": "sendMail-json", "saved": saved})
            self.reply(202)

        def create_draft(self, mailbox, data):
            did = "AAMk" + b64url(os.urandom(24)) + "="
            if self.headers.get("Content-Type", "").split(";")[0].strip() == "application/json":
                msg = strict_json(data)
                if msg is None:
                    return self.graph_error(400, "BadRequest", "Unable to read JSON request payload.")
                if not isinstance(msg, dict) or "attachments" in msg:
                    return self.graph_error(400, "ErrorInvalidRequest", "Invalid message.")
                props = {p.get("id"): p.get("value") for p in msg.get("singleValueExtendedProperties", [])}
                with fg.lock:
                    fg.drafts[did] = {"mailbox": mailbox, "mime": None, "json": msg, "attachments": [],
                                      "delete_after_submit": props.get("Boolean 0x0E01") == "true"}
                return self.reply(201, {"id": did, "isDraft": True})
            mime = self.decode_mime(data)
            if mime is None:
                return
            with fg.lock:
                fg.drafts[did] = {"mailbox": mailbox, "mime": mime, "attachments": [], "delete_after_submit": False}
            self.reply(201, {"id": did, "isDraft": True})

        def draft_call(self, method, mailbox, did, rest, data):
            d = fg.drafts[did]
            if method == "DELETE" and rest == "":
                with fg.lock:
                    fg.drafts.pop(did, None)
                return self.reply(204)
            if method == "POST" and rest == "/attachments":
                a = strict_json(data)
                if not isinstance(a, dict):
                    return self.graph_error(400, "BadRequest", "Unable to read JSON request payload.")
                rec = self.json_attachment(a)
                if rec is None:
                    return
                d["attachments"].append(rec)
                return self.reply(201, {"id": str(uuid.uuid4())})
            if method == "POST" and rest == "/attachments/createUploadSession":
                req = strict_json(data)
                item = (req.get("AttachmentItem") if isinstance(req, dict) else None) or {}
                if item.get("attachmentType") != "file" or not isinstance(item.get("size"), int):
                    return self.graph_error(400, "ErrorInvalidRequest", "AttachmentItem is required.")
                sid = uuid.uuid4().hex
                with fg.lock:
                    fg.sessions[sid] = {"draft": did, "size": item["size"], "name": item["name"], "buf": bytearray(),
                                        "type": item.get("contentType"), "token": uuid.uuid4().hex,
                                        "isInline": bool(item.get("isInline")), "contentId": item.get("contentId"),
                                        "ranges": []}
                    tok = fg.sessions[sid]["token"]
                return self.reply(201, {"uploadUrl": f"{fg.url}/upload/{sid}?authtoken={tok}",
                                        "expirationDateTime": "2099-01-01T00:00:00Z", "nextExpectedRanges": ["0-"]})
            if method == "POST" and rest == "/send":
                if data:
                    return self.graph_error(400, "ErrorInvalidRequest", "send takes no body.")
                if d["mime"] is not None:
                    rcpts = self.check_message(mailbox, d["mime"])
                else:
                    rcpts = self.check_json_message(mailbox, d["json"])
                if rcpts is None:
                    return
                with fg.lock:
                    fg.drafts.pop(did, None)
                self.record_sent({"mailbox": mailbox, "mime": d["mime"], "json": d.get("json"), "rcpts": rcpts,
                                  "attachments": d["attachments"], "via": "draft" if d["mime"] is not None else "draft-json",
                                  "saved": not d["delete_after_submit"]})
                return self.reply(202)
            self.graph_error(400, "ErrorInvalidRequest", "Unsupported draft operation.")

        def session_of(self, path):
            u = urllib.parse.urlsplit(path)
            sid = u.path.split("/")[2]
            s = fg.sessions.get(sid)
            q = urllib.parse.parse_qs(u.query)
            if not s or q.get("authtoken") != [s["token"]]:
                self.graph_error(404, "ErrorItemNotFound", "Upload session not found.")
                return None, None
            return sid, s

        def upload_status(self, path):
            # GET on the upload URL: the session's state (Graph's resume protocol).
            sid, s = self.session_of(path)
            if s is None:
                return
            if "Authorization" in self.headers:
                fg.violations.append("Authorization header sent to a pre-authenticated upload URL")
            return self.reply(200, {"expirationDateTime": "2099-01-01T00:00:00Z",
                                    "nextExpectedRanges": [f"{len(s['buf'])}-{s['size'] - 1}"]})

        def upload(self, path, data, fault=None):
            # fault {"accept": True, "status": 5xx}: store the range, answer the error
            # (the range arrived, the answer did not say so); {"ranges": [..]}: store
            # it, answer 200 with these nextExpectedRanges.
            sid, s = self.session_of(path)
            if s is None:
                return
            if "Authorization" in self.headers:
                fg.violations.append("Authorization header sent to a pre-authenticated upload URL")
                return self.graph_error(400, "InvalidAuthenticationToken", "Do not send an Authorization header to the upload URL.")
            m = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", self.headers.get("Content-Range", ""))
            if not m or self.headers.get("Content-Type") != "application/octet-stream":
                return self.graph_error(400, "ErrorInvalidRequest", "Content-Range and Content-Type are required.")
            start, end, total = map(int, m.groups())
            if start != len(s["buf"]) or end - start + 1 != len(data) or total != s["size"] or end >= total:
                fg.violations.append(f"upload range out of order: {start}-{end}/{total} at {len(s['buf'])}")
                return self.graph_error(416, "ErrorInvalidRange", "The range is not the next expected range.")
            s["buf"] += data
            s["ranges"].append((start, end))
            if fault and fault.get("accept") and fault.get("status"):
                return self.graph_error(fault["status"], fault.get("code", "InjectedError"), "injected after storing")
            if fault and "ranges" in fault:
                return self.reply(200, {"expirationDateTime": "2099-01-01T00:00:00Z",
                                        "nextExpectedRanges": fault["ranges"]})
            if len(s["buf"]) < s["size"]:
                return self.reply(200, {"expirationDateTime": "2099-01-01T00:00:00Z",
                                        "nextExpectedRanges": [f"{len(s['buf'])}"]})
            with fg.lock:
                fg.drafts[s["draft"]]["attachments"].append({"name": s["name"], "bytes": bytes(s["buf"]),
                                                             "contentType": s["type"], "upload": True,
                                                             "isInline": s["isInline"], "contentId": s["contentId"],
                                                             "ranges": list(s["ranges"])})
                fg.sessions.pop(sid)
            self.reply(201, headers={"Location": f"{fg.url}/v1.0/attachments/{sid}"})

    return H


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mailboxes", default="relay@example.com,scan@example.com")
    ap.add_argument("--expires-in", type=int, default=3599)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    a = ap.parse_args()
    fg = FakeGraph(a.dir, mailboxes=a.mailboxes.split(","), expires_in=a.expires_in, port=a.port).start()
    fg.latency = a.latency
    print(f"READY {fg.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fg.stop()


if __name__ == "__main__":
    main()
