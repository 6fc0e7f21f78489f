/* Trade file parsing for decp-master. Formats in decp-master-trades.h. */
#include "decp-master-trades.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decp.pb-c.h"
#include "proto_money.h"
#include "proto_signal.h"

static const struct {
	const char *name;
	int value;
} order_types[] = {
	{"BUY", DECP__ORDER_TYPE__ORDER_TYPE_BUY},
	{"SELL", DECP__ORDER_TYPE__ORDER_TYPE_SELL},
	{"BUY_LIMIT", DECP__ORDER_TYPE__ORDER_TYPE_BUY_LIMIT},
	{"SELL_LIMIT", DECP__ORDER_TYPE__ORDER_TYPE_SELL_LIMIT},
	{"BUY_STOP", DECP__ORDER_TYPE__ORDER_TYPE_BUY_STOP},
	{"SELL_STOP", DECP__ORDER_TYPE__ORDER_TYPE_SELL_STOP},
	{"CLOSE", DECP__ORDER_TYPE__ORDER_TYPE_CLOSE},
	{"MODIFY", DECP__ORDER_TYPE__ORDER_TYPE_MODIFY},
	{"CLOSE_PARTIAL", DECP__ORDER_TYPE__ORDER_TYPE_CLOSE_PARTIAL},
};

static const char *set_field(struct dm_trade *t, int col, const char *s, size_t len)
{
	char tmp[64];
	switch (col) {
	case 0:
		if (len == 0 || len > PROTO_SYMBOL_MAX)
			return "symbol must be 1..32 characters";
		for (size_t i = 0; i < len; i++)
			if (s[i] < 0x21 || s[i] > 0x7e)
				return "symbol must be printable ASCII without spaces";
		memcpy(t->symbol, s, len);
		t->symbol[len] = '\0';
		return NULL;
	case 1:
		for (size_t i = 0; i < sizeof(order_types) / sizeof(order_types[0]); i++)
			if (strlen(order_types[i].name) == len && memcmp(order_types[i].name, s, len) == 0) {
				t->order_type = order_types[i].value;
				return NULL;
			}
		return "unknown order_type (BUY SELL BUY_LIMIT SELL_LIMIT BUY_STOP SELL_STOP CLOSE "
		       "MODIFY CLOSE_PARTIAL)";
	case 2:
		return proto_decimal_parse(s, len, PROTO_VOLUME_DECIMALS, &t->volume) == 0
			       ? NULL
			       : "volume must be a decimal with at most 2 decimals";
	case 3:
	case 4:
	case 5: {
		int64_t *dst = col == 3 ? &t->price : col == 4 ? &t->sl : &t->tp;
		return proto_decimal_parse(s, len, PROTO_PRICE_DECIMALS, dst) == 0
			       ? NULL
			       : "price/sl/tp must be decimals with at most 5 decimals";
	}
	case 6: {
		if (len == 0 || len >= sizeof(tmp))
			return "position_ticket must be a positive integer";
		memcpy(tmp, s, len);
		tmp[len] = '\0';
		char *end;
		errno = 0;
		unsigned long long v = strtoull(tmp, &end, 10);
		if (errno != 0 || *end != '\0' || v == 0 || !isdigit((unsigned char)tmp[0]))
			return "position_ticket must be a positive integer";
		t->ticket = v;
		return NULL;
	}
	default:
		return "too many columns (expected 7)";
	}
}

