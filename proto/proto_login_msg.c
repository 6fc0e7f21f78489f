/* proto_login_msg: the login proof's message layout; contract in proto_login_msg.h. */
#include "proto_login_msg.h"

#include <errno.h>
#include <string.h>

static const uint8_t label[16] = "decp-login-v2"; /* zero padded to 16 */

int proto_login_message(const uint8_t *nonce, size_t nonce_len, uint64_t master_id,
			const uint8_t *binding, uint8_t out[PROTO_LOGIN_MSG_LEN])
{
	if (nonce == NULL || nonce_len != PROTO_LOGIN_NONCE_LEN || master_id == 0 || out == NULL)
		return -EINVAL;
	memcpy(out, label, sizeof(label));
	memcpy(out + 16, nonce, PROTO_LOGIN_NONCE_LEN);
	for (unsigned int i = 0; i < 8; i++)
		out[48 + i] = (uint8_t)(master_id >> (56 - 8 * i));
	if (binding != NULL)
		memcpy(out + 56, binding, PROTO_LOGIN_BINDING_LEN);
	else
		memset(out + 56, 0, PROTO_LOGIN_BINDING_LEN);
	return 0;
}
