"""An independent RTP listener: receives COUNT packets on 127.0.0.1:PORT (or, given GROUP, on
the multicast group GROUP:PORT joined on the loopback interface), parses each RTP header
itself, decodes the G.711 payload with Python's audioop, and prints one JSON object: the
headers seen (with each packet's IP TOS byte), inter-arrival gaps (ms) and the strongest
frequency heard."""
import audioop
import json
import math
import socket
import struct
import sys
import time

port, count = int(sys.argv[1]), int(sys.argv[2])
group = sys.argv[3] if len(sys.argv) > 3 else None
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
if group:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((group, port))
    mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("127.0.0.1"))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
else:
    sock.bind(("127.0.0.1", port))
sock.settimeout(5)
print("ready", flush=True)
headers, arrivals, audio = [], [], b""
try:
    while len(headers) < count:
        data, anc, _, _ = sock.recvmsg(2048, socket.CMSG_SPACE(1))
        arrivals.append(time.monotonic())
        tos = next((d[0] for level, kind, d in anc if level == socket.IPPROTO_IP and kind == socket.IP_TOS), None)
        b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
        pt = b1 & 0x7F
        headers.append({"v": b0 >> 6, "m": bool(b1 & 0x80), "pt": pt, "seq": seq, "ts": ts, "ssrc": ssrc,
                        "len": len(data) - 12, "tos": tos})
        payload = data[12:]
        audio += audioop.ulaw2lin(payload, 2) if pt == 0 else audioop.alaw2lin(payload, 2)
except socket.timeout:
    pass
samples = struct.unpack("<%dh" % (len(audio) // 2), audio)
best = (0, -1.0)
for f in range(200, 3400, 10):
    w = 2 * math.pi * f / 8000
    re = sum(s * math.cos(w * n) for n, s in enumerate(samples[:4000]))
    im = sum(s * math.sin(w * n) for n, s in enumerate(samples[:4000]))
    if re * re + im * im > best[1]:
        best = (f, re * re + im * im)
gaps = [1000 * (b - a) for a, b in zip(arrivals, arrivals[1:])]
print(json.dumps({"headers": headers, "gaps_ms": gaps, "strongest_hz": best[0]}), flush=True)
