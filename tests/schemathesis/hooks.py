"""Schemathesis hooks for the bridge: sign the webhook requests the way DocSpace and Dropbox do.

The webhook routes (`POST /webhooks/docspace`, `POST /webhooks/dropbox`) verify an HMAC-SHA256
of the raw body before they read it. Unsigned, every generated request would be refused with 401
and only the signature check would be tested. So a request that carries the signature header
gets it replaced by the right signature over the bytes actually sent (a `requests` auth object
runs after the body is serialized); a request that leaves the header out (schemathesis's
missing-header check) stays unsigned and must be refused. Then a failure on a webhook route is
about its body or its answers, i.e. real.

Secrets come from BRIDGE_DOCSPACE_WEBHOOK_SECRET and BRIDGE_DROPBOX_APP_SECRET (run.sh reads
them from `demo --keep-running`).
"""

import hashlib
import hmac
import os

import requests
import schemathesis

SIGNED = {
    "/webhooks/docspace": (
        "x-docspace-signature-256",
        "BRIDGE_DOCSPACE_WEBHOOK_SECRET",
        lambda digest: "sha256=" + digest,
    ),
    "/webhooks/dropbox": (
        "X-Dropbox-Signature",
        "BRIDGE_DROPBOX_APP_SECRET",
        lambda digest: digest,
    ),
}


class Sign(requests.auth.AuthBase):
    def __init__(self, header, secret, render):
        self.header, self.secret, self.render = header, secret, render

    def __call__(self, request):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        digest = hmac.new(self.secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        request.headers[self.header] = self.render(digest)
        return request


@schemathesis.hook
def before_call(context, case, kwargs):
    signed = SIGNED.get(case.operation.path)
    if signed is None or case.method.upper() != "POST":
        return
    header, env, render = signed
    present = {name.lower() for name in (case.headers or {})}
    if header.lower() in present:
        kwargs["auth"] = Sign(header, os.environ[env], render)
