// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * lvsadm TOA reader, kernel module flavour (RealServer side).
 *
 * The LB (lvsadm daemon, FULLNAT) puts the client's address into the client->RS segments that
 * complete or directly follow the handshake, right after the fixed TCP header:
 *
 *   IPv4: [254][8][port:2][addr:4]      IPv6: [254][20][port:2][addr:16]   (network byte order)
 *
 * Hooks (all kprobes: nothing of the kernel is patched, so inet_stream_ops may stay read-only):
 *
 *   tcp_v4_syn_recv_sock, tcp_v6_syn_recv_sock   kretprobes. The entry handler keeps the skb
 *       (the handshake-completing segment) and the own_req pointer; the return handler reads
 *       the option from that skb and files it under the new child socket, if the child is real
 *       (non-NULL and *own_req: a child that lost the race to another CPU is freed without ever
 *       reaching ->destroy, and its entry would linger).
 *   inet_getname, inet6_getname   kretprobes. On a successful peer query of a socket with an
 *       entry, the sockaddr about to be copied to user space is rewritten: IPv4 client on an IPv4
 *       socket, IPv4 client on an IPv6 socket as ::ffff:a.b.c.d, IPv6 client on an IPv6 socket.
 *   tcp_v4_destroy_sock   kprobe (IPv6 TCP sockets pass there too): the entry goes.
 *
 * Where the option is kept: a hash table keyed by the socket pointer, not sk_user_data. That
 * field belongs to whoever owns the socket (sockmap/psock, kTLS-adjacent users, tunnels, RPC):
 * taking it would break them, and they could overwrite ours. An entry lives from the child's
 * creation to ->destroy, which every established TCP socket passes before it is freed; a
 * lookup also checks that the socket's peer is still the one the entry was made for.
 *
 * Symbols: the hook targets are resolved with kallsyms_lookup_name(), which is not exported
 * since 5.7; its own address comes from a kprobe placed on it (the kprobe core resolves names).
 *
 * /proc/net/toa_stats: per-CPU counters and the live entry count.
 *
 * Limits: only the segment that creates the socket is read (an ACK that was lost is replaced by
 * the first data segment, which the LB also marks, so that case is covered; an ACK that arrives
 * without the option while a later segment has it is not: the eBPF reader handles that one).
 * Like every TOA reader it believes the option: clients that reach the server directly, not
 * through the LB, must be filtered.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/hash.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/rculist.h>
#include <linux/seq_file.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/tcp.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <net/tcp.h>
#ifdef CONFIG_X86_64
#include <asm/ibt.h>
#endif

#define TCPOPT_TOA 254
#define TCPOLEN_TOA4 8
#define TCPOLEN_TOA6 20

#define TOA_HASH_BITS 12
#define TOA_LOCK_BITS 8
#define TOA_MAX_ENTRIES (1 << 20)

/* ---- counters -------------------------------------------------------------------------------- */

enum toa_stat {
	TOA_S_SYN_RECV_TOA,       /* child socket created from a segment with an option */
	TOA_S_SYN_RECV_NO_TOA,    /* ... without one */
	TOA_S_GETNAME_V4,         /* peer query answered with the client: IPv4 socket */
	TOA_S_GETNAME_V6,         /* ... IPv6 client on an IPv6 socket */
	TOA_S_GETNAME_MAPPED,     /* ... IPv4 client on an IPv6 socket (::ffff:a.b.c.d) */
	TOA_S_GETNAME_MISMATCH,   /* IPv6 client on an IPv4 socket: left as it is */
	TOA_S_GETNAME_EMPTY,      /* peer query of a socket without an entry */
	TOA_S_ENTRY_ALLOC_FAIL,   /* no memory for an entry */
	TOA_S_ENTRY_TABLE_FULL,   /* TOA_MAX_ENTRIES reached */
	TOA_S_ENTRY_FREED,        /* entries removed at ->destroy */
	TOA_S_MAX,
};

