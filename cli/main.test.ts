import { describe, expect, test } from 'vitest';
import { commandFirst, commands } from './main.ts';

describe('main', () => {
  test('default: the command comes first', () => {
    expect(commandFirst(['jobs', '--json'])).toEqual(['jobs', '--json']);
  });

  test('behavior: common flags may come before the command', () => {
    expect(commandFirst(['--json', 'jobs'])).toEqual(['jobs', '--json']);
    expect(commandFirst(['--api', 'http://x', 'status', 'id'])).toEqual([
      'status',
      '--api',
      'http://x',
      'id',
    ]);
    expect(commandFirst(['--help'])).toEqual(['--help']);
  });

  test('behavior: every command has usage, examples and the exit codes in its help', () => {
    for (const command of commands.filter((c) => c.name !== 'node')) {
      expect(command.help, command.name).toMatch(new RegExp(`^Usage: monadmesh ${command.name}`, 'm'));
      expect(command.help, command.name).toMatch(/^Examples:/m);
      expect(command.help, command.name).toMatch(/^Exit codes:/m);
      expect(command.help, command.name).toMatch(/--json/);
    }
  });

  test('error: no command found is left for main to report', () => {
    expect(commandFirst(['--json'])).toEqual(['--json']);
  });
});
