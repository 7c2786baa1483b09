import { describe, expect, it } from "vitest";
import { clientNetwork } from "./use-rate-limits.ts";

describe("clientNetwork: what per-address limits key on", () => {
  it("keeps IPv4 addresses, also IPv4-mapped ones", () => {
    expect(clientNetwork("203.0.113.7")).toBe("203.0.113.7");
    expect(clientNetwork("::ffff:203.0.113.7")).toBe("203.0.113.7");
  });

  it("groups IPv6 addresses by their /64, however they are written", () => {
    const network = "2001:db8:1:2::/64";
    for (const address of [
      "2001:db8:1:2::1",
      "2001:0db8:0001:0002:ffff:ffff:ffff:fffe",
      "2001:db8:1:2:a:b:c:d",
      "2001:db8:1:2::1%eth0",
    ]) {
      expect(clientNetwork(address), address).toBe(network);
    }
    expect(clientNetwork("2001:db8:1:3::1")).not.toBe(network);
    expect(clientNetwork("::1")).toBe("0:0:0:0::/64");
    expect(clientNetwork("fe80::1")).toBe("fe80:0:0:0::/64");
  });

  it("leaves anything else alone", () => {
    expect(clientNetwork("unknown")).toBe("unknown");
  });
});
