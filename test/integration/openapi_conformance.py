#!/usr/bin/python3
"""openapi_conformance.py: docs/openapi.yaml against the real gateway.

Starts its own database (on the ctest `pg` fixture's server), real `dtp`
and `taskpilot` processes and several `tpgateway`s, drives every documented
operation to its success and to every documented error status that can be
triggered, and checks each answer against the document: the status is
documented for the operation, the Content-Type is the documented media
type, the body validates against the documented schema (OpenAPI 3.0
`nullable` turned into JSON Schema), required response headers are there,
and an error body's code, name and HTTP status agree. It also checks that
the request bodies and query values it sends as good validate against the
documented request schemas, and the bad ones do not; that every documented
path refuses other methods with 405 and the documented Allow list; that
every GET answers HEAD alike without a body; and, at the end, that every
documented status of every operation was seen, but for a short list that
cannot be provoked from outside (it is printed). With --routes, the
operations must also be exactly the rows of shim/route.c's route table.

The gateways:
  open    the normal one, body limit 16 KiB (413)
  auth    TP_API_TOKEN set (401)
  dead    pointed at ports where nothing listens (503)
  frozen  pointed at a dtp and a taskpilot stopped with SIGSTOP, RPC
          timeout 500 ms (504)
  small   RPC messages of at most 8 KiB, bodies up to 64 KiB (429)

Needs Debian's python3-yaml and python3-jsonschema; run with /usr/bin/python3.
Environment: TP_BIN_DIR (the build directory), TP_TEST_PG_DIR (the fixture's
folder, holding `url`) or DATABASE_URL. Exit status 0 when everything
conforms.
"""

import argparse
import copy
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

try:
    import jsonschema
    import yaml
except ImportError as e:  # pragma: no cover
    sys.exit("openapi_conformance: %s: install python3-yaml and "
             "python3-jsonschema (scripts/deps.sh) and run with "
             "/usr/bin/python3" % e)

START_S = 20
TOKEN = "conformance-t0ken"
BODY_LIMIT = 16384
METRICS_CT = "text/plain; version=0.0.4; charset=utf-8"

# Statuses documented but not provoked here, with why.
UNTRIGGERED = {
    "499": "only while the gateway stops with calls pending",
    "500": "needs a broken service or database",
}
UNTRIGGERED_OPS = {
    ("/api/tasks/{id}/execution", "get", "429"):
        "needs a DTP task larger than TaskPilot's reply limit",
    ("/api/tasks/{id}/cancel", "put", "429"):
        "needs a DTP task larger than TaskPilot's reply limit",
    ("/metrics", "get", "503"): "only while the gateway stops",
}

# gRPC code -> (name, HTTP status), DESIGN §7.
CODES = {
    1: ("CANCELLED", 499), 2: ("UNKNOWN", 500), 3: ("INVALID_ARGUMENT", 400),
    4: ("DEADLINE_EXCEEDED", 504), 5: ("NOT_FOUND", 404),
    6: ("ALREADY_EXISTS", 409), 7: ("PERMISSION_DENIED", 403),
    8: ("RESOURCE_EXHAUSTED", 429), 9: ("FAILED_PRECONDITION", 409),
    10: ("ABORTED", 500), 11: ("OUT_OF_RANGE", 500),
    12: ("UNIMPLEMENTED", 501), 13: ("INTERNAL", 500),
    14: ("UNAVAILABLE", 503), 15: ("DATA_LOSS", 500),
    16: ("UNAUTHENTICATED", 401),
}


class Failure(Exception):
    pass


def fail(msg):
    raise Failure(msg)


def log(msg):
    print("openapi: " + msg, flush=True)


# The document.

