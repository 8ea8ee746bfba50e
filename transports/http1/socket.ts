/**
 * The byte stream a connection to a backend runs on, as small as the client needs: the parser,
 * the pool and the round trip are written against it once, and each way of opening a socket
 * (`Deno.connect` in `connect.ts`, `node:net` in `net_socket.ts`) is one implementation.
 * A `Deno.Conn` is one as it is.
 *
 * @module
 */

/** A connected byte stream. Used by one exchange at a time; one read pending at most. */
export interface Http1Socket {
  /**
   * Reads into `into`; resolves with the number of bytes read, or `null` once the peer has
   * closed. Rejects when the connection broke, or when {@linkcode close} ended a pending read.
   */
  read(into: Uint8Array): Promise<number | null>;
  /**
   * Hands bytes to the connection; resolves with how many it took (possibly fewer than given)
   * once it can take more. Rejects when nothing was taken because the connection is broken.
   */
  write(bytes: Uint8Array): Promise<number>;
  /** Closes the connection; a pending read or write rejects. */
  close(): void;
  /** Makes a pending read keep the process running (the default). */
  ref(): void;
  /** Lets the process exit although a read is pending (an idle pooled connection). */
  unref(): void;
}

/** Which sockets `Http1Transport` opens for `http://` backends. */
export type SocketKind = "net" | "deno";
