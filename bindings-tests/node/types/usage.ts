// Type-checked (never run) by scripts/test-node.sh with `tsc --strict`: the public types let
// upstream-style code compile, in both the CommonJS and the ESM resolution of 'boxlite'.
import {
  Boxlite,
  JsBoxlite,
  Box,
  BoxliteError,
  CodeBox,
  ExecError,
  SimpleBox,
  TimeoutError,
  errorCodes,
  statusNames,
  type BoxInfo,
  type BoxLimits,
  type BoxOptions,
  type CopyOptions,
  type CopyStats,
  type ErrorCode,
  type ExecResult,
  type FileEntry,
  type ImageInfo,
  type ImagePruneReport,
  type ImageRegistry,
  type SimpleExecResult,
} from 'boxlite';

export async function files(box: Box, simple: SimpleBox): Promise<void> {
  const opts: CopyOptions = { recursive: true, overwrite: false, followSymlinks: false, includeParent: true };
  const stats: CopyStats = await box.copyIn('/tmp/src', '/app', opts);
  await simple.copyOut('/app', '/tmp/back', { preserveOwners: true });
  await box.writeFile('/app/notes.txt', 'hello', 0o600);
  await simple.writeFile('/app/raw', Buffer.from([1, 2]));
  const data: Buffer = await box.readFile('/app/notes.txt');
  const entries: FileEntry[] = await simple.listDir('/app');
  const kind: 'file' | 'dir' | 'symlink' | 'other' = entries[0].kind;
  const target: string | null = entries[0].linkTarget;
  void [stats.entries, stats.bytes, data, kind, target, entries[0].mtimeMs];
}

export async function images(): Promise<void> {
  const registries: ImageRegistry[] = [
    { host: '127.0.0.1:5000', transport: 'http', search: true, auth: { username: 'u', password: 'p' } },
    { host: 'docker.io', mirrors: ['mirror.example.com'] },
    { host: 'ghcr.io', auth: { token: 't' } },
  ];
  const rt = new Boxlite({ homeDir: '/tmp/home', imageRegistries: registries });
  const pulled: ImageInfo = await rt.images.pull('busybox');
  const size: number | null = pulled.size;
  const found: ImageInfo | null = await rt.images.inspect(pulled.id);
  const all: ImageInfo[] = await rt.images.list();
  await rt.images.remove(pulled.reference, true);
  const report: ImagePruneReport = await rt.images.prune();
  void [size, found, all, report.bytesFreed];
}

export async function usage(): Promise<void> {
  const rt: Boxlite = new JsBoxlite({ homeDir: '/tmp/home', imageRegistries: [] });
  const shared: Boxlite = Boxlite.withDefaultConfig();
  const options: BoxOptions = { image: 'oci:/layout:latest', env: { A: '1' }, memoryMib: 256, autoRemove: false };
  const box: Box = await rt.create(options, 'name');
  const maybe: Box | null = await rt.get(box.id);
  const info: BoxInfo | null = await rt.getInfo('name');
  const status: string | undefined = info?.state.status;
  const limits: BoxLimits | undefined = info?.limits;
  const nofile: [number, number] | undefined = limits && [limits.nofileSoft, limits.nofileHard];
  const cpuQuota: number | null | undefined = limits?.cpus;
  void [nofile, cpuQuota, limits?.memoryMib, limits?.pidsMax, limits?.tmpSizeMib];
  void [limits?.logMaxSizeMib, limits?.logMaxFiles];
  const bounded: BoxOptions = {
    image: 'oci:/layout',
    pidsMax: 64,
    nofileSoft: 256,
    nofileHard: 512,
    tmpSizeMib: 64,
    logMaxSizeMib: 4,
    logMaxFiles: 3,
    diskSizeGb: null,
  };
  void bounded;
  const all: BoxInfo[] = await shared.listInfo();
  const { box: again, created }: { box: Box; created: boolean } = await rt.getOrCreate(options, 'name');

  const execution = await box.exec('sh', ['-c', 'cat'], [['K', 'V']], false, '1000', 5, '/tmp');
  await execution.stdin().write(Buffer.from('x'));
  await execution.stdin().close();
  const first: string | null = await execution.stdout().next();
  for await (const line of execution.stderr()) {
    const text: string = line;
    void text;
  }
  const result: ExecResult = await execution.wait();
  const code: number = result.exitCode;
  await execution.kill();
  await execution.signal(15);
  await execution.resizeTty(24, 80);

  const simple = new SimpleBox({ image: 'oci:/layout', name: 's', reuseExisting: true, runtime: rt });
  const out: SimpleExecResult = await simple.exec('echo', 'a', 'b');
  const withEnv: SimpleExecResult = await simple.exec('env', [], { A: 'b' }, { cwd: '/', timeoutSecs: 2 });
  const wasCreated: boolean | null = simple.created;
  await simple[Symbol.asyncDispose]();

  const py = new CodeBox({ rootfsPath: '/layouts/python' });
  const printed: string = await py.run('print(1)');
  await py.installPackages('a', 'b');

  try {
    await rt.remove('x', true);
  } catch (err) {
    if (err instanceof ExecError) console.log(err.command, err.exitCode, err.stderr);
    else if (err instanceof TimeoutError) console.log(err.code);
    else if (err instanceof BoxliteError) {
      const c: ErrorCode = err.code;
      console.log(c, err.name);
    }
  }
  const codes: ErrorCode[] = errorCodes();
  const names: string[] = statusNames();
  await rt.shutdown(-1);
  void [maybe, status, all, again, created, first, code, out, withEnv, wasCreated, printed, codes, names];
}
