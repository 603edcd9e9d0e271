#!/usr/bin/python3
"""A small OAuth 2 authorization server for mailpull's tests (Python standard library only).

Endpoints (RFC 6749, 7636, 8628, 7662):
  GET  /authorize     authorization request; once the test approved it (see /control/approve_authorize)
                      it redirects (302) to the client's redirect_uri with code and state, else it
                      answers 200 "waiting for approval" and remembers the request
  POST /token         grant_type refresh_token | authorization_code (PKCE S256 checked) |
                      urn:ietf:params:oauth:grant-type:device_code
  POST /device        device authorization request (RFC 8628 section 3.1)
  POST /introspect    token=... -> {"active": true, "username": USER, ...} or {"active": false}

Test control (JSON bodies, JSON answers):
  POST /control/approve_device     {"user_code": C | null, "user": U}   (null: every pending code)
  POST /control/deny_device        {"user_code": C}
  POST /control/auto_approve       {"user": U | null}   device codes and authorize requests are
                                    approved for U as soon as they arrive (null: off)
  POST /control/approve_authorize  {"state": S | null, "user": U}   (null: the next request)
  POST /control/revoke             {"refresh_token": R} | {"user": U}  (all of U's refresh tokens)
  POST /control/settings           any of {"access_lifetime": secs, "rotate": bool,
                                    "token_delay": secs, "device_interval": secs,
                                    "device_lifetime": secs, "token_fail_status": HTTP status
                                    (nonzero: the token endpoint answers it with an HTML page)}
  POST /control/client             {"client_id": ID, "client_secret": S}   confidential client
  POST /control/mint               {"user": U, "client_id": ID?, "access_lifetime": secs?}
                                    -> {"access_token", "refresh_token", "expires_in"}
  GET  /control/state              counters, settings and every token (for assertions)

Counters: token requests by grant type (counted once the request is read, before any delay),
token responses sent, introspections, device and authorize requests, refresh tokens presented.

Rotation: with "rotate" on, a refresh grant returns a new refresh token; the old one stays
valid until the new one is first used (so a client killed before it read the answer keeps a
working token), then it is revoked.

Usage: server.py [PORT]  (default 0: any free port). Prints the port on stdout when ready.
"""

import base64
import hashlib
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.RLock()
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

STATE = {
    "settings": {
        "access_lifetime": 3600,
        "rotate": False,
        "token_delay": 0.0,
        "device_interval": 1,
        "device_lifetime": 600,
        "token_fail_status": 0,
    },
    "counters": {
        "token_requests": {},  # grant_type -> count (counted when received)
        "token_responses": 0,  # successful token responses written
        "token_errors": {},  # error code -> count
        "introspections": 0,
        "introspections_active": 0,
        "device_requests": 0,
        "authorize_requests": 0,
    },
    "refresh_used": [],  # refresh tokens presented, in order
    "clients": {},  # client_id -> secret (confidential clients only)
    "access": {},  # token -> {user, client_id, scope, expires_at}
    "refresh": {},  # token -> {user, client_id, scope, active, parent}
    "device": {},  # device_code -> {...}
    "codes": {},  # authorization code -> {...}
    "pending_authorize": [],  # authorize requests waiting for approval
    "approved_authorize": {},  # state (or "*") -> user
    "auto_approve": None,
}


def now():
    return time.time()


def new_token(prefix):
    return prefix + secrets.token_urlsafe(24)


def issue(user, client_id, scope, with_refresh=True, lifetime=None):
    """A new access token (and refresh token); the caller holds LOCK."""
    life = STATE["settings"]["access_lifetime"] if lifetime is None else lifetime
    at = new_token("at-")
    STATE["access"][at] = {
        "user": user,
        "client_id": client_id,
        "scope": scope,
        "expires_at": now() + life,
    }
    body = {
        "access_token": at,
        "token_type": "Bearer",
        "expires_in": int(life),
        "scope": scope,
    }
    if with_refresh:
        rt = new_token("rt-")
        STATE["refresh"][rt] = {
            "user": user,
            "client_id": client_id,
            "scope": scope,
            "active": True,
            "parent": None,
        }
        body["refresh_token"] = rt
    return body


