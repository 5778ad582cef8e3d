// deploy get KIND [NAME…] [-o wide|json|yaml] [-w] [-n NS | -A] [-l SELECTOR]
import { errorMessage } from '@flotilla/common';
import type { Object as ApiObject } from '@flotilla/proto';
import type { CommandContext, CliIo } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { withCluster, type ObjectApi } from '../client/cluster-client.js';
import type { KindInfo } from '../objects/kinds.js';
import {
  objectDocument,
  objectListDocument,
  objectsTable,
  tableHeaders,
  tableRow,
  type TableOptions,
} from '../format/objects.js';
import { renderDocument, type OutputFormat } from '../format/output.js';
import { checkLabelSelector, selectorForms } from '../selector/label-selector.js';
import { listNamespaceOf, resourceOf } from './object-flags.js';
import { showNodes } from './nodes.js';

export interface GetRequest {
  info: KindInfo;
  names: readonly string[];
  /** '' for every namespace. */
  namespace: string;
  labelSelector: string;
  output: OutputFormat | undefined;
}

/** kubectl's words when nothing matched. */
export function noResourcesMessage(info: KindInfo, namespace: string): string {
  return info.namespaced && namespace
    ? `No resources found in ${namespace} namespace.`
    : 'No resources found';
}

/** Reads and prints the objects; exit 1 when a named one could not be read. */
export async function getObjects(
  api: Pick<ObjectApi, 'getObject' | 'listObjects'>,
  request: GetRequest,
  io: Pick<CliIo, 'stdout' | 'stderr'>,
  now: Date,
): Promise<number> {
  const { info, names, namespace } = request;
  let objects: ApiObject[] = [];
  let failed = false;
  if (names.length > 0) {
    for (const name of names) {
      try {
        objects.push(await api.getObject({ kind: info.kind, namespace: namespace || 'default', name }));
      } catch (err) {
        io.stderr(`error: ${errorMessage(err)}\n`);
        failed = true;
      }
    }
  } else {
    const list = await api.listObjects({
      kind: info.kind,
      namespace,
      labelSelector: request.labelSelector,
      fieldSelector: '',
    });
    objects = list.items;
  }
  const output = request.output;
  if (output === 'json' || output === 'yaml') {
    const first = objects[0];
    const single = names.length === 1 && first;
    if (single || objects.length > 0 || names.length === 0) {
      io.stdout(renderDocument(single ? objectDocument(first) : objectListDocument(objects), output));
    }
    return failed ? 1 : 0;
  }
  if (objects.length === 0) {
    if (!failed) io.stderr(noResourcesMessage(info, namespace) + '\n');
    return failed ? 1 : 0;
  }
  const options: TableOptions = { now, wide: output === 'wide', withNamespace: namespace === '' };
  io.stdout(objectsTable(info, objects, options));
  return failed ? 1 : 0;
}

/**
 * Rows printed one at a time as a watch delivers them, aligned like a table: a column is
 * as wide as its widest cell so far, as kubectl's watch output is.
 */
export class WatchPrinter {
  private readonly widths: number[];

  constructor(
    private readonly headers: readonly string[],
    private readonly write: (text: string) => void,
  ) {
    this.widths = headers.map((h) => h.length);
  }

  private headerShown = false;

  private widen(cells: readonly string[]): void {
    cells.forEach((cell, i) => (this.widths[i] = Math.max(this.widths[i] ?? 0, cell.length)));
  }

  private line(cells: readonly string[]): string {
    this.widen(cells);
    return (
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(this.widths[i] ?? 0)))
        .join('   ')
        .trimEnd() + '\n'
    );
  }

  /** The first row comes with the header, both as wide as the wider of the two. */
  row(cells: readonly string[]): void {
    if (!this.headerShown) {
      this.widen(cells);
      this.write(this.line(this.headers));
      this.headerShown = true;
    }
    this.write(this.line(cells));
  }
}

