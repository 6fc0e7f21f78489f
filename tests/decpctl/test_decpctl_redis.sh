#!/bin/sh
# decpctl redis check / rebuild against a real Redis and PostgreSQL (run under
# decp-testenv, which exports DECP_REDIS_HOST/PORT and DECP_PG_CONNINFO): a Redis that
# lost data is found behind the archive, rebuilt from signal_archive with the edge's entry
# IDs and fields, idempotently, stopping at a hole. Usage: test_decpctl_redis.sh DECPCTL
# Prints "N passed, N failed" last.
D="$1"
. "$(dirname "$0")/testlib.sh"
need_pg_redis
for m in 1 2 3; do "$D" master add --id $m --name m$m --key-seed t >/dev/null; done
# The archive: master 1 has 1..2500, master 2 has 1..5, master 3 has 1..3 and 5..6 (a hole).
arch() { # master, first, last
	q "INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns, symbol,
	     order_type, volume, body, hmac, ed25519_sig)
	   SELECT $1, s, to_timestamp(1764500000 + s), (1764500000 + s) * 1000000000::bigint + $1,
	     'EURUSD', 'BUY', 100, convert_to('body-$1-' || s, 'UTF8'),
	     convert_to('hmac-' || s, 'UTF8'), convert_to('sig-' || s, 'UTF8')
	   FROM generate_series($2, $3) s" >/dev/null
}
arch 1 1 2500; arch 2 1 5; arch 3 1 3; arch 3 5 6
# Redis kept only master 1's first 3 entries (as if restored from an old copy).
for s in 1 2 3; do
	r XADD 'decp:{m1}:signals' "$s-0" a "$(( (1764500000 + s) * 1000000000 + 1 ))" \
		b "body-1-$s" h "hmac-$s" s "sig-$s" >/dev/null
done

check help 0 "$D" redis --help
check no_sub 2 "$D" redis
check bad_sub 2 "$D" redis frobnicate
check bad_master 2 "$D" redis check --master x
check bad_redis 2 "$D" redis check --redis nocolon
check no_redis 1 "$D" redis check --redis 127.0.0.1:1

out=$("$D" redis check 2>&1); rc=$?
[ $rc = 1 ] && ok || bad "check before rebuild: exit $rc, want 1"
echo "$out" | grep -E "^1 " | grep -q "BEHIND ARCHIVE" && ok || bad "master 1 not reported behind: $out"
echo "$out" | grep -q "master 3: signal_archive lacks 1 sequence in 1 hole below its highest (6): 4..4$" &&
	echo "$out" | grep -q "master 3: LOST: 1 of them are in neither the archive nor the Redis stream (it is empty)" &&
	ok || bad "master 3's hole in check: $out"
"$D" redis check --json | grep -q '"master":2,"stream_first":0,"stream_last":0,"stream_length":0,"archive_max":5,"archive_rows":5,"pending":-1,"behind":true' &&
	ok || bad "check --json: $("$D" redis check --json)"

check rebuild_needs_yes 3 "$D" redis rebuild
out=$("$D" redis rebuild --yes 2>&1); rc=$?
[ $rc = 1 ] && ok || bad "rebuild with a hole in master 3: exit $rc, want 1: $out"
echo "$out" | grep -q "master 3: signal_archive has no sequence 4..4; the stream ends at 3" &&
	ok || bad "hole not reported: $out"
