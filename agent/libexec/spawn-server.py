#!/usr/bin/env python3
# The agent's spawn server (agent/src/runtime/spawn-server.ts is its Node side). The agent
# runs a few short commands for every pod (CNI plugins, ip, runc start/kill/delete). A
# spawn from the agent's own process forks all of it (~80 MB of page tables): the event
# loop stops ~3–10 ms per command and the kernel copies the tables each time. Forked from
# this small process (Python's subprocess uses vfork where it can) they cost a fraction
# and the agent keeps serving meanwhile.
#
# Protocol: one JSON object per line each way. Request {"id", "argv", "env" (object or
# null: inherit), "stdin" (base64 or null: /dev/null), "timeoutMs" (or null)}; answer
# {"id", "code", "signal", "stdout", "stderr"} (base64) or {"id", "error", "message"} when
# the command could not be started ("ENOENT"…) or timed out ("ETIMEDOUT", after SIGKILL).
# Each command runs in its own thread; stdin closing (the agent went away) ends the server
# once the commands under way have finished.
#
# A request with "op" is not a command to run to completion (answers as above, "code" 0
# on success, or "error" with the errno name):
#   "detached": {"argv", "env", "cwd", "syncPipeEnv"} starts argv in a new session with
#     stdio on /dev/null and the write end of a pipe passed under the number named by env
#     var syncPipeEnv (conmon's _OCI_SYNCPIPE); answers with what came through the pipe up
#     to its first newline or its end as "stdout", and the direct child's exit. Conmon
#     daemonises, so this is how the agent starts it without forking its own process.
#   "mount": {"source", "target", "fstype", "flags", "data"} is mount(2); "umount":
#     {"target", "flags"} is umount2(2). For the overlay of every container's rootfs,
#     where mount(8) would be one more process that makes exactly this call.
#   "netns-add" / "netns-delete": {"name"} do what `ip netns add|delete NAME` does (the
#     same calls as iproute2's netns_add and on_netns_del), without the ip process.
# Standard library only.
import base64, ctypes, errno, json, os, subprocess, sys, threading

# --unset-env=NAME: a variable the agent set for this process only (MALLOC_ARENA_MAX, read
# by malloc at exec); the commands inherit the environment without it.
for arg in sys.argv[1:]:
    if arg.startswith('--unset-env='):
        os.environ.pop(arg[len('--unset-env='):], None)

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
MS_BIND, MS_REC, MS_SHARED, MNT_DETACH, CLONE_NEWNET = 4096, 16384, 1 << 20, 2, 0x40000000
NETNS_RUN_DIR = '/run/netns'
netns_setup_lock = threading.Lock()

def check(result, what):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, '%s: %s' % (what, os.strerror(code)))

def c(text):
    return None if text is None else text.encode()

lock = threading.Lock()

def reply(message):
    data = (json.dumps(message, separators=(',', ':')) + '\n').encode()
    with lock:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

def b64(data):
    return base64.b64encode(data or b'').decode()

