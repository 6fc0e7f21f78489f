/*
 * dp_net_stats.h: the stack's counters, one struct per stack instance.
 *
 * Every dropped or rejected frame increments exactly one counter named after the reason;
 * the other counters record events (frames in/out, retransmissions). The list below is the
 * single source for the field names, their printable names and their meaning
 * (docs/dataplane.md §4 lists the same names and texts: keep the two equal).
 *
 * Written only by the thread that owns the stack instance. Readers on other threads must
 * copy a snapshot (the DPDK glue publishes it into the shared stats block).
 */
#ifndef DP_NET_STATS_H
#define DP_NET_STATS_H

#include <stddef.h>
#include <stdint.h>

/* X(name, meaning). Names prefixed drop_ are drops; the rest are events. */
#define DP_NET_STATS(X) \
	X(rx_frames,              "frames given to dp_stack_input") \
	X(tx_frames,              "frames accepted by tx_burst") \
	X(tx_dropped,             "frames tx_burst did not take (freed)") \
	X(tx_pool_empty,          "frames not built: pkt_alloc returned NULL") \
	X(drop_eth_runt,          "frame shorter than an Ethernet header") \
	X(drop_eth_not_for_us,    "destination MAC neither ours nor broadcast") \
	X(drop_eth_bcast_not_arp, "broadcast frame that is not ARP") \
	X(drop_eth_type,          "EtherType other than IPv4/ARP (incl. VLAN tags)") \
	X(drop_eth_bad_src,       "source MAC multicast/broadcast (would turn replies into floods)") \
	X(drop_arp_malformed,     "ARP not Ethernet/IPv4 or too short, or bad sender") \
	X(drop_arp_not_for_us,    "ARP request/reply whose target IP is not ours") \
	X(drop_arp_op,            "ARP operation other than request/reply") \
	X(arp_request_rx,         "ARP requests for our IP answered") \
	X(arp_reply_rx,           "ARP replies for us learned") \
	X(arp_learned,            "ARP entries created") \
	X(arp_table_full,         "ARP entry not learned: table full of live entries") \
	X(arp_request_tx,         "ARP requests sent to resolve a next hop") \
	X(arp_unresolved,         "output to a next hop with no ARP entry (request sent)") \
	X(drop_ip_runt,           "IPv4 shorter than 20 bytes or than its total length") \
	X(drop_ip_version,        "IP version not 4") \
	X(drop_ip_options,        "IPv4 header with options (IHL != 5)") \
	X(drop_ip_len,            "IPv4 total length < header length") \
	X(drop_ip_cksum,          "IPv4 header checksum wrong") \
	X(drop_ip_fragment,       "IPv4 fragment (MF set or offset != 0)") \
	X(drop_ip_not_for_us,     "IPv4 destination is not our address") \
	X(drop_ip_bad_src,        "IPv4 source zero, broadcast, multicast, loopback or ours") \
	X(drop_ip_proto,          "IPv4 protocol other than ICMP/TCP") \
	X(drop_icmp_runt,         "ICMP shorter than 8 bytes") \
	X(drop_icmp_cksum,        "ICMP checksum wrong") \
	X(drop_icmp_type,         "ICMP other than echo request (ignored)") \
	X(drop_icmp_too_big,      "echo request larger than our MTU allows to echo") \
	X(icmp_echo_reply_tx,     "echo replies sent") \
	X(drop_tcp_runt,          "TCP shorter than 20 bytes or than its data offset") \
	X(drop_tcp_cksum,         "TCP checksum wrong") \
	X(drop_tcp_flags,         "impossible flags (SYN+FIN, SYN+RST, none) or source port 0") \
	X(drop_tcp_port_closed,   "segment to a port we do not listen on") \
	X(drop_tcp_no_conn,       "non-SYN, non-ACK or RST segment with no connection") \
	X(drop_tcp_syn_bad,       "SYN-ACK with no connection (we never open connections)") \
	X(drop_tcp_cookie_bad,    "ACK with no connection whose SYN cookie is invalid/stale") \
	X(drop_tcp_table_full,    "valid cookie but connection table full (RST sent)") \
	X(drop_tcp_src_limit,     "valid cookie but source IP at its limit (RST sent)") \
	X(drop_tcp_app_refused,   "on_accept refused the connection (RST sent)") \
	X(drop_tcp_out_of_window, "segment outside the receive window (ACK sent)") \
	X(drop_tcp_paws,          "timestamp older than ts_recent (RFC 7323 PAWS)") \
	X(drop_tcp_rst_out_window,"RST outside the window (RFC 5961 §3.2)") \
	X(drop_tcp_rst_challenged,"RST in window but not exact: challenge ACK (RFC 5961)") \
	X(drop_tcp_syn_challenged,"SYN on a synchronized connection: challenge ACK") \
	X(drop_tcp_no_ack,        "segment without ACK on a synchronized connection") \
	X(drop_tcp_ack_future,    "ACK for data we never sent (ACK sent back)") \
	X(drop_tcp_ack_old,       "ACK below SND.UNA - MAX.SND.WND (RFC 5961 §5)") \
	X(drop_tcp_ooo_full,      "out-of-order segment: no free reassembly range") \
	X(drop_tcp_dup_data,      "segment wholly below RCV.NXT (ACK sent)") \
	X(drop_tcp_after_close,   "data after our close: connection reset") \
	X(drop_tcp_time_wait,     "segment in TIME_WAIT other than a FIN retransmission") \
	X(drop_tcp_after_fin,     "data or FIN beyond the peer's FIN (CLOSE_WAIT, CLOSING, LAST_ACK)") \
	X(tcp_syn_rx,             "SYNs answered with a cookie SYN-ACK") \
	X(tcp_accepted,           "connections created from a valid cookie") \
	X(tcp_trimmed,            "segments trimmed to the window (left or right)") \
	X(tcp_ooo_queued,         "out-of-order segments stored") \
	X(tcp_challenge_ack_tx,   "challenge ACKs sent") \
	X(tcp_challenge_ack_limited, "challenge ACKs suppressed by the per-connection limit") \
	X(tcp_rst_rx,             "connections reset by a valid RST") \
	X(tcp_rst_tx,             "RSTs sent") \
	X(tcp_rst_no_conn_tx,     "RSTs for a closed port or no connection (RFC 9293 3.10.7.1-2)") \
	X(tcp_rst_limited,        "such RSTs not sent: over rst_per_sec") \
	X(tcp_rto,                "retransmission timeouts") \
	X(tcp_fast_retrans,       "fast retransmits (three duplicate ACKs)") \
	X(tcp_retrans_segs,       "segments retransmitted") \
	X(tcp_persist_probe,      "zero-window probes sent") \
	X(tcp_retrans_limit,      "connections aborted after max_retries") \
	X(tcp_idle_timeout,       "connections closed by idle timeout") \
	X(tcp_time_wait_done,     "TIME_WAIT expirations") \
	X(tcp_fin_wait2_timeout,  "FIN_WAIT_2 connections reset after the timeout") \
	X(tcp_send_full,          "dp_tcp_send calls cut short by a full send buffer")

struct dp_net_stats {
#define DP_NET_STATS_FIELD(name, text) uint64_t name;
	DP_NET_STATS(DP_NET_STATS_FIELD)
#undef DP_NET_STATS_FIELD
};

/* Number of counters; index i in [0, dp_net_stats_count()) addresses them in list order. */
size_t dp_net_stats_count(void);
/* Printable name / meaning of counter i; NULL when i is out of range. */
const char *dp_net_stats_name(size_t i);
const char *dp_net_stats_text(size_t i);
/* Value of counter i (0 when out of range). */
uint64_t dp_net_stats_get(const struct dp_net_stats *s, size_t i);
/* Value by printable name; returns 0 and sets *found=0 when unknown (found may be NULL). */
uint64_t dp_net_stats_by_name(const struct dp_net_stats *s, const char *name, int *found);
/* Write "name value\n" for every non-zero counter (all when all != 0) into buf (always NUL
 * terminated when cap > 0). Returns the length the full text needs, like snprintf. */
size_t dp_net_stats_format(const struct dp_net_stats *s, int all, char *buf, size_t cap);

#endif /* DP_NET_STATS_H */
