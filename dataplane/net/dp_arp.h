/*
 * dp_arp.h: ARP for IPv4 over Ethernet (RFC 826): answer requests for our address, learn
 * peers from requests and replies addressed to us, resolve next hops on demand.
 *
 * The table is a fixed open-addressed array (power of two slots, probe window of 8) keyed
 * by IPv4 address. Entries age out after arp_ttl_ns unless refreshed; an expired slot is
 * free for reuse. A miss during output sends one request per arp_retry_ns per address.
 * Only frames whose target is our address create entries, so a flood of gratuitous ARP
 * for other hosts cannot fill the table.
 */
#ifndef DP_ARP_H
#define DP_ARP_H

#include <stddef.h>
#include <stdint.h>

struct dp_stack;

struct dp_arp_entry {
	uint32_t ip;            /* 0 = never used */
	uint8_t mac[6];
	uint8_t resolved;       /* mac valid (else: a request is outstanding) */
	uint64_t expire_ns;     /* entry dead at and after this time */
	uint64_t last_req_ns;   /* last request we sent for ip */
};

struct dp_arp_table {
	struct dp_arp_entry *e;
	uint32_t mask;
};

/* Allocate n (power of two) entries. Returns 0 or -ENOMEM/-EINVAL. */
int dp_arp_init(struct dp_arp_table *t, uint32_t n);
void dp_arp_fini(struct dp_arp_table *t);

/* An ARP frame (frame = Ethernet header, len bytes). */
void dp_arp_input(struct dp_stack *st, const uint8_t *frame, size_t len);

/* Find the MAC for next hop ip. Returns 0 with mac filled, or -EAGAIN after sending (or
 * rate-limiting) a request; the caller decides whether it has a fallback address. */
int dp_arp_resolve(struct dp_stack *st, uint32_t ip, uint8_t mac[6]);

#endif /* DP_ARP_H */