static const char *const toa_stat_names[TOA_S_MAX] = {
	[TOA_S_SYN_RECV_TOA] = "syn_recv_sock_toa",
	[TOA_S_SYN_RECV_NO_TOA] = "syn_recv_sock_no_toa",
	[TOA_S_GETNAME_V4] = "getname_toa_ok_v4",
	[TOA_S_GETNAME_V6] = "getname_toa_ok_v6",
	[TOA_S_GETNAME_MAPPED] = "getname_toa_ok_mapped",
	[TOA_S_GETNAME_MISMATCH] = "getname_toa_mismatch",
	[TOA_S_GETNAME_EMPTY] = "getname_toa_empty",
	[TOA_S_ENTRY_ALLOC_FAIL] = "entry_alloc_fail",
	[TOA_S_ENTRY_TABLE_FULL] = "entry_table_full",
	[TOA_S_ENTRY_FREED] = "entry_freed",
};

struct toa_stats {
	u64 v[TOA_S_MAX];
};

static DEFINE_PER_CPU(struct toa_stats, toa_stats);

static inline void toa_count(enum toa_stat s)
{
	this_cpu_inc(toa_stats.v[s]);
}

/* ---- the table ------------------------------------------------------------------------------- */

struct toa_entry {
	struct hlist_node node;
	struct rcu_head rcu;
	const struct sock *sk;
	/* the LB side of the connection when the entry was made: a reused pointer will not match */
	__be32 lb_addr4;
	struct in6_addr lb_addr6;
	__be16 lb_port;
	/* the client */
	u8 family; /* AF_INET or AF_INET6 */
	__be16 port;
	union {
		__be32 v4;
		struct in6_addr v6;
	} addr;
};

static struct hlist_head toa_table[1 << TOA_HASH_BITS];
static spinlock_t toa_locks[1 << TOA_LOCK_BITS];
static atomic_t toa_entries = ATOMIC_INIT(0);

static inline u32 toa_bucket(const struct sock *sk)
{
	return hash_ptr(sk, TOA_HASH_BITS);
}

static inline spinlock_t *toa_lock(u32 bucket)
{
	return &toa_locks[bucket & ((1 << TOA_LOCK_BITS) - 1)];
}

/* Caller holds rcu_read_lock() or the bucket lock. */
static struct toa_entry *toa_find(const struct sock *sk, u32 bucket)
{
	struct toa_entry *e;

	hlist_for_each_entry_rcu(e, &toa_table[bucket], node, true)
		if (e->sk == sk)
			return e;
	return NULL;
}

/* The peer of sk is the LB side recorded in e (IPv4-mapped peers compare as IPv4). */
static bool toa_same_peer(const struct sock *sk, const struct toa_entry *e)
{
	if (sk->sk_dport != e->lb_port)
		return false;
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6 && !ipv6_addr_v4mapped(&sk->sk_v6_daddr))
		return ipv6_addr_equal(&sk->sk_v6_daddr, &e->lb_addr6);
#endif
	return sk->sk_daddr == e->lb_addr4;
}

/* Parses the TCP options of skb; true with *e's client fields filled when a TOA is there. */
static bool toa_parse(const struct sk_buff *skb, struct toa_entry *e)
{
	const struct tcphdr *th = tcp_hdr(skb);
	const u8 *p = (const u8 *)(th + 1);
	int left = th->doff * 4 - (int)sizeof(*th);

	while (left > 0) {
		u8 kind = p[0], len;

		if (kind == TCPOPT_EOL)
			return false;
		if (kind == TCPOPT_NOP) {
			p++;
			left--;
			continue;
		}
		if (left < 2)
			return false;
		len = p[1];
		if (len < 2 || len > left)
			return false;
		if (kind == TCPOPT_TOA && len == TCPOLEN_TOA4) {
			e->family = AF_INET;
			memcpy(&e->port, p + 2, 2);
			memcpy(&e->addr.v4, p + 4, 4);
			return e->addr.v4 != 0;
		}
		if (kind == TCPOPT_TOA && len == TCPOLEN_TOA6) {
			e->family = AF_INET6;
			memcpy(&e->port, p + 2, 2);
			memcpy(&e->addr.v6, p + 4, 16);
			return !ipv6_addr_any(&e->addr.v6);
		}
		p += len;
		left -= len;
	}
	return false;
}

