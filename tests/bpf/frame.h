/* frame.h - builds Ethernet/IPv4/IPv6 TCP/UDP frames for the packet tests, with checksums
 * computed from scratch (not incrementally) so they check the programs' own updates. */
#ifndef ILB_TEST_FRAME_H
#define ILB_TEST_FRAME_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

struct frame_spec {
	int family; /* 4 or 6 */
	int proto; /* IPPROTO_TCP / IPPROTO_UDP / other */
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t tcp_flags;
	uint8_t src_mac[6], dst_mac[6];
	bool vlan; /* one 802.1Q tag, id 100 */
	int ip_option_words; /* IPv4 options: 32-bit NOP words */
	int ihl_override; /* write this IHL instead of the real one */
	bool fragment; /* IPv4 MF set / IPv6 fragment header */
	bool ipv6_ext; /* IPv6 hop-by-hop header before L4 */
	int payload; /* bytes of payload */
	bool udp_no_csum;
};

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The L4 checksum of a segment over its pseudo header, from scratch. */
static uint16_t l4_checksum(int family, const uint8_t *src, const uint8_t *dst, int proto, const uint8_t *l4,
			    size_t len)
{
	uint32_t sum = 0;
	int alen = family == 4 ? 4 : 16;

	sum = sum16(src, alen, sum);
	sum = sum16(dst, alen, sum);
	sum += proto;
	sum += (uint32_t)len;
	return fold(sum16(l4, len, sum));
}

/* Writes the frame into buf; returns its length. */
static size_t frame_build(uint8_t *buf, size_t cap, const struct frame_spec *s)
{
	size_t off = 0, l3, l4, l4len, hdr;
	uint8_t src[16] = { 0 }, dst[16] = { 0 };

	memset(buf, 0, cap);
	memcpy(buf, s->dst_mac, 6);
	memcpy(buf + 6, s->src_mac, 6);
	off = 12;
	if (s->vlan) {
		buf[off] = 0x81, buf[off + 1] = 0x00, buf[off + 2] = 0x00, buf[off + 3] = 100;
		off += 4;
	}
	buf[off] = s->family == 4 ? 0x08 : 0x86;
	buf[off + 1] = s->family == 4 ? 0x00 : 0xdd;
	off += 2;
	l3 = off;
	inet_pton(s->family == 4 ? AF_INET : AF_INET6, s->src, src);
	inet_pton(s->family == 4 ? AF_INET : AF_INET6, s->dst, dst);
	l4len = (s->proto == IPPROTO_TCP ? 20 : 8) + s->payload;

	if (s->family == 4) {
		hdr = 20 + 4 * s->ip_option_words;
		uint8_t *ip = buf + l3;
		size_t total = hdr + l4len;

		ip[0] = 0x40 | (s->ihl_override ? (size_t)s->ihl_override : hdr / 4);
		ip[2] = total >> 8, ip[3] = total & 0xff;
		ip[4] = 0x12, ip[5] = 0x34;
		if (s->fragment)
			ip[6] = 0x20; /* MF */
		ip[8] = 64;
		ip[9] = s->proto;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		for (int i = 0; i < s->ip_option_words; i++)
			memset(ip + 20 + 4 * i, 1, 4); /* NOP */
		uint16_t c = fold(sum16(ip, hdr, 0));
		ip[10] = c >> 8, ip[11] = c & 0xff;
	} else {
		uint8_t *ip = buf + l3;
		size_t ext = (s->ipv6_ext || s->fragment) ? 8 : 0;

		hdr = 40 + ext;
		ip[0] = 0x60;
		ip[4] = (l4len + ext) >> 8, ip[5] = (l4len + ext) & 0xff;
		ip[6] = s->fragment ? 44 : s->ipv6_ext ? 0 : s->proto;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		if (ext)
			ip[40] = s->proto; /* next header; rest zero */
	}
	l4 = l3 + hdr;
	uint8_t *t = buf + l4;
	t[0] = s->sport >> 8, t[1] = s->sport & 0xff;
	t[2] = s->dport >> 8, t[3] = s->dport & 0xff;
	if (s->proto == IPPROTO_TCP) {
		t[7] = 1; /* seq */
		t[12] = 5 << 4;
		t[13] = s->tcp_flags;
		t[14] = 0xff, t[15] = 0xff;
	} else {
		t[4] = l4len >> 8, t[5] = l4len & 0xff;
	}
	for (int i = 0; i < s->payload; i++)
		t[(s->proto == IPPROTO_TCP ? 20 : 8) + i] = 'a' + i % 26;
	if (!(s->proto == IPPROTO_UDP && s->udp_no_csum)) {
		int csum_at = s->proto == IPPROTO_TCP ? 16 : 6;
		uint16_t c = l4_checksum(s->family, src, dst, s->proto, t, l4len);

		if (s->proto == IPPROTO_UDP && c == 0)
			c = 0xffff;
		t[csum_at] = c >> 8, t[csum_at + 1] = c & 0xff;
	}
	return l4 + l4len;
}

#endif
