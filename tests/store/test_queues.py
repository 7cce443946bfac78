"""Jobs are put on their queues (app/store/queues.py): from many threads at once too, as the
API's thread pool sends them, starting in a process that has not sent one yet."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter (Celery not imported yet) sends from 8 threads at once; each send must
# land on the queue (a first use of Celery from several threads once failed, a 503).
SEND_AT_ONCE = """
import threading
from app.store import queues
from app.store.broker import client
from app.store.settings import get_settings

conn = client(get_settings())
conn.delete("sample")
errors = []
def send(i):
    try:
        queues.send(queues.SAMPLE, f"r{i}", 1, {}, expires_s=30)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(errors, conn.llen("sample"))
"""


def test_sends_from_many_threads_at_once_all_land(local_env) -> None:
    done = subprocess.run([sys.executable, "-c", SEND_AT_ONCE], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout.split() == ["[]", "8"], done.stdout + done.stderr
