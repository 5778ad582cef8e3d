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
# Standard library only.
import base64, errno, json, subprocess, sys, threading

lock = threading.Lock()

def reply(message):
    data = (json.dumps(message, separators=(',', ':')) + '\n').encode()
    with lock:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

def b64(data):
    return base64.b64encode(data or b'').decode()

def run(request):
    rid = request.get('id')
    try:
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
