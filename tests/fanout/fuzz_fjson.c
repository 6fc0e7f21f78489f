/*
 * fuzz_fjson: libFuzzer target for cp_fjson_to_pb, which turns the text frames of a
 * `?format=json` session (docs/fanout.md, network bytes) into the protobuf the binary path
 * decodes. Input: the first byte picks the message type (even: ClientMessage, the type
 * the fan-out reads; odd: ServerMessage, the richer one: nested messages, bytes,
 * repeated fields), the rest is the text (copied into a buffer of its exact size, not
 * NUL-terminated). Checks: never a crash, leak or out-of-bounds access; a result is the
 * length written or one of the documented errors; what it writes unpacks as that type, and
 * that message's JSON (cp_fjson_from_pb) converts back to the same bytes (the mapping's
 * two directions agree). Seeds: fjson_seeds/.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_fanout_json.h"
#include "decp.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[8192], again[8192];
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *m;
	uint8_t *json;
	char *text;
	size_t jlen;
	int n, k;

	if (size < 1)
		return 0;
	d = data[0] % 2 == 0 ? &decp__client_message__descriptor : &decp__server_message__descriptor;
	text = malloc(size - 1 ? size - 1 : 1);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	n = cp_fjson_to_pb(d, text, size - 1, out, sizeof(out));
	free(text);
	if (n < 0) {
		if (n != -EINVAL && n != -EMSGSIZE && n != -ENOMEM)
			abort();
		return 0;
	}
	if ((size_t)n > sizeof(out))
		abort();
	m = protobuf_c_message_unpack(d, NULL, (size_t)n, out);
	if (m == NULL)
		abort(); /* it wrote what its own type cannot read */
	protobuf_c_message_free_unpacked(m, NULL);
	json = cp_fjson_from_pb(d, out, (size_t)n, 0, &jlen);
	if (json == NULL)
		return 0; /* out of memory */
	k = cp_fjson_to_pb(d, (const char *)json, jlen, again, sizeof(again));
	free(json);
	if (k != n || memcmp(out, again, (size_t)n) != 0)
		abort();
	return 0;
}
