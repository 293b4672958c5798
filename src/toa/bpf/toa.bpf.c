// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * lvsadm TOA reader, eBPF flavour (RealServer side).
 *
 * The LB (lvsadm daemon, FULLNAT) puts the client's address into the client->RS segments that
 * complete or directly follow the handshake, right after the fixed TCP header:
 *
 *   IPv4: [254][8][port:2][addr:4]      IPv6: [254][20][port:2][addr:16]   (network byte order)
 *
 * toa_sockops   sock_ops, BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB: skb_data is the segment that
 *               completed the handshake; the option is parsed here and kept in socket storage.
 *               No option there (the ACK that had one was lost and a later one came without):
 *               the header-option parse callback is switched on for this socket
 *               (BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG: kind 254 is unknown to the kernel,
 *               so the program runs only for segments that carry such options, not for all),
 *               the first data segment (seq == initial receive seq + 1) is parsed in
 *               BPF_SOCK_OPS_PARSE_HDR_OPT_CB, and the callback is switched off again. An option
 *               on any later segment is not the LB's and is ignored.
 * toa_peer4/6   cgroup getpeername4/6: the peer address of a socket with a stored option becomes
 *               the client's (IPv4 client on an IPv6 socket: ::ffff:a.b.c.d).
 *
 * bpf_load_hdr_opt() only finds kind 254 with a 2-byte magic, so the options are walked here
 * (find_toa: a copy of the at most 40 option bytes, then a walk over it, both unrolled).
 *
 * Trust: like every TOA reader, this believes the option on the segments above. Attach it only to
 * the cgroup of services that clients reach through the LB (or filter direct client traffic).
 *
 * Built by scripts/build-toa-bpf.sh (clang -target bpf -O2 -g, BTF kept, DWARF stripped) into
 * src/toa/bpf/toa-object.ts; loaded and attached by `lvsadm toa load --ebpf` through bpftool.
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define AF_INET 2
#define AF_INET6 10

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_TOA 254
#define TCPOLEN_TOA4 8
#define TCPOLEN_TOA6 20
#define TCP_FIXED_HDR 20
#define TCP_OPT_SPACE 40
/* the walk's stack copy: any masked offset plus the longest option stays inside */
#define OPT_MASK 63
#define OPT_BUF (OPT_MASK + 1 + TCPOLEN_TOA6 + 4)

/* Counter slots (lvsadm toa status reads them by these indexes, src/toa/ebpf.ts). */
enum toa_counter {
	TOA_C_SEEN = 0,     /* passive connections established under the reader */
	TOA_C_STORED,       /* of those, with an option kept in socket storage */
	TOA_C_NO_OPTION,    /* handshake-completing segment without an option */
	TOA_C_REWRITTEN4,   /* getpeername answered from storage on an IPv4 socket */
	TOA_C_REWRITTEN6,   /* ... on an IPv6 socket */
	TOA_C_STORED_LATE,  /* of stored: found on the first data segment, not the ACK */
	TOA_C_MAX,
};

/* What a socket keeps: the client of the connection as the LB saw it. */
struct toa_peer {
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 pad;
	__be16 port;
	__be32 addr[4]; /* IPv4 in addr[0] */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct toa_peer);
} toa_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TOA_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} toa_counters SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&toa_counters, &slot);

	if (c)
		*c += 1; /* per-CPU slot: no atomic needed */
}

/*
 * Finds a TOA option in the TCP header [th, end) and copies it into *out; 1 when found.
 *
 * The option bytes are first copied to the stack in 4-byte words (the header length is a
 * multiple of 4), the rest of the buffer staying zero (= EOL). The walk then reads the stack with
 * a masked scalar offset: walking packet pointers of variable length makes the verifier keep
 * a state per path and exceeds its budget. Every option is at least one byte long, so 40 rounds
 * cover the whole option space; `off + len <= n` keeps truncated options out.
 * Both loops are unrolled: verifiers before 6.4 reject a loop whose back edge clang lays out as
 * a fall-through ("back-edge from insn"), as Debian 12's 6.1 does for the walk.
 */