static const char *parse_csv(char *line, struct dm_trade *t)
{
	int col = 0;
	char *p = line;
	for (;;) {
		char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\r'))
			len--;
		while (len > 0 && *p == ' ') {
			p++;
			len--;
		}
		const char *err = set_field(t, col++, p, len);
		if (err != NULL)
			return err;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return col == 7 ? NULL : "expected 7 columns: symbol,order_type,volume,price,sl,tp,"
				 "position_ticket";
}

static const char *parse_jsonl(const char *line, struct dm_trade *t)
{
	static const char *const keys[7] = {"symbol", "order_type", "volume", "price",
					    "sl", "tp", "position_ticket"};
	json_error_t je;
	json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return "not a JSON object";
	}
	const char *err = NULL;
	for (int i = 0; i < 7 && err == NULL; i++) {
		json_t *v = json_object_get(o, keys[i]);
		if (v == NULL) {
			err = i >= 4 && i <= 5 ? NULL : "missing key (symbol, order_type, volume, "
							"price, sl, tp, position_ticket)";
			if (i == 4)
				t->sl = 0;
			if (i == 5)
				t->tp = 0;
			continue;
		}
		if (json_is_string(v)) {
			err = set_field(t, i, json_string_value(v), json_string_length(v));
		} else if (json_is_integer(v)) {
			char txt[32];
			snprintf(txt, sizeof(txt), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			err = set_field(t, i, txt, strlen(txt));
		} else if (json_is_real(v)) {
			/* jansson keeps reals as binary doubles: 150.2 would come back as
			 * 150.19999999999999. Money never goes through floating point. */
			err = "write decimals as JSON strings (\"150.20\"), not JSON numbers";
		} else {
			err = "values must be strings or numbers";
		}
	}
	json_decref(o);
	return err;
}

int dm_trades_load(const char *path, struct dm_trade **out, size_t *n)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "decp-master: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t plen = strlen(path);
	int jsonl = plen > 6 && strcmp(path + plen - 6, ".jsonl") == 0;
	struct dm_trade *v = NULL;
	size_t cnt = 0, cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	unsigned long lineno = 0;
	while ((len = getline(&line, &lcap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#' || (!jsonl && strncmp(line, "symbol", 6) == 0))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			struct dm_trade *nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				goto fail_oom;
			v = nv;
		}
		struct dm_trade *t = &v[cnt];
		memset(t, 0, sizeof(*t));
		const char *err = jsonl ? parse_jsonl(line, t) : parse_csv(line, t);
		if (err == NULL && t->volume <= 0 &&
		    t->order_type != DECP__ORDER_TYPE__ORDER_TYPE_CLOSE &&
		    t->order_type != DECP__ORDER_TYPE__ORDER_TYPE_MODIFY)
			err = "volume must be > 0 (0 only for CLOSE and MODIFY)";
		if (err == NULL && (t->price < 0 || t->sl < 0 || t->tp < 0 || t->volume < 0))
			err = "negative price/sl/tp/volume";
		if (err != NULL) {
			fprintf(stderr, "decp-master: %s:%lu: %s\n", path, lineno, err);
			goto fail;
		}
		cnt++;
	}
	if (ferror(f)) {
		fprintf(stderr, "decp-master: %s: read error\n", path);
		goto fail;
	}
	if (cnt == 0) {
		fprintf(stderr, "decp-master: %s: no trades in file\n", path);
		goto fail;
	}
	free(line);
	fclose(f);
	*out = v;
	*n = cnt;
	return 0;
fail_oom:
	fprintf(stderr, "decp-master: %s: out of memory\n", path);
fail:
	free(line);
	free(v);
	fclose(f);
	return -1;
}

void dm_trade_synthetic(uint64_t i, struct dm_trade *t)
{
	static const char *const syms[6] = {"EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "AUDUSD",
					    "USDCHF"};
	static const int64_t base[6] = {108120, 126510, 15012300, 203450000, 65430, 88210};
	memset(t, 0, sizeof(*t));
	unsigned int s = (unsigned int)(i / 4 % 6);
	snprintf(t->symbol, sizeof(t->symbol), "%s", syms[s]);
	t->ticket = 1000 + i / 4;
	t->price = base[s] + (int64_t)(i % 97);
	switch (i % 4) {
	case 0: t->order_type = DECP__ORDER_TYPE__ORDER_TYPE_BUY; t->volume = 10; break;
	case 1: t->order_type = DECP__ORDER_TYPE__ORDER_TYPE_MODIFY; t->sl = t->price - 200;
		t->tp = t->price + 400; break;
	case 2: t->order_type = DECP__ORDER_TYPE__ORDER_TYPE_CLOSE_PARTIAL; t->volume = 5; break;
	default: t->order_type = DECP__ORDER_TYPE__ORDER_TYPE_CLOSE; break;
	}
}
