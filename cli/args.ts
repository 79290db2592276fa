/** What every command shares: the output streams, usage errors and the flag parser. */
import { type ParseArgsConfig, parseArgs } from "node:util";

/** Thrown for a usage problem: printed without a stack, exit code 2. */
export class UsageError extends Error {}

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const consoleIo: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

export function fail(message: string): never {
  throw new UsageError(message);
}

export type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/** The value each option of `T` parses to (none of the CLI's options has a default, so each may be missing). */
export type ParsedValues<T extends ParseArgsOptionsConfig> = {
  -readonly [K in keyof T]?: T[K]["type"] extends "boolean"
    ? T[K] extends { multiple: true }
      ? boolean[]
      : boolean
    : T[K] extends { multiple: true }
      ? string[]
      : string;
};

/** The result of {@link parseOrFail}: named so that declaration output can refer to it. */
export interface ParsedArgs<T extends ParseArgsOptionsConfig> {
  values: ParsedValues<T>;
  positionals: string[];
}

/** node:util's parseArgs (strict, no positionals); a parse error becomes a UsageError pointing at the help. */
export function parseOrFail<T extends ParseArgsOptionsConfig>(
  argv: string[],
  options: T,
  command: string,
): ParsedArgs<T> {
  try {
    return parseArgs<{ args: string[]; options: T; allowPositionals: false; strict: true }>({
      args: argv,
      options,
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    fail(`${(err as Error).message}\nRun "registry-mirrors ${command} --help" for the flags.`);
  }
}
