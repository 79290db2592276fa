import { PolicyError, redact } from "../components/core/errors";
import { consoleIo, fail, type Io, UsageError } from "./args";
import { DIFF_HELP, diffCommand, UnreadableInput } from "./diff";
import { DOCTOR_HELP, doctorCommand } from "./doctor";
import { PROBE_HELP, probe, regions } from "./regions";
import { applyScriptFromFlags, RENDER_HELP, render } from "./render";

export { type Io, UsageError } from "./args";
export { outputFiles } from "./output";
export { selectionFromFlags } from "./regions";
export { nodeConfigFromFlags } from "./render";

const MAIN_HELP = `registry-mirrors — render container registry mirror configuration for every runtime

Usage:
  registry-mirrors render   [flags]   write node files, the apply script and cloud-init user data
  registry-mirrors validate [flags]   check the same flags/policy and print warnings, write nothing
  registry-mirrors regions  [--cloud aws|alicloud]
                                      list the built-in regions and the endpoints derived for each
  registry-mirrors probe    (--cloud C --region R [region flags] | --mirror URL ...) [--timeout MS] [--concurrency N]
                                      GET /v2/ on each mirror; print them best first with latency or failure
  registry-mirrors diff     --preview preview.json | OLD NEW   [--format markdown|text]
                                      the node file changes of a \`pulumi preview --json\` (or between two payloads),
                                      as unified diffs for a pull request comment; exit 0 whatever changed
  registry-mirrors doctor   --node-root DIR (--script FILE | [render flags])
                                      check a node's files under DIR against the policy, without touching
                                      a runtime; one line per finding with its fix, exit 1 on a problem
  registry-mirrors help [command]

Run "registry-mirrors render --help" for the flags.`;

function report(err: unknown, io: Io): number {
  if (err instanceof UsageError || err instanceof UnreadableInput) {
    io.err(`registry-mirrors: ${redact(err.message)}`);
    return 2;
  }
  if (err instanceof PolicyError) {
    io.err(`registry-mirrors: ${err.message}`);
    return 1;
  }
  throw err;
}

/** Runs the CLI; returns the exit code (a promise for `probe`, which waits on the network). */
export function main(argv: string[], io: Io = consoleIo): number | Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "render":
        return render(rest, io, true);
      case "validate":
        return render(rest, io, false);
      case "regions":
        return regions(rest, io);
      case "probe":
        return probe(rest, io).catch((err) => report(err, io));
      case "diff":
        return diffCommand(rest, io.out, fail);
      case "doctor":
        return doctorCommand(rest, io.out, fail, applyScriptFromFlags);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.out(
          rest[0] === "render" || rest[0] === "validate"
            ? RENDER_HELP
            : rest[0] === "probe"
              ? PROBE_HELP
              : rest[0] === "diff"
                ? DIFF_HELP
                : rest[0] === "doctor"
                  ? DOCTOR_HELP
                  : MAIN_HELP,
        );
        return 0;
      default:
        throw new UsageError(`unknown command "${command}"\n\n${MAIN_HELP}`);
    }
  } catch (err) {
    return report(err, io);
  }
}
