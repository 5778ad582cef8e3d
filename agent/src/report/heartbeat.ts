// What a heartbeat says. Pure; the publisher fills in the samples.
import type { NodeHeartbeat } from '@flotilla/proto';
import { cpuMillicores } from '../host/parse.js';
import type { CpuTimes, MemoryInfo } from '../host/types.js';

export interface HeartbeatInput {
  nodeName: string;
  sequence: number;
  agentInstance: string;
  now: Date;
  memory?: MemoryInfo;
  /** The previous and the current /proc/stat sample; CPU use is their difference. */
  cpu?: { before: CpuTimes; after: CpuTimes; cpuCount: number };
  runningPods: number;
}

export function buildHeartbeat(input: HeartbeatInput): NodeHeartbeat {
  const memory = input.memory;
  return {
    nodeName: input.nodeName,
    time: input.now.toISOString(),
    sequence: input.sequence,
    agentInstance: input.agentInstance,
    usage: {
      cpuMillicores: input.cpu ? cpuMillicores(input.cpu.before, input.cpu.after, input.cpu.cpuCount) : 0,
      memoryBytes: memory ? memory.totalBytes - memory.availableBytes : 0,
      memoryAvailableBytes: memory?.availableBytes ?? 0,
      runningPods: input.runningPods,
    },
  };
}
