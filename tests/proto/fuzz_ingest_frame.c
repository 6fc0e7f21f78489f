/* libFuzzer target: arbitrary bytes decoded as one IngestFrame (see fuzz_msg.h). */
#include "fuzz_msg.h"

FUZZ_MSG_TARGET(Decp__IngestFrame, proto_ingest_frame_decode)
