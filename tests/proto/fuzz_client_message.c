/* libFuzzer target: arbitrary bytes decoded as one ClientMessage (see fuzz_msg.h). */
#include "fuzz_msg.h"

FUZZ_MSG_TARGET(Decp__ClientMessage, proto_client_message_decode)
