/*
 * test_fee_equality.c - guard_fee_hwm() (C, guard/guard_fee.h) and performance_fee()
 * (SQL, sql/migrations/0010_fee_domain.sql) give the same answer, refusal included, on
 * 100,000 random cases over the API's whole range: profit +-999,999,999,999,999.99, HWM
 * 0..999,999,999,999,999.99, fee_pct 0..100 with 2 decimals (and some with 3, which
 * both must refuse), plus the boundaries of the int64 domain. All cases go to the
 * database in one statement (three arrays, unnest), not 100,000 queries.
 *
 * The C side: a decimal that does not fit int64 in the guard's 1e-4 money unit, or a
 * fee_pct that is not a whole number of basis points, cannot be given to the guard at
 * all (that is its refusal); guard_fee_hwm()'s own -EINVAL is the other. The SQL side
 * refuses when performance_fee_domain_error() is not NULL (performance_fee() raises
 * DP020 then; the test checks that on a sample too).
 *
 * DECP_FEE_CASES and DECP_FEE_SEED override the count and the seed (printed).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "guard_fee.h"
#include "sqltest.h"

#define DEFAULT_CASES 100000
#define CASE_TEXT 48

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the printed seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* A random amount of 1..15 integer digits and 2 decimals (cents), as text. */
static void rnd_amount(char *buf, size_t len, int allow_negative)
{
	int digits = 1 + (int)(rnd() % 15);
	uint64_t ip = rnd() % 1000000000000000ULL, mod = 1;

	for (int i = 0; i < digits; i++)
		mod *= 10;
	ip %= mod;
	snprintf(buf, len, "%s%" PRIu64 ".%02u", allow_negative && rnd() % 2 ? "-" : "", ip,
		 (unsigned)(rnd() % 100));
}

/* Decimal text with at most `scale` decimals -> integer in units of 10^-scale.
 * -ERANGE when it does not fit int64, -EINVAL when it has more decimals. */
static int parse_scaled(const char *s, int scale, int64_t *out)
{
	int neg = *s == '-';
	__int128 v = 0;
	int dec = -1;

	if (neg)
		s++;
	for (; *s; s++) {
		if (*s == '.') {
			dec = 0;
			continue;
		}
		if (dec >= 0 && dec == scale) {
			/* 5.600 is 5.60: only a non-zero digit beyond the scale is refused */
			if (*s != '0')
				return -EINVAL;
			continue;
		}
		v = v * 10 + (*s - '0');
		if (dec >= 0)
			dec++;
		if (v > ((__int128)1 << 64))
			return -ERANGE;
	}
	for (int i = dec < 0 ? 0 : dec; i < scale; i++)
		v *= 10;
	if (neg)
		v = -v;
	if (v > INT64_MAX || v < INT64_MIN)
		return -ERANGE;
	*out = (int64_t)v;
	return 0;
}

static void money_text(char *buf, size_t len, int64_t money)
{
	int64_t cents = money / GUARD_MONEY_CENT; /* guard_fee outputs are whole cents */

	snprintf(buf, len, "%s%" PRId64 ".%02" PRId64, cents < 0 ? "-" : "",
		 cents < 0 ? -(cents / 100) : cents / 100, cents < 0 ? -(cents % 100) : cents % 100);
}

/* The C answer: "" for a refusal, else "fee new_hwm above". */
static void c_answer(const char *hwm, const char *profit, const char *pct, char *out,
		     size_t len)
{
	int64_t h, p, bp;
	struct guard_fee f;
	char a[32], b[32], c[32];

	out[0] = '\0';
	if (parse_scaled(hwm, 4, &h) || parse_scaled(profit, 4, &p) ||
	    parse_scaled(pct, 2, &bp) || bp < 0 || bp > GUARD_BP_SCALE ||
	    guard_fee_hwm(h, p, (uint32_t)bp, &f) != 0)
		return;
	money_text(a, sizeof(a), f.fee);
	money_text(b, sizeof(b), f.hwm_after);
	money_text(c, sizeof(c), f.profit_above_hwm);
	snprintf(out, len, "%s %s %s", a, b, c);
}

/* Appends "v," to the array literal being built. */
static void arr_add(char **p, const char *v)
{
	size_t n = strlen(v);

	memcpy(*p, v, n);
	(*p)[n] = ',';
	*p += n + 1;
}

static const char *const edge_hwm[] = {"0.00", "922337203685477.58", "922337203685477.59",
				       "999999999999999.99", "1000.00", "0.01"};
static const char *const edge_profit[] = {
	"922337203685477.58", "922337203685477.59", "-922337203685477.58",
	"-922337203685477.59", "999999999999999.99", "-999999999999999.99", "1500.00",
	"0.00", "1000.02", "1000.03", "461168601843.00", "461168601844.00"};
static const char *const edge_pct[] = {"0.00", "100.00", "20.00", "100.01", "12.345", "0.01"};

