/* ctl_redis_route: decpctl's Redis servers as a slot map. Contract in ctl_redis_route.h. */
#include "ctl_redis_route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

int ctl_rd_nodes_parse(const char *s)
{
	unsigned int items = 0;

	if (s == NULL || strlen(s) >= sizeof(((struct ctl_rd *)0)->seeds))
		return -EINVAL;
	for (const char *p = s;; items++) {
		size_t n = strcspn(p, ",");
		const char *colon = memrchr(p, ':', n);
		unsigned long port = 0;

		if (colon == NULL || colon == p || (size_t)(colon - p) >= 256 ||
		    colon + 1 == p + n || items == CP_RCL_MAX_NODES)
			return -EINVAL;
		for (const char *h = p; h < colon; h++)
			if ((unsigned char)*h <= ' ')
				return -EINVAL;
		for (const char *d = colon + 1; d < p + n; d++) {
			if (*d < '0' || *d > '9' || port > 65535)
				return -EINVAL;
			port = port * 10 + (unsigned long)(*d - '0');
		}
		if (port < 1 || port > 65535)
			return -EINVAL;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

int ctl_rd_open(struct ctl_rd *rd, const char *host, int port, const char *nodes,
		uint32_t timeout_ms, char *why, size_t whylen)
{
	memset(rd, 0, sizeof(*rd));
	rd->cluster = nodes != NULL;
	snprintf(rd->seeds, sizeof(rd->seeds), nodes != NULL ? "%s" : "%s:%d",
		 nodes != NULL ? nodes : host, port);
	cp_rcluster_init(&rd->cl, rd->seeds, timeout_ms);
	if (rd->cluster)
		return cp_rcluster_connect(&rd->cl, NULL, NULL, why, whylen);

	/* one server: a map of one node serving every slot */
	struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(host, port, tv);

	if (c == NULL || c->err || redisSetTimeout(c, tv) != REDIS_OK) {
		snprintf(why, whylen, "Redis %s:%d: %s", host, port,
			 c != NULL ? c->errstr : "out of memory");
		redisFree(c);
		return -EAGAIN;
	}
	rd->cl.map.n = 1;
	snprintf(rd->cl.map.node[0].host, sizeof(rd->cl.map.node[0].host), "%s", host);
	rd->cl.map.node[0].port = (uint32_t)port;
	memset(rd->cl.map.slot, 0, sizeof(rd->cl.map.slot));
	rd->cl.ctx[0] = c;
	rd->cl.connected = true;
	return 0;
}

void ctl_rd_close(struct ctl_rd *rd)
{
	cp_rcluster_close(&rd->cl);
}

static unsigned int node_of(const struct ctl_rd *rd, const char *key)
{
	return cp_rcluster_node_of(&rd->cl, key, strlen(key));
}

const char *ctl_rd_node_name(const struct ctl_rd *rd, const char *key, char *buf, size_t len)
{
	unsigned int k = node_of(rd, key);

	if (k < rd->cl.map.n)
		snprintf(buf, len, "%s:%u", rd->cl.map.node[k].host, rd->cl.map.node[k].port);
	else
		snprintf(buf, len, "-");
	return buf;
}

/* Send the commands idx[0..m) (each after ASKING when asking) and read their replies into
 * rep[idx[i]] (an old reply there is freed). 0 or -EIO. */
static int pipeline(redisContext *c, const struct ctl_rd_cmd *cmd, const size_t *idx, size_t m,
		    bool asking, redisReply **rep)
{
	for (size_t i = 0; i < m; i++) {
		const struct ctl_rd_cmd *x = &cmd[idx[i]];

		if ((asking && redisAppendCommand(c, "ASKING") != REDIS_OK) ||
		    redisAppendCommandArgv(c, x->argc, x->argv, x->lens) != REDIS_OK)
			return -EIO;
	}
	for (size_t i = 0; i < m; i++) {
		redisReply *r = NULL;

		if (asking) {
			if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL)
				return -EIO;
			freeReplyObject(r);
			r = NULL;
		}
		if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL)
			return -EIO;
		freeReplyObject(rep[idx[i]]);
		rep[idx[i]] = r;
	}
	return 0;
}

