"""SES events through SNS on the WSGI app: messages signed here with an RSA key whose
self-signed certificate a local server hands out in place of SNS's (the AWS host rule
still applies: only the fetch is pointed at 127.0.0.1)."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import types

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from newsletter.serve import sns
from tests.helpers.certs import self_signed
from tests.serve.conftest import in_process
from tests.serve.servekit import SES_TOPIC, WEBHOOK_SECRETS, workspace
from tests.serve.test_webhooks_app import assert_refused, post, recorded

AWS_HOST = "https://sns.us-east-1.amazonaws.com"
CERT_PATH = "/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
CERT_URL = AWS_HOST + CERT_PATH
BOUNCED_AT = "2016-01-27T14:59:38.237Z"  # the SES documentation's example
BOUNCED_EPOCH = 1453906778.237


def certificate(key, days: float = 30, name: str = "sns.amazonaws.com") -> bytes:
    """Return a self-signed PEM certificate of key, valid from a day ago for days."""
    return self_signed(key, name, days=days)


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


class FakeSns(http.server.ThreadingHTTPServer):
    """A local server in SNS's place: certificates by path, and the confirmation GETs."""

    def __init__(self):
        self.files: dict[str, bytes] = {CERT_PATH: certificate(KEY)}
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                if self.path.startswith("/?Action=ConfirmSubscription"):
                    body = b"<ConfirmSubscriptionResponse/>"
                else:
                    body = owner.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def get(self, url: str) -> bytes:
        """Fetch an SNS URL from here instead (the production fetch, another address)."""
        assert url.startswith(AWS_HOST + "/"), url
        return sns.https_get(self.url + url.removeprefix(AWS_HOST))


@pytest.fixture
def fake_sns(monkeypatch):
    server = FakeSns()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(sns, "AWS", sns.Aws(get=server.get))
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def signed(message: dict, key=KEY, version: str = "1") -> bytes:
    """Return the body SNS posts: the message, signed as its documentation says."""
    message = {"SignatureVersion": version, "SigningCertURL": CERT_URL, **message}
    names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    if message["Type"] != "Notification":
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(text.encode(), padding.PKCS1v15(), digest)
    return json.dumps({**message, "Signature": base64.b64encode(signature).decode()}).encode()


def notification(ses_message: dict, **more) -> dict:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": SES_TOPIC,
        "Message": json.dumps(ses_message),
        "Timestamp": "2016-01-27T14:59:38.500Z",
        "UnsubscribeURL": f"{AWS_HOST}/?Action=Unsubscribe&SubscriptionArn={SES_TOPIC}:c9135db0",
        **more,
    }


def bounce(kind: str, *addresses: str, field: str = "notificationType") -> dict:
    return {
        field: "Bounce",
        "bounce": {
            "bounceType": kind,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": a, "action": "failed", "status": "5.1.1"} for a in addresses
            ],
            "timestamp": BOUNCED_AT,
            "feedbackId": "000001378603176d-5a4b5ad9-6f30-4198-a8c3-b1eb0c270a1d-000000",
        },
        "mail": {"timestamp": BOUNCED_AT, "source": "digest@example.org", "destination": []},
    }


def complaint(*addresses: str, feedback: str | None = "abuse") -> dict:
    detail = {
        "userAgent": "AnyCompany Feedback Loop (V0.01)",
        "complainedRecipients": [{"emailAddress": a} for a in addresses],
        "timestamp": "2016-01-27T14:59:39.237Z",
        "feedbackId": "0000013786031775-fea503bc-7497-49e1-881b-a0379bb037d3-000000",
    }
    if feedback:
        detail["complaintFeedbackType"] = feedback
    return {"notificationType": "Complaint", "complaint": detail}


def confirmation(topic: str = SES_TOPIC, kind: str = "SubscriptionConfirmation") -> dict:
    token = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a7"
    return {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": token,
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.",
        "SubscribeURL": f"{AWS_HOST}/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
        "Timestamp": "2012-04-26T20:45:04.751Z",
    }


