"""A neighbour on the same host sending wrong passwords as fast as it can,
until it is stopped (SIGTERM): a stale script, or someone guessing.

usage: /usr/bin/python3 guesser.py URL USER KEY

Plain http.client, so every answer is seen as it is (urllib3 would sleep
through a 429's Retry-After and retry). One JSON line per attempt:
{"status": 401} or {"status": 429, "retryAfter": "42"}.
"""
import http.client
import json
import base64
import sys
from urllib.parse import urlparse


def main():
    url, user, key = sys.argv[1:4]
    parsed = urlparse(url)
    attempt = 0
    while True:
        attempt += 1
        credentials = base64.b64encode(("%s:wrong-%d" % (user, attempt)).encode()).decode()
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        connection.request("PUT", "/v2/keys" + key, body="value=guess",
                           headers={"Authorization": "Basic " + credentials,
                                    "Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        response.read()
        line = {"status": response.status}
        if response.getheader("Retry-After") is not None:
            line["retryAfter"] = response.getheader("Retry-After")
        print(json.dumps(line), flush=True)
        connection.close()


main()