int main(void)
{
	struct harness_pg *pg = NULL;
	PGconn *own;
	long ncases = getenv("DECP_FEE_CASES") ? atol(getenv("DECP_FEE_CASES")) : DEFAULT_CASES;
	uint64_t seed = getenv("DECP_FEE_SEED") ? strtoull(getenv("DECP_FEE_SEED"), NULL, 0)
						: UINT64_C(0x20261204);
	long passed = 0, failed = 0, refused = 0, subcent = 0;
	size_t nedge = sizeof(edge_hwm) / sizeof(*edge_hwm) *
		       (sizeof(edge_profit) / sizeof(*edge_profit)) *
		       (sizeof(edge_pct) / sizeof(*edge_pct));

	if (ncases < 1)
		ncases = DEFAULT_CASES;
	rng_state = seed ? seed : 1;
	printf("seed 0x%" PRIx64 ", %ld random cases + %zu boundary cases\n", seed, ncases, nedge);
	long total = ncases + (long)nedge;
	char (*cases)[3][CASE_TEXT] = calloc((size_t)total, sizeof(*cases));
	char *arr[3];
	for (int k = 0; k < 3; k++)
		arr[k] = malloc((size_t)total * CASE_TEXT + 4);
	if (!cases || !arr[0] || !arr[1] || !arr[2]) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	long n = 0;
	for (size_t a = 0; a < sizeof(edge_hwm) / sizeof(*edge_hwm); a++)
		for (size_t b = 0; b < sizeof(edge_profit) / sizeof(*edge_profit); b++)
			for (size_t c = 0; c < sizeof(edge_pct) / sizeof(*edge_pct); c++, n++) {
				snprintf(cases[n][0], CASE_TEXT, "%s", edge_hwm[a]);
				snprintf(cases[n][1], CASE_TEXT, "%s", edge_profit[b]);
				snprintf(cases[n][2], CASE_TEXT, "%s", edge_pct[c]);
			}
	for (; n < total; n++) {
		rnd_amount(cases[n][0], CASE_TEXT, 0);
		if (rnd() % 4 == 0) {
			/* just above the HWM: sub-cent and few-cent fees */
			int64_t h;
			parse_scaled(cases[n][0], 2, &h);
			h += (int64_t)(rnd() % 200) - 20;
			snprintf(cases[n][1], CASE_TEXT, "%s%" PRId64 ".%02" PRId64, h < 0 ? "-" : "",
				 (h < 0 ? -h : h) / 100, (h < 0 ? -h : h) % 100);
		} else {
			rnd_amount(cases[n][1], CASE_TEXT, 1);
		}
		unsigned bp = (unsigned)(rnd() % 10001);
		if (rnd() % 50 == 0)
			snprintf(cases[n][2], CASE_TEXT, "%u.%03u", bp / 100, (unsigned)(rnd() % 1000));
		else
			snprintf(cases[n][2], CASE_TEXT, "%u.%02u", bp / 100, bp % 100);
	}
	for (int k = 0; k < 3; k++) {
		char *p = arr[k];
		*p++ = '{';
		for (long i = 0; i < total; i++)
			arr_add(&p, cases[i][k]);
		p[-1] = '}';
		*p = '\0';
	}

	own = sqltest_setup(&pg);
	if (!own) {
		printf("0 passed, 1 failed\n");
		harness_pg_destroy(pg);
		return 1;
	}
	PGresult *r = sqltest_q(own,
		"SELECT CASE WHEN e IS NULL THEN (SELECT concat_ws(' ', f.fee_amount, f.new_hwm,"
		" f.profit_above_hwm) FROM performance_fee(h, p, c) f) ELSE '' END"
		" FROM unnest($1::numeric[], $2::numeric[], $3::numeric[]) WITH ORDINALITY"
		" AS t(h, p, c, i), performance_fee_domain_error(h, p, c) e ORDER BY i",
		3, arr[0], arr[1], arr[2]);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != total) {
		fprintf(stderr, "query failed: %s\n", PQresultErrorMessage(r));
		failed++;
	} else {
		for (long i = 0; i < total; i++) {
			char c[128];
			const char *s = PQgetvalue(r, (int)i, 0);

			c_answer(cases[i][0], cases[i][1], cases[i][2], c, sizeof(c));
			if (strcmp(c, s) == 0) {
				passed++;
				refused += c[0] == '\0';
				subcent += strncmp(c, "0.00 ", 5) == 0 && cases[i][2][0] != '0';
			} else if (failed++ < 10) {
				printf("MISMATCH hwm %s profit %s pct %s: C '%s', SQL '%s'\n",
				       cases[i][0], cases[i][1], cases[i][2], c, s);
			}
		}
	}
	PQclear(r);
	/* The refusal is DP020 from performance_fee() itself, not only the helper's text. */
	static const char *const bad[][3] = {{"0", "1500", "12.345"},
					     {"0", "999999999999999.99", "20"},
					     {"-0.01", "1500", "20"},
					     {"0", "1.00001", "20"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (sqltest_expect(own, "DP020", "SELECT * FROM performance_fee($1, $2, $3)", 3,
				   bad[i][0], bad[i][1], bad[i][2]))
			passed++;
		else
			failed++;
	}
	printf("%ld cases agree (%ld refused by both, %ld with fee 0.00 at fee_pct > 0, HWM kept)\n",
	       passed, refused, subcent);
	/* Cannot pass vacuously: both sides must have computed and refused plenty. */
	if (refused < total / 50 || passed - refused < total / 2) {
		printf("too few refusals or computations: the cases do not cover the domain\n");
		failed++;
	}
	PQfinish(own);
	harness_pg_destroy(pg);
	for (int k = 0; k < 3; k++)
		free(arr[k]);
	free(cases);
	printf("%ld passed, %ld failed\n", passed, failed);
	return failed ? 1 : 0;
}