/* Files the option of skb under the new socket child (softirq context). */
static void toa_store(struct sock *child, const struct sk_buff *skb)
{
	struct toa_entry tmp, *e;
	unsigned long flags;
	u32 bucket;

	if (!toa_parse(skb, &tmp)) {
		toa_count(TOA_S_SYN_RECV_NO_TOA);
		return;
	}
	if (atomic_read(&toa_entries) >= TOA_MAX_ENTRIES) {
		toa_count(TOA_S_ENTRY_TABLE_FULL);
		return;
	}
	e = kmalloc(sizeof(*e), GFP_ATOMIC);
	if (!e) {
		toa_count(TOA_S_ENTRY_ALLOC_FAIL);
		return;
	}
	*e = tmp;
	e->sk = child;
	e->lb_port = child->sk_dport;
	e->lb_addr4 = child->sk_daddr;
#if IS_ENABLED(CONFIG_IPV6)
	e->lb_addr6 = child->sk_v6_daddr;
#else
	memset(&e->lb_addr6, 0, sizeof(e->lb_addr6));
#endif
	bucket = toa_bucket(child);
	spin_lock_irqsave(toa_lock(bucket), flags);
	/* an IPv4 child of an IPv6 listener passes tcp_v6_ and tcp_v4_syn_recv_sock: keep one */
	if (toa_find(child, bucket)) {
		spin_unlock_irqrestore(toa_lock(bucket), flags);
		kfree(e);
		return;
	}
	hlist_add_head_rcu(&e->node, &toa_table[bucket]);
	atomic_inc(&toa_entries);
	spin_unlock_irqrestore(toa_lock(bucket), flags);
	toa_count(TOA_S_SYN_RECV_TOA);
}

static void toa_forget(const struct sock *sk)
{
	u32 bucket = toa_bucket(sk);
	struct toa_entry *e;
	unsigned long flags;

	/* cheap unlocked look first: most sockets have no entry */
	rcu_read_lock();
	e = toa_find(sk, bucket);
	rcu_read_unlock();
	if (!e)
		return;
	spin_lock_irqsave(toa_lock(bucket), flags);
	e = toa_find(sk, bucket);
	if (e) {
		hlist_del_rcu(&e->node);
		atomic_dec(&toa_entries);
	}
	spin_unlock_irqrestore(toa_lock(bucket), flags);
	if (e) {
		kfree_rcu(e, rcu);
		toa_count(TOA_S_ENTRY_FREED);
	}
}

/* ---- hooks ----------------------------------------------------------------------------------- */

struct syn_recv_args {
	struct sk_buff *skb;
	bool *own_req;
};

/* struct sock *tcp_v{4,6}_syn_recv_sock(const struct sock *sk, struct sk_buff *skb,
 *	struct request_sock *req, struct dst_entry *dst, struct request_sock *req_unhash,
 *	bool *own_req) */
static int syn_recv_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct syn_recv_args *a = (struct syn_recv_args *)ri->data;

	a->skb = (struct sk_buff *)regs_get_kernel_argument(regs, 1);
	a->own_req = (bool *)regs_get_kernel_argument(regs, 5);
	return 0;
}

static int syn_recv_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct syn_recv_args *a = (struct syn_recv_args *)ri->data;
	struct sock *child = (struct sock *)regs_return_value(regs);

	if (child && a->skb && a->own_req && *a->own_req)
		toa_store(child, a->skb);
	return 0;
}

struct getname_args {
	struct socket *sock;
	struct sockaddr *uaddr;
	int peer;
};

/* int inet{,6}_getname(struct socket *sock, struct sockaddr *uaddr, int peer) */
static int getname_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct getname_args *a = (struct getname_args *)ri->data;

	a->sock = (struct socket *)regs_get_kernel_argument(regs, 0);
	a->uaddr = (struct sockaddr *)regs_get_kernel_argument(regs, 1);
	a->peer = (int)regs_get_kernel_argument(regs, 2);
	return 0;
}

static int getname_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct getname_args *a = (struct getname_args *)ri->data;
	long ret = (long)regs_return_value(regs);
	struct sock *sk = a->sock ? a->sock->sk : NULL;
	struct toa_entry *e;

	if (!a->peer || ret <= 0 || !sk || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	rcu_read_lock();
	e = toa_find(sk, toa_bucket(sk));
	if (!e || !toa_same_peer(sk, e)) {
		toa_count(TOA_S_GETNAME_EMPTY);
		goto out;
	}
	if (a->uaddr->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)a->uaddr;

		if (e->family != AF_INET) {
			toa_count(TOA_S_GETNAME_MISMATCH);
			goto out;
		}
		sin->sin_port = e->port;
		sin->sin_addr.s_addr = e->addr.v4;
		toa_count(TOA_S_GETNAME_V4);
	} else if (a->uaddr->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)a->uaddr;

		sin6->sin6_port = e->port;
		if (e->family == AF_INET) {
			ipv6_addr_set_v4mapped(e->addr.v4, &sin6->sin6_addr);
			toa_count(TOA_S_GETNAME_MAPPED);
		} else {
			sin6->sin6_addr = e->addr.v6;
			toa_count(TOA_S_GETNAME_V6);
		}
	}
