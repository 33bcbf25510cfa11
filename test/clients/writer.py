"""Write a key COUNT times with python-etcd, as a conftool-style script does.

usage: /usr/bin/python3 writer.py URL USER PASSWORD KEY COUNT [--ca FILE]

Prints one JSON line per write: {"i": n, "ms": duration} on success, or
{"i": n, "ms": duration, "raised": "ExceptionClass", "message": "..."}.
python-etcd's urllib3 honours Retry-After on a 429, so a refused write
shows up as a write that takes as long as the proxy asks it to wait.
"""
import json
import sys
import time
from urllib.parse import urlparse

import etcd


def main():
    url, user, password, key, count = sys.argv[1:6]
    flags = sys.argv[6:]
    ca = flags[flags.index("--ca") + 1] if "--ca" in flags else None
    parsed = urlparse(url)
    client = etcd.Client(host=parsed.hostname, port=parsed.port, protocol=parsed.scheme, ca_cert=ca,
                         username=user, password=password)
    for i in range(int(count)):
        started = time.monotonic()
        try:
            client.write(key, "write-%d" % i)
            print(json.dumps({"i": i, "ms": (time.monotonic() - started) * 1000}), flush=True)
        except etcd.EtcdException as error:
            print(json.dumps({"i": i, "ms": (time.monotonic() - started) * 1000,
                              "raised": type(error).__name__, "message": str(error)}), flush=True)


main()
