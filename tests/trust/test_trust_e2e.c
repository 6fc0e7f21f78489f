/*
 * test_trust_e2e: issue 18's trust rules end to end: decp-control's api and trust roles
 * against a real PostgreSQL and Redis (tests/api's api_test: decp-control as a child
 * process, a plain HTTP client over kernel TCP). One scenario per run:
 *
 *   unpause      the self-un-pause of the issue: two REPLAYs pause a subscription (score
 *                0); its subscriber then posts 50 EXECUTE reports for envelopes never
 *                delivered: all stored (execution_reports), none scored, the subscription
 *                stays PAUSED_TOXIC. One simulated day later the quiet-period credit gives
 *                10 and it stays paused; five days after the pause the credit reaches 50
 *                and resumes it: the only way back besides an operator.
 *   credit       an EXECUTE scores +1 only for an envelope the fan-out delivered live
 *                (trust_deliveries, sql 0009), within trust_credit_window_s, once: three
 *                duplicates in one request and one more later score once; a sequence
 *                outside every delivery, a delivery older than the window and a report
 *                without a sequence are stored with the reason and not scored; an
 *                UNKNOWN_INSTRUMENT report is stored, not scored, and alerts
 *   stale        a TTL_EXPIRED whose guard claims it the platform's is not scored when our
 *                records confirm it (its last delivery was a replay; a live run
 *                sent it more than TTL/2 after its arrival), and scored otherwise: a
 *                subscriber that claims platform attribution for its own late receipt, or
 *                for a signal it got live, or with nothing on record, pays -5
 *   instruments  the instruments table's seed (sql 0008) is guard_instruments_builtin()
 *                row for row, and the table refuses what guard_instrument_valid() refuses
 *
 * trust_deliveries rows are inserted here with SQL, standing in for the fan-out, which
 * does not write them yet (docs/api.md "Trust": the interface and who writes it), and so
 * are signal_archive_keys rows (the archiver's record of each signal's arrival).
 *
 * usage: test_trust_e2e SCENARIO DECP_CONTROL
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_test.h"
#include "guard_instrument.h"

/* POST one request of EXECUTE reports for sequences seq[0..n-1] (0 = no sequence). */
static int post_exec(struct api_env *e, const char *tok, long long sub, const long long *seq,
		     int n)
{
	size_t cap = 128 + (size_t)n * 96, at;
	char *body = malloc(cap);
	struct http_resp r;
	if (body == NULL)
		return -1;
	at = (size_t)snprintf(body, cap, "{\"events\":[");
	for (int i = 0; i < n; i++) {
		char s[48] = "";
		if (seq[i] > 0)
			snprintf(s, sizeof(s), ",\"sequence\":%lld", seq[i]);
		at += (size_t)snprintf(body + at, cap - at, "%s{\"subscription_id\":%lld,"
				       "\"reason\":\"EXECUTE\"%s}", i ? "," : "", sub, s);
	}
	snprintf(body + at, cap - at, "]}");
	int st = http(e, "POST", "/v1/protection-events", tok, body, &r);
	if (st != 202)
		fprintf(stderr, "EXECUTE reports: %d %s\n", st, r.body ? r.body : "");
	http_free(&r);
	free(body);
	return st;
}

static long long reports(struct api_env *e, long long sub, const char *where)
{
	char q[256];
	snprintf(q, sizeof(q), "SELECT count(*) FROM execution_reports WHERE subscription_id = %lld"
		 " AND %s", sub, where);
	return db_count(e, q);
}

static void sql(struct api_env *e, const char *q)
{
	PGresult *r = PQexec(e->db, q);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
}

/* A delivery record as the fan-out would write it: sequences first..last sent to sub
 * (live or by a replay), the last one `age_s` seconds ago. */
static void sent(struct api_env *e, long long sub, bool live, long long first, long long last,
		 int age_s)
{
	char q[320];
	snprintf(q, sizeof(q), "INSERT INTO trust_deliveries VALUES (%lld, %s, %lld, %lld,"
		 " now() - interval '%d seconds', now() - interval '%d seconds')", sub,
		 live ? "true" : "false", first, last, age_s, age_s);
	sql(e, q);
}

static void delivered(struct api_env *e, long long sub, long long first, long long last,
		      int age_s)
{
	sent(e, sub, true, first, last, age_s);
}

