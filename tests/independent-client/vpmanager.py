#!/usr/bin/env python3
"""An independent VoIPmonitor manager API client, written from the protocol specification
(manager-protocol.md sections 1.5, 2.4, 2.5, 3.2 and 7.1) and not from voipsensor's Rust code,
so that the Rust client and server cannot share a misreading unnoticed.

Usage: vpmanager.py --port PORT [--host HOST] [--key B64 --iv B64 [--cipher NAME]] COMMAND

Without --key the request is plaintext (COMMAND + CRLF CRLF). With --key it is
CIPHER ":" AES-CBC-PKCS7(COMMAND) ":sea", and the reply must be "aes:" + ciphertext.
Prints the (decrypted, gunzipped) reply to stdout. Exit status: 0 ok, 2 usage,
3 reply not decryptable, 4 connection error.
"""

import argparse
import base64
import socket
import sys
import zlib

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_BYTES = {"aes-128-cbc": 16, "aes-192-cbc": 24, "aes-256-cbc": 32}


def encrypt(key, iv, data):
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(padded) + enc.finalize()


def decrypt(key, iv, data):
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = dec.update(data) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def gunzip_all(data):
    """Decompress one or more concatenated gzip members."""
    out = b""
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += d.decompress(data)
        data = d.unused_data
    return out


def build_request(command, cipher, key, iv):
    plain = command.encode()
    # Section 2.4: a ciphertext containing ":sea" (with the separator) is cut short by the
    # server; append CRLF CRLF (stripped by the server) and encrypt again.
    for _ in range(8):
        ct = encrypt(key, iv, plain)
        if b":sea" not in b":" + ct:
            return cipher.encode() + b":" + ct + b":sea"
        plain += b"\r\n\r\n"
    raise SystemExit("cannot frame the command")


def main():
    p = argparse.ArgumentParser(add_help=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key")
    p.add_argument("--iv")
    p.add_argument("--cipher", default="aes-128-cbc")
    p.add_argument("command")
    a = p.parse_args()

    key = iv = None
    if a.key:
        if not a.iv or a.cipher not in KEY_BYTES:
            p.error("--key needs --iv and a cipher among " + ", ".join(KEY_BYTES))
        key = base64.b64decode(a.key)[: KEY_BYTES[a.cipher]]
        iv = base64.b64decode(a.iv)[:16]
        request = build_request(a.command, a.cipher, key, iv)
    else:
        request = a.command.encode() + b"\r\n\r\n"

    try:
        with socket.create_connection((a.host, a.port), timeout=10) as s:
            s.sendall(request)
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as e:
        print("connection error: %s" % e, file=sys.stderr)
        return 4
    reply = b"".join(chunks)

    if key is not None and reply:
        if not reply.startswith(b"aes:") or (len(reply) - 4) % 16 != 0:
            print("reply is not an aes: frame: %r" % reply[:40], file=sys.stderr)
            return 3
        try:
            reply = decrypt(key, iv, reply[4:])
        except ValueError:
            print("reply could not be decrypted", file=sys.stderr)
            return 3
    if reply[:2] == b"\x1f\x8b":
        reply = gunzip_all(reply)
    sys.stdout.buffer.write(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
