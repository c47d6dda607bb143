"""Lab kernels forked from one warm process, instead of each started cold.

    python scripts/lab_kernels.py serve FD PID      the fork server of process PID, accepting on the listening
                                                    Unix socket FD it inherits (scripts/voila_labs.py)
    python scripts/lab_kernels.py launch -f FILE    one kernel: the `smi-lab` kernelspec's command
                                                    (share/jupyter/kernels/smi-lab/kernel.json)

Why: a lab kernel started cold spends ~2.5 s of CPU importing Python, ipykernel, pandas, altair and
the model before it runs the lab. A class beyond the kernel pool on 2 cores waited 60-75 s for
that (voila.md, *The kernel pool*). The server imports all of it once and builds each lab once
(smi_labs.prebuild); each kernel is a fork of it (copy-on-write memory), so a new kernel costs
ipykernel's own start, taking over its prebuilt lab, and Voila's run of the notebook.

How:
- `launch` is the process Voila's kernel manager starts, signals and watches, as for any kernel.
  It connects to the server's Unix socket (path in $SMI_LAB_FORKS) and sends its arguments,
  working directory and environment, with its stdin/stdout/stderr (SCM_RIGHTS). The server forks
  a child that becomes the kernel (ipykernel's IPKernelApp, same arguments) and answers with the
  child's pid, later with its exit status, which `launch` exits with.
- `launch` forwards signals (interrupt, terminate) to the kernel. If `launch` dies (SIGKILL: the
  kernel manager's kill), its connection closes, and the kernel, which holds a copy of the
  connection and watches it, kills itself (and the server kills it too).
- If the server dies, running kernels and their pages go on; a launcher whose kernel then exits
  sees its connection close (the kernel held the last copy) and exits too. Voila's health check
  starts a new server (scripts/voila_labs.py).
- No server (no $SMI_LAB_FORKS, nobody listening, or it died before forking): `launch` turns
  into a plain kernel (exec of ipykernel_launcher). Same kernel, cold start.
- Voila binds the socket and the server inherits it, so it listens before the server has even
  started: a kernel asked for while the server imports waits in the socket's backlog, and never
  falls back to a cold start for want of a socket.

Tested by tests/test_voila_server.py (test_lab_kernels_*).
"""
from __future__ import annotations

import json
import os
import socket
import sys

SOCKET_ENV = "SMI_LAB_FORKS"
NICE_ENV = "SMI_LAB_NICE"  # niceness the kernel starts with (its threads inherit it); the launcher's environment
# What every lab kernel imports anyway (ipykernel's own start, then the labs' package, which
# imports pandas, altair, ipywidgets and the model), so the children find it in memory.
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipywidgets", "smi_labs")
MAX_REQUEST = 1 << 20  # bytes; a request is arguments + environment, a few KB
KERNEL_PREFIX = "smi-k-"  # a forked kernel's process name: smi-k-<first 8 of its id> (ps, top; its command line is the server's)
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


# ------------------------------------------------------------------------------------ launch
def _cold(argv: list[str]) -> None:
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])


def launch(argv: list[str]) -> None:
    import signal

    path = os.environ.get(SOCKET_ENV)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if not path:
            raise OSError("no fork server")
        sock.connect(path)
        fds = [fd for fd in (0, 1, 2) if _is_open(fd)]
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                              "fds": fds}).encode() + b"\n"
        sent = socket.send_fds(sock, [request], fds)
        sock.sendall(request[sent:])
    except OSError:
        sock.close()
        _cold(argv)

    child = None
    pending: list[int] = []

    def forward(signum, _frame):
        if child is None:
            pending.append(signum)
        else:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    for name in FORWARDED:
        signal.signal(getattr(signal, name), forward)

    reader = sock.makefile("r", encoding="utf-8")
    for line in reader:
        word, _, value = line.strip().partition(" ")
        if word == "pid":
            child = int(value)
            for signum in pending:
                forward(signum, None)
        elif word == "exit":
            code = int(value)
            if code < 0:  # killed by a signal: die of the same one, as a plain kernel would have
                signal.signal(-code, signal.SIG_DFL)
                os.kill(os.getpid(), -code)
            sys.exit(code)
    if child is None:  # the server went away before forking
        sock.close()
        _cold(argv)
    # the connection closed without an exit status: the server had gone, and the kernel, which
    # held the last copy of the connection, has now exited too
    sys.exit(1)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


