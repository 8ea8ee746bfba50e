/**
 * A tiny DNS server for tests, over `node:dgram` on loopback: answers A, AAAA and SRV
 * queries from a table the test changes (TTL 0, so nothing is cached), NXDOMAIN for other
 * names. `silent` drops queries, as a resolver that stopped answering.
 *
 * @module
 */

import dgram from "node:dgram";
import { Buffer } from "node:buffer";

/** What one name answers. */
export interface DnsEntry {
  a?: string[];
  aaaa?: string[];
  srv?: { priority: number; weight: number; port: number; target: string }[];
}

/** A running test DNS server. */
export interface TestDns {
  /** `127.0.0.1:PORT`, for `dnsResolver` / `--resolver`. */
  readonly address: string;
  /** Name (no trailing dot, lower case) → records. Change it at will. */
  readonly table: Map<string, DnsEntry>;
  /** Queries received so far. */
  readonly queries: () => number;
  /** True: queries get no answer at all. */
  silent: boolean;
  close(): Promise<void>;
}

const TYPES = { A: 1, AAAA: 28, SRV: 33 } as const;

/** Starts a server on 127.0.0.1 and a free port. */
export async function startDns(): Promise<TestDns> {
  const socket = dgram.createSocket("udp4");
  const table = new Map<string, DnsEntry>();
  let queries = 0;
  const dns: TestDns = {
    address: "",
    table,
    queries: () => queries,
    silent: false,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on("message", (message, peer) => {
    queries++;
    if (dns.silent) return;
    socket.send(answer(message, table), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  (dns as { address: string }).address = `127.0.0.1:${socket.address().port}`;
  return dns;
}

/** The reply to one query (one question, as resolvers send). */
function answer(query: Buffer, table: Map<string, DnsEntry>): Buffer {
  const labels: string[] = [];
  let at = 12;
  while (query[at] !== 0) {
    labels.push(query.subarray(at + 1, at + 1 + query[at]).toString("latin1"));
    at += query[at] + 1;
  }
  const questionEnd = at + 5;
  const type = query.readUInt16BE(at + 1);
  const entry = table.get(labels.join(".").toLowerCase());
  const records = entry === undefined ? [] : rdata(entry, type);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // Response, recursion desired and available; NXDOMAIN for an unknown name.
  header.writeUInt16BE(0x8180 | (entry === undefined ? 3 : 0), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const answers = records.map((data) => {
    const head = Buffer.alloc(12);
    head.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    head.writeUInt16BE(type, 2);
    head.writeUInt16BE(1, 4);
    head.writeUInt32BE(0, 6); // TTL 0: never cached
    head.writeUInt16BE(data.length, 10);
    return Buffer.concat([head, data]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
}

function rdata(entry: DnsEntry, type: number): Buffer[] {
  if (type === TYPES.A) {
    return (entry.a ?? []).map((ip) => Buffer.from(ip.split(".").map(Number)));
  }
  if (type === TYPES.AAAA) return (entry.aaaa ?? []).map(ipv6);
  if (type !== TYPES.SRV) return [];
  return (entry.srv ?? []).map((srv) => {
    const fixed = Buffer.alloc(6);
    fixed.writeUInt16BE(srv.priority, 0);
    fixed.writeUInt16BE(srv.weight, 2);
    fixed.writeUInt16BE(srv.port, 4);
    return Buffer.concat([fixed, name(srv.target)]);
  });
}

function name(text: string): Buffer {
  const parts = text.split(".").filter(Boolean).map((label) =>
    Buffer.concat([Buffer.from([label.length]), Buffer.from(label, "latin1")])
  );
  return Buffer.concat([...parts, Buffer.from([0])]);
}

/** 16 bytes of an IPv6 address (with `::`). */
function ipv6(text: string): Buffer {
  const [head, tail = ""] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = text.includes("::")
    ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
    : left;
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}
