"""moto_server, one request at a time.

moto's DynamoDB is not safe under concurrent requests: TransactWriteItems snapshots whole tables and restores
the snapshot when a condition fails, which undoes any write another request made meanwhile, and two
transactions' checks and writes interleave. DynamoDB itself makes each request atomic, and the store's
correctness across nodes rests on that; so requests are serialized here with one lock around moto's app, and
races in the tests meet the semantics of the real service. Arguments are moto_server's (-H host -p port).
"""
import sys
import threading

from moto import server

_lock = threading.Lock()
_run_simple = server.run_simple


def _serialized(app):
    def handle(environ, start_response):
        with _lock:
            # Produce the whole response under the lock: moto builds it from shared state.
            return list(app(environ, start_response))

    return handle


def _run_simple_serialized(host, port, app, **kwargs):
    return _run_simple(host, port, _serialized(app), **kwargs)


server.run_simple = _run_simple_serialized

if __name__ == "__main__":
    server.main(sys.argv[1:])