# ------------------------------------------------------------------------------------ serve
def serve(fd: int, parent: int) -> None:
    import gc
    import importlib
    import selectors
    import signal

    listener = socket.socket(fileno=fd)
    # numpy's OpenBLAS starts a thread pool when imported; forking a process with threads is
    # unsafe, and the labs' arrays are tiny
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    for name in PRELOAD:
        importlib.import_module(name)
    labs = sys.modules["smi_labs"]
    labs.warm()
    labs.prebuild(labs.LinkageLab, labs.CapabilityLab, labs.DysfunctionLab)  # each kernel's first lab is built already
    gc.collect()
    gc.freeze()  # the imported objects are never collected: GC passes in a child do not touch (copy) their pages

    sel = selectors.DefaultSelector()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd hears of each exit
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    clients: dict[socket.socket, dict] = {}   # connection -> {"buf", "fds", "pid"}
    kernels: dict[int, socket.socket | None] = {}  # child pid -> its launcher's connection

    def drop(conn):
        state = clients.pop(conn, None)
        for fd in (state or {}).get("fds", []):
            os.close(fd)
        sel.unregister(conn)
        conn.close()

    def child(request, fds, own):
        """In the forked child: become the kernel; never returns."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            sel.close()
            listener.close()
            for conn in clients:
                if conn is not own:
                    conn.close()
            os.close(wake_r)
            os.close(wake_w)
            os.setsid()
            _name_process(_kernel_name(request["argv"]))
            nice = request["env"].get(NICE_ENV, "0")
            if nice.isdigit():
                os.nice(min(19, int(nice)))
            for target, fd in zip(request.get("fds", []), fds):
                os.dup2(fd, target)
                os.close(fd)
            import atexit
            atexit._clear()  # the server's exit handlers are not the kernel's
            _die_with_launcher(own)
            code = _kernel(request)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - report, then exit
            import traceback
            traceback.print_exc()
        finally:
            try:
                import atexit
                atexit._run_exitfuncs()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def request_from(conn, state) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
        except OSError:
            data, fds = b"", []
        state["fds"] += fds
        if not data:
            drop(conn)
            return
        state["buf"] += data
        if b"\n" not in state["buf"]:
            if len(state["buf"]) > MAX_REQUEST:
                drop(conn)
            return
        try:
            request = json.loads(state["buf"].split(b"\n", 1)[0])
        except ValueError:
            drop(conn)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child(request, state["fds"], conn)
        for fd in state["fds"]:
            os.close(fd)
        state["fds"] = []
        state["pid"] = pid
        kernels[pid] = conn
        try:
            conn.sendall(f"pid {pid}\n".encode())
        except OSError:
            lost(conn, state)

    def lost(conn, state) -> None:
        """The launcher went away (killed): so does its kernel."""
        pid = state.get("pid")
        if pid is not None and kernels.get(pid) is conn:
            kernels[pid] = None
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        drop(conn)

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = kernels.pop(pid, None)
            if conn is not None and conn in clients:
                try:
                    conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
                except OSError:
                    pass
                drop(conn)

    try:
        while not stopping and os.getppid() == parent:  # Voila gone (even killed): stop, and the kernels with it
            for key, _events in sel.select(timeout=1.0):
                if key.data == "accept":
                    conn, _ = listener.accept()
                    clients[conn] = {"buf": b"", "fds": [], "pid": None}
                    sel.register(conn, selectors.EVENT_READ, "client")
                elif key.data == "wake":
                    try:
                        while os.read(wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    reap()
                elif key.fileobj in clients:
                    conn, state = key.fileobj, clients[key.fileobj]
                    if state["pid"] is None:
                        request_from(conn, state)
                    elif not conn.recv(4096):  # a launcher never writes after its request: EOF
                        lost(conn, state)
    finally:
        for pid in list(kernels):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        listener.close()


def kernel_process_name(kernel_id: str) -> str:
    """A forked kernel's process name (ps, top): its command line is the server's."""
    return KERNEL_PREFIX + kernel_id[:8]


def _kernel_name(argv: list[str]) -> str:
    import re
    m = re.search(r"kernel-([0-9a-f]{8})", " ".join(argv))
    return kernel_process_name(m.group(1) if m else "lab")


def forked_kernel_pid(server_pid: int, kernel_id: str) -> int | None:
    """The pid of the server's forked kernel `kernel_id` (None: not found). Reads the server's
    children from /proc (Linux) instead of scanning every process, as psutil's children() does
    (15 ms per kernel handed to a visitor, with 120 processes)."""
    from pathlib import Path

    name = kernel_process_name(kernel_id)
    try:
        tasks = list(Path(f"/proc/{server_pid}/task").iterdir())
    except OSError:
        return None
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in children:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                    return int(pid)
            except OSError:
                continue
    return None


def _name_process(name: str) -> None:
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME (Linux)
    except (OSError, AttributeError):
        pass


def _die_with_launcher(conn: socket.socket) -> None:
    """The launcher never writes after its request: end of file means it died (killed by the
    kernel manager, or with Voila), and a kernel nobody manages must not stay."""
    import signal
    import threading

    def watch():
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="launcher-watch", daemon=True).start()


def _kernel(request: dict) -> int:
    """Run ipykernel as `python -m ipykernel_launcher ARGV` started in request['cwd'] would."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[0] = request["cwd"]
    sys.argv = [sys.executable, "-m", "ipykernel_launcher", *request["argv"]]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(request["argv"])
    widgets = sys.modules.get("ipywidgets")
    if widgets is not None:
        # imported by the server before any shell existed: register the comm targets its
        # import registers in a kernel (the page asks for every widget's state through them)
        widgets.register_comm_target()
    app.start()
    return 0


def main(argv: list[str]) -> None:
    if len(argv) >= 1 and argv[0] == "launch":
        launch(argv[1:])
    elif len(argv) == 3 and argv[0] == "serve" and all(a.isdigit() for a in argv[1:]):
        serve(int(argv[1]), int(argv[2]))
    else:
        sys.exit(__doc__.split("\n\n", 2)[1])


if __name__ == "__main__":
    main(sys.argv[1:])
