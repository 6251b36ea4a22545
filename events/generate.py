#!/usr/bin/env python3
"""Regenerate MAD's sample events from the SAM CLI's own templates.

    python3 -m venv /tmp/samvenv && /tmp/samvenv/bin/pip install aws-sam-cli
    SAM=/tmp/samvenv/bin/sam python3 events/generate.py

Every event starts as the output of `sam local generate-event ...` (no
Docker needed); this script then puts MAD's route keys, paths, headers,
bodies and authorizer contexts into it. It keeps every field SAM generates,
with two exceptions API Gateway itself makes: a public route's event has no
`requestContext.authorizer` (API Gateway sends none without an authorizer),
and SAM's JWT-authorizer placeholder becomes the Lambda authorizer's
`authorizer.lambda` context on protected routes. Fields a request does not
use hold empty values ({} / [] / ""), which decode exactly as absent ones.

SAM has no generator for three kinds of event MAD uses; they are derived
as follows (see README.md):
  - payload 2.0 REQUEST authorizer events: SAM's http-api-proxy event (the
    same requestContext) plus version/type/routeArn/identitySource, minus
    body and isBase64Encoded, as documented for HTTP API Lambda authorizers;
    `apigateway request-authorizer` is the REST API (payload 1.0) shape.
  - Secrets Manager rotation events: {Step, SecretId, ClientRequestToken,
    RotationToken} as Secrets Manager documents them.
  - the migrate trigger: the handler ignores its payload.

Ids are fixed UUIDs; tests rewrite them to the ids of the rows they create.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys

SAM = os.environ.get("SAM", "sam")
HERE = os.path.dirname(os.path.abspath(__file__))

ACCOUNT = "123456789012"
REGION = "us-east-1"
STAGE = "dev"  # the CDK stack's default stage; names follow shared/stack
API_ID = "a1b2c3d4e5"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"

BUILTIN_PIPELINE = "00000000-0000-7000-8000-000000000001"  # domain.BuiltinPipelineID


def uid(n):
    return f"0193d2a0-0000-7000-8000-{n:012x}"


ORG = uid(0x01)
ADMIN = uid(0x02)
STANDARD = uid(0x03)
ROOT = uid(0x04)
JTI = uid(0x05)
LIGAND = uid(0x06)
RECEPTOR = uid(0x07)
UPLOAD = uid(0x08)
JOB = uid(0x09)
SERVICE_ACCOUNT = uid(0x0A)
REQUEST_ID = uid(0x0B)
PIPELINE = uid(0x0C)
OTHER_USER = uid(0x0D)

ACCESS_TOKEN = "ACCESS_TOKEN"  # tests sign real tokens
REFRESH_TOKEN = "REFRESH_TOKEN"
PASSWORD = "correct horse battery staple"

UPLOADS_BUCKET = f"mad-{STAGE}-uploads-{ACCOUNT}-{REGION}"
JOBS_QUEUE = f"mad-{STAGE}-jobs"
JOBS_DLQ = f"mad-{STAGE}-jobs-dlq"
UPLOADS_QUEUE = f"mad-{STAGE}-uploads"

IMATINIB = "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1 imatinib\n"
BOX = {"center": [15.19, 53.903, 16.917], "size": [20, 20, 20]}

PRINCIPALS = {
    "root": {"sub": ROOT, "sub_type": "user", "org_id": "", "roles": "root", "scopes": "", "jti": JTI},
    "admin": {"sub": ADMIN, "sub_type": "user", "org_id": ORG, "roles": "admin", "scopes": "", "jti": JTI},
    "standard": {"sub": STANDARD, "sub_type": "user", "org_id": ORG, "roles": "standard", "scopes": "", "jti": JTI},
}


def sam(*args):
    out = subprocess.check_output([SAM, "local", "generate-event", *args])
    return json.loads(out)


def write(rel, obj):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    print("wrote", rel)


def multipart(boundary, fields):
    """A multipart/form-data body as a browser or curl -F sends it."""
    out = b""
    for name, filename, ctype, value in fields:
        out += f"--{boundary}\r\n".encode()
        disp = f'Content-Disposition: form-data; name="{name}"'
        if filename:
            disp += f'; filename="{filename}"'
        out += disp.encode() + b"\r\n"
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + value.encode() + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def http_event(route_key, path, params=None, query=None, body=None, content_type="application/json",
               principal=None, headers=None, context=None, base64_body=False):
    """One payload 2.0 request: SAM's http-api-proxy with MAD's values."""
    method = route_key.split(" ", 1)[0] if route_key != "$default" else None
    if method is None:
        method = (headers or {}).pop(":method", "GET")
    raw_body = body if isinstance(body, bytes) else (body or "").encode()
    ev = sam("apigateway", "http-api-proxy", "--method", method, "--path", path.lstrip("/"),
             "--body", "x", "--account-id", ACCOUNT, "--dns-suffix", f"{REGION}.amazonaws.com")
    query = query or {}
    raw_query = "&".join(f"{k}={v}" for k, v in query.items())
    h = {
        "accept": "application/json",
        "host": DOMAIN,
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-67a1b2c3-0123456789abcdef01234567",
        "x-forwarded-for": "198.51.100.23",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        "x-request-id": REQUEST_ID,
    }
    if principal:
        h["authorization"] = f"Bearer {ACCESS_TOKEN}"
    if raw_body:
        h["content-type"] = content_type
        h["content-length"] = str(len(raw_body))
    h.update(headers or {})
    ev["routeKey"] = route_key
    ev["rawPath"] = path
    ev["rawQueryString"] = raw_query
    ev["cookies"] = []
    ev["headers"] = dict(sorted(h.items()))
    ev["queryStringParameters"] = query
    ev["pathParameters"] = params or {}
    ev["stageVariables"] = {}
    rc = ev["requestContext"]
    rc["apiId"] = API_ID
    rc["domainName"] = DOMAIN
    rc["domainPrefix"] = API_ID
    rc["routeKey"] = route_key
    rc["requestId"] = "Ec2JhgVHoAMEbcw="  # API Gateway's own id (not a UUID)
    rc["time"] = "03/Dec/2025:16:20:00 +0000"
    rc["timeEpoch"] = 1764778800000
    rc["http"].update({"path": path, "sourceIp": "198.51.100.23", "userAgent": "curl/8.5.0"})
    if context is not None:
        rc["authorizer"] = {"lambda": context}
    elif principal:
        rc["authorizer"] = {"lambda": dict(PRINCIPALS[principal])}
    else:
        del rc["authorizer"]
    if base64_body:
        ev["body"] = base64.b64encode(raw_body).decode()
        ev["isBase64Encoded"] = True
    else:
        ev["body"] = raw_body.decode()
        ev["isBase64Encoded"] = False
    return ev


def j(obj):
    return json.dumps(obj, separators=(",", ":"))


def apigw():
    R = "apigw/"
    # health
    write(R + "health/health.json", http_event("GET /health", "/health"))
    write(R + "health/ready.json", http_event("GET /ready", "/ready"))
    write(R + "health/openapi-document.json", http_event("GET /openapi.json", "/openapi.json"))
    write(R + "health/jwks.json", http_event("GET /.well-known/jwks.json", "/.well-known/jwks.json"))
    write(R + "health/default-route-not-found.json", http_event("$default", "/api/v1/nope"))
    write(R + "health/default-method-not-allowed.json",
          http_event("$default", "/health", headers={":method": "DELETE"}))

    # auth
    write(R + "auth/token-password.json", http_event("POST /api/v1/auth/token", "/api/v1/auth/token",
          body=j({"email": "ada@example.org", "password": PASSWORD, "org_id": ORG})))
    write(R + "auth/token-client-credentials.json", http_event("POST /api/v1/auth/token", "/api/v1/auth/token",
          body=j({"client_id": "mad_sa_" + SERVICE_ACCOUNT.replace("-", ""),
                  "client_secret": "mad_sk_CLIENT_SECRET_SHOWN_ONCE"})))
    write(R + "auth/refresh.json", http_event("POST /api/v1/auth/refresh", "/api/v1/auth/refresh",
          body=j({"refresh_token": REFRESH_TOKEN})))
    write(R + "auth/logout.json", http_event("POST /api/v1/auth/logout", "/api/v1/auth/logout",
          body=j({"refresh_token": REFRESH_TOKEN}), principal="standard"))
    write(R + "auth/me.json", http_event("GET /api/v1/me", "/api/v1/me", principal="standard"))
    # What the function sees when the authorizer refused the token.
    write(R + "auth/me-auth-error.json", http_event("GET /api/v1/me", "/api/v1/me", principal="standard",
          context={"auth_error": "AUTH_UNAUTHORIZED", "auth_message": "invalid or expired token"}))

    # admin
    write(R + "admin/create-org.json", http_event("POST /api/v1/orgs", "/api/v1/orgs", principal="root",
          body=j({"name": "Acme Bio", "admin_email": "admin@acme.example", "admin_password": PASSWORD})))
    write(R + "admin/list-orgs.json", http_event("GET /api/v1/orgs", "/api/v1/orgs", principal="root",
          query={"limit": "50"}))
    write(R + "admin/get-org.json", http_event("GET /api/v1/orgs/{org_id}", f"/api/v1/orgs/{ORG}",
          params={"org_id": ORG}, principal="root"))
    write(R + "admin/update-org.json", http_event("PATCH /api/v1/orgs/{org_id}", f"/api/v1/orgs/{ORG}",
          params={"org_id": ORG}, principal="root",
          body=j({"status": "active", "quotas": {"max_active_jobs": 10, "max_storage_bytes": 10737418240}})))
    write(R + "admin/create-user.json", http_event("POST /api/v1/users", "/api/v1/users", principal="admin",
          body=j({"email": "grace@acme.example", "password": PASSWORD, "roles": ["standard"]})))
    write(R + "admin/list-users.json", http_event("GET /api/v1/users", "/api/v1/users", principal="admin",
          query={"limit": "50"}))
    write(R + "admin/get-user.json", http_event("GET /api/v1/users/{user_id}", f"/api/v1/users/{OTHER_USER}",
          params={"user_id": OTHER_USER}, principal="admin"))
    write(R + "admin/update-user.json", http_event("PATCH /api/v1/users/{user_id}", f"/api/v1/users/{OTHER_USER}",
          params={"user_id": OTHER_USER}, principal="admin", body=j({"roles": ["operator"], "enabled": True})))
    write(R + "admin/create-service-account.json", http_event("POST /api/v1/service-accounts",
          "/api/v1/service-accounts", principal="admin", body=j({"name": "ci-pipeline", "roles": ["standard"]})))
    write(R + "admin/list-service-accounts.json", http_event("GET /api/v1/service-accounts",
          "/api/v1/service-accounts", principal="admin"))
    write(R + "admin/delete-service-account.json", http_event(
          "DELETE /api/v1/service-accounts/{service_account_id}", f"/api/v1/service-accounts/{SERVICE_ACCOUNT}",
          params={"service_account_id": SERVICE_ACCOUNT}, principal="admin"))
    write(R + "admin/list-audit.json", http_event("GET /api/v1/audit", "/api/v1/audit", principal="admin",
          query={"action": "job.created", "since": "2025-01-01T00:00:00Z"}))

    # molecules
    write(R + "molecules/create-molecule-json.json", http_event("POST /api/v1/molecules", "/api/v1/molecules",
          principal="standard", body=j({"name": "imatinib", "format": "smi", "content": IMATINIB})))
    boundary = "------------------------MADsampleBoundary7d1f"
    write(R + "molecules/create-molecule-multipart.json", http_event("POST /api/v1/molecules",
          "/api/v1/molecules", principal="standard", base64_body=True,
          content_type=f"multipart/form-data; boundary={boundary}",
          body=multipart(boundary, [("name", None, None, "imatinib"), ("format", None, None, "smi"),
                                    ("file", "imatinib.smi", "application/octet-stream", IMATINIB)])))
    write(R + "molecules/list-molecules.json", http_event("GET /api/v1/molecules", "/api/v1/molecules",
          principal="standard", query={"limit": "50"}))
    write(R + "molecules/create-upload.json", http_event("POST /api/v1/molecules/uploads",
          "/api/v1/molecules/uploads", principal="standard",
          body=j({"name": "imatinib (1iep ligand)", "format": "sdf", "size_bytes": 6621,
                  "run": {"pipeline_id": BUILTIN_PIPELINE, "receptor": RECEPTOR,
                          "params": dict(BOX, exhaustiveness=1, seed=42)}})))
    write(R + "molecules/get-upload.json", http_event("GET /api/v1/molecules/uploads/{upload_id}",
          f"/api/v1/molecules/uploads/{UPLOAD}", params={"upload_id": UPLOAD}, principal="standard"))
    write(R + "molecules/get-molecule.json", http_event("GET /api/v1/molecules/{molecule_id}",
          f"/api/v1/molecules/{LIGAND}", params={"molecule_id": LIGAND}, principal="standard"))
    write(R + "molecules/download-molecule.json", http_event("GET /api/v1/molecules/{molecule_id}/download",
          f"/api/v1/molecules/{LIGAND}/download", params={"molecule_id": LIGAND}, principal="standard"))
    write(R + "molecules/delete-molecule.json", http_event("DELETE /api/v1/molecules/{molecule_id}",
          f"/api/v1/molecules/{LIGAND}", params={"molecule_id": LIGAND}, principal="standard"))

    # jobs
    write(R + "jobs/list-pipelines.json", http_event("GET /api/v1/pipelines", "/api/v1/pipelines",
          principal="standard"))
    write(R + "jobs/create-pipeline.json", http_event("POST /api/v1/pipelines", "/api/v1/pipelines",
          principal="admin", body=j({"name": "vina-quick", "engine": "vina", "version": "1.2.3",
                                     "defaults": {"exhaustiveness": 4, "num_modes": 5}})))
    write(R + "jobs/get-pipeline.json", http_event("GET /api/v1/pipelines/{pipeline_id}",
          f"/api/v1/pipelines/{BUILTIN_PIPELINE}", params={"pipeline_id": BUILTIN_PIPELINE}, principal="standard"))
    write(R + "jobs/create-job.json", http_event("POST /api/v1/pipelines/{pipeline_id}/jobs",
          f"/api/v1/pipelines/{BUILTIN_PIPELINE}/jobs", params={"pipeline_id": BUILTIN_PIPELINE},
          query={"use_cache": "true"}, principal="standard", headers={"idempotency-key": uid(0x0E)},
          body=j({"inputs": {"receptor": RECEPTOR, "ligand": LIGAND},
                  "params": dict(BOX, exhaustiveness=1, num_modes=3, seed=42)})))
    write(R + "jobs/list-jobs.json", http_event("GET /api/v1/jobs", "/api/v1/jobs", principal="standard",
          query={"status": "COMPLETED", "limit": "20"}))
    for name, suffix, key in [("get-job", "", "GET /api/v1/jobs/{job_id}"),
                              ("job-status", "/status", "GET /api/v1/jobs/{job_id}/status"),
                              ("job-results", "/results", "GET /api/v1/jobs/{job_id}/results"),
                              ("job-events", "/events", "GET /api/v1/jobs/{job_id}/events"),
                              ("job-logs", "/logs", "GET /api/v1/jobs/{job_id}/logs"),
                              ("cancel-job", "/cancel", "POST /api/v1/jobs/{job_id}/cancel")]:
        write(R + f"jobs/{name}.json", http_event(key, f"/api/v1/jobs/{JOB}{suffix}", params={"job_id": JOB},
              principal="standard"))
    write(R + "jobs/job-file.json", http_event("GET /api/v1/jobs/{job_id}/files/{filename}",
          f"/api/v1/jobs/{JOB}/files/poses.sdf", params={"job_id": JOB, "filename": "poses.sdf"},
          principal="standard"))
    # HTTP APIs hand over the URL-decoded path and parameters.
    uri = f"mad://org/{ORG}/jobs/{JOB}/poses.sdf"
    write(R + "jobs/get-artifact.json", http_event("GET /api/v1/artifacts/{uri+}", f"/api/v1/artifacts/{uri}",
          params={"uri": uri}, principal="standard"))


def authorizer():
    base = http_event("GET /api/v1/me", "/api/v1/me", principal="standard")
    for name, value in [("bearer", f"Bearer {ACCESS_TOKEN}"), ("no-header", None),
                        ("basic", "Basic " + base64.b64encode(b"ada@example.org:" + PASSWORD.encode()).decode())]:
        ev = json.loads(json.dumps(base))
        ev = {"version": "2.0", "type": "REQUEST",
              "routeArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/$default/GET/api/v1/me",
              "identitySource": [value] if value else [], **ev}
        for k in ("body", "isBase64Encoded"):
            del ev[k]
        del ev["requestContext"]["authorizer"]
        if value:
            ev["headers"]["authorization"] = value
        else:
            del ev["headers"]["authorization"]
        write(f"authorizer/{name}.json", ev)


def sqs_event(queue, body, attrs=None):
    # SAM substitutes --body into its template unescaped, so a JSON body
    # breaks generation: generate with SAM's default body and set it after.
    ev = sam("sqs", "receive-message", "--queue-name", queue, "--account-id", ACCOUNT, "--region", REGION)
    rec = ev["Records"][0]
    rec["body"] = body
    rec["md5OfBody"] = hashlib.md5(body.encode()).hexdigest()
    rec["messageAttributes"] = attrs or {}
    return ev


def sqs():
    job = j({"job_id": JOB, "org_id": ORG})
    attrs = {k: {"stringValue": v, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
             for k, v in (("org_id", ORG), ("job_id", JOB))}
    write("sqs/jobs-message.json", sqs_event(JOBS_QUEUE, job, attrs))
    write("sqs/jobs-dlq-message.json", sqs_event(JOBS_DLQ, job, attrs))
    s3 = sam("s3", "put", "--bucket", UPLOADS_BUCKET, "--key", f"{ORG}/uploads/{UPLOAD}", "--region", REGION)
    obj = s3["Records"][0]["s3"]["object"]
    obj["size"] = 6621
    obj["eTag"] = "5f1b2a7c9d3e4f60718293a4b5c6d7e8"
    s3["Records"][0]["s3"]["configurationId"] = "mad-uploads-object-created"
    write("sqs/uploads-s3-put.json", sqs_event(UPLOADS_QUEUE, j(s3)))


def schedule():
    ev = sam("cloudwatch", "scheduled-event", "--rule", f"mad-{STAGE}-sweeper-schedule",
             "--account-id", ACCOUNT, "--region", REGION)
    write("schedule/sweeper.json", {"version": "0", **ev})  # EventBridge sends "version": "0"


def rotate():
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:mad/{STAGE}/jwt-signing-key-AbCdEf"
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        write(f"rotate/{step}.json", {"Step": step, "SecretId": arn, "ClientRequestToken": uid(0x0F),
                                      "RotationToken": uid(0x10)})


def migrate():
    write("migrate/create.json", {"RequestType": "Create"})
    write("migrate/trigger.json", {})  # CDK's Trigger invokes without a payload


if __name__ == "__main__":
    subprocess.check_call([SAM, "--version"])
    apigw()
    authorizer()
    sqs()
    schedule()
    rotate()
    migrate()
    sys.exit(0)
