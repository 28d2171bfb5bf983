"""Progress on stderr: plain lines, and waits shown as a countdown on a TTY or
as periodic lines otherwise. Nothing here ever receives a secret."""
import math
import sys
import time


class ToolError(Exception):
    """A failure reported as one line, with exit status 1."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def wait_until(deadline: float, what: str) -> None:
    """Sleeps until the epoch time `deadline`, showing what it waits for."""
    remaining = deadline - time.time()
    if remaining <= 0:
        return
    tty = sys.stderr.isatty()
    say(f"waiting {fmt(remaining)} for {what}")
    step = 1.0 if tty else max(1.0, min(30.0, remaining / 6))
    last_line = time.time()
    while True:
        remaining = deadline - time.time()
        if remaining <= 0:
            break
        if tty:
            sys.stderr.write(f"\r  {fmt(remaining)} left ({what})   ")
            sys.stderr.flush()
        elif time.time() - last_line >= step:
            say(f"  {fmt(remaining)} left ({what})")
            last_line = time.time()
        time.sleep(min(remaining, 1.0 if tty else min(step, 1.0)))
    if tty:
        sys.stderr.write("\r" + " " * 60 + "\r")
    say(f"  done waiting for {what}")


def fmt(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
