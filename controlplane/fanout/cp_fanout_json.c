/* cp_fanout_json: protobuf-c <-> JSON for the fan-out's debug mode. Rules in the header. */
#include "cp_fanout_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

/* ------------------------------------------------------------------- to JSON -- */

static json_t *msg_to_json(const ProtobufCMessage *m);

static json_t *bytes_to_json(const ProtobufCBinaryData *b)
{
	size_t cap = 4 * ((b->len + 2) / 3) + 1;
	char *s = malloc(cap);
	json_t *j;

	if (s == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, b->data, (int)b->len);
	j = json_string(s);
	free(s);
	return j;
}

static json_t *u64_to_json(uint64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%" PRIu64, v);
	return json_string(s);
}

static json_t *i64_to_json(int64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_string(s);
}

/* The field's value at mem as JSON, or NULL when it is the proto3 default (omitted). */
static json_t *field_to_json(const ProtobufCFieldDescriptor *fd, const void *mem, bool force)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: {
		int32_t v = *(const int32_t *)mem;
		return v != 0 || force ? json_integer(v) : NULL;
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t v = *(const uint32_t *)mem;
		return v != 0 || force ? json_integer(v) : NULL;
	}
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t v = *(const int64_t *)mem;
		return v != 0 || force ? i64_to_json(v) : NULL;
	}
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t v = *(const uint64_t *)mem;
		return v != 0 || force ? u64_to_json(v) : NULL;
	}
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean v = *(const protobuf_c_boolean *)mem;
		return v || force ? json_boolean(v) : NULL;
	}
	case PROTOBUF_C_TYPE_FLOAT: {
		float v = *(const float *)mem;
		return v != 0 || force ? json_real(v) : NULL;
	}
	case PROTOBUF_C_TYPE_DOUBLE: {
		double v = *(const double *)mem;
		return v != 0 || force ? json_real(v) : NULL;
	}
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)mem;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, v);
		if (v == 0 && !force)
			return NULL;
		return ev != NULL ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)mem;
		if (s == NULL || (s[0] == '\0' && !force))
			return NULL;
		json_t *j = json_string(s);
		return j != NULL ? j : json_string("<invalid UTF-8>");
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = mem;
		return b->len > 0 || force ? bytes_to_json(b) : NULL;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)mem;
		return sub != NULL ? msg_to_json(sub) : NULL;
	}
	}
	return NULL;
}

static json_t *msg_to_json(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *o = json_object();

	for (unsigned int i = 0; o != NULL && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		const char *base = (const char *)m;
		bool force = false;

		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			/* CopyPolicy's lists: strings and messages (elements are pointers);
			 * the fan-out sends no repeated scalar */
			size_t n = *(const size_t *)(base + fd->quantifier_offset);
			void *const *elem = *(void *const *const *)(base + fd->offset);
			json_t *a;

			if (n == 0 || (fd->type != PROTOBUF_C_TYPE_STRING &&
				       fd->type != PROTOBUF_C_TYPE_MESSAGE))
				continue;
			a = json_array();
			for (size_t k = 0; a != NULL && k < n; k++)
				json_array_append_new(a, field_to_json(fd, &elem[k], true));
			if (a != NULL)
				json_object_set_new(o, fd->name, a);
			continue;
		}
		if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
				continue;
			force = true; /* a set oneof member is shown even when zero */
		}
		json_t *v = field_to_json(fd, base + fd->offset, force);
		if (v != NULL)
			json_object_set_new(o, fd->name, v);
	}
	return o;
}

uint8_t *cp_fjson_from_pb(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
			  size_t pre, size_t *out_len)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, p);
	json_t *j;
	char *text;
	uint8_t *buf = NULL;

	if (m == NULL)
		return NULL;
	j = msg_to_json(m);
	protobuf_c_message_free_unpacked(m, NULL);
	if (j == NULL)
		return NULL;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return NULL;
	*out_len = strlen(text);
	buf = malloc(pre + *out_len + 1);
	if (buf != NULL)
		memcpy(buf + pre, text, *out_len + 1);
	free(text);
	return buf;
}

/* ----------------------------------------------------------------- from JSON -- */

static int json_to_msg(const ProtobufCMessageDescriptor *d, json_t *o, ProtobufCMessage **out);

static int json_int(json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		char *end;
		errno = 0;
		long long x = strtoll(json_string_value(v), &end, 10);
		if (errno == 0 && *end == '\0' && end != json_string_value(v)) {
			*out = x;
			return 0;
		}
	}
	return -EINVAL;
}

static int json_uint(json_t *v, uint64_t *out)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		unsigned long long x = strtoull(s, &end, 10);
		if (errno == 0 && *end == '\0' && end != s && s[0] != '-') {
			*out = x;
			return 0;
		}
	}
	return -EINVAL;
}