def test_permanent_bounces_and_complaints_are_recorded(hooked_app, fake_sns):
    bodies = [
        signed(notification(bounce("Permanent", "gone@example.org", "Dead@Example.org"))),
        signed(notification(bounce("Transient", "full@example.org"))),
        signed(notification(bounce("Undetermined", "odd@example.org"))),
        signed(notification(complaint("angry@example.org")), version="2"),
        signed(notification(complaint("nofeedback@example.org", feedback=None))),
        signed(notification(complaint("fine@example.org", feedback="not-spam"))),
        signed(notification(bounce("Permanent", "event@example.org", field="eventType"))),
        signed(notification({"notificationType": "Delivery", "delivery": {}})),
        signed(notification({"notificationType": "Bounce"})),
        signed(notification(bounce("Permanent", "subject@example.org"), Subject="Bounce")),
        signed(notification({}, Message="not SES's JSON")),
    ]
    for body in bodies:
        answer = post(hooked_app, "ses", body)
        assert (answer.status_line, answer.body, answer.logged) == ("200 OK", b"ok\n", ""), body
        assert set(recorded(hooked_app)) <= answer.suppressed_when_answering
    complained = BOUNCED_EPOCH + 1
    assert recorded(hooked_app) == {
        "gone@example.org": ("bounce", "ses", BOUNCED_EPOCH),
        "dead@example.org": ("bounce", "ses", BOUNCED_EPOCH),
        "angry@example.org": ("complaint", "ses", complained),
        "nofeedback@example.org": ("complaint", "ses", complained),
        "event@example.org": ("bounce", "ses", BOUNCED_EPOCH),
        "subject@example.org": ("bounce", "ses", BOUNCED_EPOCH),
    }
    assert fake_sns.requests == [CERT_PATH]  # fetched once, then cached


def test_our_topics_subscription_is_confirmed(hooked_app, fake_sns):
    message = confirmation()
    answer = post(hooked_app, "ses", signed(message))
    assert answer.status_line == "200 OK" and answer.logged == ""
    assert fake_sns.requests == [CERT_PATH, message["SubscribeURL"].removeprefix(AWS_HOST)]
    goodbye = signed(confirmation(kind="UnsubscribeConfirmation"))
    assert post(hooked_app, "ses", goodbye).status == 200
    assert len(fake_sns.requests) == 2  # an unsubscribe confirmation is only acknowledged
    assert recorded(hooked_app) == {}


def test_other_topics_are_refused_before_anything_is_fetched(hooked_app, fake_sns):
    other = SES_TOPIC.replace("ses-events", "someone-elses")
    why = "the message is not from SES_WEBHOOK_TOPIC_ARN's topic"
    for message in (confirmation(other), notification(complaint("a@example.org"), TopicArn=other)):
        assert_refused(post(hooked_app, "ses", signed(message)), "ses", why)
    assert fake_sns.requests == [] and recorded(hooked_app) == {}


@pytest.mark.parametrize(
    "url",
    [
        CERT_URL.replace("https://", "http://"),
        CERT_URL.replace("amazonaws.com", "amazonaws.com.evil.example"),
        CERT_URL.replace("sns.us-east-1", "evil.example/sns.us-east-1"),
        CERT_URL.replace("sns.us-east-1", "sns.us"),
        CERT_URL.replace("sns.us-east-1.amazonaws.com", "sns.us-east-1.amazonaws.com:8443"),
        CERT_URL.replace("sns.us-east-1.amazonaws.com", "sns.us-east-1.amazonaws.com:x"),
        CERT_URL.replace("sns.us-east-1.amazonaws.com", "sns.us-east-1.amazonaws.com:443"),
        CERT_URL.replace("https://", "https://user@evil.example#"),
        "file:///etc/passwd",
        7,
    ],
)
def test_certificates_come_from_sns_hosts_only(hooked_app, fake_sns, url):
    body = signed(notification(complaint("a@example.org"), SigningCertURL=url))
    why = "the URL is not https on an SNS host (sns.<region>.amazonaws.com)"
    assert_refused(post(hooked_app, "ses", body), "ses", why if url != 7 else "no SNS URL")
    assert fake_sns.requests == [] and recorded(hooked_app) == {}


def test_forged_or_tampered_messages_are_refused(hooked_app, fake_sns):
    good = json.loads(signed(notification(complaint("angry@example.org"))))
    forged = "the signature does not verify"
    cases = [
        (signed(notification(complaint("angry@example.org")), key=OTHER_KEY), forged),
        (json.dumps({**good, "Message": good["Message"].replace("angry", "victim")}), forged),
        (json.dumps({**good, "Timestamp": "2016-01-27T14:59:39.500Z"}), forged),
        (json.dumps({**good, "Subject": "added"}), forged),
        (json.dumps({**good, "SignatureVersion": "2"}), forged),  # SHA-1 signed, SHA-256 said
        (json.dumps({**good, "Signature": "not base64!"}), forged),
        (json.dumps({**good, "SignatureVersion": "3"}), "the SignatureVersion is not 1 or 2"),
        (json.dumps({k: v for k, v in good.items() if k != "MessageId"}),
         "the message lacks its signed fields"),
        (json.dumps({**good, "Type": "Other"}), "not an SNS message type we take"),
        (b"[]", "the body is not a JSON object"),
        (b"not json", "the body is not JSON"),
    ]  # fmt: skip
    for body, why in cases:
        answer = post(hooked_app, "ses", body if isinstance(body, bytes) else body.encode())
        assert_refused(answer, "ses", why)
        assert "angry" not in answer.logged and "victim" not in answer.logged
    forged_confirmation = json.loads(signed(confirmation()))
    forged_confirmation["SubscribeURL"] += "&more=1"
    answer = post(hooked_app, "ses", json.dumps(forged_confirmation).encode())
    assert_refused(answer, "ses", forged)
    assert recorded(hooked_app) == {}
    assert fake_sns.requests == [CERT_PATH]  # no confirmation was sent


