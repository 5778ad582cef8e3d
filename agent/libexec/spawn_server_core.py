# The agent's spawn server (agent/src/runtime/spawn-server.ts is its Node side; the agent
# starts it through spawn-server.py, which runs main() from cached bytecode). The agent
# runs a few short commands for every pod (CNI plugins, ip, runc start/kill/delete). A
# spawn from the agent's own process forks all of it (~80 MB of page tables): the event
# loop stops ~3–10 ms per command and the kernel copies the tables each time. Spawned from
# this small process (os.posix_spawn: glibc clones with CLONE_VM|CLONE_VFORK, no copy)
# they cost a fraction and the agent keeps serving meanwhile.
#
# It lives as long as the agent, so it is built to be small: one poll loop and two
# spawner threads (no thread per command, no subprocess), a binary framing (no json, no
# base64), children reaped through pidfds; it imports os, select, errno and _ctypes. In the
# containers bench against the thread-per-command server on subprocess/json/base64 before
# it: 12.3 → 9.4 MB RSS with 30 containers (python3 itself is ~7.7 MB).
#
# Framing, both ways: a frame is a u32 little-endian byte count and that many bytes, which
# are fields, each a u32 count and that many bytes, or the count 0xFFFFFFFF alone for null.
# A list (argv; env as NAME=VALUE entries) is one field, its entries joined by NUL, which
# execve's strings cannot hold. Numbers are ASCII decimal. Requests are [id, kind, …]:
#   run       argv, env (null: inherit), stdin (null: /dev/null), timeoutMs (null: none)
#     runs argv to completion with stdout and stderr captured; a timeout SIGKILLs it.
#   detached  argv, env, cwd, syncPipeEnv
#     starts argv in a new session with stdio on /dev/null and the write end of a pipe
#     passed under the number named by env var syncPipeEnv (conmon's _OCI_SYNCPIPE);
#     answers with what came through the pipe up to its first newline or its end as
#     stdout, and the direct child's exit. Conmon daemonises, so this is how the agent
#     starts it without forking its own process.
#   mount     source, target, fstype, flags, data (null: none)   mount(2)
#   umount    target, flags                                       umount2(2)
#     For the overlay of every container's rootfs, where mount(8) would be one more
#     process that makes exactly this call.
#   netns-add / netns-delete   name
#     do what `ip netns add|delete NAME` does (the same calls as iproute2's netns_add and
#     on_netns_del), without the ip process.
# Every request gets one answer [id, code, signal, stdout, stderr, error, message]: code
# (null when a signal ended it: then signal) and the output; or error, the errno name
# ("ENOENT"…, "ETIMEDOUT" after the SIGKILL of a timeout, "EINVAL" for a malformed
# request), with message. An op that succeeded answers code 0.
#
# Commands run concurrently. Stdin closing (the agent went away) ends the server once the
# commands under way have finished and their answers are written. Every child is waited
# for (no zombies); the server's own descriptors are close-on-exec, so a child gets its
# three stdio descriptors (and a detached one its sync pipe) and nothing else.
# Standard library only.
import errno, os, select, sys, time
import _signal  # signal.py would import enum: its C module is loaded at start already
import _thread  # threading.py would import more: _thread is loaded at start too

NULL = 0xFFFFFFFF
NULL_FIELD = NULL.to_bytes(4, 'little')
READ_SIZE = 65536
# posix_spawn waits until the child has exec'd (CLONE_VFORK), ~0.2 ms on an idle machine and
# over 1 ms on a loaded one, and releases the GIL meanwhile: commands are spawned by this
# many threads, so that a burst is not spawned one at a time and the loop keeps serving.
# 20 pods' worth at once (netns add, 5 commands, netns delete each) on the loaded 2-core
# machine, alternating runs: 405–549 ms spawning from the loop, 185–693 ms with two
# spawners, 134–495 ms for the server before (a thread per command).
SPAWNERS = 2
# What Python's start changed from the defaults the agent gave it (SIGPIPE and SIGXFSZ
# ignored; SIGINT ignored below): a command gets the defaults, as when spawned directly.
# glibc's posix_spawn itself leaves its two internal signals (32, 33) ignored in the child
# and refuses them here; glibc installs their handlers when a program starts a second
# thread (musl when it needs them, Go does not use them). Ignored dispositions are inherited
# across exec, though, so conmon (whose descendants are the containers) is forked instead:
# fork_exec_detached.
RESET_SIGNALS = (_signal.SIGINT, _signal.SIGPIPE, _signal.SIGXFSZ)
MS_BIND, MS_REC, MS_SHARED, MNT_DETACH, CLONE_NEWNET = 4096, 16384, 1 << 20, 2, 0x40000000
M_ARENA_MAX = -8
NETNS_RUN_DIR = b'/run/netns'