static int json_bytes(json_t *v, ProtobufCBinaryData *b)
{
	if (!json_is_string(v))
		return -EINVAL;
	const char *s = json_string_value(v);
	size_t n = strlen(s);
	if (n % 4 != 0)
		return -EINVAL;
	b->data = malloc(n / 4 * 3 + 1);
	if (b->data == NULL)
		return -ENOMEM;
	int got = EVP_DecodeBlock(b->data, (const unsigned char *)s, (int)n);
	if (got < 0)
		return -EINVAL; /* b->data is freed with the message */
	b->len = (size_t)got - (n >= 1 && s[n - 1] == '=') - (n >= 2 && s[n - 2] == '=');
	return 0;
}

static int json_enum(const ProtobufCFieldDescriptor *fd, json_t *v, int *out)
{
	if (json_is_string(v)) {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value_by_name(fd->descriptor, json_string_value(v));
		if (ev == NULL)
			return -EINVAL;
		*out = ev->value;
		return 0;
	}
	if (json_is_integer(v)) {
		*out = (int)json_integer_value(v);
		return 0;
	}
	return -EINVAL;
}

static int set_field(const ProtobufCFieldDescriptor *fd, json_t *v, void *mem)
{
	int64_t i;
	uint64_t u;
	int rc = 0;

	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if ((rc = json_int(v, &i)) == 0 && (i < INT32_MIN || i > INT32_MAX))
			rc = -EINVAL;
		if (rc == 0)
			*(int32_t *)mem = (int32_t)i;
		return rc;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if ((rc = json_uint(v, &u)) == 0 && u > UINT32_MAX)
			rc = -EINVAL;
		if (rc == 0)
			*(uint32_t *)mem = (uint32_t)u;
		return rc;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if ((rc = json_int(v, &i)) == 0)
			*(int64_t *)mem = i;
		return rc;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if ((rc = json_uint(v, &u)) == 0)
			*(uint64_t *)mem = u;
		return rc;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return -EINVAL;
		*(protobuf_c_boolean *)mem = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_is_number(v))
			return -EINVAL;
		if (fd->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)mem = (float)json_number_value(v);
		else
			*(double *)mem = json_number_value(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return json_enum(fd, v, (int *)mem);
	case PROTOBUF_C_TYPE_STRING: {
		if (!json_is_string(v))
			return -EINVAL;
		char *s = strdup(json_string_value(v));
		if (s == NULL)
			return -ENOMEM;
		*(char **)mem = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return json_bytes(v, mem);
	case PROTOBUF_C_TYPE_MESSAGE:
		if (!json_is_object(v))
			return -EINVAL;
		return json_to_msg(fd->descriptor, v, (ProtobufCMessage **)mem);
	}
	return -EINVAL;
}

/* A new message of type d from object o (*out, freed with protobuf_c_message_free_unpacked
 * even on error). */
static int json_to_msg(const ProtobufCMessageDescriptor *d, json_t *o, ProtobufCMessage **out)
{
	const char *key;
	json_t *v;
	ProtobufCMessage *m = calloc(1, d->sizeof_message);

	*out = m;
	if (m == NULL)
		return -ENOMEM;
	protobuf_c_message_init(d, m);
	json_object_foreach(o, key, v) {
		const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(d, key);
		char *base = (char *)m;

		if (fd == NULL)
			return -EINVAL;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			/* AccountState.positions: arrays of messages (or strings), whose elements
			 * are pointers; the count grows with each element set, so that
			 * protobuf_c_message_free_unpacked frees exactly what was made */
			size_t *count = (size_t *)(base + fd->quantifier_offset);
			void ***arr = (void ***)(base + fd->offset);
			size_t k;
			json_t *ev;

			if (!json_is_array(v) || (fd->type != PROTOBUF_C_TYPE_MESSAGE &&
						  fd->type != PROTOBUF_C_TYPE_STRING))
				return -EINVAL;
			if (json_array_size(v) == 0)
				continue;
			*arr = calloc(json_array_size(v), sizeof(void *));
			if (*arr == NULL)
				return -ENOMEM;
			json_array_foreach(v, k, ev) {
				int rc;

				*count = k + 1;
				if ((rc = set_field(fd, ev, &(*arr)[k])) != 0)
					return rc;
			}
			continue;
		}
		if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t *which = (uint32_t *)(base + fd->quantifier_offset);
			if (*which != 0)
				return -EINVAL; /* two members of one oneof */
			*which = fd->id;
		}
		int rc = set_field(fd, v, base + fd->offset);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int cp_fjson_to_pb(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
		   uint8_t *out, size_t cap)
{
	json_error_t err;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	ProtobufCMessage *m = NULL;
	int rc;

	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		return -EINVAL;
	}
	rc = json_to_msg(d, j, &m);
	json_decref(j);
	if (rc == 0) {
		size_t n = protobuf_c_message_get_packed_size(m);
		if (n > cap)
			rc = -EMSGSIZE;
		else
			rc = (int)protobuf_c_message_pack(m, out);
	}
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}