def test_certificates_that_cannot_be_used_are_refused(hooked_app, fake_sns, monkeypatch):
    cases = [
        ("/SimpleNotificationService-missing.pem", None, " could not be fetched"),
        ("/SimpleNotificationService-text.pem", b"not a certificate", " is not a PEM certificate"),
        ("/SimpleNotificationService-old.pem", certificate(KEY, days=0.5), " is not valid now"),
        ("/SimpleNotificationService-big.pem", b"x" * (64 * 1024 + 1), " could not be fetched"),
        ("/SimpleNotificationService-ec.pem", certificate(EC_KEY), "'s key is not RSA"),
    ]
    for path, content, why in cases:
        if content is not None:
            fake_sns.files[path] = content
        body = signed(notification(complaint("a@example.org"), SigningCertURL=AWS_HOST + path))
        assert_refused(post(hooked_app, "ses", body), "ses", f"the signing certificate{why}")
    assert recorded(hooked_app) == {}
    # None of them was cached, but a URL that failed is not fetched again for five
    # minutes (anyone may post messages naming certificates that are not there).
    path = "/SimpleNotificationService-missing.pem"
    fake_sns.files[path] = certificate(KEY)
    fetched = len(fake_sns.requests)
    body = signed(notification(complaint("a@example.org"), SigningCertURL=AWS_HOST + path))
    why = "the signing certificate could not be fetched (recently)"
    assert_refused(post(hooked_app, "ses", body), "ses", why)
    assert len(fake_sns.requests) == fetched
    later = time.monotonic() + sns.FAILED_SECONDS
    monkeypatch.setattr(sns, "time", types.SimpleNamespace(time=time.time, monotonic=lambda: later))
    assert post(hooked_app, "ses", body).status == 200  # then the certificate is there
    assert fake_sns.requests[fetched:] == [path]


def test_a_failed_confirmation_is_refused_so_sns_sends_it_again(hooked_app, monkeypatch):
    pem = certificate(KEY)

    def get(url: str) -> bytes:
        if url == CERT_URL:
            return pem
        raise OSError("connection refused")

    monkeypatch.setattr(sns, "AWS", sns.Aws(get=get))
    why = "the subscription could not be confirmed (SubscribeURL)"
    assert_refused(post(hooked_app, "ses", signed(confirmation())), "ses", why)


def test_a_cached_certificate_is_refused_once_it_expires(monkeypatch):
    pem = certificate(KEY, days=2)  # from a day ago to a day ahead
    aws = sns.Aws(get=lambda url: pem)
    assert aws.public_key(CERT_URL).public_numbers() == KEY.public_key().public_numbers()
    later = sns.time.time() + 2 * 86400
    monkeypatch.setattr(sns, "time", types.SimpleNamespace(time=lambda: later))
    with pytest.raises(sns.Refused, match=r"^the signing certificate is not valid now$"):
        aws.public_key(CERT_URL)


def test_the_certificate_cache_is_bounded():
    pem = certificate(KEY)
    fetched: list[str] = []
    aws = sns.Aws(get=lambda url: fetched.append(url) or pem, size=2)
    urls = [f"{AWS_HOST}/SimpleNotificationService-{n}.pem" for n in range(3)]
    for url in [*urls, urls[2], urls[0]]:
        aws.public_key(url)
    assert list(aws.certificates) == [urls[2], urls[0]]
    assert fetched == [*urls, urls[0]]


def test_without_the_topic_the_endpoint_does_not_exist(tmp_path, monkeypatch, fake_sns):
    others = {k: v for k, v in WEBHOOK_SECRETS.items() if k != "SES_WEBHOOK_TOPIC_ARN"}
    for app in in_process(workspace(tmp_path / "ws", 8080), monkeypatch, others):
        answer = post(app, "ses", signed(notification(complaint("angry@example.org"))))
        assert answer.status == 404
        assert recorded(app) == {} and fake_sns.requests == []
