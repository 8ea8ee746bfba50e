/**
 * The command line: dispatches to a command and turns bad input into one line and exit 2.
 *
 * @module
 */

import { ConfigError } from "../config/problems.ts";
import { quote, UsageError } from "./usage.ts";
import { VERSION } from "../lib/version.ts";

export const MAIN_HELP =
  `roundabout: an HTTP load balancer that keeps one address working when backends fail

Usage: roundabout COMMAND [options]

Commands:
  balance        run the balancer in front of your backends
  up             a scenario: mock apps and the balancer (normal, failing, slow, or a file)
  mock           run one mock app (normal, alternating, delayed, and fault apps)
  check-config   check a config file and show what would be in force, and from where
  status         the backends of a running balancer, from its admin API
  healthcheck    exit 0 if a running balancer answers /healthz (for container images)
  version        print the version (also --version)

"roundabout COMMAND --help" or "roundabout help COMMAND" shows a command's options.`;

type Command = (args: readonly string[]) => Promise<number>;

// Each command is loaded when it runs, so that `balance` does not pay in memory and start-up
// time for the mock apps and their Hono router (`up`, `mock`). The specifiers are literals:
// `deno compile` embeds every module they name (see PLATFORM.md).
const COMMANDS: Readonly<Record<string, Command>> = {
  balance: async (args) => (await import("./balance.ts")).balanceCommand(args),
  up: async (args) => (await import("./up.ts")).upCommand(args),
  mock: async (args) => (await import("./mock.ts")).mockCommand(args),
  "check-config": async (args) => (await import("./check_config.ts")).checkConfigCommand(args),
  status: async (args) => (await import("./status.ts")).statusCommand(args),
  healthcheck: async (args) => (await import("./healthcheck.ts")).healthcheckCommand(args),
};

/** Runs the command line and resolves with the process exit status. */
export async function main(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === "--version" || command === "version") {
    console.log(`roundabout ${VERSION}`);
    return 0;
  }
  // `help COMMAND` is that command's own --help.
  if (command === "help" && rest.length > 0 && Object.hasOwn(COMMANDS, rest[0])) {
    return await COMMANDS[rest[0]](["--help"]);
  }
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    console.log(MAIN_HELP);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  try {
    if (!run) {
      throw new UsageError(
        `unknown command ${quote(command)}: expected one of ${Object.keys(COMMANDS).join(", ")}`,
      );
    }
    return await run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`roundabout: ${error.message}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(`roundabout: ${problem}`);
      return 2;
    }
    console.error(`roundabout: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
