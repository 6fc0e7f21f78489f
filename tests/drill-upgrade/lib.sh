# lib.sh: what the upgrade drills share (sourced after tests/decpctl/testlib.sh).
# Needs $T, $APORT, $FPORT, $ADMIN.

api() { # METHOD PATH TOKEN [BODY]: the body into $T/api.body, the status to stdout
	curl -s -m 20 -X "$1" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
		${4:+--data "$4"} -o "$T/api.body" -w '%{http_code}' "http://127.0.0.1:$APORT$2"
}

# Through the api once it is ready: a subscriber (SUB) with a token (TOK) subscribed to
# master 1 (SA, fee 20 %); master 1's public key into $T/keys; waits until the fan-out on
# $FPORT knows the subscription. Returns 1 when a fixture is missing.
drill_fixtures() { # NAME
	api_fixtures "$1" || return 1
	echo "1 $(q "SELECT encode(ed25519_public_key, 'hex') FROM masters WHERE id = 1")" >"$T/keys"
	for _ in $(seq 1 300); do
		[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" \
			"http://127.0.0.1:$FPORT/v1/masters/1/signals?after=0")" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}