/* decp-control restarted with simulated time `offset`: the tick brings sub to `score`
 * and `state`. */
static void after_days(struct api_env *e, long long sub, const char *offset, int score,
		       const char *state)
{
	struct http_resp r;
	CHECK(api_env_restart(e, offset) == 0, "restart with %s", offset);
	CHECK(trust_wait(e, sub, score, &r) == 0, "%d after %s, got %lld", score, offset,
	      jint(&r, "trust_score"));
	CHECK(strcmp(jstr(&r, "state"), state) == 0, "%s after %s: %s", state, offset,
	      jstr(&r, "state"));
	http_free(&r);
}

static void scenario_unpause(struct api_env *e)
{
	struct world w;
	struct http_resp r;
	long long seq[50];
	char needle[96];
	if (world_make(e, &w) != 0) {
		api_failures++;
		return;
	}
	CHECK(post_events(e, w.tok_a, w.sa, "REPLAY,REPLAY") == 202, "two replays");
	CHECK(trust_wait(e, w.sa, 0, &r) == 0, "score 0, got %lld", jint(&r, "trust_score"));
	CHECK(strcmp(jstr(&r, "state"), "PAUSED_TOXIC") == 0, "paused: %s", jstr(&r, "state"));
	http_free(&r);

	/* The attack: 50 EXECUTE reports naming envelopes the fan-out never delivered (the
	 * subscription is paused: nothing is delivered to it). */
	for (int i = 0; i < 50; i++)
		seq[i] = 1000 + i;
	CHECK(post_exec(e, w.tok_a, w.sa, seq, 50) == 202, "50 EXECUTE reports accepted");
	CHECK(trust_wait(e, w.sa, -1, &r) == 0, "inbox drained");
	CHECK(jint(&r, "trust_score") == 0, "score still 0: %lld", jint(&r, "trust_score"));
	CHECK(jint(&r, "executions") == 0, "no execution scored: %lld", jint(&r, "executions"));
	CHECK(strcmp(jstr(&r, "state"), "PAUSED_TOXIC") == 0, "still paused: %s",
	      jstr(&r, "state"));
	http_free(&r);
	CHECK(reports(e, w.sa, "NOT credited AND why_not = 'not_delivered_live'") == 50,
	      "all 50 stored, not scored: %lld",
	      reports(e, w.sa, "NOT credited AND why_not = 'not_delivered_live'"));
	CHECK(metric(e, "decp_trust_executions_uncredited_total") == 50, "uncredited metric");
	/* the second form: from 47 three more were enough; here any number is not */
	long long more[3] = {1050, 1051, 1052};
	CHECK(post_exec(e, w.tok_a, w.sa, more, 3) == 202, "3 more");
	CHECK(trust_wait(e, w.sa, -1, &r) == 0 && jint(&r, "trust_score") == 0 &&
	      strcmp(jstr(&r, "state"), "PAUSED_TOXIC") == 0, "still 0 and paused: %s", r.body);
	http_free(&r);

	/* One simulated day: the quiet-period credit (+10) runs, 10 < 50 stays paused; five
	 * quiet days: 50, resumed by the credit. */
	after_days(e, w.sa, "trust_time_offset_s = 87000", 10, "PAUSED_TOXIC");
	after_days(e, w.sa, "trust_time_offset_s = 432600", 50, "SYNCED");
	snprintf(needle, sizeof(needle), "subscription %lld trust score recovered to 50", w.sa);
	CHECK(log_has(e, needle), "recovery line '%s'", needle);
}