out:
	rcu_read_unlock();
	return 0;
}

/* void tcp_v4_destroy_sock(struct sock *sk) */
static int destroy_pre(struct kprobe *p, struct pt_regs *regs)
{
	toa_forget((const struct sock *)regs_get_kernel_argument(regs, 0));
	return 0;
}

static struct kretprobe toa_rps[] = {
	{
		.kp.symbol_name = "tcp_v4_syn_recv_sock",
		.entry_handler = syn_recv_entry,
		.handler = syn_recv_return,
		.data_size = sizeof(struct syn_recv_args),
		.maxactive = 64,
	},
	{
		.kp.symbol_name = "tcp_v6_syn_recv_sock",
		.entry_handler = syn_recv_entry,
		.handler = syn_recv_return,
		.data_size = sizeof(struct syn_recv_args),
		.maxactive = 64,
	},
	{
		/* getpeername may sleep in lock_sock(): room for many callers at once */
		.kp.symbol_name = "inet_getname",
		.entry_handler = getname_entry,
		.handler = getname_return,
		.data_size = sizeof(struct getname_args),
		.maxactive = 256,
	},
	{
		.kp.symbol_name = "inet6_getname",
		.entry_handler = getname_entry,
		.handler = getname_return,
		.data_size = sizeof(struct getname_args),
		.maxactive = 256,
	},
};

static struct kprobe toa_destroy_kp = {
	.symbol_name = "tcp_v4_destroy_sock",
	.pre_handler = destroy_pre,
};

/* the IPv6 hooks are optional: a kernel without IPv6 (or with it as a module not loaded) */
static const bool toa_rp_v6[ARRAY_SIZE(toa_rps)] = { false, true, false, true };
/* which of toa_rps[] are registered */
static bool toa_rp_on[ARRAY_SIZE(toa_rps)];

/* ---- symbol lookup --------------------------------------------------------------------------- */

typedef unsigned long (*kallsyms_lookup_name_t)(const char *name);
static kallsyms_lookup_name_t toa_lookup_name;

/* kallsyms_lookup_name is not exported since 5.7: a kprobe on it tells where it is. */
static int toa_find_lookup_name(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	unsigned long addr;
	int err;

	err = register_kprobe(&kp);
	if (err)
		return err;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
#ifdef CONFIG_X86_64
	/* with IBT the probe sits after the function's ENDBR: call the function's start */
	if (is_endbr(*(u32 *)(addr - 4)))
		addr -= 4;
#endif
	toa_lookup_name = (kallsyms_lookup_name_t)addr;
	return 0;
}

/* Points a probe at its target by address; -ENOENT when the kernel has no such function. */
static int toa_resolve(struct kprobe *kp)
{
	unsigned long addr = toa_lookup_name(kp->symbol_name);

	if (!addr)
		return -ENOENT;
	kp->addr = (kprobe_opcode_t *)addr;
	kp->symbol_name = NULL;
	return 0;
}

/* ---- /proc/net/toa_stats --------------------------------------------------------------------- */

static int toa_stats_show(struct seq_file *seq, void *v)
{
	int cpu, i;

	seq_puts(seq, "counter                       total");
	for_each_possible_cpu(cpu)
		seq_printf(seq, " cpu%d", cpu);
	seq_putc(seq, '\n');
	for (i = 0; i < TOA_S_MAX; i++) {
		u64 sum = 0;

		for_each_possible_cpu(cpu)
			sum += per_cpu(toa_stats, cpu).v[i];
		seq_printf(seq, "%-24s %12llu", toa_stat_names[i], sum);
		for_each_possible_cpu(cpu)
			seq_printf(seq, " %llu", per_cpu(toa_stats, cpu).v[i]);
		seq_putc(seq, '\n');
	}
	seq_printf(seq, "%-24s %12d\n", "entries", atomic_read(&toa_entries));
	seq_printf(seq, "%-24s %12d\n", "probe_missed",
		   toa_rps[0].nmissed + toa_rps[1].nmissed + toa_rps[2].nmissed +
		   toa_rps[3].nmissed);
	return 0;
}