static void free_all(redisReply **rep, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		freeReplyObject(rep[i]);
		rep[i] = NULL;
	}
}

int ctl_rd_run(struct ctl_rd *rd, const char *key, size_t n, const struct ctl_rd_cmd *cmd,
	       redisReply **rep, char *why, size_t whylen)
{
	size_t *idx = calloc(n + 1, sizeof(*idx)), m = 0;
	unsigned int k = node_of(rd, key);
	struct cp_rcl_redirect to = {0};
	char name[300];
	int rc = -EIO;

	memset(rep, 0, n * sizeof(*rep));
	if (idx == NULL) {
		snprintf(why, whylen, "out of memory");
		return -EIO;
	}
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	if (k >= rd->cl.map.n || rd->cl.ctx[k] == NULL) {
		snprintf(why, whylen, "no Redis node serves %s", key);
		goto fail;
	}
	if (pipeline(rd->cl.ctx[k], cmd, idx, n, false, rep) != 0) {
		snprintf(why, whylen, "Redis %s: %s", ctl_rd_node_name(rd, key, name, sizeof(name)),
			 rd->cl.ctx[k]->errstr[0] ? rd->cl.ctx[k]->errstr : "no reply");
		goto fail;
	}
	/* The redirected commands: a suffix (once the key has left, every later command on
	 * it is redirected too), all told the same place; the last redirect is the newest. */
	for (size_t i = 0; i < n; i++)
		if (cp_rcluster_note(&rd->cl, rep[i], &to))
			idx[m++] = i;
	if (m == 0) {
		snprintf(rd->answered, sizeof(rd->answered), "%s:%u", rd->cl.map.node[k].host,
			 rd->cl.map.node[k].port);
		free(idx);
		return 0;
	}
	rd->followed++;
	int t = cp_rcluster_node_at(&rd->cl, &to.to);
	if (!to.ask || t < 0) {
		/* MOVED, or ASK to a primary not in the map: read the map again */
		if (cp_rcluster_connect(&rd->cl, NULL, NULL, why, whylen) != 0)
			goto fail;
		t = to.ask ? cp_rcluster_node_at(&rd->cl, &to.to) : (int)node_of(rd, key);
		if (t < 0 || (unsigned int)t >= rd->cl.map.n) {
			snprintf(why, whylen, "%s: slot %u is moving to %s:%u, which the cluster's "
				 "map does not list yet", key, to.slot, to.to.host, to.to.port);
			rc = -EAGAIN;
			goto out;
		}
	}
	if (pipeline(rd->cl.ctx[t], cmd, idx, m, to.ask, rep) != 0) {
		snprintf(why, whylen, "Redis %s:%u: %s", rd->cl.map.node[t].host,
			 rd->cl.map.node[t].port, rd->cl.ctx[t]->errstr[0] ? rd->cl.ctx[t]->errstr
			 : "no reply");
		goto fail;
	}
	snprintf(rd->answered, sizeof(rd->answered), "%s:%u", rd->cl.map.node[t].host,
		 rd->cl.map.node[t].port);
	rc = 0;
	for (size_t i = 0; i < m; i++)
		if (cp_rcl_redirect_parse(rep[idx[i]]->type == REDIS_REPLY_ERROR ? rep[idx[i]]->str
					  : "", rep[idx[i]]->type == REDIS_REPLY_ERROR ?
					  rep[idx[i]]->len : 0, &to) == 0) {
			snprintf(why, whylen, "%s: slot %u redirected again (%s) after one redirect "
				 "was followed", key, to.slot, rep[idx[i]]->str);
			rc = -EAGAIN;
			break;
		}
out:
	free(idx);
	return rc;
fail:
	free_all(rep, n);
	free(idx);
	return -EIO;
}
