/**
 * glibc's `malloc_trim(3)`, reached through Deno's FFI: it hands memory that `free` has
 * already released inside the C heap back to the system. Without it that memory stays
 * resident for the life of the process: measured with 1,000 idle keep-alive connections,
 * about 9 MiB of the V8 compiler threads' finished work sat free in their malloc arenas, and
 * a trim brought the balancer from 90 to 81 MiB (bench/README.md, "Handing freed memory
 * back"). HAProxy does the same (`no-memory-trimming` turns it off there).
 *
 * Only on Linux with glibc, and only when the process may use FFI (`--allow-ffi`): the
 * permission is queried, never prompted for. The library is opened on the first trim, not at
 * start, and the call is `nonblocking` (it runs on a helper thread): both keep FFI's own
 * machinery out of memory until there is something to give back (a synchronous FFI call
 * costs about 3.5 MiB of resident code at start, a nonblocking one about 1.5).
 *
 * @module
 */

/** Hands freed C-heap memory back; resolves true when the system got some back. */
export type TrimMemory = () => Promise<boolean>;

/** Whether this process can trim its C heap, and how, or why not. */
export type TrimAvailability =
  | { readonly trim: TrimMemory; readonly unavailable?: undefined }
  | { readonly trim?: undefined; readonly unavailable: string };

const SYMBOLS = {
  malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: true },
} as const;

/** glibc's `malloc_trim`, or why this process cannot call it. */
export function mallocTrim(): TrimAvailability {
  if (!Deno.build.target.endsWith("-linux-gnu")) {
    return { unavailable: `not Linux with glibc (${Deno.build.target})` };
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { unavailable: "needs --allow-ffi" };
  }
  let library: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
  return {
    trim: async () => {
      library ??= Deno.dlopen("libc.so.6", SYMBOLS);
      // A pad of 0: keep nothing spare at the top of the heap.
      return await library.symbols.malloc_trim(0n) === 1;
    },
  };
}
