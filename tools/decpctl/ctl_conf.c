/* ctl_conf: read and atomically rewrite key = value files. Contract in ctl_conf.h. */
#include "ctl_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX (1u << 20)

/* If line (len bytes) is `key = value...`, return the key's length and set *val to where the
 * value starts; else 0. */
static size_t line_key(const char *line, size_t len, const char **val)
{
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len || line[i] == '#')
		return 0;
	size_t k0 = i;
	while (i < len && line[i] != '=' && line[i] != ' ' && line[i] != '\t')
		i++;
	size_t klen = i - k0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (klen == 0 || i == len || line[i] != '=')
		return 0;
	*val = line + i + 1;
	return k0 + klen; /* caller compares line + k0 .. via key_is() */
}

static bool key_is(const char *line, size_t len, const char *key, const char **val)
{
	const char *v;
	size_t end = line_key(line, len, &v);
	if (end == 0)
		return false;
	size_t k0 = 0;
	while (line[k0] == ' ' || line[k0] == '\t')
		k0++;
	size_t kl = strlen(key);
	if (end - k0 != kl || strncmp(line + k0, key, kl) != 0)
		return false;
	*val = v;
	return true;
}

/* Start of a trailing " # comment" in [v, e), or e. */
static const char *comment_start(const char *v, const char *e)
{
	for (const char *p = v; p < e; p++)
		if (*p == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
			while (p > v && (p[-1] == ' ' || p[-1] == '\t'))
				p--;
			return p;
		}
	return e;
}

static int read_all(const char *path, char **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *buf = malloc(CONF_MAX + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, CONF_MAX - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int rc = -errno;
			free(buf);
			close(fd);
			return rc;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == CONF_MAX) {
			free(buf);
			close(fd);
			return -E2BIG;
		}
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int ctl_conf_get(const char *path, const char *key, char *out, size_t cap)
{
	char *text;
	int rc = read_all(path, &text);
	if (rc != 0)
		return rc;
	rc = -ENOENT;
	for (const char *l = text; *l != '\0';) {
		const char *e = strchr(l, '\n');
		size_t len = e != NULL ? (size_t)(e - l) : strlen(l);
		const char *v;
		if (key_is(l, len, key, &v)) {
			const char *ve = comment_start(v, l + len);
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
				ve--;
			size_t vl = (size_t)(ve - v);
			if (vl >= cap) {
				rc = -E2BIG;
			} else {
				memcpy(out, v, vl);
				out[vl] = '\0';
				rc = 0;
			}
		}
		l += len + (e != NULL);
	}
	free(text);
	return rc;
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = (b->cap + n + 1) * 2;
		char *np = realloc(b->p, nc);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

char *ctl_conf_edit(const char *text, const struct ctl_kv *kv, size_t n, const char *who)
{
	struct sbuf b = {0};
	bool done[16] = {false};
	if (n > 16)
		return NULL;
	sb_put(&b, "", 0);
	for (const char *l = text; *l != '\0';) {
		const char *e = strchr(l, '\n');
		size_t len = e != NULL ? (size_t)(e - l) : strlen(l);
		const char *v = NULL;
		size_t hit = n;
		for (size_t i = 0; i < n && hit == n; i++)
			if (key_is(l, len, kv[i].key, &v))
				hit = i;
		if (hit == n) {
			sb_put(&b, l, len);
			sb_str(&b, "\n");
		} else if (!done[hit]) {
			/* Keep the line's own spelling up to '=' and its trailing comment. */
			done[hit] = true;
			sb_put(&b, l, (size_t)(v - l));
			sb_str(&b, " ");
			sb_str(&b, kv[hit].value);
			const char *c = comment_start(v, l + len);
			sb_put(&b, c, (size_t)(l + len - c));
			sb_str(&b, "\n");
		}
		/* else: a later duplicate of an owned key is dropped (the last one would win). */
		l += len + (e != NULL);
	}
	bool header = false;
	for (size_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		if (!header) {
			if (b.len > 0 && b.p[b.len - 1] != '\n')
				sb_str(&b, "\n");
			sb_str(&b, "# written by ");
			sb_str(&b, who);
			sb_str(&b, "\n");
			header = true;
		}
		sb_str(&b, kv[i].key);
		sb_str(&b, " = ");
		sb_str(&b, kv[i].value);
		sb_str(&b, "\n");
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

int ctl_conf_set(const char *path, const struct ctl_kv *kv, size_t n, const char *who)
{
	char *text = NULL;
	char *out = NULL;
	char tmp[4096];
	int fd = -1;
	mode_t mode = 0644;
	struct stat st;
	int rc = read_all(path, &text);
	if (rc == -ENOENT) {
		text = strdup("");
		rc = text != NULL ? 0 : -ENOMEM;
	} else if (rc == 0 && stat(path, &st) == 0) {
		mode = st.st_mode & 07777;
	}
	if (rc != 0)
		goto fail;
	out = ctl_conf_edit(text, kv, n, who);
	if (out == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	/* Same directory, so rename(2) replaces the file atomically on one filesystem. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	size_t len = strlen(out);
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, out + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			goto fail_unlink;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		rc = -errno;
		goto fail_unlink;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		goto fail_unlink;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = -errno;
		goto fail_unlink;
	}
	free(text);
	free(out);
	return 0;

fail_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
fail:
	free(text);
	free(out);
	return rc;
}
