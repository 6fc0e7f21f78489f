/* libFuzzer target: arbitrary bytes decoded as one MasterFrame (see fuzz_msg.h). */
#include "fuzz_msg.h"

FUZZ_MSG_TARGET(Decp__MasterFrame, proto_master_frame_decode)
