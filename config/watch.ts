/**
 * Watches a config file for changes. Editors often save by writing a new file and renaming
 * it over the old one, after which a watch on the file itself sees nothing more; so the
 * directory is watched and events are filtered by the file's name. One save gives several
 * events: they are debounced into one call.
 *
 * @module
 */

import { basename, dirname, resolve } from "node:path";

/** A running watch; `close()` stops it. */
export interface FileWatch {
  close(): void;
}

/** Calls `onChange` once per burst of changes to `path`, `debounceMs` after the last one. */
export function watchFile(path: string, onChange: () => void, debounceMs = 200): FileWatch {
  const full = resolve(path);
  const name = basename(full);
  const watcher = Deno.watchFs(dirname(full), { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "access") continue;
        if (!event.paths.some((p) => basename(p) === name)) continue;
        clearTimeout(timer);
        timer = setTimeout(() => {
          timer = undefined;
          if (!closed) onChange();
        }, debounceMs);
      }
    } catch {
      // The watcher was closed.
    }
  })();
  return {
    close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
