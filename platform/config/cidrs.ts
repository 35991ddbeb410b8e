// Source-network allow-lists (STREAMING_SUPPLIERS[].webhookSourceCidrs), as
// Node's net.BlockList: it matches IPv4 rules against IPv4-mapped IPv6
// addresses too (`::ffff:203.0.113.7`, which a dual-stack server reports).
import net from 'node:net';

/** What is wrong with one entry ("203.0.113.0/24", "2001:db8::/32", or one address), or undefined. */
export function cidrProblem(entry: string): string | undefined {
  const [address = '', prefix, ...rest] = entry.trim().split('/');
  const family = net.isIP(address);
  if (family === 0 || rest.length > 0)
    return `${JSON.stringify(entry)} is not an IP address or CIDR`;
  if (prefix === undefined) return undefined;
  const bits = family === 4 ? 32 : 128;
  if (!/^[0-9]{1,3}$/.test(prefix) || Number(prefix) > bits) {
    return `${JSON.stringify(entry)} has a prefix length outside 0-${bits}`;
  }
  return undefined;
}

/** A BlockList of the entries (each already checked by cidrProblem). */
export function allowList(entries: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.trim().split('/');
    const type = net.isIPv6(address) ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

/** Whether the address (as Node reports a peer: IPv4, IPv6 or IPv4-mapped IPv6) is in the list. */
export function allows(list: net.BlockList, address: string | undefined): boolean {
  if (address === undefined || net.isIP(address) === 0) return false;
  return list.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
}
