"""Watch one key with python-etcd as client code does; print one JSON line per outcome.

usage: /usr/bin/python3 watch.py URL KEY MODE [--recursive] [--retry] [--ca FILE]

MODE is how the program waits:
  watch      Client.watch(key): python-etcd's default read timeout (60 s)
  read-wait  Client.read(key, wait=True, timeout=0): the long-poll without a timeout
  eternal    Client.eternal_watch(key): a generator that re-watches after each event
--retry: on EtcdConnectionFailed, watch again (what conftool-style daemons do)
         until one event arrives after the failure.

Output, one JSON object per line:
  {"event": {"action": ..., "key": ..., "value": ...}}
  {"raised": "EtcdConnectionFailed", "message": "..."}
"""
import json
import sys
import time
from urllib.parse import urlparse

import etcd


def emit(**fields):
    print(json.dumps(fields), flush=True)


def event(result):
    return {"action": result.action, "key": result.key, "value": result.value}


def main():
    url, key, mode = sys.argv[1:4]
    flags = sys.argv[4:]
    recursive = "--recursive" in flags
    retry = "--retry" in flags
    ca = flags[flags.index("--ca") + 1] if "--ca" in flags else None
    parsed = urlparse(url)
    client = etcd.Client(host=parsed.hostname, port=parsed.port, protocol=parsed.scheme, ca_cert=ca)
    failed = False
    while True:
        try:
            if mode == "watch":
                emit(event=event(client.watch(key, recursive=recursive)))
            elif mode == "read-wait":
                emit(event=event(client.read(key, wait=True, recursive=recursive, timeout=0)))
            elif mode == "eternal":
                for result in client.eternal_watch(key, recursive=recursive):
                    emit(event=event(result))
                    if failed:
                        return
            else:
                raise SystemExit("unknown mode " + mode)
            if mode != "eternal" and (failed or not retry):
                return
        except etcd.EtcdConnectionFailed as error:
            emit(raised=type(error).__name__, message=str(error))
            if not retry:
                return
            failed = True
            time.sleep(0.2)
        except etcd.EtcdException as error:
            emit(raised=type(error).__name__, message=str(error))
            return


main()
