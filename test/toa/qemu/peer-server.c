// SPDX-License-Identifier: MIT
/*
 * Peer-reporting server for the TOA module test under qemu (built with gcc -static, runs as a
 * program of the guest's busybox initramfs). busybox nc never calls getpeername(), this does.
 *
 *   peer-server PORT4 PORT6 COUNT
 *
 * Listens on 0.0.0.0:PORT4 (an IPv4 socket) and [::]:PORT6 (an IPv6 socket that also takes IPv4
 * clients, which it sees as ::ffff:a.b.c.d). For each of COUNT connections: reads the request,
 * calls getpeername() and answers with an HTTP/1.0 response whose body is one line
 *
 *   peer ADDR PORT sock=4|6 accept=same|ADDR PORT
 *
 * (accept=same: the address accept() returned agrees with getpeername()'s)
 * and prints the same line, prefixed with "TOAQ ", on stdout (the guest console). Prints
 * "TOAQ listening PORT4 PORT6" once both sockets listen, and exits after COUNT connections.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_on(int family, int port)
{
	int one = 1, zero = 0;
	int fd = socket(family, SOCK_STREAM, 0);

	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("bind4");
			exit(1);
		}
	} else {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("bind6");
			exit(1);
		}
	}
	if (listen(fd, 16) < 0) {
		perror("listen");
		exit(1);
	}
	return fd;
}

/* Reads until the end of the request head (or EOF / 4 KiB). */
static void read_request(int fd)
{
	char buf[4096];
	size_t have = 0;

	while (have < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);

		if (n <= 0)
			return;
		have += (size_t)n;
		buf[have] = 0;
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return;
	}
}

/* "ADDR PORT" of a sockaddr from accept() or getpeername() */
static void format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s->sin_addr, addr, sizeof(addr));
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, addr, sizeof(addr));
		port = ntohs(s->sin6_port);
	}
	snprintf(out, len, "%s %u", addr, port);
}

static void serve(int lfd, int sock_family)
{
	struct sockaddr_storage acc, peer;
	socklen_t alen = sizeof(acc), plen = sizeof(peer);
	char from_accept[80], from_peer[80] = "? 0", line[200], resp[360];
	int fd = accept(lfd, (struct sockaddr *)&acc, &alen);

	if (fd < 0) {
		perror("accept");
		return;
	}
	read_request(fd);
	format_addr(&acc, from_accept, sizeof(from_accept));
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
		format_addr(&peer, from_peer, sizeof(from_peer));
	else
		perror("getpeername");
	/* what accept() said must agree (servers such as nginx only look there) */
	snprintf(line, sizeof(line), "peer %s sock=%d accept=%s\n", from_peer,
		 sock_family == AF_INET ? 4 : 6,
		 strcmp(from_accept, from_peer) == 0 ? "same" : from_accept);
	snprintf(resp, sizeof(resp),
		 "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n%s",
		 strlen(line), line);
	if (write(fd, resp, strlen(resp)) < 0)
		perror("write");
	close(fd);
	printf("TOAQ %s", line);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct pollfd p[2];
	int count, done = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: peer-server PORT4 PORT6 COUNT\n");
		return 2;
	}
	count = atoi(argv[3]);
	p[0].fd = listen_on(AF_INET, atoi(argv[1]));
	p[1].fd = listen_on(AF_INET6, atoi(argv[2]));
	p[0].events = p[1].events = POLLIN;
	printf("TOAQ listening %s %s\n", argv[1], argv[2]);
	fflush(stdout);
	while (done < count) {
		if (poll(p, 2, -1) < 0) {
			perror("poll");
			return 1;
		}
		for (int i = 0; i < 2 && done < count; i++) {
			if (p[i].revents & POLLIN) {
				serve(p[i].fd, i == 0 ? AF_INET : AF_INET6);
				done++;
			}
		}
	}
	close(p[0].fd);
	close(p[1].fd);
	return 0;
}