export async function watchObjects(
  api: Pick<ObjectApi, 'watchObjects'>,
  request: GetRequest,
  io: Pick<CliIo, 'stdout' | 'signal'>,
  clock: () => Date = () => new Date(),
): Promise<number> {
  const stream = api.watchObjects({
    kind: request.info.kind,
    namespace: request.namespace,
    name: request.names[0] ?? '',
    labelSelector: request.labelSelector,
    resourceVersion: '',
  });
  const onAbort = (): void => stream.cancel();
  io.signal?.addEventListener('abort', onAbort);
  const json = request.output === 'json' || request.output === 'yaml' ? request.output : undefined;
  const options = { wide: request.output === 'wide', withNamespace: request.namespace === '' };
  const printer = new WatchPrinter(tableHeaders(request.info, { ...options, now: clock() }), io.stdout);
  try {
    for await (const event of stream) {
      if (!event.object) continue;
      if (json) {
        io.stdout(
          json === 'yaml'
            ? `---\n${renderDocument(objectDocument(event.object), 'yaml')}`
            : renderDocument(objectDocument(event.object), 'json'),
        );
        continue;
      }
      const row = tableRow(event.object, { ...options, now: clock() });
      // A deleted object gets its last row too, as in kubectl's watch.
      printer.row(row);
    }
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
  }
  return 0;
}

function requestOf(ctx: CommandContext): GetRequest {
  const [kindArg = '', ...rest] = ctx.args;
  // "get deployment/web service/web": KIND/NAME pairs of one kind.
  let info: KindInfo;
  let names: string[];
  if (kindArg.includes('/')) {
    const pairs = ctx.args.map((a) => a.split('/'));
    const resolved = pairs.map(([k = '']) => resourceOf(ctx, k));
    info = resolved[0] as KindInfo;
    if (resolved.some((r) => r.kind !== info.kind) || pairs.some((p) => p.length !== 2 || !p[1])) {
      throw new UsageError(
        'give KIND/NAME arguments of one kind, such as deployment/web deployment/api',
        ctx.commandPath,
      );
    }
    names = pairs.map((p) => p[1] ?? '');
  } else {
    info = resourceOf(ctx, kindArg);
    names = rest;
  }
  const labelSelector = ctx.flags.string('selector') ?? '';
  const problem = checkLabelSelector(labelSelector);
  if (problem) {
    throw new UsageError(
      `invalid value "${labelSelector}" for flag -l/--selector: ${problem}; valid forms: ${selectorForms}`,
      ctx.commandPath,
      { field: 'selector', value: labelSelector },
    );
  }
  if (names.length > 0 && labelSelector) {
    throw new UsageError('give either NAMEs or -l/--selector, not both', ctx.commandPath);
  }
  if (ctx.flags.boolean('watch') && names.length > 1) {
    throw new UsageError('-w/--watch follows one NAME, or every object of the kind', ctx.commandPath);
  }
  const namespace = info.namespaced ? listNamespaceOf(ctx) : '';
  if (names.length > 0 && info.namespaced && namespace === '') {
    throw new UsageError(
      `a ${info.kind.toLowerCase()} NAME needs its namespace: -n NS, not -A`,
      ctx.commandPath,
    );
  }
  return {
    info,
    names,
    namespace,
    labelSelector,
    output: ctx.flags.string('output') as OutputFormat | undefined,
  };
}

export async function runGet(ctx: CommandContext): Promise<number> {
  const request = requestOf(ctx);
  const watch = ctx.flags.boolean('watch');
  // Nodes through the node API, which `deploy nodes` shares.
  if (request.info.kind === 'Node' && !watch && request.names.length <= 1)
    return showNodes(ctx, request.names[0]);
  return withCluster(ctx.global.configPath, (api) =>
    watch ? watchObjects(api, request, ctx.io) : getObjects(api, request, ctx.io, new Date()),
  );
}