static __always_inline int find_toa(__u8 *th, __u8 *end, struct toa_peer *out)
{
	__u8 buf[OPT_BUF] = {};
	__u8 *opt = th + TCP_FIXED_HDR;
	__u32 n = 0, off = 0;
	int i;

#pragma unroll
	for (i = 0; i < TCP_OPT_SPACE / 4; i++) {
		if (opt + 4 * (i + 1) > end)
			break;
		*(__u32 *)&buf[4 * i] = *(__u32 *)(opt + 4 * i);
		n = 4 * (i + 1);
	}

#pragma unroll
	for (i = 0; i < TCP_OPT_SPACE; i++) {
		__u8 kind = buf[off], len = 1;

		if (kind == TCPOPT_EOL)
			return 0;
		if (kind != TCPOPT_NOP) {
			len = buf[off + 1];
			if (len < 2 || off + len > n)
				return 0;
			if (kind == TCPOPT_TOA && len == TCPOLEN_TOA4) {
				out->family = AF_INET;
				__builtin_memcpy(&out->port, &buf[off + 2], 2);
				__builtin_memcpy(&out->addr[0], &buf[off + 4], 4);
				out->addr[1] = 0;
				out->addr[2] = 0;
				out->addr[3] = 0;
				return 1;
			}
			if (kind == TCPOPT_TOA && len == TCPOLEN_TOA6) {
				out->family = AF_INET6;
				__builtin_memcpy(&out->port, &buf[off + 2], 2);
				__builtin_memcpy(out->addr, &buf[off + 4], 16);
				return 1;
			}
		}
		/*
		 * off + len <= n <= 40 held above; the mask restates it for the verifier, and doing it
		 * here gives every round the same offset range, so the verifier's states prune.
		 */
		off += len;
		barrier_var(off);
		off &= OPT_MASK;
	}
	return 0;
}

/* Keeps *peer with the socket; 1 if stored. */
static __always_inline int store_peer(struct bpf_sock_ops *skops, struct toa_peer *peer)
{
	struct bpf_sock *sk = skops->sk;
	struct toa_peer *v;

	if (!sk)
		return 0;
	v = bpf_sk_storage_get(&toa_peers, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!v)
		return 0;
	*v = *peer;
	return 1;
}

static __always_inline void parse_cb(struct bpf_sock_ops *skops, int on)
{
	__u32 flags = skops->bpf_sock_ops_cb_flags;

	if (on)
		flags |= BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG;
	else
		flags &= ~BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG;
	bpf_sock_ops_cb_flags_set(skops, flags);
}

SEC("sockops")
int toa_sockops(struct bpf_sock_ops *skops)
{
	struct toa_peer peer = {};
	__u8 *th, *end;

	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		count(TOA_C_SEEN);
		th = (__u8 *)(long)skops->skb_data;
		end = (__u8 *)(long)skops->skb_data_end;
		if (th + TCP_FIXED_HDR <= end && find_toa(th, end, &peer) && store_peer(skops, &peer)) {
			count(TOA_C_STORED);
			break;
		}
		count(TOA_C_NO_OPTION);
		/*
		 * Kind 254 is unknown to the kernel's own parser, so the "unknown option" callback is
		 * enough: it only runs for segments that carry one.
		 */
		parse_cb(skops, 1);
		break;

	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB: {
		/* the receive sequence of the first data byte: rcv_nxt minus what arrived so far */
		__u32 first = skops->rcv_nxt - (__u32)skops->bytes_received;

		th = (__u8 *)(long)skops->skb_data;
		end = (__u8 *)(long)skops->skb_data_end;
		if (th + TCP_FIXED_HDR > end)
			break;
		if (bpf_ntohl(*(__be32 *)(th + 4)) != first) {
			/* past the first data segment: an option now is not the LB's */
			parse_cb(skops, 0);
			break;
		}
		if (find_toa(th, end, &peer) && store_peer(skops, &peer)) {
			count(TOA_C_STORED);
			count(TOA_C_STORED_LATE);
			parse_cb(skops, 0);
		}
		break;
	}
	}
	return 1;
}

SEC("cgroup/getpeername4")
int toa_peer4(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct toa_peer *v;

	if (!sk)
		return 1;
	v = bpf_sk_storage_get(&toa_peers, sk, 0, 0);
	if (!v || v->family != AF_INET)
		return 1; /* an IPv6 client cannot be shown on an IPv4 socket */
	ctx->user_ip4 = v->addr[0];
	ctx->user_port = v->port;
	count(TOA_C_REWRITTEN4);
	return 1;
}

SEC("cgroup/getpeername6")
int toa_peer6(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct toa_peer *v;

	if (!sk)
		return 1;
	v = bpf_sk_storage_get(&toa_peers, sk, 0, 0);
	if (!v)
		return 1;
	if (v->family == AF_INET) {
		/* IPv4 client on an IPv6 socket: ::ffff:a.b.c.d */
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
		ctx->user_ip6[3] = v->addr[0];
	} else {
		ctx->user_ip6[0] = v->addr[0];
		ctx->user_ip6[1] = v->addr[1];
		ctx->user_ip6[2] = v->addr[2];
		ctx->user_ip6[3] = v->addr[3];
	}
	ctx->user_port = v->port;
	count(TOA_C_REWRITTEN6);
	return 1;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
