/* libFuzzer target: arbitrary bytes decoded as one ServerMessage (see fuzz_msg.h). */
#include "fuzz_msg.h"

FUZZ_MSG_TARGET(Decp__ServerMessage, proto_server_message_decode)
