#!/usr/bin/env -S node --max-semi-space-size=2
// flotilla-controller: `serve` (the default) or `init`. Exit codes: 0 success, 1 failure,
// 2 usage error.
import { caCertHash, createLogger, errorMessage, isFlotillaError, type Logger } from '@flotilla/common';
import { dataDirLayout, initFiles } from './bootstrap/init.js';
import { clientAddress, startController } from './controller.js';
import { formatHostPort } from './options/parse.js';
import { parseCommandLine, usage, type ParsedOptions } from './options/flags.js';
import { EtcdStore } from './store/etcd-store.js';
import { retryUntil } from './util/backoff.js';

const etcdWaitMs = 30_000;
const shutdownTimeoutMs = 10_000;

async function runInit(options: ParsedOptions, log: Logger): Promise<number> {
  const store = new EtcdStore({ endpoints: options.etcdEndpoints, logger: log });
  const deadline = AbortSignal.timeout(etcdWaitMs);
  try {
    const result = await retryUntil(
      () =>
        initFiles({
          store,
          layout: dataDirLayout(options.dataDir, options),
          natsListen: options.natsListen,
          server: clientAddress(options.listen, options.advertiseAddress),
          tokenTtlMs: options.tokenTtlMs,
          logger: log,
        }),
      deadline,
      (err, attempt, delayMs) =>
        log.warn('waiting for etcd', { attempt, retryInMs: delayMs, err: errorMessage(err) }),
      { retryIf: (err) => isFlotillaError(err, 'Unavailable') },
    ).catch((err: unknown) => {
      if (deadline.aborted) {
        throw new Error(
          `cannot reach etcd at ${options.etcdEndpoints.join(',')} (--etcd-endpoints) within ${etcdWaitMs / 1000}s`,
        );
      }
      throw err;
    });
    const { layout } = result;
    const out = [
      result.secrets.created.ca
        ? 'Created the cluster CA and NATS keys in etcd.'
        : 'Reused the cluster CA and NATS keys in etcd.',
      `  cluster CA          ${layout.caFile}  (${caCertHash(result.secrets.ca.certPem)})`,
      `  nats-server config  ${layout.natsConfigPath}  (listens on ${formatHostPort(options.natsListen)})`,
      `  admin client config ${layout.adminConfigPath}  (server ${clientAddress(options.listen, options.advertiseAddress)})`,
      `  join token          ${layout.tokenFile}  (id ${result.token?.id ?? '?'}, expires ${result.token?.expiresAt ?? '?'})`,
    ];
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  } finally {
    await store.close();
  }
}

async function runServe(options: ParsedOptions, log: Logger): Promise<number> {
  const starting = new AbortController();
  let stop: (() => Promise<void>) | undefined;
  let signals = 0;
  const done = new Promise<number>((resolve) => {
    const onSignal = (name: string): void => {
      signals++;
      if (signals > 1) {
        log.warn('second signal: exiting without a clean shutdown', { signal: name });
        process.exit(1);
      }
      log.info('shutting down', { signal: name });
      starting.abort();
      if (!stop) return resolve(0);
      // A clean shutdown is bounded: a dependency that hangs must not keep the process alive.
      setTimeout(() => {
        log.error('shutdown did not finish in time; exiting', { timeoutMs: shutdownTimeoutMs });
        resolve(1);
      }, shutdownTimeoutMs).unref();
      stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error('shutdown failed', { err: errorMessage(err) });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });
  try {
    const running = await startController({
      etcdEndpoints: options.etcdEndpoints,
      natsUrls: options.natsUrls,
      natsAdvertiseUrls: options.natsAdvertiseUrls,
      listen: options.listen,
      advertiseAddress: options.advertiseAddress,
      tlsSans: options.tlsSans,
      dataDir: options.dataDir,
      nodeGraceMs: options.nodeGraceMs,
      evictionTimeoutMs: options.evictionTimeoutMs,
      schedulerScoring: options.schedulerScoring,
      controllers: options.controllers,
      natsListen: options.natsListen,
      natsConfigPath: options.natsConfigPath,
      adminConfigPath: options.adminConfigPath,
      tokenFile: options.tokenFile,
      tokenTtlMs: options.tokenTtlMs,
      serviceCidr: options.serviceCidr,
      clusterCidr: options.clusterCidr,
      nodeCidrMaskSize: options.nodeCidrMaskSize,
      webFacingSelector: options.webFacingSelector,
      clusterDomain: options.clusterDomain,
      logger: log,
      signal: starting.signal,
    });
    stop = () => running.stop();
    if (starting.signal.aborted) await running.stop();
  } catch (err) {
    if (starting.signal.aborted) return 0;
    throw err;
  }
  const code = await done;
  log.info('stopped');
  return code;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    process.stderr.write(`flotilla-controller: ${errorMessage(err)}\n`);
    return 2;
  }
  if (parsed.help || !parsed.options) {
    process.stdout.write(usage(parsed.command === 'help' ? undefined : parsed.command));
    return 0;
  }
  const options = parsed.options;
  const log = createLogger({ component: 'controller' }, { level: options.logLevel });
  process.on('unhandledRejection', (reason) => {
    // Keep serving: a stray rejection in a background task must not take the API down.
    log.error('unhandled rejection', { err: errorMessage(reason) });
  });
  try {
    return parsed.command === 'init' ? await runInit(options, log) : await runServe(options, log);
  } catch (err) {
    const usageError = isFlotillaError(err, 'InvalidArgument');
    process.stderr.write(`flotilla-controller ${parsed.command}: ${errorMessage(err)}\n`);
    return usageError ? 2 : 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`flotilla-controller: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