[ "$(r XLEN 'decp:{m1}:signals')" = 2500 ] && ok || bad "master 1 XLEN $(r XLEN 'decp:{m1}:signals')"
[ "$(r XLEN 'decp:{m2}:signals')" = 5 ] && ok || bad "master 2 XLEN"
[ "$(r XLEN 'decp:{m3}:signals')" = 3 ] && ok || bad "master 3 XLEN (stops before the hole)"
# Same entry ID and record as the edge writes: one field "r", version 1, arrival ns
# (int64 little-endian), HMAC and signature lengths, HMAC, signature, body (cp_redis_rec.h).
hex() { od -An -tx1 | tr -d ' \n'; }
got=$(r XRANGE 'decp:{m1}:signals' 2500-0 2500-0 | hex)
want=$(python3 -c 'import struct, sys
h, s, b = b"hmac-2500", b"sig-2500", b"body-1-2500"
rec = bytes([1]) + struct.pack("<q", (1764500000 + 2500) * 1000000000 + 1) + bytes([len(h), len(s)]) + h + s + b
sys.stdout.buffer.write(b"2500-0\nr\n" + rec + b"\n")' | hex)
[ "$got" = "$want" ] && ok || bad "entry 2500: '$got' != '$want'"
r SISMEMBER decp:masters 2 | grep -q 1 && ok || bad "master 2 not in decp:masters"
r XINFO GROUPS 'decp:{m1}:signals' | tr '\n' ' ' | grep -q "archiver .*2500-0" &&
	ok || bad "archiver group not created after the rebuilt entries"

out=$("$D" redis rebuild --yes --master 1 --master 2 2>&1); rc=$?
[ $rc = 0 ] && ok || bad "second rebuild: exit $rc: $out"
echo "$out" | awk '$1 == 1 || $1 == 2 { if ($4 != 0) exit 1 }' && ok || bad "second rebuild added entries: $out"
check check_after 0 "$D" redis check --master 1 --master 2

# PostgreSQL restored to an earlier time: the archive lost 2401..2500, which the archiver
# group had acknowledged; it never reads them again. check names them and the rewind.
r XGROUP SETID 'decp:{m1}:signals' archiver 2500-0 >/dev/null || bad "group to 2500"
q "DELETE FROM signal_archive_keys WHERE master_id = 1 AND sequence > 2400;
   DELETE FROM signal_archive WHERE master_id = 1 AND sequence > 2400" >/dev/null || bad "archive cut"
out=$("$D" redis check --master 1 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "ACKNOWLEDGED, NOT ARCHIVED" &&
	echo "$out" | grep -q "entries 2401..2500 were acknowledged" &&
	echo "$out" | grep -q "XGROUP SETID 'decp:{m1}:signals' archiver 2400-0" &&
	ok || bad "acknowledged, not archived: exit $rc: $out"
"$D" redis check --master 1 --json | grep -q '"acked_not_archived":100' && ok || bad "json: $("$D" redis check --master 1 --json)"
# --repair-holes rewinds the group to the archive's end (2400-0), still exit 1 until the
# archiver read them again
out=$("$D" redis check --master 1 --repair-holes 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "ACKNOWLEDGED, NOT ARCHIVED: archiver group rewound" &&
	echo "$out" | grep -q "rewound from 2500-0; the archiver reads again from 2401" &&
	ok || bad "--repair-holes on acknowledged, not archived: exit $rc: $out"
r XINFO GROUPS 'decp:{m1}:signals' | tr '\n' ' ' | grep -q "archiver .*2400-0" &&
	ok || bad "group not rewound to 2400-0: $(r XINFO GROUPS 'decp:{m1}:signals' | tr '\n' ' ')"
# rewound, they are the archiver's lag again (not delivered yet): nothing to repair
out=$("$D" redis check --master 1 --repair-holes 2>&1); rc=$?
[ $rc = 0 ] && ! echo "$out" | grep -q "rewound" && ok || bad "second repair: exit $rc: $out"
arch 1 2401 2500
out=$("$D" redis check --master 1 2>&1); rc=$?
[ $rc = 0 ] && ok || bad "after the rewind and re-archive: exit $rc: $out"
# ... but a master idle for longer than the hot window has no hot row while its stream
# still holds its acknowledged entries, archived to a tier: not flagged (the rewind would
# have re-read them into days already archived). Master 9: entries 200 days old, a day of
# signal_archive in the catalog after them.
"$D" master add --id 9 --name m9 --key-seed t >/dev/null
old_ns=$(( ($(date +%s) - 200 * 86400) * 1000000000 ))
for s in 1 2 3; do
	r XADD 'decp:{m9}:signals' "$s-0" a "$((old_ns + s))" b "body-9-$s" h "hmac-$s" s "sig-$s" >/dev/null
done
r XGROUP CREATE 'decp:{m9}:signals' archiver 3-0 >/dev/null
q "INSERT INTO archive_catalog (parent, day, tier, file, rows, bytes, file_sha256, manifest_sha256)
   VALUES ('signal_archive', (now() - interval '150 days')::date, 'warm',
           'signal_archive/signal_archive_p20260101.tsv.gz', 3, 1, repeat('0', 64), repeat('0', 64))" >/dev/null ||
	bad "catalog row"
out=$("$D" redis check --master 9 2>&1); rc=$?
[ $rc = 0 ] && ok || bad "idle master with its days in a tier flagged: exit $rc: $out"
q "DELETE FROM archive_catalog WHERE parent = 'signal_archive'" >/dev/null
out=$("$D" redis check --master 9 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "ACKNOWLEDGED, NOT ARCHIVED" && ok ||
	bad "without an archived day, entries 1..3 acknowledged and not archived: exit $rc: $out"
r DEL 'decp:{m9}:signals' >/dev/null

# A backup's MANIFEST lists every stream however many (it was cut at 8 KiB once): 400 more.
for i in $(seq 1001 1400); do echo "XADD decp:{m$i}:signals 7-0 r x"; done | r >/dev/null
BK=$(mktemp -d /tmp/decpctl-redis-bk.XXXXXX)
out=$("$D" redis backup --to "$BK" 2>&1) && ok || bad "backup: $out"
n=$(grep -c '^stream decp:{m[0-9]*}:signals last ' "$BK"/redis-*/MANIFEST)
[ "$n" = 403 ] && ok || bad "MANIFEST lists $n streams, want 403"
grep -q '^stream decp:{m1400}:signals last 7-0$' "$BK"/redis-*/MANIFEST && ok || bad "stream 1400 not listed"

# Run away from the Redis host, the file under Redis's dir name is not the RDB it saved
# (here a Redis in a mount namespace of its own: its dir a tmpfs over a directory of this
# host that holds an old RDB): refused, nothing written. It copied the old file once.
if unshare -m true 2>/dev/null; then
	RD=$(mktemp -d /tmp/decpctl-redis-far.XXXXXX)
	echo "REDIS0011 an old file" > "$RD/dump.rdb" && touch -d 2020-01-01 "$RD/dump.rdb"
	fport=$(free_port)
	unshare -m sh -c "mount -t tmpfs tmpfs '$RD' && exec redis-server --port $fport \
		--bind 127.0.0.1 --dir '$RD' --save '' --appendonly no" >/dev/null 2>&1 &
	FARPID=$!
	for _ in $(seq 1 200); do
		[ "$(redis-cli -p "$fport" PING 2>/dev/null)" = PONG ] && break
		sleep 0.05
	done
	out=$("$D" redis backup --to "$BK/far" --redis "127.0.0.1:$fport" 2>&1); rc=$?
	[ $rc = 1 ] && echo "$out" | grep -q "dump.rdb is not the RDB Redis just saved (written before it)" &&
		[ ! -e "$BK/far" ] && ok || bad "backup away from the Redis host: exit $rc: $out"
	kill "$FARPID" 2>/dev/null
	wait "$FARPID" 2>/dev/null
	rm -rf "$RD"
else
	echo "no mount namespace here: the backup away from the Redis host is not checked"
fi

# restore refuses a Redis that runs in --data-dir even when --redis names another address
# (a Redis on another port or socket answers nothing there): nothing is moved aside. Once it
# moved the live appendonlydir, and the running Redis rewrote its AOF over the restored one.
port=$(free_port)
out=$("$D" redis restore --from "$(ls -d "$BK"/redis-*)" --data-dir "$DECP_REDIS_DIR" --yes \
	--redis "127.0.0.1:$port" 2>&1); rc=$?
[ $rc = 3 ] && echo "$out" | grep -q "REFUSED: redis-server (pid $DECP_REDIS_PID) runs in" &&
	ok || bad "restore under a running Redis on another address: exit $rc: $out"
ls -d "$DECP_REDIS_DIR"/*.before-restore-* >/dev/null 2>&1 && bad "restore moved the live data aside" || ok
[ "$(r PING)" = PONG ] && ok || bad "Redis no longer answers"

# backup --keep: the newest N complete backups stay, older ones go (a daily timer filled the
# disk); one cut short (no MANIFEST) is neither counted nor removed.
BK2=$(mktemp -d /tmp/decpctl-redis-keep.XXXXXX)
for d in redis-20200101T000000Z redis-20200102T000000Z redis-20200103T000000Z; do
	mkdir "$BK2/$d" && echo x > "$BK2/$d/dump.rdb"
done
echo "format decp-redis-backup/1" > "$BK2/redis-20200101T000000Z/MANIFEST"
echo "format decp-redis-backup/1" > "$BK2/redis-20200102T000000Z/MANIFEST"
# another node's backups in the same directory (a cluster's primaries on one host) are
# neither counted nor pruned by this Redis's --keep: the oldest of all, old and new names
for d in redis-20190101T000000Z redis-20190102T000000Z-0123456789ab; do
	mkdir "$BK2/$d" && echo x > "$BK2/$d/dump.rdb" &&
		printf 'format decp-redis-backup/1\ncluster_node 0123456789abcdef0123456789abcdef01234567\n' > "$BK2/$d/MANIFEST"
done
check backup_keep_bad 2 "$D" redis backup --to "$BK2" --keep -1
out=$("$D" redis backup --to "$BK2" --keep 2 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "pruned $BK2/redis-20200101T000000Z" && ok || bad "backup --keep 2: exit $rc: $out"
[ ! -e "$BK2/redis-20200101T000000Z" ] && [ -e "$BK2/redis-20200102T000000Z/MANIFEST" ] &&
	[ -e "$BK2/redis-20200103T000000Z/dump.rdb" ] && ok || bad "backup --keep 2 left: $(ls "$BK2")"
[ "$(ls -d "$BK2"/redis-202*/MANIFEST | wc -l)" = 2 ] && ok || bad "complete backups left: $(ls "$BK2")"
[ -e "$BK2/redis-20190101T000000Z/MANIFEST" ] && [ -e "$BK2/redis-20190102T000000Z-0123456789ab/MANIFEST" ] &&
	ok || bad "another node's backups pruned: $(ls "$BK2")"
rm -rf "$BK2"
rm -rf "$BK"

# PostgreSQL in recovery (a standby here; a point-in-time restore still replaying WAL
# accepts the same read-only connections): its archive is not final, so check and rebuild
# conclude nothing (exit 1, said why) instead of naming a wrong archive end and rewind.
if [ "$(id -u)" = 0 ] && [ -x /usr/lib/postgresql/15/bin/pg_ctl ] && SBP=$(free_port); then
	SB=$(mktemp -d /tmp/decp-standby.XXXXXX)
	chown postgres "$SB"
	as_pg() { runuser -u postgres -- "$@"; }
	# stopped and removed however the script ends (a kill by meson's timeout included)
	trap 'as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$SB/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$SB"' EXIT
	if as_pg pg_basebackup -D "$SB/data" -R -X stream -c fast -h "$DECP_PG_HOST" -p "$DECP_PG_PORT" \
		-U "$DECP_PG_USER" >"$SB/basebackup.log" 2>&1 &&
	   as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$SB/data" -l "$SB/log" -w -t 60 \
		-o "-c port=$SBP -c listen_addresses=127.0.0.1 -c unix_socket_directories=$SB" start >/dev/null; then
		sb="host=127.0.0.1 port=$SBP dbname=$DECP_PG_DBNAME user=$DECP_PG_USER"
		for cmd in check "rebuild --yes"; do
			# shellcheck disable=SC2086
			out=$("$D" redis $cmd --conninfo "$sb" 2>&1); rc=$?
			[ $rc = 1 ] && echo "$out" | grep -q "PostgreSQL is in recovery" &&
				! echo "$out" | grep -q "BEHIND\|ACKNOWLEDGED\|^1 " && ok ||
				bad "redis $cmd on a server in recovery: exit $rc: $out"
		done
		as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$SB/data" -m immediate -w stop >/dev/null
	else
		bad "standby: $(tail -3 "$SB/basebackup.log" "$SB/log" 2>/dev/null)"
	fi
	rm -rf "$SB"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