static void scenario_credit(struct api_env *e)
{
	struct world w;
	struct http_resp r;
	char needle[96];
	if (world_make(e, &w) != 0) {
		api_failures++;
		return;
	}
	CHECK(post_events(e, w.tok_b, w.sb, "TTL_EXPIRED,TTL_EXPIRED") == 202, "two TTL");
	CHECK(trust_wait(e, w.sb, 90, &r) == 0, "90, got %lld", jint(&r, "trust_score"));
	http_free(&r);
	delivered(e, w.sb, 100, 102, 0);

	/* A real one, reported three times in one request: +1 once. */
	long long dup[3] = {100, 100, 100};
	CHECK(post_exec(e, w.tok_b, w.sb, dup, 3) == 202, "three reports of 100");
	CHECK(trust_wait(e, w.sb, 91, &r) == 0, "91 once, got %lld", jint(&r, "trust_score"));
	http_free(&r);
	/* ... and once more, later. */
	CHECK(post_exec(e, w.tok_b, w.sb, dup, 1) == 202, "100 again");
	CHECK(trust_wait(e, w.sb, -1, &r) == 0 && jint(&r, "trust_score") == 91,
	      "still 91: %s", r.body);
	http_free(&r);
	CHECK(reports(e, w.sb, "sequence = 100 AND credited") == 1, "one credited report of 100");
	CHECK(reports(e, w.sb, "sequence = 100 AND why_not = 'duplicate'") == 3,
	      "three duplicates stored: %lld", reports(e, w.sb, "why_not = 'duplicate'"));
	/* The next delivered one scores; one never delivered and a report naming none do not. */
	long long mix[3] = {101, 103, 0};
	CHECK(post_exec(e, w.tok_b, w.sb, mix, 3) == 202, "101, 103, none");
	CHECK(trust_wait(e, w.sb, -1, &r) == 0 && jint(&r, "trust_score") == 92,
	      "92: %s", r.body);
	http_free(&r);
	CHECK(reports(e, w.sb, "sequence = 103 AND why_not = 'not_delivered_live'") == 1,
	      "103 not delivered");
	CHECK(reports(e, w.sb, "sequence IS NULL AND why_not = 'no_sequence'") == 1,
	      "no sequence");
	/* Boundary: a delivery 5 minutes old, the window is 60 s. */
	delivered(e, w.sb, 200, 200, 300);
	long long late[1] = {200};
	CHECK(post_exec(e, w.tok_b, w.sb, late, 1) == 202, "late report");
	CHECK(trust_wait(e, w.sb, -1, &r) == 0 && jint(&r, "trust_score") == 92,
	      "still 92: %s", r.body);
	CHECK(jint(&r, "executions") == 2, "two executions scored: %lld", jint(&r, "executions"));
	http_free(&r);
	CHECK(reports(e, w.sb, "sequence = 200 AND why_not = 'too_late'") == 1, "200 too late");
	CHECK(reports(e, w.sb, "true") == 8, "every report stored: %lld", reports(e, w.sb, "true"));

	/* UNKNOWN_INSTRUMENT: stored as a protection event, not scored, alerted. */
	CHECK(post_events(e, w.tok_a, w.sa, "UNKNOWN_INSTRUMENT,UNKNOWN_INSTRUMENT") == 202,
	      "unknown instrument");
	CHECK(trust_wait(e, w.sa, 100, &r) == 0, "not scored: %lld", jint(&r, "trust_score"));
	CHECK(jint(&r, "incidents") == 0, "no incident");
	http_free(&r);
	CHECK(db_count(e, "SELECT count(*) FROM protection_logs WHERE reason ="
		       " 'UNKNOWN_INSTRUMENT'") == 2, "stored");
	snprintf(needle, sizeof(needle), "ALERT unknown instrument: subscription %lld", w.sa);
	CHECK(log_has(e, needle), "alert line '%s'", needle);
	CHECK(metric(e, "decp_trust_unknown_instrument_total") == 2, "unknown-instrument metric");
}

static int post_ttl(struct api_env *e, const char *tok, long long sub, long long seq,
		    const char *attribution)
{
	char body[256];
	struct http_resp r;
	snprintf(body, sizeof(body), "{\"events\":[{\"subscription_id\":%lld,\"reason\":"
		 "\"TTL_EXPIRED\",\"sequence\":%lld,\"latency_ms\":612.5,\"attribution\":"
		 "\"%s\"}]}", sub, seq, attribution);
	int st = http(e, "POST", "/v1/protection-events", tok, body, &r);
	if (st != 202)
		fprintf(stderr, "TTL_EXPIRED: %d %s\n", st, r.body ? r.body : "");
	http_free(&r);
	return st;
}

static int score_after(struct api_env *e, long long sub)
{
	struct http_resp r;
	int s = trust_wait(e, sub, -1, &r) == 0 ? (int)jint(&r, "trust_score") : -1;
	http_free(&r);
	return s;
}

