"""The GIL is released while boxlite waits: a thread blocked in a native call does not stop
the others. Run in a child process, so a regression is a timeout instead of a hung suite."""

from __future__ import annotations

import subprocess
import sys

CHILD = r"""
import fcntl, os, sys, threading, time
import boxlite

home = sys.argv[1]
os.makedirs(os.path.join(home, "locks"), exist_ok=True)
# Opening a home takes this lock; holding it makes Boxlite() block inside the native call.
fd = os.open(os.path.join(home, "locks", "db-open.lock"), os.O_CREAT | os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
inode = f":{os.fstat(fd).st_ino} "
opened = []
worker = threading.Thread(target=lambda: opened.append(boxlite.Boxlite(boxlite.Options(home_dir=home))))
worker.start()
# This thread runs only if the blocked one released the GIL: wait for the kernel to list
# the worker as a waiter on the lock.
deadline = time.monotonic() + 20
while not any("->" in line and inode in line for line in open("/proc/locks")):
    assert time.monotonic() < deadline, "the worker never blocked on the lock"
    time.sleep(0.001)
fcntl.flock(fd, fcntl.LOCK_UN)
worker.join(20)
print("opened" if opened else "not opened")
"""


def test_a_blocked_open_does_not_hold_the_gil(home):
    done = subprocess.run(
        [sys.executable, "-c", CHILD, home], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, "opened\n"), done.stderr
