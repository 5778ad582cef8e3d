// Runs a short command to completion and reports how it ended, for callers that decide on
// the exit code and show what the command said (cleanup steps, `flotilla-agent reset`).
import { execFile } from 'node:child_process';

export interface ProcessResult {
  /** The exit code; 127 when the command could not be started (as a shell reports it). */
  code: number;
  stdout: string;
  /** What the command wrote to stderr, or why it could not be run or was killed. */
  stderr: string;
}

export function runProcess(
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; maxBufferBytes: number },
): Promise<ProcessResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      [...args],
      { timeout: options.timeoutMs, maxBuffer: options.maxBufferBytes },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 127;
        resolve({ code, stdout, stderr: stderr || (err?.message ?? '') });
      },
    );
  });
}
