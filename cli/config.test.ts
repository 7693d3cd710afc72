import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { CliError } from './cli-error.ts';
import {
  configPath,
  normalizeApi,
  readConfig,
  requireKey,
  resolveConnection,
  writeConfig,
} from './config.ts';

const saved = { api: 'http://127.0.0.1:8787', key: 'mmk_saved' };

describe('config', () => {
  test('default: saved under $XDG_CONFIG_HOME, readable by the user only', () => {
    const home = mkdtempSync(join(tmpdir(), 'monadmesh-config-'));
    const path = configPath({ XDG_CONFIG_HOME: home });
    expect(path).toBe(join(home, 'monadmesh', 'config.json'));
    writeConfig(saved, path);
    expect(readConfig(path)).toEqual(saved);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'monadmesh')).mode & 0o777).toBe(0o700);
  });

  test('behavior: ~/.config without XDG_CONFIG_HOME; no file is no config', () => {
    expect(configPath({ HOME: '/home/me' })).toBe('/home/me/.config/monadmesh/config.json');
    expect(readConfig(join(tmpdir(), 'does-not-exist', 'config.json'))).toBeUndefined();
  });

  test('behavior: rewriting tightens an existing file that was too open', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'monadmesh-config-')), 'config.json');
    writeFileSync(path, '{}', { mode: 0o644 });
    writeConfig(saved, path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test('behavior: flags beat environment, which beats the saved config', () => {
    const env = { MONADMESH_API: 'http://127.0.0.1:9000', MONADMESH_KEY: 'mmk_env' };
    expect(resolveConnection({}, {}, saved)).toEqual({
      api: saved.api,
      key: 'mmk_saved',
      keySource: 'config',
    });
    expect(resolveConnection({}, { MONADMESH_KEY: 'mmk_env' }, saved)).toMatchObject({ key: 'mmk_env' });
    expect(resolveConnection({}, env, saved)).toEqual({
      api: 'http://127.0.0.1:9000',
      key: 'mmk_env',
      keySource: 'env',
    });
    expect(resolveConnection({ api: 'http://h:1/', key: 'mmk_flag' }, env, saved)).toEqual({
      api: 'http://h:1',
      key: 'mmk_flag',
      keySource: 'flag',
    });
  });

  test('behavior: the saved key is only sent to the API it was made for', () => {
    expect(resolveConnection({ api: 'https://elsewhere.example' }, {}, saved)).toEqual({
      api: 'https://elsewhere.example',
      key: undefined,
      keySource: 'none',
    });
    expect(resolveConnection({ api: 'http://127.0.0.1:8787/' }, {}, saved).key).toBe('mmk_saved');
  });

  test('error: no key at all is exit 3, with how to log in', () => {
    const connection = resolveConnection({}, {}, undefined);
    expect(connection).toEqual({ api: 'http://127.0.0.1:8787', key: undefined, keySource: 'none' });
    const error = (() => {
      try {
        requireKey(connection);
      } catch (e) {
        return e as CliError;
      }
    })();
    expect(error?.exitCode).toBe(3);
    expect(error?.message).toMatch(
      /not logged in to http:\/\/127\.0\.0\.1:8787: run `monadmesh login --dev`/,
    );
  });

  test('error: a broken config file or API URL', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'monadmesh-config-')), 'config.json');
    writeFileSync(path, 'not json');
    expect(() => readConfig(path)).toThrow(/is not JSON; run `monadmesh login` again/);
    writeFileSync(path, '{"api": 1}');
    expect(() => readConfig(path)).toThrow(/has no api and key/);
    expect(() => normalizeApi('localhost:8787')).toThrow(/--api must be an http\(s\) URL/);
    expect(() => normalizeApi('not a url')).toThrow(/--api must be a URL/);
  });
});