def count(table, key):
    STATE["counters"][table][key] = STATE["counters"][table].get(key, 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    # --- plumbing -------------------------------------------------------------------------
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def form(self):
        raw = self.body().decode("utf-8", "replace")
        return {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}

    def send(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:
            return False

    def error(self, error, desc="", status=400):
        with LOCK:
            count("token_errors", error)
        obj = {"error": error}
        if desc:
            obj["error_description"] = desc
        headers = {"WWW-Authenticate": "Basic"} if status == 401 else None
        self.send(status, obj, headers)

    def client(self, form):
        """(client_id, secret) from HTTP Basic or the form."""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                raw = base64.b64decode(auth[6:]).decode()
                cid, _, sec = raw.partition(":")
                return urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(sec)
            except Exception:
                return None, None
        return form.get("client_id"), form.get("client_secret")

    def client_ok(self, cid, sec):
        want = STATE["clients"].get(cid)
        return cid and (want is None or want == sec)

    # --- routes ---------------------------------------------------------------------------
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if url.path == "/authorize":
            return self.authorize(q)
        if url.path == "/control/state":
            with LOCK:
                snap = json.loads(json.dumps(STATE))
            return self.send(200, snap)
        self.send(404, {"error": "not_found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/token":
            return self.token(self.form())
        if path == "/device":
            return self.device(self.form())
        if path == "/introspect":
            return self.introspect(self.form())
        if path.startswith("/control/"):
            raw = self.body()
            arg = json.loads(raw) if raw else {}
            return self.control(path[len("/control/"):], arg)
        self.send(404, {"error": "not_found"})

    def authorize(self, q):
        with LOCK:
            STATE["counters"]["authorize_requests"] += 1
            redirect = q.get("redirect_uri", "")
            host = urllib.parse.urlsplit(redirect).hostname
            if q.get("response_type") != "code" or host not in ("127.0.0.1", "localhost", "::1"):
                return self.send(400, {"error": "invalid_request"})
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return self.send(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
            state = q.get("state")
            user = STATE["approved_authorize"].pop(state, None) if state else None
            if user is None:
                user = STATE["approved_authorize"].pop("*", None)
            if user is None:
                user = STATE["auto_approve"]
            if user is None:
                STATE["pending_authorize"].append(q)
                data = b"waiting for approval\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if user == "!deny":
                params = {"error": "access_denied"}
            else:
                code = new_token("code-")
                STATE["codes"][code] = {
                    "user": user,
                    "client_id": q.get("client_id"),
                    "redirect_uri": redirect,
                    "challenge": q.get("code_challenge"),
                    "scope": q.get("scope", ""),
                    "expires_at": now() + 600,
                }
                params = {"code": code}
            if state is not None:
                params["state"] = state
            sep = "&" if "?" in redirect else "?"
            location = redirect + sep + urllib.parse.urlencode(params)
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def device(self, form):
        cid, sec = self.client(form)
        with LOCK:
            STATE["counters"]["device_requests"] += 1
            if not self.client_ok(cid, sec):
                return self.error("invalid_client", status=401)
            dc = new_token("dc-")
            uc = "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(8))
            uc = uc[:4] + "-" + uc[4:]
            s = STATE["settings"]
            STATE["device"][dc] = {
                "user_code": uc,
                "client_id": cid,
                "scope": form.get("scope", ""),
                "expires_at": now() + s["device_lifetime"],
                "interval": s["device_interval"],
                "last_poll": None,
                "user": STATE["auto_approve"],
                "denied": False,
            }
            host = self.headers.get("Host", "127.0.0.1")
            uri = "http://%s/device-login" % host
            body = {
                "device_code": dc,
                "user_code": uc,
                "verification_uri": uri,
                "verification_uri_complete": uri + "?user_code=" + uc,
                "expires_in": int(s["device_lifetime"]),
                "interval": int(s["device_interval"]),
            }
        self.send(200, body)

    def token(self, form):
        grant = form.get("grant_type", "")
        cid, sec = self.client(form)
        with LOCK:
            count("token_requests", grant or "(none)")
            delay = STATE["settings"]["token_delay"]
        if delay:
            time.sleep(delay)
        fail = STATE["settings"]["token_fail_status"]
        if fail:
            data = b"<html><body>Service Unavailable</body></html>"
            self.send_response(fail)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        with LOCK:
            if not self.client_ok(cid, sec):
                return self.error("invalid_client", "client authentication failed", 401)
            if grant == "refresh_token":
                return self.refresh_grant(form, cid)
            if grant == "authorization_code":
                return self.code_grant(form, cid)
            if grant == DEVICE_GRANT:
                return self.device_grant(form, cid)
        self.error("unsupported_grant_type")

    def ok(self, body):
        """Sends a token response (LOCK held)."""
        if self.send(200, body):
            STATE["counters"]["token_responses"] += 1

    def refresh_grant(self, form, cid):
        rt = form.get("refresh_token", "")
        STATE["refresh_used"].append(rt)
        rec = STATE["refresh"].get(rt)
        if rec is None or not rec["active"] or rec["client_id"] != cid:
            return self.error("invalid_grant", "refresh token is invalid, expired or revoked")
        # First use of a rotated token: its parent is retired now.
        if rec["parent"] and rec["parent"] in STATE["refresh"]:
            STATE["refresh"][rec["parent"]]["active"] = False
            rec["parent"] = None
        body = issue(rec["user"], cid, rec["scope"], with_refresh=STATE["settings"]["rotate"])
        if "refresh_token" in body:
            STATE["refresh"][body["refresh_token"]]["parent"] = rt
        self.ok(body)

    def code_grant(self, form, cid):
        code = form.get("code", "")
        rec = STATE["codes"].pop(code, None)
        if rec is None or rec["expires_at"] < now() or rec["client_id"] != cid:
            return self.error("invalid_grant", "unknown or expired code")
        if form.get("redirect_uri") != rec["redirect_uri"]:
            return self.error("invalid_grant", "redirect_uri does not match")
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if not (43 <= len(verifier) <= 128) or challenge != rec["challenge"]:
            return self.error("invalid_grant", "PKCE verification failed")
        self.ok(issue(rec["user"], cid, rec["scope"]))

    def device_grant(self, form, cid):
        dc = form.get("device_code", "")
        rec = STATE["device"].get(dc)
        if rec is None or rec["client_id"] != cid:
            return self.error("invalid_grant", "unknown device code")
        t = now()
        if rec["expires_at"] < t:
            return self.error("expired_token")
        last, rec["last_poll"] = rec["last_poll"], t
        if last is not None and t - last < rec["interval"] - 0.05:
            rec["interval"] += 5
            return self.error("slow_down")
        if rec["denied"]:
            del STATE["device"][dc]
            return self.error("access_denied")
        if rec["user"] is None:
            return self.error("authorization_pending")
        del STATE["device"][dc]
        self.ok(issue(rec["user"], cid, rec["scope"]))

    def introspect(self, form):
        tok = form.get("token", "")
        with LOCK:
            STATE["counters"]["introspections"] += 1
            rec = STATE["access"].get(tok)
            if rec is None or rec["expires_at"] < now():
                body = {"active": False}
            else:
                STATE["counters"]["introspections_active"] += 1
                body = {
                    "active": True,
                    "username": rec["user"],
                    "client_id": rec["client_id"],
                    "scope": rec["scope"],
                    "token_type": "Bearer",
                    "exp": int(rec["expires_at"]),
                }
        self.send(200, body)

    def control(self, what, arg):
        with LOCK:
            if what == "approve_device":
                n = 0
                for rec in STATE["device"].values():
                    if arg.get("user_code") in (None, rec["user_code"]):
                        rec["user"] = arg["user"]
                        n += 1
                return self.send(200, {"approved": n})
            if what == "deny_device":
                n = 0
                for rec in STATE["device"].values():
                    if arg.get("user_code") in (None, rec["user_code"]):
                        rec["denied"] = True
                        n += 1
                return self.send(200, {"denied": n})
            if what == "auto_approve":
                STATE["auto_approve"] = arg.get("user")
                return self.send(200, {})
            if what == "approve_authorize":
                STATE["approved_authorize"][arg.get("state") or "*"] = arg["user"]
                return self.send(200, {})
            if what == "revoke":
                n = 0
                for rt, rec in STATE["refresh"].items():
                    if rt == arg.get("refresh_token") or rec["user"] == arg.get("user"):
                        rec["active"] = False
                        n += 1
                return self.send(200, {"revoked": n})
            if what == "settings":
                for k, v in arg.items():
                    if k not in STATE["settings"]:
                        return self.send(400, {"error": "unknown setting " + k})
                    STATE["settings"][k] = v
                return self.send(200, STATE["settings"])
            if what == "client":
                STATE["clients"][arg["client_id"]] = arg["client_secret"]
                return self.send(200, {})
            if what == "mint":
                body = issue(arg["user"], arg.get("client_id", "mailpull-test"), arg.get("scope", "mail"),
                             lifetime=arg.get("access_lifetime"))
                return self.send(200, body)
        self.send(404, {"error": "unknown control " + what})


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
