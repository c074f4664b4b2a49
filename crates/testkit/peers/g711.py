"""G.711 from Python's audioop, for comparing bit for bit: reads LAW (ulaw|alaw) and prints
the encoding of every 16-bit sample from -32768 to 32767, then the decoding of every byte,
both as hex."""
import audioop
import struct
import sys

law = sys.argv[1]
pcm = struct.pack("<65536h", *range(-32768, 32768))
enc = audioop.lin2ulaw(pcm, 2) if law == "ulaw" else audioop.lin2alaw(pcm, 2)
dec = audioop.ulaw2lin(bytes(range(256)), 2) if law == "ulaw" else audioop.alaw2lin(bytes(range(256)), 2)
print(enc.hex())
print(dec.hex())
