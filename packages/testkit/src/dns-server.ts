import { createSocket } from "node:dgram";

/** What the server answers: A records for every name, or SERVFAIL as a failing resolver does. */
export type DnsAnswer = { addresses: string[]; ttl: number } | "servfail";

/** A DNS server for tests, on a random UDP port on 127.0.0.1. */
export interface DnsServer {
  /** `127.0.0.1:PORT`, for an upstream's `dnsResolvers`. */
  address: string;
  /** Queries received so far. */
  readonly queries: number;
  /** Changes the answer from now on. */
  set(answer: DnsAnswer): void;
  close(): Promise<void>;
}

/**
 * Starts a minimal authoritative-looking DNS server: every A query gets the configured IPv4
 * addresses with their TTL (AAAA queries get no records), or every query gets SERVFAIL. For
 * tests of names that fail to resolve and then recover, without touching the system's resolver.
 */
export async function startDnsServer(answer: DnsAnswer = "servfail"): Promise<DnsServer> {
  let current = answer;
  let queries = 0;
  const socket = createSocket("udp4");
  socket.on("message", (query, peer) => {
    if (query.length < 12) return;
    queries++;
    // The question: labels up to a zero byte, then type and class.
    let end = 12;
    while (end < query.length && query[end] !== 0) end += (query[end] as number) + 1;
    end += 5;
    const question = query.subarray(12, end);
    const type = question.readUInt16BE(question.length - 4);
    const records = current === "servfail" || type !== 1 ? [] : current.addresses;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    // QR, the query's RD bit, RA; RCODE 2 (SERVFAIL) or 0.
    header.writeUInt16BE(0x8080 | (((query[2] as number) & 0x01) << 8) | (current === "servfail" ? 2 : 0), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length, 6);
    const ttl = current === "servfail" ? 0 : current.ttl;
    const answers = records.map((address) => {
      const record = Buffer.alloc(16);
      record.writeUInt16BE(0xc00c, 0);
      record.writeUInt16BE(1, 2);
      record.writeUInt16BE(1, 4);
      record.writeUInt32BE(ttl, 6);
      record.writeUInt16BE(4, 10);
      for (const [i, octet] of address.split(".").entries()) record.writeUInt8(Number(octet), 12 + i);
      return record;
    });
    socket.send(Buffer.concat([header, question, ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    get queries() {
      return queries;
    },
    set(next) {
      current = next;
    },
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
