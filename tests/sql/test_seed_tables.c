/*
 * test_seed_tables: the seed's tables that exist in more than one language, compared
 * over every entry (docs/database.md "One source for the seed's tables"):
 *   - the subscription transition table: guard_sub_transition_allowed() (C, the one the
 *     receivers enforce) against subscription_transition_allowed() (SQL, what the database
 *     enforces), for every (from, to) of the state names either side knows, plus one
 *     neither knows;
 *   - the subscription state names: guard_state_name() against the CHECK constraint of
 *     subscriptions.state;
 *   - the protection reason names: guard_reason_name() against proto's ProtectionReason
 *     enum (the wire names, "PROTECTION_REASON_<name>"), for every guard reason, and each
 *     name against the CHECK of protection_logs.reason and trust_inbox.event;
 *   - the trust score's auto-pause line: GUARD_TRUST_PAUSE_BELOW (the trust role's)
 *     against trust_pause_below() (sql 0028: a new subscription continuing a score below
 *     it starts PAUSED_TOXIC).
 * tests/sql/test_schema.c drives the SQL side through real UPDATEs against its own list;
 * this test ties that list, the SQL function and guard's table together.
 */
#include <stdio.h>
#include <string.h>

#include "decp.pb-c.h"
#include "guard_sub.h"
#include "guard_trust.h"
#include "guard_types.h"
#include "sqltest.h"

static struct harness_pg *pg;
static PGconn *own;

static int suite_init(void)
{
	own = sqltest_setup(&pg);
	return own ? 0 : 1;
}

static int suite_clean(void)
{
	PQfinish(own);
	harness_pg_destroy(pg);
	return 0;
}

/* The state names of the subscriptions.state CHECK, parsed from its definition. */
static int sql_state_names(char names[16][32])
{
	char def[1024];
	int n = 0;
	CU_ASSERT_FATAL(sqltest_value(own, def, sizeof(def),
		"SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
		"'subscriptions'::regclass AND contype = 'c' AND "
		"pg_get_constraintdef(oid) LIKE '%state%SYNCED%'", 0));
	for (const char *p = strchr(def, '\''); p != NULL && n < 16; p = strchr(p + 1, '\'')) {
		const char *e = strchr(p + 1, '\'');
		if (e == NULL || e - p - 1 >= 32)
			break;
		memcpy(names[n], p + 1, (size_t)(e - p - 1));
		names[n++][e - p - 1] = '\0';
		p = e;
	}
	return n;
}

/* guard's state for a name, GUARD_STATE_NONE when guard has none by that name. */
static enum guard_state c_state(const char *name)
{
	for (int s = GUARD_STATE_SYNCED; s < GUARD_STATE_COUNT; s++)
		if (strcmp(guard_state_name((enum guard_state)s), name) == 0)
			return (enum guard_state)s;
	return GUARD_STATE_NONE;
}

static void test_state_names(void)
{
	char names[16][32];
	int n = sql_state_names(names);
	CU_ASSERT_EQUAL(n, GUARD_STATE_COUNT - 1);
	for (int i = 0; i < n; i++) {
		CU_ASSERT_NOT_EQUAL(c_state(names[i]), GUARD_STATE_NONE);
		if (c_state(names[i]) == GUARD_STATE_NONE)
			fprintf(stderr, "SQL state %s unknown to guard\n", names[i]);
	}
}

static void test_transitions_all_pairs(void)
{
	const char *names[GUARD_STATE_COUNT + 1];
	int n = 0, allowed = 0;
	for (int s = GUARD_STATE_SYNCED; s < GUARD_STATE_COUNT; s++)
		names[n++] = guard_state_name((enum guard_state)s);
	names[n++] = "NO_SUCH_STATE";
	for (int f = 0; f < n; f++)
		for (int t = 0; t < n; t++) {
			char v[8];
			bool c = guard_sub_transition_allowed(c_state(names[f]), c_state(names[t]));
			CU_ASSERT_FATAL(sqltest_value(own, v, sizeof(v),
				"SELECT subscription_transition_allowed($1, $2)", 2, names[f],
				names[t]));
			bool sql = strcmp(v, "t") == 0;
			CU_ASSERT_EQUAL(c, sql);
			if (c != sql)
				fprintf(stderr, "%s -> %s: C %s, SQL %s\n", names[f], names[t],
					c ? "allows" : "refuses", sql ? "allows" : "refuses");
			allowed += c;
		}
	CU_ASSERT_EQUAL(allowed, 10); /* the seed's diagram has ten arrows */
}

/* The regular expression of table's CHECK on column (the first quoted literal after
 * "column ~"), into out. */
static void check_pattern(const char *table, const char *column, char *out, size_t len)
{
	char def[512], key[64];
	CU_ASSERT_FATAL(sqltest_value(own, def, sizeof(def),
		"SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c WHERE c.conrelid = "
		"$1::regclass AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE '%' || $2 || "
		"' ~ %'", 2, table, column));
	snprintf(key, sizeof(key), "%s ~ '", column);
	const char *p = strstr(def, key), *e;
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	p += strlen(key);
	e = strchr(p, '\'');
	CU_ASSERT_FATAL(e != NULL && (size_t)(e - p) < len);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
}

static void test_reason_names(void)
{
	char reason_re[128], event_re[128];
	check_pattern("protection_logs", "reason", reason_re, sizeof(reason_re));
	check_pattern("trust_inbox", "event", event_re, sizeof(event_re));
	const ProtobufCEnumDescriptor *d = &decp__protection_reason__descriptor;
	int named = 0;
	for (int r = GUARD_REASON_REPLAY; r < GUARD_REASON_MAX; r++) {
		const char *g = guard_reason_name((enum guard_reason)r);
		if (strcmp(g, "?") == 0)
			continue;
		named++;
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, r);
		char wire[64];
		snprintf(wire, sizeof(wire), "PROTECTION_REASON_%s", g);
		CU_ASSERT_PTR_NOT_NULL(v);
		if (v == NULL)
			continue;
		CU_ASSERT_STRING_EQUAL(v->name, wire);
		/* the name is storable as protection_logs.reason and trust_inbox.event */
		char ok[8];
		CU_ASSERT(sqltest_value(own, ok, sizeof(ok), "SELECT $1 ~ $2 AND $1 ~ $3", 3, g,
					reason_re, event_re));
		CU_ASSERT_STRING_EQUAL(ok, "t");
	}
	/* REPLAY .. FILTERED, MALFORMED, UNKNOWN_INSTRUMENT, INSUFFICIENT_MARGIN */
	CU_ASSERT_EQUAL(named, 11);
	CU_ASSERT_STRING_EQUAL(guard_reason_name(GUARD_REASON_NONE), "EXECUTE");
}

static void test_pause_line(void)
{
	char v[16], want[16];
	snprintf(want, sizeof(want), "%d", GUARD_TRUST_PAUSE_BELOW);
	CU_ASSERT(sqltest_value(own, v, sizeof(v), "SELECT trust_pause_below()", 0));
	CU_ASSERT_STRING_EQUAL(v, want);
}

int main(void)
{
	static const struct sqltest_case cases[] = {
		{"state names: guard = subscriptions.state CHECK", test_state_names},
		{"transitions: guard_sub = subscription_transition_allowed, all pairs",
		 test_transitions_all_pairs},
		{"reason names: guard = proto ProtectionReason", test_reason_names},
		{"auto-pause line: GUARD_TRUST_PAUSE_BELOW = trust_pause_below()", test_pause_line},
	};
	return sqltest_main("sql_seed_tables", suite_init, suite_clean, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