def run_detached(request):
    read_end, write_end = os.pipe()
    try:
        env = dict(os.environ) if request.get('env') is None else dict(request['env'])
        env[request['syncPipeEnv']] = str(write_end)
        proc = subprocess.Popen(request['argv'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env, cwd=request.get('cwd'),
                                start_new_session=True, pass_fds=(write_end,))
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    data = b''
    with os.fdopen(read_end, 'rb', buffering=0) as pipe:
        while b'\n' not in data:
            chunk = pipe.read(4096)
            if not chunk:
                break
            data += chunk
    code = proc.wait()
    return {'code': code if code >= 0 else None, 'signal': -code if code < 0 else None,
            'stdout': b64(data), 'stderr': ''}

def netns_path(name):
    if name in ('', '.', '..') or '/' in name:
        raise OSError(errno.EINVAL, 'netns name %r is not a file name' % name)
    return os.path.join(NETNS_RUN_DIR, name)

def netns_add(name):
    path = netns_path(name)
    with netns_setup_lock:
        try:
            os.mkdir(NETNS_RUN_DIR, 0o755)
        except FileExistsError:
            pass
        # Propagation shared, so an unmount in another mount namespace frees the netns too.
        made_mount = False
        while libc.mount(b'', c(NETNS_RUN_DIR), b'none', MS_SHARED | MS_REC, None) != 0:
            code = ctypes.get_errno()
            if code != errno.EINVAL or made_mount:
                raise OSError(code, 'mount --make-shared %s failed: %s' % (NETNS_RUN_DIR, os.strerror(code)))
            check(libc.mount(c(NETNS_RUN_DIR), c(NETNS_RUN_DIR), b'none', MS_BIND | MS_REC, None),
                  'mount --bind %s %s failed' % (NETNS_RUN_DIR, NETNS_RUN_DIR))
            made_mount = True
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except OSError as e:
        raise OSError(e.errno, 'Cannot create namespace file "%s": %s' % (path, e.strerror))
    # unshare(CLONE_NEWNET) moves this thread alone; it moves back before answering.
    home = os.open('/proc/thread-self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
    try:
        check(libc.unshare(CLONE_NEWNET), 'Failed to create a new network namespace "%s"' % name)
        check(libc.mount(b'/proc/thread-self/ns/net', c(path), b'none', MS_BIND, None),
              'Bind /proc/self/ns/net -> %s failed' % path)
        check(libc.setns(home, CLONE_NEWNET), 'setns back to the server\'s network namespace')
    except OSError:
        libc.setns(home, CLONE_NEWNET)
        netns_delete(name)
        raise
    finally:
        os.close(home)

def netns_delete(name):
    path = netns_path(name)
    libc.umount2(c(path), MNT_DETACH)
    try:
        os.unlink(path)
    except OSError as e:
        raise OSError(e.errno, 'Cannot remove namespace file "%s": %s' % (path, e.strerror))

def run_op(request):
    op = request['op']
    if op == 'detached':
        return run_detached(request)
    if op == 'mount':
        check(libc.mount(c(request['source']), c(request['target']), c(request['fstype']),
                         int(request.get('flags') or 0), c(request.get('data'))),
              'mount %s on %s' % (request['fstype'], request['target']))
    elif op == 'umount':
        check(libc.umount2(c(request['target']), int(request.get('flags') or 0)), 'umount %s' % request['target'])
    elif op == 'netns-add':
        netns_add(request['name'])
    elif op == 'netns-delete':
        netns_delete(request['name'])
    else:
        raise ValueError('unknown op %r' % op)
    return {'code': 0, 'signal': None, 'stdout': '', 'stderr': ''}

def run(request):
    rid = request.get('id')
    try:
        if request.get('op') is not None:
            reply(dict(run_op(request), id=rid))
            return
        stdin = request.get('stdin')
        timeout = request.get('timeoutMs')
        done = subprocess.run(
            request['argv'],
            input=base64.b64decode(stdin) if stdin is not None else None,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            env=request.get('env'),
            timeout=timeout / 1000 if timeout else None,
        )
        code = done.returncode
        reply({'id': rid, 'code': code if code >= 0 else None, 'signal': -code if code < 0 else None,
               'stdout': b64(done.stdout), 'stderr': b64(done.stderr)})
    except subprocess.TimeoutExpired as e:
        reply({'id': rid, 'error': 'ETIMEDOUT', 'message': 'timed out after %d ms' % request.get('timeoutMs'),
               'stdout': b64(e.stdout), 'stderr': b64(e.stderr)})
    except OSError as e:
        reply({'id': rid, 'error': errno.errorcode.get(e.errno, 'EIO'), 'message': e.strerror or str(e)})
    except Exception as e:  # a malformed request: say so rather than leave the caller waiting
        reply({'id': rid, 'error': 'EINVAL', 'message': str(e)})

def main():
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError as e:
            reply({'id': None, 'error': 'EINVAL', 'message': 'not JSON: %s' % e})
            continue
        threading.Thread(target=run, args=(request,)).start()

if __name__ == '__main__':
    main()