def field(value):
    return NULL_FIELD if value is None else len(value).to_bytes(4, 'little') + value


def parse_fields(frame):
    fields, i, end = [], 0, len(frame)
    while i < end:
        if i + 4 > end:
            raise ValueError('truncated field count')
        n = int.from_bytes(frame[i:i + 4], 'little')
        i += 4
        if n == NULL:
            fields.append(None)
            continue
        if i + n > end:
            raise ValueError('field longer than its frame')
        fields.append(frame[i:i + n])
        i += n
    return fields


def number(value):
    return None if value is None else b'%d' % value


def error_name(code):
    return errno.errorcode.get(code, 'EIO').encode()


def environment(env):
    """The child's environment: the server's (the agent's at its start), or the entries."""
    if env is None:
        return os.environb
    result = {}
    if env:
        for entry in env.split(b'\0'):
            name, _, value = entry.partition(b'=')
            result[name] = value
    return result


def candidates(name, env):
    """Where execvp would look for name: itself when it has a slash, else along PATH."""
    if b'/' in name:
        return [name]
    path = env.get(b'PATH')
    if path is None:
        path = os.defpath.encode()
    return [os.path.join(d or b'.', name) for d in path.split(b':')]


def spawn(argv, env, stdio, setsid=False):
    """posix_spawn with stdio as fds 0-2, searching PATH as execvp does (in the child's
    environment, as subprocess and Node do); the error is the first EACCES, else ENOENT."""
    args = argv.split(b'\0')
    found = candidates(args[0], env)
    actions = [(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(stdio)]
    denied = None
    last = None
    for path in found:
        # A look first, so that a PATH search does not clone a child per directory.
        if len(found) > 1 and not os.path.isfile(path):
            continue
        try:
            return os.posix_spawn(path, args, env, file_actions=actions, setsid=setsid,
                                  setsigdef=RESET_SIGNALS)
        except OSError as e:
            if e.errno == errno.EACCES:
                denied = denied or e
            elif e.errno not in (errno.ENOENT, errno.ENOTDIR) or len(found) == 1:
                raise
            last = e
    raise denied or last or OSError(errno.ENOENT, 'No such file or directory', args[0])


def fork_exec_detached(argv, env, stdio):
    """fork + execve in a new session, for conmon, the ancestor of every container process:
    posix_spawn would leave glibc's internal signals (32, 33) ignored in the child, and
    an ignored signal stays ignored across exec, down to the container's processes (seen
    in their SigIgn). A forked child of this process has glibc's handlers for them, which
    exec resets to the default, as for a command Node or Docker starts. Only while no
    spawn is under way (dispatch), so no spawner thread holds anything the child needs.
    The errno of a failed exec comes back through a close-on-exec pipe."""
    args = argv.split(b'\0')
    found = candidates(args[0], env)
    report_r, report_w = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            code = errno.ENOENT
            try:
                os.close(report_r)
                os.setsid()
                for n, fd in enumerate(stdio):
                    os.dup2(fd, n, inheritable=True)
                for sig in RESET_SIGNALS:
                    _signal.signal(sig, _signal.SIG_DFL)
                denied = None
                for path in found:
                    try:
                        os.execve(path, args, env)
                    except OSError as e:
                        if e.errno == errno.EACCES:
                            denied = denied or e.errno
                        code = e.errno
                        if e.errno not in (errno.ENOENT, errno.ENOTDIR):
                            break
                code = denied or code
            except BaseException:
                pass
            try:
                os.write(report_w, b'%d' % code)
            finally:
                os._exit(127)
        os.close(report_w)
        report_w = -1
        chunks = []
        while True:
            chunk = os.read(report_r, 64)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(report_r)
        if report_w >= 0:
            os.close(report_w)
    if chunks:
        os.waitpid(pid, 0)
        code = int(b''.join(chunks))
        raise OSError(code, os.strerror(code), args[0])
    return pid


class Functions:
    """The libc functions the ops call, as attributes."""


def libc_from_ctypes_core():
    """libc through _ctypes, the C module under ctypes: importing ctypes itself (its
    __init__ defines every C type and imports struct) costs ~0.3 MB more RSS for the rest of
    the server's life, for the four functions it needs. The same calls ctypes.CDLL makes."""
    import _ctypes

    class c_int(_ctypes._SimpleCData):
        _type_ = 'i'

    class c_ulong(_ctypes._SimpleCData):
        _type_ = 'L'

    class c_char_p(_ctypes._SimpleCData):
        _type_ = 'z'

    class Function(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = c_int

    class Library:
        _handle = _ctypes.dlopen(None, 0)

    libc = Functions()
    for name, argtypes in (('mount', [c_char_p, c_char_p, c_char_p, c_ulong, c_char_p]),
                           ('umount2', [c_char_p, c_int]), ('unshare', [c_int]), ('setns', [c_int, c_int]),
                           ('mallopt', [c_int, c_int])):
        function = Function((name, Library))
        function.argtypes = argtypes
        setattr(libc, name, function)
    return libc, _ctypes.get_errno


def libc_from_ctypes():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc, ctypes.get_errno


class Job:
    """A command under way: run to completion, or detached (waiting for its sync pipe)."""
    __slots__ = ('rid', 'detached', 'pid', 'pidfd', 'status', 'fds', 'out', 'err', 'input',
                 'written', 'deadline', 'timeout_ms', 'timed_out', 'spawn', 'mine', 'theirs')

    def __init__(self, rid, detached):
        self.rid = rid
        self.detached = detached
        self.pid = None
        self.pidfd = None
        self.status = None  # the wait status once reaped
        self.fds = {}  # our end → 'out' | 'err' | 'in' | 'sync'
        self.out = []
        self.err = []
        self.input = b''
        self.written = 0
        self.deadline = None
        self.timeout_ms = 0
        self.timed_out = False
        self.spawn = None  # what spawn() is called with, until it is
        self.mine = []  # (our end, its role), watched once spawned
        self.theirs = []  # the child's ends, closed once spawned

    def finished(self):
        if self.status is None:
            return False
        if self.timed_out:
            return True
        return not any(role != 'in' for role in self.fds.values())


class Spawner:
    """A thread that calls spawn() for the loop, one command at a time."""

    def __init__(self, server):
        self.server = server
        self.job = None
        self.go = _thread.allocate_lock()
        self.go.acquire()
        _thread.start_new_thread(self.loop, ())

    def start(self, job):
        self.job = job
        self.go.release()

    def loop(self):
        server = self.server
        while True:
            self.go.acquire()
            job = self.job
            try:
                result = spawn(*job.spawn)
            except BaseException as e:
                result = e
            with server.done_lock:
                server.done.append((self, job, result))
            os.write(server.wake_w, b'.')


class Server:
    def __init__(self):
        self.poller = select.poll()
        self.owners = {}  # fd → the Job it belongs to (None: fd 0, 1 and the spawners' wake-up)
        self.jobs = []
        self.unpolled = []  # jobs reaped by polling waitpid: no pidfd (an old kernel)
        self.requests = bytearray()
        self.replies = bytearray()
        self.reading = True
        self.agent_gone = False  # its end of our stdout closed: answers have nowhere to go
        self.devnull = os.open(os.devnull, os.O_RDWR)
        # Spawns: run commands queue for a spawner thread; a detached start (it changes the
        # server's directory, and its sync pipe is inheritable for a moment) waits until no
        # spawn is under way and runs on this thread; first come, first spawned.
        self.queue = []
        self.idle = []
        self.spawners = 0
        self.spawning = 0
        self.done = []  # (spawner, job, pid or the exception), from the spawner threads
        self.done_lock = _thread.allocate_lock()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        self.libc = None
        self.get_errno = None
        os.set_blocking(1, False)
        self.watch(0, select.POLLIN, None)
        self.watch(self.wake_r, select.POLLIN, None)

    # --- bookkeeping ---------------------------------------------------------------
    def watch(self, fd, events, job):
        self.poller.register(fd, events)
        self.owners[fd] = job

    def forget(self, fd):
        self.poller.unregister(fd)
        del self.owners[fd]

    def close_job_fd(self, job, fd):
        if job.fds.pop(fd, None) is not None:
            self.forget(fd)
            os.close(fd)

    # --- answers --------------------------------------------------------------------
    def answer(self, rid, code=None, signal=None, stdout=b'', stderr=b'', error=None, message=None):
        if self.agent_gone:
            return
        body = b''.join(map(field, (rid, number(code), number(signal), stdout, stderr, error, message)))
        was_empty = not self.replies
        self.replies += len(body).to_bytes(4, 'little')
        self.replies += body
        if was_empty:
            self.flush()

    def fail(self, rid, exc):
        if isinstance(exc, OSError) and exc.errno is not None:
            self.answer(rid, error=error_name(exc.errno), message=os.fsencode(exc.strerror or str(exc)))
        else:  # a malformed request: say so rather than leave the caller waiting
            self.answer(rid, error=b'EINVAL', message=os.fsencode(str(exc) or type(exc).__name__))

    def flush(self):
        try:
            while self.replies:
                del self.replies[:os.write(1, self.replies)]
        except BlockingIOError:
            pass
        except OSError:  # EPIPE: the agent is gone
            self.agent_gone = True
            self.replies.clear()
        polled = 1 in self.owners
        if self.replies and not polled:
            self.watch(1, select.POLLOUT, None)
        elif not self.replies and polled:
            self.forget(1)

    # --- requests -------------------------------------------------------------------
    def read_requests(self):
        try:
            data = os.read(0, READ_SIZE)
        except OSError:
            data = b''
        if not data:
            self.reading = False
            self.forget(0)
            return
        self.requests += data
        while len(self.requests) >= 4:
            size = int.from_bytes(self.requests[:4], 'little')
            if len(self.requests) < 4 + size:
                break
            frame = bytes(self.requests[4:4 + size])
            del self.requests[:4 + size]
            self.handle(frame)

    def handle(self, frame):
        rid = None
        try:
            fields = parse_fields(frame)
            rid, kind = fields[0], fields[1]
            if kind == b'run':
                self.start_run(rid, *fields[2:6])
            elif kind == b'detached':
                self.start_detached(rid, *fields[2:6])
            else:
                self.run_op(kind, fields[2:])
                self.answer(rid, code=0)
        except Exception as e:
            self.fail(rid, e)

    def start_run(self, rid, argv, env, stdin, timeout_ms):
        job = Job(rid, False)
        if timeout_ms:
            job.timeout_ms = int(timeout_ms)
        env = environment(env)
        mine, theirs = job.mine, job.theirs
        try:
            for role in ('out', 'err'):
                r, w = os.pipe()
                os.set_blocking(r, False)
                mine.append((r, role))
                theirs.append(w)
            if stdin is None:
                child_stdin = self.devnull
            else:
                r, w = os.pipe()
                os.set_blocking(w, False)
                theirs.append(r)
                child_stdin = r
                if stdin:
                    mine.append((w, 'in'))
                    job.input = stdin
                else:
                    os.close(w)  # empty input: end of file at once
        except BaseException:
            self.close_ends(job)
            raise
        job.spawn = (argv, env, (child_stdin, theirs[0], theirs[1]))
        self.jobs.append(job)
        self.queue.append(job)
        self.dispatch()

    @staticmethod
    def close_ends(job, ours=True):
        for fd in job.theirs:
            os.close(fd)
        job.theirs = []
        if ours:
            for fd, _ in job.mine:
                os.close(fd)
            job.mine = []

    def dispatch(self):
        while self.queue:
            job = self.queue[0]
            if job.detached:
                if self.spawning:
                    return
                self.queue.pop(0)
                self.spawn_detached(job)
                continue
            if not self.idle:
                if self.spawners == SPAWNERS:
                    return
                self.spawners += 1
                self.idle.append(Spawner(self))
            self.queue.pop(0)
            self.spawning += 1
            self.idle.pop().start(job)

    def collect(self):
        """What the spawner threads spawned (or could not)."""
        try:
            os.read(self.wake_r, READ_SIZE)
        except BlockingIOError:
            pass
        with self.done_lock:
            done, self.done = self.done, []
        for spawner, job, result in done:
            self.spawning -= 1
            self.idle.append(spawner)
            job.spawn = None
            if isinstance(result, BaseException):
                self.close_ends(job)
                self.jobs.remove(job)
                self.fail(job.rid, result)
                continue
            self.close_ends(job, ours=False)
            job.pid = result
            for fd, role in job.mine:
                job.fds[fd] = role
                self.watch(fd, select.POLLOUT if role == 'in' else select.POLLIN, job)
            job.mine = []
            if job.timeout_ms:
                job.deadline = time.monotonic() + job.timeout_ms / 1000
            self.started(job)
        self.dispatch()

    def start_detached(self, rid, argv, env, cwd, sync_env):
        job = Job(rid, True)
        job.spawn = (argv, dict(environment(env)), cwd, sync_env)
        self.jobs.append(job)
        self.queue.append(job)
        self.dispatch()

    def spawn_detached(self, job):
        argv, env, cwd, sync_env = job.spawn
        job.spawn = None
        try:
            r, w = os.pipe()
        except OSError as e:
            self.jobs.remove(job)
            self.fail(job.rid, e)
            return
        os.set_blocking(r, False)
        try:
            home = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
            try:
                # No spawn is under way (dispatch): the sync pipe can be inheritable, and the
                # server in cwd, for the length of this one without another command getting
                # either.
                os.set_inheritable(w, True)
                env[sync_env] = b'%d' % w
                os.chdir(cwd)
                job.pid = fork_exec_detached(argv, env, (self.devnull,) * 3)
            finally:
                os.fchdir(home)
                os.close(home)
        except Exception as e:
            os.close(r)
            os.close(w)
            self.jobs.remove(job)
            self.fail(job.rid, e)
            return
        os.close(w)
        job.fds[r] = 'sync'
        self.watch(r, select.POLLIN, job)
        self.started(job)

    def started(self, job):
        try:
            job.pidfd = os.pidfd_open(job.pid)
        except (AttributeError, OSError):
            self.unpolled.append(job)
            return
        self.watch(job.pidfd, select.POLLIN, job)

    # --- events ---------------------------------------------------------------------
    def on_event(self, fd, events):
        job = self.owners.get(fd)
        if job is None:
            if fd == 1:  # room for answers
                self.flush()
            else:
                self.collect()
            return
        if fd == job.pidfd:
            self.reap(job, os.WNOHANG)
        else:
            role = job.fds[fd]
            if role == 'in':
                self.write_input(job, fd)
            else:
                self.read_output(job, fd, role)
        self.check(job)

    def reap(self, job, flags):
        pid, status = os.waitpid(job.pid, flags)
        if pid == 0:
            return
        job.status = status
        if job.pidfd is not None:
            self.forget(job.pidfd)
            os.close(job.pidfd)
            job.pidfd = None

    def read_output(self, job, fd, role):
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b''
        if not data:
            self.close_job_fd(job, fd)
        elif role == 'sync':
            job.out.append(data)
            if b'\n' in data:
                self.close_job_fd(job, fd)
        else:
            (job.out if role == 'out' else job.err).append(data)

    def write_input(self, job, fd):
        try:
            job.written += os.write(fd, memoryview(job.input)[job.written:job.written + READ_SIZE])
        except BlockingIOError:
            return
        except OSError:  # EPIPE: it exited without reading it all, not an error of ours
            job.written = len(job.input)
        if job.written >= len(job.input):
            job.input = b''
            self.close_job_fd(job, fd)

    def check(self, job):
        if not job.finished():
            return
        for fd in list(job.fds):
            self.close_job_fd(job, fd)
        self.jobs.remove(job)
        out, err = b''.join(job.out), b''.join(job.err)
        if job.timed_out:
            self.answer(job.rid, stdout=out, stderr=err, error=b'ETIMEDOUT',
                        message=b'timed out after %d ms' % job.timeout_ms)
            return
        code = os.waitstatus_to_exitcode(job.status)
        self.answer(job.rid, code=code if code >= 0 else None, signal=-code if code < 0 else None,
                    stdout=out, stderr=err)

    def expire(self, now):
        """SIGKILLs what ran past its deadline; the ms until the next deadline (-1: none)."""
        wait = -1
        for job in list(self.jobs):
            if job.deadline is None or job.timed_out:
                continue
            left = job.deadline - now
            if left <= 0:
                job.timed_out = True
                if job.status is None:
                    os.kill(job.pid, _signal.SIGKILL)  # not reaped yet: the pid is still its
                self.check(job)
            else:
                ms = int(left * 1000) + 1
                wait = ms if wait < 0 else min(wait, ms)
        return wait

    def serve(self):
        while self.reading or self.jobs or (self.replies and not self.agent_gone):
            for job in list(self.unpolled):
                self.reap(job, os.WNOHANG)
                if job.status is not None:
                    self.unpolled.remove(job)
                    self.check(job)
            wait = self.expire(time.monotonic())
            if self.unpolled:
                wait = 20 if wait < 0 else min(wait, 20)
            # New requests last: their descriptors may reuse numbers this round's events
            # closed, and an event must not reach a descriptor it was not about.
            requests = False
            for fd, events in self.poller.poll(wait):
                if fd == 0:
                    requests = True
                elif fd in self.owners:  # not closed by an earlier event of this round
                    self.on_event(fd, events)
            if requests:
                self.read_requests()

    # --- ops --------------------------------------------------------------------------
    def load_libc(self):
        """libc's mount, umount2, unshare, setns and mallopt."""
        if self.libc is None:
            try:
                self.libc, self.get_errno = libc_from_ctypes_core()
            except (ImportError, AttributeError, TypeError):  # not the _ctypes we know
                self.libc, self.get_errno = libc_from_ctypes()
        return self.libc

    def check_call(self, result, what):
        if result != 0:
            code = self.get_errno()
            raise OSError(code, '%s: %s' % (what, os.strerror(code)))

    def run_op(self, kind, args):
        if kind not in (b'mount', b'umount', b'netns-add', b'netns-delete'):
            raise ValueError('unknown op %r' % os.fsdecode(kind))
        libc = self.load_libc()
        if kind == b'mount':
            source, target, fstype, flags, data = args[:5]
            self.check_call(libc.mount(source, target, fstype, int(flags or 0), data),
                            'mount %s on %s' % (os.fsdecode(fstype), os.fsdecode(target)))
        elif kind == b'umount':
            target, flags = args[:2]
            self.check_call(libc.umount2(target, int(flags or 0)), 'umount %s' % os.fsdecode(target))
        elif kind == b'netns-add':
            self.netns_add(args[0])
        else:
            self.netns_delete(args[0])

    @staticmethod
    def netns_path(name):
        if name in (b'', b'.', b'..') or b'/' in name:
            raise OSError(errno.EINVAL, 'netns name %r is not a file name' % os.fsdecode(name))
        return NETNS_RUN_DIR + b'/' + name

    def netns_add(self, name):
        libc = self.libc
        path = self.netns_path(name)
        shown = os.fsdecode(path)
        try:
            os.mkdir(NETNS_RUN_DIR, 0o755)
        except FileExistsError:
            pass
        # Propagation shared, so an unmount in another mount namespace frees the netns too.
        made_mount = False
        while libc.mount(b'', NETNS_RUN_DIR, b'none', MS_SHARED | MS_REC, None) != 0:
            code = self.get_errno()
            if code != errno.EINVAL or made_mount:
                raise OSError(code, 'mount --make-shared /run/netns failed: %s' % os.strerror(code))
            self.check_call(libc.mount(NETNS_RUN_DIR, NETNS_RUN_DIR, b'none', MS_BIND | MS_REC, None),
                            'mount --bind /run/netns /run/netns failed')
            made_mount = True
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        except OSError as e:
            raise OSError(e.errno, 'Cannot create namespace file "%s": %s' % (shown, e.strerror))
        # unshare(CLONE_NEWNET) moves this thread alone (the spawners stay where they are),
        # and it moves back before answering.
        home = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
        try:
            self.check_call(libc.unshare(CLONE_NEWNET),
                            'Failed to create a new network namespace "%s"' % os.fsdecode(name))
            self.check_call(libc.mount(b'/proc/thread-self/ns/net', path, b'none', MS_BIND, None),
                            'Bind /proc/self/ns/net -> %s failed' % shown)
            self.check_call(libc.setns(home, CLONE_NEWNET), "setns back to the server's network namespace")
        except OSError:
            libc.setns(home, CLONE_NEWNET)
            self.netns_delete(name)
            raise
        finally:
            os.close(home)

    def netns_delete(self, name):
        path = self.netns_path(name)
        self.libc.umount2(path, MNT_DETACH)
        try:
            os.unlink(path)
        except OSError as e:
            raise OSError(e.errno, 'Cannot remove namespace file "%s": %s' % (os.fsdecode(path), e.strerror))


def main():
    # The agent ends the server by closing its stdin: a Ctrl-C at the agent's terminal (the
    # agent then stops) must not end it while commands are under way, as it ended only the
    # main thread of the server before. The commands get SIGINT's default (RESET_SIGNALS).
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    # Descriptors this process inherited beyond stdio must not reach the commands.
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # the listing's own descriptor, closed by now
    server = Server()
    # One malloc arena, as MALLOC_ARENA_MAX=1 gave the server before: glibc would give each
    # spawner thread its own (here within the noise of the measurements, 10.0-10.4 MB after
    # 150 commands 30 at once either way).
    server.load_libc().mallopt(M_ARENA_MAX, 1)
    server.serve()
