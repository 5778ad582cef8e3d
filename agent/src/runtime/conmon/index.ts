// Containers under conmon: runc runs them, conmon monitors them (logs, exit codes) and
// keeps them alive across agent restarts.
export type * from './types.js';
export {
  validateContainerId,
  containerPaths,
  conmonArgs,
  attachPaths,
  type ConmonArgsInput,
} from './paths.js';
export { parseExitFile, exitReason, decideState, joinStates, parseRuncList } from './state.js';
export {
  readRuncStates,
  RuncStateReader,
  parseInitProcess,
  parseProcPidStat,
  decideRuncStatus,
  type PidStat,
} from './runc-state.js';
export {
  parseCriLine,
  parseCriLog,
  tailEntries,
  CriAssembler,
  type CriLogLine,
  type LogEntry,
  type LogStream,
} from './cri-log.js';
export { readCriLog, type ReadLogOptions } from './log-reader.js';
export {
  ContainerRunner,
  type ContainerRunnerOptions,
  type CreateContainerInput,
  type CreatedContainer,
} from './runner.js';
export { execCapture, type ExecCaptureOptions, type ExecCaptureResult } from './exec.js';
export {
  startExec,
  attachContainer,
  type StdioSession,
  type SessionEnd,
  type ExecOptions,
  type AttachOptions,
} from './exec-session.js';
export { RelayProcess, relayScriptPath } from './stdio-relay.js';