static int __net_init toa_net_init(struct net *net)
{
	if (!proc_create_net_single("toa_stats", 0444, net->proc_net, toa_stats_show, NULL))
		return -ENOMEM;
	return 0;
}

static void __net_exit toa_net_exit(struct net *net)
{
	remove_proc_entry("toa_stats", net->proc_net);
}

static struct pernet_operations toa_net_ops = {
	.init = toa_net_init,
	.exit = toa_net_exit,
};

/* ---- module ---------------------------------------------------------------------------------- */

static void toa_unregister_probes(void)
{
	int i;

	unregister_kprobe(&toa_destroy_kp);
	for (i = ARRAY_SIZE(toa_rps) - 1; i >= 0; i--) {
		if (toa_rp_on[i])
			unregister_kretprobe(&toa_rps[i]);
		toa_rp_on[i] = false;
	}
}

static void toa_free_all(void)
{
	struct toa_entry *e;
	struct hlist_node *tmp;
	int b;

	for (b = 0; b < (1 << TOA_HASH_BITS); b++) {
		hlist_for_each_entry_safe(e, tmp, &toa_table[b], node) {
			hlist_del(&e->node);
			kfree(e);
		}
	}
	atomic_set(&toa_entries, 0);
}

static int __init toa_init(void)
{
	int err, i;

	for (i = 0; i < (1 << TOA_HASH_BITS); i++)
		INIT_HLIST_HEAD(&toa_table[i]);
	for (i = 0; i < (1 << TOA_LOCK_BITS); i++)
		spin_lock_init(&toa_locks[i]);

	err = toa_find_lookup_name();
	if (err) {
		pr_err("cannot find kallsyms_lookup_name (kprobes: %d)\n", err);
		return err;
	}
	for (i = 0; i < ARRAY_SIZE(toa_rps); i++) {
		const char *name = toa_rps[i].kp.symbol_name;

		err = toa_resolve(&toa_rps[i].kp);
		if (err && toa_rp_v6[i]) {
			pr_info("%s not in this kernel: IPv6 sockets are not served\n", name);
			continue;
		}
		if (err) {
			pr_err("%s not found\n", name);
			goto fail;
		}
		err = register_kretprobe(&toa_rps[i]);
		if (err) {
			pr_err("kretprobe on %s: %d\n", name, err);
			goto fail;
		}
		toa_rp_on[i] = true;
	}
	err = toa_resolve(&toa_destroy_kp);
	if (err) {
		pr_err("tcp_v4_destroy_sock not found\n");
		goto fail;
	}
	err = register_kprobe(&toa_destroy_kp);
	if (err) {
		pr_err("kprobe on tcp_v4_destroy_sock: %d\n", err);
		toa_destroy_kp.addr = NULL;
		goto fail;
	}
	err = register_pernet_subsys(&toa_net_ops);
	if (err)
		goto fail_probes;
	pr_info("loaded: TOA (kind %d) client addresses are reported by getpeername()\n",
		TCPOPT_TOA);
	return 0;

fail_probes:
	toa_unregister_probes();
	synchronize_rcu();
	toa_free_all();
	return err;
fail:
	for (i = ARRAY_SIZE(toa_rps) - 1; i >= 0; i--) {
		if (toa_rp_on[i])
			unregister_kretprobe(&toa_rps[i]);
		toa_rp_on[i] = false;
	}
	synchronize_rcu();
	toa_free_all();
	return err;
}

static void __exit toa_exit(void)
{
	unregister_pernet_subsys(&toa_net_ops);
	toa_unregister_probes();
	/* no handler runs any more; readers that were inside one are gone after a grace period */
	synchronize_rcu();
	toa_free_all();
	rcu_barrier(); /* entries freed by kfree_rcu() earlier */
	pr_info("unloaded\n");
}

module_init(toa_init);
module_exit(toa_exit);

MODULE_LICENSE("Dual MIT/GPL");
MODULE_AUTHOR("lvsadm");
MODULE_DESCRIPTION("TOA reader: getpeername() reports the client address carried in TCP option 254");