static void scenario_stale(struct api_env *e)
{
	struct world w;
	char q[320];
	if (world_make(e, &w) != 0) {
		api_failures++;
		return;
	}
	/* the archiver's arrival stamps: 40 arrived 10 s before its live send, 50 100 ms */
	snprintf(q, sizeof(q), "INSERT INTO signal_archive_keys VALUES (%lld, 40, now() -"
		 " interval '70 seconds'), (%lld, 50, now() - interval '60.1 seconds')",
		 w.master, w.master);
	sql(e, q);
	sent(e, w.sa, false, 5, 20, 60);  /* a replay after a reconnect */
	sent(e, w.sa, true, 30, 30, 60);  /* 30 went out live */
	sent(e, w.sa, true, 11, 11, 61);  /* 11 went out live, then the connection was cut
					   * (slow consumer) and the replay sent it again */
	sent(e, w.sa, true, 40, 50, 60);  /* a live run, first sent 60 s ago */

	CHECK(post_ttl(e, w.tok_a, w.sa, 10, "PLATFORM_REPLAY") == 202, "replayed 10");
	CHECK(score_after(e, w.sa) == 100, "a confirmed replay is not scored");
	CHECK(post_ttl(e, w.tok_a, w.sa, 11, "PLATFORM_REPLAY") == 202, "live, cut, replayed 11");
	CHECK(score_after(e, w.sa) == 100, "a replay after a live send is the platform's");
	CHECK(post_ttl(e, w.tok_a, w.sa, 40, "PLATFORM_LATE_SEND") == 202, "late-sent 40");
	CHECK(score_after(e, w.sa) == 100, "a confirmed late send is not scored");
	CHECK(metric(e, "decp_trust_platform_stale_total") == 3, "platform metric 3");
	CHECK(post_ttl(e, w.tok_a, w.sa, 30, "PLATFORM_REPLAY") == 202, "30 (went out live)");
	CHECK(score_after(e, w.sa) == 95, "a live envelope claimed a replay: -5");
	/* boundary: sent 100 ms after arrival, TTL/2 is 250 ms: the subscriber's own lag */
	CHECK(post_ttl(e, w.tok_a, w.sa, 50, "PLATFORM_LATE_SEND") == 202, "50 (sent in time)");
	CHECK(score_after(e, w.sa) == 90, "its own late receipt claimed the platform's: -5");
	CHECK(post_ttl(e, w.tok_a, w.sa, 70, "PLATFORM_REPLAY") == 202, "70 (nothing on record)");
	CHECK(score_after(e, w.sa) == 85, "a claim with nothing on record: -5");
	CHECK(post_ttl(e, w.tok_a, w.sa, 60, "SUBSCRIBER") == 202, "60 (the subscriber's)");
	CHECK(score_after(e, w.sa) == 80, "the subscriber's own: -5");
	/* An EA offline for a quarter of an hour resends its unacknowledged reports: the replay
	 * that made 85 stale went out 15 minutes ago, and a tick (every second here) has
	 * pruned what no report can name any more (a run 8 days old) since. The claim is
	 * still checked, and confirmed. Runs were kept for the credit window + 10 min. */
	sent(e, w.sa, false, 85, 85, 900);
	sent(e, w.sa, false, 86, 86, 8 * 86400);
	snprintf(q, sizeof(q), "SELECT count(*) FROM trust_deliveries WHERE subscription_id = %lld"
		 " AND first_sequence = 86", w.sa);
	for (int i = 0; i < 300 && db_count(e, q) != 0; i++)
		usleep(50000); /* bounded: 15 s for a tick that comes every second */
	CHECK(db_count(e, q) == 0, "a tick pruned the run of 8 days ago");
	CHECK(post_ttl(e, w.tok_a, w.sa, 85, "PLATFORM_REPLAY") == 202, "85 replayed 15 min ago");
	CHECK(score_after(e, w.sa) == 80, "the platform's replay of 15 min ago is not scored");
	CHECK(metric(e, "decp_trust_attribution_refuted_total") == 3, "refuted metric 3");
	CHECK(metric(e, "decp_trust_platform_stale_total") == 4, "platform metric 4");
	/* both kinds stored, with the claim */
	snprintf(q, sizeof(q), "SELECT count(*) FROM protection_logs WHERE subscription_id = %lld"
		 " AND reason = 'TTL_EXPIRED' AND attribution IS NOT NULL", w.sa);
	CHECK(db_count(e, q) == 8, "8 stored with their attribution: %lld", db_count(e, q));
	CHECK(log_has(e, "ALERT platform lag: subscription"), "platform-lag alert line");
	/* attribution only on TTL_EXPIRED, only guard's names */
	struct http_resp r;
	char body[200];
	snprintf(body, sizeof(body), "{\"events\":[{\"subscription_id\":%lld,\"reason\":"
		 "\"REPLAY\",\"attribution\":\"PLATFORM_REPLAY\"}]}", w.sa);
	CHECK(http(e, "POST", "/v1/protection-events", w.tok_a, body, &r) == 422,
	      "attribution on a REPLAY: %d", r.status);
	http_free(&r);
	snprintf(body, sizeof(body), "{\"events\":[{\"subscription_id\":%lld,\"reason\":"
		 "\"TTL_EXPIRED\",\"attribution\":\"PLATFORM\"}]}", w.sa);
	CHECK(http(e, "POST", "/v1/protection-events", w.tok_a, body, &r) == 422,
	      "an unknown attribution: %d", r.status);
	http_free(&r);
}

