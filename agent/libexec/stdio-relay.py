#!/usr/bin/env python3
# The agent's stdio relay (agent/src/runtime/conmon/stdio-relay.ts is its Node side): what
# Node cannot do itself — connect conmon's SOCK_SEQPACKET attach socket, receive the
# pseudo-terminal master runc hands over through a console socket (SCM_RIGHTS) and resize
# it (TIOCSWINSZ). It speaks length-prefixed frames on its stdio: one byte kind, four bytes
# big-endian length, payload. Standard library only.
#
# Modes:
#   attach DIR         connect DIR/attach (after chdir, so long paths do not matter);
#                      resizes go to the DIR/ctl fifo as "1 <rows> <cols>\n".
#   exec-tty DIR ROWS COLS PIDFILE -- RUNC-ARGV...
#                      listen on DIR/console.sock, run RUNC-ARGV (runc exec --detach --tty
#                      naming that socket and PIDFILE), take the terminal master it sends,
#                      relay it, reap the process (the relay is its subreaper); the exit
#                      frame carries the process's exit status, or runc's when it failed.
import ctypes, errno, fcntl, os, selectors, socket, struct, subprocess, sys, termios, time

OUT, ERR, EXIT, FAIL = 1, 2, 3, 4
IN, CLOSE, RESIZE = 0, 1, 2

def send(kind, data=b''):
    view = memoryview(struct.pack('>BI', kind, len(data)) + data)
    while view:
        view = view[os.write(1, view):]

class Frames:
    def __init__(self):
        self.buf = b''
    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 5:
            kind, n = struct.unpack('>BI', self.buf[:5])
            if len(self.buf) < 5 + n:
                break
            out.append((kind, self.buf[5:5 + n]))
            self.buf = self.buf[5 + n:]
        return out

def size_of(payload):
    return struct.unpack('>HH', payload[:4])

def attach(directory):
    os.chdir(directory)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.connect('attach')
    send(OUT, b'')  # connected
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, 'sock')
    sel.register(0, selectors.EVENT_READ, 'in')
    frames = Frames()
    # conmon's ctl reader (read_from_ctrl_buffer, conmon 2.1) handles only the first line of
    # each read, so a resize that lands in one read with another message is dropped. Each
    # resize is therefore written once more a moment later; setting the size it already
    # has is a no-op for the terminal (no SIGWINCH).
    repeat = None  # (rows, cols, when)
    while True:
        timeout = None if repeat is None else max(0.0, repeat[2] - time.monotonic())
        events = sel.select(timeout)
        if repeat is not None and time.monotonic() >= repeat[2]:
            write_resize(repeat[0], repeat[1])
            repeat = None
        for key, _ in events:
            if key.data == 'sock':
                packet = sock.recv(65536)
                if not packet:
                    return 0
                if len(packet) > 1:
                    send(ERR if packet[0] == 3 else OUT, packet[1:])
            else:
                data = os.read(0, 65536)
                if not data:
                    return 0
                for kind, payload in frames.feed(data):
                    if kind == IN:
                        for i in range(0, len(payload), 16384):
                            sock.send(payload[i:i + 16384])
                    elif kind == CLOSE:
                        sock.shutdown(socket.SHUT_WR)
                    elif kind == RESIZE:
                        rows, cols = size_of(payload)
                        write_resize(rows, cols)
                        repeat = (rows, cols, time.monotonic() + 0.2)

def write_resize(rows, cols):
    try:
        fd = os.open('ctl', os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, ('1 %d %d\n' % (rows, cols)).encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # conmon is going away; a lost resize is harmless

def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))

def exit_code(status):
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code

def exec_tty(directory, rows, cols, pid_file, argv):
    # runc hands over the terminal only when it detaches; the detached process is then
    # re-parented to its nearest subreaper, which this relay makes itself, to reap it.
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    os.chdir(directory)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind('console.sock')
    listener.listen(1)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    send(OUT, b'')  # started
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, 'listen')
    sel.register(proc.stderr, selectors.EVENT_READ, 'stderr')
    sel.register(0, selectors.EVENT_READ, 'in')
    frames = Frames()
    master = None
    pending = []
    target = None
    status = None
    quiet_since = None
    while True:
        if target is None and proc.poll() is not None and 'stderr' not in [k.data for k in sel.get_map().values()]:
            if proc.returncode != 0:
                send(EXIT, str(proc.returncode).encode())
                return 0
            with open(pid_file) as f:
                target = int(f.read().strip())
        if target is not None and status is None:
            pid, st = os.waitpid(target, os.WNOHANG)
            if pid == target:
                status = exit_code(st)
        events = sel.select(0.05 if status is not None else 0.2)
        if status is not None and (master is None or not any(k.data == 'master' for k, _ in events)):
            # It ended; what it wrote last has been read (or nothing comes any more).
            if quiet_since is not None or master is None:
                send(EXIT, str(status).encode())
                return 0
            quiet_since = True
        for key, _ in events:
            if key.data == 'listen':
                conn, _ = listener.accept()
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
                conn.close()
                sel.unregister(listener)
                listener.close()
                master = fds[0]
                if rows > 0 and cols > 0:
                    set_size(master, rows, cols)
                for data in pending:
                    os.write(master, data)
                pending = []
                sel.register(master, selectors.EVENT_READ, 'master')
            elif key.data == 'master':
                try:
                    data = os.read(master, 65536)
                except OSError as err:
                    if err.errno != errno.EIO:
                        raise
                    data = b''
                if data:
                    send(OUT, data)
                else:
                    sel.unregister(master)
                    os.close(master)
                    master = None
            elif key.data == 'stderr':
                data = os.read(proc.stderr.fileno(), 65536)
                if data:
                    send(ERR, data)
                else:
                    sel.unregister(proc.stderr)
            else:
                data = os.read(0, 65536)
                if not data:
                    if target is not None and status is None:
                        os.kill(target, 9)
                    proc.kill()
                    return 1
                for kind, payload in frames.feed(data):
                    if kind == IN or kind == CLOSE:
                        chunk = payload if kind == IN else b'\x04'
                        if master is None:
                            pending.append(chunk)
                        else:
                            os.write(master, chunk)
                    elif kind == RESIZE:
                        rows, cols = size_of(payload)
                        if master is not None:
                            try:
                                set_size(master, rows, cols)
                            except OSError:
                                pass

def main():
    try:
        if sys.argv[1] == 'attach':
            return attach(sys.argv[2])
        return exec_tty(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[7:])
    except Exception as err:
        send(FAIL, ('%s: %s' % (type(err).__name__, err)).encode())
        return 1

sys.exit(main())
