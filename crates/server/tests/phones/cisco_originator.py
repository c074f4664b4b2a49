#!/usr/bin/env python3
"""A Cisco enterprise phone as a MakeCall's originator, over UDP, written apart from
Dialtone's SIP stack (sipp cannot take out-of-dialog requests in server mode).

Dialtone's INVITE must carry no offer and no Call-Info auto-answer; the phone rings (180);
Dialtone must then send an out-of-dialog REFER with an x-cisco-remotecc-request answercallreq
naming this ringing dialog (Refer-To cid:, Require norefersub). The phone accepts it (202)
and answers with its offer; the ACK must carry an inactive answer; a re-INVITE brings the
called phone's offer; then the application's BYE ends it. Exit status 0 when all of that
happened; otherwise the reason on stderr and 1.

usage: cisco_originator.py PORT
"""
import os
import re
import socket
import sys
import time

PORT = int(sys.argv[1])
DEADLINE = time.time() + 30
TAG = "ciscophone77"
# PHONE_DEBUG=1 prints every start line received.
DEBUG = bool(os.environ.get("PHONE_DEBUG"))


def fail(why):
    sys.stderr.write("cisco phone: " + why + "\n")
    sys.exit(1)


class Msg:
    def __init__(self, data, addr):
        text = data.decode("utf-8", "replace")
        head, _, self.body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.start = lines[0]
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))
        self.addr = addr

    def method(self):
        return None if self.start.startswith("SIP/2.0") else self.start.split(" ")[0]

    def get(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", PORT))


def recv(expect):
    while True:
        left = DEADLINE - time.time()
        if left <= 0:
            fail("timed out waiting for " + expect)
        sock.settimeout(left)
        try:
            data, addr = sock.recvfrom(65535)
        except socket.timeout:
            fail("timed out waiting for " + expect)
        m = Msg(data, addr)
        if DEBUG:
            sys.stderr.write(m.start + "\n")
        if m.method() == expect:
            return m
        # Retransmissions of what was already handled, and provisional answers, are ignored.


def respond(req, code, reason, to_tag=None, body=None, ctype="application/sdp"):
    to = req.get("To")
    if to_tag and ";tag=" not in to:
        to += ";tag=" + to_tag
    lines = ["SIP/2.0 %d %s" % (code, reason)]
    lines += ["Via: " + v for v in req.all("Via")]
    lines += ["From: " + req.get("From"), "To: " + to, "Call-ID: " + req.get("Call-ID"),
              "CSeq: " + req.get("CSeq"),
              "Contact: <sip:phone@127.0.0.1:%d>" % PORT]
    body = body or ""
    if body:
        lines.append("Content-Type: " + ctype)
    lines.append("Content-Length: %d" % len(body.encode()))
    sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), req.addr)


def sdp(version):
    return ("v=0\r\no=- 9 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % version)


invite = recv("INVITE")
if invite.body.strip():
    fail("the originator's INVITE carries an offer")
if "answer-after" in (invite.get("Call-Info") or ""):
    fail("a Cisco phone got Call-Info answer-after instead of a remote-control REFER")
respond(invite, 180, "Ringing", TAG)

refer = recv("REFER")
problems = []
if refer.get("Call-ID") == invite.get("Call-ID"):
    problems.append("the REFER is not out of dialog")
if not (refer.get("Refer-To") or "").startswith("cid:"):
    problems.append("Refer-To is not a cid: " + str(refer.get("Refer-To")))
if "norefersub" not in (refer.get("Require") or ""):
    problems.append("no Require: norefersub")
if refer.get("Content-Type") != "application/x-cisco-remotecc-request+xml":
    problems.append("Content-Type " + str(refer.get("Content-Type")))
from_tag = re.search(r";tag=([^;>\s]+)", invite.get("From")).group(1)
want = ("<x-cisco-remotecc-request><answercallreq><dialogid><callid>%s</callid><localtag>%s"
        "</localtag><remotetag>%s</remotetag></dialogid></answercallreq></x-cisco-remotecc-request>"
        % (invite.get("Call-ID"), TAG, from_tag))
if refer.body.strip() != want:
    problems.append("body %r, expected %r" % (refer.body, want))
if problems:
    respond(refer, 400, "Bad Request", "refer1")
    fail("; ".join(problems))
respond(refer, 202, "Accepted", "refer1")

respond(invite, 200, "OK", TAG, sdp(1))
ack = recv("ACK")
if "a=inactive" not in ack.body:
    fail("the ACK's answer is not inactive: %r" % ack.body)

reinvite = recv("INVITE")
if "m=audio" not in reinvite.body:
    fail("the re-INVITE carries no offer")
respond(reinvite, 200, "OK", None, sdp(2))
recv("ACK")
bye = recv("BYE")
respond(bye, 200, "OK")
print("ok")