/* The seed rows of sql 0008 are guard_instruments_builtin(), and the table's checks are
 * guard_instrument_valid()'s. */
static void scenario_instruments(struct api_env *e)
{
	const struct guard_instruments *b = guard_instruments_builtin();
	PGresult *r = PQexec(e->db, "SELECT symbol, digits, (point * 100000)::bigint,"
			     " (pip_size * 100000)::bigint, contract_size FROM instruments"
			     " ORDER BY symbol");
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && (size_t)PQntuples(r) == b->n,
	      "%d rows in the table, %zu built in", PQntuples(r), b->n);
	for (int i = 0; i < PQntuples(r); i++) {
		const struct guard_instrument *in = guard_instrument_find(b, PQgetvalue(r, i, 0));
		CHECK(in != NULL && strcmp(in->symbol, PQgetvalue(r, i, 0)) == 0 &&
		      in->digits == (uint32_t)atoi(PQgetvalue(r, i, 1)) &&
		      in->point == atoll(PQgetvalue(r, i, 2)) &&
		      in->pip == atoll(PQgetvalue(r, i, 3)) &&
		      in->contract_size == atoll(PQgetvalue(r, i, 4)),
		      "row %s %s %s %s %s matches guard's", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		      PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
	}
	PQclear(r);
	/* what guard refuses, the table refuses (23514 check_violation) */
	static const char *const bad[] = {
		"('usdjpy', 3, 0.001, 0.01, 100000)",  /* lower case */
		"('US30', 6, 0.000001, 0.01, 1)",      /* more digits than the price scale */
		"('US30', 2, 0.001, 0.01, 1)",         /* point is not 10^-digits */
		"('US30', 2, 0.01, 0.015, 1)",         /* pip not a whole number of points */
		"('US30', 2, 0.01, 1, 0)",             /* no contract */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char q[256];
		snprintf(q, sizeof(q), "INSERT INTO instruments (symbol, digits, point, pip_size,"
			 " contract_size) VALUES %s", bad[i]);
		r = PQexec(e->db, q);
		const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		CHECK(st != NULL && strcmp(st, "23514") == 0, "refused: %s (%s)", bad[i],
		      st ? st : "accepted");
		PQclear(r);
	}
}

int main(int argc, char **argv)
{
	struct api_env e;
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: test_trust_e2e unpause|credit|stale|instruments DECP_CONTROL\n");
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: test_trust_e2e SCENARIO DECP_CONTROL\n");
		return 2;
	}
	const char *sc = argv[1];
	memset(&e, 0, sizeof(e));
	signal(SIGPIPE, SIG_IGN);
	if (api_env_start(&e, argv[2], NULL) != 0) { /* api_test sets trust_tick_s = 1 */
		api_env_stop(&e, true);
		return 1;
	}
	static const struct {
		const char *name;
		void (*run)(struct api_env *);
	} scenarios[] = {{"unpause", scenario_unpause}, {"credit", scenario_credit},
			 {"stale", scenario_stale}, {"instruments", scenario_instruments}};
	size_t i = 0;
	while (i < sizeof(scenarios) / sizeof(scenarios[0]) && strcmp(scenarios[i].name, sc) != 0)
		i++;
	if (i < sizeof(scenarios) / sizeof(scenarios[0]))
		scenarios[i].run(&e);
	else
		CHECK(0, "unknown scenario %s", sc);
	return api_env_finish(&e, sc);
}