def resolve(doc, ref):
    if not ref.startswith("#/"):
        fail("only local $refs are supported: %s" % ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            fail("dangling $ref %s" % ref)
        node = node[part]
    return node


def deref(doc, node, seen=()):
    """A copy of node with every $ref replaced by what it points to."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                fail("recursive $ref %s" % ref)
            return deref(doc, resolve(doc, ref), seen + (ref,))
        return {k: deref(doc, v, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [deref(doc, v, seen) for v in node]
    return node


def to_json_schema(s):
    """OpenAPI 3.0 schema -> JSON Schema: nullable: true becomes a "null"
    type (and a None in an enum)."""
    if isinstance(s, list):
        return [to_json_schema(v) for v in s]
    if not isinstance(s, dict):
        return s
    out = {k: to_json_schema(v) for k, v in s.items() if k != "nullable"}
    if s.get("nullable") is True:
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        elif isinstance(t, list) and "null" not in t:
            out["type"] = t + ["null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
    return out


RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time")
def is_date_time(v):
    return not isinstance(v, str) or RFC3339.match(v) is not None


def validator(schema):
    js = to_json_schema(schema)
    jsonschema.Draft7Validator.check_schema(js)
    return jsonschema.Draft7Validator(js, format_checker=FORMATS)


class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.raw = yaml.safe_load(f)
        if not str(self.raw.get("openapi", "")).startswith("3.0"):
            fail("not an OpenAPI 3.0 document")
        self.doc = deref(self.raw, self.raw)
        self.ops = {}
        ids = set()
        for tpl, item in self.doc["paths"].items():
            for method, op in item.items():
                if method not in ("get", "put", "post", "delete", "patch",
                                  "head", "options"):
                    fail("unexpected key %s in path %s" % (method, tpl))
                oid = op.get("operationId")
                if not oid or oid in ids:
                    fail("%s %s: missing or repeated operationId" %
                         (method, tpl))
                ids.add(oid)
                for p in re.findall(r"{(\w+)}", tpl):
                    if not any(x["in"] == "path" and x["name"] == p and
                               x.get("required") for x in
                               op.get("parameters", [])):
                        fail("%s %s: path parameter %s not declared" %
                             (method, tpl, p))
                self.ops[(tpl, method)] = op
                # Every schema in the document must be valid JSON Schema.
                for st, r in op["responses"].items():
                    for media in r.get("content", {}).values():
                        validator(media["schema"])
        self.error = validator(self.doc["components"]["schemas"]["Error"])

    def op(self, tpl, method):
        if (tpl, method) not in self.ops:
            fail("%s %s is not in the document" % (method.upper(), tpl))
        return self.ops[(tpl, method)]

    def body_validator(self, tpl, method):
        op = self.op(tpl, method)
        return validator(
            op["requestBody"]["content"]["application/json"]["schema"])

    def param_validator(self, tpl, method, name, where="query"):
        for p in self.op(tpl, method).get("parameters", []):
            if p["name"] == name and p["in"] == where:
                return validator(p["schema"])
        fail("%s %s has no %s parameter %s" % (method, tpl, where, name))


# Processes.

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, tmp, name, argv, env):
        self.name = name
        self.log_path = os.path.join(tmp, name + ".log")
        full = dict(os.environ)
        full.pop("TP_API_TOKEN", None)
        full.update(env)
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(argv, env=full, stdin=subprocess.DEVNULL,
                                  stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGCONT)
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                self.log.close()
                return -1
        self.log.close()
        return self.p.returncode


def wait_for(what, pred, timeout=START_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    fail("timed out waiting for " + what)


def psql(url, sql):
    exe = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
    r = subprocess.run([exe, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url,
                        "-c", sql], capture_output=True, text=True)
    if r.returncode != 0:
        fail("psql %s: %s" % (sql, r.stderr.strip()))


def url_with_db(url, db):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + db, u.query,
                                    u.fragment))


# HTTP.

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)


def request(port, method, path, body=None, headers=None):
    h = {"Connection": "close"}
    if body is not None:
        h["Content-Type"] = "application/json"
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
    h.update(headers or {})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        c.close()


def raw_head(port, path, headers=None):
    """HEAD on a raw socket, read to EOF: nothing may follow the headers."""
    extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(("HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "%s\r\n" % (path, extra)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        fail("HEAD %s: no complete answer: %r" % (path, data))
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return Resp(status, hdrs, rest)


# The checks.

class Checker:
    def __init__(self, spec, tmp):
        self.spec = spec
        self.tmp = tmp
        self.seen = set()
        self.checked = 0
        self.promtool = shutil.which("promtool")

    def check(self, tpl, method, r, what):
        op = self.spec.op(tpl, "get" if method == "head" else method)
        key = str(r.status)
        where = "%s %s (%s)" % (method.upper(), tpl, what)
        if key not in op["responses"]:
            fail("%s: HTTP %s is not documented (documented: %s): %s" %
                 (where, key, sorted(op["responses"]), r.body[:300]))
        doc = op["responses"][key]
        ct = r.headers.get("content-type", "")
        content = doc.get("content", {})
        if content:
            media = ct.split(";")[0].strip()
            if media not in content:
                fail("%s: Content-Type %r is not one of %s" %
                     (where, ct, list(content)))
            if method == "head":
                if r.body:
                    fail("%s: HEAD answered with a body" % where)
            elif media == "application/json":
                try:
                    data = r.json()
                except ValueError as e:
                    fail("%s: body is not JSON (%s): %r" %
                         (where, e, r.body[:300]))
                errs = sorted(validator(content[media]["schema"])
                              .iter_errors(data), key=str)
                if errs:
                    fail("%s: body does not match the document: %s at %s: "
                         "%s" % (where, errs[0].message,
                                 "/".join(map(str, errs[0].path)),
                                 r.body[:500]))
                if r.status >= 400:
                    self.check_error(where, r.status, data)
            elif media == "text/plain":
                self.check_metrics(where, ct, r.body)
        for name, h in doc.get("headers", {}).items():
            v = r.headers.get(name.lower())
            if v is None:
                if h.get("required"):
                    fail("%s: header %s is missing" % (where, name))
                continue
            errs = list(validator(h["schema"]).iter_errors(v))
            if errs:
                fail("%s: header %s: %s" % (where, name, errs[0].message))
        self.seen.add((tpl, method if method != "head" else "get", key))
        self.checked += 1

    def check_error(self, where, status, data):
        name, http_status = CODES[data["code"]]
        if data["status"] != name:
            fail("%s: code %d is %s, not %s" %
                 (where, data["code"], name, data["status"]))
        # 405 and 413 are the router's and the body limit's own.
        if (status, data["code"]) not in ((405, 12), (413, 8)) and \
                status != http_status:
            fail("%s: %s is HTTP %d, not %d" %
                 (where, name, http_status, status))

    def check_metrics(self, where, ct, body):
        if ct != METRICS_CT:
            fail("%s: Content-Type %r, want %r" % (where, ct, METRICS_CT))
        text = body.decode("utf-8")
        if "# TYPE tp_http_requests_total counter\n" not in text:
            fail("%s: no tp_http_requests_total family" % where)
        if self.promtool:
            r = subprocess.run([self.promtool, "check", "metrics"],
                               input=body, capture_output=True)
            if r.returncode != 0:
                fail("%s: promtool check metrics: %s" %
                     (where, (r.stdout + r.stderr).decode()))

    def expect(self, port, method, path, tpl, want, body=None, headers=None,
               what=""):
        r = request(port, method, path, body, headers)
        if r.status != want:
            fail("%s %s (%s): HTTP %d, want %d: %s" %
                 (method, path, what, r.status, want, r.body[:500]))
        self.check(tpl, method.lower(), r, what or path)
        return r

    def coverage(self):
        missing, skipped = [], []
        for (tpl, method), op in sorted(self.spec.ops.items()):
            for key in op["responses"]:
                if (tpl, method, key) in self.seen:
                    continue
                why = UNTRIGGERED.get(key) or \
                    UNTRIGGERED_OPS.get((tpl, method, key))
                if why:
                    skipped.append("%s %s %s: %s" %
                                   (method.upper(), tpl, key, why))
                else:
                    missing.append("%s %s %s" % (method.upper(), tpl, key))
        for s in skipped:
            log("not provoked: " + s)
        if missing:
            fail("documented but never seen: " + ", ".join(missing))


# The system under test.

class System:
    def __init__(self, bin_dir, tmp):
        self.bin = bin_dir
        self.tmp = tmp
        self.procs = []
        self.db_url = None
        self.server_url = None

    def start(self, name, argv, env):
        p = Proc(self.tmp, name, argv, env)
        self.procs.append(p)
        return p

    def gateway(self, name, durl, purl, extra=(), env=None, healthy=True):
        p = self.start(name, [os.path.join(self.bin, "tpgateway"),
                              "--dtp-listen", "127.0.0.1:0",
                              "--pilot-listen", "127.0.0.1:0",
                              "--dtp-url", durl, "--pilot-url", purl] +
                       list(extra), env or {})

        def ready():
            m = re.search(r" ready .* dtp_port=(\d+) .*pilot_port=(\d+)",
                          p.text())
            if p.p.poll() is not None:
                fail("%s exited: %s" % (name, p.text()))
            return m and (int(m.group(1)), int(m.group(2)))
        ports = wait_for(name + " ready", ready)
        if healthy:
            for port in ports:
                wait_for("%s :%d/healthz" % (name, port),
                         lambda: request(port, "GET", "/healthz").status == 200)
        return ports

    def services(self, tag, workers):
        durl = "tcp://127.0.0.1:%d" % free_port()
        purl = "tcp://127.0.0.1:%d" % free_port()
        d = self.start("dtp" + tag, [os.path.join(self.bin, "dtp")], {
            "DTP_LISTEN": durl, "DTP_DATABASE_URL": self.db_url,
            "DTP_WORKERS": str(workers)})
        p = self.start("taskpilot" + tag,
                       [os.path.join(self.bin, "taskpilot")], {
                           "PILOT_LISTEN": purl,
                           "PILOT_DATABASE_URL": self.db_url,
                           "PILOT_DTP_URL": durl})
        return d, p, durl, purl

    def up(self):
        pg = os.environ.get("DATABASE_URL")
        if not pg:
            d = os.environ.get("TP_TEST_PG_DIR")
            if not d:
                fail("neither DATABASE_URL nor TP_TEST_PG_DIR is set")
            with open(os.path.join(d, "url")) as f:
                pg = f.read().strip()
        self.server_url = pg
        name = "t_openapi_%d" % os.getpid()
        psql(pg, 'CREATE DATABASE "%s"' % name)
        self.db_name = name
        self.db_url = url_with_db(pg, name)

        _, _, durl, purl = self.services("", 2)
        self.open = self.gateway("gw-open", durl, purl, [
            "--max-body-bytes", str(BODY_LIMIT)])
        self.auth = self.gateway("gw-auth", durl, purl,
                                 env={"TP_API_TOKEN": TOKEN})
        self.small = self.gateway("gw-small", durl, purl, [
            "--max-msg-bytes", "8192", "--max-body-bytes", "65536"])
        self.dead = self.gateway(
            "gw-dead", "tcp://127.0.0.1:%d" % free_port(),
            "tcp://127.0.0.1:%d" % free_port(), healthy=False)
        # Services that take calls and never answer them: stopped once they
        # are up, before any task exists (a stopped node holds no lease).
        fd, fp, fdurl, fpurl = self.services("-frozen", 1)
        self.frozen = self.gateway("gw-frozen", fdurl, fpurl, [
            "--rpc-timeout-ms", "500"])
        fd.p.send_signal(signal.SIGSTOP)
        fp.p.send_signal(signal.SIGSTOP)

    def down(self):
        bad = []
        # The gateways first, while the frozen services are still stopped:
        # resumed, those would answer a backlog of calls whose callers gave
        # up long ago, and a late reply arriving while a socket closes can
        # hang nng 1.5.2's close (rpc/README.md, issue #1543).
        gateways = [p for p in self.procs if p.name.startswith("gw-")]
        services = [p for p in self.procs if not p.name.startswith("gw-")]
        for p in reversed(gateways):
            rc = p.stop()
            if rc != 0:
                bad.append("%s exited %s:\n%s" % (p.name, rc, p.text()))
        # The frozen services are killed, not stopped: resumed, they would
        # drain a backlog of calls whose callers are gone, which is not what
        # this test checks (their graceful stop is every other test's).
        for p in services:
            if p.name.endswith("-frozen") and p.p.poll() is None:
                p.p.kill()
                p.p.wait()
                p.log.close()
        for p in reversed(services):
            if p.name.endswith("-frozen"):
                continue
            rc = p.stop()
            if rc != 0:
                bad.append("%s exited %s:\n%s" % (p.name, rc, p.text()))
        if self.db_url:
            psql(self.server_url,
                 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.db_name)
        if bad:
            fail("\n".join(bad))


def run(spec, c, sysm):
    D, P = sysm.open
    aD, aP = sysm.auth
    xD, xP = sysm.dead
    fD, fP = sysm.frozen
    sD, sP = sysm.small
    auth = {"Authorization": "Bearer " + TOKEN}
    wrong = {"Authorization": "Bearer wrong"}
    E = c.expect

    # Request bodies: the document and the gateway must agree.
    good_tasks = [
        {"type": "demo", "payload": "hello"},
        {"type": "demo", "payload": {"n": [1, 2.5, None, True]}},
        {"type": "demo.x-1_", "payload": None, "maxAttempts": None,
         "timeoutMs": None, "runAt": None, "idempotencyKey": None},
        {"type": "demo", "payload": 7, "maxAttempts": 100,
         "timeoutMs": 86400000, "runAt": "2999-01-01T01:00:00+01:00"},
    ]
    bad_tasks = [
        ({"payload": "x"}, "field \"type\" is required"),
        ({"type": "demo"}, "field \"payload\" is required"),
        ({"type": "demo", "payload": "x", "colour": 1}, "unknown field"),
        ({"type": "demo", "payload": "x", "maxAttempts": "3"},
         "must be an integer"),
        ({"type": "demo", "payload": "x", "maxAttempts": 0},
         "invalid max_attempts"),
        ({"type": "demo", "payload": "x", "maxAttempts": 101},
         "invalid max_attempts"),
        ({"type": "demo", "payload": "x", "timeoutMs": 0},
         "invalid timeout_ms"),
        ({"type": "demo", "payload": "x", "timeoutMs": 86400001},
         "invalid timeout_ms"),
        ({"type": "Demo!", "payload": "x"}, "invalid type"),
        ({"type": "a" * 65, "payload": "x"}, "is too long"),
        ({"type": "", "payload": "x"}, "invalid type"),
        ({"type": "demo", "payload": "x", "runAt": "tomorrow"},
         "RFC 3339"),
        ({"type": "demo", "payload": "x", "idempotencyKey": ""},
         "must not be empty"),
        ({"type": "demo", "payload": "x", "idempotencyKey": "k" * 256},
         "is too long"),
        ([], "must be a JSON object"),
    ]
    v = spec.body_validator("/tasks", "post")
    for b in good_tasks:
        if not v.is_valid(b):
            fail("the document refuses a good body: %s" % b)
        r = E(D, "POST", "/tasks", "/tasks", 201, b, what="good body")
        if r.headers["location"] != "/tasks/%d" % r.json()["id"]:
            fail("Location %s" % r.headers["location"])
    for b, msg in bad_tasks:
        if v.is_valid(b):
            fail("the document accepts a body the gateway refuses: %s" % b)
        r = E(D, "POST", "/tasks", "/tasks", 400, b, what="bad body")
        if msg not in r.json()["message"]:
            fail("%s: message %r lacks %r" % (b, r.json()["message"], msg))
    for text in ["{", "{\"type\":\"demo\"} x", "", "{\"type\":\"d\xff\"}",
                 "[" * 40 + "]" * 40,
                 "{\"type\":\"demo\",\"payload\":1e999}",
                 "{\"type\":\"demo\",\"payload\":123456789012345678901}",
                 "{\"type\":\"demo\",\"type\":\"demo\",\"payload\":1}"]:
        E(D, "POST", "/tasks", "/tasks", 400, text.encode("latin-1"),
          what="bad JSON")

    wv = spec.body_validator("/api/tasks", "post")
    good_web = [{"type": "demo", "payload": "hello"},
                {"type": "demo", "payload": {"k": 1}, "title": "t" * 200},
                {"type": "demo", "payload": None, "title": None}]
    bad_web = [{"type": "demo"}, {"payload": "x"},
               {"type": "demo", "payload": "x", "title": "t" * 201},
               {"type": "demo", "payload": "x", "maxAttempts": 3},
               {"type": 7, "payload": "x"},
               {"type": "Demo!", "payload": "x"}]
    for b in good_web:
        if not wv.is_valid(b):
            fail("the document refuses a good web body: %s" % b)
        r = E(P, "POST", "/api/tasks", "/api/tasks", 201, b, what="good")
        if r.headers["location"] != "/api/tasks/%d" % r.json()["id"]:
            fail("Location %s" % r.headers["location"])
    for b in bad_web:
        if wv.is_valid(b):
            fail("the document accepts a web body the gateway refuses: %s"
                 % b)
        E(P, "POST", "/api/tasks", "/api/tasks", 400, b, what="bad")

    # Query values.
    for tpl, port, name, good, bad in [
            ("/tasks", D, "status", ["PENDING", "CANCELLED"],
             ["DONE", "pending"]),
            ("/tasks", D, "limit", ["1", "1000"], ["0", "1001", "x"]),
            ("/tasks", D, "after", ["0", "5"], ["-1", "x"]),
            ("/tasks", D, "order", ["asc", "desc"], ["up"]),
            ("/tasks", D, "type", ["demo"], ["", "a" * 65]),
            ("/api/tasks", P, "bound", ["true", "false"], ["yes"]),
            ("/api/tasks", P, "limit", ["1"], ["0"]),
            ("/api/tasks", P, "order", ["desc"], ["sideways"]),
            ("/api/tasks", P, "after", ["3"], ["x"])]:
        pv = spec.param_validator(tpl, "get", name)
        for val in good + bad:
            typed = val
            t = pv.schema.get("type")
            if t == "integer" and re.fullmatch(r"-?\d+", val):
                typed = int(val)
            elif t == "boolean" and val in ("true", "false"):
                typed = val == "true"
            ok = pv.is_valid(typed)
            if ok != (val in good):
                fail("document and gateway disagree on %s=%r" % (name, val))
            E(port, "GET", "%s?%s=%s" % (tpl, name, urllib.parse.quote(val)),
              tpl, 200 if val in good else 400, what="%s=%s" % (name, val))
    E(D, "GET", "/tasks?colour=red", "/tasks", 400, what="unknown parameter")

    # DTP: the rest of each operation.
    key = {"Idempotency-Key": "conf-%d" % os.getpid()}
    later = {"type": "demo", "payload": "later",
             "runAt": "2999-01-01T00:00:00Z"}
    first = E(D, "POST", "/tasks", "/tasks", 201, later, key, "keyed").json()
    again = E(D, "POST", "/tasks", "/tasks", 200, later, key, "replay").json()
    if again["id"] != first["id"]:
        fail("a replay returned another task")
    E(D, "POST", "/tasks", "/tasks", 409, dict(later, payload="other"), key,
      "key reuse")
    E(D, "POST", "/tasks", "/tasks", 400, later,
      {"Idempotency-Key": "k" * 256}, "long key header")
    E(D, "POST", "/tasks", "/tasks", 413,
      json.dumps(later) + " " * BODY_LIMIT, what="over the limit")
    E(sD, "POST", "/tasks", "/tasks", 429,
      {"type": "demo", "payload": "x" * 10000}, what="over the RPC limit")
    for port, tpl, body in [(D, "/tasks", later), (P, "/api/tasks", later)]:
        b = dict(body)
        if tpl == "/api/tasks":
            b.pop("runAt")
        E(aD if port == D else aP, "POST", tpl, tpl, 401, b, what="no token")
        E(aD if port == D else aP, "POST", tpl, tpl, 401, b, wrong, "wrong")
        E(aD if port == D else aP, "POST", tpl, tpl, 201, b, auth, "token")
        E(xD if port == D else xP, "POST", tpl, tpl, 503, b, what="dead")
        E(fD if port == D else fP, "POST", tpl, tpl, 504, b, what="frozen")
    E(P, "POST", "/api/tasks", "/api/tasks", 413,
      json.dumps({"type": "demo", "payload": "x" * BODY_LIMIT}),
      what="over the limit")
    E(sP, "POST", "/api/tasks", "/api/tasks", 429,
      {"type": "demo", "payload": "x" * 10000}, what="over the RPC limit")

    tid = first["id"]
    for tpl, path, method, fmt in [
            ("/tasks/{id}", "/tasks/%s", "GET", None),
            ("/tasks/{id}/cancel", "/tasks/%s/cancel", "PUT", None),
            ("/api/tasks/{id}", "/api/tasks/%s", "GET", None),
            ("/api/tasks/{id}/scheduler", "/api/tasks/%s/scheduler", "POST",
             None),
            ("/api/tasks/{id}/execution", "/api/tasks/%s/execution", "GET",
             None),
            ("/api/tasks/{id}/cancel", "/api/tasks/%s/cancel", "PUT", None)]:
        dtp = tpl.startswith("/tasks")
        port = D if dtp else P
        for bad_id in ["abc", "0", "-1", "9223372036854775808", "1.5"]:
            E(port, method, path % bad_id, tpl, 400, what="id " + bad_id)
        E(port, method, path % "987654321", tpl, 404, what="unknown id")
        E(port, method, (path % tid) + "?x=1", tpl, 400, what="parameter")
        E(aD if dtp else aP, method, path % tid, tpl, 401, what="no token")
        E(xD if dtp else xP, method, path % tid, tpl, 503, what="dead")
        E(fD if dtp else fP, method, path % tid, tpl, 504, what="frozen")
    for tpl, port, a, x, f in [("/tasks", D, aD, xD, fD),
                               ("/api/tasks", P, aP, xP, fP)]:
        E(a, "GET", tpl, tpl, 401, what="no token")
        E(a, "GET", tpl, tpl, 200, headers=auth, what="token")
        E(x, "GET", tpl, tpl, 503, what="dead")
        E(f, "GET", tpl, tpl, 504, what="frozen")

    E(D, "GET", "/tasks/%d" % tid, "/tasks/{id}", 200)
    E(D, "GET", "/tasks/%d" % tid, "/tasks/{id}", 200, headers=auth)
    E(aD, "GET", "/tasks/%d" % tid, "/tasks/{id}", 200, headers=auth)
    r = E(D, "PUT", "/tasks/%d/cancel" % tid, "/tasks/{id}/cancel", 200)
    if r.json()["status"] != "CANCELLED":
        fail("cancel of a PENDING task: %s" % r.body)
    E(D, "PUT", "/tasks/%d/cancel" % tid, "/tasks/{id}/cancel", 409,
      what="final")

    # Pages: nextAfter leads to the next page.
    page = E(D, "GET", "/tasks?limit=2&order=asc", "/tasks", 200).json()
    if len(page["tasks"]) != 2 or page["nextAfter"] is None:
        fail("a first page of 2: %s" % page)
    nxt = E(D, "GET", "/tasks?limit=2&after=%d" % page["nextAfter"],
            "/tasks", 200).json()
    if nxt["tasks"][0]["id"] <= page["tasks"][1]["id"]:
        fail("the next page does not follow: %s" % nxt)

    # TaskPilot: binding, execution, cancel.
    def web(body):
        return E(P, "POST", "/api/tasks", "/api/tasks", 201, body).json()

    unbound = web({"type": "demo", "payload": "u"})
    E(P, "GET", "/api/tasks/%d" % unbound["id"], "/api/tasks/{id}", 200)
    E(P, "GET", "/api/tasks/%d/execution" % unbound["id"],
      "/api/tasks/{id}/execution", 409, what="not bound")
    E(P, "PUT", "/api/tasks/%d/cancel" % unbound["id"],
      "/api/tasks/{id}/cancel", 409, what="not bound")
    bound = E(P, "POST", "/api/tasks/%d/scheduler" % unbound["id"],
              "/api/tasks/{id}/scheduler", 200).json()
    if not isinstance(bound["schedulerTaskId"], int):
        fail("bind: %s" % bound)
    E(P, "POST", "/api/tasks/%d/scheduler" % unbound["id"],
      "/api/tasks/{id}/scheduler", 409, what="bound already")
    E(P, "GET", "/api/tasks/%d/execution" % unbound["id"],
      "/api/tasks/{id}/execution", 200)
    E(P, "GET", "/api/tasks?bound=true&limit=1", "/api/tasks", 200)
    # A bound task that is still PENDING: both workers busy sleeping.
    sleepers = [E(D, "POST", "/tasks", "/tasks", 201,
                  {"type": "sleep", "payload": {"ms": 60000}}).json()["id"]
                for _ in range(2)]

    def running():
        return all(request(D, "GET", "/tasks/%d" % i).json()["status"] ==
                   "RUNNING" for i in sleepers)
    wait_for("both workers busy", running)
    waiting = web({"type": "demo", "payload": "w"})
    E(P, "POST", "/api/tasks/%d/scheduler" % waiting["id"],
      "/api/tasks/{id}/scheduler", 200)
    r = E(P, "PUT", "/api/tasks/%d/cancel" % waiting["id"],
          "/api/tasks/{id}/cancel", 200)
    if r.json()["status"] != "CANCELLED":
        fail("cancel of a PENDING execution: %s" % r.body)
    E(P, "PUT", "/api/tasks/%d/cancel" % waiting["id"],
      "/api/tasks/{id}/cancel", 409, what="final")
    for i in sleepers:
        r = E(D, "PUT", "/tasks/%d/cancel" % i, "/tasks/{id}/cancel", 200)
        if not r.json()["cancelRequested"]:
            fail("cancel of a RUNNING task: %s" % r.body)

    def cancelled():
        return all(request(D, "GET", "/tasks/%d" % i).json()["status"] ==
                   "CANCELLED" for i in sleepers)
    wait_for("the sleepers to stop", cancelled)

    # /healthz and /metrics on every port.
    for port in (D, P, aD, aP):
        E(port, "GET", "/healthz", "/healthz", 200)
        E(port, "GET", "/healthz?verbose=1", "/healthz", 400)
    for port in (xD, xP):
        E(port, "GET", "/healthz", "/healthz", 503, what="dead")
    for port in (fD, fP):
        E(port, "GET", "/healthz", "/healthz", 504, what="frozen")
    for port in (D, P, xD, xP, fD, fP):
        E(port, "GET", "/metrics", "/metrics", 200)
    for port in (aD, aP):
        E(port, "GET", "/metrics", "/metrics", 401, what="no token")
        E(port, "GET", "/metrics", "/metrics", 200, headers=auth)
    E(D, "GET", "/metrics?name=x", "/metrics", 400)

    # HEAD on every GET: the GET's status and headers, no body.
    gets = [("/tasks", "/tasks", D), ("/tasks/{id}", "/tasks/%d" % tid, D),
            ("/api/tasks", "/api/tasks", P),
            ("/api/tasks/{id}", "/api/tasks/%d" % unbound["id"], P),
            ("/api/tasks/{id}/execution",
             "/api/tasks/%d/execution" % waiting["id"], P),
            ("/healthz", "/healthz", D), ("/healthz", "/healthz", P),
            ("/metrics", "/metrics", D), ("/metrics", "/metrics", P),
            ("/tasks/{id}", "/tasks/987654321", D),
            ("/api/tasks/{id}", "/api/tasks/x", P)]
    for tpl, path, port in gets:
        g = request(port, "GET", path)
        h = raw_head(port, path)
        if h.status != g.status or \
                h.headers.get("content-type") != \
                g.headers.get("content-type"):
            fail("HEAD %s: %d %s, GET: %d %s" %
                 (path, h.status, h.headers.get("content-type"), g.status,
                  g.headers.get("content-type")))
        # Lists and metrics may change between the two; the rest may not.
        if tpl not in ("/tasks", "/api/tasks", "/metrics") and \
                int(h.headers.get("content-length", -1)) != len(g.body):
            fail("HEAD %s: Content-Length %s, the GET's body is %d bytes" %
                 (path, h.headers.get("content-length"), len(g.body)))
        c.check(tpl, "head", h, "HEAD")
    h = raw_head(aD, "/tasks")
    if h.status != 401 or h.body:
        fail("HEAD without the token: %d %r" % (h.status, h.body))

    # Other methods on every documented path: 405 with the Allow list.
    mna = spec.doc["components"]["responses"]["MethodNotAllowed"]
    for tpl, item in spec.doc["paths"].items():
        methods = {m.upper() for m in item}
        want = [m for m in ("GET", "HEAD", "POST", "PUT")
                if m in methods or (m == "HEAD" and "GET" in methods)]
        path = tpl.replace("{id}", "5")
        port = P if tpl.startswith("/api/") else D
        for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            if m in methods:
                continue
            r = request(port, m, path)
            if r.status != 405:
                fail("%s %s: HTTP %d, want 405" % (m, path, r.status))
            if r.headers.get("allow") != ", ".join(want):
                fail("%s %s: Allow %r, want %r" %
                     (m, path, r.headers.get("allow"), ", ".join(want)))
            data = r.json()
            errs = list(validator(mna["content"]["application/json"]
                                  ["schema"]).iter_errors(data))
            if errs or data["code"] != 12:
                fail("%s %s: 405 body %s" % (m, path, r.body))
            c.checked += 1
    # Unknown paths.
    for port, path in [(D, "/nope"), (D, "/api/tasks"), (P, "/tasks"),
                       (D, "/tasks/"), (P, "/api/tasks/1/other")]:
        r = request(port, "GET", path)
        if r.status != 404 or not spec.error.is_valid(r.json()) or \
                r.json()["code"] != 5:
            fail("GET %s: want a 404 error body, got %d %s" %
                 (path, r.status, r.body))
        c.checked += 1


def check_route_table(spec, route_c):
    """The operations of the document are the rows of shim/route.c's
    route table, no more and no fewer."""
    with open(route_c, encoding="utf-8") as f:
        text = f.read()
    rows = set(re.findall(
        r'SHIM_ROUTE_\w+,\s*SHIM_SERVICE_\w+,\s*"(GET|POST|PUT|DELETE|PATCH)"'
        r',\s*"(/[^"]*)"', text))
    if len(rows) < 5:
        fail("could not read the route table of %s" % route_c)
    ops = {(m.upper(), tpl) for tpl, m in spec.ops}
    if rows != ops:
        fail("routes in %s but not in the document: %s; in the document "
             "but not routed: %s" % (route_c, sorted(rows - ops),
                                     sorted(ops - rows)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", required=True)
    ap.add_argument("--routes", help="shim/route.c, to compare its table")
    ap.add_argument("--bin-dir", default=os.environ.get("TP_BIN_DIR"))
    args = ap.parse_args()
    if not args.bin_dir:
        sys.exit("openapi_conformance: --bin-dir or TP_BIN_DIR is needed")
    tmp = tempfile.mkdtemp(prefix="tp-openapi-")
    sysm = System(args.bin_dir, tmp)
    ok = False
    try:
        spec = Spec(args.spec)
        if args.routes:
            check_route_table(spec, args.routes)
        c = Checker(spec, tmp)
        sysm.up()
        run(spec, c, sysm)
        c.coverage()
        ok = True
        log("%d answers conform to %s" % (c.checked, args.spec))
    except (Failure, jsonschema.SchemaError) as e:
        print("openapi: FAILED: %s" % e, file=sys.stderr, flush=True)
    finally:
        try:
            sysm.down()
        except Failure as e:
            print("openapi: FAILED at shutdown: %s" % e, file=sys.stderr)
            ok = False
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("openapi: logs kept in %s" % tmp, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
