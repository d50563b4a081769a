/**
 * Edge-only config loading: preset <- JSON file <- `--set a.b=c` overrides -> one zod parse -> frozen object.
 * Everything after this point trusts the config.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { PRESETS, PRESET_NAMES, type PresetName } from './presets';
import { SeerConfigSchema, type SeerConfig } from './schema';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge where arrays and scalars replace, objects merge. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/** `a.b.c=value`: the value is parsed as JSON when it parses, else taken as a string. */
export function parseOverride(assignment: string): Record<string, unknown> {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--set expects key=value, got "${assignment}"`);
  const path = assignment.slice(0, eq).split('.');
  const raw = assignment.slice(eq + 1);
  let value: Json;
  try {
    value = JSON.parse(raw) as Json;
  } catch {
    value = raw;
  }
  let obj: Record<string, unknown> = {};
  const root = obj;
  for (const [i, key] of path.entries()) {
    if (!key) throw new ConfigError(`empty key segment in "${assignment}"`);
    if (i === path.length - 1) obj[key] = value;
    else obj = (obj[key] = {}) as Record<string, unknown>;
  }
  return root;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export interface LoadConfigOptions {
  preset?: string;
  file?: string;
  set?: string[];
  /** Already-parsed partial config merged after the file and before `set`. */
  overrides?: Record<string, unknown>;
}

/** Validate an arbitrary object; throws ConfigError whose message names each bad field. */
export function validateConfig(input: unknown): SeerConfig {
  const result = SeerConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError(`invalid config:\n${z.prettifyError(result.error)}`);
  return result.data;
}

export function loadConfig(opts: LoadConfigOptions = {}): Readonly<SeerConfig> {
  let merged: unknown = {};
  if (opts.preset) {
    if (!(PRESET_NAMES as string[]).includes(opts.preset)) {
      throw new ConfigError(`unknown preset "${opts.preset}" (choose one of: ${PRESET_NAMES.join(', ')})`);
    }
    merged = deepMerge(merged, structuredClone(PRESETS[opts.preset as PresetName]));
  }
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${opts.file}: ${(err as Error).message}`);
    }
    try {
      merged = deepMerge(merged, JSON.parse(text));
    } catch (err) {
      throw new ConfigError(`config file ${opts.file} is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (opts.overrides) merged = deepMerge(merged, opts.overrides);
  for (const s of opts.set ?? []) merged = deepMerge(merged, parseOverride(s));
  return deepFreeze(validateConfig(merged));
}
